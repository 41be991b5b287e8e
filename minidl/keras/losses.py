"""Keras' losses by name (``loss="sparse_categorical_crossentropy"``) or as objects, on minidl ops.

As Keras: probabilities (``from_logits=False``, the default) are clipped to ``[1e-7, 1 - 1e-7]`` before the log;
``from_logits=True`` uses the stable log-softmax / softplus forms. A loss reduces each sample over its last
axis, then averages (``"sum_over_batch_size"``), optionally weighted by ``sample_weight``. Labels are checked
against the model's output: a mismatch names both shapes.

Example:
    >>> loss = md.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> loss(np.array([1, 0]), md.tensor([[0.1, 2.0], [1.5, -0.3]]))
"""
import inspect

import numpy as np

from .. import ops
from ..nn import functional as F
from ..tensor import Tensor
from ._config import from_registry
from .layers.base import host, shape_str

EPSILON = 1e-7


def _on(arr, like):
    """A host array as a Tensor of ``like``'s float dtype, on ``like``'s device."""
    t = Tensor._wrap(np.ascontiguousarray(arr, dtype=like.dtype.np))
    return t if str(like.device) == "cpu" else t.to(like.device)


def _labels(name, y_true, y_pred):
    """Float labels as a Tensor shaped like ``y_pred`` (after Keras' rank alignment)."""
    a = host(y_true) if isinstance(y_true, Tensor) else np.asarray(y_true)
    return _on(a.reshape(_same_rank(name, a.shape, tuple(y_pred.shape))), y_pred)


def _aligned(name, y_true, y_pred):
    """Labels and output for a regression loss (mse, mae, huber), as Keras aligns them: when their ranks differ
    by one and the longer one ends in a size-1 axis, that axis is dropped (or, against a 1-d partner, the 1-d one
    gains it); then they broadcast (labels (N, 1) against an output (N, T, 1) give (N, T)). Returns (labels,
    output) Tensors."""
    a = host(y_true) if isinstance(y_true, Tensor) else np.asarray(y_true)
    t_shape, p_shape = tuple(a.shape), tuple(y_pred.shape)
    if len(t_shape) == len(p_shape) + 1 and t_shape[-1] == 1:
        if len(p_shape) == 1:
            y_pred = y_pred.unsqueeze(-1)
        else:
            a = a.reshape(t_shape[:-1])
    elif len(p_shape) == len(t_shape) + 1 and p_shape[-1] == 1:
        if len(t_shape) == 1:
            a = a.reshape(t_shape + (1,))
        else:
            y_pred = y_pred.squeeze(-1)
    try:
        np.broadcast_shapes(a.shape, tuple(y_pred.shape))
    except ValueError:
        _same_rank(name, t_shape, p_shape)              # raises with Keras' message and the hints
        raise
    return _on(a, y_pred), y_pred


def _same_rank(name, shape_t, shape_p):
    """Keras' rank alignment: ``(N,)`` labels for an ``(N, 1)`` output (or the reverse) are fine; otherwise the
    shapes must be equal. Returns the labels' aligned shape."""
    given = shape_t = tuple(shape_t)
    if len(shape_t) == len(shape_p) - 1 and shape_p[-1] == 1:
        shape_t = shape_t + (1,)
    elif len(shape_t) == len(shape_p) + 1 and shape_t[-1] == 1:
        shape_t = shape_t[:-1]
    if shape_t != shape_p:
        hint = ""
        if len(shape_p) > 2 and len(given) <= 2:
            hint = (" The output has more axes than the labels: a Dense layer applied to a 3-D or 4-D input acts on "
                    "its last axis only; add a Flatten() (or a pooling layer) before the classifier.")
        elif name == "categorical_crossentropy" and len(shape_t) == len(shape_p) - 1:
            hint = " For integer class labels use loss='sparse_categorical_crossentropy' (or to_categorical(y))."
        raise ValueError(f"{name}: arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={shape_str(given)}, output.shape={shape_str(shape_p)}.{hint}")
    return shape_t


