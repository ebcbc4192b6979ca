"""Keras 3's initializers over deeptrain's (``kernel_initializer=``): ids or objects."""

from . import _common as c


class Initializer:
    _id = None

    def __init__(self, seed=None, **kwargs):
        owner = type(self).__name__
        if seed is not None:
            c.unsupported(owner, "`seed` (deeptrain draws every weight from the model's seed: keras.utils.set_random_seed)")
        self._kwargs = {k: c.spec_value(owner, k, v) for k, v in kwargs.items() if v is not None}

    def _spec(self):
        return dict(name=self._id, **self._kwargs) if self._kwargs else self._id

    def get_config(self):
        return dict(self._kwargs)


def _init(name, id_, params=()):
    def __init__(self, *args, **kwargs):
        for key, value in zip(params, args):
            kwargs[key] = value
        Initializer.__init__(self, **kwargs)

    return type(name, (Initializer,), {"__init__": __init__, "_id": id_, "__doc__": f"Keras' ``{name}``."})


Zeros = _init("Zeros", "zeros")
Ones = _init("Ones", "ones")
Constant = _init("Constant", "constant", ("value",))
RandomNormal = _init("RandomNormal", "random_normal", ("mean", "stddev"))
RandomUniform = _init("RandomUniform", "random_uniform", ("minval", "maxval"))
TruncatedNormal = _init("TruncatedNormal", "truncated_normal", ("mean", "stddev"))
VarianceScaling = _init("VarianceScaling", "variance_scaling", ("scale", "mode", "distribution"))
Orthogonal = _init("Orthogonal", "orthogonal", ("gain",))
GlorotUniform = _init("GlorotUniform", "glorot_uniform")
GlorotNormal = _init("GlorotNormal", "glorot_normal")
HeUniform = _init("HeUniform", "he_uniform")
HeNormal = _init("HeNormal", "he_normal")
LecunUniform = _init("LecunUniform", "lecun_uniform")
LecunNormal = _init("LecunNormal", "lecun_normal")
