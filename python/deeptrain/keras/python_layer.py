"""Layers written in Python (``class MyLayer(keras.layers.Layer)``), and Keras' subclass idiom
for MC dropout (``class MCDropout(keras.layers.Dropout)`` whose ``call`` passes
``training=True``).

A Python layer has Keras' ``build(input_shape)`` with ``self.add_weight(...)`` and a numpy
``call(inputs)``, plus what deeptrain needs because it has no autodiff for numpy code:

    def backward(self, inputs, outputs, grad_outputs):
        return grad_inputs, [grad for each trainable weight, in add_weight order]

(``grad_inputs`` alone when the layer has no trainable weight). The engine calls ``call`` and
``backward`` from its loop, taking the GIL and copying the batch, weights and results each
step, so such a layer is slower than a built-in one (README, "Python layers"); a model
without one never calls Python during a step. Each subclass is registered under its
snake_case class name when it is defined, so a saved model holding it loads again where the
class is defined (Keras' registered custom objects). Its constructor arguments are its saved
keys (``get_config``/``from_config``, as in Keras)."""

import inspect
import json

import numpy as np

from .. import _core
from . import _common as c


class Variable:
    """A weight made by ``add_weight``: inside ``call``/``backward`` it is the weight's
    current value (numpy arithmetic works on it, ``.numpy()`` gives the array)."""

    __array_priority__ = 1000

    def __init__(self, name, value, trainable):
        self.name = name
        self.path = name
        self._value = value
        self.trainable = trainable

    @property
    def value(self):
        return self._value

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return "float32"

    def numpy(self):
        return self._value

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __repr__(self):
        return f"<Variable name={self.name} shape={self.shape}>"

    # numpy arithmetic on the value
    def __matmul__(self, o):
        return self._value @ np.asarray(o)

    def __rmatmul__(self, o):
        return np.asarray(o) @ self._value

    def __add__(self, o):
        return self._value + np.asarray(o)

    __radd__ = __add__

    def __sub__(self, o):
        return self._value - np.asarray(o)

    def __rsub__(self, o):
        return np.asarray(o) - self._value

    def __mul__(self, o):
        return self._value * np.asarray(o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        return self._value / np.asarray(o)

    def __neg__(self):
        return -self._value

    @property
    def T(self):
        return self._value.T


def _fans(shape):
    if len(shape) < 2:
        n = int(np.prod(shape)) if shape else 1
        return n, n
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def initial_value(initializer, shape, rng):
    """An initial weight drawn from ``rng`` as Keras' initializer ``initializer`` (a name, an
    initializer object, a callable ``f(shape, dtype)`` or an array)."""
    if callable(initializer) and not hasattr(initializer, "_spec"):
        return np.asarray(initializer(shape, dtype="float32"), dtype=np.float32)
    spec = initializer._spec() if hasattr(initializer, "_spec") else initializer
    if isinstance(spec, (np.ndarray, list, float, int)):
        return np.broadcast_to(np.asarray(spec, dtype=np.float32), shape).copy()
    name, args = (spec, {}) if isinstance(spec, str) else (spec["name"], {k: v for k, v in spec.items() if k != "name"})
    fan_in, fan_out = _fans(shape)
    scaled = {
        "glorot_uniform": (1.0, fan_in + fan_out, 2.0, "uniform"),
        "glorot_normal": (1.0, fan_in + fan_out, 2.0, "normal"),
        "he_uniform": (2.0, fan_in, 1.0, "uniform"),
        "he_normal": (2.0, fan_in, 1.0, "normal"),
        "lecun_uniform": (1.0, fan_in, 1.0, "uniform"),
        "lecun_normal": (1.0, fan_in, 1.0, "normal"),
    }
    if name in scaled:
        # VarianceScaling: var = scale / fan (fan_avg for Glorot); normal is truncated at 2σ.
        scale, fan, divide, kind = scaled[name]
        variance = scale * divide / max(1.0, fan)
        if kind == "uniform":
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(np.float32)
        std = np.sqrt(variance) / 0.87962566103423978
        return _truncated(rng, 0.0, std, shape)
    if name == "zeros":
        return np.zeros(shape, np.float32)
    if name == "ones":
        return np.ones(shape, np.float32)
    if name == "constant":
        return np.full(shape, args.get("value", 0.0), np.float32)
    if name == "random_normal":
        return rng.normal(args.get("mean", 0.0), args.get("stddev", 0.05), shape).astype(np.float32)
    if name == "random_uniform":
        return rng.uniform(args.get("minval", -0.05), args.get("maxval", 0.05), shape).astype(np.float32)
    if name == "truncated_normal":
        return _truncated(rng, args.get("mean", 0.0), args.get("stddev", 0.05), shape)
    raise NotImplementedError(f"add_weight: initializer {name!r} is not supported for a Python layer")


def _truncated(rng, mean, std, shape):
    values = rng.normal(0.0, 1.0, shape)
    bad = np.abs(values) > 2
    while bad.any():
        values[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(values) > 2
    return (mean + std * values).astype(np.float32)


def _takes_training(method):
    try:
        return "training" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class PythonLayerMixin:
    """What ``keras.layers.Layer`` does for a subclass written in Python: the engine's
    protocol (``_dt_build``, ``_dt_forward``, ``_dt_backward``, ``_dt_from_config``)."""

    _python_layer = True

    def _python_init(self, owner):
        if not callable(getattr(type(self), "backward", None)):
            raise NotImplementedError(
                f"{owner}: a layer written in Python needs backward(self, inputs, outputs, grad_outputs) "
                "returning (grad_inputs, [gradient of each trainable weight]) (deeptrain has no autodiff "
                "for numpy code); or build it from keras.layers"
            )
        self._dt_variables = []
        self._dt_rng = None

    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable=True, autocast=True, regularizer=None, constraint=None, aggregation="none", overwrite_with_gradient=False, name=None):
        """Keras' ``add_weight``: a weight drawn from the model's seed."""
        owner = type(self).__name__
        c.only_default(f"{owner}.add_weight", "regularizer", regularizer, None)
        c.only_default(f"{owner}.add_weight", "constraint", constraint, None)
        if dtype not in (None, "float32", np.float32):
            c.unsupported(f"{owner}.add_weight", f"dtype={dtype!r} (deeptrain computes in float32)")
        if self._dt_rng is None:
            raise RuntimeError(f"{owner}.add_weight: call it from build(input_shape) (deeptrain builds the layer with the model)")
        shape = tuple(int(d) for d in (shape or ()))
        value = initial_value(initializer, shape, self._dt_rng)
        name = name or f"weight_{len(self._dt_variables)}"
        if any(v.name == name for v in self._dt_variables):
            raise ValueError(f"{owner}.add_weight: two weights named `{name}`")
        variable = Variable(name, value, bool(trainable))
        self._dt_variables.append(variable)
        return variable

    @classmethod
    def _dt_from_config(cls, config_json):
        config = json.loads(config_json)
        return cls.from_config(config)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _dt_build(self, input_shape, seed):
        self._dt_rng = np.random.default_rng(seed)
        self._dt_variables = []
        batch_shape = (None,) + tuple(input_shape)
        if hasattr(type(self), "build"):
            self.build(batch_shape)
        weights = [(v.name, np.ascontiguousarray(v._value, np.float32), v.trainable) for v in self._dt_variables]
        if hasattr(type(self), "compute_output_shape"):
            shape = tuple(self.compute_output_shape(batch_shape))[1:]
        else:
            probe = np.zeros((2,) + tuple(input_shape), np.float32)
            shape = np.asarray(self._dt_forward(probe, [w for _, w, _ in weights], False)).shape[1:]
        return weights, [int(d) for d in shape]

    def _dt_bind(self, weights):
        for variable, value in zip(self._dt_variables, weights):
            variable._value = value

    def _dt_forward(self, x, weights, training):
        self._dt_bind(weights)
        y = self.call(x, training=training) if _takes_training(self.call) else self.call(x)
        return np.ascontiguousarray(np.asarray(y, dtype=np.float32))

    def _dt_backward(self, x, y, dy, weights):
        self._dt_bind(weights)
        reply = self.backward(x, y, dy)
        trainable = [v for v in self._dt_variables if v.trainable]
        if isinstance(reply, tuple) and len(reply) == 2:
            dx, grads = reply
        elif not trainable:
            dx, grads = reply, []
        else:
            raise ValueError(f"{type(self).__name__}.backward: return (grad_inputs, [gradient of each trainable weight])")
        grads = list(grads)
        if len(grads) != len(trainable):
            raise ValueError(f"{type(self).__name__}.backward: {len(grads)} weight gradients for {len(trainable)} trainable weights")
        as32 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float32))  # noqa: E731
        return as32(dx), [as32(g) for g in grads]


