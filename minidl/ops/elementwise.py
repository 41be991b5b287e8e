"""Elementwise ops: forward and backward side by side. The array module does the arithmetic."""
import math

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..backends import dispatch_or
from ..backends import reference as _reference
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor, _as_array


# --- operand handling ----------------------------------------------------------------------
_SCALARS = (bool, int, float, np.number, np.bool_)


def operands(op, a, b, dtype=None):
    """Two Tensors of one dtype from any mix of Tensors, Python scalars and arrays: ``dtype``, or by default the
    dtype PyTorch's promotion gives (``dtypes.result_type``; a float32 tensor times an int64 one stays float32).

    Tensors are converted with the differentiable ``astype``, so each input's gradient comes back in its own
    dtype; a scalar becomes a 0-d tensor of the result dtype on the tensor's device.
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if dtype is None:
            if a.dtype is b.dtype:              # the hot path: no promotion
                return a, b
            dtype = dtypes.result_type(a, b)
        return a.astype(dtype), b.astype(dtype)
    if isinstance(a, Tensor):
        like, other = a, b
    elif isinstance(b, Tensor):
        like, other = b, a
    else:
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    if dtype is None and type(other) in (float, int):      # the hot path: tensor with a Python number
        dtype = like.dtype
        if type(other) is float and not dtype.is_floating_point:
            dtype = dtypes.default_float
        elif dtype is dtypes.bool_ and type(other) is int:
            dtype = dtypes.int64
    a, b = _as_operand(op, a, like), _as_operand(op, b, like)
    if dtype is None:
        dtype = dtypes.result_type(a, b)
    return _convert(a, dtype, like), _convert(b, dtype, like)


def _as_operand(op, value, like):
    """A Tensor or a scalar stays as it is; lists and arrays become Tensors on ``like``'s device (lists with
    md.tensor's dtype inference: Python floats give the default float dtype)."""
    if isinstance(value, (Tensor,) + _SCALARS):
        return value
    if isinstance(value, (list, tuple)) or hasattr(value, "__array_interface__"):
        return Tensor._wrap(like._xp.asarray(_as_array(value)))
    tensor = foreign_operand(value)
    if tensor is not None:
        return tensor
    raise TypeError(f"{op}: unsupported operand type {type(value).__name__} with a Tensor")


def foreign_operand(value):
    """The Tensor a foreign object stands for in arithmetic, or None: a type that defines
    ``__minidl_operand__(self) -> Tensor`` (md.keras' Variable, a sparse tensor) takes part in Tensor's operators
    as that tensor. One hook here, on the slow path only, instead of each such type wrapping Tensor's operators."""
    hook = getattr(type(value), "__minidl_operand__", None)
    return None if hook is None else hook(value)


def _convert(x, dtype, like):
    if isinstance(x, Tensor):
        return x.astype(dtype)
    if dtype.is_floating_point:
        return Tensor._wrap(like._xp.asarray(x, dtype=dtype.np))
    # a cast, not asarray(x, dtype): an integer out of the dtype's range wraps around, as in PyTorch
    return Tensor._wrap(like._xp.asarray(x).astype(dtype.np))


def check_broadcast(op, a, b):
    if a.array.shape == b.array.shape:
        return a.array.shape
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _binary(fn, op, a, b):
    a, b = operands(op, a, b)
    check_broadcast(op, a, b)
    return fn.apply(a, b)


def _float_input(x):
    return x if x.dtype.is_floating_point else x.astype(dtypes.default_float)


def kernel(name, *args):
    """Run kernel ``name`` on the provider the dispatcher picks (the native one decides by measured size whether
    its C++ or NumPy pays); a forced provider that lacks these small kernels runs the reference body instead."""
    return dispatch_or(getattr(_reference, name), name, *args)


def _unary_grad(ctx, grad, saved, op, composed):
    """The gradient of a unary op: the fused kernel, or under create_graph the differentiable ``composed()``."""
    if is_grad_enabled():
        return composed()
    return Tensor._wrap(kernel("unary_backward", grad.array, saved, op))


def saved_output(ctx, recompute):
    """The forward's output for backward: the stored array normally, recomputed as a graph under create_graph."""
    return recompute() if is_grad_enabled() else Tensor._wrap(ctx.out)


