"""What ``Model.compile`` builds for the training loop: the losses of each output with their ``loss_weights``, the
metrics of each output, and the Keras step that ``minidl.train.engine`` runs (``fit``'s training step,
``evaluate``'s and validation's test step).

With several outputs, as Keras 3: ``loss`` is one loss (used for every output), a list (one per output) or a dict
keyed by output name (every output named); ``loss_weights`` a list or dict; ``metrics`` a list with one entry per
output (a metric, a list of them, or None) or a dict by output name. Logs are ``loss`` (the weighted sum plus the
layers' regularization losses), ``<output>_loss`` (each output's own, unweighted) and ``<output>_<metric>``.

Example:
    >>> model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
    ...               loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"]})
"""
from ..train import metrics as metrics_module
from . import losses as losses_module
from . import masking_utils
from .layers.base import shape_str


def _per_output(value, names, what, default=None):
    """``value`` (one thing, a list or a dict by output name) as a list with one entry per output; a dict with a
    ``class_name`` is one thing (a saved loss's config)."""
    if isinstance(value, dict) and "class_name" not in value:
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} names {unknown}, which are not outputs of the model (its outputs: "
                             f"{names})")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"compile: {what} is a list of {len(value)} entries, but the model has {len(names)} "
                             f"outputs {names}; give one entry per output (or a dict keyed by output name)")
        return list(value)
    return [value] * len(names)


def looks_like_metrics(value):
    """True for a list of metric names or Metric objects (never a valid ``loss_weights``)."""
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(v, (str, metrics_module.Metric)) for v in value)


class Compiled:
    """The compiled losses and metrics of a model whose outputs are called ``names``."""

    def __init__(self, names, loss, loss_weights=None, metrics=None):
        self.names, self.multi = list(names), len(names) > 1
        self.has_loss = loss is not None       # without one, the model's added losses are what fit minimises
        if isinstance(loss, dict) and "class_name" not in loss and set(loss) != set(self.names):
            raise ValueError(f"compile: the loss dict must name every output: expected keys {self.names}, found "
                             f"{sorted(loss)}")
        self.losses = [None if spec is None else losses_module.get(spec)
                       for spec in _per_output(loss, self.names, "loss")]
        if not self.multi and isinstance(loss_weights, (int, float)):
            loss_weights = [loss_weights]
        weights = _per_output(loss_weights, self.names, "loss_weights", 1.0)
        self.weights = [1.0 if w is None else float(w) for w in weights]
        if isinstance(metrics, str) or (metrics is not None and not isinstance(metrics, (list, tuple, dict))):
            raise TypeError(f"compile: `metrics` must be a list, e.g. metrics=['accuracy'], got {metrics!r}")
        if not self.multi:
            if isinstance(metrics, dict):
                metrics = list(metrics.values())[0] if metrics else []
            specs = [list(metrics or [])]
        else:
            specs = [[] if s is None else (list(s) if isinstance(s, (list, tuple)) else [s])
                     for s in _per_output(metrics or [None] * len(self.names), self.names, "metrics")]
        self.metrics = []
        for name, loss_fn, output_specs in zip(self.names, self.losses, specs):
            made = [metrics_module.get(m, getattr(loss_fn, "name", None)) for m in output_specs]
            if self.multi:
                for m in made:
                    m.name = f"{name}_{m.name}"
            self.metrics.append(made)
        flat = [m.name for ms in self.metrics for m in ms]
        if len(set(flat)) != len(flat) or "loss" in flat:
            raise ValueError(f"compile: metric names must be unique and not 'loss', got {flat}")

    @property
    def metric_list(self):
        return [m for ms in self.metrics for m in ms]

    def names_of_losses(self):
        return ["loss"] + ([f"{n}_loss" for n in self.names] if self.multi else [])

    def _targets(self, y, y_pred):
        preds = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        if len(preds) != len(self.names):
            raise ValueError(f"The model gave {len(preds)} outputs but was compiled for {len(self.names)} "
                             f"({self.names})")
        if y is None:
            raise ValueError("Training needs targets: call fit(x, y) or give batches of (x, y)")
        ys = y if self.multi else [y]
        if not isinstance(ys, (list, tuple)) or len(ys) != len(preds):
            raise ValueError(f"The model has {len(preds)} outputs {self.names}; the targets must be a list of "
                             f"{len(preds)} arrays or a dict keyed by output name")
        return list(ys), preds

    def loss(self, y, y_pred, sample_weight, penalties):
        """(total loss Tensor, {log name: float}) of one batch: the weighted sum of the outputs' losses plus the
        layers' ``penalties``."""
        ys, preds = self._targets(y, y_pred) if self.has_loss else ([], [])
        total, parts = None, {}
        for name, fn, w, t, p in zip(self.names, self.losses, self.weights, ys, preds):
            if fn is None:
                continue
            value = fn(t, p, sample_weight)
            if value.numel() != 1:
                raise ValueError(f"The loss must reduce to a scalar, got shape {shape_str(value.shape)}")
            parts[f"{name}_loss"] = value
            total = value * w if total is None else total + value * w
        for p in penalties:
            total = p if total is None else total + p
        if total is None:
            raise ValueError("compile: a `loss` is required to train (e.g. loss='sparse_categorical_crossentropy'), "
                             "unless the model adds its own losses (add_loss) or overrides train_step")
        logs = {"loss": float(total.item())}
        if self.multi:
            logs.update({k: float(v.item()) for k, v in parts.items()})
        return total, logs

    def update_metrics(self, y, y_pred):
        """Add a batch to every metric; as Keras 3, ``compile(metrics=...)`` are not weighted by sample weights, and
        the mean metrics skip the masked steps of an output that carries a mask."""
        if not self.metric_list:
            return
        ys, preds = self._targets(y, y_pred)
        for t, p, ms in zip(ys, preds, self.metrics):
            if ms:
                masking_utils.update_metrics(ms, t, p, None)

    def reset(self):
        for m in self.metric_list:
            m.reset_state()

    def results(self):
        return {m.name: float(m.result()) for m in self.metric_list}


