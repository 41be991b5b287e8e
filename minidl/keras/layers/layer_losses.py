"""Keras' ``Layer.add_loss`` and ``Layer.losses``: a layer's ``call`` may add loss tensors (an activity penalty, a
VAE's KL term); ``losses`` lists them with the weight regularizers' penalties, for the layer and every layer inside
it. The added losses are cleared at the start of each outermost eager call, so ``losses`` always holds those of
the last forward pass, and ``fit`` adds them to the compiled loss (``Model._loss_value`` sums ``self.losses``)."""
import contextvars
import functools

from .base import KerasTensor, Layer

_DEPTH = contextvars.ContextVar("md_keras_call_depth", default=0)


def _tree(layer, seen=None):
    """``layer`` and every Layer inside it, each once, outer first."""
    seen = set() if seen is None else seen
    if id(layer) in seen:
        return []
    seen.add(id(layer))
    out = [layer]
    for child in layer._modules.values():
        if isinstance(child, Layer):
            out.extend(_tree(child, seen))
    return out


def _clear(layer):
    for sub in _tree(layer):
        sub.__dict__["_added_losses"] = []


def add_loss(self, loss):
    """Add a loss tensor (or a list of them) computed in ``call``: ``fit`` minimizes it with the compiled loss, and
    ``layer.losses`` lists it until the next outermost call of the layer (or of the model holding it).

    Example:
        >>> class ActivityPenalty(md.keras.layers.Layer):
        ...     def call(self, x):
        ...         self.add_loss(0.01 * md.keras.ops.mean(x))
        ...         return x
        >>> layer = ActivityPenalty()
        >>> _ = layer(np.ones((2, 3), "float32"))
        >>> [round(float(v), 4) for v in layer.losses]
        [0.01]
    """
    from ..ops import convert_to_tensor  # noqa: PLC0415
    values = loss if isinstance(loss, (list, tuple)) else [loss]
    added = self.__dict__.setdefault("_added_losses", [])
    for value in values:
        if isinstance(value, KerasTensor):
            raise ValueError(f"Layer {self.name!r}: add_loss received a symbolic KerasTensor; call add_loss inside "
                             "call() with the layer's own computed values")
        t = convert_to_tensor(value)
        if t.numel() != 1:
            raise ValueError(f"Layer {self.name!r}: add_loss expects a scalar loss, got shape {tuple(t.shape)}")
        added.append(t.reshape(()))


def _losses(self):
    """The layer's losses: its weights' regularization penalties and the losses its last call added, then those of
    the layers inside it (scalar Tensors)."""
    out = []
    for layer in _tree(self):
        out.extend(w.penalty() for w in layer._weights if w.regularizer is not None)
        out.extend(layer.__dict__.get("_added_losses", ()))
    return out


def _symbolic(inputs):
    given = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return bool(given) and all(isinstance(t, KerasTensor) for t in given)


def _resetting_call(call):
    @functools.wraps(call)
    def __call__(self, inputs, *args, **kwargs):  # noqa: N807
        outermost = _DEPTH.get() == 0
        if outermost:
            _clear(self)
        token = _DEPTH.set(_DEPTH.get() + 1)
        try:
            return call(self, inputs, *args, **kwargs)
        finally:
            _DEPTH.reset(token)
            if outermost and _symbolic(inputs):     # shape tracing ran call on zeros: not a forward pass
                _clear(self)
    return __call__


def install(model_class):
    """Give ``Layer`` (and ``model_class``, whose own ``losses`` only walks its leaf layers) these methods."""
    Layer.add_loss = add_loss
    Layer.losses = property(_losses)
    model_class.losses = property(_losses)
    Layer.__call__ = _resetting_call(Layer.__call__)
