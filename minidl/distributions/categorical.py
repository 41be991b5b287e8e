"""``Categorical``: PyTorch's distribution over ``K`` categories, parameterized by ``probs`` or ``logits``.

Both parameterizations are kept as differentiable tensors, so ``log_prob`` and ``entropy`` pass gradients back to
the network that produced them (REINFORCE, actor-critic); ``sample`` draws indices without a gradient.
"""
import numpy as np

from ..autograd.grad_mode import no_grad
from ..ops import clamp, exp, gather, log, logsumexp, multinomial, sum, unsqueeze
from ..tensor import Tensor


def _broadcast_shapes(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"Categorical.log_prob: value of shape {shapes[0]} does not broadcast with the "
                         f"batch shape {shapes[1]}") from None


class Categorical:
    """A categorical distribution over ``0 .. K-1`` (``K`` = the last dim of ``probs`` or ``logits``).

    Give exactly one of ``probs`` (non-negative, normalized over the last dim for you) or ``logits``
    (unnormalized log-probabilities). ``validate_args`` (default on, as in PyTorch) refuses probabilities that are
    negative or not finite, and logits that are NaN, with a ValueError.

    Example:
        >>> m = Categorical(md.tensor([0.25, 0.75]))
        >>> m.log_prob(md.tensor(1)).exp()
        tensor(0.75)
        >>> m.sample().shape
        ()
    """

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: give either probs or logits, not both and not neither")
        param = probs if probs is not None else logits
        if not isinstance(param, Tensor):
            raise TypeError(f"Categorical: {'probs' if probs is not None else 'logits'} must be a Tensor, "
                            f"got {type(param).__name__}")
        if param.ndim < 1:
            raise ValueError("Categorical: probs/logits must have at least one dimension (the categories)")
        if not param.dtype.is_floating_point:
            raise TypeError(f"Categorical: probs/logits must be floating point, got {param.dtype.name}")
        self._validate = validate_args is not False
        if probs is not None:
            self.probs = probs / sum(probs, -1, keepdim=True)
            # as PyTorch: log of probabilities clamped away from 0 and 1, so log_prob stays finite
            eps = float(np.finfo(self.probs.dtype.np).eps)
            self.logits = log(clamp(self.probs, min=eps, max=1 - eps))
        else:
            self.logits = logits - logsumexp(logits, -1, keepdim=True)
            self.probs = exp(self.logits)
        if self._validate:
            self._check_params(probs is not None)
        self._num_events = param.shape[-1]
        self.batch_shape = tuple(param.shape[:-1])
        self.event_shape = ()

    def _check_params(self, from_probs):
        if from_probs:
            p = self.probs.numpy()
            if not (np.isfinite(p).all() and (p >= 0).all()):
                raise ValueError("Categorical: expected probs to be finite and non-negative with a positive sum "
                                 "over the last dim (PyTorch's Simplex constraint)")
        elif np.isnan(self.logits.numpy()).any():
            raise ValueError("Categorical: logits contain NaN")

    @property
    def param_shape(self):
        return self.batch_shape + (self._num_events,)

    def sample(self, sample_shape=()):
        """Category indices (int64) of shape ``sample_shape + batch_shape``, drawn with minidl's seeded
        generator."""
        sample_shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        n = int(np.prod(sample_shape, dtype=np.int64))
        with no_grad():
            rows = self.probs.detach().reshape(-1, self._num_events)
            draws = multinomial(rows, n, replacement=True)          # (batch, n)
            return draws.t().reshape(sample_shape + self.batch_shape)

    def log_prob(self, value):
        """log P(value): ``value`` (category indices) broadcast against the batch shape."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Categorical.log_prob: value must be a Tensor, got {type(value).__name__}")
        value = value.long()
        if self._validate:
            v = value.numpy()
            if ((v < 0) | (v >= self._num_events)).any():
                raise ValueError(f"Categorical.log_prob: values must lie in [0, {self._num_events}), got {v}")
        shape = _broadcast_shapes(tuple(value.shape), self.batch_shape)
        logits = self.logits.expand(*shape, self._num_events)
        index = unsqueeze(value.expand(*shape), -1)
        return gather(logits, -1, index).squeeze(-1)

    def entropy(self):
        """-sum p log p over the categories, one value per batch entry."""
        return -sum(self.probs * self.logits, -1)

    @property
    def mean(self):
        """NaN per batch entry, as PyTorch: categories are labels, not numbers."""
        return self.probs.new_full(self.batch_shape, float("nan"))

    def __repr__(self):
        return f"Categorical(probs: {tuple(self.probs.shape)})"
