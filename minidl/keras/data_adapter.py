"""Turning what ``fit``/``evaluate``/``predict`` receive into batches: arrays (one or a list of inputs), with
optional labels and sample weights, or an iterable of ``(x, y)`` batches such as an ``md.data.DataLoader``."""
import math

import numpy as np

from ..random import generator
from .backend import float_array
from .layers.base import host, shape_str


def _as_array(a):
    return host(a) if hasattr(a, "array") else np.asarray(a)


class ArrayData:
    """In-memory samples: ``x`` an array or a list of arrays (a multi-input model), ``y`` and ``sample_weight``
    arrays or None. All must have the same number of samples."""

    def __init__(self, x, y=None, sample_weight=None):
        self.multi = isinstance(x, (list, tuple))
        self.xs = [float_array(_as_array(a)) for a in (x if self.multi else [x])]
        self.y = None if y is None else _as_array(y)
        self.sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        sizes = {"x": [len(a) if a.ndim else None for a in self.xs]}
        if self.y is not None:
            sizes["y"] = [len(self.y) if self.y.ndim else None]
        if self.sw is not None:
            sizes["sample_weight"] = [len(self.sw) if self.sw.ndim else None]
        flat = {n for v in sizes.values() for n in v}
        if None in flat:
            raise ValueError(f"Expected arrays with a batch axis; got shapes x={[shape_str(a.shape) for a in self.xs]}"
                             + ("" if self.y is None else f", y={shape_str(self.y.shape)}"))
        if len(flat) != 1:
            detail = ", ".join(f"{k} sizes: {v}" for k, v in sizes.items())
            raise ValueError(f"Data cardinality is ambiguous: make sure all arrays contain the same number of samples. "
                             f"{detail}")
        self.n = flat.pop()
        if self.n == 0:
            raise ValueError("Expected input data to be non-empty.")

    def split(self, fraction):
        """(train, validation): the last ``fraction`` of the samples, before any shuffling, as Keras."""
        if not 0 < fraction < 1:
            raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
        at = int(math.floor(self.n * (1.0 - fraction)))
        if at == 0 or at == self.n:
            raise ValueError(f"validation_split={fraction} leaves no samples on one side of {self.n} samples")
        return self._take(slice(0, at)), self._take(slice(at, self.n))

    def _take(self, idx):
        out = object.__new__(ArrayData)
        out.multi, out.xs = self.multi, [a[idx] for a in self.xs]
        out.y = None if self.y is None else self.y[idx]
        out.sw = None if self.sw is None else self.sw[idx]
        out.n = len(out.xs[0])
        return out

    def steps(self, batch_size):
        return math.ceil(self.n / batch_size)

    def batches(self, batch_size, shuffle=False):
        order = generator().permutation(self.n) if shuffle else None
        for start in range(0, self.n, batch_size):
            idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            xs = [a[idx] for a in self.xs]
            yield (xs if self.multi else xs[0], None if self.y is None else self.y[idx],
                   None if self.sw is None else self.sw[idx])

    def sample(self):
        return [a[:2] for a in self.xs] if self.multi else self.xs[0][:2]


class IterableData:
    """Batches from an iterable (a DataLoader, a list of ``(x, y)`` pairs...): each item is ``(x, y)``,
    ``(x, y, sample_weight)`` or just ``x``."""

    def __init__(self, source):
        self.source = source

    def steps(self, batch_size=None):
        try:
            return len(self.source)
        except TypeError:
            return None

    def batches(self, batch_size=None, shuffle=False):
        for item in self.source:
            if isinstance(item, (tuple, list)):
                parts = list(item) + [None] * (3 - len(item))
                x, y, sw = parts[:3]
            else:
                x, y, sw = item, None, None
            x = [float_array(_as_array(a)) for a in x] if isinstance(x, (list, tuple)) else float_array(_as_array(x))
            yield x, (None if y is None else _as_array(y)), (None if sw is None else _as_array(sw))

    def sample(self):
        for x, _, _ in self.batches():
            return x
        raise ValueError("Expected input data to be non-empty.")


def adapt(x, y=None, sample_weight=None, who="fit"):
    """ArrayData or IterableData for ``x``; an iterable of batches takes no separate ``y``."""
    if x is None:
        raise ValueError(f"{who}: the input data `x` is missing")
    if isinstance(x, (np.ndarray, list, tuple)) or hasattr(x, "__array__") or hasattr(x, "shape"):
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], (tuple, list)) and y is None:
            return IterableData(x)      # a list of (x, y) batches
        return ArrayData(x, y, sample_weight)
    if hasattr(x, "__iter__"):
        if y is not None:
            raise ValueError(f"{who}: `y` must not be given when `x` is a dataset or an iterable of batches "
                             "(it yields (x, y) itself)")
        return IterableData(x)
    raise TypeError(f"{who}: unrecognized data type x={type(x).__name__}")


def class_weights_for(y, class_weight):
    """Per-sample weights from a ``{class: weight}`` dict (labels as indices, or one-hot)."""
    labels = y.argmax(-1) if y.ndim >= 2 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = np.round(labels).astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - set(class_weight))
    if missing:
        raise ValueError(f"class_weight has no entry for class(es) {missing}")
    return np.array([class_weight[int(c)] for c in labels], np.float64)
