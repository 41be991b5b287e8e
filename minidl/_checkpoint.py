"""Nested checkpoints -- what PyTorch users hand to ``torch.save`` -- inside one safetensors file.

``{"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict(), "history": [0.9, 0.5]}`` is split into
its tensors and arrays (stored as safetensors entries named "0", "1", ...) and a JSON tree of everything else
(dicts with any hashable plain keys, lists, tuples, bools, ints, floats including inf and NaN, strings, None, minidl
dtypes and devices), kept in the header's metadata under ``STRUCTURE_KEY``. Reading it back is JSON plus raw
numbers: nothing in the file is executed. A tensor that appears twice is stored once and comes back as one object.
"""
import json
import math
import pickle

import numpy as np

from . import _weights_only, dtypes
from .device import Device
from .tensor import Tensor

STRUCTURE_KEY = "minidl.checkpoint"
_FORMAT = 1


def is_flat(obj):
    """Whether ``obj`` is a plain ``{str: Tensor, array or NumPy scalar}`` mapping: then it is stored as an ordinary
    safetensors file that any reader understands, without a structure (and loads back as ``{str: Tensor}``)."""
    return isinstance(obj, dict) and all(isinstance(k, str) and isinstance(v, (Tensor, np.ndarray, np.generic))
                                         for k, v in obj.items())


def flatten(obj):
    """``(arrays, tree)``: the ``{name: Tensor or ndarray}`` to store and the JSON text describing ``obj``.

    Raises TypeError naming the first value that cannot be stored and where it sits (``['model']``).
    """
    arrays, seen = {}, {}

    def node(v, where):
        if v is None:
            return {"t": "none"}
        if isinstance(v, bool):
            return {"t": "bool", "v": v}
        if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
            return {"t": "int", "v": str(int(v))}
        if isinstance(v, (float, np.floating)) and np.ndim(v) == 0 and not isinstance(v, np.ndarray):
            return {"t": "float", "v": repr(float(v))}
        if isinstance(v, str):
            return {"t": "str", "v": v}
        if isinstance(v, dtypes.DType):
            return {"t": "dtype", "v": v.name}
        if isinstance(v, Device):
            return {"t": "device", "v": str(v)}
        if isinstance(v, (Tensor, np.ndarray)):
            if id(v) not in seen:
                seen[id(v)] = (str(len(arrays)), v)
                arrays[seen[id(v)][0]] = v
            key = seen[id(v)][0]
            if isinstance(v, np.ndarray):
                return {"t": "ndarray", "k": key}
            from .nn.parameter import Parameter  # noqa: PLC0415 -- nn imports this module's package
            return {"t": "parameter" if isinstance(v, Parameter) else "tensor", "k": key,
                    "rg": bool(v.requires_grad)}
        if isinstance(v, (list, tuple)):
            return {"t": "list" if isinstance(v, list) else "tuple",
                    "v": [node(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, dict):
            items = []
            for k, x in v.items():
                if not isinstance(k, (str, int, float, bool, tuple)) and k is not None:
                    raise TypeError(f"save: the key {k!r} at {where or 'the top'} is a {type(k).__name__}; keys may "
                                    "be strings, numbers, booleans, None or tuples of those")
                items.append([node(k, where), node(x, f"{where}[{k!r}]")])
            return {"t": "dict", "v": items}
        return _pickled(v, where)

    def _pickled(v, where):
        # anything else (a whole Module, an optimizer, a custom object) is pickled, as torch.save does; load
        # unpickles it only when asked with weights_only=False, since unpickling runs code named by the file
        try:
            blob = pickle.dumps(v, protocol=4)
        except Exception as exc:  # noqa: BLE001 -- pickling can fail in any way; say what could not be stored
            raise TypeError(f"save: cannot store a {type(v).__name__} at {where or 'the top'}: it is not a tensor, "
                            f"array, number, string or container, and pickling it failed ({exc})") from None
        key = str(len(arrays))
        arrays[key] = np.frombuffer(blob, dtype=np.uint8).copy()
        return {"t": "pickle", "k": key, "type": f"{type(v).__module__}.{type(v).__qualname__}", "at": where}

    tree = node(obj, "")
    return arrays, json.dumps({"format": _FORMAT, "root": tree}, separators=(",", ":"))


class PickledObjectRefused(pickle.UnpicklingError):
    """A checkpoint holds a pickled object and ``load`` was not told ``weights_only=False``."""


def unflatten(text, tensors, source, allow_pickle=False):
    """The object ``flatten`` described, from its JSON ``text`` and the loaded ``{name: Tensor}``. Any defect is a
    ValueError naming ``source``; a pickled object is refused unless ``allow_pickle``."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError(f"unknown checkpoint format {doc.get('format') if isinstance(doc, dict) else doc!r}")
        return _build(doc["root"], tensors, source if not allow_pickle else None)
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise ValueError(f"{source}: its checkpoint structure is corrupt ({type(exc).__name__}: {exc})") from None


def _build(n, tensors, refuse_pickle_from=None):
    kind = n["t"]
    if kind == "none":
        return None
    if kind == "bool":
        if not isinstance(n["v"], bool):
            raise TypeError("a bool node without a bool")
        return n["v"]
    if kind == "int":
        return int(n["v"])
    if kind == "float":
        v = n["v"]
        return float(v) if v not in ("nan", "inf", "-inf") else {"nan": math.nan, "inf": math.inf,
                                                                  "-inf": -math.inf}[v]
    if kind == "str":
        if not isinstance(n["v"], str):
            raise TypeError("a str node without a string")
        return n["v"]
    if kind == "dtype":
        return dtypes.to_dtype(n["v"])
    if kind == "device":
        return Device(n["v"])
    if kind in ("tensor", "parameter", "ndarray"):
        t = tensors[n["k"]]
        if kind == "ndarray":
            return t.numpy()
        if kind == "parameter":
            from .nn.parameter import Parameter  # noqa: PLC0415
            return Parameter(t, requires_grad=bool(n["rg"]))
        return t.requires_grad_(True) if n["rg"] and t.dtype.is_floating_point else t
    if kind in ("list", "tuple"):
        items = [_build(x, tensors, refuse_pickle_from) for x in n["v"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {_build(k, tensors, refuse_pickle_from): _build(v, tensors, refuse_pickle_from) for k, v in n["v"]}
    if kind == "pickle":
        if refuse_pickle_from is not None and _weights_only.active():     # a weights-only load with an allow-list
            return _weights_only.restricted_loads(tensors[n["k"]].numpy().tobytes(), lambda name: PickledObjectRefused(
                f"{refuse_pickle_from}: weights-only load refused the global {name} in the pickled {n['type']} at "
                f"{n['at'] or 'the top'}; if you trust it, list it in md.serialization.safe_globals([...]) or "
                "add_safe_globals, or load with weights_only=False"))
        if refuse_pickle_from is not None:
            raise PickledObjectRefused(
                f"{refuse_pickle_from}: the checkpoint holds a pickled {n['type']} at {n['at'] or 'the top'}; "
                "unpickling runs code the file names, so it needs weights_only=False (only for files you trust), "
                "as PyTorch's load since 2.6")
        return pickle.loads(tensors[n["k"]].numpy().tobytes())  # noqa: S301 -- asked for with weights_only=False
    raise ValueError(f"unknown node kind {kind!r}")
