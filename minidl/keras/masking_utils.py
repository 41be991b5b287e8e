"""Keras masks in md.keras: which time steps of a ``(batch, steps, ...)`` tensor hold data.

A mask is made by ``Embedding(mask_zero=True)`` (ids equal to 0) or ``Masking(mask_value)`` (steps whose features
all equal the value), rides along with the tensor a layer returns, as Keras attaches ``_keras_mask``, and each layer
called on that tensor sees it: layers whose ``call`` takes ``mask=`` use it (the recurrent layers carry their state
through masked steps), ``compute_mask(inputs, mask)`` says the mask of the layer's output (kept by Dense, Dropout,
activations, ``TimeDistributed``...; consumed by a recurrent layer with ``return_sequences=False``; dropped by a layer
that does not support masking), and ``fit``/``evaluate`` leave the masked steps out of the loss and the metrics.

minidl Tensors take no extra attributes, so the masks are kept here, keyed by the tensor (held weakly: a mask goes
when its tensor goes). ``md.keras.backend.get_keras_mask(x)`` reads one, as in Keras.

Example:
    >>> emb = md.keras.layers.Embedding(10, 4, mask_zero=True)
    >>> out = emb(np.array([[3, 1, 0, 0]]))
    >>> md.keras.masking_utils.get_keras_mask(out)          # a bool Tensor [[True, True, False, False]]
"""
import functools
import inspect
import weakref

import numpy as np

from ..tensor import Tensor
from .layers.base import KerasTensor, Layer, host

__all__ = ["get_keras_mask", "set_keras_mask"]      # the rest is md.keras' own plumbing (layers, fit, saving)

_MASKS = {}         # id(tensor) -> (weak reference to the tensor, its mask)


def _forget(key, ref):
    entry = _MASKS.get(key)
    if entry is not None and entry[0] is ref:
        del _MASKS[key]


def set_keras_mask(x, mask):
    """Attach ``mask`` (a bool Tensor or KerasTensor, or None to remove it) to the tensor ``x``, as Keras'
    ``backend.set_keras_mask``: the next layer called on ``x`` sees it.

    Example:
        >>> x = md.tensor(np.ones((1, 3, 2), np.float32))
        >>> set_keras_mask(x, md.tensor([[True, True, False]]))
        >>> md.keras.layers.LSTM(4)(x).shape         # the LSTM stops after step 2
        (1, 4)
    """
    if not isinstance(x, (Tensor, KerasTensor)):
        return
    key = id(x)
    if mask is None:
        _MASKS.pop(key, None)
        return
    ref = weakref.ref(x, lambda r, k=key: _forget(k, r))
    _MASKS[key] = (ref, mask)


def get_keras_mask(x):
    """The mask attached to ``x`` (a bool Tensor of its leading axes), or None.

    Example:
        >>> get_keras_mask(md.keras.layers.Masking()(np.zeros((1, 3, 2))))
    """
    entry = _MASKS.get(id(x)) if isinstance(x, (Tensor, KerasTensor)) else None
    if entry is None or entry[0]() is not x:
        return None
    return entry[1]


def _input_mask(inputs):
    if isinstance(inputs, (list, tuple)):
        masks = [get_keras_mask(t) for t in inputs]
        return masks if any(m is not None for m in masks) else None
    return get_keras_mask(inputs)


@functools.lru_cache(maxsize=None)
def _call_takes_mask(cls):
    try:
        return "mask" in inspect.signature(cls.call).parameters
    except (TypeError, ValueError):
        return False


def _supports(layer):
    """Keras' rule: a layer that says ``supports_masking`` or defines its own ``compute_mask`` has an output mask."""
    return bool(getattr(layer, "supports_masking", False)) or type(layer).compute_mask is not Layer.compute_mask


def _compute_mask(self, inputs, mask=None):
    """The mask of this layer's output for ``inputs`` carrying ``mask`` (Keras' ``compute_mask``): the input mask
    itself for a layer that supports masking (``supports_masking``), else None.

    Example:
        >>> layer = md.keras.layers.Dense(2)
        >>> layer.compute_mask(np.zeros((1, 3, 4)), md.tensor([[True, True, False]]))
    """
    return mask if getattr(self, "supports_masking", False) else None


