"""Reference values for LayerNormalization: tests/reference/layer_norm.json, from PyTorch.

Versions: torch==2.15.0 (reports "2.15.0+cu132", run on the CPU), numpy 2.4.6, Python 3.11.
Everything in float64. The layer is torch.nn.functional.layer_norm over the last axis with
eps = 1e-3, Keras' default (keras.layers.LayerNormalization(epsilon=1e-3); PyTorch's own
nn.LayerNorm default is eps = 1e-5), biased variance as both frameworks.

Run from the repository root (rewrites the file; --check compares and writes nothing):
    /work/pyenv/bin/python tests/reference/gen_layer_norm.py [--check]

Two cases:
- "layer": x of shape (2, 3, 4) (samples of shape (3, 4), normalized over the last axis),
  random gamma and beta; y, and dL/dx, dL/dgamma, dL/dbeta for L = sum(y * w), w random.
- "network": Dense(5 -> 4) -> LayerNormalization -> ELU -> Dense(4 -> 3) -> softmax
  cross-entropy (mean over the batch of 6), weights from torch.manual_seed(0); the logits,
  the loss and the gradient of every parameter. W is stored (inputs, outputs) as Keras.
"""

import json
import sys
from pathlib import Path

import numpy
import torch
import torch.nn.functional as F

EPS = 1e-3
OUT = Path(__file__).with_name("layer_norm.json")


def values(t):
    return t.detach().numpy().tolist()


def layer_case():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    gamma = (1.0 + 0.5 * torch.randn(4, generator=g, dtype=torch.float64)).requires_grad_()
    beta = (0.3 * torch.randn(4, generator=g, dtype=torch.float64)).requires_grad_()
    w = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    y = F.layer_norm(x, (4,), gamma, beta, eps=EPS)
    (y * w).sum().backward()
    return {
        "x": values(x), "gamma": values(gamma), "beta": values(beta), "w": values(w),
        "y": values(y), "dx": values(x.grad), "dgamma": values(gamma.grad),
        "dbeta": values(beta.grad),
    }


def network_case():
    torch.manual_seed(0)
    dt = torch.float64
    x = torch.randn(6, 5, dtype=dt)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    w1 = (0.5 * torch.randn(5, 4, dtype=dt)).requires_grad_()
    b1 = (0.1 * torch.randn(4, dtype=dt)).requires_grad_()
    gamma = (1.0 + 0.2 * torch.randn(4, dtype=dt)).requires_grad_()
    beta = (0.1 * torch.randn(4, dtype=dt)).requires_grad_()
    w2 = (0.5 * torch.randn(4, 3, dtype=dt)).requires_grad_()
    b2 = (0.1 * torch.randn(3, dtype=dt)).requires_grad_()
    h = F.elu(F.layer_norm(x @ w1 + b1, (4,), gamma, beta, eps=EPS))
    logits = h @ w2 + b2
    loss = F.cross_entropy(logits, y)
    loss.backward()
    params = {"W1": w1, "b1": b1, "gamma": gamma, "beta": beta, "W2": w2, "b2": b2}
    return {
        "X": values(x), "y": y.tolist(), **{k: values(v) for k, v in params.items()},
        "logits": values(logits), "loss": loss.item(),
        "grads": {k: values(v.grad) for k, v in params.items()},
    }


def main():
    data = {
        "framework": f"torch {torch.__version__}, numpy {numpy.__version__}, float64",
        "epsilon": EPS,
        "layer": layer_case(),
        "network": network_case(),
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
