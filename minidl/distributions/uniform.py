"""``Uniform``: constant density on [low, high)."""
import math

from ..ops import log, where
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, draw

__all__ = ["Uniform"]


class Uniform(Distribution):
    """The uniform distribution on [low, high) (broadcast tensors or numbers), as ``torch.distributions.Uniform``;
    ``rsample`` is ``low + u * (high - low)``, differentiable in both bounds.

    Example:
        >>> md.distributions.Uniform(0.0, 4.0).log_prob(md.tensor(1.0))
        tensor(-1.3862944)
    """
    arg_constraints = {"low": constraints.real, "high": constraints.real}
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        super().__init__(self.low.shape, (), validate_args)
        if self._validate_args and not bool((self.low.array < self.high.array).all()):
            raise ValueError(f"Expected parameter low (Tensor of shape {tuple(self.low.shape)}) of distribution "
                             f"{self!r} to satisfy the constraint LessThan(upper_bound=high), but found invalid "
                             f"values:\n{self.low}")

    @property
    def support(self):
        return constraints.half_open_interval(self.low, self.high)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return self.low * float("nan")

    @property
    def stddev(self):
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self):
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = draw(lambda rng, s: rng.random(s), shape, self.low)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        inside = (self.low <= value) & (self.high > value)
        density = -log(self.high - self.low)
        return where(inside, density, Tensor._wrap(density._xp.asarray(-math.inf, dtype=density.array.dtype)))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return log(self.high - self.low)
