"""Reference values from Keras for what PyTorch has no form of: tests/reference/recurrent_keras.json.

Versions: keras==3.15.1 on tensorflow==2.21.0 (CPU), numpy 2.4.6, Python 3.11.
Everything in float64 (keras.config.set_floatx("float64")); weights drawn from a seeded numpy
generator (N(0, 0.5²)) and set with set_weights, not Keras' default initialization. Gradients by
tf.GradientTape. Keras' weight layouts are deeptrain's, so the weights and gradients are stored
as Keras lists them (layer.weights order).

Run from the repository root (rewrites the file; --check compares and writes nothing):
    PYTHON tests/reference/gen_recurrent_keras.py [--check]
with a Python that has keras 3.15.1 and tensorflow 2.21 (PyTorch's nn.GRU is reset_after=True only).

Cases:
- "gru_reset_before": x (2, 4, 3) -> GRU(4, reset_after=False, return_sequences=True); kernel
  (3, 12), recurrent_kernel (4, 12) and ONE bias (12,) in gate order z, r, h, with
  ĥ = tanh(x·W_h + (r ⊙ h_{t-1})·R_h + b_h). y and, for L = Σ y ⊙ w, dL/dx and the gradients.
- "gru_reset_before_masked": x (3, 5, 3) with a time-step mask (padding at the end, in the middle
  and at the start) -> GRU(3, reset_after=False, go_backwards=True), last state; y, dL/dx and the
  gradients for L = Σ y ⊙ w.
- "bidirectional_masked_sequence": x (3, 5, 3) with the mask of "gru_reset_before_masked" ->
  Bidirectional(LSTM(3, return_sequences), "concat"); y, dL/dx and the six weights' gradients
  (forward copy's kernel, recurrent kernel, bias, then the backward copy's) for L = Σ y ⊙ w.
  Keras' Bidirectional sets its copies' zero_output_for_mask to return_sequences
  (keras/src/layers/rnn/bidirectional.py), so y is 0 at padded steps; the states are carried.
- "bidirectional_masked": ids (3, 6) with 0 as padding -> Embedding(7, 4, mask_zero) ->
  Bidirectional(LSTM(3, return_sequences), "concat") -> Bidirectional(GRU(3), "sum") ->
  Dense(3, softmax), mean sparse cross-entropy; the loss, the probabilities and every weight's
  gradient. Keras' Bidirectional gives both copies the mask; the backward copy (go_backwards)
  reverses it with the sequence, and its output sequence is reversed back before the merge.
- "mask_pass_through": the same ids -> Embedding(7, 4, mask_zero) -> Dense(5, tanh) on the 3-D
  input -> LayerNormalization (epsilon 1e-3, gamma and beta random) -> Dropout(0.3) (inference:
  the identity) -> LSTM(4) -> Dense(3, softmax); the loss, the probabilities and every weight's
  gradient (called with training=False). Dense, LayerNormalization and Dropout pass the
  embedding's mask on to the LSTM unchanged (their supports_masking).
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import numpy  # noqa: E402
import tensorflow as tf  # noqa: E402

keras.config.set_floatx("float64")
OUT = Path(__file__).with_name("recurrent_keras.json")
IDS = [[3, 1, 4, 0, 0, 0], [5, 0, 2, 6, 1, 0], [0, 0, 2, 2, 6, 3]]


def values(t):
    return numpy.asarray(t).tolist()


def fill(layer, rng):
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


def layer_case(seed, layer, shape, mask=None):
    """y = layer(x, mask), L = Σ y ⊙ w: y, dL/dx and the weights' gradients."""
    rng = numpy.random.default_rng(seed)
    x = tf.constant(rng.standard_normal(shape))
    layer(x)  # builds
    fill(layer, rng)
    m = None if mask is None else tf.constant(numpy.array(mask, dtype=bool))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, mask=m)
        w = tf.constant(rng.standard_normal(y.shape))
        loss = tf.reduce_sum(y * w)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    out = {"x": values(x), "w": values(w), "y": values(y), "dx": values(grads[0]),
           "weights": [values(v) for v in layer.get_weights()],
           "grads": [values(g) for g in grads[1:]]}
    if mask is not None:
        out["mask"] = mask
    return out


def model_case(seed, layers):
    """ids -> layers, mean sparse cross-entropy: loss, probabilities, every weight's gradient."""
    rng = numpy.random.default_rng(seed)
    ids = tf.constant(IDS)
    labels = tf.constant([1, 2, 0])
    model = keras.Sequential([keras.Input((6,), dtype="int32")] + layers)
    for layer in model.layers:
        if layer.get_weights():
            fill(layer, rng)
    with tf.GradientTape() as tape:
        p = model(ids, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, p))
    grads = tape.gradient(loss, model.trainable_weights)
    return {"ids": IDS, "labels": values(labels), "loss": float(loss), "probabilities": values(p),
            "weights": [values(v) for v in model.get_weights()],
            "grads": [values(tf.convert_to_tensor(g)) for g in grads],
            "names": [v.path for v in model.trainable_weights]}


def main():
    layers = keras.layers
    data = {
        "framework": f"keras {keras.__version__}, tensorflow {tf.__version__}, "
                     f"numpy {numpy.__version__}, float64",
        "gru_reset_before": layer_case(
            41, layers.GRU(4, reset_after=False, return_sequences=True), (2, 4, 3)),
        "gru_reset_before_masked": layer_case(
            42, layers.GRU(3, reset_after=False, go_backwards=True), (3, 5, 3),
            mask=[[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 0, 1, 1, 1]]),
        "bidirectional_masked_sequence": layer_case(
            45, layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="concat"),
            (3, 5, 3), mask=[[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 0, 1, 1, 1]]),
        "bidirectional_masked": model_case(43, [
            layers.Embedding(7, 4, mask_zero=True),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="concat"),
            layers.Bidirectional(layers.GRU(3), merge_mode="sum"),
            layers.Dense(3, activation="softmax"),
        ]),
        "mask_pass_through": model_case(44, [
            layers.Embedding(7, 4, mask_zero=True),
            layers.Dense(5, activation="tanh"),
            layers.LayerNormalization(epsilon=1e-3),
            layers.Dropout(0.3),
            layers.LSTM(4),
            layers.Dense(3, activation="softmax"),
        ]),
    }
    text = json.dumps(data, indent=1) + "\n"
    if "--check" in sys.argv:
        same = OUT.exists() and OUT.read_text() == text
        print(f"{OUT.name}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
