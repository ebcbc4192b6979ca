"""deeptrain from Python: the Rust engine (``deeptrain._core``) and Keras 3's names over it
(``from deeptrain import keras``).

- ``deeptrain.train("spec.toml")`` trains a spec file as ``deeptrain train`` does and returns
  ``(history, model)``.
- ``deeptrain.prepare("spec.toml")`` gives the spec's data as the command prepares it.
- ``deeptrain.diagnose("spec.toml")`` or ``deeptrain.diagnose(model, x, y)``: the command's
  diagnosis, its verdicts as objects.
- ``deeptrain.report(history, dir)``: the run report (history.csv, plots, report.html,
  model) of a finished ``fit``, as ``deeptrain train`` writes it.
- ``deeptrain.lr_find(model, x, y)``: the learning-rate range test, with its suggested rate.
- ``deeptrain.keras``: Sequential and functional models, layers, optimizers, schedules,
  callbacks, ``fit``/``evaluate``/``predict``, saving, datasets.
- ``deeptrain.random.set_seed``: TensorFlow's ``tf.random.set_seed``, so that code written as
  ``import tensorflow as tf`` ... ``tf.keras.layers.Dense(...)`` runs as ``import deeptrain as tf``.
"""

from . import _core
from ._core import __version__, num_threads, set_num_threads
from .diagnosis import Diagnosis, Verdict, diagnose
from .lr_find import LrFind, lr_find

__all__ = ["random", "report", "train", "prepare", "diagnose", "Diagnosis", "Verdict", "lr_find", "LrFind", "keras", "set_num_threads", "num_threads", "__version__"]


def train(path, verbose=0):
    """Trains the spec file at ``path`` as ``deeptrain train`` does (data, model, optimizer,
    schedule, early stopping; the files the command writes are left to it). Returns
    ``(history, model)``: a Keras ``History`` and a ``deeptrain.keras.Model``."""
    from .keras import callbacks as _callbacks
    from .keras import models as _models

    epochs, core = _core.train(str(path), int(verbose))
    model = _models._from_core(core)
    history = _callbacks.History()
    history._record(epochs, model)
    return history, model


def report(history, directory, validation_data=None, title=None):
    """Writes the run report of a finished ``fit`` (its ``History``) into ``directory``:
    ``history.csv``, ``plots/``, ``report.html`` and ``model/``, as ``deeptrain train`` writes
    them (the ``keras.callbacks.Report`` callback does it during ``fit``), the model as it is
    now. ``validation_data``: ``(x, y)`` to evaluate on (default: the fit's own). Returns the
    paths."""
    from .keras import callbacks as _callbacks

    if history.model is None:
        raise ValueError("report: the History of a fit (model.fit's return value)")
    rows = getattr(history, "_train_rows", 0)
    if validation_data is None:
        validation_data = getattr(history, "_validation", None)
    return _callbacks.Report(directory, title)._write(history.model, history, validation_data, rows)


def prepare(path):
    """The data of the spec file at ``path`` as ``deeptrain train`` prepares it (split and
    scaled): ``((x_train, y_train), (x_val, y_val) or None, (x_test, y_test) or None)``,
    float32 arrays."""
    return _core.prepare(str(path))


from . import keras  # noqa: E402
from . import random  # noqa: E402
