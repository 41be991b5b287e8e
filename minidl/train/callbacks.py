"""The callbacks of both training loops (``md.train.fit`` and ``md.keras.Model.fit``): one ``Callback`` hierarchy
with Keras' names, hooks that the loop in ``minidl.train.engine`` calls around epochs and batches.

``self.model`` is the model being trained; a callback stops training by setting ``self.model.stop_training = True``,
as in Keras (md.train's older spelling, ``self.stop_training = True`` on the callback, works too).
``md.keras.callbacks`` hands out these classes; ``md.train.EarlyStopping``, ``ModelCheckpoint`` and
``LambdaCallback`` are md.train's spellings of the same classes (their documented arguments unchanged).

Example:
    >>> model.fit(x, y, validation_split=0.1, callbacks=[
    ...     md.keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True),
    ...     md.keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2),
    ...     md.keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True)])
"""
import csv
import math
import os
import warnings

import numpy as np

from ..device import to_host


class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.params`` are set by ``fit`` (and
    ``self.optimizer`` by ``md.train.fit``).

    Example:
        >>> class Print(md.keras.callbacks.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

    def __init__(self):
        self.model, self.params, self.optimizer = None, {}, None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)        # Keras: the training-batch hooks default to the older names

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


class History(Callback, dict):
    """What ``fit`` returns (both loops): ``history.history`` maps each logged name to its per-epoch values;
    ``history.epoch`` lists the epochs run. The History is that dict itself (``history["loss"]``, ``set(history)``,
    ``json.dumps(history)``), md.train's spelling.

    Example:
        >>> history = model.fit(x, y, epochs=3, verbose=0)
        >>> history.history["loss"] == history["loss"]
        True
    """

    def __init__(self):
        Callback.__init__(self)
        dict.__init__(self)
        self.epoch = []

    @property
    def history(self):
        return self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.setdefault(k, []).append(v)


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(logs["loss"]))``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if fn is not None:
                if not hasattr(Callback, name):
                    raise TypeError(f"LambdaCallback: unknown hook {name!r}")
                setattr(self, name, fn)


class _Monitor(Callback):
    """Watches one logged value; ``mode`` "auto" means max for accuracies (and auc), min for the rest."""

    def __init__(self, monitor, mode, min_delta, verbose=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"
        self.monitor, self.mode, self.min_delta, self.verbose = monitor, mode, abs(min_delta), verbose
        self.best = math.inf if mode == "min" else -math.inf

    def _reset_best(self):
        self.best = math.inf if self.mode == "min" else -math.inf

    def _value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} is conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs or {})}", stacklevel=3)
        return value

    def _better(self, value, reference):
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def _say(self, text):
        if self.verbose:
            print(text, flush=True)


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; with
    ``restore_best_weights`` the model ends with the weights of its best epoch."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta, verbose)
        self.patience, self.baseline = patience, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0

    def on_train_begin(self, logs=None):
        self._reset_best()
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _weights(self.model)
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = _weights(self.model)
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch, self.model.stop_training = epoch, True
            if self.restore_best_weights and self.best_weights is not None:
                self._say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
                _set_weights(self.model, self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            self._say(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(_Monitor):
    """Save the model (``.keras``, or weights only with ``save_weights_only``) after every epoch, or only when
    ``monitor`` improves with ``save_best_only``. ``filepath`` may hold ``{epoch:02d}`` and logged names,
    e.g. ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, 0, verbose)
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: only save_freq='epoch' is supported, got {save_freq!r}")
        self.filepath, self.save_best_only, self.save_weights_only = os.fspath(filepath), save_best_only, \
            save_weights_only
        if not save_weights_only and not self.filepath.endswith(".keras"):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). Received: "
                             f"filepath={self.filepath}")
        if initial_value_threshold is not None:        # like Keras, the best value carries over between fits
            self.best = initial_value_threshold
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = self._value(logs)
            if value is None:
                return
            if not self._better(value, self.best):
                self._say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            self._say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {value:.5f}, saving "
                      f"model to {path}")
            self.best = value
        if not self.save_weights_only:
            self.model.save(path)
        elif hasattr(self.model, "save_weights"):
            self.model.save_weights(path)
        else:                           # an md.nn model: its state dict, as md.save writes it
            from ..serialization import save  # noqa: PLC0415
            save(self.model.state_dict(), path)
        self.saved.append(path)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs, then wait
    ``cooldown`` epochs; never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to ReduceLROnPlateau: {kwargs}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        super().__init__(monitor, mode, min_delta, verbose)
        self.factor, self.patience, self.cooldown, self.min_lr = factor, patience, cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self._reset_best()
        self.wait = self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.optimizer.learning_rate
        value = self._value(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(value, self.best):
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = self.model.optimizer.learning_rate
            if old > self.min_lr:
                new = max(old * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new
                self._say(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.schedule(epoch, self.model.optimizer.learning_rate)
        if not isinstance(lr, (float, int, np.floating)):
            raise ValueError(f'The output of the "schedule" function should be a float. Got: {lr!r}')
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True


class CSVLogger(Callback):
    """Append each epoch's logs to a CSV file (``separator``, ``append``)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._file = self._writer = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115 -- spans the run
        self._writer, self._header_done = None, exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + keys, delimiter=self.separator)
            if not self._header_done:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs[k] for k in keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


def _weights(model):
    """A copy of the model's weights: Keras' ``get_weights`` list, or an md.nn state dict as NumPy arrays."""
    if hasattr(model, "get_weights"):
        return model.get_weights()
    return {k: np.array(to_host(v)) for k, v in model.state_dict().items()}


def _set_weights(model, weights):
    if isinstance(weights, dict):
        model.load_state_dict(weights)
    else:
        model.set_weights(weights)


# --- md.train's spellings of the same classes (their documented arguments and behaviour) -----------------------
class _Strict:
    """md.train's monitors refuse a value that is not logged (Keras only warns)."""

    def _value(self, logs):
        if self.monitor not in (logs or {}):
            raise KeyError(f"{self._who}: '{self.monitor}' is not logged (logged: {', '.join(logs or {})}); "
                           "monitoring val_* needs validation_data")
        return logs[self.monitor]


class TrainEarlyStopping(_Strict, EarlyStopping):
    """``md.train.EarlyStopping``: Keras' ``EarlyStopping`` with md.train's arguments; a monitored value that is
    not logged is a ``KeyError``.

    Example:
        >>> md.train.fit(..., validation_data=(xv, yv), callbacks=[md.train.EarlyStopping(patience=3)])
    """

    _who = "EarlyStopping"

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        super().__init__(monitor=monitor, min_delta=min_delta, patience=patience, mode=mode,
                         restore_best_weights=restore_best_weights)


class TrainModelCheckpoint(_Strict, ModelCheckpoint):
    """``md.train.ModelCheckpoint``: save the model's state dict (safetensors, via ``md.save``) after each epoch,
    or only when ``monitor`` improves with ``save_best_only``; ``path`` may hold ``{epoch}`` and logged names;
    ``.saved`` lists the files written.

    Example:
        >>> md.train.ModelCheckpoint("ckpt-{epoch:02d}.safetensors", save_best_only=True)
    """

    _who = "ModelCheckpoint"

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(os.fspath(path), monitor=monitor, save_best_only=save_best_only, save_weights_only=True,
                         mode=mode)
