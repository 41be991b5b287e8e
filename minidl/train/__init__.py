"""``md.train``: the training loop (``fit``), ``evaluate``, ``predict``, metrics and callbacks.

``md.train`` and ``md.keras`` share one training stack: the loop in ``minidl.train.engine``, one ``Callback``
hierarchy (``minidl.train.callbacks``, also ``md.keras.callbacks``), one ``History`` and one ``Metric`` hierarchy
(``minidl.train.metrics``, also ``md.keras.metrics``).

Example:
    >>> model = md.models.MLP(64, num_classes=10)
    >>> opt = md.optim.Adam(model.parameters(), lr=1e-3)
    >>> history = md.train.fit(model, md.nn.F.cross_entropy, opt, (x_train, y_train), epochs=5,
    ...                        validation_data=(x_test, y_test))
    >>> history["val_accuracy"][-1]
"""
from .callbacks import Callback, History, LambdaCallback
from .callbacks import TrainEarlyStopping as EarlyStopping
from .callbacks import TrainModelCheckpoint as ModelCheckpoint
from .loop import evaluate, fit, predict
from .metrics import METRICS, Metric, get_metric

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping", "ModelCheckpoint",
           "LambdaCallback", "METRICS", "Metric", "get_metric"]