# --- arithmetic -----------------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return kernel("binary", a.array, b.array, "add")

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return kernel("binary", a.array, b.array, "sub")

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return kernel("binary", a.array, b.array, "mul")

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None), (grad * a if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return kernel("binary", a.array, b.array, "div")

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad / b if ctx.needs_input_grad[0] else None
        gb = -grad * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.array ** b.array

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad * b * a ** (b - 1) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            # NOTE: d/db a**b = a**b log a; define it as 0 where a == 0 (as PyTorch), not nan
            safe = where(a > 0, a, 1.0)
            gb = grad * where(a > 0, a ** b * log(safe), 0.0)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a.array

    @staticmethod
    def backward(ctx, grad):
        return -grad


def add(a, b, alpha=1):
    """``a + alpha * b`` with broadcasting."""
    return _binary(Add, "add", a, b if alpha == 1 else b * alpha)


def sub(a, b, alpha=1):
    """``a - alpha * b`` with broadcasting."""
    if is_bool(a) or is_bool(b):
        raise RuntimeError("sub: subtraction with a bool operand is not supported, as in PyTorch; use ~ "
                           "(logical_not) to invert a mask, ^ (logical_xor), or convert with .long() first")
    return _binary(Sub, "sub", a, b if alpha == 1 else b * alpha)


def is_bool(x):
    """Whether ``x`` is a bool tensor or a Python/NumPy bool (the operands PyTorch's subtraction refuses)."""
    return isinstance(x, (bool, np.bool_)) or (isinstance(x, Tensor) and x.dtype is dtypes.bool_)


def mul(a, b):
    """Elementwise product with broadcasting."""
    return _binary(Mul, "mul", a, b)


def div(input, other, *, rounding_mode=None):  # noqa: A002 -- PyTorch's names
    """``input / other`` with broadcasting; integer (and bool) operands give the default float dtype, as PyTorch.

    ``rounding_mode="floor"`` or ``"trunc"`` rounds the quotient and keeps the promoted dtype (integers stay
    integers), with a zero gradient, as PyTorch.

    Example:
        >>> md.div(md.tensor([1, 2, 3]), 2)
        tensor([0.5, 1. , 1.5])
        >>> md.div(md.tensor([-3, 3]), 2, rounding_mode="floor")
        tensor([-2,  1])
    """
    if rounding_mode is not None:
        if rounding_mode not in ("floor", "trunc"):
            raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
        return _rounded_div("div", input, other, rounding_mode)
    a, b = operands("div", input, other)
    if not a.dtype.is_floating_point:
        a, b = a.astype(dtypes.default_float), b.astype(dtypes.default_float)
    check_broadcast("div", a, b)
    return Div.apply(a, b)


true_divide = divide = div


def _rounded_div(op, a, b, mode):
    a, b = operands(op, a, b)
    check_broadcast(op, a, b)
    _check_int_divisor(op, a, b)
    return RoundedDiv.apply(a, b, mode)


def _check_int_divisor(op, a, b):
    if a.dtype is dtypes.bool_:
        raise RuntimeError(f"{op}: not implemented for bool tensors (shapes {a.shape} and {b.shape}), as in "
                           "PyTorch; convert them with .long() first")
    # NumPy would give 0 with a warning; PyTorch refuses integer division by zero
    if not a.dtype.is_floating_point and not b.array.all():
        raise ZeroDivisionError(f"{op}: integer division by zero (divisor of shape {b.shape}, dtype {b.dtype.name})")


class RoundedDiv(Function):
    @staticmethod
    def forward(ctx, a, b, mode):
        xp = a._xp
        with np.errstate(divide="ignore", invalid="ignore"):    # x / 0.0 is inf or nan, silently, as PyTorch
            if mode == "floor":
                return xp.floor_divide(a.array, b.array)
            if a.dtype.is_floating_point:
                return xp.trunc(a.array / b.array)
            return (a.array - xp.fmod(a.array, b.array)) // b.array      # exact truncation for integers

    @staticmethod
    def backward(ctx, grad):
        # piecewise constant in both inputs: zero gradients, as PyTorch gives
        zero = Tensor._wrap(grad._xp.zeros_like(grad.array))
        return zero, zero


def floor_divide(input, other):  # noqa: A002
    """``input // other`` rounded toward minus infinity (Python's ``//``), in the promoted dtype; a zero
    gradient, as ``div(rounding_mode="floor")`` has (PyTorch's floor_divide refuses backward instead).

    Example:
        >>> md.floor_divide(md.tensor([7, -7]), 2)
        tensor([ 3, -4])
    """
    return _rounded_div("floor_divide", input, other, "floor")


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b, c_style):
        ctx.save_for_backward(a, b)
        ctx.c_style = c_style
        with np.errstate(divide="ignore", invalid="ignore"):
            return (a._xp.fmod if c_style else a._xp.remainder)(a.array, b.array)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # r = a - q * b with q = floor(a / b) (trunc for fmod), piecewise constant
        gb = None
        if ctx.needs_input_grad[1]:
            q = Tensor._wrap(RoundedDiv.forward(None, a, b, "trunc" if ctx.c_style else "floor"))
            gb = -grad * q
        return grad, gb


