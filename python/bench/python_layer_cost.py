"""What a layer written in Python costs: the same 784-H-10 model on Fashion-MNIST (the first
`--rows` training rows, scaled to [0, 1]; SGD, batch 32), its hidden layer the built-in
`Dense(H)` or a numpy `Dense(H)` (python/tests/test_python_layers.py's `NumpyDense`:
forward and backward in numpy, called from the engine's loop, which takes the GIL and copies
the batch, the weights and the results each step). Alternating rounds; the best epoch's
samples/s of each, their ratio, and the extra time per step.

    OPENBLAS_NUM_THREADS=1 python python/bench/python_layer_cost.py [--rows 10000] [--units 100] [--rounds 3] [--threads N]

Without `OPENBLAS_NUM_THREADS=1` (or `OMP_NUM_THREADS=1`) numpy's BLAS starts its own threads
for the layer's matrix products, which compete with the engine's for the cores: on a busy
machine that costs far more than the round trip itself. The line printed says which it was.
"""

import argparse
import os

import numpy as np

import deeptrain
from deeptrain import keras


class NumpyDense(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="he_normal", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return np.maximum(inputs @ self.kernel + self.bias, 0.0)

    def backward(self, inputs, outputs, grad_outputs):
        g = grad_outputs * (outputs > 0)
        return g @ self.kernel.T, [inputs.T @ g, g.sum(axis=0)]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def rate(hidden, x, y):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=(784,)), hidden, keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01))
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return max(len(x) / s for s in history.seconds)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    deeptrain.set_num_threads(args.threads)
    (x, y), _ = keras.datasets.fashion_mnist.load_data()
    x = (x[: args.rows].reshape(args.rows, -1) / 255.0).astype(np.float32)
    y = y[: args.rows]
    best = {"built-in": 0.0, "numpy": 0.0}
    for round_ in range(args.rounds):
        order = ["built-in", "numpy"] if round_ % 2 == 0 else ["numpy", "built-in"]
        for kind in order:
            layer = keras.layers.Dense(args.units, activation="relu", kernel_initializer="he_normal") if kind == "built-in" else NumpyDense(args.units)
            best[kind] = max(best[kind], rate(layer, x, y))
    step = lambda r: 32 / r * 1e6  # noqa: E731 - µs per step of 32
    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "unset"
    print(f"load average after: {os.getloadavg()}; threads {deeptrain.num_threads()}; BLAS threads {blas}; {args.rows} rows, hidden {args.units}")
    print(
        f"built-in Dense: {best['built-in']:,.0f} samples/s; numpy Dense: {best['numpy']:,.0f} samples/s; "
        f"ratio {best['numpy'] / best['built-in']:.3f}; {step(best['numpy']) - step(best['built-in']):,.0f} µs more per step"
    )


if __name__ == "__main__":
    main()
