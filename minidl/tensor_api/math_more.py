"""More of PyTorch's elementwise math: rounding, logs and exponentials in other bases, the inverse and hyperbolic
trigonometric functions, ``atan2``, and the fused shortcuts (``lerp``, ``addcmul``, ``addcdiv``, ``addmm``).

Unary ops are ``Function``s whose backward is written with differentiable ops (so ``create_graph`` works); the
fused shortcuts are compositions, whose gradients autograd derives. Integer inputs are promoted to the default
float where the result is fractional, as in PyTorch.
"""
import math

from .. import dtypes
from ..autograd.function import Function
from ..tensor import Tensor
from ..ops.elementwise import (_float_input, abs, clamp, exp, isnan, log, maximum, minimum, neg, operands, sign, sqrt,
                          where)
from ..ops.linalg import matmul


def _unary(name, forward, derivative, doc):
    """An elementwise op: ``forward(xp, array)`` computes it, ``derivative(x)`` (differentiable ops) its slope."""
    def fwd(ctx, a):
        ctx.save_for_backward(a)
        return forward(a._xp, a.array)

    def bwd(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * derivative(a)

    fn_class = type(name.capitalize(), (Function,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd)})

    def op(input):  # noqa: A002
        return fn_class.apply(_float_input(_tensor(name, input)))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _tensor(name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    return x


log1p = _unary("log1p", lambda xp, a: xp.log1p(a), lambda x: 1 / (1 + x),
               "``log(1 + x)``, accurate for small ``x``.")
expm1 = _unary("expm1", lambda xp, a: xp.expm1(a), exp, "``exp(x) - 1``, accurate for small ``x``.")
log2 = _unary("log2", lambda xp, a: xp.log2(a), lambda x: 1 / (x * math.log(2)), "Base-2 logarithm.")
log10 = _unary("log10", lambda xp, a: xp.log10(a), lambda x: 1 / (x * math.log(10)), "Base-10 logarithm.")
exp2 = _unary("exp2", lambda xp, a: xp.exp2(a), lambda x: exp2(x) * math.log(2), "``2 ** x``.")
reciprocal = _unary("reciprocal", lambda xp, a: 1 / a, lambda x: -1 / (x * x), "``1 / x``.")
rsqrt = _unary("rsqrt", lambda xp, a: 1 / xp.sqrt(a), lambda x: -0.5 * rsqrt(x) / x, "``1 / sqrt(x)``.")
tan = _unary("tan", lambda xp, a: xp.tan(a), lambda x: 1 + tan(x) ** 2, "Tangent.")
sinh = _unary("sinh", lambda xp, a: xp.sinh(a), lambda x: cosh(x), "Hyperbolic sine.")
cosh = _unary("cosh", lambda xp, a: xp.cosh(a), lambda x: sinh(x), "Hyperbolic cosine.")
asin = _unary("asin", lambda xp, a: xp.arcsin(a), lambda x: 1 / sqrt(1 - x * x), "Inverse sine.")
acos = _unary("acos", lambda xp, a: xp.arccos(a), lambda x: -1 / sqrt(1 - x * x), "Inverse cosine.")
atan = _unary("atan", lambda xp, a: xp.arctan(a), lambda x: 1 / (1 + x * x), "Inverse tangent.")
asinh = _unary("asinh", lambda xp, a: xp.arcsinh(a), lambda x: 1 / sqrt(x * x + 1), "Inverse hyperbolic sine.")
acosh = _unary("acosh", lambda xp, a: xp.arccosh(a), lambda x: 1 / sqrt(x * x - 1), "Inverse hyperbolic cosine.")
atanh = _unary("atanh", lambda xp, a: xp.arctanh(a), lambda x: 1 / (1 - x * x), "Inverse hyperbolic tangent.")
erfc = _unary("erfc", lambda xp, a: 1 - _erf(a), lambda x: (-2 / math.sqrt(math.pi)) * exp(-x * x),
              "``1 - erf(x)``.")


def _erf(a):
    from ..ops.elementwise import _erf_array  # noqa: PLC0415
    return _erf_array(a)


class _Rounding(Function):
    """floor/ceil/round/trunc: piecewise constant, so the gradient is zero (as in PyTorch)."""

    @staticmethod
    def forward(ctx, a, how, decimals):
        xp = a._xp
        if how == "round":
            return xp.round(a.array, decimals)      # half to even, as PyTorch
        return getattr(xp, how)(a.array)

    @staticmethod
    def backward(ctx, grad):
        return grad * 0


def _rounding(how):
    def op(input, *, decimals=0):  # noqa: A002
        _tensor(how, input)
        if decimals and how != "round":
            raise TypeError(f"{how}() got an unexpected keyword argument 'decimals'")
        if not input.dtype.is_floating_point:
            return input.clone()                    # integers are already whole, as in PyTorch
        return _Rounding.apply(input, how, decimals)
    op.__name__ = op.__qualname__ = how
    op.__doc__ = f"``{how}`` elementwise; the gradient is zero. Integer tensors come back unchanged."
    return op


floor, ceil, round, trunc = (_rounding(h) for h in ("floor", "ceil", "round", "trunc"))  # noqa: A001


def frac(input):  # noqa: A002
    """The fractional part, ``x - trunc(x)`` (sign kept); gradient one."""
    return input - trunc(input)


class _Atan2(Function):
    @staticmethod
    def forward(ctx, y, x):
        ctx.save_for_backward(y, x)
        return y._xp.arctan2(y.array, x.array)

    @staticmethod
    def backward(ctx, grad):
        y, x = ctx.saved_tensors
        r2 = x * x + y * y
        return grad * x / r2, grad * -y / r2


def atan2(input, other):  # noqa: A002
    """The angle of the point ``(other, input)``, in ``(-pi, pi]``.

    >>> md.atan2(md.tensor([1.0]), md.tensor([-1.0]))
    tensor([2.3561945])
    """
    y, x = operands("atan2", input, other)
    if not y.dtype.is_floating_point:
        y, x = y.astype(dtypes.default_float), x.astype(dtypes.default_float)
    return _Atan2.apply(y, x)


def hypot(input, other):  # noqa: A002
    """``sqrt(input**2 + other**2)`` elementwise."""
    a, b = operands("hypot", input, other)
    return sqrt(a * a + b * b)


def xlogy(input, other):  # noqa: A002
    """``input * log(other)``, zero where ``input`` is zero (even where ``other`` is 0 or inf)."""
    x, y = operands("xlogy", input, other)
    x, y = _float_input(x), _float_input(y)
    safe = where(x == 0, y * 0 + 1, y)
    return where(x == 0, x * 0, x * log(safe))


def logit(input, eps=None):  # noqa: A002
    """``log(p / (1 - p))``; with ``eps``, ``p`` is first clamped to ``[eps, 1 - eps]``."""
    p = _float_input(_tensor("logit", input))
    if eps is not None:
        p = clamp(p, eps, 1 - eps)
    return log(p / (1 - p))


def fmax(input, other):  # noqa: A002
    """Elementwise maximum that ignores NaN (a NaN loses to a number; two NaNs give NaN)."""
    a, b = operands("fmax", input, other)
    return where(isnan(b), a, where(isnan(a), b, maximum(a, b)))


def fmin(input, other):  # noqa: A002
    """Elementwise minimum that ignores NaN."""
    a, b = operands("fmin", input, other)
    return where(isnan(b), a, where(isnan(a), b, minimum(a, b)))


class _NanToNum(Function):
    @staticmethod
    def forward(ctx, a, nan, posinf, neginf):
        xp = a._xp
        ctx.finite = xp.isfinite(a.array)
        return xp.nan_to_num(a.array, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, grad):
        return grad * Tensor._wrap(ctx.finite.astype(grad.array.dtype))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):  # noqa: A002
    """NaN to ``nan``, +inf/-inf to ``posinf``/``neginf`` (default: the dtype's largest/lowest finite value)."""
    _tensor("nan_to_num", input)
    if not input.dtype.is_floating_point:
        return input.clone()
    return _NanToNum.apply(input, nan, posinf, neginf)


