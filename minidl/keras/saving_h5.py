"""Keras 3's ``.weights.h5`` files: ``save_weights("model.weights.h5")`` / ``load_weights``, in the layout Keras
writes, so weights move between md.keras and Keras in both directions. Needs h5py (``pip install "minidl[h5]"``);
md.keras' own ``.weights.safetensors`` needs nothing.

The layout, as Keras 3 writes it: ``layers/<key>/vars/<i>`` holds weight ``i`` of a layer in Keras' order and
layout, where ``<key>`` is the snake-case class name numbered per class in the model's layer order (``dense``,
``dense_1``; a functional model's inputs come first as ``input_layer`` entries without weights); a nested model is
``layers/<key>/layers/...``; a recurrent layer's weights sit in its ``cell`` group, ``Bidirectional``'s in
``forward_layer``/``backward_layer``, ``TimeDistributed``'s in ``layer``, as Keras nests them. A custom layer
holding other layers is written as one entry of all its weights (Keras nests those by attribute), which md.keras
reads back but Keras may not.

Writes are atomic (the file is built in memory, then written beside the target and renamed over it); a file that is
not HDF5, or lacks a weight, or has one of the wrong shape, is a ValueError naming the file and the entry, raised
before any weight changes.

Example:
    >>> model.save_weights("mnist.weights.h5")
    >>> same_architecture.load_weights("mnist.weights.h5")
"""
import io
import os

import numpy as np

from ..serialization import atomic_write
from .backend import snake_case


def _h5py(what):
    try:
        import h5py  # noqa: PLC0415
    except ImportError:
        raise ImportError(f'{what}: .weights.h5 files need h5py: pip install "minidl[h5]" (or save to a '
                          "'.weights.safetensors' path, which needs nothing)") from None
    return h5py


def _entries(model):
    """``[(key, layer or None)]`` in Keras' order: a functional model's inputs first (None: no weights)."""
    from .model import Model  # noqa: PLC0415
    counts, out = {}, []

    def key(base):
        n = counts.get(base, 0)
        counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    if isinstance(model, Model) and model._graph is not None and type(model).__name__ != "Sequential":
        out += [(key("input_layer"), None) for _ in model._graph[0]]
    for layer in model.layers:
        if type(layer) is Model and layer._graph is not None:       # Keras' class for it is Functional
            base = "functional"
        else:
            base = snake_case(type(layer).__name__)
        out.append((key(base), layer))
    return out


def _is_model(layer):
    from .model import Model  # noqa: PLC0415
    return isinstance(layer, Model)


def _layout(layer):
    """``[(path inside the layer's group, number of weights)]`` of ``layer``'s weights in Keras' nesting: a
    recurrent layer's weights belong to its ``cell``, a wrapper's to the layers it wraps; the counts cover
    ``layer.get_weights()`` in order. Container groups that hold no weights themselves are listed with 0."""
    name = type(layer).__name__
    if hasattr(type(layer), "_h5_layout"):          # a layer that says its own nesting (MultiHeadAttention)
        return layer._h5_layout()
    if name in ("SimpleRNN", "LSTM", "GRU"):
        return [("", 0), ("cell", len(layer.get_weights()))]
    if name == "Bidirectional":
        return [("", 0)] + [(f"{side}/{p}".rstrip("/"), n) for side, sub in
                            (("forward_layer", layer.forward_layer), ("backward_layer", layer.backward_layer))
                            for p, n in _layout(sub)]
    if name == "TimeDistributed":
        return [("", 0)] + [(f"layer/{p}".rstrip("/"), n) for p, n in _layout(layer.layer)]
    return [("", len(layer.get_weights()))]


def _write(group, model):
    group.create_group("vars").attrs["name"] = model.name
    layers = group.create_group("layers")
    for key, layer in _entries(model):
        g = layers.create_group(key)
        if layer is not None and _is_model(layer):
            _write(g, layer)
            continue
        weights = [] if layer is None else list(layer.get_weights())
        for path, n in ([("", 0)] if layer is None else _layout(layer)):
            v = g.require_group(f"{path}/vars" if path else "vars")
            v.attrs["name"] = "input_layer" if layer is None else layer.name
            for i in range(n):
                v.create_dataset(str(i), data=np.asarray(weights.pop(0)))


def save_weights_h5(model, filepath):
    """Write ``model``'s weights to ``filepath`` (``*.weights.h5``) in Keras 3's layout, atomically."""
    h5py = _h5py("save_weights")
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _write(f, model)
    atomic_write(filepath, buf.getvalue())


def _read(group, model, where, found):
    layers = group.get("layers")
    if layers is None:
        raise ValueError(f"{where}: no 'layers' group")
    for key, layer in _entries(model):
        if layer is None:
            continue
        path = f"{where}/layers/{key}"
        if key not in layers:
            raise ValueError(f"{path} is missing (layer {layer.name!r}); the file holds {sorted(layers)[:8]}")
        if _is_model(layer):
            _read(layers[key], layer, path, found)
            continue
        want, arrays = list(layer.get_weights()), []
        for sub, n in _layout(layer):
            if n == 0:
                continue
            where_vars = f"{path}/{sub}/vars" if sub else f"{path}/vars"
            v = layers[key].get(f"{sub}/vars" if sub else "vars")
            if v is None:
                raise ValueError(f"{where_vars} is missing (layer {layer.name!r})")
            if len(v) != n:
                raise ValueError(f"{where_vars}: the file holds {len(v)} weights for layer {layer.name!r}, which "
                                 f"has {n} there")
            for i in range(n):
                w = want[len(arrays)]
                if str(i) not in v:
                    raise ValueError(f"{where_vars}/{i} is missing")
                ds = v[str(i)]
                if tuple(ds.shape) != tuple(np.shape(w)):
                    raise ValueError(f"{where_vars}/{i} has shape {tuple(ds.shape)}; layer {layer.name!r} weight "
                                     f"{len(arrays)} has shape {tuple(np.shape(w))}")
                arrays.append(np.asarray(ds[()], dtype=np.asarray(w).dtype))
        found.append((layer, arrays))


def load_weights_h5(model, filepath):
    """Read a ``*.weights.h5`` file (md.keras' or Keras 3's) into ``model``; everything is checked before any
    weight changes."""
    h5py = _h5py("load_weights")
    with open(filepath, "rb") as fh:
        data = fh.read()
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except OSError as e:
        raise ValueError(f"{filepath} is not a readable HDF5 file ({e})") from None
    found = []
    with f:
        _read(f, model, os.path.basename(filepath), found)
    for layer, arrays in found:
        layer.set_weights(arrays)
