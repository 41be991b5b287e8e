"""More of Keras 3's activation functions: ``mish``, ``hard_silu`` (``hard_swish``), ``log_sigmoid``,
``hard_tanh``, ``celu``, ``squareplus``, ``sparse_plus``, ``soft_shrink``, ``hard_shrink``, ``tanh_shrink`` and
``threshold``, by name (``Dense(8, activation="mish")``) and as functions."""
from .. import ops


def mish(x):
    """``x * tanh(softplus(x))``.

    Example:
        >>> md.keras.activations.mish(md.tensor([0.0, 1.0]))
    """
    return x * ops.tanh(ops.softplus(x))


def hard_silu(x):
    """``x * relu6(x + 3) / 6`` (the "hard swish").

    Example:
        >>> md.keras.activations.hard_silu(md.tensor([-4.0, 0.5, 4.0]))
    """
    # the gate is constant outside (-3, 3), so the derivative at the kinks is Keras' (relu6's one-sided zero)
    gate = ops.where(x <= -3.0, x * 0.0, ops.where(x >= 3.0, x * 0.0 + 1.0, x / 6.0 + 0.5))
    return x * gate


hard_swish = hard_silu


def log_sigmoid(x):
    """``log(sigmoid(x))`` as ``-softplus(-x)``.

    Example:
        >>> md.keras.activations.log_sigmoid(md.tensor([0.0]))
    """
    return -ops.softplus(-x)


def hard_tanh(x):
    """``x`` clipped to ``[-1, 1]``.

    Example:
        >>> md.keras.activations.hard_tanh(md.tensor([-3.0, 0.5]))
    """
    return ops.where(x <= -1.0, x * 0.0 - 1.0, ops.where(x >= 1.0, x * 0.0 + 1.0, x))


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)``.

    Example:
        >>> md.keras.activations.celu(md.tensor([-1.0, 1.0]), alpha=2.0)
    """
    return ops.clamp(x, min=0.0) + (ops.exp(ops.clamp(x, max=0.0) / alpha) - 1.0) * alpha


def squareplus(x, b=4):
    """``(x + sqrt(x ** 2 + b)) / 2``, a smooth ReLU.

    Example:
        >>> md.keras.activations.squareplus(md.tensor([0.0]))
    """
    return (x + ops.sqrt(x * x + b)) * 0.5


def sparse_plus(x):
    """0 for ``x <= -1``, ``x`` for ``x >= 1``, ``(x + 1) ** 2 / 4`` between.

    Example:
        >>> md.keras.activations.sparse_plus(md.tensor([-2.0, 0.0, 2.0]))
    """
    return ops.where(x <= -1.0, x * 0.0, ops.where(x >= 1.0, x, (x + 1.0) * (x + 1.0) * 0.25))


def soft_shrink(x, threshold=0.5):
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, 0 between.

    Example:
        >>> md.keras.activations.soft_shrink(md.tensor([-1.0, 0.2, 1.0]))
    """
    return ops.where(x > threshold, x - threshold, ops.where(x < -threshold, x + threshold, x * 0.0))


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0.

    Example:
        >>> md.keras.activations.hard_shrink(md.tensor([-1.0, 0.2, 1.0]))
    """
    return ops.where(ops.abs(x) > threshold, x, x * 0.0)


def tanh_shrink(x):
    """``x - tanh(x)``.

    Example:
        >>> md.keras.activations.tanh_shrink(md.tensor([1.0]))
    """
    return x - ops.tanh(x)


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``.

    Example:
        >>> md.keras.activations.threshold(md.tensor([-1.0, 2.0]), 0.0, -5.0)
    """
    return ops.where(x > threshold, x, x * 0.0 + default_value)


# by name (``threshold`` has no defaults for its two parameters, so it is a function only)
ALL = {f.__name__: f for f in (mish, hard_silu, log_sigmoid, hard_tanh, celu, squareplus, sparse_plus, soft_shrink,
                               hard_shrink, tanh_shrink)}
ALL["hard_swish"] = hard_silu       # after hard_silu: serialize() names it "hard_silu", as Keras
