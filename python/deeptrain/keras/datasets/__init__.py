"""``keras.datasets``: ``fashion_mnist`` from the local IDX files (never the network)."""

from . import fashion_mnist  # noqa: F401


def __getattr__(name):
    if name in ("mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing", "california_housing"):
        raise NotImplementedError(f"keras.datasets.{name} is not available offline in deeptrain")
    raise AttributeError(f"module 'deeptrain.keras.datasets' has no attribute {name!r}")
