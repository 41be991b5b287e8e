"""``Exponential``: waiting times with a constant ``rate``."""
from ..ops import exp, log
from ..tensor_api.math_more import log1p
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, draw

__all__ = ["Exponential"]


class Exponential(Distribution):
    """Density ``rate * exp(-rate * x)`` on x >= 0, as ``torch.distributions.Exponential``; ``rsample`` is
    ``e / rate`` with e a standard exponential draw, differentiable in ``rate``.

    Example:
        >>> md.distributions.Exponential(md.tensor([2.0])).mean
        tensor([0.5])
    """
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, (), validate_args)

    @property
    def mean(self):
        return 1 / self.rate

    @property
    def mode(self):
        return self.rate * 0

    @property
    def stddev(self):
        return 1 / self.rate

    @property
    def variance(self):
        return self.rate ** -2

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return draw(lambda rng, s: rng.standard_exponential(s), shape, self.rate) / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return log(self.rate) - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - exp(-self.rate * value)

    def icdf(self, value):
        return -log1p(-value) / self.rate

    def entropy(self):
        return 1.0 - log(self.rate)
