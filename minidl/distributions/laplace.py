"""``Laplace``: the double-exponential distribution around ``loc``."""
import math

import numpy as np

from ..ops import log
from ..tensor_api.math_more import expm1, log1p
from .distribution import LocScale
from .utils import draw

__all__ = ["Laplace"]


class Laplace(LocScale):
    """Density ``exp(-|x - loc| / scale) / (2 scale)``, as ``torch.distributions.Laplace``; ``rsample`` inverts the
    CDF at a uniform draw, differentiable in ``loc`` and ``scale``.

    Example:
        >>> md.distributions.Laplace(0.0, 1.0).log_prob(md.tensor(0.0))
        tensor(-0.6931472)
    """
    @property
    def stddev(self):
        return math.sqrt(2) * self.scale

    @property
    def variance(self):
        return 2 * self.scale ** 2

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = float(np.finfo(self.loc.array.dtype).eps)
        u = draw(lambda rng, s: rng.uniform(-1 + eps, 1, s), shape, self.loc)
        return self.loc - self.scale * u.sign() * log1p(-u.abs())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -log(2 * self.scale) - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        d = value - self.loc
        return 0.5 - 0.5 * d.sign() * expm1(-d.abs() / self.scale)

    def entropy(self):
        return 1 + log(2 * self.scale)
