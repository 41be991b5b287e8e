"""Weight penalties added to the training loss: ``Dense(64, kernel_regularizer=regularizers.l2(1e-4))``.

As Keras: ``L2(l2)`` is ``l2 * sum(w ** 2)`` (no 1/2), ``L1(l1)`` is ``l1 * sum(|w|)``; both default to 0.01.
The penalties count in the logged ``loss``, in training and in ``evaluate``, as in Keras.

Example:
    >>> layer = md.keras.layers.Dense(8, kernel_regularizer=md.keras.regularizers.l1_l2(l1=1e-5, l2=1e-4))
"""
import numbers

from .. import ops
from ._config import from_registry


class Regularizer:
    def __call__(self, weight):
        raise NotImplementedError

    def get_config(self):
        return {}


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        for name, v in (("l1", l1), ("l2", l2)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
                raise ValueError(f"Value for argument `{name}` should be a non-negative float. Received: {name}={v}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight):
        total = 0.0
        if self.l1:
            total = total + ops.sum(ops.abs(weight)) * self.l1
        if self.l2:
            total = total + ops.sum(weight * weight) * self.l2
        return total

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1=0.01):  # noqa: E741 -- Keras' name
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):  # noqa: E741
    return L1L2(l1, l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A Regularizer from ``None``, a name (``"l2"``), a config dict or a Regularizer/callable."""
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in ("l1", "l2", "l1_l2"):
        return {"l1": l1, "l2": l2, "l1_l2": l1_l2}[identifier]()
    if isinstance(identifier, dict):
        return from_registry(_CLASSES, identifier, "regularizer")
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")


def serialize(reg):
    if reg is None:
        return None
    if type(reg).__name__ not in _CLASSES:
        raise ValueError(f"Cannot save a model with the custom regularizer {reg!r}")
    return {"class_name": type(reg).__name__, "config": reg.get_config()}


deserialize = get
