"""The optimizer's state in a ``.keras`` file, so that training resumes exactly where it stopped.

``model.save`` writes the state arrays of the built optimizer (Adam's moments, RMSprop's averages, momentum
buffers...) next to the weights in ``model.weights.safetensors`` (as Keras keeps them in its weights file), keyed
``optimizer/<parameter path>/<state name>`` (``optimizer/dense.linear.weight/exp_avg``), and its scalars to
``config.json``'s ``optimizer_state``: the iteration count, the learning rate (when a number: callbacks such as
``ReduceLROnPlateau`` change it) and per-parameter counters (``step``). ``load_model(compile=True)`` rebuilds the
optimizer from the compile config and loads them back; every name, shape and value is checked first, as the weights
are.

Example:
    >>> model.fit(x, y, epochs=2); model.save("m.keras")
    >>> resumed = md.keras.models.load_model("m.keras")
    >>> resumed.fit(x, y, epochs=2)       # the same as 4 epochs in one go
"""
import math

import numpy as np

from ..device import to_host

PREFIX = "optimizer/"


def _trainable(model):
    """(path, parameter) of what the optimizer updates, in its order (``Optimizer.build``'s)."""
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def optimizer_state(model):
    """``(meta, tensors)`` for the file, or ``(None, {})`` when the model has no built optimizer with state."""
    opt = getattr(model, "optimizer", None)
    inner = getattr(opt, "inner", None)
    if inner is None or not hasattr(inner, "state_dict"):
        return None, {}
    names = {id(p): name for name, p in _trainable(model)}
    state = inner.state_dict()["state"]
    params = [p for group in inner.param_groups for p in group["params"]]
    tensors, scalars = {}, {}
    for index, entry in state.items():
        path = names.get(id(params[index]))
        if path is None:
            continue
        for key, value in entry.items():
            if hasattr(value, "shape"):
                tensors[f"{PREFIX}{path}/{key}"] = np.array(to_host(value))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                scalars[f"{path}/{key}"] = float(value)
    lr = opt._lr if isinstance(opt._lr, (int, float)) else None
    return {"iterations": int(opt.iterations), "learning_rate": lr, "scalars": scalars}, tensors


def _number(value, what, source):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{source}: optimizer_state {what} must be a finite number, got {value!r:.80}")
    return value


def _param_path(key, by_path, source):
    path = key[len(PREFIX):].rpartition("/")[0] if key.startswith(PREFIX) else key.rpartition("/")[0]
    if path not in by_path:
        raise ValueError(f"{source}: optimizer state {key!r} names no trainable weight of the model")
    return path


def optimizer_wanted(model, entries, source):
    """``{name: shape}`` of the optimizer's tensors among the weights file's ``entries``: each must name a trainable
    weight of the model and have its shape (checked when read)."""
    by_path = dict(_trainable(model))
    return {key: tuple(by_path[_param_path(key, by_path, source)].shape) for key in entries
            if key.startswith(PREFIX)}


def restore_optimizer_state(model, meta, arrays, source):
    """Build ``model.optimizer`` on the model's weights and load ``meta`` (from config.json) and ``arrays`` (the
    ``optimizer/...`` tensors read from the weights file, names and shapes checked) into it."""
    if not isinstance(meta, dict) or not isinstance(meta.get("scalars"), dict):
        raise ValueError(f"{source}: optimizer_state must be a dict with 'iterations', 'learning_rate', 'scalars'")
    opt = model.optimizer
    if opt.inner is None:
        opt.build(model.parameters())
    inner = opt.inner
    if not hasattr(inner, "load_state_dict"):
        raise ValueError(f"{source}: the file holds optimizer state, but the model has nothing to train")
    by_path = dict(_trainable(model))
    values = {}
    for key, value in arrays.items():
        values[(_param_path(key, by_path, source), key.rpartition("/")[2])] = value
    for key, value in meta["scalars"].items():
        values[(_param_path(str(key), by_path, source), str(key).rpartition("/")[2])] = \
            _number(value, repr(key), source)
    params = [p for group in inner.param_groups for p in group["params"]]
    index = {id(p): i for i, p in enumerate(params)}
    state = {}
    for (path, name), value in values.items():
        state.setdefault(index[id(by_path[path])], {})[name] = value
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
              for g in inner.param_groups]
    inner.load_state_dict({"state": state, "param_groups": groups})
    iterations = _number(meta.get("iterations"), "'iterations'", source)
    if iterations < 0 or int(iterations) != iterations:
        raise ValueError(f"{source}: optimizer_state 'iterations' must be a count, got {iterations!r}")
    opt.iterations = int(iterations)
    if meta.get("learning_rate") is not None:
        opt.learning_rate = _number(meta["learning_rate"], "'learning_rate'", source)