_classes = {}  # type name -> the Python layer class registered under it


def register(cls, type_name):
    """Registers the Python layer class under ``type_name`` in the engine's layer table."""
    try:
        _core.register_python_layer(type_name, cls)
    except ValueError as e:
        raise ValueError(f"layer class {cls.__name__}: {e} (rename the class)") from None
    _classes[type_name] = cls


class _Probe:
    """What a built-in layer's ``call`` gives back when a subclass's ``call`` is probed: the
    ``training`` it passed on."""

    def __init__(self, training=None):
        self.training = training


def probe_call_override(layer, owner):
    """A subclass of a built-in layer that overrides ``call``: returns the keys to add to its
    table (``always = true`` for a dropout whose ``call`` forces ``training=True``, Keras'
    MC dropout idiom), or raises naming what deeptrain cannot run."""
    call = layer.call
    try:
        out = call(_Probe(), training=None) if _takes_training(call) else call(_Probe())
    except Exception as e:  # noqa: BLE001 - any failure means the override does more than pass through
        out = e
    if not isinstance(out, _Probe):
        raise NotImplementedError(
            f"{owner}: a call() that does more than return super().call(inputs, training=...) on a built-in "
            "layer is not supported by deeptrain (write the layer as a keras.layers.Layer subclass with a "
            "numpy call and backward)"
        )
    if out.training is True:
        if layer._type not in ("dropout", "alpha_dropout"):
            c.unsupported(owner, f"a {layer._class} forced to training mode at inference (only Dropout and AlphaDropout: MC dropout)")
        return {"always": True}
    if out.training not in (None, False):
        c.unsupported(owner, f"call(..., training={out.training!r})")
    return {}
