"""The base class of minidl's distributions, with PyTorch's attributes and argument checks."""
import math

from ..autograd.grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from . import constraints
from .utils import broadcast_all

__all__ = ["Distribution"]


class Distribution:
    """A probability distribution with a batch of independent parameter sets (``batch_shape``) over events of
    ``event_shape``, as ``torch.distributions.Distribution``.

    ``validate_args`` (default True, as PyTorch's ``__debug__`` default): parameters are checked against
    ``arg_constraints`` when made and values against ``support`` in ``log_prob`` (ValueError naming them).

    Example:
        >>> d = md.distributions.Normal(md.zeros(3), 1.0)
        >>> d.batch_shape, d.event_shape
        ((3,), ())
    """
    has_rsample = False
    has_enumerate_support = False
    arg_constraints = {}
    support = None
    _validate_args = True

    @staticmethod
    def set_default_validate_args(value):
        """Turn argument validation on or off for every distribution made afterwards."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape, self._event_shape = tuple(batch_shape), tuple(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            self._check_params()

    def _check_params(self):
        for name, constraint in self.arg_constraints.items():
            if name not in self.__dict__ and isinstance(getattr(type(self), name, None), _LazyProperty):
                continue                    # the parameter not given (probs when logits were): nothing to check
            value = getattr(self, name)
            if not isinstance(value, Tensor):
                continue
            ok = constraint.check(value)
            if not bool(ok.all()):
                raise ValueError(f"Expected parameter {name} (Tensor of shape {tuple(value.shape)}) of distribution "
                                 f"{self!r} to satisfy the constraint {constraint!r}, but found invalid values:\n"
                                 f"{value}")

    # --- shapes ------------------------------------------------------------------------------------------------------
    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    def _extended_shape(self, sample_shape=()):
        if isinstance(sample_shape, int):
            sample_shape = (sample_shape,)
        return tuple(sample_shape) + self._batch_shape + self._event_shape

    # --- moments -----------------------------------------------------------------------------------------------------
    @property
    def mean(self):
        raise NotImplementedError(f"{type(self).__name__}.mean is not defined")

    @property
    def mode(self):
        raise NotImplementedError(f"{type(self).__name__}.mode is not defined")

    @property
    def variance(self):
        raise NotImplementedError(f"{type(self).__name__}.variance is not defined")

    @property
    def stddev(self):
        return self.variance.sqrt()

    # --- sampling and densities --------------------------------------------------------------------------------------
    def sample(self, sample_shape=()):
        """A sample (no gradient) of shape ``sample_shape + batch_shape + event_shape``."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sample (rsample); use sample()")

    def sample_n(self, n):
        return self.sample((n,))

    def log_prob(self, value):
        raise NotImplementedError(f"{type(self).__name__}.log_prob is not implemented")

    def cdf(self, value):
        raise NotImplementedError(f"{type(self).__name__}.cdf is not implemented")

    def icdf(self, value):
        raise NotImplementedError(f"{type(self).__name__}.icdf is not implemented")

    def entropy(self):
        raise NotImplementedError(f"{type(self).__name__}.entropy is not implemented")

    def perplexity(self):
        return self.entropy().exp()

    def enumerate_support(self, expand=True):
        raise NotImplementedError(f"{type(self).__name__} has no finite support to enumerate")

    def expand(self, batch_shape, _instance=None):
        """The same distribution over a larger ``batch_shape`` (parameters broadcast, not copied), as PyTorch's.

        Example:
            >>> md.distributions.Normal(0.0, 1.0).expand([2, 3]).batch_shape
            (2, 3)
        """
        batch_shape = tuple(batch_shape)
        new = object.__new__(type(self))
        nb = len(self._batch_shape)
        for k, v in self.__dict__.items():
            if isinstance(v, Tensor) and v.shape[:nb] == self._batch_shape:
                v = v.expand(*(batch_shape + v.shape[nb:]))
            new.__dict__[k] = v
        new._batch_shape = batch_shape
        return new

    def _validate_sample(self, value):
        """``value`` must be a Tensor whose trailing dims fit the event and batch shapes, inside ``support``."""
        if not isinstance(value, Tensor):
            raise ValueError(f"{type(self).__name__}.log_prob: the value must be a Tensor, got {type(value).__name__}")
        event_dim = len(self._event_shape)
        if value.shape[value.ndim - event_dim:] != self._event_shape or value.ndim < event_dim:
            raise ValueError(f"{type(self).__name__}.log_prob: the value of shape {value.shape} does not end in the "
                             f"event shape {self._event_shape}")
        actual, expected = value.shape[:value.ndim - event_dim], self._batch_shape
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"{type(self).__name__}.log_prob: the value of shape {value.shape} does not "
                                 f"broadcast with the batch shape {self._batch_shape}")
        support = self.support
        if support is not None and not bool(support.check(value).all()):
            raise ValueError(f"Expected value argument (Tensor of shape {tuple(value.shape)}) to be within the "
                             f"support ({support!r}) of the distribution {self!r}, but found invalid values:\n{value}")

    def __repr__(self):
        names = [k for k in self.arg_constraints if k in self.__dict__]
        parts = []
        for k in names:
            v = self.__dict__[k]
            parts.append(f"{k}: {v.item() if isinstance(v, Tensor) and v.numel() == 1 else tuple(v.shape)}")
        return f"{type(self).__name__}({', '.join(parts)})"


class _LazyProperty:
    """A parameter computed from the other one on first use (probs from logits or the reverse), then cached;
    computed with the graph, so gradients flow to the parameter that was given."""

    def __init__(self, fn):
        self.fn, self.__doc__ = fn, fn.__doc__
        self.name = fn.__name__

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        with enable_grad():             # first asked for under no_grad (sample()): the cached copy keeps its graph
            value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


lazy_property = _LazyProperty
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class LocScale(Distribution):
    """A family located at ``loc`` and spread by ``scale`` (broadcast together), whose mean and mode are ``loc``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc
