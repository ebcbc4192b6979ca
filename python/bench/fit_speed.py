"""Training speed from Python against the command line, on the bench models (a) the
784-300-100-10 ReLU MLP and (f) the CNN conv32-pool-conv64-pool-128-10 (`deeptrain bench`'s
names), SGD, batch 32, on Fashion-MNIST (the first `--rows` training rows, scaled to [0, 1]).

Both sides run the same spec at the same seed: `deeptrain train --diagnostics-every 0` (the CLI, in its own
process) and `model.fit` of the same model written with `deeptrain.keras`. Each reports every
epoch's wall time (history's `seconds`, training only: no validation); the figure is the best
epoch's samples per second over `--rounds` rounds, the two sides alternating within each round
(the machine may be shared). One line per model gives both rates and their ratio
(Python / command line); the losses of the two sides must be identical.

    python python/bench/fit_speed.py --bin target/release/deeptrain [--epochs 2] [--rounds 3] [--threads N] [--models a,f] [--rows 60000]
"""

import argparse
import csv
import os
import subprocess
import tempfile

import deeptrain
from deeptrain import keras

HEAD = """
seed = 1
[data]
dataset = "fashion_mnist"
scale = "unit"
max_train_samples = {rows}
"""

TAIL = """
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[optimizer]
name = "sgd"
learning_rate = 0.01
[fit]
epochs = {epochs}
batch_size = 32
"""

DENSE = """
[[layers]]
type = "dense"
units = {units}
activation = "relu"
kernel_initializer = "he_normal"
"""

CONV = """
[[layers]]
type = "conv2d"
filters = {filters}
kernel_size = 3
activation = "relu"
kernel_initializer = "he_normal"
[[layers]]
type = "max_pooling2d"
pool_size = 2
"""

FLATTEN = """
[[layers]]
type = "flatten"
"""

# name -> (spec layers before the softmax, the same layers in Keras' words)
MODELS = {
    "a": (
        FLATTEN + DENSE.format(units=300) + DENSE.format(units=100),
        lambda: [keras.layers.Flatten(), keras.layers.Dense(300, activation="relu", kernel_initializer="he_normal"), keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal")],
    ),
    "f": (
        CONV.format(filters=32) + CONV.format(filters=64) + FLATTEN + DENSE.format(units=128),
        lambda: [
            keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_normal"), keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu", kernel_initializer="he_normal"), keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(), keras.layers.Dense(128, activation="relu", kernel_initializer="he_normal"),
        ],
    ),
}


def cli_rates(binary, spec, threads, rows):
    with tempfile.TemporaryDirectory() as out:
        # Without per-layer diagnostics, which fit does not record (and which, observing the
        # gradients, take plain SGD off its fused update: the last bits then differ).
        command = [binary, "--threads", str(threads), "train", spec, "--out", out, "--diagnostics-every", "0"]
        subprocess.run(command, check=True, capture_output=True)
        with open(os.path.join(out, "history.csv")) as f:
            found = list(csv.DictReader(f))
    return [rows / float(r["seconds"]) for r in found], [float(r["loss"]) for r in found]


def python_rates(spec, layers, epochs, rows):
    (x, y), _, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=x.shape[1:])] + layers() + [keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01), metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return [rows / s for s in history.seconds], history.history["loss"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/deeptrain")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="engine threads on both sides (0: every core)")
    parser.add_argument("--models", default="a,f", help="bench models, comma-separated (a: the MLP, f: the CNN)")
    parser.add_argument("--rows", type=int, default=60000, help="training rows (the first ones of Fashion-MNIST)")
    args = parser.parse_args()
    deeptrain.set_num_threads(args.threads)
    names = args.models.split(",")
    for name in names:
        if name not in MODELS:
            parser.error(f"--models: {name!r} is not one of {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory() as tmp:
        best = {name: [0.0, 0.0] for name in names}
        for round_ in range(args.rounds):
            for name in names:
                spec = os.path.join(tmp, f"{name}.toml")
                with open(spec, "w") as f:
                    f.write(HEAD.format(rows=args.rows) + MODELS[name][0] + TAIL.format(epochs=args.epochs))
                # Alternate which side goes first, so that neither always meets the same load.
                sides = ["cli", "py"] if round_ % 2 == 0 else ["py", "cli"]
                losses = {}
                for side in sides:
                    if side == "cli":
                        rates, losses["cli"] = cli_rates(args.bin, spec, args.threads, args.rows)
                        best[name][0] = max(best[name][0], *rates)
                    else:
                        rates, losses["py"] = python_rates(spec, MODELS[name][1], args.epochs, args.rows)
                        best[name][1] = max(best[name][1], *rates)
                assert losses["py"] == losses["cli"], (name, losses)
        print(f"load average after: {os.getloadavg()}; threads {deeptrain.num_threads()}; {args.rows} rows, {args.epochs} epochs, {args.rounds} rounds")
        for name in names:
            cli, py = best[name]
            print(f"model ({name}): command line {cli:,.0f} samples/s; Python fit {py:,.0f} samples/s; ratio {py / cli:.3f} (same losses on both sides)")


if __name__ == "__main__":
    main()
