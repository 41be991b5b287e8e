"""``md.train``: the training loop (``fit``), ``evaluate``, ``predict``, metrics and callbacks.

Example:
    >>> model = md.models.MLP(64, num_classes=10)
    >>> opt = md.optim.Adam(model.parameters(), lr=1e-3)
    >>> history = md.train.fit(model, md.nn.F.cross_entropy, opt, (x_train, y_train), epochs=5,
    ...                        validation_data=(x_test, y_test))
    >>> history["val_accuracy"][-1]
"""
from .callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint
from .loop import History, evaluate, fit, predict
from .metrics import METRICS, get_metric

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping", "ModelCheckpoint",
           "LambdaCallback", "METRICS", "get_metric"]
