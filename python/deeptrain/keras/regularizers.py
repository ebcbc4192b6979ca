"""Keras 3's weight regularizers: ``l1``, ``l2``, ``l1_l2`` (deeptrain's ``{ l1, l2 }``)."""


class Regularizer:
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def _spec(self):
        spec = {}
        if self.l1:
            spec["l1"] = self.l1
        if self.l2:
            spec["l2"] = self.l2
        return spec

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    def __init__(self, l1=0.01):
        Regularizer.__init__(self, l1=l1)


class L2(Regularizer):
    def __init__(self, l2=0.01):
        Regularizer.__init__(self, l2=l2)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        Regularizer.__init__(self, l1=l1, l2=l2)


l1, l2, l1_l2 = L1, L2, L1L2
