"""Keras 3's learning-rate schedules over deeptrain's ``[schedule]`` (stepped per optimizer
step, as Keras)."""

from .. import _common as c


class LearningRateSchedule:
    """A deeptrain schedule under its Keras name."""

    def _initial(self):
        return self._spec_table.get("initial_learning_rate", 0.001)

    def _spec(self):
        return dict(self._spec_table)

    def get_config(self):
        return dict(self._spec_table)


class ExponentialDecay(LearningRateSchedule):
    """η₀ · r^(t/s) (``staircase``: t/s floored)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self._spec_table = {
            "name": "exponential", "initial_learning_rate": float(initial_learning_rate),
            "decay_steps": float(decay_steps), "decay_rate": float(decay_rate), "staircase": bool(staircase),
        }


class InverseTimeDecay(LearningRateSchedule):
    """η₀ / (1 + r·t/s) (deeptrain's power schedule with power 1)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self._spec_table = {
            "name": "power", "initial_learning_rate": float(initial_learning_rate),
            "decay_steps": float(decay_steps), "decay_rate": float(decay_rate), "power": 1.0,
            "staircase": bool(staircase),
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` until step ``boundaries[i]``."""

    def __init__(self, boundaries, values, name=None):
        self._spec_table = {
            "name": "piecewise_constant", "boundaries": [float(b) for b in boundaries],
            "values": [float(v) for v in values],
        }

    def _initial(self):
        return self._spec_table["values"][0]


class CosineDecay(LearningRateSchedule):
    """Cosine decay over ``decay_steps`` to ``alpha``·η₀, after an optional linear warm-up."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None, warmup_steps=0):
        table = {
            "name": "cosine", "initial_learning_rate": float(initial_learning_rate),
            "decay_steps": float(decay_steps), "alpha": float(alpha), "warmup_steps": float(warmup_steps),
        }
        if warmup_target is not None:
            table["warmup_target"] = float(warmup_target)
        self._spec_table = table


def __getattr__(name):
    if name in ("PolynomialDecay", "CosineDecayRestarts"):
        raise NotImplementedError(f"keras.optimizers.schedules.{name} is not supported by deeptrain yet")
    raise AttributeError(f"module 'deeptrain.keras.optimizers.schedules' has no attribute {name!r}")
