"""Training speed from Python against the command line, on the bench's model (a): a
784-300-100-10 ReLU MLP, SGD, batch 32, on Fashion-MNIST (60,000 rows, scaled to [0, 1]).

Both sides run the same spec at the same seed: `deeptrain train --diagnostics-every 0` (the CLI, in its own
process) and `model.fit` of the same model written with `deeptrain.keras`. Each reports every
epoch's wall time (history's `seconds`, training only: no validation); the figure is the best
epoch's samples per second, over `--rounds` alternating rounds (the machine is shared).

    python python/bench/fit_speed.py --bin target/release/deeptrain [--epochs 2] [--rounds 3] [--threads N]
"""

import argparse
import csv
import os
import subprocess
import tempfile

import deeptrain
from deeptrain import keras

SPEC = """
seed = 1
[data]
dataset = "fashion_mnist"
scale = "unit"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 300
activation = "relu"
[[layers]]
type = "dense"
units = 100
activation = "relu"
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


def cli_rates(binary, spec, epochs, threads):
    with tempfile.TemporaryDirectory() as out:
        # Without per-layer diagnostics, which fit does not record (and which, observing the
        # gradients, take plain SGD off its fused update: the last bits then differ).
        command = [binary, "--threads", str(threads), "train", spec, "--out", out, "--diagnostics-every", "0"]
        subprocess.run(command, check=True, capture_output=True)
        with open(os.path.join(out, "history.csv")) as f:
            rows = list(csv.DictReader(f))
    return [60000 / float(r["seconds"]) for r in rows], [float(r["loss"]) for r in rows]


def python_rates(spec, epochs):
    (x, y), _, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input(shape=x.shape[1:]),
        keras.layers.Flatten(),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01), metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    seconds = history.seconds
    return seconds, history.history["loss"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/deeptrain")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="engine threads on both sides (0: every core)")
    args = parser.parse_args()
    deeptrain.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        spec = os.path.join(tmp, "mlp.toml")
        with open(spec, "w") as f:
            f.write(SPEC.format(epochs=args.epochs))
        best_cli, best_py = 0.0, 0.0
        for _ in range(args.rounds):
            rates, cli_loss = cli_rates(args.bin, spec, args.epochs, args.threads)
            best_cli = max(best_cli, *rates)
            seconds, py_loss = python_rates(spec, args.epochs)
            best_py = max(best_py, *(60000 / s for s in seconds))
            assert py_loss == cli_loss, (py_loss, cli_loss)
        print(f"load average after: {os.getloadavg()}; threads {deeptrain.num_threads()}")
        print(f"command line: {best_cli:,.0f} samples/s; Python fit: {best_py:,.0f} samples/s; ratio {best_py / best_cli:.3f}")
        print(f"(same losses on both sides: {cli_loss})")


if __name__ == "__main__":
    main()
