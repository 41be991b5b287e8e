"""``Normal``: the Gaussian, with reparameterized samples (VAEs, Gaussian policies)."""
import math

from ..ops import erf, log
from .distribution import LOG_SQRT_2PI, LocScale
from .utils import draw

__all__ = ["Normal"]


class Normal(LocScale):
    """N(loc, scale**2) over a batch of broadcast ``loc`` and ``scale`` (tensors or numbers), as
    ``torch.distributions.Normal``; ``rsample`` is ``loc + scale * eps`` with eps ~ N(0, 1), differentiable in both.

    Example:
        >>> d = md.distributions.Normal(md.zeros(2), md.ones(2))
        >>> d.log_prob(md.zeros(2))
        tensor([-0.9189385, -0.9189385])
    """
    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale ** 2

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = draw(lambda rng, s: rng.standard_normal(s), shape, self.loc)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -((value - self.loc) ** 2) / (2 * self.scale ** 2) - log(self.scale) - LOG_SQRT_2PI

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def entropy(self):
        return 0.5 + LOG_SQRT_2PI + log(self.scale)
