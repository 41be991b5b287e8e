"""``OneHotCategorical``: a Categorical whose samples are one-hot vectors."""
from ..tensor import Tensor
from . import constraints
from .categorical import Categorical
from .distribution import Distribution

__all__ = ["OneHotCategorical"]


class _OneHot(constraints.Constraint):
    event_dim = 1

    def check(self, value):
        a = value.array
        return ((a == 0) | (a == 1)).all(axis=-1) & (a.sum(axis=-1) == 1)


class OneHotCategorical(Distribution):
    """One-hot vectors of length K (event shape (K,)) drawn from ``Categorical(probs, logits)``, as
    ``torch.distributions.OneHotCategorical``; samples are floats of the parameter's dtype.

    Example:
        >>> d = md.distributions.OneHotCategorical(probs=md.tensor([0.2, 0.8]))
        >>> d.sample().shape
        (2,)
    """
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = _OneHot()
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], validate_args=False)
        if validate_args is not None:
            self._validate_args = validate_args

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        p = self.probs
        return _one_hot(p.argmax(-1), p)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def expand(self, batch_shape, _instance=None):
        new = object.__new__(OneHotCategorical)
        new.__dict__.update(self.__dict__)
        new._categorical = self._categorical.expand(batch_shape)
        new._batch_shape = tuple(batch_shape)
        return new

    def sample(self, sample_shape=()):
        return _one_hot(self._categorical.sample(sample_shape), self.probs)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        xp, k = self.probs._xp, self._event_shape[0]
        values = xp.eye(k, dtype=self.probs.array.dtype).reshape((k,) + (1,) * len(self._batch_shape) + (k,))
        if expand:
            values = xp.broadcast_to(values, (k,) + self._batch_shape + (k,))
        return Tensor._wrap(xp.ascontiguousarray(values))


def _one_hot(index, like):
    xp, k = like._xp, like.shape[-1]
    return Tensor._wrap((index.array[..., None] == xp.arange(k)).astype(like.array.dtype))
