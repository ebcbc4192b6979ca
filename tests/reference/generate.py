"""Regenerates the reference values in tests/reference/*.json from PyTorch and Keras.

Versions (the "framework" fields of the JSON files):
    torch==2.15.0          (reports itself as "2.15.0+cu132"; the PyPI wheel, run on the CPU)
    keras==3.15.1          with the TensorFlow backend, tensorflow-cpu==2.21.0
    numpy                  (any 2.x; only used to hold values)
    Python 3.11

Install (into a virtual environment outside the repository):
    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.15.0 keras==3.15.1 tensorflow-cpu==2.21.0 numpy

Run from the repository root:
    /tmp/refenv/bin/python tests/reference/generate.py            # rewrites every file
    /tmp/refenv/bin/python tests/reference/generate.py --check    # compares, writes nothing
    /tmp/refenv/bin/python tests/reference/generate.py --only losses.json [--check]
    /tmp/refenv/bin/python tests/reference/generate.py --out /tmp/ref   # writes elsewhere
--check prints one line per file: how many numbers differ, the largest absolute and relative
difference (and where), and whether the regenerated text is byte-identical; it exits 1 on a
structural difference or a relative difference above 1e-12. The whole run takes about 30 s on
a CPU.

Which framework produced which figure:
    activations.json       torch: f(x) from torch.nn.functional, f'(x) from autograd, float64
    dense_bn_elu_net.json  torch: forward + autograd in float64; inputs from torch.manual_seed(0)
    conv_net.json          torch: F.conv2d / F.max_pool2d forward + autograd in float64, inputs
                           from torch.manual_seed(1), stored channels last (Keras' layout)
                           (the Keras moving statistics are the formula of Keras'
                           BatchNormalization, momentum 0.99, evaluated in torch)
    losses.json            torch: torch.nn.functional losses, float64
    optimizers.json        "torch" cases: torch.optim (default dtype float64), gradient by
                           autograd of the problem's loss;
                           "keras" cases: keras.optimizers.<class>.apply_gradients on float64
                           keras.Variable's, gradient by tf.GradientTape of the same loss
                           (Keras' float32 iteration counter shows in Adam's bias correction,
                           see tests/scripts/keras_adam_float32_beta.py)
    schedules.json         decays: keras.optimizers.schedules (float32 results, widened to
                           float64); one_cycle and reduce_on_plateau: torch.optim.lr_scheduler

Keras runs with its defaults (floatx float32; only the variables are float64). torch and
tensorflow cannot share one process here (both bundle LLVM), so the Keras parts run in a child
process (isolated()). Files are written with json.dumps(obj, indent=1) and no trailing newline,
the format of the committed files, so an unchanged regeneration is byte-identical.
"""

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # everything on the CPU

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def torch_framework():
    torch = torch64()
    return f"torch {torch.__version__}"


def keras_framework():
    import keras
    import tensorflow as tf

    return f"keras {keras.__version__} (tensorflow {tf.__version__})"


def torch64():
    """torch, with float64 as its default dtype (as the committed files were made).

    The default dtype matters beyond the explicit float64 tensors: torch.optim keeps its
    scalar state (step, NAdam's mu_product) in it; in float32 NAdam moves by ~1e-6 relative.
    """
    import torch

    torch.set_default_dtype(torch.float64)
    return torch


def tolist(t):
    """A torch tensor (any shape) as nested Python floats."""
    return t.detach().cpu().tolist()


# --------------------------------------------------------------------------------------------
# activations.json
# --------------------------------------------------------------------------------------------


