"""More of Keras' losses: hinge family, Kullback-Leibler, Poisson, log-cosh, cosine similarity and the
logarithmic / percentage regression errors, with Keras 3's formulas (``epsilon = 1e-7`` where Keras clips).

Each function returns the per-sample loss (reduced over the last axis); the classes built from them in
``losses.py`` add the reduction and sample weights.

Example:
    >>> md.keras.losses.Hinge()(np.array([[0., 1.]]), md.tensor([[0.3, 0.8]]))   # 0/1 labels become -1/1
"""
import math

import numpy as np

from .. import ops
from ..nn import functional as F
from ..tensor import Tensor


def _pair(name, y_true, y_pred):
    from .losses import _aligned  # noqa: PLC0415 -- losses.py registers these functions at its end
    if not isinstance(y_pred, Tensor):          # an array, as Keras' loss functions take
        a = np.asarray(y_pred)
        y_pred = Tensor._wrap(a if a.dtype.kind == "f" else a.astype(np.float32))
    return _aligned(name, y_true, y_pred)


def _hinge_labels(y):
    """Keras converts 0/1 labels to -1/1 (labels already in -1/1, or anything else, stay)."""
    a = y.numpy()
    return y * 2.0 - 1.0 if np.all((a == 0) | (a == 1)) else y


def hinge(y_true, y_pred):
    """``mean(max(1 - y * p, 0))`` over the last axis, labels in -1/1 (0/1 converted)."""
    y, p = _pair("hinge", y_true, y_pred)
    return ops.relu(1.0 - _hinge_labels(y) * p).mean(-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y * p, 0) ** 2)`` over the last axis, labels in -1/1 (0/1 converted)."""
    y, p = _pair("squared_hinge", y_true, y_pred)
    h = ops.relu(1.0 - _hinge_labels(y) * p)
    return (h * h).mean(-1)


def categorical_hinge(y_true, y_pred):
    """``max(max((1 - y) * p) - sum(y * p) + 1, 0)`` for one-hot labels."""
    y, p = _pair("categorical_hinge", y_true, y_pred)
    pos = (y * p).sum(-1)
    neg = ((1.0 - y) * p).max(-1)
    if isinstance(neg, tuple):              # max over an axis may give (values, indices)
        neg = neg[0]
    return ops.relu(neg - pos + 1.0)


def kl_divergence(y_true, y_pred):
    """``sum(y * log(y / p))`` over the last axis, both clipped to ``[1e-7, 1]``."""
    y, p = _pair("kl_divergence", y_true, y_pred)
    y, p = y.clamp(1e-7, 1.0), p.clamp(1e-7, 1.0)
    return (y * (y / p).log()).sum(-1)


def poisson(y_true, y_pred):
    """``mean(p - y * log(p + 1e-7))`` over the last axis."""
    y, p = _pair("poisson", y_true, y_pred)
    return (p - y * (p + 1e-7).log()).mean(-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(p - y)))`` over the last axis, computed as ``x + softplus(-2x) - log 2`` (no overflow)."""
    y, p = _pair("log_cosh", y_true, y_pred)
    x = p - y
    return (x + F.softplus(x * -2.0) - math.log(2.0)).mean(-1)


def _l2_normalize(x, axis):
    return x / ((x * x).sum(axis, keepdim=True).clamp(min=1e-12)).sqrt()


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(normalize(y) * normalize(p))`` along ``axis``: -1 for vectors that point the same way."""
    y, p = _pair("cosine_similarity", y_true, y_pred)
    return -(_l2_normalize(y, axis) * _l2_normalize(p, axis)).sum(axis)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(p + 1) - log(y + 1)) ** 2)`` over the last axis, both clipped below at 1e-7."""
    y, p = _pair("mean_squared_logarithmic_error", y_true, y_pred)
    d = (p.clamp(min=1e-7) + 1.0).log() - (y.clamp(min=1e-7) + 1.0).log()
    return (d * d).mean(-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y - p| / max(|y|, 1e-7))`` over the last axis."""
    y, p = _pair("mean_absolute_percentage_error", y_true, y_pred)
    return ((y - p).abs() / y.abs().clamp(min=1e-7)).mean(-1) * 100.0


# (class name, function, Keras' short names, docstring, keyword defaults)
MORE = [
    ("Hinge", hinge, ("hinge",), "Hinge loss for -1/1 (or 0/1) labels.", {}),
    ("SquaredHinge", squared_hinge, ("squared_hinge",), "Squared hinge loss for -1/1 (or 0/1) labels.", {}),
    ("CategoricalHinge", categorical_hinge, ("categorical_hinge",), "Hinge loss for one-hot labels.", {}),
    ("KLDivergence", kl_divergence, ("kl_divergence", "kld", "kullback_leibler_divergence"),
     "Kullback-Leibler divergence of the predicted distribution from the labels'.", {}),
    ("Poisson", poisson, ("poisson",), "Poisson negative log-likelihood (up to a constant).", {}),
    ("LogCosh", log_cosh, ("log_cosh",), "Mean log-cosh of the error.", {}),
    ("CosineSimilarity", cosine_similarity, ("cosine_similarity",),
     "Negative cosine similarity: ``CosineSimilarity(axis=-1)``.", {"axis": -1}),
    ("MeanSquaredLogarithmicError", mean_squared_logarithmic_error, ("mean_squared_logarithmic_error", "msle"),
     "Mean squared error of log(1 + x).", {}),
    ("MeanAbsolutePercentageError", mean_absolute_percentage_error, ("mean_absolute_percentage_error", "mape"),
     "Mean absolute error as a percentage of the labels.", {}),
]
