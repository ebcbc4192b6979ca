"""Fashion-MNIST from the Debian package's IDX files (/usr/share/datasets/fashion-mnist) or
``$DEEPTRAIN_FASHION_MNIST``, never the network."""

import numpy as np

from ... import _core


def load_data(path=None):
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (n, 28, 28) and labels, as
    Keras returns them. ``path``: another directory of the four IDX files."""
    (x_train, y_train), (x_test, y_test) = _core.fashion_mnist(None if path is None else str(path))
    as_u8 = lambda a: a.astype(np.uint8)  # noqa: E731
    return (as_u8(x_train), as_u8(y_train).reshape(-1)), (as_u8(x_test), as_u8(y_test).reshape(-1))
