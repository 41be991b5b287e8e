"""Losses a layer adds while it runs: ``self.add_loss(value)`` in a custom layer's ``call``, and the
``activity_regularizer`` of any layer. As in Keras, they belong to the latest call: the outermost layer call
(a model's forward pass) clears the losses that earlier calls left, so ``model.losses`` after a forward pass holds
that pass's losses (plus the weight penalties), and ``fit`` adds them to the compiled loss.

Example:
    >>> class KLLayer(md.keras.layers.Layer):
    ...     def call(self, x):
    ...         self.add_loss(1e-3 * md.keras.ops.sum(x * x))
    ...         return x
"""
import contextlib
import threading
import weakref

_state = threading.local()
_OWNERS = weakref.WeakSet()          # layers holding call losses now


def _depth():
    return getattr(_state, "depth", 0)


def enter():
    """A layer call starts: the outermost one clears the losses of the previous pass."""
    if _depth() == 0 and _OWNERS:
        for layer in list(_OWNERS):
            layer.__dict__["_call_losses"] = []
        _OWNERS.clear()
    _state.depth = _depth() + 1


def leave():
    _state.depth = _depth() - 1


@contextlib.contextmanager
def tracing():
    """Calls inside (shape tracing on dummy data) record no losses."""
    was = getattr(_state, "tracing", False)
    _state.tracing = True
    try:
        yield
    finally:
        _state.tracing = was


def add(layer, value):
    """Record ``value`` (a scalar Tensor computed in ``call``) as a loss of ``layer`` for the current pass."""
    from ...tensor import Tensor  # noqa: PLC0415
    from .base import KerasTensor  # noqa: PLC0415
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, KerasTensor):
            raise ValueError(f"Layer {layer.name!r}: add_loss() takes a computed value inside call(), not a symbolic "
                             "tensor of a functional model (write the loss in a layer's call, or in the loss)")
        if not isinstance(v, Tensor):
            raise ValueError(f"Layer {layer.name!r}: add_loss() takes a scalar Tensor computed in call(), got "
                             f"{type(v).__name__}")
        if v.numel() != 1:
            v = v.sum()                  # Keras sums a non-scalar loss
        if not getattr(_state, "tracing", False):
            layer.__dict__.setdefault("_call_losses", []).append(v.reshape(()))
            _OWNERS.add(layer)


def child_layers(layer):
    """The Keras layers directly inside ``layer`` (through plain containers such as ``nn.ModuleList``)."""
    from .base import Layer  # noqa: PLC0415
    found, stack = [], list(layer._modules.values())[::-1]
    while stack:
        m = stack.pop()
        if isinstance(m, Layer):
            found.append(m)
        elif m is not None:
            stack.extend(list(m._modules.values())[::-1])
    return found


def own(layer):
    return list(layer.__dict__.get("_call_losses", ()))


def activity(layer, out):
    """The activity regularizer's loss of an output, divided by the batch size as Keras 3 divides it."""
    from ...tensor import Tensor  # noqa: PLC0415
    reg = layer.__dict__.get("activity_regularizer")
    if reg is None:
        return
    for t in out if isinstance(out, (list, tuple)) else [out]:
        if isinstance(t, Tensor):
            loss = reg(t)
            add(layer, loss / t.shape[0] if t.ndim > 0 and t.shape[0] else loss)