def _attach(out, out_mask):
    if isinstance(out, (list, tuple)):
        masks = out_mask if isinstance(out_mask, (list, tuple)) else [out_mask] + [None] * (len(out) - 1)
        for o, m in zip(out, masks):
            set_keras_mask(o, m)
    else:
        set_keras_mask(out, out_mask[0] if isinstance(out_mask, (list, tuple)) else out_mask)


def _masked_call(call):
    @functools.wraps(call)
    def __call__(self, inputs, *args, mask=None, **kwargs):  # noqa: N807
        if mask is None:
            mask = _input_mask(inputs)
        if mask is not None and _call_takes_mask(type(self)):
            kwargs["mask"] = mask
        out = call(self, inputs, *args, **kwargs)
        if getattr(self, "_graph", False) is not False:     # a Model: its output keeps its last layers' mask (Keras)
            return out
        if _supports(self):
            _attach(out, self.compute_mask(inputs, mask))
        elif isinstance(out, (Tensor, KerasTensor)) and get_keras_mask(out) is not None and out is not inputs:
            set_keras_mask(out, None)
        return out
    return __call__


def _forward(self, inputs, **kwargs):
    return self.call(inputs, **kwargs)


def symbolic_mask(like, shape):
    """A symbolic bool mask of ``shape`` for the KerasTensor ``like``."""
    return KerasTensor(shape, "bool", like.layer, like.parents)


def split_outputs(kt, shapes, dtype=None):
    """The KerasTensors of a layer call with several outputs (``return_state``): one per shape in ``shapes``, made
    from the call's combined KerasTensor ``kt``; ``Model`` runs the call once and gives each its part
    (``node_value``)."""
    outs = []
    for i, shape in enumerate(shapes):
        t = KerasTensor(shape, dtype or kt.dtype, kt.layer, kt.parents)
        t._node, t._index = kt, i
        outs.append(t)
    nodes = kt.layer.__dict__.get("_keras_nodes", []) if kt.layer is not None else []
    for i, (given, out) in enumerate(nodes):        # layer.output is the list of outputs, as in Keras
        if out is kt:
            nodes[i] = (given, outs)
    return outs


def state_outputs(layer, out):
    """A symbolic call of a layer that returns its states (``return_state``): the combined KerasTensor ``out`` cut
    into one KerasTensor per output, the first keeping the call's mask; other outputs pass through."""
    if not isinstance(out, KerasTensor) or not layer.return_state:
        return out
    parts = split_outputs(out, [tuple(s) for s in out.shape])
    set_keras_mask(parts[0], get_keras_mask(out))
    return parts


def node_value(t, args, values):
    """The value of graph tensor ``t`` in a functional model run: its layer called on ``args``, once per call when
    the call has several outputs (``values`` keeps the call's outputs)."""
    node = getattr(t, "_node", None)
    kwargs = call_kwargs(t)
    if node is None:
        return t.layer(args if len(args) > 1 else args[0], **kwargs)
    if id(node) not in values:
        values[id(node)] = t.layer(args if len(args) > 1 else args[0], **kwargs)
    return values[id(node)][t._index]


def call_kwargs(t):
    """The call arguments (JSON values) a graph tensor's layer call was made with beyond its inputs, as the
    attention layers record them (``use_causal_mask``...); {} for most calls."""
    return dict(getattr(getattr(t, "_node", t), "_call_kwargs", None) or {})


def node_kwargs(layer, node, where):
    """A saved node's call arguments, checked: only names the layer lists in ``_node_call_kwargs``, with JSON
    scalar or string-list values."""
    kwargs = node.get("kwargs", {})
    allowed = getattr(layer, "_node_call_kwargs", ())
    if not isinstance(kwargs, dict) or any(k not in allowed for k in kwargs) or not all(
            v is None or isinstance(v, (bool, int, float, str)) or
            (isinstance(v, list) and len(v) <= 16 and all(isinstance(x, str) for x in v)) for v in kwargs.values()):
        raise ValueError(f"{where}: the call arguments {str(kwargs)[:80]!r} are not ones layer {layer.name!r} "
                         f"({type(layer).__name__}) takes in a model (allowed: {list(allowed)})")
    return kwargs