def gen_activations():
    torch = torch64()
    import torch.nn.functional as F

    f64 = torch.float64
    # 49 points: -6, -5.75, ..., 6 (exact in binary).
    x = torch.linspace(-6.0, 6.0, 49, dtype=f64)

    functions = {
        "sigmoid": torch.sigmoid,  # 1 / (1 + exp(-x))
        "tanh": torch.tanh,
        "relu": F.relu,  # derivative 0 at x = 0 (torch convention)
        "leaky_relu_0.2": lambda v: F.leaky_relu(v, negative_slope=0.2),
        "elu_1.0": lambda v: F.elu(v, alpha=1.0),
        "selu": F.selu,  # scale * (max(0,x) + min(0, alpha*(exp(x)-1)))
        "gelu_exact": lambda v: F.gelu(v),  # x * Phi(x), erf form
        "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
        "swish_silu": F.silu,  # x * sigmoid(x)
        "mish": F.mish,  # x * tanh(softplus(x))
        "softplus": F.softplus,  # log(1 + exp(x)), beta=1, threshold=20
        "softsign": F.softsign,  # x / (1 + |x|)
        # Keras 3's hard_sigmoid: clip(x/6 + 1/2, 0, 1) (not Keras 2's 0.2x + 0.5), written
        # out in torch; derivative 1/6 strictly inside (-3, 3), 0 at and beyond +-3. (torch's
        # F.hardsigmoid rounds differently and its float64 backward uses a float32 1/6.)
        "hard_sigmoid_keras": lambda v: torch.clamp(v / 6 + 0.5, 0.0, 1.0),
    }
    activations = {}
    for name, f in functions.items():
        xg = x.clone().requires_grad_(True)
        y = f(xg)
        # df/dx elementwise: the gradient of sum(f(x)).
        (dy,) = torch.autograd.grad(y.sum(), xg)
        activations[name] = {"f": tolist(y), "df": tolist(dy)}

    z = torch.tensor([[1.3, 5.1, 2.2, 0.7, 1.1], [-1.0, 0.0, 1.0, 2.0, 1000.0]], dtype=f64)
    return {
        "x": tolist(x),
        "note": "derivative d f(x)/dx from autograd; at kinks (x=0) the framework's convention",
        "framework": torch_framework(),
        "activations": activations,
        # torch.softmax(z, dim=1): exp(z - max) / sum(exp(z - max)) per row.
        "softmax_rows": {"z": tolist(z), "softmax": tolist(torch.softmax(z, dim=1))},
        # The SELU constants (torch's, as in Klambauer et al. 2017).
        "selu_constants": {"alpha": 1.6732632423543772, "scale": 1.0507009873554805},
    }


# --------------------------------------------------------------------------------------------
# dense_bn_elu_net.json
# --------------------------------------------------------------------------------------------


def gen_dense_bn_elu_net():
    torch = torch64()
    import torch.nn.functional as F

    f64 = torch.float64
    eps = 1e-3  # Keras' BatchNormalization default epsilon
    # Inputs and weights: one float64 normal stream from seed 0, in this order.
    torch.manual_seed(0)
    X = torch.randn(8, 5, dtype=f64)
    W1 = torch.randn(5, 4, dtype=f64) * 0.5
    b1 = torch.randn(4, dtype=f64) * 0.1
    W2 = torch.randn(4, 3, dtype=f64) * 0.5
    b2 = torch.randn(3, dtype=f64) * 0.1
    y = torch.tensor([0, 2, 1, 2, 0, 1, 1, 0])
    gamma = torch.tensor([1.0, 0.5, 1.5, 2.0], dtype=f64)
    beta = torch.tensor([0.0, 0.1, -0.1, 0.2], dtype=f64)

    params = {"W1": W1, "b1": b1, "gamma": gamma, "beta": beta, "W2": W2, "b2": b2}
    for t in params.values():
        t.requires_grad_(True)

    h = X @ W1 + b1
    mean = h.mean(dim=0)  # batch mean
    var = h.var(dim=0, unbiased=False)  # biased batch variance (used to normalize)
    # Batch norm in training mode: (h - mean) / sqrt(var + eps) * gamma + beta (this order of
    # operations reproduces the committed values to the last bit; F.batch_norm differs by 1 ulp).
    hn = (h - mean) / torch.sqrt(var + eps) * gamma + beta
    a = F.elu(hn)
    logits = a @ W2 + b2
    loss = F.cross_entropy(logits, y)  # mean over the batch of -log softmax(logits)[y]
    grads = torch.autograd.grad(loss, list(params.values()))

    # Keras' BatchNormalization(momentum=0.99) after one step from moving_mean = 0 and
    # moving_variance = 1: moving = 0.99 * moving + 0.01 * batch statistic (biased variance).
    moving_mean = 0.99 * torch.zeros(4, dtype=f64) + 0.01 * mean
    moving_var = 0.99 * torch.ones(4, dtype=f64) + 0.01 * var

    return {
        "framework": torch_framework(),
        "dtype": "float64",
        "model": "h = X@W1+b1; batch-norm over the batch (training mode, biased variance, "
        "eps=1e-3) with gamma,beta; a = elu(h); logits = a@W2+b2; loss = mean softmax "
        "cross-entropy(logits, y)",
        "X": tolist(X),
        "y": y.tolist(),
        "W1": tolist(W1),
        "b1": tolist(b1),
        "gamma": tolist(gamma),
        "beta": tolist(beta),
        "W2": tolist(W2),
        "b2": tolist(b2),
        "loss": loss.item(),
        "logits": tolist(logits),
        "batch_mean": tolist(mean),
        "batch_var_biased": tolist(var),
        "batch_var_unbiased": tolist(h.var(dim=0, unbiased=True)),  # sum / (n - 1)
        "grads": {name: tolist(g) for name, g in zip(params, grads)},
        "running_stats_after_one_step_keras_momentum_0.99": {
            "moving_mean": tolist(moving_mean),  # from 0
            "moving_var_keras_biased": tolist(moving_var),  # from 1, biased variance
        },
    }


