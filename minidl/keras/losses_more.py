"""More of Keras 3's losses, by name and as classes: ``KLDivergence``, ``Poisson``, ``LogCosh``,
``MeanAbsolutePercentageError``, ``MeanSquaredLogarithmicError``, ``CosineSimilarity``, ``Hinge``, ``SquaredHinge``
and ``CategoricalHinge``, each a per-sample reduction over the last axis as Keras computes it."""
import math

from . import ops as kops
from ..tensor import Tensor
from .losses import EPSILON, _loss_class
from .losses import _aligned as _aligned_tensors


def _aligned(name, y_true, y_pred):
    """Labels and output aligned as Keras does; a NumPy output becomes a float Tensor first."""
    if not isinstance(y_pred, Tensor):
        y_pred = kops.convert_to_tensor(y_pred)
    if not y_pred.dtype.is_floating_point:
        y_pred = kops.cast(y_pred, "float32")
    return _aligned_tensors(name, y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """Per-sample ``sum(y * log(y / p))`` over the last axis, both clipped to ``[1e-7, 1]``.

    Example:
        >>> md.keras.losses.kl_divergence(np.array([[0.5, 0.5]]), md.tensor([[0.9, 0.1]])).shape
        (1,)
    """
    y, p = _aligned("kl_divergence", y_true, y_pred)
    y, p = kops.clip(y, EPSILON, 1.0), kops.clip(p, EPSILON, 1.0)
    return kops.sum(y * kops.log(y / p), axis=-1)


def poisson(y_true, y_pred):
    """Per-sample mean of ``p - y * log(p + 1e-7)``.

    Example:
        >>> md.keras.losses.poisson(np.array([[1.0, 2.0]]), md.tensor([[1.5, 2.5]])).shape
        (1,)
    """
    y, p = _aligned("poisson", y_true, y_pred)
    return kops.mean(p - y * kops.log(p + EPSILON), axis=-1)


def log_cosh(y_true, y_pred):
    """Per-sample mean of ``log(cosh(p - y))``, in the overflow-free form ``x + softplus(-2x) - log 2``.

    Example:
        >>> md.keras.losses.log_cosh(np.array([[0.0, 1.0]]), md.tensor([[0.5, 0.5]])).shape
        (1,)
    """
    y, p = _aligned("log_cosh", y_true, y_pred)
    x = p - y
    return kops.mean(x + kops.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """Per-sample ``100 * mean(|y - p| / max(|y|, 1e-7))``.

    Example:
        >>> md.keras.losses.mean_absolute_percentage_error(np.array([[2.0]]), md.tensor([[1.0]]))
    """
    y, p = _aligned("mean_absolute_percentage_error", y_true, y_pred)
    return 100.0 * kops.mean(kops.abs((y - p) / kops.maximum(kops.abs(y), EPSILON)), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """Per-sample mean of ``(log(max(p, 1e-7) + 1) - log(max(y, 1e-7) + 1)) ** 2``.

    Example:
        >>> md.keras.losses.mean_squared_logarithmic_error(np.array([[1.0]]), md.tensor([[2.0]])).shape
        (1,)
    """
    y, p = _aligned("mean_squared_logarithmic_error", y_true, y_pred)
    d = kops.log(kops.maximum(p, EPSILON) + 1.0) - kops.log(kops.maximum(y, EPSILON) + 1.0)
    return kops.mean(d * d, axis=-1)


def _l2_normalize(x, axis):
    return x / kops.sqrt(kops.maximum(kops.sum(x * x, axis=axis, keepdims=True), 1e-12))


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample negative cosine similarity along ``axis`` (-1 for parallel vectors, 0 for orthogonal ones).

    Example:
        >>> md.keras.losses.cosine_similarity(np.array([[1.0, 0.0]]), md.tensor([[2.0, 0.0]]))
    """
    y, p = _aligned("cosine_similarity", y_true, y_pred)
    return -kops.sum(_l2_normalize(y, axis) * _l2_normalize(p, axis), axis=axis)


def _hinge_labels(y):
    """0/1 labels become -1/1, as Keras converts them (labels already in {-1, 1} stay)."""
    binary = bool(kops.convert_to_numpy(kops.all(kops.logical_or(kops.equal(y, 0.0), kops.equal(y, 1.0)))))
    return 2.0 * y - 1.0 if binary else y


def hinge(y_true, y_pred):
    """Per-sample mean of ``max(1 - y * p, 0)``, labels -1/1 (0/1 labels are converted).

    Example:
        >>> md.keras.losses.hinge(np.array([[0.0, 1.0]]), md.tensor([[0.3, 0.8]])).shape
        (1,)
    """
    y, p = _aligned("hinge", y_true, y_pred)
    return kops.mean(kops.maximum(1.0 - _hinge_labels(y) * p, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """Per-sample mean of ``max(1 - y * p, 0) ** 2``, labels -1/1 (0/1 labels are converted).

    Example:
        >>> md.keras.losses.squared_hinge(np.array([[0.0, 1.0]]), md.tensor([[0.3, 0.8]])).shape
        (1,)
    """
    y, p = _aligned("squared_hinge", y_true, y_pred)
    h = kops.maximum(1.0 - _hinge_labels(y) * p, 0.0)
    return kops.mean(h * h, axis=-1)


def categorical_hinge(y_true, y_pred):
    """Per-sample ``max(max((1 - y) * p) - sum(y * p) + 1, 0)`` for one-hot labels.

    Example:
        >>> md.keras.losses.categorical_hinge(np.array([[0.0, 1.0]]), md.tensor([[0.3, 0.8]])).shape
        (1,)
    """
    y, p = _aligned("categorical_hinge", y_true, y_pred)
    pos = kops.sum(y * p, axis=-1)
    neg = kops.max((1.0 - y) * p, axis=-1)
    return kops.maximum(neg - pos + 1.0, 0.0)


KLDivergence = _loss_class("KLDivergence", kl_divergence, "Kullback-Leibler divergence ``y * log(y / p)``.")
Poisson = _loss_class("Poisson", poisson, "Poisson loss ``p - y * log(p)``.")
LogCosh = _loss_class("LogCosh", log_cosh, "Logarithm of the hyperbolic cosine of the error.")
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                          "Mean absolute percentage error (``100 * |y - p| / |y|``).")
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                          "Mean squared error of ``log(1 + x)``.")
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity,
                               "Negative cosine similarity: ``CosineSimilarity(axis=-1)``.", axis=-1)
Hinge = _loss_class("Hinge", hinge, "Hinge loss for -1/1 (or 0/1) labels.")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "Squared hinge loss for -1/1 (or 0/1) labels.")
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, "Hinge loss for one-hot labels.")

CLASSES = (KLDivergence, Poisson, LogCosh, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
           CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge)
NAME_OF = {"KLDivergence": "kl_divergence", "Poisson": "poisson", "LogCosh": "log_cosh",
           "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
           "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error", "CosineSimilarity": "cosine_similarity",
           "Hinge": "hinge", "SquaredHinge": "squared_hinge", "CategoricalHinge": "categorical_hinge"}
BY_NAME = {**{v: globals()[k] for k, v in NAME_OF.items()}, "kld": KLDivergence, "mape": MeanAbsolutePercentageError,
           "msle": MeanSquaredLogarithmicError}
