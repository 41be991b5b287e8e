"""``LogNormal``: ``exp`` of a Normal."""
from ..ops import exp, log
from ..tensor_api.math_more import expm1
from . import constraints
from .distribution import Distribution
from .normal import Normal

__all__ = ["LogNormal"]


class LogNormal(Distribution):
    """The distribution of ``exp(X)`` for X ~ Normal(loc, scale), as ``torch.distributions.LogNormal`` (``loc`` and
    ``scale`` are X's; ``base_dist`` is that Normal); ``rsample`` is ``exp`` of the Normal's.

    Example:
        >>> md.distributions.LogNormal(0.0, 1.0).log_prob(md.tensor(1.0))
        tensor(-0.9189385)
    """
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.base_dist = Normal(loc, scale, validate_args=validate_args)
        self.loc, self.scale = self.base_dist.loc, self.base_dist.scale
        super().__init__(self.base_dist.batch_shape, (), validate_args)

    @property
    def mean(self):
        return exp(self.loc + self.scale ** 2 / 2)

    @property
    def mode(self):
        return exp(self.loc - self.scale ** 2)

    @property
    def variance(self):
        s2 = self.scale ** 2
        return expm1(s2) * exp(2 * self.loc + s2)

    def rsample(self, sample_shape=()):
        return exp(self.base_dist.rsample(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = log(value)
        return self.base_dist.log_prob(y) - y

    def cdf(self, value):
        return self.base_dist.cdf(log(value))

    def entropy(self):
        return self.base_dist.entropy() + self.loc
