"""Callbacks for ``fit``: hooks around epochs and batches; setting ``stop_training`` ends the run."""
import math

import numpy as np

from ..device import to_host


class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.optimizer`` are set by ``fit``."""

    def __init__(self):
        self.model = self.optimizer = None
        self.stop_training = False

    def set_context(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def on_train_begin(self, logs):
        pass

    def on_epoch_begin(self, epoch, logs):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self, logs):
        pass


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(logs))``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_end=None, on_train_begin=None,
                 on_train_end=None):
        super().__init__()
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_end", on_batch_end), ("on_train_begin", on_train_begin),
                         ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)


class _Monitor(Callback):
    """Tracks the best value of one logged quantity (``mode`` "min", "max", or "auto" from its name)."""

    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "accuracy")) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def _current(self, logs):
        if self.monitor not in logs:
            raise KeyError(f"{type(self).__name__}: '{self.monitor}' is not logged (logged: {', '.join(logs)}); "
                           "monitoring val_* needs validation_data")
        return logs[self.monitor]

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; optionally restore
    the weights of the best epoch.

    Example:
        >>> md.train.fit(..., validation_data=(xv, yv), callbacks=[md.train.EarlyStopping(patience=3)])
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = patience, restore_best_weights
        self.wait, self.stopped_epoch, self.best_state = 0, None, None

    def on_train_begin(self, logs):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.stopped_epoch, self.best_state, self.stop_training = 0, None, None, False

    def on_epoch_end(self, epoch, logs):
        value = self._current(logs)
        if self._improved(value):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_state = {k: np.array(to_host(v)) for k, v in self.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stop_training, self.stopped_epoch = True, epoch

    def on_train_end(self, logs):
        if self.restore_best_weights and self.best_state is not None and self.stopped_epoch is not None:
            self.model.load_state_dict(self.best_state)


class ModelCheckpoint(_Monitor):
    """Save the model's state dict (safetensors, via ``md.save``) after each epoch, or only when
    ``monitor`` improves with ``save_best_only``. ``path`` may hold ``{epoch}`` and logged names.

    Example:
        >>> ModelCheckpoint("ckpt-{epoch:02d}.safetensors", save_best_only=True)
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(monitor, mode)
        self.path, self.save_best_only = str(path), save_best_only
        self.saved = []

    def on_epoch_end(self, epoch, logs):
        from ..serialization import save  # noqa: PLC0415

        if self.save_best_only:
            value = self._current(logs)
            if not self._improved(value):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs)
        save(self.model.state_dict(), path)
        self.saved.append(path)
