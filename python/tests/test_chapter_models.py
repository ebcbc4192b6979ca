"""The chapter's networks written in Keras' words train exactly as their TOML specs do with
`deeptrain train` (same seed: same weights, batches, masks; so the same history, bit for bit):
a 20-layer SELU stack, batch normalization with Nadam, L2 + max-norm + a piecewise schedule
with clipping, a small CNN with RMSprop."""

import numpy as np
import pytest

import deeptrain
from deeptrain import keras

DATA = """
seed = 11
[data]
dataset = "digits"
validation_split = 0.2
scale = "{scale}"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[fit]
epochs = 2
batch_size = 32
"""

L = keras.layers

CASES = {
    "selu_20_layers": (
        "standard",
        """
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 32
activation = "selu"
kernel_initializer = "lecun_normal"
repeat = 20
[[layers]]
type = "alpha_dropout"
rate = 0.1
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.01
""",
        lambda: [L.Flatten()] + [L.Dense(32, activation="selu", kernel_initializer="lecun_normal") for _ in range(20)]
        + [L.AlphaDropout(0.1), L.Dense(10, activation="softmax")],
        lambda: keras.optimizers.SGD(learning_rate=0.01),
    ),
    "batch_norm_nadam": (
        "unit",
        """
[[layers]]
type = "flatten"
[[layers]]
type = "batch_normalization"
[[layers]]
type = "dense"
units = 48
use_bias = false
kernel_initializer = "he_normal"
[[layers]]
type = "batch_normalization"
[[layers]]
type = "activation"
activation = "elu"
[[layers]]
type = "dropout"
rate = 0.2
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "nadam"
learning_rate = 0.002
""",
        lambda: [L.Flatten(), L.BatchNormalization(), L.Dense(48, use_bias=False, kernel_initializer="he_normal"),
                 L.BatchNormalization(), L.Activation("elu"), L.Dropout(rate=0.2), L.Dense(10, activation="softmax")],
        lambda: keras.optimizers.Nadam(learning_rate=0.002),
    ),
    "l2_max_norm_piecewise": (
        "unit",
        """
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 40
activation = "relu"
kernel_initializer = "he_normal"
kernel_regularizer = { l2 = 0.001 }
kernel_constraint = { max_norm = 1.0 }
[[layers]]
type = "dense"
units = 10
activation = "softmax"
kernel_regularizer = { l2 = 0.001 }
[optimizer]
name = "adam"
learning_rate = 0.01
clipnorm = 1.0
[schedule]
name = "piecewise_constant"
boundaries = [20.0, 50.0]
values = [0.01, 0.005, 0.001]
""",
        lambda: [L.Flatten(),
                 L.Dense(40, activation="relu", kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.l2(0.001),
                         kernel_constraint=keras.constraints.max_norm(1.0)),
                 L.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.l2(0.001))],
        lambda: keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.PiecewiseConstantDecay([20, 50], [0.01, 0.005, 0.001]), clipnorm=1.0),
    ),
    "cnn_rmsprop": (
        "unit",
        """
[[layers]]
type = "reshape"
target_shape = [8, 8, 1]
[[layers]]
type = "conv2d"
filters = 8
kernel_size = 3
padding = "same"
activation = "relu"
kernel_initializer = "he_normal"
[[layers]]
type = "max_pooling2d"
pool_size = 2
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "rmsprop"
learning_rate = 0.002
""",
        lambda: [L.Reshape((8, 8, 1)), L.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer="he_normal"),
                 L.MaxPooling2D(2), L.Flatten(), L.Dense(10, activation="softmax")],
        lambda: keras.optimizers.RMSprop(learning_rate=0.002),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_model_trains_as_its_spec(case, tmp_path):
    scale, layers_toml, keras_layers, optimizer = CASES[case]
    spec = tmp_path / f"{case}.toml"
    spec.write_text(DATA.format(scale=scale) + layers_toml)
    spec_history, _ = deeptrain.train(spec)
    (x, y), valid, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(11)
    model = keras.Sequential([keras.Input(shape=(8, 8))] + keras_layers())
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer(), metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=32, validation_data=valid, verbose=0)
    assert history.history == spec_history.history
    assert history.history["val_accuracy"][-1] > 0.3  # it learns (2 epochs)


