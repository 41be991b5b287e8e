"""``md.train.fit``/``evaluate``/``predict``: PyTorch-style training of an ``md.nn`` model with a loss function and an
``md.optim`` optimizer, run on the loop that ``md.keras`` shares (``minidl.train.engine``)."""
import math
import sys
import time

import numpy as np

from ..tensor import Tensor
from .callbacks import Callback, History
from .engine import evaluate_loop, fit_loop, predict_loop
from .metrics import get_metric

__all__ = ["fit", "evaluate", "predict", "History"]


def _loader(data, batch_size, shuffle, seed=None):
    """A DataLoader from a DataLoader, a Dataset, or an ``(x, y)`` pair of arrays/Tensors."""
    from ..data import DataLoader, Dataset, TensorDataset  # noqa: PLC0415 -- keeps md.train importable on its own

    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle, seed=seed)
    raise TypeError(f"fit: data must be a DataLoader, a Dataset or an (x, y) pair, got {type(data).__name__}")


def _to(batch, device):
    if device is None:
        return batch
    return tuple(b.to(device) if isinstance(b, Tensor) else b for b in batch)


def _model_device(model):
    for p in model.parameters():
        return p.device
    return None


def _progress(total, desc, enabled):
    """A tqdm bar (batches/s, running loss) when tqdm is installed and wanted, else None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415 -- optional: pip install "minidl[train]"
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True)


class _Step:
    """md.train's step: ``loss_fn(output, target)`` and the metrics, with (``train``) backward, the gradient sync of
    a ``DistributedDataParallel`` model and the optimizer step."""

    def __init__(self, model, loss_fn, metrics, device, optimizer=None):
        self.model, self.loss_fn, self.device, self.optimizer = model, loss_fn, device, optimizer
        self.metrics = [get_metric(m) for m in metrics]
        self.sync = getattr(model, "sync_gradients", None)
        self.epoch = self.batch = 0

    def reset(self):
        self.batch = 0
        for m in self.metrics:
            m.reset_state()

    def __call__(self, batch):
        batch = _to(tuple(batch), self.device)
        x, y = batch[0], batch[-1]
        if self.optimizer is not None:
            self.optimizer.zero_grad()
        out = self.model(x)
        loss = self.loss_fn(out, y)
        if loss.numel() != 1:
            raise ValueError(f"fit: the loss must be a scalar, got shape {loss.shape} (use reduction='mean')")
        if self.optimizer is not None:
            loss.backward()
            if self.sync is not None:
                self.sync()
            self.optimizer.step()
        value = loss.item()
        self.batch += 1
        if not math.isfinite(value):
            raise FloatingPointError(f"fit: the loss became {value} at epoch {self.epoch + 1}, batch {self.batch} "
                                     "(lower the learning rate?)")
        for m in self.metrics:
            m.update_state(y, out.detach())
        return {"loss": value}, len(x)

    def results(self):
        return {m.name: float(m.result()) for m in self.metrics}


class _Source:
    """Batches of a DataLoader, epoch after epoch (``set_epoch`` on a distributed sampler)."""

    def __init__(self, loader):
        self.loader = loader
        self.steps = len(loader)

    def batches(self, epoch):
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        return iter(self.loader)

    def on_epoch_end(self):
        pass


class _Bar:
    """A tqdm bar while the epoch runs (when installed and ``verbose == 1``), then one line per epoch."""

    def __init__(self, epoch, epochs, steps, verbose):
        self.epoch, self.epochs, self.start = epoch, epochs, time.perf_counter()
        self.tqdm = _progress(steps, f"epoch {epoch + 1}/{epochs}", verbose == 1)

    def update(self, step, logs):
        if self.tqdm is not None:
            self.tqdm.update(1)
            self.tqdm.set_postfix(loss=f"{logs['loss']:.4f}")

    def finish(self, logs):
        if self.tqdm is not None:
            self.tqdm.close()
        parts = "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
        print(f"epoch {self.epoch + 1}/{self.epochs}  {parts}  ({time.perf_counter() - self.start:.1f} s)",
              flush=True)


class _Scheduler(Callback):
    """Steps an ``md.optim`` scheduler once per epoch (``ReduceLROnPlateau`` on ``val_loss``, else ``loss``)."""

    def __init__(self, scheduler):
        super().__init__()
        self.scheduler = scheduler

    def on_epoch_end(self, epoch, logs=None):
        if hasattr(self.scheduler, "num_bad_epochs") or type(self.scheduler).__name__ == "ReduceLROnPlateau":
            self.scheduler.step(logs.get("val_loss", logs["loss"]))
        else:
            self.scheduler.step()


def fit(model, loss, optimizer, train_data, epochs=1, validation_data=None, metrics=("accuracy",), callbacks=(),
        batch_size=32, shuffle=True, seed=None, scheduler=None, verbose=1, device=None):
    """Train ``model`` for ``epochs`` passes over ``train_data``; return a :class:`History`.

    ``loss(output, target)`` returns a scalar Tensor; ``train_data`` and ``validation_data`` are
    DataLoaders, Datasets or ``(x, y)`` pairs (batched by ``batch_size``, shuffled each epoch from
    ``seed`` or md's global generator). ``metrics`` are names (``"accuracy"``, ``"mae"``) or Metric
    objects; logs hold ``loss``, each metric, and their ``val_`` versions. ``callbacks`` are
    ``md.train``/``md.keras.callbacks`` objects (one hierarchy). ``scheduler`` is stepped
    once per epoch (``ReduceLROnPlateau`` with ``val_loss``, or ``loss`` without validation data).
    ``device`` ("cpu", "cuda"): where to train; the model is moved there in place and every batch follows
    (default: the model's device). ``verbose``: 0 silent, 1 a progress bar (tqdm, when installed) and a line per
    epoch, 2 the line only. The returned History reads as a dict (``history["loss"]``) and has Keras'
    ``.history`` and ``.epoch``.

    Data-parallel (``md.distributed``): with a ``DistributedDataParallel`` model, gradients are averaged over the
    ranks after each backward and the logged training loss and metrics are averaged over the ranks (weighted by
    sample counts); a loader whose sampler has ``set_epoch`` (``DistributedSampler``) gets it every epoch.

    Example:
        >>> h = md.train.fit(model, F.cross_entropy, md.optim.Adam(model.parameters()), (x, y), epochs=3)
        >>> h["loss"]          # one value per epoch
    """
    train_loader = _loader(train_data, batch_size, shuffle, seed)
    if device is not None:
        model.to(device)            # in place: the optimizer keeps the same Parameter objects
    device = _device(device or _model_device(model))
    step = _Step(model, loss, metrics, device, optimizer)
    average_logs = getattr(model, "average_logs", None)

    def validate(cbs):
        val_step = _Step(model, loss, metrics, device)
        return evaluate_loop(model, val_step, _loader(validation_data, batch_size, False), callbacks=cbs)[0]

    def progress(epoch, steps):
        step.epoch = epoch
        return _Bar(epoch, epochs, steps, verbose) if verbose else None

    extra = [] if scheduler is None else [_Scheduler(scheduler)]
    return fit_loop(model, step, _Source(train_loader), epochs=epochs, callbacks=extra + list(callbacks),
                    validate=None if validation_data is None else validate, progress=progress,
                    epoch_logs=None if average_logs is None else average_logs, optimizer=optimizer, verbose=verbose)


def _device(device):
    return None if device is None or str(device) == "cpu" else device


def evaluate(model, loss, data, metrics=("accuracy",), batch_size=256, device=None):
    """The mean ``loss`` and each metric over ``data`` (eval mode, no graph): a dict.

    Example:
        >>> md.train.evaluate(model, F.cross_entropy, (x_test, y_test))
        {'loss': 0.071, 'accuracy': 0.978}
    """
    step = _Step(model, loss, metrics, _device(device or _model_device(model)))
    logs, _ = evaluate_loop(model, step, _loader(data, batch_size, shuffle=False))
    return logs or {"loss": 0.0, **step.results()}


def predict(model, x, batch_size=256):
    """The model's outputs for ``x`` (an array or Tensor), computed in eval mode without a graph, as a Tensor.

    Example:
        >>> md.train.predict(model, x_test).argmax(dim=1)
    """
    from ..ops import cat  # noqa: PLC0415

    x = x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x))
    device = _model_device(model)
    if device is not None and x.device != device:
        x = x.to(device)
    outs = predict_loop(model, model, (x[i:i + batch_size] for i in range(0, len(x), batch_size)))
    if not outs:
        raise ValueError(f"predict: got an empty input of shape {x.shape}")
    return outs[0] if len(outs) == 1 else cat(outs, dim=0)
