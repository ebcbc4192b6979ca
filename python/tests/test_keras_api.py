"""Keras 3's names over deeptrain: building, weights, saving, and clear errors for what
deeptrain does not do."""

import warnings

import numpy as np
import pytest

import deeptrain
from deeptrain import keras


@pytest.fixture(scope="module")
def digits():
    (x, y), test = deeptrain._core.digits()
    return x / 16.0, y.reshape(-1), test[0] / 16.0, test[1].reshape(-1)


def mlp(seed=1, dropout=0.0):
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Flatten(), keras.layers.Dense(24, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    model = keras.Sequential([keras.Input(shape=(8, 8))] + layers)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    return model


def test_fit_evaluate_predict(digits):
    x, y, xt, yt = digits
    model = mlp()
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(xt, yt, verbose=0)
    assert model.evaluate(xt, yt, verbose=0, return_dict=True) == {"loss": loss, "accuracy": accuracy}
    proba = model.predict(xt)
    assert proba.shape == (len(xt), 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert accuracy == pytest.approx(np.mean(proba.argmax(axis=1) == yt))
    assert model.count_params() == 64 * 24 + 24 + 24 * 10 + 10
    assert model.count_params() == sum(w.size for w in model.get_weights())


def test_the_same_seed_gives_the_same_model_and_history(digits):
    x, y, _, _ = digits
    a, b = mlp(seed=5), mlp(seed=5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    ha = a.fit(x, y, epochs=1, verbose=0).history
    hb = b.fit(x, y, epochs=1, verbose=0).history
    assert ha == hb
    assert not np.array_equal(mlp(seed=6).get_weights()[0], mlp(seed=5).get_weights()[0])


def test_weights_round_trip_and_frozen_layers(digits):
    x, y, _, _ = digits
    model = mlp()
    before = model.get_weights()
    model.layers[1].trainable = False
    frozen = model.layers[1].get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(frozen, model.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.layers[2].get_weights()[0], before[2])
    model.set_weights(before)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        model.layers[2].set_weights([np.zeros((3, 3)), np.zeros(10)])


def test_save_and_load_model(digits, tmp_path):
    x, y, xt, yt = digits
    model = mlp()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "mlp")
    loaded = keras.models.load_model(tmp_path / "mlp")
    np.testing.assert_array_equal(model.predict(xt), loaded.predict(xt))
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert loaded.evaluate(xt, yt, verbose=0) == model.evaluate(xt, yt, verbose=0)
    assert loaded.optimizer.learning_rate == pytest.approx(0.01)
    loaded.fit(x, y, epochs=1, verbose=0)  # a loaded model keeps training
    clone = keras.models.clone_model(model)
    assert clone.count_params() == model.count_params()
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])


def test_transfer_learning_reuses_layers(digits):
    x, y, _, _ = digits
    model_a = mlp()
    model_a.fit(x, y, epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="copies the weights"):
        model_b = keras.Sequential([keras.Input(shape=(8, 8))] + model_a.layers[:-1] + [keras.layers.Dense(1, activation="sigmoid")])
    np.testing.assert_array_equal(model_b.layers[1].get_weights()[0], model_a.layers[1].get_weights()[0])
    for layer in model_b.layers[:-1]:
        layer.trainable = False
    model_b.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
    model_b.fit(x, (y == 3).astype(np.float32), epochs=1, verbose=0)
    np.testing.assert_array_equal(model_b.layers[1].get_weights()[0], model_a.layers[1].get_weights()[0])


def test_mc_dropout(digits):
    _, _, xt, _ = digits
    model = mlp(dropout=0.5)
    a, b = model(xt[:50], training=True), model(xt[:50], training=True)
    assert a.shape == (50, 10) and not np.array_equal(a, b)
    np.testing.assert_array_equal(model(xt[:50]), model.predict(xt[:50]))


