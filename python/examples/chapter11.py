"""Training deep neural networks (the textbook's chapter 11), section by section, in Keras'
own words: the only change from the chapter's code is the import. Runs on Fashion-MNIST
(Debian's dataset-fashion-mnist, or $DEEPTRAIN_FASHION_MNIST), offline.

    python python/examples/chapter11.py            # a 10,000-image slice, 2 epochs per model
    EPOCHS=10 TRAIN=55000 python python/examples/chapter11.py
"""

import math
import os

import numpy as np

import deeptrain
from deeptrain import keras  # instead of: import tensorflow as tf; keras = tf.keras

EPOCHS = int(os.environ.get("EPOCHS", 2))
TRAIN = int(os.environ.get("TRAIN", 10_000))

# --- The data --------------------------------------------------------------------------------
(X_train_full, y_train_full), (X_test, y_test) = keras.datasets.fashion_mnist.load_data()
X_train_full = X_train_full / 255.0
X_test = X_test / 255.0
X_train, y_train = X_train_full[:-5000][:TRAIN], y_train_full[:-5000][:TRAIN]
X_valid, y_valid = X_train_full[-5000:], y_train_full[-5000:]


def report(name, history, model):
    loss, accuracy = model.evaluate(X_valid, y_valid, verbose=0)
    print(f"{name:<44} val_accuracy {accuracy:.4f}  (history: {history.history['val_accuracy'][-1]:.4f})")


def mlp(*hidden, **dense_args):
    return keras.Sequential(
        [keras.Input(shape=[28, 28]), keras.layers.Flatten()]
        + [keras.layers.Dense(n, **dense_args) for n in hidden]
        + [keras.layers.Dense(10, activation="softmax")]
    )


def fit(model, optimizer, name, **fit_args):
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=EPOCHS, validation_data=(X_valid, y_valid), verbose=0, **fit_args)
    report(name, history, model)
    return history


keras.utils.set_random_seed(42)

# --- Glorot and He initialization ------------------------------------------------------------
dense = keras.layers.Dense(50, activation="relu", kernel_initializer="he_normal")
he_avg_init = keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform")
dense = keras.layers.Dense(50, activation="sigmoid", kernel_initializer=he_avg_init)
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"), "sgd", "He initialization, ReLU")

# --- Better activation functions -------------------------------------------------------------
leaky_relu = keras.layers.LeakyReLU(negative_slope=0.2)
fit(mlp(100, 100, activation=leaky_relu, kernel_initializer="he_normal"), "sgd", "LeakyReLU(0.2)")
fit(mlp(100, 100, activation="elu", kernel_initializer="he_normal"), "sgd", "ELU")

# A deep SELU network self-normalizes when the inputs are standardized.
pixel_means = X_train.mean(axis=0, keepdims=True)
pixel_stds = X_train.std(axis=0, keepdims=True) + 1e-7
selu = mlp(*[100] * 20, activation="selu", kernel_initializer="lecun_normal")
selu.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
history = selu.fit((X_train - pixel_means) / pixel_stds, y_train, epochs=EPOCHS,
                   validation_data=((X_valid - pixel_means) / pixel_stds, y_valid), verbose=0)
print(f"{'SELU, 20 hidden layers (standardized)':<44} val_accuracy {history.history['val_accuracy'][-1]:.4f}")

