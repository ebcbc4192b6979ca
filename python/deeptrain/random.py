"""``tf.random.set_seed``, TensorFlow's spelling that the book's code uses (``import deeptrain as
tf`` then runs it): the same as ``deeptrain.keras.utils.set_random_seed``."""

from .keras import _common as c


def set_seed(seed):
    """Seeds the models built from now on (see ``keras.utils.set_random_seed``)."""
    c.set_seed(seed)
