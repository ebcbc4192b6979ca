"""``keras.backend``: ``clear_session``, ``get_value``/``set_value`` (of a learning rate)."""

from . import _common as c


def clear_session(free_memory=True):
    """Resets the automatic layer names (models hold their own memory)."""
    c.clear_session()


def get_value(x):
    return float(x)


def set_value(x, value):
    if not hasattr(x, "assign"):
        c.unsupported("set_value", f"{x!r} (only an optimizer's learning_rate)")
    x.assign(value)


def backend():
    return "deeptrain"


def floatx():
    return "float32"
