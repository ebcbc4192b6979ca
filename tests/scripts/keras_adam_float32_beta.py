"""Why Keras' Adam and AdamW cases in tests/reference/optimizers.json differ from PyTorch's
(and from deeptrain's) by ~1e-3 relative, while the formulas are the same.

Replays Adam on the reference problem in float64 three ways and compares with the Keras case:
  exact   - bias corrections 1 - beta^t with beta = 0.9 / 0.999 exactly;
  both32  - bias corrections from beta rounded to float32 (what Keras 3 does: it casts beta to
            the float32 dtype of its iteration counter), moment updates with exact (1 - beta).
Run: pip install numpy && python3 tests/scripts/keras_adam_float32_beta.py

Output on 2026-11-25:
  adam  exact  8.8e-04   both32 2.0e-06
  adamw exact  3.4e-04   both32 7.8e-07
So the Keras reference carries a float32 rounding of beta (1 - 0.999f32 = 0.00099998713 in the
bias correction against 0.001 in the moment update). deeptrain computes the bias correction
consistently with its moment update (as PyTorch), and matches PyTorch's Adam/AdamW to 1e-4.
"""
import json
import math
import pathlib

import numpy as np

ref = json.loads(
    (pathlib.Path(__file__).resolve().parents[2] / "tests/reference/optimizers.json")
    .resolve()
    .read_text()
)
A, B = np.array(ref["A"]), np.array(ref["B"])


def grad(p):
    return A * p + B + 0.3 * np.cos(3 * p) + 0.04 * p**3


for name, decay in [("adam", 0.0), ("adamw", 0.1)]:
    expected = next(c for c in ref["keras"] if c["name"] == name)["params_after_each_step"]
    line = [f"{name:5}"]
    for variant in ["exact", "both32"]:
        p, m, v = np.array(ref["p0"]), np.zeros(6), np.zeros(6)
        lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-7
        pb1 = float(np.float32(b1)) if variant == "both32" else b1
        pb2 = float(np.float32(b2)) if variant == "both32" else b2
        worst = 0.0
        for t in range(1, 26):
            g = grad(p)
            p = p - p * decay * lr
            alpha = lr * math.sqrt(1 - pb2**t) / (1 - pb1**t)
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            p = p - m * alpha / (np.sqrt(v) + eps)
            e = np.array(expected[t - 1])
            worst = max(worst, float(np.max(np.abs(p - e) / (1e-3 + np.abs(e)))))
        line.append(f"{variant} {worst:.1e}")
    print("  ".join(line))
