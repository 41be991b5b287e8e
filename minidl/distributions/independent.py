"""``Independent``: reinterpret batch dims of a distribution as event dims (a diagonal Gaussian over vectors...)."""
from .distribution import Distribution

__all__ = ["Independent"]


class Independent(Distribution):
    """The distribution ``base_distribution`` with its last ``reinterpreted_batch_ndims`` batch dims treated as one
    event, as ``torch.distributions.Independent``: ``log_prob`` and ``entropy`` sum over those dims.

    Example:
        >>> d = md.distributions.Independent(md.distributions.Normal(md.zeros(4, 3), 1.0), 1)
        >>> d.batch_shape, d.event_shape, d.log_prob(md.zeros(4, 3)).shape
        ((4,), (3,), (4,))
    """
    arg_constraints = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims, validate_args=None):
        if not isinstance(base_distribution, Distribution):
            raise TypeError(f"Independent: expected a Distribution, got {type(base_distribution).__name__}")
        n, shape = int(reinterpreted_batch_ndims), base_distribution.batch_shape
        if not 0 <= n <= len(shape):
            raise ValueError(f"Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual {n} "
                             f"vs {len(shape)}")
        self.base_dist, self.reinterpreted_batch_ndims = base_distribution, n
        split = len(shape) - n
        super().__init__(shape[:split], shape[split:] + base_distribution.event_shape, validate_args=False)
        if validate_args is not None:
            self._validate_args = validate_args

    @property
    def has_rsample(self):
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self):
        return False if self.reinterpreted_batch_ndims else self.base_dist.has_enumerate_support

    @property
    def support(self):
        return self.base_dist.support

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def mode(self):
        return self.base_dist.mode

    @property
    def variance(self):
        return self.base_dist.variance

    def expand(self, batch_shape, _instance=None):
        n = self.reinterpreted_batch_ndims
        inner = self.base_dist.batch_shape[len(self.base_dist.batch_shape) - n:]
        return Independent(self.base_dist.expand(tuple(batch_shape) + inner), n, self._validate_args)

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def _sum_rightmost(self, value):
        n = self.reinterpreted_batch_ndims
        return value.sum(tuple(range(-n, 0))) if n else value

    def log_prob(self, value):
        return self._sum_rightmost(self.base_dist.log_prob(value))

    def entropy(self):
        return self._sum_rightmost(self.base_dist.entropy())

    def __repr__(self):
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
