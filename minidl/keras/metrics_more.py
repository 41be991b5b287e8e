"""More of Keras' metrics, on the one metric hierarchy (``Metric``: ``update_state``, ``result``,
``reset_state``): the running ``Mean``/``Sum`` of values (a custom ``train_step``'s loss tracker),
``RootMeanSquaredError``, top-k accuracies, the losses as metrics (cross-entropies, hinge family, KL divergence,
Poisson, log-cosh, cosine similarity, percentage and logarithmic errors), confusion counts at thresholds
(``TruePositives``...), and ``AUC`` (ROC or PR, Keras' thresholds and summation rules).

Example:
    >>> tracker = md.keras.metrics.Mean(name="loss")
    >>> tracker.update_state(2.0); tracker.update_state(4.0)
    >>> tracker.result()
    3.0
"""
import numpy as np

from ..tensor import Tensor
from . import losses
from .metrics import MeanMetricWrapper, Metric


def _np(x):
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(getattr(x, "value", x) if not isinstance(x, (list, tuple)) else x)


def _weights(sample_weight, shape):
    if sample_weight is None:
        return np.ones(shape)
    w = _np(sample_weight).astype(np.float64)
    return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)


class Mean(Metric):
    """The (weighted) mean of every value given to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name)

    def update_state(self, values, sample_weight=None):
        v = _np(values).astype(np.float64)
        w = _weights(sample_weight, v.shape)
        self.total += float((v * w).sum())
        self.count += float(w.sum())


class Sum(Metric):
    """The (weighted) sum of every value given to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name)

    def update_state(self, values, sample_weight=None):
        v = _np(values).astype(np.float64)
        self.total += float((v * _weights(sample_weight, v.shape)).sum())

    def result(self):
        return self.total