def test_functional_api_wide_and_deep(digits):
    x, y, _, _ = digits
    flat = x.reshape(len(x), -1)
    keras.utils.set_random_seed(3)
    wide = keras.Input(shape=(16,), name="wide")
    deep = keras.Input(shape=(48,), name="deep")
    hidden = keras.layers.Dense(30, activation="relu")(deep)
    hidden = keras.layers.Dense(30, activation="relu")(hidden)
    concat = keras.layers.Concatenate()([wide, hidden])
    output = keras.layers.Dense(10, activation="softmax")(concat)
    model = keras.Model(inputs=[wide, deep], outputs=[output])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])
    history = model.fit((flat[:, :16], flat[:, 16:]), y, epochs=3, verbose=0)
    assert history.history["accuracy"][-1] > 0.8
    assert model.predict([flat[:5, :16], flat[:5, 16:]]).shape == (5, 10)
    assert [l.name for l in model.layers][-1] == output.name


def test_optimizer_objects_and_schedules(digits):
    x, y, _, _ = digits
    keras.utils.set_random_seed(2)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model = keras.Sequential([keras.Input(shape=(8, 8)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=schedule, clipnorm=1.0))
    model.fit(x, y, epochs=1, batch_size=100, verbose=0)
    steps = -(-len(x) // 100)
    assert model.optimizer.iterations == steps
    # The rate of the last step, η₀ · r^(t/s) at t = steps - 1.
    assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.5 ** ((steps - 1) / 10), rel=1e-6)
    with pytest.raises(TypeError, match="schedule"):
        model.optimizer.learning_rate = 0.3
    for name in ["adam", "nadam", "rmsprop", "adamax", "adagrad", "adamw"]:
        model.compile(loss="sparse_categorical_crossentropy", optimizer=name)
        assert np.isfinite(model.fit(x[:64], y[:64], epochs=1, verbose=0).history["loss"][0])


def test_unknown_arguments_are_named():
    with pytest.raises(TypeError, match="unit") as error:
        keras.layers.Dense(10, unit=3)
    assert isinstance(error.value, ValueError)
    with pytest.raises(ValueError, match="rellu"):
        keras.layers.Dense(10, activation="rellu")
    with pytest.raises(ValueError, match="momentun"):
        mlp().compile(loss="mse", optimizer=keras.optimizers.SGD(momentun=0.9))
    with pytest.raises(ValueError, match="not_a_loss"):
        mlp().compile(loss="not_a_loss", optimizer="sgd")


def test_what_deeptrain_lacks_is_named(digits):
    x, y, _, _ = digits
    with pytest.raises(NotImplementedError, match="Bidirectional"):
        keras.layers.Bidirectional(keras.layers.LSTM(10))
    with pytest.raises(NotImplementedError, match="steps_per_epoch"):
        mlp().fit(x, y, steps_per_epoch=3, verbose=0)
    with pytest.raises(NotImplementedError, match="seed"):
        keras.initializers.HeNormal(seed=1)
    with pytest.raises(NotImplementedError, match="subclassing"):
        keras.Model()
    with pytest.raises(NotImplementedError, match="custom Python loss"):
        mlp().compile(loss=lambda a, b: a - b, optimizer="sgd")
    with pytest.raises(NotImplementedError, match="eager"):
        keras.layers.Dense(3)(np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match="compile"):
        keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)]).fit(np.zeros((4, 4)), np.zeros(4), verbose=0)