def _remainder(op, a, b, c_style):
    a, b = operands(op, a, b)
    check_broadcast(op, a, b)
    _check_int_divisor(op, a, b)
    return Remainder.apply(a, b, c_style)


def remainder(input, other):  # noqa: A002
    """Python's ``%``: the remainder has the divisor's sign; in the promoted dtype.

    Example:
        >>> md.remainder(md.tensor([-3, 3]), 2)
        tensor([1, 1])
    """
    return _remainder("remainder", input, other, False)


def fmod(input, other):  # noqa: A002
    """C's ``fmod``: the remainder has the dividend's sign; in the promoted dtype.

    Example:
        >>> md.fmod(md.tensor([-3, 3]), 2)
        tensor([-1,  1])
    """
    return _remainder("fmod", input, other, True)


def pow(input, exponent):  # noqa: A001,A002 -- PyTorch's names
    """``input ** exponent`` elementwise; either side may be a Tensor or a scalar."""
    a, b = operands("pow", input, exponent)
    if a.dtype is dtypes.bool_:
        if isinstance(input, Tensor) and isinstance(exponent, (bool, np.bool_)):    # x ** True is x, ** False 1
            return Tensor._wrap(a._xp.logical_or(a.array, not exponent))
        raise RuntimeError(f"pow: not implemented for bool tensors (shapes {a.shape} and {b.shape}), as in "
                           "PyTorch; convert them with .long() or .float() first")
    if not a.dtype.is_floating_point and a.dtype is not dtypes.bool_ and (b.array < 0).any():
        raise RuntimeError(f"pow: integers to negative integer powers are not allowed ({a.dtype.name} operands of "
                           f"shapes {a.shape} and {b.shape}); convert the base with .float()")
    return _binary(Pow, "pow", a, b)


def neg(a):
    return Neg.apply(a)


# --- unary math -----------------------------------------------------------------------------
class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        ctx.out = kernel("unary", a.array, "exp")
        return ctx.out

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return _unary_grad(ctx, grad, ctx.out, "exp", lambda: grad * exp(a))


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):    # log(0) = -inf, log(-1) = nan, silently, as PyTorch
            return kernel("unary", a.array, "log")

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return _unary_grad(ctx, grad, a.array, "log", lambda: grad / a)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        ctx.out = kernel("unary", a.array, "sqrt")
        return ctx.out

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return _unary_grad(ctx, grad, ctx.out, "sqrt", lambda: grad / (2 * sqrt(a)))


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a._xp.abs(a.array)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * Tensor._wrap(a._xp.sign(a.array))


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a._xp.sin(a.array)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a._xp.cos(a.array)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * sin(a)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        ctx.out = kernel("unary", a.array, "tanh")
        return ctx.out

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors

        def composed():
            y = tanh(a)
            return grad * (1 - y * y)
        return _unary_grad(ctx, grad, ctx.out, "tanh", composed)


class Sigmoid(Function):
    # NOTE: a primitive, not 1/(1+exp(-x)): the composed form overflows exp for large negative x
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        ctx.out = kernel("unary", a.array, "sigmoid")
        return ctx.out

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors

        def composed():
            y = sigmoid(a)
            return grad * y * (1 - y)
        return _unary_grad(ctx, grad, ctx.out, "sigmoid", composed)


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        if not a.dtype.is_floating_point:
            return a._xp.maximum(a.array, 0)
        return kernel("unary", a.array, "relu")

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        # relu's mask from the input: x > 0 exactly where max(x, 0) > 0
        return _unary_grad(ctx, grad, a.array, "relu",
                           lambda: grad * Tensor._wrap((a.array > 0).astype(grad.dtype.np)))


