"""Keras 3's activation functions, as names for ``activation=`` (deeptrain applies them inside
its layers; calling one on an array is not supported)."""

_NAMES = [
    "linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "silu",
    "mish", "softplus", "softsign", "hard_sigmoid", "exponential", "softmax",
]


def _make(name):
    def activation(x, *args, **kwargs):
        raise NotImplementedError(
            f"keras.activations.{name} on an array is not supported by deeptrain: use it as a layer's activation="
        )

    activation.__name__ = name
    activation.__qualname__ = name
    activation.__module__ = __name__
    return activation


for _n in _NAMES:
    globals()[_n] = _make(_n)


def get(identifier):
    if isinstance(identifier, str) and identifier in _NAMES:
        return globals()[identifier]
    raise NotImplementedError(f"activation {identifier!r} is not one of deeptrain's ({', '.join(_NAMES)})")