def node_output(layer, args, node, calls, where):
    """While a functional model is rebuilt from its config: the output of ``node`` (a call of ``layer`` on
    ``args``); a node with ``output_index`` is one output of a call with several, made once per layer and inputs."""
    kwargs = node_kwargs(layer, node, where)
    if "output_index" not in node:
        return layer(args if len(args) > 1 else args[0], **kwargs)
    key = (id(layer), tuple(id(a) for a in args), repr(sorted(kwargs.items())))
    if key not in calls:
        calls[key] = layer(args if len(args) > 1 else args[0], **kwargs)
    outs, index = calls[key], node["output_index"]
    if not isinstance(outs, (list, tuple)) or isinstance(index, bool) or not isinstance(index, int) or \
            not 0 <= index < len(outs):
        raise ValueError(f"{where}: output_index {index!r:.40} does not name one of the outputs of layer "
                         f"{layer.name!r}")
    return outs[index]


# --- losses and metrics -------------------------------------------------------------------------------------------
def loss_weights(per, mask, sample_weight, reduction):
    """The weights (a host array shaped like the per-step loss ``per``, or None) that leave masked steps out of a
    loss, as Keras: with the mean reductions the kept steps weigh ``total / kept`` so the mean runs over the kept
    steps only; ``sample_weight`` multiplies in."""
    if mask is None:
        return None if sample_weight is None else _expanded(sample_weight, per.ndim)
    m = np.asarray(host(mask), dtype=np.float64)
    if m.shape != tuple(per.shape):
        return None if sample_weight is None else _expanded(sample_weight, per.ndim)
    if reduction in ("sum_over_batch_size", "mean"):
        valid = m.sum()
        m = m * (m.size / valid if valid else 0.0)
    if sample_weight is not None:
        m = m * _expanded(sample_weight, m.ndim)
    return m


def _expanded(sample_weight, ndim):
    w = np.asarray(host(sample_weight) if isinstance(sample_weight, Tensor) else sample_weight, dtype=np.float64)
    return w.reshape(w.shape + (1,) * max(ndim - w.ndim, 0))


def metric_weights(sample_weight, mask, values_ndim):
    """The sample weights a mean metric uses for an output with ``mask``: the mask (as 0/1) times ``sample_weight``,
    as Keras' metrics (None without a mask)."""
    if mask is None:
        return sample_weight
    m = np.asarray(host(mask), dtype=np.float64)
    if sample_weight is not None:
        m = m * _expanded(sample_weight, m.ndim)
    return m


def update_metrics(metrics, y, y_pred, sample_weight):
    """Update each compiled metric with a batch; the mean metrics skip masked steps of ``y_pred`` (Keras' rule)."""
    from .metrics import MeanMetricWrapper  # noqa: PLC0415
    mask = get_keras_mask(y_pred)
    pred = host(y_pred)
    for m in metrics:
        weights = sample_weight
        if mask is not None and isinstance(m, MeanMetricWrapper) and tuple(mask.shape) == pred.shape[:mask.ndim]:
            weights = metric_weights(sample_weight, mask, None)
        m.update_state(y, pred, weights)


def install():
    """Put masks into ``Layer``: ``compute_mask``, ``supports_masking`` (False unless a layer says so) and the call
    wrapper that hands masks from layer to layer (idempotent)."""
    if getattr(Layer, "_masks_installed", False):
        return
    Layer._masks_installed = True
    Tensor._keras_mask = property(get_keras_mask, doc="The Keras mask riding with this tensor (None if none).")
    KerasTensor._keras_mask = property(get_keras_mask, doc="The symbolic mask of this KerasTensor (None if none).")
    Layer.supports_masking = False
    Layer.compute_mask = _compute_mask
    Layer.forward = _forward
    Layer.__call__ = _masked_call(Layer.__call__)


install()