# --- Batch normalization ---------------------------------------------------------------------
model = keras.Sequential([
    keras.Input(shape=[28, 28]),
    keras.layers.Flatten(),
    keras.layers.Dense(300, kernel_initializer="he_normal", use_bias=False),
    keras.layers.BatchNormalization(),
    keras.layers.Activation("relu"),
    keras.layers.Dense(100, kernel_initializer="he_normal", use_bias=False),
    keras.layers.BatchNormalization(),
    keras.layers.Activation("relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.summary()
print("BatchNormalization's weights:", [w.shape for w in model.layers[2].get_weights()])
fit(model, "sgd", "Batch normalization before the activation")

# --- Gradient clipping -----------------------------------------------------------------------
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"), keras.optimizers.SGD(clipvalue=1.0), "SGD(clipvalue=1.0)")
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"), keras.optimizers.SGD(clipnorm=1.0), "SGD(clipnorm=1.0)")

# --- Reusing pretrained layers ---------------------------------------------------------------
# Model A: the 8 classes other than pullover (2) and shirt (6); model B: is it a pullover?
pos_class_id, neg_class_id = 2, 6
mask_a = (y_train != pos_class_id) & (y_train != neg_class_id)
mask_b = ~mask_a
y_a = np.searchsorted(np.array([0, 1, 3, 4, 5, 7, 8, 9]), y_train[mask_a])
model_A = keras.Sequential([keras.Input(shape=[28, 28]), keras.layers.Flatten()]
                           + [keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal") for _ in range(3)]
                           + [keras.layers.Dense(8, activation="softmax")])
model_A.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
model_A.fit(X_train[mask_a], y_a, epochs=EPOCHS, verbose=0)
model_A_clone = keras.models.clone_model(model_A)
model_A_clone.set_weights(model_A.get_weights())
model_B_on_A = keras.Sequential([keras.Input(shape=[28, 28])] + model_A_clone.layers[:-1]
                                + [keras.layers.Dense(1, activation="sigmoid")])
for layer in model_B_on_A.layers[:-1]:
    layer.trainable = False
y_b = (y_train[mask_b] == pos_class_id).astype(np.float32)
model_B_on_A.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
model_B_on_A.fit(X_train[mask_b], y_b, epochs=EPOCHS, verbose=0)
for layer in model_B_on_A.layers[:-1]:
    layer.trainable = True
model_B_on_A.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
history = model_B_on_A.fit(X_train[mask_b], y_b, epochs=EPOCHS, verbose=0)
print(f"{'Transfer A -> B (frozen, then unfrozen)':<44} accuracy {history.history['accuracy'][-1]:.4f}")

# --- Faster optimizers -----------------------------------------------------------------------
for name, optimizer in [
    ("SGD(momentum=0.9)", keras.optimizers.SGD(learning_rate=0.001, momentum=0.9)),
    ("SGD(momentum=0.9, nesterov=True)", keras.optimizers.SGD(learning_rate=0.001, momentum=0.9, nesterov=True)),
    ("RMSprop(rho=0.9)", keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9)),
    ("Adam", keras.optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999)),
    ("Nadam", keras.optimizers.Nadam(learning_rate=0.001)),
    ("AdamW(weight_decay=1e-5)", keras.optimizers.AdamW(weight_decay=1e-5, learning_rate=0.001)),
]:
    fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"), optimizer, name)

# --- Learning-rate scheduling ----------------------------------------------------------------
batch_size = 32
n_steps = EPOCHS * math.ceil(len(X_train) / batch_size)
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"),
    keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.01, n_steps, 0.1)), "ExponentialDecay")
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"),
    keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.PiecewiseConstantDecay([n_steps // 2], [0.01, 0.005])),
    "PiecewiseConstantDecay")


def exponential_decay_fn(epoch, lr):
    return lr * 0.1 ** (1 / 20)


fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"), keras.optimizers.SGD(learning_rate=0.01),
    "LearningRateScheduler", callbacks=[keras.callbacks.LearningRateScheduler(exponential_decay_fn)])
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"), keras.optimizers.SGD(learning_rate=0.01),
    "ReduceLROnPlateau", callbacks=[keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1)])


class OneCycleScheduler(keras.callbacks.Callback):
    """The chapter's 1cycle callback: up linearly for half the run, down, then annealed."""

    def __init__(self, iterations, max_lr=1e-3, start_lr=None, last_iterations=None, last_lr=None):
        super().__init__()
        self.iterations, self.max_lr = iterations, max_lr
        self.start_lr = start_lr or max_lr / 10
        self.last_iterations = last_iterations or iterations // 10 + 1
        self.half_iteration = (iterations - self.last_iterations) // 2
        self.last_lr = last_lr or self.start_lr / 1000
        self.iteration = 0

    def _interpolate(self, iter1, iter2, lr1, lr2):
        return (lr2 - lr1) * (self.iteration - iter1) / (iter2 - iter1) + lr1

    def on_batch_begin(self, batch, logs=None):
        if self.iteration < self.half_iteration:
            lr = self._interpolate(0, self.half_iteration, self.start_lr, self.max_lr)
        elif self.iteration < 2 * self.half_iteration:
            lr = self._interpolate(self.half_iteration, 2 * self.half_iteration, self.max_lr, self.start_lr)
        else:
            lr = self._interpolate(2 * self.half_iteration, self.iterations, self.start_lr, self.last_lr)
        self.iteration += 1
        self.model.optimizer.learning_rate = lr


fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal"), keras.optimizers.SGD(),
    "1cycle (a Python callback, per batch)", callbacks=[OneCycleScheduler(n_steps, max_lr=0.1)])

# --- Avoiding overfitting through regularization ---------------------------------------------
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.l2(0.01)),
    "sgd", "l2(0.01)")
dropout = keras.Sequential([
    keras.Input(shape=[28, 28]),
    keras.layers.Flatten(),
    keras.layers.Dropout(rate=0.2),
    keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
    keras.layers.Dropout(rate=0.2),
    keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
    keras.layers.Dropout(rate=0.2),
    keras.layers.Dense(10, activation="softmax"),
])
fit(dropout, keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), "Dropout(0.2)")

# MC dropout: average 100 predictions with dropout on.
y_probas = np.stack([dropout(X_test[:1000], training=True) for _ in range(100)])
y_proba = y_probas.mean(axis=0)
print(f"{'MC dropout (100 samples)':<44} test accuracy {np.mean(y_proba.argmax(axis=1) == y_test[:1000]):.4f}"
      f" vs {np.mean(dropout.predict(X_test[:1000]).argmax(axis=1) == y_test[:1000]):.4f} without")
fit(mlp(100, 100, activation="relu", kernel_initializer="he_normal", kernel_constraint=keras.constraints.max_norm(1.0)),
    "sgd", "max_norm(1.0)")

# --- And what deeptrain adds: a diagnosis with verdicts --------------------------------------
keras.utils.set_random_seed(42)
sigmoid = mlp(*[100] * 10, activation="sigmoid")
sigmoid.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
diagnosis = deeptrain.diagnose(sigmoid, X_train, y_train, steps=100)
for verdict in diagnosis.verdicts:
    print(f"diagnosis: {verdict.id} ({verdict.layer}): {verdict.evidence}\n  fix: {verdict.fix}")
