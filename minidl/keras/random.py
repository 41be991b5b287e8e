"""``md.keras.random``: Keras 3's random ops on minidl's generator.

Each function takes ``seed=``: ``None`` draws from minidl's global generator (``md.manual_seed`` /
``keras.utils.set_random_seed`` make runs repeatable), an int gives the same draw every call, and a
``SeedGenerator`` gives a new draw each call that repeats from the generator's seed.

Example:
    >>> gen = md.keras.random.SeedGenerator(42)
    >>> x = md.keras.random.normal((2, 3), seed=gen)
"""
import numpy as np

from .. import random as md_random
from ..tensor import Tensor
from . import backend
from .ops import _dtype, convert_to_numpy, convert_to_tensor

__all__ = ["SeedGenerator", "dropout", "normal", "randint", "shuffle", "truncated_normal", "uniform"]


class SeedGenerator:
    """A seeded random state: each draw that takes it as ``seed=`` advances it, so a model's draws differ call by call
    yet a new ``SeedGenerator`` with the same seed replays them.

    Example:
        >>> a = md.keras.random.uniform((3,), seed=md.keras.random.SeedGenerator(1))
        >>> b = md.keras.random.uniform((3,), seed=md.keras.random.SeedGenerator(1))   # a == b
    """

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"SeedGenerator: seed must be an int or None, got {seed!r}")
        self.name = name or backend.unique_name("seed_generator")
        self.seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
        self._rng = np.random.default_rng(self.seed)

    def next(self):
        """A fresh NumPy generator for one draw (the state advances)."""
        return np.random.default_rng(self._rng.integers(0, 2**63))

    def get_config(self):
        return {"seed": self.seed}


def _rng(seed):
    if seed is None:
        return md_random.generator()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise ValueError(f"keras.random: seed must be None, an int or a SeedGenerator, got {seed!r}")


def _shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def _out(array, dtype):
    name = _dtype(dtype or backend.floatx()).name
    return Tensor._wrap(np.array(array, dtype=name, order="C"))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from a normal distribution N(``mean``, ``stddev``²).

    Example:
        >>> md.keras.random.normal((2, 3), stddev=0.1, seed=0).shape   # (2, 3)
    """
    return _out(_rng(seed).normal(mean, stddev, _shape(shape)), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Draws from the uniform distribution on [``minval``, ``maxval``).

    Example:
        >>> md.keras.random.uniform((4,), -1.0, 1.0, seed=SeedGenerator(0))
    """
    return _out(_rng(seed).uniform(minval, maxval, _shape(shape)), dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers drawn uniformly from [``minval``, ``maxval``).

    Example:
        >>> md.keras.random.randint((5,), 0, 10, seed=1)   # int32 in 0..9
    """
    if maxval <= minval:
        raise ValueError(f"keras.random.randint: maxval ({maxval}) must be above minval ({minval})")
    return _out(_rng(seed).integers(minval, maxval, _shape(shape)), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal draws kept within two standard deviations of the mean (values outside are redrawn), as Keras.

    Example:
        >>> md.keras.random.truncated_normal((3, 3), stddev=0.05, seed=2)
    """
    rng, shape = _rng(seed), _shape(shape)
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return _out(mean + stddev * z, dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero each value with probability ``rate`` and scale the rest by ``1 / (1 - rate)`` (differentiable in
    ``inputs``); ``noise_shape`` broadcasts one mask along axes of size 1.

    Example:
        >>> md.keras.random.dropout(md.ones(4), 0.5, seed=0)   # each value 0. or 2.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"keras.random.dropout: rate must be in [0, 1), got {rate}")
    x = convert_to_tensor(inputs)
    shape = tuple(x.shape) if noise_shape is None else tuple(
        x.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    keep = (_rng(seed).random(shape) >= rate).astype(x.dtype.name) / (1.0 - rate)
    return x * Tensor._wrap(np.array(keep, dtype=x.dtype.name, order="C"))


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a random order.

    Example:
        >>> md.keras.random.shuffle(np.arange(5), seed=0)   # a permutation of 0..4
    """
    x = convert_to_tensor(x)
    order = _rng(seed).permutation(x.shape[axis])
    return Tensor._wrap(np.array(np.take(convert_to_numpy(x), order, axis=axis), order="C"))