def _number(value):
    """A logged value (a scalar Tensor, a NumPy scalar, a number) as a float."""
    if hasattr(value, "item"):
        return float(value.item())
    return float(value)


class KerasStep:
    """The engine's step for a compiled Keras model: ``train`` runs the optimizer (the model is in training mode,
    set by the loop), otherwise the batch is only scored. A model that overrides ``train_step`` / ``test_step``
    (Keras' way to customise ``fit``) has its own method called with ``data`` = ``(x, y)`` (or ``(x, y,
    sample_weight)``, or ``(x,)``), and the dict it returns becomes the logs, as Keras reports it."""

    def __init__(self, model, train):
        self.model, self.train, self.compiled = model, train, model._compiled
        self.custom = _overridden(model, "train_step" if train else "test_step")
        self.last = None

    def reset(self):
        for m in self.model.metrics:        # the loss tracker, your own metric attributes, the compiled ones
            m.reset_state()
        self.last = None

    def __call__(self, batch):
        x, y, sw = batch
        n = len(x[0] if isinstance(x, list) else x)
        if self.custom:
            data = (x,) if y is None else ((x, y) if sw is None else (x, y, sw))
            out = (self.model.train_step if self.train else self.model.test_step)(data)
            self.last = {k: _number(v) for k, v in (out or {}).items()}
            return {}, n
        return self.default(x, y, sw), n

    def default(self, x, y, sw):
        """Keras' own step: forward, the compiled loss (``model.compute_loss``), backward and the optimizer when
        training, the compiled metrics; returns the batch's loss logs."""
        model = self.model
        if self.train:
            model.optimizer.zero_grad()
        y_pred = model(model._device_put(x))
        if _overridden(model, "compute_loss"):
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=self.train)
            logs = {"loss": _number(loss)}
        else:
            loss, logs = self.compiled.loss(y, y_pred, sw, model.losses)
        if self.train:
            if loss.requires_grad:          # False when every layer is frozen: Keras still runs the epoch
                loss.backward()
            model.optimizer.step()
        self.compiled.update_metrics(y, y_pred)         # y_pred keeps its mask (metrics read it on the host)
        return logs

    def results(self):
        if self.custom:
            return dict(self.last or {})
        return self.compiled.results()


def _overridden(model, name):
    """Whether ``model``'s class replaces md.keras.Model's ``name`` (defined in ``model_steps.StepMethods``)."""
    from .model_steps import StepMethods  # noqa: PLC0415
    return getattr(type(model), name, None) is not getattr(StepMethods, name, None)
