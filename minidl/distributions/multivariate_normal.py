"""``MultivariateNormal``: the Gaussian over vectors, parameterized by a covariance, precision or Cholesky factor."""
import math

import numpy as np

from .. import linalg
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, lazy_property
from .utils import draw

__all__ = ["MultivariateNormal"]


def _diagonal(M):
    """The diagonal of each matrix of a (*, n, n) tensor, differentiably (masked sum)."""
    xp = M._xp
    return (M * Tensor._wrap(xp.eye(M.shape[-1], dtype=M.array.dtype))).sum(-1)


class MultivariateNormal(Distribution):
    """N(loc, Sigma) over vectors (event shape (n,)), with exactly one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (lower Cholesky factor L, Sigma = L L^T), as
    ``torch.distributions.MultivariateNormal``; ``rsample`` is ``loc + L eps``.

    Example:
        >>> d = md.distributions.MultivariateNormal(md.zeros(2), covariance_matrix=md.eye(2))
        >>> d.log_prob(md.zeros(2))
        tensor(-1.837877)
    """
    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        if not isinstance(loc, Tensor) or loc.ndim < 1:
            raise ValueError(f"MultivariateNormal: loc must be at least one-dimensional, got "
                             f"{getattr(loc, 'shape', type(loc).__name__)}")
        M = given[0]
        if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
            raise ValueError(f"MultivariateNormal: the matrix parameter must be (*, n, n), got shape {M.shape}")
        if M.shape[-1] != loc.shape[-1]:
            raise ValueError(f"MultivariateNormal: loc of shape {loc.shape} and matrix of shape {M.shape} disagree "
                             "on the event size")
        batch = tuple(np.broadcast_shapes(M.shape[:-2], loc.shape[:-1]))
        n = loc.shape[-1]
        self.loc = loc.expand(*batch, n)
        if scale_tril is not None:
            self.scale_tril = scale_tril.expand(*batch, n, n)
        elif covariance_matrix is not None:
            self.covariance_matrix = covariance_matrix.expand(*batch, n, n)
        else:
            self.precision_matrix = precision_matrix.expand(*batch, n, n)
        super().__init__(batch, (n,), validate_args)

    @lazy_property
    def scale_tril(self):
        """The lower Cholesky factor L of the covariance."""
        if "covariance_matrix" in self.__dict__:
            return linalg.cholesky(self.covariance_matrix)
        return linalg.cholesky(linalg.inv(self.precision_matrix))

    @lazy_property
    def covariance_matrix(self):
        return self.scale_tril @ self.scale_tril.mT

    @lazy_property
    def precision_matrix(self):
        return linalg.inv(self.covariance_matrix)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return (self.scale_tril ** 2).sum(-1)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = draw(lambda rng, s: rng.standard_normal(s), shape, self.loc)
        return self.loc + (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self):
        return _diagonal(self.scale_tril).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = (value - self.loc).unsqueeze(-1)
        shape = tuple(np.broadcast_shapes(diff.shape[:-2], self.scale_tril.shape[:-2]))
        n = self._event_shape[0]
        z = linalg.solve_triangular(self.scale_tril.expand(*shape, n, n), diff.expand(*shape, n, 1),
                                    upper=False).squeeze(-1)
        maha = (z * z).sum(-1)
        return -0.5 * (n * math.log(2 * math.pi) + maha) - self._half_log_det()

    def entropy(self):
        n = self._event_shape[0]
        return 0.5 * n * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
