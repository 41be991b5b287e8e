"""Keras' weight initializers, by name (``kernel_initializer="he_normal"``) or as objects.

Each returns a NumPy array of the shape in Keras' layout (``(in, out)`` for a Dense kernel,
``(kh, kw, in, out)`` for a Conv2D kernel), so fans are counted as Keras counts them; layers convert it to
their minidl layout. Draws come from minidl's seeded generator (``md.keras.utils.set_random_seed``), or from
``seed`` when one is given.

Example:
    >>> md.keras.initializers.get("glorot_uniform")((784, 64)).shape
    (784, 64)
"""
import math

import numpy as np

from ..random import generator
from ._config import from_registry
from .backend import floatx


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns a NumPy array."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    def _rng(self):
        seed = getattr(self, "seed", None)
        return generator() if seed is None else np.random.default_rng(seed)


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype or floatx())


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype or floatx())


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype or floatx())

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, shape).astype(dtype or floatx())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _truncated(rng, shape, stddev):
    """N(0, stddev) redrawn until inside two standard deviations, as Keras' truncated normal."""
    out = rng.normal(0.0, 1.0, shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(out) > 2
    return out * stddev


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype=None):
        return (self.mean + _truncated(self._rng(), shape, self.stddev)).astype(dtype or floatx())


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype or floatx())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(Initializer):
    """Variance ``scale / fan`` (``mode``: fan_in, fan_out, fan_avg) from a truncated normal, an untruncated
    normal or a uniform ``distribution``: the family behind glorot_*, he_* and lecun_*."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` argument: {mode!r}. Expected one of fan_in, fan_out, fan_avg")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform", "normal"):
            raise ValueError(f"Invalid `distribution` argument: {distribution!r}")
        if scale <= 0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = self._rng()
        if self.distribution in ("truncated_normal", "normal"):
            # 0.8796...: the standard deviation of a unit normal truncated to [-2, 2]
            out = _truncated(rng, shape, math.sqrt(variance) / 0.87962566103423978)
        elif self.distribution == "untruncated_normal":
            out = rng.normal(0.0, math.sqrt(variance), shape)
        else:
            limit = math.sqrt(3.0 * variance)
            out = rng.uniform(-limit, limit, shape)
        return out.astype(dtype or floatx())

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _scaled(name, scale, mode, distribution):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, "
                                                      f"distribution={distribution!r})."})


GlorotUniform = _scaled("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaled("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _scaled("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _scaled("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _scaled("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _scaled("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """An orthogonal matrix (QR of a normal draw) times ``gain``; Keras' default for recurrent kernels."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))            # makes the draw uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype or floatx())

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. Received: shape={shape}")
        return (self.gain * np.eye(*shape)).astype(dtype or floatx())

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, RandomNormal, TruncatedNormal, RandomUniform,
                                     VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
                                     LecunNormal, Orthogonal, Identity)}
_NAMES = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
          "truncated_normal": TruncatedNormal, "random_uniform": RandomUniform, "uniform": RandomUniform,
          "normal": RandomNormal, "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
          "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
          "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal, "identity": Identity}


def get(identifier):
    """An Initializer from a name (``"he_normal"``), a config dict, an Initializer, or a callable ``f(shape, dtype)``.

    Example:
        >>> md.keras.initializers.get("he_normal")
    """
    if isinstance(identifier, str):
        key = identifier if identifier in _NAMES else identifier.lower()
        if key in _NAMES:
            return _NAMES[key]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
    elif isinstance(identifier, dict):
        return from_registry(_CLASSES, identifier, "initializer")
    elif isinstance(identifier, type) and issubclass(identifier, Initializer):    # a class, as Keras accepts
        return identifier()
    elif isinstance(identifier, Initializer) or callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r} (known: {', '.join(sorted(_NAMES))})")


def serialize(init):
    if not isinstance(init, Initializer) or type(init).__name__ not in _CLASSES:
        raise ValueError(f"Cannot save a model with the custom initializer {init!r}")
    return {"class_name": type(init).__name__, "config": init.get_config()}

# --- issue 15 campaign: Keras' lower-case aliases of the initializer classes (keras.initializers.he_normal()) ---
constant, glorot_normal, glorot_uniform = Constant, GlorotNormal, GlorotUniform
he_normal, he_uniform = HeNormal, HeUniform
identity, lecun_normal, lecun_uniform, ones, orthogonal = Identity, LecunNormal, LecunUniform, Ones, Orthogonal
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, zeros = VarianceScaling, Zeros
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal
