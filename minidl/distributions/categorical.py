"""``Categorical``: one of K classes per batch entry, given probabilities or logits."""
from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, lazy_property
from .utils import draw, logits_to_probs, probs_to_logits

__all__ = ["Categorical"]


class Categorical(Distribution):
    """Class indices 0..K-1 with probabilities ``probs`` (normalized over the last dim) or ``logits`` (normalized to
    log-probabilities), as ``torch.distributions.Categorical``: ``sample()`` gives int64 indices of shape
    ``sample_shape + batch_shape``.

    Example:
        >>> d = md.distributions.Categorical(logits=md.zeros(4, 3))
        >>> d.log_prob(d.sample()).shape
        (4,)
    """
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        param = probs if probs is not None else logits
        if not isinstance(param, Tensor):
            raise TypeError(f"Categorical: probs/logits must be a Tensor, got {type(param).__name__}")
        if param.ndim < 1:
            raise ValueError(f"Categorical: `probs`/`logits` parameter must be at least one-dimensional, got shape "
                             f"{param.shape}")
        if not param.dtype.is_floating_point:
            raise TypeError(f"Categorical: probs/logits must be floating, got {param.dtype.name}")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = param.shape[-1]
        super().__init__(param.shape[:-1], (), validate_args)

    @lazy_property
    def logits(self):
        """Log-probabilities (probabilities clamped to [eps, 1 - eps] first)."""
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        """Probabilities, summing to 1 over the last dim."""
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def mean(self):
        return _full(self, float("nan"))

    @property
    def variance(self):
        return _full(self, float("nan"))

    @property
    def mode(self):
        return self.probs.argmax(-1)

    def sample(self, sample_shape=()):
        """Indices drawn by inverting each row's cumulative probabilities with uniforms from minidl's generator."""
        shape = self._extended_shape(sample_shape)
        with no_grad():
            p = self.probs.detach()
            xp = p._xp
            cdf = xp.cumsum(p.array, axis=-1)
            u = draw(lambda rng, s: rng.random(s), shape, p).array * cdf[..., -1]    # scaled: rounding in the sum
            idx = (u[..., None] >= cdf).sum(axis=-1)
            return Tensor._wrap(xp.minimum(idx, self._num_events - 1).astype(xp.int64))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        shape = _broadcast(value.shape[:-1], self.logits.shape[:-1])
        logits = self.logits.expand(*shape, self._num_events)
        return logits.gather(-1, value.expand(*shape, 1)).squeeze(-1)

    def entropy(self):
        logits = self.logits.clamp(min=dtypes.finfo(self.logits.dtype).min)     # -inf logits count as 0 * log 0 = 0
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        xp = self._param._xp
        values = xp.arange(self._num_events, dtype=xp.int64).reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = xp.broadcast_to(values, (self._num_events,) + self._batch_shape)
        return Tensor._wrap(xp.ascontiguousarray(values))


def _full(d, v):
    xp = d._param._xp
    return Tensor._wrap(xp.full(d._batch_shape, v, dtype=d._param.array.dtype))


def _broadcast(a, b):
    import numpy as np  # noqa: PLC0415
    return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
