"""Keras 3's optimizers over deeptrain's: ``SGD``, ``Adam``, ``Nadam``, ``Adamax``, ``AdamW``,
``RMSprop``, ``Adagrad``, with ``learning_rate`` a number or a schedule
(``keras.optimizers.schedules``). Their arguments are the spec's ``[optimizer]`` keys."""

from .. import _common as c
from . import schedules

_KERAS_ONLY = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
    "name": None,
}


class _LearningRate(float):
    """The optimizer's learning rate as a number that can also be assigned (Keras 3's variable:
    ``optimizer.learning_rate.assign(0.01)``, ``keras.backend.set_value``)."""

    def __new__(cls, value, optimizer):
        obj = float.__new__(cls, value)
        obj._optimizer = optimizer
        return obj

    def assign(self, value):
        self._optimizer.learning_rate = value

    def numpy(self):
        return float(self)


class Optimizer:
    """A deeptrain optimizer under its Keras name; ``learning_rate`` reads and sets the model's
    live rate once compiled (also from a callback during ``fit``)."""

    _id = None

    def __init__(self, learning_rate=0.001, lr=None, **kwargs):
        owner = type(self).__name__
        if lr is not None:
            c.deprecated(owner, "lr", "learning_rate")
            learning_rate = lr
        for key, default in _KERAS_ONLY.items():
            if key in kwargs:
                value = kwargs.pop(key)
                if key != "name":
                    c.only_default(owner, key, value, default)
        if "decay" in kwargs:
            c.unsupported(owner, "`decay` (TF 2's; use a learning-rate schedule)")
        self._schedule = None
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self._schedule = learning_rate
            self._lr = learning_rate._initial()
        elif callable(learning_rate):
            c.unsupported(owner, "a Python function as learning_rate (use keras.optimizers.schedules or a callback)")
        else:
            self._lr = float(learning_rate)
        self._kwargs = {k: c.spec_value(owner, k, v) for k, v in kwargs.items() if v is not None}
        self._model = None  # the compiled model
        self._live = None  # the rate during fit, as the engine reports it
        self._set = None  # a rate a callback set during fit

    def _spec(self):
        spec = {"name": self._id, "learning_rate": self._lr}
        spec.update(self._kwargs)
        return spec

    @property
    def learning_rate(self):
        if self._live is not None:
            return _LearningRate(self._live, self)
        core = self._model._core if self._model is not None else None
        if core is not None:
            return _LearningRate(core.learning_rate(), self)
        return _LearningRate(self._lr, self)

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise TypeError(
                f"{type(self).__name__}: this optimizer's learning rate is a schedule; it cannot be set"
            )
        value = float(value)
        if self._live is not None:
            self._live = value
            self._set = value
            return
        core = self._model._core if self._model is not None else None
        if core is not None:
            core.set_learning_rate(value)
        self._lr = value

    lr = learning_rate

    @property
    def iterations(self):
        core = self._model._core if self._model is not None else None
        return core.iterations() if core is not None else 0

    def get_config(self):
        config = dict(self._spec())
        config.pop("name")
        return config


def _optimizer(name, id_, default_lr, doc):
    def __init__(self, learning_rate=default_lr, **kwargs):
        Optimizer.__init__(self, learning_rate, **kwargs)

    return type(name, (Optimizer,), {"__init__": __init__, "_id": id_, "__doc__": doc})


SGD = _optimizer("SGD", "sgd", 0.01, "Keras' ``SGD(learning_rate=0.01, momentum=0.0, nesterov=False, ...)``.")
Adam = _optimizer("Adam", "adam", 0.001, "Keras' ``Adam(learning_rate=0.001, beta_1, beta_2, epsilon, amsgrad, ...)``.")
Nadam = _optimizer("Nadam", "nadam", 0.001, "Keras' ``Nadam``.")
Adamax = _optimizer("Adamax", "adamax", 0.001, "Keras' ``Adamax``.")
AdamW = _optimizer("AdamW", "adamw", 0.001, "Keras' ``AdamW`` (decoupled weight decay).")
RMSprop = _optimizer("RMSprop", "rmsprop", 0.001, "Keras' ``RMSprop``.")
Adagrad = _optimizer("Adagrad", "adagrad", 0.001, "Keras' ``Adagrad``.")

_BY_NAME = {
    "sgd": SGD, "adam": Adam, "nadam": Nadam, "adamax": Adamax, "adamw": AdamW,
    "rmsprop": RMSprop, "adagrad": Adagrad,
}


def get(identifier):
    """An optimizer from a name (``"adam"``) or an optimizer."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise NotImplementedError(f"optimizer {identifier!r} is not one of deeptrain's ({', '.join(_BY_NAME)})")


def __getattr__(name):
    if name in ("Adadelta", "Ftrl", "Lion", "Lamb", "Muon", "LossScaleOptimizer"):
        raise NotImplementedError(f"keras.optimizers.{name} is not supported by deeptrain yet")
    raise AttributeError(f"module 'deeptrain.keras.optimizers' has no attribute {name!r}")