# --------------------------------------------------------------------------------------------
# conv_net.json
# --------------------------------------------------------------------------------------------


def gen_conv_net():
    """conv 3x3 "same" -> batch norm over channels (training mode) -> ReLU -> max pool 2 ->
    conv 2x2 "valid" -> flatten -> dense -> softmax cross-entropy, in torch (channels first),
    with every tensor stored in deeptrain's (Keras') layout: images (N, H, W, C), kernels
    (kh, kw, C_in, C_out), Dense kernels (inputs, units), flattening in (H, W, C) order."""
    torch = torch64()
    import torch.nn.functional as F

    f64 = torch.float64
    eps = 1e-3  # Keras' BatchNormalization default epsilon
    torch.manual_seed(1)
    X = torch.randn(3, 6, 6, 2, dtype=f64)  # (N, H, W, C)
    K1 = torch.randn(3, 3, 2, 3, dtype=f64) * 0.4  # (kh, kw, C_in, C_out)
    b1 = torch.randn(3, dtype=f64) * 0.1
    gamma = torch.tensor([1.0, 0.5, 1.5], dtype=f64)
    beta = torch.tensor([0.0, 0.1, -0.1], dtype=f64)
    K2 = torch.randn(2, 2, 3, 4, dtype=f64) * 0.4
    b2 = torch.randn(4, dtype=f64) * 0.1
    W3 = torch.randn(16, 3, dtype=f64) * 0.4  # 2 x 2 x 4 = 16 inputs
    b3 = torch.randn(3, dtype=f64) * 0.1
    y = torch.tensor([2, 0, 1])
    params = {"K1": K1, "b1": b1, "gamma": gamma, "beta": beta, "K2": K2, "b2": b2, "W3": W3,
              "b3": b3}
    for t in [X, *params.values()]:
        t.requires_grad_(True)

    def torch_kernel(k):  # (kh, kw, C_in, C_out) -> torch's (C_out, C_in, kh, kw)
        return k.permute(3, 2, 0, 1)

    x = X.permute(0, 3, 1, 2)  # NCHW
    c1 = F.conv2d(x, torch_kernel(K1), b1, padding=1)  # 3x3, stride 1: Keras "same"
    mean = c1.mean(dim=(0, 2, 3))
    var = c1.var(dim=(0, 2, 3), unbiased=False)
    shape = (1, 3, 1, 1)
    bn = (c1 - mean.view(shape)) / torch.sqrt(var.view(shape) + eps) * gamma.view(shape) \
        + beta.view(shape)
    r = F.relu(bn)
    p = F.max_pool2d(r, 2)  # 6x6 -> 3x3
    c2 = F.conv2d(p, torch_kernel(K2), b2)  # 2x2 "valid": 3x3 -> 2x2
    flat = c2.permute(0, 2, 3, 1).reshape(3, -1)  # (H, W, C) order, as deeptrain's Flatten
    logits = flat @ W3 + b3
    loss = F.cross_entropy(logits, y)
    grads = torch.autograd.grad(loss, [X, *params.values()])

    def nhwc(t):
        return tolist(t.permute(0, 2, 3, 1))

    return {
        "framework": torch_framework(),
        "dtype": "float64",
        "model": "c1 = conv2d(X, K1, b1, 3x3, stride 1, padding same); batch norm over channels "
        "(training mode, biased variance, eps=1e-3) with gamma, beta; relu; max_pool2d 2; "
        "c2 = conv2d(., K2, b2, 2x2, valid); flatten (H, W, C); logits = .@W3+b3; loss = mean "
        "softmax cross-entropy(logits, y). Images NHWC, kernels (kh, kw, C_in, C_out).",
        "X": tolist(X),
        "y": y.tolist(),
        **{name: tolist(t) for name, t in params.items()},
        "conv1_output": nhwc(c1),
        "pool_output": nhwc(p),
        "conv2_output": nhwc(c2),
        "logits": tolist(logits),
        "loss": loss.item(),
        "batch_mean": tolist(mean),
        "batch_var_biased": tolist(var),
        "grads": {"X": tolist(grads[0]),
                  **{name: tolist(g) for name, g in zip(params, grads[1:])}},
    }


