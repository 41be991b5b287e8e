"""What the Keras attention layers share: masks as backend bool arrays, symbolic calls with call arguments that a
functional model replays and saves, and Keras' masked softmax.

A functional model records each layer call as its layer and parent tensors; an attention call also has arguments
that are not tensors (``use_causal_mask``, ``return_attention_scores``) and tensors that are not the first input
(``attention_mask``). ``symbolic_call`` keeps them on the output KerasTensor (``_call_kwargs``, the extra tensors
among the parents), the model passes them back when it runs the graph, and ``Model.get_config`` saves them in the
node (``"kwargs"``), as Keras 3 keeps a node's call kwargs.
"""
from ...device import array_module
from ...ops import softmax, where
from ...tensor import Tensor
from ..masking_utils import get_keras_mask, set_keras_mask, split_outputs
from .base import KerasTensor

# Keras' large negative number for masked scores (float16: -3e4), as its Softmax and attention layers use
_LARGE_NEGATIVE = {"float16": -3e4}


def large_negative(dtype_name):
    return _LARGE_NEGATIVE.get(dtype_name, -1e9)


def bool_mask(mask, like, what, layer):
    """``mask`` (a Tensor, NumPy/CuPy array or nested list; nonzero = keep) as a bool array on ``like``'s device."""
    if mask is None:
        return None
    if isinstance(mask, KerasTensor):
        raise TypeError(f'Layer "{layer.name}" ({type(layer).__name__}): {what} is a symbolic tensor, but the other '
                        "inputs are not; pass arrays or Tensors in an eager call")
    xp = array_module(like.array)
    arr = mask.array if isinstance(mask, Tensor) else mask
    arr = xp.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f'Layer "{layer.name}" ({type(layer).__name__}): {what} must hold booleans or numbers, got '
                        f"dtype {arr.dtype}")
    return arr if arr.dtype == bool else arr != 0


def masked_softmax(scores, mask, dtype_name):
    """Keras' masked softmax over the last axis: masked scores become a large negative number, and masked
    probabilities are zero afterwards (so a row that sees nothing is all zeros). ``mask`` a bool array or None."""
    if mask is None:
        return softmax(scores, dim=-1)
    keep = Tensor._wrap(mask)
    probs = softmax(where(keep, scores, large_negative(dtype_name)), dim=-1)
    return where(keep, probs, 0.0)


def symbolic_call(layer, parents, out_shapes, call_kwargs, out_mask=None):
    """The KerasTensor(s) of a symbolic call of ``layer`` on ``parents`` (the tensors the model passes back, in
    order), returning one output per shape in ``out_shapes``. ``call_kwargs`` (JSON values) are passed back too;
    ``out_mask`` (a symbolic mask or None) rides on the first output."""
    dtype = layer.dtype_name
    if len(out_shapes) == 1:
        out = KerasTensor(out_shapes[0], dtype, layer, parents)
        if call_kwargs:
            out._call_kwargs = dict(call_kwargs)
        layer.__dict__.setdefault("_keras_nodes", []).append((list(parents), out))
        outs = [out]
    else:
        node = KerasTensor(out_shapes[0], dtype, layer, parents)
        if call_kwargs:
            node._call_kwargs = dict(call_kwargs)
        layer.__dict__.setdefault("_keras_nodes", []).append((list(parents), node))
        outs = split_outputs(node, out_shapes, dtype)
    if out_mask is not None:
        set_keras_mask(outs[0], out_mask)
    layer.output_shape = out_shapes[0]
    return outs[0] if len(outs) == 1 else tuple(outs)


def is_symbolic(*values):
    return any(isinstance(v, KerasTensor) for v in values)


def input_mask(x):
    """The Keras mask ``x`` carries (None if none)."""
    return get_keras_mask(x) if isinstance(x, (Tensor, KerasTensor)) else None


def known_dim(layer, shape, what):
    if not isinstance(shape, (list, tuple)) or len(shape) < 2:
        raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}): {what} must have a batch axis and a '
                         f"feature axis, got shape {shape!r}")
    if shape[-1] is None:
        raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}): the last axis of {what} (shape '
                         f"{tuple(shape)}) must be known to build the layer")
    return int(shape[-1])
