"""Wall time of the same training under deeptrain.keras, Keras 3 on TensorFlow (CPU) and
PyTorch, in one run, on the same data with the same threads: the textbook MLP (bench model (a),
784-300-100-10 ReLU) and the CNN (f) (conv32-pool-conv64-pool-128-10), SGD with learning rate
0.01, batch 32, sparse categorical cross-entropy with accuracy, on the first `--rows`
Fashion-MNIST training rows scaled to [0, 1].

Each framework runs in its own interpreter (they need not share a virtual environment), model by
model, the three taking turns to go first over `--rounds` rounds. A side's figure is its best
epoch's samples per second (an epoch's wall time, measured by the same `perf_counter` in
`on_epoch_begin`/`on_epoch_end` for both Keras; around the epoch's loop for PyTorch, whose loop
also counts the accuracy), so that TensorFlow's first-epoch tracing does not count. The initial
weights differ (each framework draws its own), so only the times compare.

Measured with tensorflow-cpu 2.21.0 and keras 3.15.1 (`pip install tensorflow-cpu==2.21.0
keras==3.15.1`) and torch 2.15 (CPU):

    OPENBLAS_NUM_THREADS=1 target/python/bin/python python/bench/keras_speed.py \\
        --tf-python TF_VENV/bin/python --torch-python TORCH_VENV/bin/python [--threads 2] [--epochs 2] [--rounds 3] [--rows 20000] [--models a,f]

A side whose interpreter is not given is left out.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
NAMES = {"a": "(a) MLP 784-300-100-10, batch 32", "f": "(f) CNN conv32-pool-conv64-pool-128-10, batch 32"}


def keras_layers(keras, model):
    dense = lambda units: keras.layers.Dense(units, activation="relu", kernel_initializer="he_normal")  # noqa: E731
    if model == "a":
        hidden = [keras.layers.Flatten(), dense(300), dense(100)]
    else:
        conv = lambda filters: keras.layers.Conv2D(filters, 3, activation="relu", kernel_initializer="he_normal")  # noqa: E731
        hidden = [conv(32), keras.layers.MaxPooling2D(2), conv(64), keras.layers.MaxPooling2D(2), keras.layers.Flatten(), dense(128)]
    return hidden + [keras.layers.Dense(10, activation="softmax")]


def run_keras(keras, x, y, model, epochs):
    keras.utils.set_random_seed(1)
    net = keras.Sequential([keras.Input(shape=x.shape[1:])] + keras_layers(keras, model))
    net.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01), metrics=["accuracy"])
    seconds = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    history = net.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[Clock()])
    return seconds, history.history["loss"]


def run_torch(x, y, model, epochs, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    if model == "a":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
        xt = torch.from_numpy(x.reshape(len(x), -1))
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10),
        )
        xt = torch.from_numpy(x.reshape(len(x), 28, 28, 1).transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y.reshape(-1).astype("int64"))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()  # on logits: softmax and cross-entropy fused, as usual in PyTorch
    seconds, losses = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(xt))
        total, correct = 0.0, 0
        for i in range(0, len(xt), 32):
            index = order[i : i + 32]
            xb, yb = xt[index], yt[index]
            optimizer.zero_grad()
            logits = net(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            correct += (logits.argmax(1) == yb).sum().item()
        seconds.append(time.perf_counter() - start)
        losses.append(total / len(xt))
    return seconds, losses


def worker(args):
    import numpy as np

    data = np.load(args.data)
    x, y = data["x"], data["y"]
    if args.worker == "deeptrain":
        import deeptrain
        from deeptrain import keras

        deeptrain.set_num_threads(args.threads)
        seconds, losses = run_keras(keras, x, y, args.model, args.epochs)
        version = "deeptrain (this checkout)"
    elif args.worker == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras

        seconds, losses = run_keras(keras, x, y, args.model, args.epochs)
        version = f"tensorflow {tf.__version__}, keras {keras.__version__}"
    else:
        import torch

        seconds, losses = run_torch(x, y, args.model, args.epochs, args.threads)
        version = f"torch {torch.__version__}"
    print(json.dumps({"seconds": seconds, "losses": losses, "version": version}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tf-python", help="a Python with tensorflow-cpu and keras 3")
    parser.add_argument("--torch-python", help="a Python with torch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--models", default="a,f")
    parser.add_argument("--worker", choices=["deeptrain", "tensorflow", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    import numpy as np

    import deeptrain

    models = args.models.split(",")
    for m in models:
        if m not in NAMES:
            parser.error(f"--models: {m!r} is not one of {', '.join(NAMES)}")
    sides = {"deeptrain": sys.executable, "tensorflow": args.tf_python, "torch": args.torch_python}
    sides = {k: v for k, v in sides.items() if v}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS=str(args.threads), TF_CPP_MIN_LOG_LEVEL="2")
    # PyTorch's OpenMP threads, waiting actively, stall on a loaded machine (on the shared 2-core
    # one at load 13: 137-488 samples/s on (a) against 5,500-7,200 waiting passively).
    torch_env = dict(env, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    best = {(m, s): 0.0 for m in models for s in sides}
    versions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in models:
            spec = os.path.join(tmp, "data.toml")
            with open(spec, "w") as f:
                # The data as `deeptrain train` reads it (the model is only there to parse).
                f.write(f'seed = 1\n[data]\ndataset = "fashion_mnist"\nscale = "unit"\nmax_train_samples = {args.rows}\n'
                        '[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nunits = 10\nactivation = "softmax"\n'
                        '[compile]\nloss = "sparse_categorical_crossentropy"\n')
            (x, y), _, _ = deeptrain.prepare(spec)
            data = os.path.join(tmp, f"{m}.npz")
            np.savez(data, x=x.reshape(len(x), 28, 28, 1) if m == "f" else x, y=y.reshape(-1))
        for round_ in range(args.rounds):
            for m in models:
                names = list(sides)
                names = names[round_ % len(names):] + names[: round_ % len(names)]
                for side in names:
                    command = [sides[side], HERE, "--worker", side, "--data", os.path.join(tmp, f"{m}.npz"), "--model", m,
                               "--epochs", str(args.epochs), "--threads", str(args.threads)]
                    out = subprocess.run(command, check=True, capture_output=True, text=True, env=torch_env if side == "torch" else env).stdout
                    result = json.loads(out.strip().splitlines()[-1])
                    versions[side] = result["version"]
                    best[m, side] = max(best[m, side], max(args.rows / s for s in result["seconds"]))
    print(f"load average after: {os.getloadavg()}; {args.threads} threads; {args.rows} rows, {args.epochs} epochs, {args.rounds} rounds; " + "; ".join(versions.values()))
    for m in models:
        dt = best[m, "deeptrain"]
        cells = [f"{s} {best[m, s]:,.0f} samples/s" + ("" if s == "deeptrain" else f" (deeptrain {dt / best[m, s]:.2f}x)") for s in sides]
        print(f"{NAMES[m]}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