def _erf_array(x):
    """erf for float arrays without SciPy: exp(-x^2) times a positive power series (no cancellation)."""
    xp = np if isinstance(x, np.ndarray) else None
    if xp is None:
        from cupyx.scipy.special import erf as cupy_erf  # noqa: PLC0415
        return cupy_erf(x)
    try:
        from scipy.special import erf as scipy_erf  # noqa: PLC0415 -- fast path when SciPy is around
        return scipy_erf(x).astype(x.dtype, copy=False)
    except ImportError:
        pass
    z = np.clip(np.abs(x.astype(np.float64)), 0, 6.0)     # erf(6) == 1 in float64
    z2 = z * z
    term = z.copy()
    total = z.copy()
    n_terms = int(2 * float(z2.max(initial=0.0)) + 30)
    for n in range(1, n_terms):
        term *= 2 * z2 / (2 * n + 1)
        total += term
    out = 2 / math.sqrt(math.pi) * np.exp(-z2) * total
    return (np.sign(x) * np.minimum(out, 1.0)).astype(x.dtype, copy=False)


class Erf(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _erf_array(a.array)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (2 / math.sqrt(math.pi)) * exp(-a * a)


class Softplus(Function):
    @staticmethod
    def forward(ctx, a, beta, threshold):
        ctx.save_for_backward(a)
        ctx.beta, ctx.threshold = beta, threshold
        xp, bx = a._xp, a.array * beta
        soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
        return xp.where(bx > threshold, a.array, soft).astype(a.array.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        bx = a * ctx.beta
        return grad * where(bx > ctx.threshold, 1.0, sigmoid(bx))


def _unary(fn, op):
    def apply(x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
        return fn.apply(_float_input(x))
    apply.__name__ = op
    return apply


exp = _unary(Exp, "exp")
log = _unary(Log, "log")
sqrt = _unary(Sqrt, "sqrt")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
erf = _unary(Erf, "erf")
exp.__doc__ = "Elementwise e**x. Example: ``md.exp(md.tensor([0.0]))`` is ``tensor([1.])``."
log.__doc__ = "Elementwise natural logarithm."
sqrt.__doc__ = "Elementwise square root."
sin.__doc__ = "Elementwise sine."
cos.__doc__ = "Elementwise cosine."
tanh.__doc__ = "Elementwise hyperbolic tangent."
sigmoid.__doc__ = "Elementwise logistic function 1 / (1 + e**-x), computed without overflow."
erf.__doc__ = "Elementwise error function."


def abs(x):  # noqa: A001
    """Elementwise absolute value (gradient 0 at 0, as PyTorch)."""
    return Abs.apply(x)


def relu(x):
    """max(x, 0) elementwise (gradient 0 at 0, as PyTorch)."""
    return Relu.apply(x)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    return where(x > 0, x, x * negative_slope)


class Gelu(Function):
    """GELU as one kernel forward and one backward (the composed form makes about ten temporaries)."""

    @staticmethod
    def forward(ctx, a, op):
        ctx.save_for_backward(a)
        ctx.op = op
        return kernel("unary", a.array, op)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return _unary_grad(ctx, grad, a.array, ctx.op, lambda: grad * _gelu_derivative(a, ctx.op))


def _gelu_derivative(x, op):
    """d gelu / dx as a differentiable expression (the create_graph path)."""
    if op == "gelu_tanh":
        k = math.sqrt(2 / math.pi)
        t = tanh(k * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (k * (1 + 3 * 0.044715 * x * x))
    cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2))))
    return cdf + x * exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))


def gelu(x, approximate="none"):
    """Gaussian error linear unit: exact erf form, or ``approximate="tanh"``.

    Example:
        >>> md.nn.functional.gelu(md.tensor([0.0, 1.0]))
        tensor([0.0000, 0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_float_input(x), "gelu" if approximate == "none" else "gelu_tanh")


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear above ``threshold`` (as PyTorch)."""
    return Softplus.apply(_float_input(x), beta, threshold)


# --- selection ------------------------------------------------------------------------------
class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond.array
        return a._xp.where(cond.array, a.array, b.array)

    @staticmethod
    def backward(ctx, grad):
        c = Tensor._wrap(ctx.cond)
        zero = Tensor._wrap(grad._xp.zeros((), dtype=grad.dtype.np))
        return None, where(c, grad, zero), where(c, zero, grad)


