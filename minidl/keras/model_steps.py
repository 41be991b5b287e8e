"""What a Keras 3 model offers a custom training step: ``train_step`` / ``test_step`` (override them to change what
``fit`` / ``evaluate`` do per batch), ``compute_loss``, ``compute_metrics``, ``metrics`` (the loss tracker, your own
metric attributes, the compiled metrics), ``get_metrics_result`` and ``reset_metrics``.

Example (Keras 3's guide to customising ``fit`` on the PyTorch backend, with minidl in place of torch):
    >>> class CustomModel(md.keras.Model):
    ...     def train_step(self, data):
    ...         x, y = data
    ...         self.zero_grad()
    ...         y_pred = self(x, training=True)
    ...         loss = self.compute_loss(y=y, y_pred=y_pred)
    ...         loss.backward()
    ...         weights = self.trainable_weights
    ...         with md.no_grad():
    ...             self.optimizer.apply([v.value.grad for v in weights], weights)
    ...         for metric in self.metrics:
    ...             metric.update_state(loss) if metric.name == "loss" else metric.update_state(y, y_pred)
    ...         return {m.name: m.result() for m in self.metrics}
"""


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch ``data`` given as ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, found: "
                     f"a tuple of {len(data)}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The inverse of ``unpack_x_y_sample_weight``."""
    if y is None:
        return (x,)
    return (x, y) if sample_weight is None else (x, y, sample_weight)


class StepMethods:
    """Mixed into ``md.keras.Model``."""

    def train_step(self, data):
        """One training step of ``fit`` on a batch (Keras' default: forward, compiled loss, backward, optimizer,
        compiled metrics); returns the logs. Override it to customise ``fit``; ``super().train_step(data)`` runs
        the default."""
        return self._default_step(data, True)

    def test_step(self, data):
        """One step of ``evaluate`` (and of ``fit``'s validation) on a batch; returns the logs."""
        return self._default_step(data, False)

    def _default_step(self, data, train):
        from .compile_utils import KerasStep  # noqa: PLC0415
        x, y, sw = unpack_x_y_sample_weight(data)
        step = KerasStep(self, train)
        logs = step.default(x, y, sw)
        return {**logs, **self._compiled.results()}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` against ``y`` (weighted by output, with ``sample_weight``) plus the
        model's ``losses`` (regularization penalties, ``add_loss``): a scalar Tensor."""
        self._require_compiled("compute_loss")
        if self._compiled.has_loss:
            total, _ = self._compiled.loss(y, y_pred, sample_weight, self.losses)
            return total
        penalties = self.losses
        if not penalties:
            raise ValueError("compute_loss: the model was compiled without a loss and has no added losses")
        return sum(penalties[1:], penalties[0])

    @property
    def compiled_loss(self):
        """Keras 2's ``self.compiled_loss(y, y_pred, sample_weight=None, regularization_losses=None)``."""
        def loss(y, y_pred, sample_weight=None, regularization_losses=None):
            total, _ = self._compiled.loss(y, y_pred, sample_weight, list(regularization_losses or ()))
            return total
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch; returns ``get_metrics_result()``."""
        self._require_compiled("compute_metrics")
        self._compiled.update_metrics(y, y_pred)
        return self.get_metrics_result()

    def _tracked_metrics(self):
        """The Metric objects assigned as attributes of the model (``self.loss_tracker = keras.metrics.Mean()``)."""
        from .metrics import Metric  # noqa: PLC0415
        return [v for k, v in self.__dict__.items() if isinstance(v, Metric) and k != "_loss_tracker"]

    @property
    def metrics(self):
        """The loss tracker (a ``Mean`` named ``"loss"``, once compiled with a loss), your own metric attributes,
        then the compiled metrics; ``fit`` resets them all at the start of each epoch."""
        out = []
        if getattr(self, "compiled", False) and self._compiled.has_loss:
            if "_loss_tracker" not in self.__dict__:
                from .metrics import Mean  # noqa: PLC0415
                self.__dict__["_loss_tracker"] = Mean(name="loss")
            out.append(self.__dict__["_loss_tracker"])
        out += self._tracked_metrics()
        if getattr(self, "compiled", False):
            out += self._compiled.metric_list
        return out

    def get_metrics_result(self):
        """``{name: result}`` of ``self.metrics``."""
        return {m.name: m.result() for m in self.metrics}

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()
