"""Keras 3's metrics over deeptrain's ``[compile] metrics``: names (``"accuracy"``) or
objects."""

from . import _common as c


class Metric:
    _id = None

    def __init__(self, name=None, dtype=None, **kwargs):
        c.refuse(type(self).__name__, {k: v for k, v in kwargs.items() if v is not None})
        if name is not None and name != self._id:
            c.unsupported(type(self).__name__, f"a custom metric name `{name}`")

    def _spec(self):
        return self._id


def _metric(name, id_):
    return type(name, (Metric,), {"_id": id_, "__doc__": f"Keras' ``{name}``."})


Accuracy = _metric("Accuracy", "accuracy")
SparseCategoricalAccuracy = _metric("SparseCategoricalAccuracy", "sparse_categorical_accuracy")
CategoricalAccuracy = _metric("CategoricalAccuracy", "categorical_accuracy")
BinaryAccuracy = _metric("BinaryAccuracy", "binary_accuracy")
MeanAbsoluteError = _metric("MeanAbsoluteError", "mean_absolute_error")
MeanSquaredError = _metric("MeanSquaredError", "mean_squared_error")
RootMeanSquaredError = _metric("RootMeanSquaredError", "root_mean_squared_error")
R2Score = _metric("R2Score", "r2_score")
Precision = _metric("Precision", "precision")
Recall = _metric("Recall", "recall")