def clamp_min(input, min):  # noqa: A002
    """``clamp(input, min=min)``."""
    return clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    """``clamp(input, max=max)``."""
    return clamp(input, max=max)


def float_power(input, exponent):  # noqa: A002
    """``input ** exponent`` computed in float64, as PyTorch's ``float_power``."""
    base = input.astype(dtypes.float64) if isinstance(input, Tensor) else input
    exp_ = exponent.astype(dtypes.float64) if isinstance(exponent, Tensor) else exponent
    a, b = operands("float_power", base, exp_, dtypes.float64)
    return a ** b


def lerp(input, end, weight):  # noqa: A002
    """``input + weight * (end - input)``.

    >>> md.lerp(md.tensor([0.0, 10.0]), md.tensor([10.0, 20.0]), 0.25)
    tensor([ 2.5, 12.5])
    """
    return input + weight * (end - input)


def addcmul(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """``input + value * tensor1 * tensor2`` (optimizers' update shortcut)."""
    return input + value * (tensor1 * tensor2)


def addcdiv(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """``input + value * tensor1 / tensor2``."""
    return input + value * (tensor1 / tensor2)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-d ``mat1``, ``mat2``.

    >>> md.addmm(md.zeros(2, 2), md.eye(2), md.ones(2, 2), alpha=3)
    tensor([[3., 3.],
            [3., 3.]])
    """
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"addmm: expected 2-d matrices, got shapes {mat1.shape} and {mat2.shape}")
    return _scaled_sum(input, beta, matmul(mat1, mat2), alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * (batch1 @ batch2)`` for 3-d batches of matrices."""
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise ValueError(f"baddbmm: expected 3-d batches, got shapes {batch1.shape} and {batch2.shape}")
    return _scaled_sum(input, beta, matmul(batch1, batch2), alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * (mat @ vec)``."""
    if mat.ndim != 2 or vec.ndim != 1:
        raise ValueError(f"addmv: expected a matrix and a vector, got shapes {mat.shape} and {vec.shape}")
    return _scaled_sum(input, beta, matmul(mat, vec), alpha)


def _scaled_sum(input, beta, product, alpha):  # noqa: A002
    product = product if alpha == 1 else product * alpha
    if beta == 0:                       # PyTorch ignores input then (NaN in it does not propagate)
        return product
    return product + (input if beta == 1 else input * beta)


# the aliases PyTorch keeps for NumPy's names
arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh = asin, acos, atan, atan2, asinh, acosh, atanh
absolute, negative, sgn = abs, neg, sign

__all__ = ["log1p", "expm1", "log2", "log10", "exp2", "reciprocal", "rsqrt", "tan", "sinh", "cosh", "asin", "acos",
           "atan", "asinh", "acosh", "atanh", "erfc", "floor", "ceil", "round", "trunc", "frac", "atan2", "hypot",
           "xlogy", "logit", "fmax", "fmin", "nan_to_num", "clamp_min", "clamp_max", "float_power", "lerp", "addcmul",
           "addcdiv", "addmm", "baddbmm", "addmv", "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh",
           "arctanh", "absolute", "negative", "sgn"]


def install():
    """Each function as a Tensor method too (``x.log1p()``, ``x.addmm(a, b)``), as in PyTorch."""
    for name in __all__:
        if not hasattr(Tensor, name):
            setattr(Tensor, name, globals()[name])
