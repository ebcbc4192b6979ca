"""Reference values for deeptrain's metrics and losses (tests/metrics_losses.rs).

Generated with Keras 3.15.1 (numpy backend: KERAS_BACKEND=numpy; its import needs jax 0.10.2),
scikit-learn 1.9.1 and NumPy 2.4.6 on fixed float32 inputs; writes
tests/reference/metrics_losses.json.

    pip install keras==3.15.1 jax==0.10.2 scikit-learn==1.9.1 numpy==2.4.6
    KERAS_BACKEND=numpy python3 tests/reference/gen_metrics_losses.py

Sources of each figure:
- losses (mae, huber delta 1 and 2, log_cosh, poisson, kl_divergence, hinge), unweighted and
  with sample weights: keras.losses.<Class>()(y_true, y_pred, sample_weight) (reduction
  "sum_over_batch_size": sum(w * loss) / batch).
- precision, recall, auc (200 thresholds, ROC, interpolation), binary case, unweighted and
  weighted: keras.metrics.Precision / Recall / AUC update_state + result.
- f1: keras.metrics.F1Score(average="micro", threshold=0.5); also sklearn f1_score.
- exact ROC AUC: sklearn.metrics.roc_auc_score (deeptrain's 200-threshold AUC must be within
  1e-3 of it on these 64 samples).
- top_k_accuracy (k=2 and the default 5 on 6 classes): keras.metrics.SparseTopKCategoricalAccuracy.
- mse, rmse, r2 (2 outputs, uniform average): keras.metrics.MeanSquaredError,
  RootMeanSquaredError, R2Score, and sklearn r2_score.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "numpy")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.metrics import f1_score, r2_score, roc_auc_score  # noqa: E402

rng = np.random.default_rng(21)
out = {"versions": {"keras": keras.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__, "jax": __import__("jax").__version__}}

# Regression-style losses: 8 samples, 3 outputs; predictions positive (Poisson needs p > 0).
y_true = rng.uniform(0.0, 3.0, size=(8, 3)).astype(np.float32)
y_pred = rng.uniform(0.05, 3.0, size=(8, 3)).astype(np.float32)
weights = rng.uniform(0.0, 2.0, size=(8,)).astype(np.float32)
out["regression"] = {"y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "weights": weights.tolist()}
losses = {
    "mae": keras.losses.MeanAbsoluteError(),
    "huber": keras.losses.Huber(delta=1.0),
    "huber_delta_0_5": keras.losses.Huber(delta=0.5),
    "log_cosh": keras.losses.LogCosh(),
    "poisson": keras.losses.Poisson(),
}
for name, fn in losses.items():
    out["regression"][name] = float(fn(y_true, y_pred))
    out["regression"][name + "_weighted"] = float(fn(y_true, y_pred, sample_weight=weights))

# KL divergence on probability rows.
p_true = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
p_pred = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
out["kl"] = {
    "y_true": p_true.tolist(),
    "y_pred": p_pred.tolist(),
    "kl_divergence": float(keras.losses.KLDivergence()(p_true, p_pred)),
}

# Hinge with 0/1 labels (Keras converts them to -1/1) and raw scores.
h_true = rng.integers(0, 2, size=(10, 2)).astype(np.float32)
h_pred = rng.normal(0.0, 1.5, size=(10, 2)).astype(np.float32)
out["hinge"] = {
    "y_true": h_true.tolist(),
    "y_pred": h_pred.tolist(),
    "hinge": float(keras.losses.Hinge()(h_true, h_pred)),
}

# Binary classification: 64 samples, one sigmoid output, weights.
b_true = rng.integers(0, 2, size=(64, 1)).astype(np.float32)
b_pred = np.clip(0.35 * b_true + rng.uniform(0.0, 0.65, size=(64, 1)), 0, 1).astype(np.float32)
bw = rng.uniform(0.2, 3.0, size=(64,)).astype(np.float32)
binary = {"y_true": b_true.tolist(), "y_pred": b_pred.tolist(), "weights": bw.tolist()}
for name, cls in [("precision", keras.metrics.Precision), ("recall", keras.metrics.Recall), ("auc", keras.metrics.AUC)]:
    m = cls()
    m.update_state(b_true, b_pred)
    binary[name] = float(m.result())
    m = cls()
    m.update_state(b_true, b_pred, sample_weight=bw)
    binary[name + "_weighted"] = float(m.result())
m = keras.metrics.F1Score(average="micro", threshold=0.5)
m.update_state(b_true, b_pred)
binary["f1"] = float(np.asarray(m.result()))
binary["f1_sklearn"] = float(f1_score(b_true[:, 0], b_pred[:, 0] > 0.5))
binary["auc_exact_sklearn"] = float(roc_auc_score(b_true[:, 0], b_pred[:, 0]))
binary["auc_exact_sklearn_weighted"] = float(roc_auc_score(b_true[:, 0], b_pred[:, 0], sample_weight=bw))
out["binary"] = binary

# Top-k on 6 classes, 20 samples (softmax-like rows), sparse labels.
logits = rng.normal(size=(20, 6)).astype(np.float32)
probs = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
labels = rng.integers(0, 6, size=(20,))
topk = {"y_pred": probs.tolist(), "labels": labels.tolist()}
for k in (2, 5):
    m = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
    m.update_state(labels, probs)
    topk[f"top_{k}"] = float(m.result())
out["top_k"] = topk

# Regression metrics, 2 outputs.
r_true = rng.normal(size=(16, 2)).astype(np.float32)
r_pred = (r_true + rng.normal(0.0, 0.5, size=(16, 2))).astype(np.float32)
reg = {"y_true": r_true.tolist(), "y_pred": r_pred.tolist()}
for name, cls in [("mse", keras.metrics.MeanSquaredError), ("rmse", keras.metrics.RootMeanSquaredError), ("r2", keras.metrics.R2Score)]:
    m = cls()
    m.update_state(r_true, r_pred)
    reg[name] = float(np.asarray(m.result()))
reg["r2_sklearn"] = float(r2_score(r_true, r_pred))
out["regression_metrics"] = reg

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics_losses.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
