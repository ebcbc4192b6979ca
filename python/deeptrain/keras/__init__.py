"""Keras 3's public names over deeptrain: code written for ``from tensorflow import keras``
runs with ``from deeptrain import keras`` where deeptrain has the feature, and raises
NotImplementedError or ValueError naming what it lacks."""

from . import (  # noqa: F401
    activations,
    backend,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from ._common import UnknownArgumentError  # noqa: F401
from .layers import Input, InputLayer, Layer  # noqa: F401
from .models import Model, Sequential  # noqa: F401

__version__ = "3.deeptrain"