def where(condition, a, b):
    """Elementwise ``a if condition else b`` with broadcasting; ``a``/``b`` may be scalars.

    Example:
        >>> md.where(x > 0, x, 0.0)
    """
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a bool Tensor, got {type(condition).__name__}")
    if condition.dtype != dtypes.bool_:
        condition = condition != 0
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        # two scalars: the result dtype is theirs (two Python floats give the default float dtype)
        dt = dtypes.result_type(a, b)
        a, b = (Tensor._wrap(condition._xp.asarray(v).astype(dt.np)) for v in (a, b))
    a, b = operands("where", a, b)
    shape = check_broadcast("where", a, b)
    try:
        np.broadcast_shapes(condition.shape, shape)
    except ValueError:
        raise ValueError(f"where: condition of shape {condition.shape} cannot be broadcast with {shape}") from None
    return Where.apply(condition, a, b)


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._xp.maximum(a.array, b.array)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _split_ties(grad, a, b, a.array > b.array)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._xp.minimum(a.array, b.array)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _split_ties(grad, a, b, a.array < b.array)


def _split_ties(grad, a, b, a_wins):
    # NOTE: ties share the gradient equally, as PyTorch does for maximum/minimum
    xp = grad._xp
    wa = xp.where(a_wins, 1.0, xp.where(a.array == b.array, 0.5, 0.0)).astype(grad.dtype.np)
    wa = Tensor._wrap(wa)
    return grad * wa, grad * (1 - wa)


def maximum(a, b):
    """Elementwise maximum with broadcasting (ties split the gradient)."""
    return _binary(Maximum, "maximum", a, b)


def minimum(a, b):
    """Elementwise minimum with broadcasting (ties split the gradient)."""
    return _binary(Minimum, "minimum", a, b)


def clamp(x, min=None, max=None):  # noqa: A002
    """Limit values to [min, max]; the gradient flows where min <= x <= max (as PyTorch)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    out = x
    if min is not None:
        out = where(out >= min, out, min if not isinstance(min, Tensor) else min.astype(out.dtype))
    if max is not None:
        out = where(out <= max, out, max if not isinstance(max, Tensor) else max.astype(out.dtype))
    return out


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        return a.array.astype(dtype.np)

    @staticmethod
    def backward(ctx, grad):
        return grad             # the engine casts it back to the input's dtype


def astype(x, dtype):
    """The tensor converted to ``dtype`` (differentiable between floating dtypes)."""
    dtype = dtypes.to_dtype(dtype)
    return x if x.dtype == dtype else Cast.apply(x, dtype)


# --- comparisons and logic (never differentiable) ---------------------------------------------
def _compare(ufunc, op):
    def compare(a, b):
        a, b = operands(op, a, b)
        check_broadcast(op, a, b)
        return Tensor._wrap(getattr(a._xp, ufunc)(a.array, b.array))
    compare.__name__ = op
    compare.__doc__ = f"Elementwise ``{op}`` comparison with broadcasting; a bool tensor, no gradient."
    return compare


eq = _compare("equal", "eq")
ne = _compare("not_equal", "ne")
lt = _compare("less", "lt")
le = _compare("less_equal", "le")
gt = _compare("greater", "gt")
ge = _compare("greater_equal", "ge")
logical_and = _compare("logical_and", "logical_and")
logical_or = _compare("logical_or", "logical_or")
logical_xor = _compare("logical_xor", "logical_xor")


def logical_not(x):
    return Tensor._wrap(x._xp.logical_not(x.array))


def isnan(x):
    return Tensor._wrap(x._xp.isnan(x.array))


def isfinite(x):
    return Tensor._wrap(x._xp.isfinite(x.array))


class Sign(Function):
    @staticmethod
    def forward(ctx, a):
        return a._xp.sign(a.array)

    @staticmethod
    def backward(ctx, grad):
        # piecewise constant: a zero gradient, as PyTorch gives (a constant, so create_graph needs nothing more)
        return Tensor._wrap(grad._xp.zeros_like(grad.array))


def sign(x):
    """-1, 0 or 1 elementwise; the gradient is zero, as in PyTorch."""
    return Sign.apply(x) if x.dtype.is_floating_point else Tensor._wrap(x._xp.sign(x.array))
