"""Reference values for Embedding: tests/reference/embedding.json, from PyTorch.

Versions: torch==2.15.0 (reports "2.15.0+cu132", run on the CPU), numpy 2.4.6, Python 3.11.
Everything in float64. The layer is torch.nn.Embedding(num_embeddings=5, embedding_dim=3)
(Keras' Embedding(input_dim=5, output_dim=3) computes the same lookup; the weight layout is
the same, (input_dim, output_dim), no conversion). Its weight is set from a seeded generator
rather than PyTorch's N(0, 1) default initialization, which deeptrain does not reproduce
(Keras' default is RandomUniform(-0.05, 0.05)).

Run from the repository root (rewrites the file; --check compares and writes nothing):
    /work/pyenv/bin/python tests/reference/gen_embedding.py [--check]

One case: ids of shape (2, 4) with ids 1 and 3 repeated (their weight-gradient rows sum
several upstream rows) and id 4 unused (its gradient row stays zero); the output y (2, 4, 3)
and dL/dW for L = sum(y * w), w random of y's shape.
"""

import json
import sys
from pathlib import Path

import numpy
import torch

OUT = Path(__file__).with_name("embedding.json")


def values(t):
    return t.detach().numpy().tolist()


def layer_case():
    g = torch.Generator().manual_seed(3)
    layer = torch.nn.Embedding(5, 3).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(5, 3, generator=g, dtype=torch.float64))
    ids = torch.tensor([[1, 3, 0, 1], [3, 2, 3, 1]])
    w = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    y = layer(ids)
    (y * w).sum().backward()
    return {
        "input_dim": 5, "output_dim": 3,
        "weight": values(layer.weight), "ids": ids.tolist(), "w": values(w),
        "y": values(y), "dweight": values(layer.weight.grad),
    }


def main():
    data = {
        "framework": f"torch {torch.__version__}, numpy {numpy.__version__}, float64",
        "layer": layer_case(),
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
