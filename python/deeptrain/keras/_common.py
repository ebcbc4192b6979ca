"""What every part of ``deeptrain.keras`` shares: the session's seed and layer names, the
errors for what deeptrain does not do, and the conversion of Keras arguments to the values of
a deeptrain spec (the TOML spec's tables, sent to the engine as JSON)."""

import json
import os
import re
import warnings

import numpy as np

from .. import _core


class UnknownArgumentError(TypeError, ValueError):
    """An argument deeptrain does not know (Keras raises TypeError for these; a ValueError
    handler catches it too)."""


_session = {"seed": None, "names": {}}


def next_seed():
    """The seed of the next model built: ``utils.set_random_seed(s)`` makes it ``s``, then
    ``s + 1``, ... for the models after it; without, a random one."""
    if _session["seed"] is None:
        return int.from_bytes(os.urandom(4), "little")
    seed = _session["seed"]
    _session["seed"] = seed + 1
    return seed


def set_seed(seed):
    _session["seed"] = int(seed)


def clear_session():
    _session["names"].clear()


def snake_case(name):
    """A class name as Keras 3 names its instances (``keras.src.utils.naming.to_snake_case``):
    an acronym stays whole, ``LSTM`` -> ``lstm``, ``SimpleRNN`` -> ``simple_rnn``, ``Conv1D``
    -> ``conv1d``, ``PReLU`` -> ``p_re_lu``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """Keras' automatic names: ``dense``, ``dense_1``, ..."""
    n = _session["names"].get(base, 0)
    _session["names"][base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def refuse(owner, kwargs):
    """Unknown keyword arguments: an error naming them."""
    if kwargs:
        names = ", ".join(f"`{k}`" for k in kwargs)
        raise UnknownArgumentError(f"{owner}: unknown argument(s) {names} (not in deeptrain's {owner})")


def unsupported(owner, what):
    raise NotImplementedError(f"{owner}: {what} is not supported by deeptrain")


def deprecated(owner, old, new):
    warnings.warn(
        f"{owner}: `{old}` is the TF 2 spelling; Keras 3 calls it `{new}`",
        DeprecationWarning,
        stacklevel=4,
    )


def only_default(owner, name, value, default):
    """An argument deeptrain accepts only at Keras' default."""
    if value != default and not (value is None and default is None):
        unsupported(owner, f"`{name}={value!r}` (only {default!r})")


# Keras activation functions (keras.activations.relu, ...) by their names.
def activation_value(owner, value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if hasattr(value, "_activation_id"):
        return value._activation_id()
    name = getattr(value, "__name__", None)
    if callable(value) and name and getattr(value, "__module__", "").startswith("deeptrain"):
        return name
    raise NotImplementedError(
        f"{owner}: activation {value!r} is not one of deeptrain's (give its name, e.g. \"relu\")"
    )


def spec_value(owner, key, value):
    """A Keras argument as a spec value (None: leave the key out, the default)."""
    if value is None:
        return None
    if key == "activation":
        return activation_value(owner, value)
    if hasattr(value, "_spec"):
        return value._spec()
    if isinstance(value, (tuple, list)):
        return [spec_value(owner, key, v) for v in value]
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, dict):
        return {k: spec_value(owner, k, v) for k, v in value.items() if v is not None}
    raise NotImplementedError(f"{owner}: `{key}={value!r}` is not supported by deeptrain")


def engine_error(owner, error):
    """The engine's ValueError about a spec key, as Keras users expect it."""
    message = f"{owner}: {error}"
    if "unknown field" in message:
        return UnknownArgumentError(message)
    return ValueError(message)


def check_layer(owner, table):
    try:
        _core.check_layer(json.dumps(table))
    except ValueError as e:
        raise engine_error(owner, e) from None


def batch_size(owner, value):
    """Keras' ``batch_size``: None means 32; anything else a whole number of at least 1."""
    if value is None:
        return 32
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: `batch_size` is a whole number of at least 1 (or None for 32), got {value!r}")
    return int(value)


def as_float32(x, what="x"):
    """x as a C-contiguous float32 array (no copy when it already is one)."""
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        raise NotImplementedError(f"{what}: a list of arrays (several inputs) goes to a functional model")
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim == 0:
        raise ValueError(f"{what}: an array of samples, not a scalar")
    return a
