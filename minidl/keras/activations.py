"""Keras' activation functions by name (``Dense(64, activation="relu")``), written with minidl ops."""

from .. import ops
from ..nn import functional as F


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


_ALL = {f.__name__: f for f in (linear, relu, relu6, sigmoid, hard_sigmoid, tanh, softmax, log_softmax, softplus,
                                softsign, elu, selu, gelu, silu, leaky_relu, exponential)}
_ALL["swish"] = silu


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

# --- issue 15 campaign: more of Keras 3's activations (activations_more) ---
from . import activations_more as _more  # noqa: E402

mish, hard_silu, hard_swish, log_sigmoid, hard_tanh = (_more.mish, _more.hard_silu, _more.hard_swish,
                                                       _more.log_sigmoid, _more.hard_tanh)
celu, squareplus, sparse_plus, soft_shrink, hard_shrink = (_more.celu, _more.squareplus, _more.sparse_plus,
                                                           _more.soft_shrink, _more.hard_shrink)
tanh_shrink, threshold = _more.tanh_shrink, _more.threshold
_ALL.update(_more.ALL)
