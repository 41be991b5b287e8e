"""Keras' activation functions by name (``Dense(64, activation="relu")``), written with minidl ops."""

import numpy as np

from .. import ops
from ..nn import functional as F
from ..tensor import Tensor


def linear(x):
    return x


def relu(x):
    return ops.relu(x)


def relu6(x):
    return ops.clamp(x, 0.0, 6.0)


def sigmoid(x):
    return ops.sigmoid(x)


def hard_sigmoid(x):
    return ops.clamp(x / 6.0 + 0.5, 0.0, 1.0)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


def softplus(x):
    return ops.softplus(x)


def softsign(x):
    return x / (ops.abs(x) + 1.0)


def elu(x, alpha=1.0):
    # exp of the clamped input: the unused branch of where() must not overflow into inf * 0 = nan gradients
    return ops.where(x > 0, x, (ops.exp(ops.clamp(x, max=0.0)) - 1.0) * alpha)


def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(x, alpha) * scale


def gelu(x, approximate=False):
    return F.gelu(x, approximate="tanh" if approximate else "none")


def silu(x):
    return x * ops.sigmoid(x)


swish = silu


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(x, negative_slope)


def exponential(x):
    return ops.exp(x)


def celu(x, alpha=1.0):
    return ops.relu(x) + ops.clamp((ops.exp(ops.clamp(x, max=0.0) / alpha) - 1.0) * alpha, max=0.0)


def glu(x, axis=-1):
    """Gated linear unit: the first half of ``axis`` times the sigmoid of the second half."""
    a, b = ops.chunk(x, 2, axis)
    return a * ops.sigmoid(b)


def hard_shrink(x, threshold=0.5):
    return ops.where(ops.abs(x) > threshold, x, x * 0.0)


def hard_silu(x):
    # the gate is constant outside (-3, 3): at the kinks the derivative is Keras' (relu6's one-sided zero)
    return x * ops.where(x <= -3.0, x * 0.0, ops.where(x >= 3.0, x * 0.0 + 1.0, x / 6.0 + 0.5))


hard_swish = hard_silu


def hard_tanh(x):
    return ops.where(x <= -1.0, x * 0.0 - 1.0, ops.where(x >= 1.0, x * 0.0 + 1.0, x))     # Keras' derivative at +-1


def log_sigmoid(x):
    return -ops.softplus(-x)


def mish(x):
    return x * ops.tanh(ops.softplus(x))


def soft_shrink(x, threshold=0.5):
    return ops.where(x > threshold, x - threshold, ops.where(x < -threshold, x + threshold, x * 0.0))


def sparse_plus(x):
    return ops.where(x <= -1.0, x * 0.0, ops.where(x >= 1.0, x, (x + 1.0) * (x + 1.0) / 4.0))


def sparse_sigmoid(x):
    return ops.clamp((x + 1.0) * 0.5, 0.0, 1.0)


def squareplus(x, b=4):
    return (x + ops.sqrt(x * x + b)) * 0.5


def tanh_shrink(x):
    return x - ops.tanh(x)


def threshold(x, threshold, default_value):  # noqa: A002 -- Keras' argument names
    return ops.where(x > threshold, x, x * 0.0 + default_value)


def sparsemax(x, axis=-1):
    """Euclidean projection onto the simplex (Martins & Astudillo, 2016): ``max(x - tau, 0)`` with ``tau`` such
    that the outputs sum to 1. The support is found on the host; ``tau`` is then a differentiable mean over it."""
    z = x.detach().cpu().numpy()
    srt = -np.sort(-z, axis=axis)
    k = np.arange(1, z.shape[axis] + 1).reshape([-1 if d == axis % z.ndim else 1 for d in range(z.ndim)])
    support = 1 + k * srt > np.cumsum(srt, axis=axis)
    size = support.sum(axis=axis, keepdims=True)
    kth = np.take_along_axis(srt, size - 1, axis=axis)
    mask = z >= kth                      # the entries in the support (ties at the k-th value belong too)
    m = Tensor._wrap(mask.astype(z.dtype)).to(x.device)
    tau = ((x * m).sum(axis, keepdim=True) - 1.0) / m.sum(axis, keepdim=True)
    return ops.relu(x - tau)


_ALL = {f.__name__: f for f in (linear, relu, relu6, sigmoid, hard_sigmoid, tanh, softmax, log_softmax, softplus,
                                softsign, elu, selu, gelu, silu, leaky_relu, exponential, celu, glu, hard_shrink,
                                hard_silu, hard_tanh, log_sigmoid, mish, soft_shrink, sparse_plus, sparse_sigmoid,
                                squareplus, tanh_shrink, sparsemax)}      # threshold needs its arguments: no name
_ALL["swish"], _ALL["hard_swish"] = silu, hard_silu


def get(identifier):
    """The activation function for a name (``"relu"``), a callable (returned as is) or ``None`` (linear).

    Example:
        >>> md.keras.activations.get("softmax")(md.tensor([[1.0, 2.0]]))
    """
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _ALL:
        return _ALL[identifier]
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r} "
                     f"(known: {', '.join(sorted(_ALL))})")


def serialize(fn):
    """The name under which ``fn`` is saved in a model config."""
    for name, f in _ALL.items():
        if f is fn:
            return name
    raise ValueError(f"Cannot save a model with the custom activation {fn!r}: only named activations are saved "
                     f"(known: {', '.join(sorted(_ALL))})")


deserialize = get