def _log_probs(y_pred, from_logits, axis=-1):
    if from_logits:
        return ops.log_softmax(y_pred, axis)
    p = y_pred / y_pred.sum(axis, keepdim=True)
    return ops.log(ops.clamp(p, EPSILON, 1.0 - EPSILON))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None):
    """Per-sample ``-log p[label]`` for integer labels ``(N,)`` (or ``(N, 1)``) and an ``(N, classes)`` output."""
    y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor._wrap(np.asarray(y_pred))
    labels = host(y_true) if isinstance(y_true, Tensor) else np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1:] == (1,):
        labels = labels[..., 0]
    if labels.shape != tuple(y_pred.shape[:-1]):
        hint = ""
        if y_pred.ndim > 2 and labels.ndim < y_pred.ndim - 1:
            hint = (" The output has more axes than the labels allow: a Dense layer applied to a 3-D or 4-D input "
                    "acts on its last axis only; add a Flatten() (or a pooling layer) before the classifier.")
        elif labels.shape == tuple(y_pred.shape):
            hint = " One-hot labels need loss='categorical_crossentropy'."
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {shape_str(np.shape(y_true))} do not "
                         f"match the model's output of shape {shape_str(y_pred.shape)}: expected labels of shape "
                         f"{shape_str(y_pred.shape[:-1])}, one class index per output row.{hint}")
    classes = y_pred.shape[-1]
    if labels.size:
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise ValueError("sparse_categorical_crossentropy: labels must be integer class indices, got "
                             f"non-integer values such as {labels[labels != np.round(labels)].flat[0]}")
        ignore = labels == ignore_class if ignore_class is not None else np.zeros(labels.shape, bool)
        bad = ((labels < 0) | (labels >= classes)) & ~ignore
        if bad.any():
            raise ValueError(f"Received a label value of {labels[bad].flat[0]} which is outside the valid range of "
                             f"[0, {classes}). The model's output has {classes} classes "
                             f"(output shape {shape_str(y_pred.shape)}).")
    labels = labels.astype(np.int64)
    onehot = np.zeros(labels.shape + (classes,), y_pred.dtype.np)
    valid = labels != ignore_class if ignore_class is not None else np.ones(labels.shape, bool)
    np.put_along_axis(onehot, np.where(valid, labels, 0)[..., None], valid[..., None].astype(onehot.dtype), axis=-1)
    return -(_log_probs(y_pred, from_logits) * _on(onehot, y_pred)).sum(-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample ``-sum(y * log p)`` for one-hot (or soft) labels of the output's shape."""
    y = _labels("categorical_crossentropy", y_true, y_pred)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    return -(_log_probs(y_pred, from_logits) * y).sum(-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample mean over the last axis of ``-(y log p + (1 - y) log(1 - p))``; 0/1 (or soft) labels."""
    y = _labels("binary_crossentropy", y_true, y_pred)      # Keras' crossentropies want equal shapes
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per = F.binary_cross_entropy_with_logits(y_pred, y, reduction="none")
    else:
        p = ops.clamp(y_pred, EPSILON, 1.0 - EPSILON)
        per = -(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))
    return per.mean(-1)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean over the last axis of ``(y - p) ** 2``."""
    y, y_pred = _aligned("mean_squared_error", y_true, y_pred)
    d = y - y_pred
    return (d * d).mean(-1)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean over the last axis of ``|y - p|``."""
    y, y_pred = _aligned("mean_absolute_error", y_true, y_pred)
    return ops.abs(y - y_pred).mean(-1)


def huber(y_true, y_pred, delta=1.0):
    """Per-sample mean of ``0.5 d^2`` where ``|d| <= delta``, else ``delta (|d| - 0.5 delta)``."""
    y, y_pred = _aligned("huber", y_true, y_pred)
    d = ops.abs(y - y_pred)
    return ops.where(d <= delta, d * d * 0.5, (d - 0.5 * delta) * delta).mean(-1)


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` is a scalar Tensor.

    ``reduction``: ``"sum_over_batch_size"`` (the mean over samples, Keras' default), ``"sum"`` or ``"none"``.
    """

    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        if reduction not in ("sum_over_batch_size", "sum", "none", None, "mean"):
            raise ValueError(f"Invalid value for argument `reduction`: {reduction!r}. Expected one of "
                             "'sum_over_batch_size', 'sum', 'none'")
        self.reduction, self.kwargs = reduction, kwargs
        self.name = name or _NAME_OF[type(self).__name__]

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        per = self.call(y_true, y_pred)
        if sample_weight is not None:
            w = np.asarray(host(sample_weight), dtype=per.dtype.np)
            w = w.reshape(w.shape + (1,) * (per.ndim - w.ndim))
            per = per * _on(w, per)
        if self.reduction in ("none", None):
            return per
        total = per.sum()
        return total if self.reduction == "sum" else total / max(per.numel(), 1)

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name, **self.kwargs}


def _loss_class(name, fn, doc, **defaults):
    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"Unrecognized keyword arguments passed to {cls.__name__}: {sorted(unknown)}")
        Loss.__init__(self, reduction, name, **{**defaults, **kwargs})

    # the signature the keyword check of configs read from files sees (keras._config.init_params)
    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
           for k, v in {"reduction": "sum_over_batch_size", "name": None, **defaults}.items()])
    cls = type(name, (Loss,), {"__init__": __init__, "fn": staticmethod(fn), "__doc__": doc})
    return cls


