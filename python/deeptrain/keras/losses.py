"""Keras 3's losses over deeptrain's ``[compile] loss``: names (``"mse"``) or objects."""

from . import _common as c


class Loss:
    _id = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        owner = type(self).__name__
        c.only_default(owner, "reduction", reduction, "sum_over_batch_size")
        self._kwargs = {}
        for key, value in kwargs.items():
            if key == "from_logits":
                c.only_default(owner, "from_logits", value, False)
            elif value is not None:
                self._kwargs[key] = c.spec_value(owner, key, value)

    def _spec(self):
        return dict(name=self._id, **self._kwargs) if self._kwargs else self._id


def _loss(name, id_, params=()):
    def __init__(self, *args, **kwargs):
        for key, value in zip(params, args):
            kwargs[key] = value
        Loss.__init__(self, **kwargs)

    return type(name, (Loss,), {"__init__": __init__, "_id": id_, "__doc__": f"Keras' ``{name}``."})


SparseCategoricalCrossentropy = _loss("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")
CategoricalCrossentropy = _loss("CategoricalCrossentropy", "categorical_crossentropy")
BinaryCrossentropy = _loss("BinaryCrossentropy", "binary_crossentropy")
MeanSquaredError = _loss("MeanSquaredError", "mean_squared_error")
MeanAbsoluteError = _loss("MeanAbsoluteError", "mean_absolute_error")
Huber = _loss("Huber", "huber", ("delta",))
LogCosh = _loss("LogCosh", "log_cosh")
Poisson = _loss("Poisson", "poisson")
KLDivergence = _loss("KLDivergence", "kl_divergence")
Hinge = _loss("Hinge", "hinge")