# --------------------------------------------------------------------------------------------
# losses.json
# --------------------------------------------------------------------------------------------


def gen_losses():
    torch = torch64()
    import torch.nn.functional as F

    f64 = torch.float64
    y_true = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], dtype=f64)
    y_pred = torch.tensor([[0.2, 0.7], [0.9, -0.3], [2.0, 1.5]], dtype=f64)
    return {
        "framework": torch_framework(),
        "y_true": tolist(y_true),
        "y_pred": tolist(y_pred),
        # mean((y_pred - y_true)^2) over all 6 elements
        "mse": F.mse_loss(y_pred, y_true).item(),
        # mean(|y_pred - y_true|)
        "mae": F.l1_loss(y_pred, y_true).item(),
        # mean(0.5 d^2 if |d| <= 1 else |d| - 0.5)
        "huber_delta_1": F.huber_loss(y_pred, y_true, delta=1.0).item(),
        # y_pred as logits: mean(max(z,0) - z*y + log(1 + exp(-|z|)))
        "bce_with_logits": F.binary_cross_entropy_with_logits(y_pred, y_true).item(),
    }


# --------------------------------------------------------------------------------------------
# optimizers.json
# --------------------------------------------------------------------------------------------

P0 = [1.5, -0.5, 0.25, -2.0, 3.0, 0.1]
A = [1.0, 10.0, 0.1, 3.0, 0.5, 100.0]
B = [0.5, -1.0, 0.0, 2.0, -0.3, 0.05]
STEPS = 25

