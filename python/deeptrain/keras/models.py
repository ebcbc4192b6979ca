"""Keras 3's models over deeptrain's: ``Sequential`` (a list of layers and ``.add``), the
functional ``Model(inputs, outputs)``, ``load_model``, ``clone_model``. A model is built (its
weights drawn from the session's seed, see ``keras.utils.set_random_seed``) when its input shape
is known, through the same spec parser and builder as ``deeptrain train``."""

import itertools
import json
import re
import warnings

import numpy as np

from .. import _core
from . import _common as c
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from . import python_layer
from .layers import InputLayer, KerasTensor, Layer

_call_seeds = itertools.count(1)


class Model:
    """A functional model, ``keras.Model(inputs, outputs)``; base of ``Sequential``."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        c.refuse("Model", kwargs)
        if inputs is None or outputs is None:
            raise NotImplementedError(
                "subclassing keras.Model (a call() written in Python) is not supported by deeptrain: "
                "use keras.Model(inputs, outputs) or Sequential"
            )
        self._init(name or c.unique_name("functional"))
        self._functional(inputs, outputs)
        self._build_now()

    def _init(self, name):
        self.name = name
        self._core = None
        self._layers = []
        self._inputs = []  # functional: the Input tensors
        self._outputs = []
        self._input_shape = None
        self._seed = None
        self.optimizer = None
        self._compiled = None
        self.stop_training = False
        self.history = None
        self.trainable = True

    # ----- the graph ----------------------------------------------------------------------
    def _functional(self, inputs, outputs):
        if isinstance(inputs, dict) or isinstance(outputs, dict):
            c.unsupported("Model", "dicts of inputs or outputs (give lists)")
        self._inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for t in self._inputs + self._outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model: inputs and outputs are keras.Input tensors and layer outputs, got {t!r}")
        for t in self._inputs:
            if t._layer is not None:
                raise ValueError(f"Model: input `{t.name}` is a layer's output, not a keras.Input")
        if len(self._inputs) > 1 and any(len(t.shape) != 2 for t in self._inputs):
            c.unsupported("Model", "several inputs that are not flat vectors (shape (n,))")
        order, seen = [], set()

        def visit(t):
            if t._layer is None:
                if all(t is not i for i in self._inputs):
                    raise ValueError(f"Model: `{t.name}` is an input the model was not given")
                return
            if id(t._layer) in seen:
                return
            for s in t._inputs:
                visit(s)
            seen.add(id(t._layer))
            order.append(t)

        for t in self._outputs:
            visit(t)
        calls = {}
        for t in order:
            if id(t._layer) in calls and calls[id(t._layer)] is not t:
                c.unsupported("Model", f"calling layer `{t._layer.name}` twice (shared weights)")
            calls[id(t._layer)] = t
        self._nodes = order
        self._layers = [t._layer for t in order]
        self._input_shape = self._inputs[0].shape[1:] if len(self._inputs) == 1 else (sum(t.shape[1] for t in self._inputs),)

    def _layer_tables(self):
        if not self._inputs:
            return [layer._table() for layer in self._layers]
        tables = []
        for t in self._nodes:
            table = t._layer._table()
            table["inputs"] = [s.name for s in t._inputs]
            tables.append(table)
        return tables

    def _spec(self):
        spec = {"layers": self._layer_tables()}
        if self._seed is not None:  # drawn when the model is built
            spec["seed"] = self._seed
        if self._inputs:
            inputs, start = [], 0
            for t in self._inputs:
                entry = {"name": t.name}
                if len(self._inputs) > 1:
                    entry["columns"] = list(range(start, start + t.shape[1]))
                    start += t.shape[1]
                inputs.append(entry)
            spec["data"] = {"inputs": inputs}
            weights = (self._compiled or {}).get("loss_weights")
            spec["outputs"] = [
                {"layer": t.name, "loss_weight": float(weights[i]) if weights else 1.0}
                for i, t in enumerate(self._outputs)
            ]
        if self._compiled:
            spec["compile"] = {"loss": self._compiled["loss"], "metrics": self._compiled["metrics"]}
            if self._compiled["weighted_metrics"]:
                spec["compile"]["weighted_metrics"] = self._compiled["weighted_metrics"]
            spec["optimizer"] = self.optimizer._spec()
            if self.optimizer._schedule is not None:
                spec["schedule"] = self.optimizer._schedule._spec()
        return spec

    def to_toml(self):
        """The deeptrain spec of this model (seed, layers, compile, optimizer, schedule) as
        the TOML ``deeptrain train`` reads, ``[data]`` and ``[fit]`` at their defaults."""
        self._require_built("to_toml")
        return _core.spec_toml(json.dumps(self._spec()))

    # ----- building -----------------------------------------------------------------------
    def _build_now(self, input_shape=None):
        if self._core is not None:
            return
        # A declared input shape (keras.Input, input_shape=) wins over the data's, so that a
        # mismatch is an error, as in Keras.
        shape = self._input_shape or input_shape
        if shape is None:
            return
        if not self._layers:
            raise ValueError(f"model `{self.name}` has no layers")
        if self._seed is None:
            self._seed = c.next_seed()
        reused = [(i, layer.get_weights()) for i, layer in enumerate(self._layers) if layer._model is not None and layer._model is not self and layer._model._core is not None]
        spec = self._spec()
        if self._compiled is None:
            # Not compiled yet: built uncompiled (and saved so, as Keras does); the spec names
            # a loss any output shape takes only for the parser's checks.
            spec["compile"] = {"loss": "mean_squared_error"}
        try:
            core = _core.Model.build(json.dumps(spec), [int(d) for d in shape], self._compiled is not None)
        except ValueError as e:
            # The engine names the spec's [data] set as the shape's source; here it is the
            # model's input.
            message = re.sub(r"\(the samples of \[data\] `[^`]*` have shape", "(the model's input has shape", str(e))
            raise c.engine_error(self.name, message) from None
        self._core = core
        self._input_shape = tuple(shape)
        names = [info[0] for info in core.layer_info()]
        if names != [layer.name for layer in self._layers]:
            raise RuntimeError(f"the engine built layers {names}, expected {[l.name for l in self._layers]}")
        for i, layer in enumerate(self._layers):
            layer._model, layer._index = self, i
            if not layer._trainable:
                core.set_trainable(i, False)
        if reused:
            warnings.warn(
                "deeptrain copies the weights of layers taken from another model; Keras shares them "
                "(training one model does not change the other here)",
                UserWarning,
                stacklevel=3,
            )
            weights = core.get_weights()
            for i, w in reused:
                weights[i] = w
            core.set_weights(weights)

    def build(self, input_shape):
        """Builds the model for inputs of ``input_shape`` (with the batch axis: ``(None, 28,
        28)``)."""
        shape = tuple(input_shape)
        if shape and shape[0] is None:
            shape = shape[1:]
        self._build_now(shape)

    @property
    def built(self):
        return self._core is not None

    def _require_built(self, what):
        if self._core is None:
            self._build_now()  # built on first use when its input shape is known, as Keras
        if self._core is None:
            raise ValueError(
                f"model `{self.name}` is not built yet: {what} needs its input shape "
                "(start with keras.Input(shape=...), call build(), or fit it first)"
            )
        return self._core

    @property
    def layers(self):
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named `{name}` in model `{self.name}`")

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input_shape(self):
        return (None,) + tuple(self._require_built("input_shape").input_shape())

    @property
    def output_shape(self):
        return self._layers[-1].output_shape

    # ----- compile --------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        c.only_default("compile", "run_eagerly", run_eagerly, False)
        c.only_default("compile", "steps_per_execution", steps_per_execution, 1)
        if loss is None:
            raise ValueError("compile: give a `loss` (deeptrain has no add_loss)")
        optimizer = optimizers_module.get(optimizer)
        if optimizer._model is not None and optimizer._model is not self:
            c.unsupported("compile", "one optimizer object for two models")
        optimizer._model = self
        if isinstance(loss, (list, tuple)):
            specs = [self._loss(l) for l in loss]
            if len(set(json.dumps(s) for s in specs)) != 1:
                c.unsupported("compile", "a different loss per output (every output trains with one loss)")
            loss = loss[0]
        if isinstance(loss, dict) or isinstance(metrics, dict) or isinstance(loss_weights, dict):
            c.unsupported("compile", "dicts of losses, metrics or loss weights per output (give lists)")
        if loss_weights is not None and len(loss_weights) != max(1, len(self._outputs)):
            raise ValueError(f"compile: {len(loss_weights)} loss_weights for {max(1, len(self._outputs))} outputs")
        self._compiled = {
            "loss": self._loss(loss),
            "metrics": [self._metric(m) for m in (metrics or [])],
            "weighted_metrics": [self._metric(m) for m in (weighted_metrics or [])],
            "loss_weights": list(loss_weights) if loss_weights is not None else None,
        }
        self.optimizer = optimizer
        if self._core is not None:
            try:
                if loss_weights is not None and self._inputs:
                    # Loss weights are part of the graph: rebuild, keeping the weights.
                    weights = self._core.get_weights()
                    self._core = None
                    self._build_now()
                    self._core.set_weights(weights)
                else:
                    self._core.compile(json.dumps(self._spec()))
            except ValueError as e:
                raise c.engine_error("compile", e) from None
        else:
            self._check_compile()

    def _check_compile(self):
        try:
            spec = self._spec()
            spec["layers"] = [{"type": "flatten"}]
            spec.pop("data", None)
            spec.pop("outputs", None)
            _core.spec_toml(json.dumps(spec))
        except ValueError as e:
            raise c.engine_error("compile", e) from None

    @staticmethod
    def _loss(loss):
        if isinstance(loss, str):
            return loss
        if isinstance(loss, losses_module.Loss) or hasattr(loss, "_spec"):
            return loss._spec()
        name = getattr(loss, "__name__", None)
        if callable(loss) and name and getattr(loss, "__module__", "").startswith("deeptrain"):
            return name
        raise NotImplementedError(f"compile: loss {loss!r} is not one of deeptrain's (a custom Python loss is not supported yet)")

    @staticmethod
    def _metric(metric):
        if isinstance(metric, str):
            return metric
        if isinstance(metric, metrics_module.Metric) or hasattr(metric, "_spec"):
            return metric._spec()
        raise NotImplementedError(f"compile: metric {metric!r} is not one of deeptrain's (a custom Python metric is not supported yet)")

    def _require_compiled(self):
        if self._compiled is None and not getattr(self, "_loaded_compiled", False):
            raise RuntimeError("You must call `compile()` before using the model.")

    # ----- data -----------------------------------------------------------------------------
    def _x(self, x, what="x"):
        if len(self._inputs) > 1:
            if isinstance(x, dict):
                x = [x[t.name] for t in self._inputs]
            if not isinstance(x, (list, tuple)) or len(x) != len(self._inputs):
                raise ValueError(f"{what}: a list of {len(self._inputs)} arrays, one per model input")
            parts = [np.asarray(a, dtype=np.float32).reshape(len(a), -1) for a in x]
            return np.ascontiguousarray(np.concatenate(parts, axis=1))
        if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
            x = x[0]
        if isinstance(x, dict):
            c.unsupported(what, "a dict of arrays for a model with one input")
        return c.as_float32(x, what)

    def _y(self, y, what="y"):
        if isinstance(y, (list, tuple)) and y and hasattr(y[0], "shape"):
            first = np.asarray(y[0])
            if len(self._outputs) > 1 and all(np.array_equal(first, np.asarray(o)) for o in y[1:]):
                y = first
            elif len(y) == 1:
                y = first
            else:
                c.unsupported(what, "different targets per output (every output trains against the same labels)")
        if isinstance(y, dict):
            c.unsupported(what, "a dict of targets")
        return c.as_float32(y, what)

    # ----- training -------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Trains with deeptrain's loop (the GIL released; Ctrl-C stops between two steps and
        raises KeyboardInterrupt, the weights those steps reached kept). Returns a History."""
        for arg, value, default in [("steps_per_epoch", steps_per_epoch, None), ("validation_steps", validation_steps, None), ("validation_batch_size", validation_batch_size, None), ("validation_freq", validation_freq, 1)]:
            c.only_default("fit", arg, value, default)
        if shuffle not in (True, False):
            c.unsupported("fit", f"shuffle={shuffle!r}")
        if x is None or y is None:
            c.unsupported("fit", "x or y None (a dataset or generator)")
        self._require_compiled()
        x = self._x(x)
        y = self._y(y)
        self._build_now(x.shape[1:])
        validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                c.unsupported("fit", "validation_data other than (x, y) or (x, y, sample_weight)")
            vx, vy = self._x(validation_data[0], "validation_data x"), self._y(validation_data[1], "validation_data y")
            vw = c.as_float32(validation_data[2], "validation sample_weight") if len(validation_data) == 3 and validation_data[2] is not None else None
            validation = (vx, vy, vw)
        weights = c.as_float32(sample_weight, "sample_weight") if sample_weight is not None else None
        class_weights = None
        if class_weight is not None:
            if not isinstance(class_weight, dict):
                raise ValueError("fit: class_weight is a dict {class index: weight}")
            # Classes left out weigh 1 (as a spec's class_weight table).
            main = self._layers.index(self._outputs[0]._layer) if self._outputs else len(self._layers) - 1
            units = int(np.prod(self._core.output_shapes()[main]))
            n = max([int(k) + 1 for k in class_weight] + [units])
            class_weights = [float(class_weight.get(i, 1.0)) for i in range(n)]
        python_callbacks, builtin, reports = [], [], []
        for cb in callbacks or []:
            if isinstance(cb, callbacks_module.Report):
                reports.append(cb)  # written after training: no Python during the steps
            elif isinstance(cb, callbacks_module._Builtin):
                builtin.append(cb._spec())
            elif isinstance(cb, callbacks_module.Callback):
                python_callbacks.append(cb)
            else:
                raise TypeError(f"fit: {cb!r} is not a keras.callbacks.Callback")
        verbose = 1 if verbose == "auto" else int(verbose)
        epochs, batch_size = int(epochs), c.batch_size("fit", batch_size)
        steps = -(-int(len(x) * (1 - validation_split if validation is None else 1)) // batch_size)
        dispatcher = None
        if python_callbacks:
            params = {"verbose": verbose, "epochs": epochs, "steps": steps}
            dispatcher = callbacks_module._Dispatcher(self, python_callbacks, params)
        self.stop_training = False
        optimizer = self.optimizer
        if optimizer is not None:
            optimizer._live = self._core.learning_rate()
        try:
            logs = self._core.fit(x, y, validation, epochs, batch_size, bool(shuffle), float(validation_split), int(initial_epoch), weights, class_weights, json.dumps(builtin), dispatcher, verbose, ".")
        except ValueError as e:
            raise c.engine_error("fit", e) from None
        finally:
            if optimizer is not None:
                pending, optimizer._live, optimizer._set = optimizer._set, None, None
                if pending is not None:
                    self._core.set_learning_rate(pending)
        history = callbacks_module.History()
        history.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
        plateau = any(isinstance(cb, callbacks_module.ReduceLROnPlateau) for cb in callbacks or [])
        history._record(logs, self, dispatcher.extras if dispatcher else None, learning_rate=plateau)
        self.history = history
        history._train_rows = int(len(x) * (1 - validation_split if validation is None else 1))
        history._validation = validation
        for report in reports:
            report._write(self, history, validation, history._train_rows)
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None, return_dict=False):
        c.only_default("evaluate", "steps", steps, None)
        c.only_default("evaluate", "callbacks", callbacks, None)
        self._require_compiled()
        x, y = self._x(x), self._y(y)
        self._build_now(x.shape[1:])
        w = c.as_float32(sample_weight, "sample_weight") if sample_weight is not None else None
        batch_size = c.batch_size("evaluate", batch_size)
        try:
            results = self._core.evaluate(x, y, batch_size, w)
        except ValueError as e:
            raise c.engine_error("evaluate", e) from None
        if return_dict:
            return dict(results)
        values = [v for _, v in results]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        c.only_default("predict", "steps", steps, None)
        c.only_default("predict", "callbacks", callbacks, None)
        if len(self._outputs) > 1:
            c.unsupported("predict", "a model with several outputs (it predicts the first)")
        batch_size = c.batch_size("predict", batch_size)
        x = self._x(x)
        self._build_now(x.shape[1:])
        try:
            return self._core.predict(x, batch_size)
        except ValueError as e:
            raise c.engine_error("predict", e) from None

    def __call__(self, x, training=False, mask=None):
        """The outputs for array ``x``; ``training=True`` keeps dropout on (MC dropout), each
        call drawing new masks."""
        if isinstance(x, KerasTensor):
            c.unsupported(self.name, "calling a model on a tensor (a model inside a model)")
        if mask is not None:
            c.unsupported(self.name, "mask=")
        if not training:
            return self.predict(x)
        x = self._x(x)
        self._build_now(x.shape[1:])
        return self._core.call_training(x, 32, next(_call_seeds))

    # ----- weights and files ----------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False, layer_range=None):
        text = self._require_built("summary").summary()
        (print_fn or print)(text)

    def count_params(self):
        trainable, frozen = self._require_built("count_params").count_params()
        return trainable + frozen

    def get_weights(self):
        """Every weight array, layer by layer (in a callback's ``on_epoch_end`` during ``fit``:
        as that epoch left them)."""
        return [w for layer in self._layer_weights("get_weights") for w in layer]

    def _layer_weights(self, what):
        live = getattr(self, "_epoch_weights", None)
        if live is not None:
            return live
        return self._require_built(what).get_weights()

    def set_weights(self, weights):
        core = self._require_built("set_weights")
        current = core.get_weights()
        flat = list(weights)
        total = sum(len(layer) for layer in current)
        if len(flat) != total:
            raise ValueError(f"set_weights: the model has {total} weight arrays, got {len(flat)}")
        it = iter(flat)
        core.set_weights([[np.ascontiguousarray(next(it), dtype=np.float32) for _ in layer] for layer in current])

    @property
    def weights(self):
        return self.get_weights()

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Saves the model into the directory ``filepath`` (deeptrain's model directory: spec,
        weights, optimizer; ``load_model`` and ``deeptrain predict`` read it)."""
        c.refuse("save", kwargs)
        self._require_built("save").save(str(filepath))

    def get_config(self):
        return {"name": self.name, "layers": [layer.get_config() for layer in self._layers]}


class Sequential(Model):
    """A stack of layers: ``Sequential([layers])`` and ``.add(layer)``."""

    def __init__(self, layers=None, trainable=True, name=None):
        self._init(name or c.unique_name("sequential"))
        for layer in layers or []:
            self.add(layer)
        self._build_now()

    def add(self, layer):
        if isinstance(layer, InputLayer):
            layer = layer._tensor
        if isinstance(layer, KerasTensor):
            if layer._layer is not None or self._layers:
                c.unsupported("Sequential.add", "a tensor other than a first keras.Input")
            self._input_shape = layer.shape[1:]
            return
        if isinstance(layer, Model):
            c.unsupported("Sequential.add", "a model as a layer (nested models)")
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: {layer!r} is not a keras layer")
        if any(l is layer for l in self._layers):
            raise ValueError(f"layer `{layer.name}` is already in this model")
        if not self._layers and layer._input_shape is not None:
            self._input_shape = layer._input_shape
        elif not self._layers and layer._model is not None and layer._model._core is not None:
            # A layer of a built model knows its input shape (Keras' Sequential(model.layers)).
            core, i = layer._model._core, layer._index
            self._input_shape = tuple(core.input_shape() if i == 0 else core.output_shapes()[i - 1])
        if self._core is None:
            self._layers.append(layer)
            return
        # A built model grows as in Keras: built again with the new layer, the weights of the
        # layers it had kept (the new one drawn from the model's seed).
        old = self._core
        kept = old.get_weights()
        self._core = None
        self._layers.append(layer)
        try:
            self._build_now()
        except Exception:
            self._layers.pop()
            self._core = old
            raise
        weights = self._core.get_weights()
        weights[: len(kept)] = kept
        self._core.set_weights(weights)

    def pop(self):
        if self._core is not None:
            c.unsupported("Sequential.pop", "removing a layer from a built model")
        return self._layers.pop()


def _from_core(core, name=None):
    """A Python model over an engine model (loaded or trained from a spec)."""
    model = Sequential(name=name or c.unique_name("sequential"))
    tables = json.loads(core.layers_json())
    info = core.layer_info()
    from . import layers as layers_module

    by_type = dict(python_layer._classes)
    for value in vars(layers_module).values():
        if isinstance(value, type) and issubclass(value, Layer) and value._type:
            by_type.setdefault(value._type, value)
    for table, (lname, _cls, _t, _f, trains) in zip(tables, info):
        table = dict(table)
        type_id = table.pop("type", None)
        table.pop("name", None)
        cls = by_type.get(type_id, Layer)
        layer = object.__new__(cls)
        layer._type, layer._class = type_id, cls._class
        layer._config = table
        layer.name = lname
        layer._trainable = trains
        layer._input_shape = None
        layer._model, layer._index = model, len(model._layers)
        model._layers.append(layer)
    model._core = core
    model._input_shape = tuple(core.input_shape())
    if core.learning_rate() is not None:
        model._loaded_compiled = True
        opt = optimizers_module.Optimizer.__new__(optimizers_module.Optimizer)
        opt._schedule, opt._lr, opt._kwargs = None, core.learning_rate(), {}
        opt._model, opt._live, opt._set = model, None, None
        model.optimizer = opt
    return model


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a model saved by ``model.save`` (or a ``deeptrain train`` run's ``model/``)."""
    if custom_objects:
        c.unsupported("load_model", "custom_objects")
    try:
        core = _core.Model.load(str(filepath))
    except ValueError as e:
        raise c.engine_error("load_model", e) from None
    return _from_core(core)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model of the same architecture with new weights (drawn from the session's seed),
    not compiled (Keras' ``clone_model``)."""
    for arg, value in [("input_tensors", input_tensors), ("clone_function", clone_function), ("call_function", call_function)]:
        c.only_default("clone_model", arg, value, None)
    c.refuse("clone_model", kwargs)
    core = model._require_built("clone_model")
    spec = {"seed": c.next_seed(), "layers": json.loads(core.layers_json())}
    if model._inputs:
        spec = dict(model._spec(), seed=spec["seed"])
        spec.pop("compile", None)
        spec.pop("optimizer", None)
        spec.pop("schedule", None)
    clone = _from_core(_core.Model.build(json.dumps(spec), list(core.input_shape()), False))
    clone._loaded_compiled = False
    clone.optimizer = None
    clone._seed = spec["seed"]
    return clone
