"""``deeptrain.diagnose``: the command's diagnosis (``deeptrain diagnose``) from Python, its
verdicts as objects."""

import json
import os
import tempfile

import numpy as np

from . import _core

_HEALTHY = ("healthy", "healthy_gradients", "self_normalizing")


class Verdict:
    """One finding: ``id`` (stable: ``vanishing_gradients``, ``dead_relus``, ``healthy``, ...),
    the ``layer`` it concerns (or None), the ``evidence`` with its numbers, and the ``fix``."""

    def __init__(self, id, layer, evidence, fix):
        self.id, self.layer, self.evidence, self.fix = id, layer, evidence, fix

    @property
    def healthy(self):
        return self.id in _HEALTHY

    def __repr__(self):
        where = f" in {self.layer}" if self.layer else ""
        return f"<Verdict {self.id}{where}: {self.evidence}>"


class Diagnosis:
    """What a diagnosis found: ``verdicts`` (problems, or one ``healthy``), ``warnings`` (id,
    message), ``instruments`` (loss curve, curvature, gradient noise, distances), ``steps``."""

    def __init__(self, data):
        self.json = data
        self.steps = data["steps"]
        self.verdicts = [Verdict(v["id"], v.get("layer"), v["evidence"], v["fix"]) for v in data["verdicts"]]
        self.warnings = [(w["id"], w["message"]) for w in data["warnings"]]
        self.instruments = data["instruments"]

    @property
    def healthy(self):
        return all(v.healthy for v in self.verdicts)

    @property
    def ids(self):
        return [v.id for v in self.verdicts]

    def __repr__(self):
        return f"<Diagnosis after {self.steps} steps: {', '.join(self.ids)}>"


def diagnose(target, x=None, y=None, steps=100, every=None, batch_size=32):
    """Diagnoses a spec file (``diagnose("spec.toml")``, as ``deeptrain diagnose``) or a
    compiled, untrained ``deeptrain.keras`` model on ``(x, y)``: a short run of exactly
    ``steps`` steps with every instrument on, from the model's seed (the model object itself is
    left as it is), then the verdicts."""
    if isinstance(target, (str, os.PathLike)):
        if x is not None or y is not None:
            raise ValueError("diagnose: a spec file brings its own data; give x and y with a model")
        return Diagnosis(json.loads(_core.diagnose(str(target), int(steps), every)))
    from .keras.models import Model

    if not isinstance(target, Model):
        raise TypeError(f"diagnose: a spec file or a deeptrain.keras model, not {target!r}")
    if x is None or y is None:
        raise ValueError("diagnose: give the training data x and y")
    target._require_compiled()
    if target.optimizer.iterations > 0 or getattr(target, "_loaded_compiled", False):
        raise NotImplementedError(
            "diagnose: the model has trained (or was loaded); deeptrain diagnoses a model from its "
            "seed: diagnose before fit, or diagnose its spec"
        )
    x = target._x(x)
    y = target._y(y)
    target._build_now(x.shape[1:])
    spec = target._spec()
    with tempfile.TemporaryDirectory() as tmp:
        features, labels = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(features, x)
        np.save(labels, y)
        data = dict(spec.get("data", {}))
        data.update({"dataset": features, "labels": labels, "scale": "none", "validation_split": 0.0})
        spec["data"] = data
        spec["fit"] = {"batch_size": int(batch_size), "epochs": 1}
        return Diagnosis(json.loads(_core.diagnose(json.dumps(spec), int(steps), every, json=True)))
