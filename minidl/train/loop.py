"""``fit``: the training loop shared by the command line, the examples and ``md.keras``."""
import math
import sys
import time

import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from .metrics import get_metric


class History(dict):
    """Per-epoch lists of the logged values: ``history["loss"]``, ``history["val_accuracy"]``, ...

    ``history.epoch`` lists the epoch numbers, as Keras' History does.
    """

    def __init__(self):
        super().__init__()
        self.epoch = []

    @property
    def history(self):
        return self

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.setdefault(k, []).append(v)


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


def _step(model, loss_fn, batch, metrics):
    x, y = batch[0], batch[-1]
    out = model(x)
    loss = loss_fn(out, y)
    if loss.numel() != 1:
        raise ValueError(f"fit: the loss must be a scalar, got shape {loss.shape} (use reduction='mean')")
    for m in metrics:
        m.update(out.detach(), y)
    return loss, len(x)


def fit(model, loss, optimizer, train_data, epochs=1, validation_data=None, metrics=("accuracy",), callbacks=(),
        batch_size=32, shuffle=True, seed=None, scheduler=None, verbose=1, device=None):
    """Train ``model`` for ``epochs`` passes over ``train_data``; return a :class:`History`.

    ``loss(output, target)`` returns a scalar Tensor; ``train_data`` and ``validation_data`` are
    DataLoaders, Datasets or ``(x, y)`` pairs (batched by ``batch_size``, shuffled each epoch from
    ``seed`` or md's global generator). ``metrics`` are names (``"accuracy"``, ``"mae"``) or Metric
    objects; logs hold ``loss``, each metric, and their ``val_`` versions. ``scheduler`` is stepped
    once per epoch (``ReduceLROnPlateau`` with ``val_loss``, or ``loss`` without validation data).
    ``device`` ("cpu", "cuda"): where to train; the model is moved there in place and every batch follows
    (default: the model's device). ``verbose``: 0 silent, 1 a progress bar (tqdm, when installed) and a line per
    epoch, 2 the line only.

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
    device = device or _model_device(model)
    device = None if device is None or str(device) == "cpu" else device
    history = History()
    callbacks = list(callbacks)
    sync = getattr(model, "sync_gradients", None)           # DistributedDataParallel: average over the ranks
    average_logs = getattr(model, "average_logs", None)
    sampler = getattr(train_loader, "sampler", None)
    for cb in callbacks:
        cb.set_context(model=model, optimizer=optimizer)
        cb.on_train_begin({})
    for epoch in range(epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch, {})
        model.train()
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        tracked = [get_metric(m) for m in metrics]
        total, count, start = 0.0, 0, time.perf_counter()
        bar = _progress(len(train_loader), f"epoch {epoch + 1}/{epochs}", verbose == 1)
        for i, batch in enumerate(train_loader):
            batch = _to(tuple(batch), device)
            optimizer.zero_grad()
            loss_value, n = _step(model, loss, batch, tracked)
            loss_value.backward()
            if sync is not None:
                sync()
            optimizer.step()
            total, count = total + loss_value.item() * n, count + n
            if not math.isfinite(total):
                raise FloatingPointError(f"fit: the loss became {loss_value.item()} at epoch {epoch + 1}, batch "
                                         f"{i + 1} (lower the learning rate?)")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total / count:.4f}")
            for cb in callbacks:
                cb.on_batch_end(i, {"loss": loss_value.item()})
        if bar is not None:
            bar.close()
        logs = {"loss": total / max(count, 1)}
        logs.update({m.name: m.result() for m in tracked})
        if average_logs is not None:
            logs = average_logs(logs, count)
        if validation_data is not None:
            val = evaluate(model, loss, validation_data, metrics=metrics, batch_size=batch_size, device=device)
            logs.update({f"val_{k}": v for k, v in val.items()})
        if scheduler is not None:
            if hasattr(scheduler, "num_bad_epochs") or type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                scheduler.step()
        history.append(epoch, logs)
        if verbose:
            parts = "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
            print(f"epoch {epoch + 1}/{epochs}  {parts}  ({time.perf_counter() - start:.1f} s)", flush=True)
        stop = False
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
            stop = stop or cb.stop_training
        if stop:
            break
    for cb in callbacks:
        cb.on_train_end(dict(history.items()))
    return history


def evaluate(model, loss, data, metrics=("accuracy",), batch_size=256, device=None):
    """The mean ``loss`` and each metric over ``data`` (eval mode, no graph): a dict.

    Example:
        >>> md.train.evaluate(model, F.cross_entropy, (x_test, y_test))
        {'loss': 0.071, 'accuracy': 0.978}
    """
    loader = _loader(data, batch_size, shuffle=False)
    device = device or _model_device(model)
    device = None if device is None or str(device) == "cpu" else device
    was_training = model.training
    model.eval()
    tracked = [get_metric(m) for m in metrics]
    total, count = 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                loss_value, n = _step(model, loss, _to(tuple(batch), device), tracked)
                total, count = total + loss_value.item() * n, count + n
    finally:
        model.train(was_training)
    out = {"loss": total / max(count, 1)}
    out.update({m.name: m.result() for m in tracked})
    return out


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
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outs = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not outs:
        raise ValueError(f"predict: got an empty input of shape {x.shape}")
    return outs[0] if len(outs) == 1 else cat(outs, dim=0)
