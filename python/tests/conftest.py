"""Shared fixtures: a digits spec (the embedded data set, offline) and the CLI binary."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

SPEC = """
seed = {seed}
[data]
dataset = "digits"
validation_split = 0.1
scale = "unit"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 32
activation = "relu"
kernel_initializer = "he_normal"
[[layers]]
type = "dropout"
rate = 0.1
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
momentum = 0.9
nesterov = true
[fit]
epochs = {epochs}
batch_size = 32
"""


@pytest.fixture
def digits_spec(tmp_path):
    """Writes the digits spec (seed 7, 3 epochs) and returns its path."""
    path = tmp_path / "digits.toml"
    path.write_text(SPEC.format(seed=7, epochs=3))
    return path


@pytest.fixture
def cli():
    """The `deeptrain` command: $DEEPTRAIN_BIN, else the release build in target/."""
    path = os.environ.get("DEEPTRAIN_BIN") or str(REPO / "target" / "release" / "deeptrain")
    if not os.path.isfile(path):
        pytest.skip("no deeptrain binary (set DEEPTRAIN_BIN or cargo build --release)")
    return path