# (name, torch.optim class, hyperparameters)
TORCH_CASES = [
    ("sgd", "SGD", {"lr": 0.01}),
    ("sgd_momentum", "SGD", {"lr": 0.01, "momentum": 0.9}),
    ("sgd_nesterov", "SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("sgd_weight_decay", "SGD", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01}),
    ("adagrad", "Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-10}),
    ("rmsprop", "RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-08}),
    (
        "rmsprop_momentum_centered",
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "eps": 1e-08, "momentum": 0.5, "centered": True},
    ),
    ("adam", "Adam", {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-08}),
    ("adam_amsgrad", "Adam", {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-08, "amsgrad": True}),
    ("adamw", "AdamW", {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.1}),
    ("adamax", "Adamax", {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-08}),
    (
        "nadam",
        "NAdam",
        {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-08, "momentum_decay": 0.004},
    ),
]

_ADAM = {"learning_rate": 0.05, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}
# (name, keras.optimizers class, hyperparameters, two variables p[0:3] and p[3:6]?)
KERAS_CASES = [
    ("sgd", "SGD", {"learning_rate": 0.01}, False),
    ("sgd_momentum", "SGD", {"learning_rate": 0.01, "momentum": 0.9}, False),
    ("sgd_nesterov", "SGD", {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}, False),
    (
        "adagrad",
        "Adagrad",
        {"learning_rate": 0.1, "initial_accumulator_value": 0.1, "epsilon": 1e-07},
        False,
    ),
    ("rmsprop", "RMSprop", {"learning_rate": 0.01, "rho": 0.9, "epsilon": 1e-07}, False),
    ("adam", "Adam", dict(_ADAM), False),
    ("adam_amsgrad", "Adam", {**_ADAM, "amsgrad": True}, False),
    ("adamax", "Adamax", dict(_ADAM), False),
    ("nadam", "Nadam", dict(_ADAM), False),
    (
        "adamw",
        "AdamW",
        {"learning_rate": 0.05, "weight_decay": 0.1, "beta_1": 0.9, "beta_2": 0.999,
         "epsilon": 1e-07},
        False,
    ),
    ("sgd_clipvalue", "SGD", {"learning_rate": 0.05, "clipvalue": 0.5}, False),
    ("sgd_clipnorm_two_variables", "SGD", {"learning_rate": 0.05, "clipnorm": 1.0}, True),
    (
        "sgd_global_clipnorm_two_variables",
        "SGD",
        {"learning_rate": 0.05, "global_clipnorm": 1.0},
        True,
    ),
]


# The gradient is autograd's (torch) / GradientTape's (Keras) gradient of this loss, not the
# closed form grad_i = A[i]*p[i] + B[i] + 0.3*cos(3*p[i]) + 0.04*p[i]^3, which differs from it in
# the last bits (and the committed trajectories carry autograd's bits).


def torch_trajectory(cls, hp):
    torch = torch64()

    a, b = torch.tensor(A), torch.tensor(B)
    p = torch.tensor(P0, requires_grad=True)
    opt = getattr(torch.optim, cls)([p], **hp)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        # loss(p) = sum_i 0.5*A[i]*p[i]^2 + B[i]*p[i] + 0.1*sin(3*p[i]) + 0.01*p[i]^4
        loss = (0.5 * a * p**2 + b * p + 0.1 * torch.sin(3 * p) + 0.01 * p**4).sum()
        loss.backward()
        opt.step()
        out.append(tolist(p))
    return out


def keras_trajectory(cls, hp, two_variables):
    import keras
    import tensorflow as tf

    a, b = tf.constant(A, dtype=tf.float64), tf.constant(B, dtype=tf.float64)
    parts = [slice(0, 3), slice(3, 6)] if two_variables else [slice(0, 6)]
    p0 = np.array(P0)
    variables = [keras.Variable(p0[s], dtype="float64") for s in parts]
    opt = getattr(keras.optimizers, cls)(**hp)
    out = []
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            tape.watch([v.value for v in variables])
            p = tf.concat([v.value for v in variables], axis=0)
            # the same loss(p) as above, over the concatenated variables
            loss = tf.reduce_sum(0.5 * a * p**2 + b * p + 0.1 * tf.sin(3 * p) + 0.01 * p**4)
        grads = tape.gradient(loss, [v.value for v in variables])
        # One optimizer step on all variables (clipnorm per variable, global_clipnorm over all).
        opt.apply_gradients(zip(grads, variables))
        out.append(np.concatenate([v.numpy() for v in variables]).tolist())
    return out


def keras_optimizer_cases():
    """The "keras" list of optimizers.json (run in a process of its own, see isolated())."""
    k_name = keras_framework()
    cases = []
    for name, cls, hp, two in KERAS_CASES:
        case = {"name": name, "framework": k_name, "class": cls, "hyperparameters": hp}
        if two:
            case["variables"] = "two: p[0:3] and p[3:6]"
        case["params_after_each_step"] = keras_trajectory(cls, hp, two)
        cases.append(case)
    return cases


def gen_optimizers():
    keras_cases = isolated("keras_optimizer_cases")
    t_name = torch_framework()
    torch_cases = [
        {"name": name, "framework": t_name, "class": cls, "hyperparameters": hp,
         "params_after_each_step": torch_trajectory(cls, hp)}
        for name, cls, hp in TORCH_CASES
    ]
    return {
        "problem": "loss(p) = sum_i 0.5*A[i]*p[i]^2 + B[i]*p[i] + 0.1*sin(3*p[i]) + "
        "0.01*p[i]^4; grad_i = A[i]*p[i] + B[i] + 0.3*cos(3*p[i]) + 0.04*p[i]^3; float64",
        "p0": P0,
        "A": A,
        "B": B,
        "steps": STEPS,
        "note": "params_after_each_step[k] holds the parameters after k+1 optimizer steps",
        "torch": torch_cases,
        "keras": keras_cases,
    }


# --------------------------------------------------------------------------------------------
# schedules.json
# --------------------------------------------------------------------------------------------


KERAS_DECAYS = [
    # (name in the file, the call as recorded, the same call on keras.optimizers.schedules)
    ("exponential_decay",
     "ExponentialDecay(initial_learning_rate=0.01, decay_steps=20, decay_rate=0.1)",
     lambda S: S.ExponentialDecay(initial_learning_rate=0.01, decay_steps=20, decay_rate=0.1)),
    ("exponential_decay_staircase",
     "ExponentialDecay(0.01, 20, 0.1, staircase=True)",
     lambda S: S.ExponentialDecay(0.01, 20, 0.1, staircase=True)),
    ("inverse_time_decay (power scheduling, c=1)",
     "InverseTimeDecay(initial_learning_rate=0.01, decay_steps=10, decay_rate=1.0)",
     lambda S: S.InverseTimeDecay(initial_learning_rate=0.01, decay_steps=10, decay_rate=1.0)),
    ("piecewise_constant",
     "PiecewiseConstantDecay(boundaries=[30, 60], values=[0.01, 0.005, 0.001])",
     lambda S: S.PiecewiseConstantDecay(boundaries=[30, 60], values=[0.01, 0.005, 0.001])),
    ("cosine_decay_warmup",
     "CosineDecay(initial_learning_rate=0.0, decay_steps=80, alpha=0.1, warmup_target=0.01, "
     "warmup_steps=20)",
     lambda S: S.CosineDecay(initial_learning_rate=0.0, decay_steps=80, alpha=0.1,
                           warmup_target=0.01, warmup_steps=20)),
]
SCHEDULE_STEPS = list(range(0, 101, 5))


def keras_decays():
    """The Keras entries of schedules.json (run in a process of its own, see isolated())."""
    import keras

    out = {}
    for name, call, make in KERAS_DECAYS:
        schedule = make(keras.optimizers.schedules)
        # schedule(step) is a float32 scalar tensor, widened exactly to a Python float.
        out[name] = {"keras": call,
                     "lr": [float(np.asarray(schedule(step))) for step in SCHEDULE_STEPS]}
    return out


def gen_schedules():
    torch = torch64()

    steps = SCHEDULE_STEPS
    schedules = isolated("keras_decays")

    # OneCycleLR on an SGD optimizer with momentum: the rate and momentum in effect at each of
    # the 100 steps (read before opt.step(); scheduler.step() after it).
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05, momentum=0.9)
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.05, total_steps=100, pct_start=0.3, anneal_strategy="linear",
        div_factor=25, final_div_factor=1e4, cycle_momentum=True, base_momentum=0.85,
        max_momentum=0.95)
    lrs, moms = [], []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        one_cycle.step()
    schedules["one_cycle"] = {
        "torch": "OneCycleLR(max_lr=0.05, total_steps=100, pct_start=0.3, "
        "anneal_strategy='linear', div_factor=25, final_div_factor=1e4, cycle_momentum=True, "
        "base_momentum=0.85, max_momentum=0.95)",
        "lr_at_every_step_0_to_99": lrs,
        "momentum_at_every_step_0_to_99": moms,
    }

    # ReduceLROnPlateau: scheduler.step(metric) once per epoch, then the rate read back.
    metric = [1.0, 0.9, 0.85, 0.86, 0.87, 0.84, 0.845, 0.85, 0.851, 0.852, 0.853, 0.86, 0.8,
              0.81, 0.82, 0.83, 0.84, 0.85]
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=2, threshold=1e-4, threshold_mode="rel",
        cooldown=1, min_lr=0.01)
    after = []
    for m in metric:
        plateau.step(m)
        after.append(opt.param_groups[0]["lr"])
    schedules["reduce_on_plateau"] = {
        "torch": "ReduceLROnPlateau(lr0=0.1, mode='min', factor=0.5, patience=2, "
        "threshold=1e-4, threshold_mode='rel', cooldown=1, min_lr=0.01)",
        "validation_metric_each_epoch": metric,
        "lr_after_each_epoch": after,
    }
    return {"steps": steps, "schedules": schedules}


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------

