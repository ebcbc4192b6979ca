"""Reference values for the one-dimensional (sequence) layers: tests/reference/conv1d.json,
from PyTorch.

Versions: torch==2.15.0 (reports "2.15.0+cu132", run on the CPU), numpy 2.4.6, Python 3.11.
Everything in float64, inputs and weights from seeded generators (deeptrain does not reproduce
either framework's initialization).

Run from the repository root (rewrites the file; --check compares and writes nothing):
    /work/pyenv/bin/python tests/reference/gen_conv1d.py [--check]

Layout (Keras' channels last, as deeptrain): x (N, T, C), Conv1D kernel (k, C, F), Dense
kernel (I, U). PyTorch's F.conv1d takes x as (N, C, T) and its weight as (F, C, k): the script
permutes x with x.permute(0, 2, 1) and the kernel with W.permute(2, 1, 0), and the output
back. Padding as Keras/TensorFlow:
- "valid": none;
- "same": out = ceil(T / s), total = max((out - 1) s + (k - 1) d + 1 - T, 0) zeros, total // 2
  before and the rest after (F.pad; PyTorch's own padding="same" exists only for stride 1);
- "causal": (k - 1) d zeros before, none after (Keras' Conv1D pads so, then runs "valid").
Pooling: max over the real (non-padded) inputs of each window (padded with -inf); average =
sum over the window / number of real inputs (TensorFlow's avg_pool does not count padding):
both from x.unfold over the padded time axis. Global pooling: mean / max over the time axis.

Every case gives y and the gradients of L = sum(y * w) (w random, y's shape) with respect to x
and to every parameter.
"""

import json
import sys
from pathlib import Path

import numpy
import torch
import torch.nn.functional as F

OUT = Path(__file__).with_name("conv1d.json")
D = torch.float64


def values(t):
    return t.detach().numpy().tolist()


def same_pads(t, k, s, d):
    out = -(-t // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - t, 0)
    return total // 2, total - total // 2


def pads(padding, t, k, s, d):
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_pads(t, k, s, d)
    return (k - 1) * d, 0  # causal


def dense_case():
    """Dense(5, tanh) on (2, 3, 4): the kernel applies to the last axis at every step."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 3, 4, generator=g, dtype=D, requires_grad=True)
    w_k = (0.5 * torch.randn(4, 5, generator=g, dtype=D)).requires_grad_()
    b = (0.1 * torch.randn(5, generator=g, dtype=D)).requires_grad_()
    w = torch.randn(2, 3, 5, generator=g, dtype=D)
    y = torch.tanh(x @ w_k + b)
    (y * w).sum().backward()
    return {
        "units": 5, "activation": "tanh", "x": values(x), "kernel": values(w_k), "bias": values(b),
        "w": values(w), "y": values(y), "dx": values(x.grad), "dkernel": values(w_k.grad),
        "dbias": values(b.grad),
    }


CONV_CASES = [
    # name, T, C, F, kernel_size, strides, padding, dilation_rate
    ("valid", 7, 3, 4, 3, 1, "valid", 1),
    ("same_even_kernel", 7, 3, 4, 4, 1, "same", 1),
    ("same_stride2", 8, 2, 3, 3, 2, "same", 1),
    ("valid_stride3", 10, 2, 3, 2, 3, "valid", 1),
    ("causal", 6, 3, 2, 3, 1, "causal", 1),
    ("causal_dilated", 9, 2, 3, 3, 1, "causal", 2),
    ("same_dilated", 9, 2, 2, 2, 1, "same", 3),
]


def conv_case(name, t, c, f, k, s, padding, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, t, c, generator=g, dtype=D, requires_grad=True)
    kernel = (0.5 * torch.randn(k, c, f, generator=g, dtype=D)).requires_grad_()
    bias = (0.1 * torch.randn(f, generator=g, dtype=D)).requires_grad_()
    before, after = pads(padding, t, k, s, d)
    xt = F.pad(x.permute(0, 2, 1), (before, after))
    y = F.conv1d(xt, kernel.permute(2, 1, 0), bias, stride=s, dilation=d).permute(0, 2, 1)
    w = torch.randn(*y.shape, generator=g, dtype=D)
    (y * w).sum().backward()
    return {
        "name": name, "filters": f, "kernel_size": k, "strides": s, "padding": padding,
        "dilation_rate": d, "x": values(x), "kernel": values(kernel), "bias": values(bias),
        "w": values(w), "y": values(y), "dx": values(x.grad), "dkernel": values(kernel.grad),
        "dbias": values(bias.grad),
    }


POOL_CASES = [
    # name, kind, T, C, pool_size, strides, padding
    ("max_valid", "max", 7, 3, 2, 2, "valid"),
    ("max_same_stride1", "max", 5, 2, 3, 1, "same"),
    ("average_valid_overlap", "average", 8, 2, 3, 2, "valid"),
    ("average_same", "average", 7, 3, 2, 2, "same"),
    ("average_same_stride1", "average", 5, 2, 4, 1, "same"),
]


def pool_case(name, kind, t, c, p, s, padding, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, t, c, generator=g, dtype=D, requires_grad=True)
    before, after = pads(padding, t, p, s, 1)
    xt = x.permute(0, 2, 1)  # (N, C, T)
    if kind == "max":
        padded = F.pad(xt, (before, after), value=float("-inf"))
        y = padded.unfold(2, p, s).amax(dim=3)
    else:
        sums = F.pad(xt, (before, after)).unfold(2, p, s).sum(dim=3)
        ones = F.pad(torch.ones(1, 1, t, dtype=D), (before, after)).unfold(2, p, s).sum(dim=3)
        y = sums / ones
    y = y.permute(0, 2, 1)
    w = torch.randn(*y.shape, generator=g, dtype=D)
    (y * w).sum().backward()
    return {
        "name": name, "kind": kind, "pool_size": p, "strides": s, "padding": padding,
        "x": values(x), "w": values(w), "y": values(y), "dx": values(x.grad),
    }


def global_case(kind, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, 4, generator=g, dtype=D, requires_grad=True)
    y = x.mean(dim=1) if kind == "average" else x.amax(dim=1)
    w = torch.randn(*y.shape, generator=g, dtype=D)
    (y * w).sum().backward()
    return {"kind": kind, "x": values(x), "w": values(w), "y": values(y), "dx": values(x.grad)}


def main():
    data = {
        "framework": f"torch {torch.__version__}, numpy {numpy.__version__}, float64",
        "dense_3d": dense_case(),
        "conv1d": [conv_case(*case, seed=20 + i) for i, case in enumerate(CONV_CASES)],
        "pooling1d": [pool_case(*case, seed=40 + i) for i, case in enumerate(POOL_CASES)],
        "global_pooling1d": [global_case(k, 60 + i) for i, k in enumerate(["average", "max"])],
    }
    text = json.dumps(data, indent=1) + "\n"
    if "--check" in sys.argv:
        same = OUT.exists() and OUT.read_text() == text
        print(f"{OUT.name}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
