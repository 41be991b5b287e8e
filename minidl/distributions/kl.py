"""``kl_divergence(p, q)``: KL(p || q) in closed form for pairs of distribution types, and ``register_kl``."""
import math

from ..ops import log, where
from ..nn.functional import softplus
from ..tensor import Tensor
from .bernoulli import Bernoulli
from .categorical import Categorical
from .exponential import Exponential
from .independent import Independent
from .multivariate_normal import MultivariateNormal, _diagonal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = ["kl_divergence", "register_kl"]

_KL = {}


def register_kl(type_p, type_q):
    """Decorator registering ``fn(p, q)`` as KL(p || q) for distributions of types ``type_p`` and ``type_q``
    (subclasses too; the most specific registered pair wins).

    Example:
        >>> @register_kl(MyDist, MyDist)
        ... def _kl_mine(p, q): ...
    """
    def decorator(fn):
        _KL[type_p, type_q] = fn
        return fn
    return decorator


def _lookup(tp, tq):
    best, rank = None, None
    for (a, b), fn in _KL.items():
        if issubclass(tp, a) and issubclass(tq, b):
            r = (tp.__mro__.index(a), tq.__mro__.index(b))
            if rank is None or r < rank:
                best, rank = fn, r
    return best


def kl_divergence(p, q):
    """KL(p || q), batched over the distributions' batch shape, as ``torch.distributions.kl_divergence``.

    Example:
        >>> N = md.distributions.Normal
        >>> kl_divergence(N(0.0, 1.0), N(1.0, 1.0))
        tensor(0.5)
    """
    fn = _lookup(type(p), type(q))
    if fn is None:
        raise NotImplementedError(f"kl_divergence: no KL(p || q) is implemented for p of type {type(p).__name__} "
                                  f"and q of type {type(q).__name__}")
    return fn(p, q)


def _const(like, v):
    return Tensor._wrap(like._xp.asarray(v, dtype=like.array.dtype))


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - log(var_ratio))


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = where(q.probs == 0, _const(t, math.inf), t)        # mass where q has none: infinite
    t = where(p.probs == 0, _const(t, 0.0), t)             # 0 log 0 = 0
    return t.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p, q):
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    inf, zero = _const(p.probs, math.inf), _const(p.probs, 0.0)
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = where(p.probs == 0, zero, where(q.probs == 0, inf, t1))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = where(p.probs == 1, zero, where(q.probs == 1, inf, t2))
    return t1 + t2


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = log((q.high - q.low) / (p.high - p.low))
    outside = (q.low > p.low) | (q.high < p.high)
    return where(outside, _const(result, math.inf), result)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    from .. import linalg  # noqa: PLC0415
    n = p.event_shape[0]
    Lq, Lp = q.scale_tril, p.scale_tril
    shape = tuple(__import__("numpy").broadcast_shapes(Lq.shape[:-2], Lp.shape[:-2]))
    Lq_b = Lq.expand(*shape, n, n)
    M = linalg.solve_triangular(Lq_b, Lp.expand(*shape, n, n), upper=False)      # Lq^-1 Lp
    diff = (q.loc - p.loc).expand(*shape, n).unsqueeze(-1)
    z = linalg.solve_triangular(Lq_b, diff, upper=False).squeeze(-1)
    half_ld_q, half_ld_p = _diagonal(Lq).log().sum(-1), _diagonal(Lp).log().sum(-1)
    return half_ld_q - half_ld_p + 0.5 * ((M * M).sum((-2, -1)) + (z * z).sum(-1) - n)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("kl_divergence: Independent distributions with different reinterpreted_batch_ndims")
    return p._sum_rightmost(kl_divergence(p.base_dist, q.base_dist))


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    rate_ratio = q.rate / p.rate
    return rate_ratio - 1 - log(rate_ratio)
