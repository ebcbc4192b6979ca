#!/usr/bin/env python3
"""Regenerates the data of the diagnosis benchmark (bench/diagnosis/data/).

Made with Python 3, numpy 2.4.6 and scikit-learn 1.9.1 (`/work/pyenv/bin/python make_data.py`).
Every file is a CSV whose last column is the label (`label_column = "label"`), or, for several
targets, a pair NAME_x.npy / NAME_y.npy. The generators and their parameters are the sources'
own; where a source read a file that is not public or not small, the spec's provenance says
what stands in for it (cases.csv, column `data`).

- blob.csv, circle.csv: AUTOTRAINER's `simplednn` data (shiningrain/AUTOTRAINER,
  AutoTrainer/data/simplednn.py): make_blobs(n_samples=1000, centers=3, n_features=2,
  cluster_std=2, random_state=2) and make_circles(n_samples=1000, noise=0.1, random_state=1);
  the first 700 rows train, the last 300 validate (the specs split in file order).
- Stack Overflow posts from DeepLocalize's benchmark (Wardat-ISU/DeepLocalize,
  Benchmark/StackOverflow/POST/): each file is named after its post and built as the buggy
  script builds its data (sizes reduced where the script used 10^4-10^5 rows).
- digits_onehot_x.npy / _y.npy: the digits with one-hot targets (post 48385830's MSE on one-hot).
- digits_raw.csv: scikit-learn's 8x8 digits with pixels rescaled to 0-255, the raw MNIST
  range (posts 55328966, 59278771 and the AUTOTRAINER MNIST models read raw pixels).
"""
import csv
import os
import sys

import numpy as np
import sklearn
from sklearn import datasets

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def write(name, x, y):
    """A CSV (features x0.., then `label`) for one target; NAME_x.npy and NAME_y.npy for several."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        stem = name.removesuffix(".csv")
        np.save(os.path.join(HERE, stem + "_x.npy"), x.astype(np.float32))
        np.save(os.path.join(HERE, stem + "_y.npy"), y.astype(np.float32))
        print(f"{stem}_x.npy, {stem}_y.npy: {x.shape[0]} rows, {x.shape[1]} features, {y.shape[1]} targets")
        return
    y = y.reshape(-1, 1)
    ylabels = ["label"]
    path = os.path.join(HERE, name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i}" for i in range(x.shape[1])] + ylabels)
        for xi, yi in zip(x, y):
            w.writerow([f"{v:.6g}" for v in xi] + [f"{v:.6g}" if isinstance(v, float) else str(v) for v in yi.tolist()])
    print(f"{name}: {x.shape[0]} rows, {x.shape[1]} features, {y.shape[1]} target(s)")


def main():
    os.makedirs(HERE, exist_ok=True)
    print(f"numpy {np.__version__}, scikit-learn {sklearn.__version__}", file=sys.stderr)
    x, y = datasets.make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)
    write("blob.csv", x, y)
    x, y = datasets.make_circles(n_samples=1000, noise=0.1, random_state=1)
    write("circle.csv", x, y)
    rng = np.random.default_rng(0)
    # 31556268: XOR, four samples.
    write("so_31556268_xor.csv", [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0])
    # 34311586: XOR with two repeated rows.
    write("so_34311586_xor6.csv", [[1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [0, 0]], [0, 0, 1, 1, 0, 0])
    # 31880720: 128 ones labelled True, 128 zeros labelled False (10^4 each; 10^3 here).
    n = 1000
    write("so_31880720_const.csv", np.vstack([np.ones((n, 128)), np.zeros((n, 128))]), [1] * n + [0] * n)
    # 33969059: y = x . (2, 1, 0.5) + 2.2 with x uniform in [0, 10000) (10^5 rows; 5,000 here).
    x = 10000 * rng.random((5000, 3))
    write("so_33969059_linear.csv", x, x @ np.array([2.0, 1.0, 0.5]) + 2.2)
    # 39217567: the 256 8-bit codes mapped to a shuffled copy of themselves (8 outputs).
    codes = np.array([[float(b) for b in format(i, "08b")] for i in range(256)])
    write("so_39217567_bits.csv", codes, codes[rng.permutation(256)])
    # 38648195 and 50481178: make_multilabel_classification, 20 features, 3 labels (6*10^4
    # rows in the post; 6,000 here).
    x, y = datasets.make_multilabel_classification(n_samples=6000, n_features=20, n_classes=3, random_state=0)
    write("so_38648195_multilabel.csv", x, y)
    # 45337371: five uniform features; the post trains nothing, so labels are x0 + x1 > 1.
    x = rng.random((2000, 5))
    write("so_45337371_uniform.csv", x, (x[:, 0] + x[:, 1] > 1).astype(int))
    # 48934338: y = 5 x^2 + e^3, e ~ N(0, 1), x = 0, 0.1, ..., 4.9 as in the post.
    x = np.arange(0.0, 5.0, 0.1).reshape(-1, 1)
    write("so_48934338_quadratic.csv", x, 5 * x[:, 0] ** 2 + rng.standard_normal(50) ** 3)
    # 52800582: y = x^4 for x = -100, -99.5, ..., 99.5; the accepted fix standardizes x and y.
    x = np.arange(-100, 100, 0.5).reshape(-1, 1)
    write("so_52800582_quartic.csv", x, x[:, 0] ** 4)
    y = x[:, 0] ** 4
    write("so_52800582_quartic_scaled.csv", (x - x.mean()) / x.std(), (y - y.mean()) / y.std())
    # 59278771 and 51930566: the iris table (the posts read iris.data / load_iris).
    iris = datasets.load_iris()
    write("iris.csv", iris.data, iris.target)
    # Digits with raw-pixel range 0-255 (for the MNIST posts and models).
    d = datasets.load_digits()
    write("digits_raw.csv", np.round(d.data * 255 / 16), d.target)
    # 48385830: digits with one-hot targets, which the post feeds to a mean-squared-error loss.
    write("digits_onehot.csv", d.data, np.eye(10)[d.target])


if __name__ == "__main__":
    main()
