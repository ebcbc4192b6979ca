"""A model written in Keras' words trains exactly as the TOML spec of the same model does with
`deeptrain train`, at the same seed: same weights, same shuffling, same dropout masks, so the
same history to the last bit."""

import csv
import subprocess

import numpy as np

import deeptrain
from deeptrain import keras


def keras_model():
    # The spec's model, in Keras' words.
    model = keras.Sequential([
        keras.Input(shape=(8, 8)),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu", kernel_initializer="he_normal"),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
        metrics=["accuracy"],
    )
    return model


def fit_keras(spec):
    (x_train, y_train), valid, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(7)
    model = keras_model()
    history = model.fit(x_train, y_train, epochs=3, batch_size=32, validation_data=valid, verbose=0)
    return history, model


def test_keras_history_equals_the_spec_run(digits_spec):
    history, model = fit_keras(digits_spec)
    spec_history, spec_model = deeptrain.train(digits_spec)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert history.history == spec_history.history
    assert history.epoch == [0, 1, 2]
    for a, b in zip(model.get_weights(), spec_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # It learned: the digits are easy.
    assert history.history["val_accuracy"][-1] > 0.9


def test_keras_history_equals_the_command_line(digits_spec, cli, tmp_path):
    history, _ = fit_keras(digits_spec)
    out = tmp_path / "run"
    subprocess.run([cli, "train", str(digits_spec), "--out", str(out)], check=True, capture_output=True)
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for name, values in history.history.items():
        # history.csv prints each f64 in its shortest round-trip form: exact.
        assert [float(r[name]) for r in rows] == values, name


def test_the_model_prints_as_the_spec_it_is(digits_spec):
    keras.utils.set_random_seed(7)
    model = keras_model()
    text = model.to_toml()
    assert "seed = 7" in text
    assert 'kernel_initializer = "he_normal"' in text
    assert "nesterov = true" in text


def test_class_and_sample_weights_train_as_the_spec(tmp_path, digits_spec):
    text = digits_spec.read_text().replace("batch_size = 32", 'batch_size = 32\nclass_weight = { "3" = 2.5, "8" = 0.5 }')
    spec = tmp_path / "weighted.toml"
    spec.write_text(text)
    spec_history, _ = deeptrain.train(spec)
    (x_train, y_train), valid, _ = deeptrain.prepare(spec)
    keras.utils.set_random_seed(7)
    model = keras_model()
    history = model.fit(x_train, y_train, epochs=3, batch_size=32, validation_data=valid, class_weight={3: 2.5, 8: 0.5}, verbose=0)
    assert history.history == spec_history.history
    # The same weights given per sample (Keras folds class_weight into sample_weight alike).
    keras.utils.set_random_seed(7)
    model = keras_model()
    weights = np.where(y_train.reshape(-1) == 3, 2.5, np.where(y_train.reshape(-1) == 8, 0.5, 1.0))
    history = model.fit(x_train, y_train, epochs=3, batch_size=32, validation_data=valid, sample_weight=weights, verbose=0)
    assert history.history == spec_history.history
