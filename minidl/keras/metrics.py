"""Keras' metrics (``md.keras.metrics``): the one metric hierarchy of minidl, shared with ``md.train`` (it lives in
``minidl.train.metrics``): ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``, ``reset_state()``.

``metrics=["accuracy"]`` picks binary, categorical or sparse-categorical accuracy from the compiled loss, as Keras
does; the logged key is the name you gave (``"accuracy"``, ``"acc"``).

Example:
    >>> m = md.keras.metrics.SparseCategoricalAccuracy()
    >>> m.update_state(np.array([1, 0]), np.array([[0.1, 0.9], [0.2, 0.8]]))
    >>> m.result()
    0.5
"""
from ..train.metrics import (BinaryAccuracy, CategoricalAccuracy, MeanAbsoluteError, MeanMetricWrapper,
                             MeanSquaredError, Metric, Precision, Recall, SparseCategoricalAccuracy, binary_accuracy,
                             categorical_accuracy, get, mean_absolute_error, mean_squared_error,
                             sparse_categorical_accuracy)

__all__ = ["Metric", "MeanMetricWrapper", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "MeanSquaredError", "MeanAbsoluteError", "Precision", "Recall", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "mean_squared_error", "mean_absolute_error", "get"]

# --- more of Keras' metrics (metrics_more.py), known by name to compile(metrics=[...]) ---
from ..train import metrics as _train_metrics  # noqa: E402
from . import metrics_more as _more  # noqa: E402

globals().update(_more.CLASSES)
globals().update(_more.FUNCTIONS)
_train_metrics._BY_NAME.update(_more.BY_NAME)
__all__ += sorted(_more.CLASSES) + sorted(_more.FUNCTIONS)
