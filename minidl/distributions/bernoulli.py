"""``Bernoulli``: a 0/1 outcome per batch entry, given its probability or log-odds."""
from ..tensor_api.math_more import log1p
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, lazy_property
from .utils import broadcast_all, draw, logits_to_probs, probs_to_logits

__all__ = ["Bernoulli"]


def _bce_with_logits(logits, target):
    """-(target log sigmoid(x) + (1 - target) log(1 - sigmoid(x))), stable for large |x|."""
    return logits.clamp(min=0) - logits * target + log1p((-logits.abs()).exp())


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), else 0, as ``torch.distributions.Bernoulli``;
    samples are floats of the parameter's dtype.

    Example:
        >>> d = md.distributions.Bernoulli(probs=md.tensor([0.2, 0.9]))
        >>> d.log_prob(md.tensor([0., 1.]))
        tensor([-0.22314355, -0.10536054])
    """
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            self._param = self.probs
        else:
            (self.logits,) = broadcast_all(logits)
            self._param = self.logits
        super().__init__(self._param.shape, (), validate_args)

    @lazy_property
    def logits(self):
        """Log-odds log(p) - log(1 - p) (p clamped to [eps, 1 - eps])."""
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        p = self.probs
        m = (p >= 0.5).to(p.dtype)
        return m.masked_fill(p == 0.5, float("nan"))

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        p = self.probs.detach()
        u = draw(lambda rng, s: rng.random(s), shape, p)
        return Tensor._wrap((u.array < p._xp.broadcast_to(p.array, shape)).astype(p.array.dtype))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -_bce_with_logits(logits, value)

    def entropy(self):
        return _bce_with_logits(self.logits, self.probs)

    def enumerate_support(self, expand=True):
        xp, dt = self._param._xp, self._param.array.dtype
        values = xp.arange(2, dtype=dt).reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = xp.broadcast_to(values, (2,) + self._batch_shape)
        return Tensor._wrap(xp.ascontiguousarray(values))
