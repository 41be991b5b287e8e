"""Keras' functional forms of the merging layers: ``add``, ``subtract``, ``multiply``, ``average``, ``maximum``,
``minimum``, ``concatenate`` and ``dot``, each building the layer and calling it on ``inputs`` at once."""
from .merging import Add, Average, Concatenate, Multiply
from .merging_more import Dot, Maximum, Minimum, Subtract


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the element-wise sum of a list of same-shaped tensors.

    Example:
        >>> md.keras.layers.add([np.ones((2, 3)), np.ones((2, 3))]).shape
        (2, 3)
    """
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: ``inputs[0] - inputs[1]``.

    Example:
        >>> md.keras.layers.subtract([np.ones((2, 3)), np.ones((2, 3))]).shape
        (2, 3)
    """
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the element-wise product.

    Example:
        >>> md.keras.layers.multiply([np.ones((2, 3)), np.ones((2, 3))]).shape
        (2, 3)
    """
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the element-wise mean.

    Example:
        >>> md.keras.layers.average([np.ones((2, 3)), np.zeros((2, 3))]).shape
        (2, 3)
    """
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the element-wise maximum.

    Example:
        >>> md.keras.layers.maximum([np.ones((2, 3)), np.zeros((2, 3))]).shape
        (2, 3)
    """
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the element-wise minimum.

    Example:
        >>> md.keras.layers.minimum([np.ones((2, 3)), np.zeros((2, 3))]).shape
        (2, 3)
    """
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``.

    Example:
        >>> md.keras.layers.concatenate([np.ones((2, 3)), np.ones((2, 4))]).shape
        (2, 7)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes=axes, normalize=normalize, **kwargs)(inputs)``: dot products between samples of two tensors.

    Example:
        >>> md.keras.layers.dot([np.ones((2, 3)), np.ones((2, 3))], axes=1).shape
        (2, 1)
    """
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