GRAPH_SPEC = """
seed = 5
[data]
dataset = "digits"
validation_split = 0.2
scale = "unit"
inputs = [{ name = "wide", columns = [WIDE] }, { name = "deep", columns = [DEEP] }]
[[layers]]
name = "hidden1"
type = "dense"
units = 30
activation = "relu"
inputs = ["deep"]
[[layers]]
name = "hidden2"
type = "dense"
units = 30
activation = "relu"
inputs = ["hidden1"]
[[layers]]
name = "concat"
type = "concatenate"
inputs = ["wide", "hidden2"]
[[layers]]
name = "output"
type = "dense"
units = 10
activation = "softmax"
inputs = ["concat"]
[[layers]]
name = "aux_output"
type = "dense"
units = 10
activation = "softmax"
inputs = ["hidden2"]
[[outputs]]
layer = "output"
loss_weight = 0.9
[[outputs]]
layer = "aux_output"
loss_weight = 0.1
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[optimizer]
name = "adam"
learning_rate = 0.003
[fit]
epochs = 2
batch_size = 32
"""


def test_functional_wide_and_deep_with_an_auxiliary_output_trains_as_its_spec(tmp_path):
    spec = tmp_path / "wide_deep.toml"
    wide, deep = list(range(0, 16)), list(range(16, 64))
    spec.write_text(GRAPH_SPEC.replace("WIDE", ", ".join(map(str, wide))).replace("DEEP", ", ".join(map(str, deep))))
    spec_history, _ = deeptrain.train(spec)
    (x, y), (xv, yv), _ = deeptrain.prepare(spec)
    flat, flat_v = x.reshape(len(x), -1), xv.reshape(len(xv), -1)
    keras.utils.set_random_seed(5)
    input_wide = keras.Input(shape=[16], name="wide")
    input_deep = keras.Input(shape=[48], name="deep")
    hidden1 = L.Dense(30, activation="relu", name="hidden1")(input_deep)
    hidden2 = L.Dense(30, activation="relu", name="hidden2")(hidden1)
    concat = L.concatenate([input_wide, hidden2], name="concat")
    output = L.Dense(10, activation="softmax", name="output")(concat)
    aux_output = L.Dense(10, activation="softmax", name="aux_output")(hidden2)
    model = keras.Model(inputs=[input_wide, input_deep], outputs=[output, aux_output])
    model.compile(loss=("sparse_categorical_crossentropy", "sparse_categorical_crossentropy"), loss_weights=(0.9, 0.1),
                  optimizer=keras.optimizers.Adam(learning_rate=0.003), metrics=["accuracy"])
    history = model.fit((flat[:, :16], flat[:, 16:]), (y, y), epochs=2, batch_size=32,
                        validation_data=((flat_v[:, :16], flat_v[:, 16:]), (yv, yv)), verbose=0)
    assert history.history == spec_history.history
    with pytest.raises(NotImplementedError, match="same labels"):
        model.fit((flat[:, :16], flat[:, 16:]), (y, y[::-1]), epochs=1, verbose=0)


SEQUENCE_SPEC = """
seed = 9
[data]
dataset = "x.npy"
labels = "y.npy"
validation_split = 0.2
scale = "none"
[[layers]]
type = "conv1d"
filters = 8
kernel_size = 3
activation = "relu"
[[layers]]
type = "max_pooling1d"
pool_size = 2
[[layers]]
type = "{rnn}"
units = 8
[[layers]]
type = "dense"
units = 2
activation = "softmax"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[optimizer]
name = "adam"
learning_rate = 0.01
[fit]
epochs = 3
batch_size = 16
"""


@pytest.mark.parametrize("rnn", ["simple_rnn", "lstm", "gru"])
def test_sequence_models_train_as_their_spec(rnn, tmp_path):
    # Is the sequence's sum positive? 400 sequences of 12 steps, 3 features.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12, 3)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    spec = tmp_path / f"{rnn}.toml"
    spec.write_text(SEQUENCE_SPEC.format(rnn=rnn))
    spec_history, _ = deeptrain.train(spec)
    (xt, yt), valid, _ = deeptrain.prepare(spec)
    recurrent = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}[rnn]
    keras.utils.set_random_seed(9)
    model = keras.Sequential([keras.Input(shape=(12, 3)), L.Conv1D(8, 3, activation="relu"), L.MaxPooling1D(2), recurrent(8), L.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])
    history = model.fit(xt, yt, epochs=3, batch_size=16, validation_data=valid, verbose=0)
    assert history.history == spec_history.history
    assert history.history["val_accuracy"][-1] > 0.6
