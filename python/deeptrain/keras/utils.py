"""``keras.utils``: ``set_random_seed``, ``to_categorical``."""

import numpy as np

from . import _common as c


def set_random_seed(seed):
    """Seeds the models built from now on: the next one gets ``seed`` (its weights, shuffling
    and dropout), the one after ``seed + 1``, and so on (deeptrain has one seed per model)."""
    c.set_seed(seed)


def to_categorical(x, num_classes=None):
    x = np.asarray(x, dtype=np.int64).reshape(-1)
    n = int(num_classes) if num_classes is not None else int(x.max()) + 1
    out = np.zeros((len(x), n), dtype=np.float32)
    out[np.arange(len(x)), x] = 1.0
    return out