class RootMeanSquaredError(Metric):
    """``sqrt`` of the (weighted) mean squared error over everything seen."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _np(y_true).astype(np.float64), _np(y_pred).astype(np.float64)
        t = t.reshape(p.shape) if t.size == p.size else t
        err = np.square(t - p)
        w = _weights(sample_weight, err.shape)
        self.total += float((err * w).sum())
        self.count += float(w.sum())

    def result(self):
        return float(np.sqrt(self.total / self.count)) if self.count else 0.0


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the true class (one-hot labels) is among the k highest predictions."""
    return sparse_top_k_categorical_accuracy(np.argmax(_np(y_true), -1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the true class (integer labels) is among the k highest predictions (ties count as in Keras: the
    true class's score beats or equals the k-th highest)."""
    p = _np(y_pred)
    t = _np(y_true).astype(np.int64).reshape(p.shape[:-1])
    true_score = np.take_along_axis(p, t[..., None], -1)[..., 0]
    kth = -np.sort(-p, -1)[..., min(k, p.shape[-1]) - 1]
    return (true_score >= kth).astype(np.float64)


def _from_loss(fn):
    def metric(y_true, y_pred, **kwargs):
        p = y_pred if isinstance(y_pred, Tensor) else Tensor._wrap(np.asarray(y_pred, np.float64))
        return _np(fn(y_true, p, **kwargs))
    metric.__name__ = fn.__name__
    return metric


def _wrapper(cls_name, name, fn, **defaults):
    def __init__(self, name=name, dtype=None, **kwargs):
        MeanMetricWrapper.__init__(self, fn, name, **{**defaults, **kwargs})
    return type(cls_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": f"Running mean of ``{name}``."})


TopKCategoricalAccuracy = _wrapper("TopKCategoricalAccuracy", "top_k_categorical_accuracy",
                                   top_k_categorical_accuracy, k=5)
SparseTopKCategoricalAccuracy = _wrapper("SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy",
                                         sparse_top_k_categorical_accuracy, k=5)

_LOSS_METRICS = [
    ("BinaryCrossentropy", "binary_crossentropy", losses.binary_crossentropy, {"from_logits": False,
                                                                                "label_smoothing": 0.0}),
    ("CategoricalCrossentropy", "categorical_crossentropy", losses.categorical_crossentropy,
     {"from_logits": False, "label_smoothing": 0.0}),
    ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy,
     {"from_logits": False}),
    ("Hinge", "hinge", losses.hinge, {}), ("SquaredHinge", "squared_hinge", losses.squared_hinge, {}),
    ("CategoricalHinge", "categorical_hinge", losses.categorical_hinge, {}),
    ("KLDivergence", "kl_divergence", losses.kl_divergence, {}), ("Poisson", "poisson", losses.poisson, {}),
    ("LogCoshError", "logcosh", losses.log_cosh, {}),
    ("CosineSimilarity", "cosine_similarity", lambda t, p, axis=-1: -losses.cosine_similarity(t, p, axis), {}),
    ("MeanAbsolutePercentageError", "mean_absolute_percentage_error", losses.mean_absolute_percentage_error, {}),
    ("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", losses.mean_squared_logarithmic_error, {}),
]
LOSS_METRIC_CLASSES = {cls: _wrapper(cls, name, _from_loss(fn), **defaults)
                       for cls, name, fn, defaults in _LOSS_METRICS}
globals().update(LOSS_METRIC_CLASSES)


class _Counts(Metric):
    """A confusion count of 0/1 labels against ``y_pred > threshold``, for each of ``thresholds``."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.thresholds = 0.5 if thresholds is None else thresholds
        super().__init__(name)
        self.reset_state()

    def reset_state(self):
        self.accumulator = np.zeros(np.shape(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _np(y_pred).astype(np.float64)
        t = _np(y_true).reshape(p.shape) > 0.5
        w = _weights(sample_weight, p.shape)
        th = np.asarray(self.thresholds, np.float64).reshape(-1, *([1] * p.ndim))
        pos = p[None] > th
        self.accumulator = self.accumulator + self._count(t[None], pos, w[None]).reshape(self.accumulator.shape)

    def result(self):
        return float(self.accumulator) if self.accumulator.ndim == 0 else self.accumulator.copy()

    def get_config(self):
        return {"name": self.name, "thresholds": self.thresholds}


def _count_class(cls_name, rule):
    def _count(self, t, pos, w):
        return (rule(t, pos) * w).reshape(pos.shape[0], -1).sum(-1)     # one count per threshold
    return type(cls_name, (_Counts,), {"_count": _count, "__doc__": f"``{cls_name}`` at the thresholds."})


TruePositives = _count_class("TruePositives", lambda t, pos: t & pos)
FalsePositives = _count_class("FalsePositives", lambda t, pos: ~t & pos)
TrueNegatives = _count_class("TrueNegatives", lambda t, pos: ~t & ~pos)
FalseNegatives = _count_class("FalseNegatives", lambda t, pos: t & ~pos)


def _div(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b != 0)


class AUC(Metric):
    """Area under the ROC or PR curve from confusion counts at ``num_thresholds`` thresholds evenly spaced in
    [0, 1] (plus -1e-7 and 1 + 1e-7), summed as Keras does: trapezoids (``"interpolation"``; for PR, Davis &
    Goadrich's interpolation), ``"minoring"`` or ``"majoring"``. ``from_logits=True`` applies a sigmoid first.
    Single-label: every entry of ``y_pred`` is one score."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve.upper() not in ("ROC", "PR"):
            raise ValueError(f'AUC: curve must be "ROC" or "PR" in md.keras, got {curve!r}')
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: invalid summation_method {summation_method!r}")
        if multi_label:
            raise ValueError("AUC(multi_label=True) is not supported by md.keras: pass multi_label=False")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. Received: "
                                 f"num_thresholds={num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self._thresholds = np.array([-1e-7] + inner + [1.0 + 1e-7])
        self.num_thresholds = len(self._thresholds)
        self.curve, self.summation_method, self.from_logits = curve.upper(), summation_method, from_logits
        super().__init__(name or "auc")
        self.reset_state()

    def reset_state(self):
        n = len(self._thresholds)
        self.tp, self.fp, self.tn, self.fn = (np.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _np(y_pred).astype(np.float64)
        if self.from_logits:
            p = 1.0 / (1.0 + np.exp(-p))
        t = _np(y_true).reshape(p.shape) > 0.5
        w = _weights(sample_weight, p.shape).ravel()
        pos = p.ravel()[None, :] > self._thresholds[:, None]
        t = t.ravel()[None, :]
        self.tp += (w * (t & pos)).sum(1)
        self.fp += (w * (~t & pos)).sum(1)
        self.tn += (w * (~t & ~pos)).sum(1)
        self.fn += (w * (t & ~pos)).sum(1)

    def result(self):
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        if self.curve == "PR" and self.summation_method == "interpolation":
            dtp = tp[:-1] - tp[1:]
            p = tp + fp
            dp = p[:-1] - p[1:]
            slope = _div(dtp, np.maximum(dp, 0))
            intercept = tp[1:] - slope * p[1:]
            ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
            return float(_div(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)).sum())
        recall = _div(tp, tp + fn)
        x, y = (_div(fp, fp + tn), recall) if self.curve == "ROC" else (recall, _div(tp, tp + fp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(((x[:-1] - x[1:]) * heights).sum())

    def get_config(self):
        return {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "from_logits": self.from_logits}


CLASSES = {c.__name__: c for c in (Mean, Sum, RootMeanSquaredError, TopKCategoricalAccuracy,
                                   SparseTopKCategoricalAccuracy, TruePositives, FalsePositives, TrueNegatives,
                                   FalseNegatives, AUC, *LOSS_METRIC_CLASSES.values())}
# names compile(metrics=[...]) accepts, as Keras'
BY_NAME = {"top_k_categorical_accuracy": TopKCategoricalAccuracy,
           "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
           "auc": AUC, "root_mean_squared_error": RootMeanSquaredError,
           **{name: LOSS_METRIC_CLASSES[cls] for cls, name, _, _ in _LOSS_METRICS}}
FUNCTIONS = {"top_k_categorical_accuracy": top_k_categorical_accuracy,
             "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy}
