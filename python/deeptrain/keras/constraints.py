"""Keras 3's ``MaxNorm`` weight constraint (deeptrain's ``{ max_norm }``)."""

from . import _common as c


class MaxNorm:
    def __init__(self, max_value=2.0, axis=0):
        c.only_default("MaxNorm", "axis", axis, 0)
        self.max_value = float(max_value)

    def _spec(self):
        return {"max_norm": self.max_value}


max_norm = MaxNorm