SparseCategoricalCrossentropy = _loss_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
    "Cross-entropy for integer labels: ``SparseCategoricalCrossentropy(from_logits=False, ignore_class=None)``.",
    from_logits=False, ignore_class=None)
CategoricalCrossentropy = _loss_class(
    "CategoricalCrossentropy", categorical_crossentropy,
    "Cross-entropy for one-hot labels: ``CategoricalCrossentropy(from_logits=False, label_smoothing=0.0)``.",
    from_logits=False, label_smoothing=0.0)
BinaryCrossentropy = _loss_class(
    "BinaryCrossentropy", binary_crossentropy,
    "Binary cross-entropy for 0/1 labels: ``BinaryCrossentropy(from_logits=False, label_smoothing=0.0)``.",
    from_logits=False, label_smoothing=0.0)
MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error, "Mean of squared errors.")
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, "Mean of absolute errors.")
Huber = _loss_class("Huber", huber, "Huber loss: ``Huber(delta=1.0)``.", delta=1.0)

_NAME_OF = {"SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
            "CategoricalCrossentropy": "categorical_crossentropy", "BinaryCrossentropy": "binary_crossentropy",
            "MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error", "Huber": "huber"}
_CLASSES = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy,
                                     MeanSquaredError, MeanAbsoluteError, Huber)}
_BY_NAME = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy, "binary_crossentropy": BinaryCrossentropy,
            "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
            "mae": MeanAbsoluteError, "huber": Huber, "huber_loss": Huber}
mse, mae = mean_squared_error, mean_absolute_error


class _FunctionLoss(Loss):
    """A plain function ``f(y_true, y_pred) -> per-sample Tensor`` used as a loss."""

    def __init__(self, fn):
        self.fn_, self.reduction, self.kwargs = fn, "sum_over_batch_size", {}
        self.name = getattr(fn, "__name__", "loss")

    def call(self, y_true, y_pred):
        return self.fn_(y_true, y_pred)


def get(identifier):
    """A Loss from a Keras name (``"mse"``, ``"binary_crossentropy"``...), a Loss object, a config dict or a
    function ``f(y_true, y_pred)``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            loss = _BY_NAME[identifier]()
            loss.name = identifier if identifier in _NAME_OF.values() else loss.name
            return loss
        raise ValueError(f"Could not interpret loss identifier: {identifier!r} (known: {', '.join(sorted(_BY_NAME))})")
    if isinstance(identifier, dict):
        return from_registry(_CLASSES, identifier, "loss")
    if callable(identifier):
        for cls in _BY_NAME.values():
            if identifier is cls.fn:
                return cls()
        return _FunctionLoss(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    if type(loss).__name__ not in _CLASSES:
        return None
    return {"class_name": type(loss).__name__, "config": loss.get_config()}

# --- issue 15 campaign: more of Keras 3's losses (losses_more) ---
from . import losses_more as _more  # noqa: E402

(KLDivergence, Poisson, LogCosh, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, Hinge,
 SquaredHinge, CategoricalHinge) = _more.CLASSES
kl_divergence, poisson, log_cosh = _more.kl_divergence, _more.poisson, _more.log_cosh
mean_absolute_percentage_error = _more.mean_absolute_percentage_error
mean_squared_logarithmic_error = _more.mean_squared_logarithmic_error
cosine_similarity, hinge, squared_hinge = _more.cosine_similarity, _more.hinge, _more.squared_hinge
categorical_hinge = _more.categorical_hinge
kld, mape, msle = kl_divergence, mean_absolute_percentage_error, mean_squared_logarithmic_error
_NAME_OF.update(_more.NAME_OF)
_CLASSES.update({c.__name__: c for c in _more.CLASSES})
_BY_NAME.update(_more.BY_NAME)
