"""The one epoch/batch loop of minidl: ``md.train.fit``/``evaluate``/``predict`` and ``md.keras.Model.fit``/
``evaluate``/``predict`` all run here.

Each caller supplies a *step*: an object with ``reset()`` (start of an epoch or evaluation), ``__call__(batch)``
returning ``({name: batch mean loss}, batch size)`` and ``results()`` (``{metric name: value}``). The loop does the
rest: batches from a *source* (``steps``, ``batches(epoch)``, ``on_epoch_end()``), the sample-weighted running mean
of every loss, the callbacks (Keras' hooks, ``model.stop_training``), validation every ``validation_freq`` epochs,
progress, and the ``History`` it returns.

Example:
    >>> history = fit_loop(model, step, source, epochs=3, callbacks=[EarlyStopping(monitor="loss")])
    >>> history.history["loss"]
"""
import itertools

from ..autograd.grad_mode import no_grad
from .callbacks import History


class CallbackList:
    """The run's callbacks, told the model, the parameters and (md.train) the optimizer; ``History`` last, as in
    Keras, so it records what other callbacks add to the logs."""

    def __init__(self, callbacks, model, params, history=None, optimizer=None):
        self.callbacks = list(callbacks or []) + ([history] if history is not None else [])
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(dict(params))
            if optimizer is not None:
                cb.optimizer = optimizer

    def __call__(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    @property
    def stop(self):
        """Keras' ``model.stop_training``, or md.train's ``stop_training`` on a callback."""
        return bool(getattr(self.model, "stop_training", False)) or any(
            getattr(cb, "stop_training", False) for cb in self.callbacks)


def run_batches(step, batches, steps, callbacks, mode, bar=None):
    """One pass of ``step`` over ``batches`` (at most ``steps``): the logs (running means of the losses weighted
    by batch size, then the step's metrics) and the number of samples seen."""
    step.reset()
    totals, seen, logs = {}, 0, {}
    for i, batch in enumerate(itertools.islice(batches, steps)):     # no batch past ``steps`` is drawn
        callbacks(f"on_{mode}_batch_begin", i, {})
        losses, n = step(batch)
        seen += n
        for k, v in losses.items():
            totals[k] = totals.get(k, 0.0) + v * n
        logs = {**{k: t / max(seen, 1) for k, t in totals.items()}, **step.results()}
        if bar is not None:
            bar.update(i + 1, logs)
        callbacks(f"on_{mode}_batch_end", i, dict(logs))
        if mode == "train" and callbacks.stop:
            break
    return logs, seen


class ModeGuard:
    """Training (``train=True``) or inference mode for the block, restoring the model's mode afterwards; inference
    also turns gradient recording off."""

    def __init__(self, model, train):
        self.model, self.train_mode = model, train
        self.grad = None if train else no_grad()

    def __enter__(self):
        self.was = self.model.training
        self.model.train(self.train_mode)
        if self.grad is not None:
            self.grad.__enter__()

    def __exit__(self, *exc):
        if self.grad is not None:
            self.grad.__exit__(*exc)
        self.model.train(self.was)


def evaluate_loop(model, step, batches, steps=None, callbacks=None, bar=None):
    """``step`` over ``batches`` in inference mode, between ``on_test_begin`` and ``on_test_end``: (logs, samples)."""
    callbacks = callbacks or CallbackList((), model, {})
    callbacks("on_test_begin", {})
    with ModeGuard(model, False):
        logs, seen = run_batches(step, batches, steps, callbacks, "test", bar)
    callbacks("on_test_end", dict(logs))
    return logs, seen


def predict_loop(model, forward, batches, steps=None, callbacks=None, bar=None):
    """``forward(batch)`` over ``batches`` in inference mode, between ``on_predict_begin`` and ``on_predict_end``:
    the list of per-batch outputs."""
    callbacks = callbacks or CallbackList((), model, {})
    callbacks("on_predict_begin", {})
    outs = []
    with ModeGuard(model, False):
        for i, batch in enumerate(itertools.islice(batches, steps)):
            callbacks("on_predict_batch_begin", i, {})
            outs.append(forward(batch))
            if bar is not None:
                bar.update(i + 1, {})
            callbacks("on_predict_batch_end", i, {"outputs": outs[-1]})
    callbacks("on_predict_end", {})
    return outs


def fit_loop(model, step, source, epochs=1, initial_epoch=0, steps_per_epoch=None, callbacks=(), validate=None,
             validation_freq=1, progress=None, epoch_logs=None, optimizer=None, verbose=0):
    """Train with ``step`` on ``source`` for epochs ``initial_epoch .. epochs - 1``; returns the ``History``.

    ``validate()`` returns the validation logs (run after epochs whose number + 1 is a multiple of
    ``validation_freq``), prefixed ``val_`` here. ``progress(epoch, steps)`` makes a bar with ``update(step, logs)``
    and ``finish(logs)``; ``epoch_logs(logs, samples)`` may rewrite an epoch's training logs (md.distributed
    averages them over the ranks). The model is in training mode during the steps and back in its own mode after.
    """
    if not isinstance(validation_freq, int) or isinstance(validation_freq, bool) or validation_freq < 1:
        raise ValueError(f"fit: validation_freq must be a positive int, got {validation_freq!r}")
    steps = source.steps
    if steps_per_epoch is not None:
        steps = steps_per_epoch if steps is None else min(steps, steps_per_epoch)
    history = History()
    cbs = CallbackList(callbacks, model, {"epochs": epochs, "steps": steps, "verbose": verbose}, history, optimizer)
    model.stop_training = False
    if hasattr(model, "history"):              # a Keras model keeps its last History
        model.history = history
    cbs("on_train_begin", {})
    logs = {}
    for epoch in range(initial_epoch, epochs):
        cbs("on_epoch_begin", epoch, {})
        bar = progress(epoch, steps) if progress is not None else None
        with ModeGuard(model, True):
            logs, seen = run_batches(step, source.batches(epoch), steps, cbs, "train", bar)
        if seen == 0:
            raise ValueError(f"fit: epoch {epoch + 1} got no batches from the training data (a generator runs out "
                             "after one pass: give steps_per_epoch, or a PyDataset/DataLoader that can be re-read)")
        if epoch_logs is not None:
            logs = epoch_logs(logs, seen)
        if validate is not None and (epoch + 1) % validation_freq == 0:
            logs.update({f"val_{k}": v for k, v in validate(cbs).items()})
        if bar is not None:
            bar.finish(logs)
        source.on_epoch_end()
        cbs("on_epoch_end", epoch, logs)
        if cbs.stop:
            break
    cbs("on_train_end", dict(logs))
    return history
