"""Keras 3's layers over deeptrain's: each is a deeptrain layer table (the TOML spec's
``[[layers]]`` entry), checked by the engine when the layer is made, so that an unknown
argument or a bad value fails at once, naming it."""

import numpy as np

from . import _common as c
from . import python_layer


class KerasTensor:
    """A symbolic tensor of the functional API: the output of ``Input`` or of a layer called on
    tensors. ``shape`` includes the batch axis (None)."""

    def __init__(self, shape, layer=None, inputs=(), input_name=None):
        self.shape = (None,) + tuple(shape)
        self._layer = layer
        self._inputs = list(inputs)
        self._input_name = input_name
        self.dtype = "float32"

    @property
    def name(self):
        return self._input_name if self._layer is None else self._layer.name

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, name={self.name}>"


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None, optional=False):
    """A model input (Keras' ``keras.Input``): per-sample ``shape``."""
    if batch_shape is not None:
        if shape is not None:
            raise ValueError("Input: give `shape` or `batch_shape`, not both")
        shape = tuple(batch_shape)[1:]
    if shape is None:
        raise ValueError("Input: `shape` is required")
    if isinstance(shape, int):
        shape = (shape,)
    for arg, value, default in [("batch_size", batch_size, None), ("sparse", sparse, None), ("tensor", tensor, None), ("optional", optional, False)]:
        c.only_default("Input", arg, value, default)
    if dtype not in (None, "float32", np.float32):
        c.unsupported("Input", f"dtype={dtype!r} (deeptrain computes in float32)")
    if any(d is None for d in shape):
        c.unsupported("Input", "a shape with None (variable-size) axes")
    return KerasTensor(tuple(int(d) for d in shape), input_name=name or c.unique_name("input_layer"))


