"""Weight constraints: projections applied to a weight after every optimizer step, as Keras applies them.

``Dense(64, kernel_constraint=constraints.MaxNorm(3))`` rescales each column of the kernel (each unit's incoming
weights: Keras' ``(in, out)`` layout, ``axis=0``) whose L2 norm exceeds 3 back to norm 3 after each update. The
formulas are Keras' (``epsilon = 1e-7`` in the divisions). A constraint is called with the weight in Keras' layout as
a minidl Tensor and returns the projected weight (Tensor or array), so a custom one is a plain function or a
``Constraint`` subclass written with ``keras.ops``.

Example:
    >>> layer = md.keras.layers.Dense(8, kernel_constraint=md.keras.constraints.MaxNorm(2.0),
    ...                               bias_constraint="non_neg")
"""
import weakref

import numpy as np

from ._config import from_registry

EPSILON = 1e-7


def _norms(w, axis):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis     # Keras takes a list of axes too
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: ``__call__(w) -> w projected``; ``get_config()`` for saving."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    """Each slice along ``axis`` rescaled to an L2 norm of at most ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        return w * (np.clip(norms, 0, self.max_value) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice's L2 norm moved toward ``[min_value, max_value]`` by ``rate`` (1.0: clipped into the range)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Negative entries set to zero."""

    def __call__(self, w):
        w = np.asarray(w)
        return w * (w >= 0).astype(w.dtype)


class UnitNorm(Constraint):
    """Each slice along ``axis`` divided by its L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_CLASSES = {c.__name__: c for c in (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
_BY_NAME = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
            "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm}


def get(identifier):
    """A constraint from ``None``, a name (``"max_norm"``), a config dict, a Constraint or a callable."""
    if identifier is None or isinstance(identifier, Constraint) or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        return from_registry(_CLASSES, identifier, "constraint")
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")


def serialize(constraint):
    """The config dict of a built-in constraint (None for None); a custom one cannot be saved."""
    if constraint is None:
        return None
    if type(constraint).__name__ not in _CLASSES or type(constraint) is not _CLASSES[type(constraint).__name__]:
        raise ValueError(f"Cannot save a model with the custom constraint {constraint!r}: pass a built-in one")
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


deserialize = get

# --- applying them ------------------------------------------------------------------------------------------------
# The minidl tensors behind constrained weights: id(tensor) -> (weakref to the tensor, the layer's _Weight,
# weakref to the layer). The Keras optimizer looks its parameters up here when it is built, so constraints apply in
# every loop that calls optimizer.step() (fit, or a custom loop), with nothing stored on the tensors.
_CONSTRAINED = {}


def watch(weight, layer):
    """Register a layer weight that has a constraint (called by ``Layer._add_weight``)."""
    for t in weight.tensors():
        _CONSTRAINED[id(t)] = (weakref.ref(t), weight, weakref.ref(layer))


def constrained(params):
    """The ``(weight, layer)`` pairs among ``params`` that carry a constraint, each once."""
    found, seen = [], set()
    for p in params:
        entry = _CONSTRAINED.get(id(p))
        if entry is None or entry[0]() is not p or id(entry[1]) in seen:
            continue
        layer = entry[2]()
        if layer is not None and entry[1].constraint is not None:
            seen.add(id(entry[1]))
            found.append((entry[1], layer))
    return found


def apply(pairs):
    """Project each constrained weight (after an optimizer step)."""
    from ..tensor import Tensor  # noqa: PLC0415
    for weight, layer in pairs:
        value = weight.read()
        out = weight.constraint(Tensor._wrap(value.copy()))
        out = out.detach().cpu().numpy() if isinstance(out, Tensor) else np.asarray(out)
        weight.write(out.astype(value.dtype, copy=False), layer)
