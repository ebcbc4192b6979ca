"""Training speed from Python against the command line, on every model of `deeptrain bench`
(src/cli/bench.rs; `bench/compare.py`'s names), each ending in a 10-unit softmax, learning rate
0.01: (a) the 784-300-100-10 ReLU MLP with batch 32, (b) the same with batch 256, (c)
784-1024x3-10 with batch 256, (d) 100 x 100 SELU (LeCun normal) with batch 32, (e) 20 x (100
ELU + batch norm) with Nadam and batch 32, (f) the CNN conv32-pool-conv64-pool-128 with batch
32, (g) the same with batch 256, (h) an LSTM of 128 units reading each image as 28 steps of 28
pixels, batch 32, and (i) the same with batch 128; SGD but for (e). The data is Fashion-MNIST
(the first `--rows` training rows, scaled to [0, 1]), not the bench's random arrays.

Three sides run the same spec at the same seed, each in a fresh process of its own:
`deeptrain train --diagnostics-every 0` (the command), `model.fit` of the same model written
with `deeptrain.keras` (this script, started again with `--side py`), and that `fit` with a
Python callback that has a (no-op) `on_train_batch_end`, which makes every step call into
Python (`--side py_cb`). Each side's figure is an epoch's wall time as the library's loop
measures it (`Model::fit`'s own clock, the same code on every side: training only, no
validation), to the nanosecond: the command's from its checkpoint's `training_state.json` (its
`history.csv` rounds to milliseconds), Python's from `History.seconds`. The figure is the best
epoch's samples per second over `--rounds` rounds, the sides taking turns to go first (the
machine may be shared), and the median over rounds of each round's ratio to the command (the
sides of a round run close together, so a slow drift of the machine cancels). Each round
prints every side's losses per epoch, which must be identical; the last lines give each
model's rates and the ratios to the command line.

    OPENBLAS_NUM_THREADS=1 python python/bench/fit_speed.py --bin target/release/deeptrain [--epochs 2] [--rounds 3] [--threads N] [--models a,...,i] [--rows 8000] [--sides cli,py,py_cb]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

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
name = "{optimizer}"
learning_rate = 0.01
[fit]
epochs = {epochs}
batch_size = {batch}
"""

DENSE = """
[[layers]]
type = "dense"
units = {units}
activation = "{activation}"
kernel_initializer = "{initializer}"
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

BATCH_NORM = """
[[layers]]
type = "batch_normalization"
"""

LSTM = """
[[layers]]
type = "lstm"
units = 128
"""


def dense(units, activation="relu", initializer="he_normal"):
    """A Dense layer in both words: (the spec's table, a function making it in Keras' words)."""
    spec = DENSE.format(units=units, activation=activation, initializer=initializer)
    return spec, lambda: [keras.layers.Dense(units, activation=activation, kernel_initializer=initializer)]


def conv_pool(filters):
    """A 3×3 ReLU convolution and a 2×2 max pooling, in both words."""
    spec = CONV.format(filters=filters)
    return spec, lambda: [
        keras.layers.Conv2D(filters, 3, activation="relu", kernel_initializer="he_normal"),
        keras.layers.MaxPooling2D(2),
    ]


flatten = (FLATTEN, lambda: [keras.layers.Flatten()])
batch_norm = (BATCH_NORM, lambda: [keras.layers.BatchNormalization()])
lstm = (LSTM, lambda: [keras.layers.LSTM(128)])


def layers(*parts):
    """Parts in sequence: (the spec's tables, a function making all their Keras layers)."""
    return "".join(spec for spec, _ in parts), lambda: [layer for _, make in parts for layer in make()]


CNN = layers(conv_pool(32), conv_pool(64), flatten, dense(128))
LSTM_128 = layers(lstm)

# name -> (spec layers before the softmax, the same layers in Keras' words, batch size,
# optimizer), as `deeptrain bench` defines them (src/cli/bench.rs): every model ends in a
# 10-unit softmax, and trains at learning rate 0.01.
MODELS = {
    "a": layers(flatten, dense(300), dense(100)) + (32, "sgd"),
    "b": layers(flatten, dense(300), dense(100)) + (256, "sgd"),
    "c": layers(flatten, dense(1024), dense(1024), dense(1024)) + (256, "sgd"),
    "d": layers(flatten, *[dense(100, "selu", "lecun_normal")] * 100) + (32, "sgd"),
    "e": layers(flatten, *[d for _ in range(20) for d in (dense(100, "elu"), batch_norm)]) + (32, "nadam"),
    "f": CNN + (32, "sgd"),
    "g": CNN + (256, "sgd"),
    "h": LSTM_128 + (32, "sgd"),
    "i": LSTM_128 + (128, "sgd"),
}

OPTIMIZERS = {
    "sgd": lambda: keras.optimizers.SGD(learning_rate=0.01),
    "nadam": lambda: keras.optimizers.Nadam(learning_rate=0.01),
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


def python_rates(spec, name, epochs, rows, callbacks):
    _, layers, batch, optimizer = MODELS[name]
    (x, y), _, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=x.shape[1:])] + layers() + [keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=OPTIMIZERS[optimizer](), metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=callbacks)
    return [rows / s for s in history.seconds], history.history["loss"]


