"""Keras 3's callbacks. Python subclasses of ``Callback`` run from deeptrain's training loop
(``on_{train,epoch,batch}_{begin,end}``, ``logs``, ``self.model.optimizer.learning_rate``,
``self.model.stop_training``); the built-in ones (``EarlyStopping``, ``ModelCheckpoint``,
``ReduceLROnPlateau``, ``CSVLogger``, ``TensorBoard``, ``TerminateOnNaN``) are deeptrain's own,
run in Rust; ``LearningRateScheduler`` and ``LambdaCallback`` are Python."""

from . import _common as c


class Callback:
    """Base class of Python callbacks, Keras' hooks. ``self.model`` is the model being trained,
    ``self.params`` holds ``epochs``, ``steps`` and ``verbose``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)


class History(Callback):
    """What ``fit`` returns: ``history`` (Keras' dict of lists per metric), ``epoch``,
    ``params``, ``model``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def _record(self, epochs, model, extras=None, learning_rate=False):
        """Appends the engine's epochs; ``extras``: {epoch: {key: value}} that Python callbacks
        added to an epoch's logs (as Keras' History sees them, being the last callback);
        ``learning_rate``: add the epoch's rate as the ``learning_rate`` entry (Keras 3's
        ReduceLROnPlateau puts it in the logs)."""
        self.model = model
        extras = extras or {}
        # Beyond Keras: each epoch's learning rate and wall-clock seconds, as the engine logs
        # them (the command's history.csv columns `lr` and `seconds`).
        self.learning_rates = getattr(self, "learning_rates", [])
        self.seconds = getattr(self, "seconds", [])
        for epoch, values, lr, seconds in epochs:
            self.epoch.append(epoch)
            self.learning_rates.append(lr)
            self.seconds.append(seconds)
            for name, value in values:
                self.history.setdefault(name, []).append(value)
            added = dict(extras.get(epoch, {}))
            if learning_rate:
                added.setdefault("learning_rate", lr)
            for name, value in added.items():
                self.history.setdefault(name, []).append(value)


class LearningRateScheduler(Callback):
    """Sets the rate to ``schedule(epoch, lr)`` at each epoch's start."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            new = float(self.schedule(epoch, lr))
        except TypeError:
            # Keras' older form: schedule(epoch).
            new = float(self.schedule(epoch))
        self.model.optimizer.learning_rate = new
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        # As Keras 3: the epoch's rate goes into the logs, hence into History.
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class LambdaCallback(Callback):
    """A callback from functions: ``on_epoch_end=lambda epoch, logs: ...``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        for key in ("on_batch_begin", "on_batch_end"):
            if key in kwargs:
                setattr(self, key, kwargs.pop(key))
        c.refuse("LambdaCallback", kwargs)
        for key, fn in [("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end), ("on_train_begin", on_train_begin), ("on_train_end", on_train_end), ("on_train_batch_begin", on_train_batch_begin), ("on_train_batch_end", on_train_batch_end)]:
            if fn is not None:
                setattr(self, key, fn)


class Report(Callback):
    """deeptrain's run report for a ``fit`` from Python: ``fit(..., callbacks=[Report(dir)])``
    writes into ``dir`` what ``deeptrain train`` writes for a run: ``history.csv``, ``plots/``
    (a curve per metric, with its validation twin), ``report.html`` (the model's spec and
    summary, final metrics, per-class table of a classifier on ``validation_data``, curves) and
    ``model/``. Written once training ends (no Python runs during the steps); ``paths`` lists
    the files. ``deeptrain.report(history, dir)`` does the same after the fact."""

    def __init__(self, directory, title=None):
        super().__init__()
        self.directory = str(directory)
        self.title = title
        self.paths = []

    def _write(self, model, history, validation=None, train_rows=0):
        import os

        from . import _common as common

        epochs = [
            (epoch, [(k, float(v[i])) for k, v in history.history.items() if k != "learning_rate"], float(lr), float(sec))
            for i, (epoch, lr, sec) in enumerate(zip(history.epoch, history.learning_rates, history.seconds))
        ]
        try:
            spec = model.to_toml()
        except ValueError as e:
            spec = f"# the model's spec could not be written: {e}"
        os.makedirs(self.directory, exist_ok=True)
        pair = None if validation is None else (validation[0], validation[1])
        title = self.title or f"deeptrain run: {model.name}"
        try:
            self.paths = model._require_built("report").write_report(
                self.directory, epochs, title, spec, float(sum(history.seconds)), int(train_rows), pair
            )
        except ValueError as e:
            raise common.engine_error("Report", e) from None
        return self.paths


class _Builtin:
    """A deeptrain callback (the spec's ``[[callbacks]]`` table), run inside the engine."""

    def _spec(self):
        return dict(self._table, verbose=bool(getattr(self, "_verbose", 0)))


def _mode(owner, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be auto, min or max, got {mode!r}")
    return mode


class EarlyStopping(_Builtin):
    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None, restore_best_weights=False, start_from_epoch=0):
        c.only_default("EarlyStopping", "baseline", baseline, None)
        c.only_default("EarlyStopping", "start_from_epoch", start_from_epoch, 0)
        self._verbose = verbose
        self._table = {
            "name": "early_stopping", "monitor": monitor, "min_delta": float(min_delta),
            "patience": int(patience), "mode": _mode("EarlyStopping", mode),
            "restore_best_weights": bool(restore_best_weights),
        }


class ModelCheckpoint(_Builtin):
    """Saves the model into the directory ``filepath`` (a deeptrain model directory, as
    ``model.save``) every epoch, or when ``monitor`` improves."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        c.only_default("ModelCheckpoint", "save_weights_only", save_weights_only, False)
        c.only_default("ModelCheckpoint", "save_freq", save_freq, "epoch")
        c.only_default("ModelCheckpoint", "initial_value_threshold", initial_value_threshold, None)
        if "{" in str(filepath):
            c.unsupported("ModelCheckpoint", "a formatted filepath ({epoch}, {val_loss})")
        self._verbose = verbose
        self._table = {
            "name": "model_checkpoint", "path": str(filepath), "monitor": monitor,
            "mode": _mode("ModelCheckpoint", mode), "save_best_only": bool(save_best_only),
        }


class ReduceLROnPlateau(_Builtin):
    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        c.refuse("ReduceLROnPlateau", kwargs)
        self._verbose = verbose
        self._table = {
            "name": "reduce_lr_on_plateau", "monitor": monitor, "factor": float(factor),
            "patience": int(patience), "mode": _mode("ReduceLROnPlateau", mode),
            "min_delta": float(min_delta), "cooldown": int(cooldown), "min_lr": float(min_lr),
        }


class CSVLogger(_Builtin):
    def __init__(self, filename, separator=",", append=False):
        c.only_default("CSVLogger", "separator", separator, ",")
        self._table = {"name": "csv_logger", "filename": str(filename), "append": bool(append)}


class TensorBoard(_Builtin):
    """Event files under ``log_dir`` (scalars every epoch; histograms every
    ``histogram_freq`` epochs)."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False, write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0, embeddings_metadata=None):
        c.only_default("TensorBoard", "write_images", write_images, False)
        c.only_default("TensorBoard", "write_steps_per_second", write_steps_per_second, False)
        c.only_default("TensorBoard", "update_freq", update_freq, "epoch")
        c.only_default("TensorBoard", "profile_batch", profile_batch, 0)
        c.only_default("TensorBoard", "embeddings_freq", embeddings_freq, 0)
        self._table = {"name": "tensorboard", "log_dir": str(log_dir), "histogram_freq": int(histogram_freq)}


class TerminateOnNaN(_Builtin):
    def __init__(self):
        self._table = {"name": "terminate_on_nan"}


def _overrides(cb, *hooks):
    """Whether ``cb`` has its own version of one of ``hooks`` (a subclass's method, or a
    function set on the instance as ``LambdaCallback`` does), not ``Callback``'s no-op."""
    return any(getattr(getattr(cb, h), "__func__", None) is not getattr(Callback, h) for h in hooks)


class _Dispatcher:
    """The engine's events to the Python callbacks; each call answers (the learning rate a
    callback set, or None; whether ``model.stop_training`` is set)."""

    def __init__(self, model, callbacks, params):
        self.model = model
        self.callbacks = callbacks
        self.optimizer = model.optimizer
        self.extras = {}  # {epoch: {key: value}} the callbacks added to the logs
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(params)
        # The engine calls back per step only for what some callback overrides: without
        # per-batch hooks, training from Python takes no GIL and builds no logs per step.
        self.wants_batch_begin = any(_overrides(cb, "on_batch_begin", "on_train_batch_begin") for cb in callbacks)
        self.wants_batch_end = any(_overrides(cb, "on_batch_end", "on_train_batch_end") for cb in callbacks)

    def _reply(self):
        lr, self.optimizer._set = self.optimizer._set, None
        return lr, bool(self.model.stop_training)

    def train_begin(self, epochs, steps):
        for cb in self.callbacks:
            cb.params["steps"] = steps
            cb.on_train_begin({})
        return self._reply()

    def epoch_begin(self, epoch):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, {})
        return self._reply()

    def batch_begin(self, step, lr):
        self.optimizer._live = lr
        for cb in self.callbacks:
            cb.on_train_batch_begin(step, {})
        return self._reply()

    def batch_end(self, step, logs):
        for cb in self.callbacks:
            cb.on_train_batch_end(step, logs)
        return self._reply()

    def epoch_end(self, epoch, logs, lr, weights):
        self.optimizer._live = lr
        self.model._epoch_weights = weights
        engine_keys = set(logs)
        try:
            for cb in self.callbacks:
                cb.on_epoch_end(epoch, logs)
        finally:
            self.model._epoch_weights = None
        added = {k: v for k, v in logs.items() if k not in engine_keys}
        if added:
            self.extras[epoch] = added
        return self._reply()

    def train_end(self):
        for cb in self.callbacks:
            cb.on_train_end({})
        return self._reply()


def __getattr__(name):
    if name in ("ProgbarLogger", "BackupAndRestore", "RemoteMonitor", "SwapEMAWeights"):
        raise NotImplementedError(f"keras.callbacks.{name} is not supported by deeptrain yet")
    raise AttributeError(f"module 'deeptrain.keras.callbacks' has no attribute {name!r}")