def test_tf2_spellings_warn_and_work(digits):
    x, y, _, _ = digits
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        sgd = keras.optimizers.SGD(lr=0.2)
    assert sgd.learning_rate == pytest.approx(0.2)
    with pytest.warns(DeprecationWarning, match="negative_slope"):
        leaky = keras.layers.LeakyReLU(alpha=0.2)
    with pytest.warns(DeprecationWarning, match="input_shape"):
        first = keras.layers.Flatten(input_shape=[8, 8])
    model = keras.Sequential([first, keras.layers.Dense(16, activation=leaky, kernel_initializer="he_normal"), keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=sgd)
    assert model.built and model.input_shape == (None, 8, 8)
    assert "leaky_relu" in model.to_toml()
    model.fit(x, y, epochs=1, verbose=0)


def test_fashion_mnist_load_data():
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    except (OSError, ValueError) as e:
        pytest.skip(f"Fashion-MNIST files absent: {e}")
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and set(np.unique(y_train)) == set(range(10))
    assert x_test.shape == (10000, 28, 28) and x_train.max() == 255


def test_every_layer_class_carries_its_keras_name():
    aliases = {"MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D"}
    classes = {n: v for n, v in vars(keras.layers).items() if isinstance(v, type) and issubclass(v, keras.layers.Layer) and v is not keras.layers.Layer}
    assert len(classes) >= 38
    for name, cls in classes.items():
        assert name in aliases or cls._class == name, name


@pytest.mark.parametrize("build", ["list", "add"])
def test_model_without_input_builds_on_first_fit(build, digits):
    # Keras builds a model given no Input from the data on its first fit (or predict).
    x, y, xt, _ = digits
    keras.utils.set_random_seed(3)
    layers = [keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    if build == "list":
        model = keras.Sequential(layers)
    else:
        model = keras.Sequential()
        for layer in layers:
            model.add(layer)
    model.compile("adam", "sparse_categorical_crossentropy")
    assert not model.built
    history = model.fit(x[:64], y[:64], epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 8, 8)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(xt[:5]).shape == (5, 10)
    unfit = keras.Sequential([keras.layers.Dense(4)])
    assert unfit.predict(np.zeros((2, 3), np.float32)).shape == (2, 4)


def test_sequence_outputs_build_before_compile():
    # Building asks for no loss: a model whose output is a sequence builds, compiles with a
    # loss that fits it, and a classification loss is refused at compile, naming it.
    keras.utils.set_random_seed(4)
    L = keras.layers
    conv = keras.Sequential([keras.Input((5, 2)), L.Conv1D(4, 3, padding="causal")])
    assert conv.output_shape == (None, 5, 4)
    recurrent = keras.Sequential([keras.Input((5, 2)), L.LSTM(4, return_sequences=True), L.Dense(1)])
    assert recurrent.output_shape == (None, 5, 1)
    inputs = keras.Input((5, 2))
    functional = keras.Model(inputs, L.Conv1D(4, 3, padding="same")(inputs))
    functional.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(8, 5, 2)).astype(np.float32)
    history = functional.fit(x, np.zeros((8, 5, 4), np.float32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy") as error:
        conv.compile("adam", "sparse_categorical_crossentropy")
    assert "digits" not in str(error.value)
    with pytest.raises(ValueError) as error:
        keras.Sequential([keras.Input((5, 2)), L.Conv2D(4, 3)])
    assert "digits" not in str(error.value) and "sparse_categorical" not in str(error.value)


def test_layer_names_as_keras():
    # Keras 3's to_snake_case keeps acronyms whole (keras/src/utils/naming.py).
    keras.backend.clear_session()
    L = keras.layers
    names = [
        L.LSTM(2).name, L.GRU(2).name, L.SimpleRNN(2).name, L.Conv1D(2, 3).name, L.Conv2D(2, 3).name,
        L.GlobalAveragePooling1D().name, L.MaxPooling1D().name, L.PReLU().name, L.ReLU().name,
        L.ELU().name, L.LeakyReLU().name, L.BatchNormalization().name, L.Dense(2).name, L.Dense(2).name,
    ]
    assert names == [
        "lstm", "gru", "simple_rnn", "conv1d", "conv2d", "global_average_pooling1d", "max_pooling1d",
        "p_re_lu", "re_lu", "elu", "leaky_re_lu", "batch_normalization", "dense", "dense_1",
    ]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_batch_size_must_be_positive(bad, digits):
    x, y, xt, yt = digits
    model = mlp()
    for call in (
        lambda: model.fit(x[:32], y[:32], batch_size=bad, verbose=0),
        lambda: model.evaluate(xt[:32], yt[:32], batch_size=bad, verbose=0),
        lambda: model.predict(xt[:32], batch_size=bad),
    ):
        with pytest.raises(ValueError, match="`batch_size`"):
            call()
    assert model.predict(xt[:40], batch_size=None).shape == (40, 10)


def test_one_tuples_for_1d_sizes():
    keras.utils.set_random_seed(5)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((12, 2)),
        L.Conv1D(4, (3,), strides=(1,), dilation_rate=(2,), padding="same"),
        L.MaxPooling1D((2,), strides=(2,)),
        L.AveragePooling1D(pool_size=(3,)),
    ])
    assert model.output_shape == (None, 2, 4)
    assert model.layers[0].get_config()["kernel_size"] == 3


def test_an_uncompiled_model_saves_and_loads_uncompiled(digits, tmp_path):
    """As Keras: no compile config saved; the loaded model must be compiled before fit."""
    _, _, xt, _ = digits
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input(shape=(8, 8)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "raw")
    text = (tmp_path / "raw" / "model.toml").read_text()
    assert "loss" not in text and "[optimizer]" not in text
    loaded = keras.models.load_model(tmp_path / "raw")
    np.testing.assert_array_equal(loaded.predict(xt), model.predict(xt))
    assert loaded.optimizer is None
    with pytest.raises(RuntimeError, match="compile"):
        loaded.evaluate(xt, np.zeros(len(xt)), verbose=0)
    loaded.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    loaded.evaluate(xt, np.zeros(len(xt)), verbose=0)


def test_the_chapter_transfer_idioms(digits, tmp_path):
    """Chapter 11's transfer learning, in its own words: load model A, Sequential of its
    layers but the last, add a new head to the built model, freeze, compile, fit."""
    x, y, _, _ = digits
    model_a = mlp()
    model_a.fit(x, y, epochs=1, verbose=0)
    model_a.save(tmp_path / "my_model_A.keras")
    model_a = keras.models.load_model(tmp_path / "my_model_A.keras")
    keras.utils.set_random_seed(42)
    clone = keras.models.clone_model(model_a)
    clone.set_weights(model_a.get_weights())
    with pytest.warns(UserWarning, match="copies the weights"):
        model_b = keras.Sequential(clone.layers[:-1])
    assert model_b.built
    model_b.add(keras.layers.Dense(1, activation="sigmoid"))
    assert [type(l).__name__ for l in model_b.layers][-1] == "Dense" and len(model_b.layers) == 3
    np.testing.assert_array_equal(model_b.layers[1].get_weights()[0], model_a.layers[1].get_weights()[0])
    for layer in model_b.layers[:-1]:
        layer.trainable = False
    model_b.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
    model_b.fit(x, (y == 3).astype(np.float32), epochs=1, verbose=0)
    np.testing.assert_array_equal(model_b.layers[1].get_weights()[0], model_a.layers[1].get_weights()[0])


def test_a_declared_input_shape_wins_over_the_data():
    model = keras.Sequential([keras.layers.Flatten(input_shape=[4, 4]), keras.layers.Dense(2)])
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(ValueError, match="shape"):
        model.fit(np.zeros((8, 3, 3)), np.zeros((8, 2)), verbose=0)


def test_layer_settings_and_variables_as_keras():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dropout(rate=0.25), keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    assert model.layers[0].rate == 0.25 and model.layers[2].units == 3
    bn = model.layers[1]
    names = [(v.name, v.trainable) for v in bn.variables]
    assert len(names) == 4 and [t for _, t in names] == [True, True, False, False]
    assert [v.shape for v in bn.variables] == [(6,)] * 4
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    with pytest.raises(AttributeError):
        model.layers[2].no_such_setting
