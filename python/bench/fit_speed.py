"""Training speed from Python against the command line, on the bench models (a) the
784-300-100-10 ReLU MLP with batch 32, (b) the same with batch 256, (c) 784-1024x3-10 with
batch 256 and (f) the CNN conv32-pool-conv64-pool-128-10 with batch 32 (`bench/compare.py`'s
names), SGD, on Fashion-MNIST (the first `--rows` training rows, scaled to [0, 1]).

Three sides run the same spec at the same seed: `deeptrain train --diagnostics-every 0` (the
command, in its own process), `model.fit` of the same model written with `deeptrain.keras`, and
that `fit` again with a Python callback that has a (no-op) `on_train_batch_end`, which makes
every step call into Python. Each side's figure is an epoch's wall time as the library's loop
measures it (training only: no validation), to the nanosecond: the command's from its
checkpoint's `training_state.json` (its `history.csv` rounds to milliseconds), Python's from
`History.seconds`. The figure is the best epoch's samples per second over `--rounds` rounds, the
sides taking turns to go first (the machine may be shared). One line per model gives the rates
and the ratios to the command line; the losses of all sides must be identical.

    OPENBLAS_NUM_THREADS=1 python python/bench/fit_speed.py --bin target/release/deeptrain [--epochs 2] [--rounds 3] [--threads N] [--models a,b,f] [--rows 60000]
"""

import argparse
import json
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
batch_size = {batch}
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


def mlp(*units):
    """A ReLU MLP's hidden layers: (the spec's tables, the same layers in Keras' words)."""
    spec = FLATTEN + "".join(DENSE.format(units=u) for u in units)
    return spec, lambda: [keras.layers.Flatten()] + [keras.layers.Dense(u, activation="relu", kernel_initializer="he_normal") for u in units]


# name -> (spec layers before the softmax, the same layers in Keras' words, batch size)
MODELS = {
    "a": mlp(300, 100) + (32,),
    "b": mlp(300, 100) + (256,),
    "c": mlp(1024, 1024, 1024) + (256,),
    "f": (
        CONV.format(filters=32) + CONV.format(filters=64) + FLATTEN + DENSE.format(units=128),
        lambda: [
            keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_normal"), keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu", kernel_initializer="he_normal"), keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(), keras.layers.Dense(128, activation="relu", kernel_initializer="he_normal"),
        ],
        32,
    ),
}

SIDES = ["cli", "py", "py_cb"]


class EveryStep(keras.callbacks.Callback):
    """A Python callback with a per-step hook that does nothing: the cost of calling Python."""

    def on_train_batch_end(self, batch, logs=None):
        pass



def cli_rates(binary, spec, threads, rows):
    with tempfile.TemporaryDirectory() as out:
        # Without per-layer diagnostics, which fit does not record (and which, observing the
        # gradients, take plain SGD off its fused update: the last bits then differ).
        command = [binary, "--threads", str(threads), "train", spec, "--out", out, "--diagnostics-every", "0"]
        subprocess.run(command, check=True, capture_output=True)
        # The checkpoint keeps every epoch's seconds unrounded.
        with open(os.path.join(out, "resume", "training_state.json")) as f:
            found = json.load(f)["history"]
    return [rows / e["seconds"] for e in found], [dict(e["values"])["loss"] for e in found]


def python_rates(spec, layers, epochs, batch, rows, callbacks):
    (x, y), _, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=x.shape[1:])] + layers() + [keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01), metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=callbacks)
    return [rows / s for s in history.seconds], history.history["loss"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/deeptrain")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="engine threads on both sides (0: every core)")
    parser.add_argument("--models", default="a,b,f", help="bench models, comma-separated (a, b, c: the MLPs, f: the CNN)")
    parser.add_argument("--rows", type=int, default=60000, help="training rows (the first ones of Fashion-MNIST)")
    args = parser.parse_args()
    deeptrain.set_num_threads(args.threads)
    names = args.models.split(",")
    for name in names:
        if name not in MODELS:
            parser.error(f"--models: {name!r} is not one of {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory() as tmp:
        best = {name: dict.fromkeys(SIDES, 0.0) for name in names}
        for round_ in range(args.rounds):
            for name in names:
                layers, keras_layers, batch = MODELS[name]
                spec = os.path.join(tmp, f"{name}.toml")
                with open(spec, "w") as f:
                    f.write(HEAD.format(rows=args.rows) + layers + TAIL.format(epochs=args.epochs, batch=batch))
                # Rotate which side goes first, so that none always meets the same load.
                sides = SIDES[round_ % len(SIDES):] + SIDES[: round_ % len(SIDES)]
                losses = {}
                for side in sides:
                    if side == "cli":
                        rates, losses[side] = cli_rates(args.bin, spec, args.threads, args.rows)
                    else:
                        callbacks = [EveryStep()] if side == "py_cb" else None
                        rates, losses[side] = python_rates(spec, keras_layers, args.epochs, batch, args.rows, callbacks)
                    best[name][side] = max(best[name][side], *rates)
                assert losses["py"] == losses["cli"] == losses["py_cb"], (name, losses)
                print(f"round {round_ + 1} ({name}): best so far " + ", ".join(f"{side} {best[name][side]:,.0f}" for side in SIDES), flush=True)
        print(f"load average after: {os.getloadavg()}; threads {deeptrain.num_threads()}; {args.rows} rows, {args.epochs} epochs, {args.rounds} rounds")
        for name in names:
            cli, py, cb = (best[name][side] for side in SIDES)
            print(f"model ({name}): command line {cli:,.0f} samples/s; Python fit {py:,.0f} ({py / cli:.3f}x); with a per-step Python callback {cb:,.0f} ({cb / cli:.3f}x); same losses")


if __name__ == "__main__":
    main()
