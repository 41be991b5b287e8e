"""In-place array helpers shared by the update rules, in PyTorch's operation order.

Each mirrors one ATen in-place op on an xp array so float32 results round like PyTorch's:
``lerp_`` switches formula at weight 0.5, ``addcmul_``/``addcdiv_`` scale the first operand
before the multiply/divide.
"""
from ..device import array_module


def zeros_like(a):
    return array_module(a).zeros_like(a)


def full_like(a, value):
    return array_module(a).full_like(a, value)


def sqrt(a):
    return array_module(a).sqrt(a)


def lerp_(a, b, weight):
    """a <- lerp(a, b, weight), with the two-sided formula that is exact at both ends."""
    if abs(weight) < 0.5:
        a += weight * (b - a)
    else:
        a[...] = b - (b - a) * (1 - weight)
    return a


def addcmul_(a, t1, t2, value=1.0):
    """a <- a + value * t1 * t2 (multiplied left to right)."""
    a += value * t1 * t2
    return a


def addcdiv_(a, t1, t2, value=1.0):
    """a <- a + value * t1 / t2."""
    a += value * t1 / t2
    return a