PARTS = {"keras_optimizer_cases": keras_optimizer_cases, "keras_decays": keras_decays}


def isolated(part):
    """Runs PARTS[part] in a fresh interpreter and returns its JSON result.

    torch and tensorflow cannot be imported into one process here (both bundle LLVM:
    "CommandLine Error: Option 'bitcode-mdindex-threshold' registered more than once"), so
    every Keras computation runs in a child process that never imports torch.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "part.json"
        subprocess.run([sys.executable, __file__, "--part", part, str(out)], check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


GENERATORS = {
    "activations.json": gen_activations,
    "dense_bn_elu_net.json": gen_dense_bn_elu_net,
    "conv_net.json": gen_conv_net,
    "losses.json": gen_losses,
    "optimizers.json": gen_optimizers,
    "schedules.json": gen_schedules,
}


def compare(new, old, path, stats):
    """Walks both trees: structural differences into stats["structure"], numbers into maxima."""
    if isinstance(old, dict):
        if not isinstance(new, dict) or list(new) != list(old):
            got = list(new) if isinstance(new, dict) else new
            stats["structure"].append(f"{path}: keys {got!r} != {list(old)}")
            return
        for k in old:
            compare(new[k], old[k], f"{path}/{k}", stats)
    elif isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            stats["structure"].append(f"{path}: length differs")
            return
        for i, (n, o) in enumerate(zip(new, old)):
            compare(n, o, f"{path}[{i}]", stats)
    elif isinstance(old, bool) or isinstance(old, str) or old is None:
        if new != old or type(new) is not type(old):
            stats["structure"].append(f"{path}: {new!r} != {old!r}")
    else:  # a number
        if isinstance(new, bool) or not isinstance(new, (int, float)):
            stats["structure"].append(f"{path}: {new!r} is not a number")
            return
        stats["numbers"] += 1
        diff = abs(new - old)
        if diff > 0:
            stats["differ"] += 1
        rel = diff / abs(old) if old != 0 else (0.0 if diff == 0 else math.inf)
        if diff > stats["abs"]:
            stats["abs"], stats["abs_at"] = diff, path
        if rel > stats["rel"]:
            stats["rel"], stats["rel_at"] = rel, path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory and compare with the committed files")
    parser.add_argument("--only", action="append", choices=sorted(GENERATORS),
                        help="only this file (repeatable)")
    parser.add_argument("--out", type=pathlib.Path, default=HERE,
                        help="write the files into this folder (default: beside this script)")
    parser.add_argument("--part", nargs=2, metavar=("PART", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:  # the child process of isolated()
        part, out = args.part
        pathlib.Path(out).write_text(json.dumps(PARTS[part]()))
        return
    failed = False
    for name in args.only or GENERATORS:
        text = json.dumps(GENERATORS[name](), indent=1)
        if not args.check:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / name).write_text(text)
            print(f"wrote {args.out / name}")
            continue
        committed = (HERE / name).read_text()
        stats = {"structure": [], "numbers": 0, "differ": 0, "abs": 0.0, "rel": 0.0,
                 "abs_at": "", "rel_at": ""}
        compare(json.loads(text), json.loads(committed), "", stats)
        identical = "byte-identical" if text == committed else "not byte-identical"
        print(f"{name:22} {stats['numbers']:5} numbers, {stats['differ']} differ, "
              f"max abs {stats['abs']:.3g} ({stats['abs_at'] or '-'}), "
              f"max rel {stats['rel']:.3g} ({stats['rel_at'] or '-'}), {identical}")
        for line in stats["structure"][:10]:
            print(f"    structure: {line}")
        failed |= bool(stats["structure"]) or stats["rel"] > 1e-12
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
