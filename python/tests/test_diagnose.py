"""deeptrain.diagnose from Python: the command's verdicts, for a spec file and for a Keras
model on arrays, the same as `deeptrain diagnose --json`."""

import json
import subprocess

import pytest

import deeptrain
from deeptrain import keras

SIGMOID_SPEC = """
seed = 3
[data]
dataset = "digits"
scale = "unit"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 32
activation = "sigmoid"
repeat = 6
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[optimizer]
name = "sgd"
learning_rate = 0.05
[fit]
batch_size = 32
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "sigmoid.toml"
    path.write_text(SIGMOID_SPEC)
    return path


def sigmoid_model():
    keras.backend.clear_session()  # layer names from dense again, as the spec's
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input(shape=(8, 8)), keras.layers.Flatten()]
        + [keras.layers.Dense(32, activation="sigmoid") for _ in range(6)]
        + [keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.05), metrics=["accuracy"])
    return model


def test_a_deep_sigmoid_stack_is_not_healthy(spec):
    diagnosis = deeptrain.diagnose(spec, steps=60)
    assert diagnosis.steps == 60
    assert not diagnosis.healthy
    assert diagnosis.verdicts and all(v.evidence and v.fix for v in diagnosis.verdicts)
    assert [d["layer"] for d in diagnosis.instruments["distance_from_init"]] == ["dense"] + [f"dense_{i}" for i in range(1, 7)]


def test_the_spec_diagnosis_is_the_commands(spec, cli):
    out = subprocess.run([cli, "diagnose", str(spec), "--steps", "60", "--json"], check=True, capture_output=True, text=True)
    assert deeptrain.diagnose(spec, steps=60).json == json.loads(out.stdout)


def test_a_keras_model_on_arrays_is_diagnosed_as_its_spec(spec):
    (x, y), _, _ = deeptrain.prepare(spec)
    model = sigmoid_model()
    before = model.get_weights()
    diagnosis = deeptrain.diagnose(model, x, y, steps=60)
    assert diagnosis.json == deeptrain.diagnose(spec, steps=60).json
    assert all((a == b).all() for a, b in zip(before, model.get_weights()))  # left as it was
    model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(NotImplementedError, match="diagnose before fit"):
        deeptrain.diagnose(model, x, y)


def test_lr_find_suggests_a_rate_and_leaves_the_model(spec):
    (x, y), _, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=(8, 8)), keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01))
    before = model.get_weights()
    found = deeptrain.lr_find(model, x, y, min_lr=1e-4, max_lr=10.0, steps=200)
    assert found.rates[0] == pytest.approx(1e-4) and all(a < b for a, b in zip(found.rates, found.rates[1:]))
    assert found.suggested_lr == pytest.approx(found.turning_lr / 10)
    assert found.best_lr <= found.turning_lr
    # Too small a rate barely moves the loss; too large one makes it climb: the suggestion
    # lies between.
    assert 1e-4 < found.suggested_lr < 10.0
    assert all((a == b).all() for a, b in zip(before, model.get_weights()))
    assert model.optimizer.learning_rate == pytest.approx(0.01) and model.optimizer.iterations == 0
