"""Layers written in Python (numpy call and backward) and Keras' MC dropout subclass idiom."""

import numpy as np
import pytest

import deeptrain
from deeptrain import keras


class NumpyDense(keras.layers.Layer):
    """y = x·W + b in numpy, with its gradients: the built-in Dense written by hand."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return inputs @ self.kernel + self.bias

    def backward(self, inputs, outputs, grad_outputs):
        return grad_outputs @ self.kernel.T, [inputs.T @ grad_outputs, grad_outputs.sum(axis=0)]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = deeptrain._core.digits()
    return (x / 16.0).reshape(len(x), -1)[:256], y.reshape(-1)[:256]


def pair(first):
    """Two models alike but for the middle layer: built-in Dense, or NumpyDense, same weights."""
    keras.utils.set_random_seed(3)
    builtin = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(16), keras.layers.Activation("tanh"), keras.layers.Dense(10, activation="softmax")])
    keras.utils.set_random_seed(3)
    python = keras.Sequential([keras.Input(shape=(64,)), first, keras.layers.Activation("tanh"), keras.layers.Dense(10, activation="softmax")])
    python.set_weights(builtin.get_weights())
    for m in (builtin, python):
        m.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.1), metrics=["accuracy"])
    return builtin, python


def test_a_numpy_layer_trains_as_the_builtin_one(digits):
    x, y = digits
    builtin, python = pair(NumpyDense(16))
    np.testing.assert_allclose(python.predict(x), builtin.predict(x), rtol=1e-5, atol=1e-6)
    hb = builtin.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    hp = python.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    np.testing.assert_allclose(hp["loss"], hb["loss"], rtol=1e-5)
    for a, b in zip(python.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert hp["loss"][1] < hp["loss"][0]
    assert [v.name for v in python.layers[0].variables] == ["kernel", "bias"]
    assert "NumpyDense" in python._core.summary()


def test_a_numpy_layer_saves_and_loads_by_name(digits, tmp_path):
    x, _ = digits
    _, python = pair(NumpyDense(16))
    python.save(tmp_path / "m")
    assert 'type = "numpy_dense"' in (tmp_path / "m" / "model.toml").read_text()
    loaded = keras.models.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(x), python.predict(x))


def test_a_python_layer_needs_a_backward():
    class Forward(keras.layers.Layer):
        def call(self, inputs):
            return inputs

    with pytest.raises(NotImplementedError, match="backward"):
        Forward()


def test_an_exception_in_call_stops_fit_and_is_raised(digits):
    x, y = digits

    class Broken(NumpyDense):
        armed = False

        def call(self, inputs):
            if Broken.armed:
                raise ArithmeticError("broken on purpose")
            return super().call(inputs)

    _, python = pair(Broken(16))
    Broken.armed = True
    with pytest.raises(ArithmeticError, match="broken on purpose"):
        python.fit(x, y, epochs=1, batch_size=32, verbose=0)


def test_mc_dropout_subclass_keeps_dropout_on_at_predict(digits):
    """The chapter's MCDropout: a Dropout whose call passes training=True."""
    x, y = digits

    class MCDropout(keras.layers.Dropout):
        def call(self, inputs, training=None):
            return super().call(inputs, training=True)

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dropout(0.3), keras.layers.Dense(10, activation="softmax")])
    mc = keras.Sequential([MCDropout(layer.rate) if isinstance(layer, keras.layers.Dropout) else layer for layer in model.layers])
    mc.set_weights(model.get_weights())
    assert model.layers[1].rate == 0.3
    np.testing.assert_array_equal(model.predict(x[:8]), model.predict(x[:8]))
    a, b = mc.predict(x[:8]), mc.predict(x[:8])
    assert not np.array_equal(a, b), "MC dropout draws new masks at predict"
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-5)
    # Averaged over many passes, the MC prediction is near the deterministic one.
    mean = np.mean([mc.predict(x[:8]) for _ in range(200)], axis=0)
    assert np.abs(mean - model.predict(x[:8])).max() < 0.1


def test_a_builtin_subclass_whose_call_does_more_is_refused():
    class Doubling(keras.layers.Dense):
        def call(self, inputs):
            return 2 * super().call(inputs)

    with pytest.raises(NotImplementedError, match="call"):
        Doubling(4)

    class AlwaysNormalizing(keras.layers.BatchNormalization):
        def call(self, inputs, training=None):
            return super().call(inputs, training=True)

    with pytest.raises(NotImplementedError, match="training mode at inference"):
        AlwaysNormalizing()