def side_rates(side, name, spec, args):
    """One side's epoch rates and losses, trained in a process of its own."""
    if side == "cli":
        return cli_rates(args.bin, spec, args.threads, args.rows)
    command = [sys.executable, os.path.abspath(__file__), "--side", side, "--models", name, "--spec", spec]
    command += ["--threads", str(args.threads), "--epochs", str(args.epochs), "--rows", str(args.rows)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {side} side of ({name}) failed:\n{done.stderr}")
    found = json.loads(done.stdout)
    return found["rates"], found["losses"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/deeptrain")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="engine threads on both sides (0: every core)")
    parser.add_argument("--models", default=",".join(MODELS), help="bench models, comma-separated (default: all, a to i)")
    parser.add_argument("--rows", type=int, default=8000, help="training rows (the first ones of Fashion-MNIST, at most 60000)")
    parser.add_argument("--sides", default=",".join(SIDES), help="the sides to run, the command (cli) among them (default: cli,py,py_cb)")
    parser.add_argument("--side", choices=SIDES[1:], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.rows <= 60000:
        parser.error(f"--rows: {args.rows} is not between 1 and 60000 (Fashion-MNIST's training rows)")
    deeptrain.set_num_threads(args.threads)
    names = args.models.split(",")
    used = args.sides.split(",")
    if used[:1] != ["cli"] or not set(used) <= set(SIDES) or len(set(used)) != len(used) or len(used) < 2:
        parser.error(f"--sides: {args.sides!r} must start with cli and name others of {', '.join(SIDES[1:])}, once each")
    for name in names:
        if name not in MODELS:
            parser.error(f"--models: {name!r} is not one of {', '.join(MODELS)}")
    if args.side:
        # One Python side, in the process side_rates started.
        callbacks = [EveryStep()] if args.side == "py_cb" else None
        rates, losses = python_rates(args.spec, names[0], args.epochs, args.rows, callbacks)
        print(json.dumps({"rates": rates, "losses": losses}))
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        best = {name: dict.fromkeys(used, 0.0) for name in names}
        # Each round's best epoch per side over the command's in the same round: the sides of
        # a round run minutes apart at most, so a drift of the machine's speed over a longer
        # time cancels in the ratio, and the median over rounds ignores a burst on one side.
        round_ratios = {name: {side: [] for side in used[1:]} for name in names}
        for round_ in range(args.rounds):
            for name in names:
                layers, _, batch, optimizer = MODELS[name]
                spec = os.path.join(tmp, f"{name}.toml")
                with open(spec, "w") as f:
                    f.write(HEAD.format(rows=args.rows) + layers + TAIL.format(optimizer=optimizer, epochs=args.epochs, batch=batch))
                # Rotate which side goes first, so that none always meets the same load.
                sides = used[round_ % len(used):] + used[: round_ % len(used)]
                losses = {}
                this_round = {}
                for side in sides:
                    rates, losses[side] = side_rates(side, name, spec, args)
                    this_round[side] = max(rates)
                    best[name][side] = max(best[name][side], *rates)
                for side in used[1:]:
                    round_ratios[name][side].append(this_round[side] / this_round["cli"])
                print(f"round {round_ + 1} ({name}): best so far " + ", ".join(f"{side} {best[name][side]:,.0f}" for side in used), flush=True)
                print("    losses per epoch: " + "; ".join(f"{side} " + ", ".join(map(repr, losses[side])) for side in used), flush=True)
                assert all(losses[side] == losses["cli"] for side in used), (name, losses)
        print(f"load average after: {os.getloadavg()}; threads {deeptrain.num_threads()}; {args.rows} rows, {args.epochs} epochs, {args.rounds} rounds; {time.monotonic() - started:.0f} s")
        for name in names:
            cli = best[name]["cli"]
            words = {"py": "Python fit", "py_cb": "with a per-step Python callback"}
            parts = [f"{words[side]} {best[name][side]:,.0f} ({best[name][side] / cli:.3f}x, "
                     f"median of the rounds' ratios {statistics.median(round_ratios[name][side]):.3f}x)" for side in used[1:]]
            print(f"model ({name}): command line {cli:,.0f} samples/s; " + "; ".join(parts) + "; same losses")


if __name__ == "__main__":
    main()