class InputLayer:
    """``InputLayer(shape=...)`` in a Sequential list: the model's input shape."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, input_shape=None, **kwargs):
        c.refuse("InputLayer", kwargs)
        if input_shape is not None:
            c.deprecated("InputLayer", "input_shape", "shape")
            shape = input_shape
        self._tensor = Input(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
        self.name = self._tensor.name


class Layer(python_layer.PythonLayerMixin):
    """A deeptrain layer under its Keras class name. Built into a model, it reads and writes
    that model's weights (``get_weights``, ``set_weights``, ``trainable``). A subclass written
    in Python (numpy ``call`` and ``backward``) is a Python layer: see
    ``deeptrain.keras.python_layer``."""

    _type = None
    _class = None
    _python_layer = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_type") is not None:
            return  # a built-in layer class
        if cls._type is None or cls._python_layer:
            # A layer written in Python: registered under its name for specs and model files.
            cls._python_layer = True
            cls._type = c.snake_case(cls.__name__)
            python_layer.register(cls, cls._type)

    def call(self, inputs, training=None):
        """A built-in layer runs in the engine; ``super().call(inputs, training=...)`` in a
        subclass's ``call`` says in which mode (Keras' MC dropout idiom)."""
        if isinstance(inputs, python_layer._Probe):
            return python_layer._Probe(training)
        raise NotImplementedError(
            f"calling layer `{self.name}` on an array (eager execution) is not supported by deeptrain: "
            "build a model and call the model"
        )

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None, batch_input_shape=None, **config):
        owner = self._class or type(self).__name__
        if type(self) is Layer:
            raise NotImplementedError("keras.layers.Layer: subclass it (with build, call and backward)")
        if dtype not in (None, "float32", np.float32):
            c.unsupported(owner, f"dtype={dtype!r} (deeptrain computes in float32)")
        self._input_shape = None
        if input_shape is not None:
            c.deprecated(owner, "input_shape", "keras.Input(shape=...) first")
            self._input_shape = tuple(input_shape)
        if batch_input_shape is not None:
            c.deprecated(owner, "batch_input_shape", "keras.Input(shape=...) first")
            self._input_shape = tuple(batch_input_shape)[1:]
        if input_dim is not None:
            c.deprecated(owner, "input_dim", "keras.Input(shape=(n,)) first")
            self._input_shape = (int(input_dim),)
        self._config = {}
        if self._python_layer:
            c.refuse(owner, config)
            self._python_init(owner)
        else:
            for key, value in config.items():
                v = c.spec_value(owner, key, value)
                if v is not None:
                    self._config[key] = v
            if type(self).call is not Layer.call:
                self._config.update(python_layer.probe_call_override(self, type(self).__name__))
            c.check_layer(owner, self._table(named=False))
        self.name = name or c.unique_name(c.snake_case(owner))
        self._trainable = bool(trainable)
        self._model = None  # the built model holding this layer, and its index there
        self._index = None

    def _table(self, named=True):
        table = {"type": self._type}
        if self._python_layer:
            config = self.get_config()
            for key in ("name", "trainable", "dtype"):
                config.pop(key, None)
            table.update({k: c.spec_value(type(self).__name__, k, v) for k, v in config.items() if v is not None})
        table.update(self._config)
        if named:
            table["name"] = self.name
        return table

    def __getattr__(self, name):
        # Keras layers expose their settings as attributes (``layer.rate``, ``layer.units``).
        config = self.__dict__.get("_config")
        if config is not None and name in config:
            return config[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_config(self):
        config = {"name": self.name, "trainable": self._trainable}
        config.update(self._config)
        return config

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        if self._model is not None:
            self._model._core.set_trainable(self._index, self._trainable)

    def _built(self, what):
        if self._model is None or self._model._core is None:
            raise ValueError(f"layer `{self.name}` is not built yet: {what} needs the model built (give it an input shape or fit it)")
        return self._model._core

    def get_weights(self):
        self._built("get_weights")
        return list(self._model._layer_weights("get_weights")[self._index])

    def set_weights(self, weights):
        core = self._built("set_weights")
        all_weights = core.get_weights()
        all_weights[self._index] = [np.ascontiguousarray(w, dtype=np.float32) for w in weights]
        core.set_weights(all_weights)

    @property
    def weights(self):
        """Keras' variables of the layer (``name``, ``trainable``, ``numpy()``), as the built
        model holds them (empty before)."""
        return self.variables

    @property
    def variables(self):
        if self._model is None or self._model._core is None:
            return []
        names = self._model._core.weight_names()[self._index]
        values = self.get_weights()
        return [python_layer.Variable(n, v, t) for (n, t), v in zip(names, values)]

    @property
    def trainable_weights(self):
        return [v for v in self.variables if v.trainable] if self._trainable else []

    @property
    def non_trainable_weights(self):
        return [v for v in self.variables if not v.trainable or not self._trainable]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def count_params(self):
        info = self._built("count_params").layer_info()[self._index]
        return info[2] + info[3]

    @property
    def output_shape(self):
        return (None,) + tuple(self._built("output_shape").output_shapes()[self._index])

    def __call__(self, inputs, training=None, **kwargs):
        c.refuse(f"{self.name}()", kwargs)
        tensors = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if not all(isinstance(t, KerasTensor) for t in tensors):
            raise NotImplementedError(
                f"calling layer `{self.name}` on an array (eager execution) is not supported by deeptrain: "
                "call it on keras.Input tensors and build a keras.Model, or call the model"
            )
        if training is not None:
            c.unsupported(self.name, "`training=` when building a graph")
        return KerasTensor(self._infer_shape([t.shape[1:] for t in tensors]), layer=self, inputs=tensors)

    def _infer_shape(self, shapes):
        # The exact shape is known once the model is built; the graph only needs the edges.
        return shapes[0]

    def __repr__(self):
        return f"<{self._class or type(self).__name__} name={self.name}>"


def _layer_class(class_name, type_id, positional=(), defaults=None, doc=None, sizes=()):
    """A Keras layer class over deeptrain type ``type_id``; ``positional`` names its positional
    arguments (Keras' order); ``sizes`` names a 1-D layer's sizes, which Keras also takes as
    1-tuples (``kernel_size=(3,)``)."""
    defaults = defaults or {}

    def __init__(self, *args, **kwargs):
        if len(args) > len(positional):
            raise c.UnknownArgumentError(f"{class_name} takes {len(positional)} positional argument(s), got {len(args)}")
        for key, value in zip(positional, args):
            if key in kwargs:
                raise c.UnknownArgumentError(f"{class_name}: `{key}` given twice")
            kwargs[key] = value
        for key, value in defaults.items():
            kwargs.setdefault(key, value)
        for key in sizes:
            value = kwargs.get(key)
            if isinstance(value, (tuple, list)) and len(value) == 1:
                kwargs[key] = value[0]
        Layer.__init__(self, **kwargs)

    return type(class_name, (Layer,), {"__init__": __init__, "_type": type_id, "_class": class_name, "__doc__": doc or f"Keras' ``{class_name}`` (deeptrain's ``{type_id}``)."})


Dense = _layer_class("Dense", "dense", ("units", "activation"))
Conv2D = _layer_class("Conv2D", "conv2d", ("filters", "kernel_size", "strides", "padding"))
Flatten = _layer_class("Flatten", "flatten")
Activation = _layer_class("Activation", "activation", ("activation",))
PReLU = _layer_class("PReLU", "prelu")
BatchNormalization = _layer_class("BatchNormalization", "batch_normalization")
LayerNormalization = _layer_class("LayerNormalization", "layer_normalization")
Embedding = _layer_class("Embedding", "embedding")
Dropout = _layer_class("Dropout", "dropout", ("rate",))
AlphaDropout = _layer_class("AlphaDropout", "alpha_dropout", ("rate",))
GaussianNoise = _layer_class("GaussianNoise", "gaussian_noise", ("stddev",))
SpatialDropout2D = _layer_class("SpatialDropout2D", "spatial_dropout2d", ("rate",))
MaxPooling2D = _layer_class("MaxPooling2D", "max_pooling2d", ("pool_size", "strides", "padding"))
AveragePooling2D = _layer_class("AveragePooling2D", "average_pooling2d", ("pool_size", "strides", "padding"))
GlobalAveragePooling2D = _layer_class("GlobalAveragePooling2D", "global_average_pooling2d")
GlobalMaxPooling2D = _layer_class("GlobalMaxPooling2D", "global_max_pooling2d")
Reshape = _layer_class("Reshape", "reshape", ("target_shape",))
Add = _layer_class("Add", "add")
Subtract = _layer_class("Subtract", "subtract")
Multiply = _layer_class("Multiply", "multiply")
Average = _layer_class("Average", "average")
SimpleRNN = _layer_class("SimpleRNN", "simple_rnn", ("units", "activation"))
LSTM = _layer_class("LSTM", "lstm", ("units", "activation", "recurrent_activation"))
GRU = _layer_class("GRU", "gru", ("units", "activation", "recurrent_activation"))
_SIZES_1D = ("kernel_size", "strides", "dilation_rate", "pool_size")
Conv1D = _layer_class("Conv1D", "conv1d", ("filters", "kernel_size", "strides", "padding"), sizes=_SIZES_1D)
MaxPooling1D = _layer_class("MaxPooling1D", "max_pooling1d", ("pool_size", "strides", "padding"), sizes=_SIZES_1D)
AveragePooling1D = _layer_class("AveragePooling1D", "average_pooling1d", ("pool_size", "strides", "padding"), sizes=_SIZES_1D)
GlobalAveragePooling1D = _layer_class("GlobalAveragePooling1D", "global_average_pooling1d")
GlobalMaxPooling1D = _layer_class("GlobalMaxPooling1D", "global_max_pooling1d")
MaxPool2D = MaxPooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D


class Concatenate(Layer):
    """Keras' ``Concatenate()`` along the last axis (the features)."""

    _type = "concatenate"
    _class = "Concatenate"

    def __init__(self, axis=-1, **kwargs):
        c.only_default("Concatenate", "axis", axis, -1)
        Layer.__init__(self, **kwargs)


class LeakyReLU(Layer):
    """Keras' ``LeakyReLU(negative_slope=0.3)`` (``alpha=`` is the TF 2 spelling). As an
    ``activation=`` argument it is ``"leaky_relu(slope)"``."""

    _type = "leaky_relu"
    _class = "LeakyReLU"

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        if alpha is not None:
            c.deprecated("LeakyReLU", "alpha", "negative_slope")
            negative_slope = alpha
        self._slope = float(negative_slope)
        Layer.__init__(self, alpha=self._slope, **kwargs)

    def _activation_id(self):
        return f"leaky_relu({self._slope!r})"


class ELU(Layer):
    """Keras' ``ELU(alpha=1.0)``; as an ``activation=`` argument, ``"elu(alpha)"``."""

    _type = "elu"
    _class = "ELU"

    def __init__(self, alpha=1.0, **kwargs):
        self._alpha = float(alpha)
        Layer.__init__(self, alpha=self._alpha, **kwargs)

    def _activation_id(self):
        return f"elu({self._alpha!r})"


class ReLU(Layer):
    """Keras' ``ReLU()`` (no ``max_value``, ``negative_slope`` or ``threshold``)."""

    _type = "activation"
    _class = "ReLU"

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        c.only_default("ReLU", "max_value", max_value, None)
        c.only_default("ReLU", "negative_slope", negative_slope, 0.0)
        c.only_default("ReLU", "threshold", threshold, 0.0)
        Layer.__init__(self, activation="relu", **kwargs)

    def _activation_id(self):
        return "relu"


class Softmax(Layer):
    """Keras' ``Softmax()`` over the last axis."""

    _type = "activation"
    _class = "Softmax"

    def __init__(self, axis=-1, **kwargs):
        c.only_default("Softmax", "axis", axis, -1)
        Layer.__init__(self, activation="softmax", **kwargs)


# What Keras 3 has and deeptrain does not (yet): named, so that the error says so.
_MISSING = [
    "Conv3D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D", "Bidirectional",
    "TimeDistributed", "Attention", "MultiHeadAttention", "Normalization", "Rescaling",
    "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom", "RandomCrop",
    "RandomTranslation", "RandomContrast", "TextVectorization", "StringLookup", "IntegerLookup",
    "CategoryEncoding", "Discretization", "Hashing", "Lambda", "Masking", "UpSampling2D",
    "ZeroPadding2D", "Cropping2D", "Permute", "RepeatVector", "Dot", "Maximum", "Minimum",
    "ActivityRegularization", "UnitNormalization", "GroupNormalization", "SpatialDropout1D",
    "GaussianDropout", "ThresholdedReLU", "ConvLSTM2D",
]


def __getattr__(name):
    if name in _MISSING:
        raise NotImplementedError(f"keras.layers.{name} is not supported by deeptrain yet")
    raise AttributeError(f"module 'deeptrain.keras.layers' has no attribute {name!r}")


def concatenate(inputs, axis=-1, **kwargs):
    """Keras' functional ``concatenate([a, b])``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)
