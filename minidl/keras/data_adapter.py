"""Turning what ``fit``/``evaluate``/``predict`` receive into the batch sources of ``minidl.train.engine``:

- arrays: ``x`` one array or a list of arrays (several inputs), ``y`` one array or a list of arrays (several
  outputs), optional ``sample_weight``; batched by ``batch_size``, shuffled each epoch (``shuffle=True``; ``"batch"``
  shuffles the order of whole batches);
- a ``keras.utils.PyDataset`` (or ``Sequence``): ``len(ds)`` batches, ``ds[i]`` each (in a shuffled order when
  ``fit`` shuffles, as Keras), ``ds.on_epoch_end()`` after every epoch;
- any other iterable of batches, re-read each epoch (an ``md.utils.data.DataLoader``, a list of ``(x, y)``), or a
  Python generator, read on across epochs (``steps_per_epoch`` says how many batches make an epoch).

A batch is ``(x, y)``, ``(x, y, sample_weight)`` or ``x``.
"""
import math

import numpy as np

from ..random import generator
from .backend import float_array
from .layers.base import host, shape_str


def _as_array(a):
    return host(a) if hasattr(a, "array") else np.asarray(a)


def _inputs(x):
    return [float_array(_as_array(a)) for a in x] if isinstance(x, (list, tuple)) else float_array(_as_array(x))


def _targets(y):
    if y is None:
        return None
    return [_as_array(a) for a in y] if isinstance(y, (list, tuple)) else _as_array(y)


class ArrayData:
    """In-memory samples: ``x`` an array or a list of arrays (a multi-input model), ``y`` an array, a list of arrays
    (a multi-output model) or None, ``sample_weight`` an array or None. All must have the same number of samples."""

    def __init__(self, x, y=None, sample_weight=None):
        self.multi, self.multi_y = isinstance(x, (list, tuple)), isinstance(y, (list, tuple))
        self.xs = [float_array(_as_array(a)) for a in (x if self.multi else [x])]
        self.ys = None if y is None else [_as_array(a) for a in (y if self.multi_y else [y])]
        self.sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        sizes = {"x": [len(a) if a.ndim else None for a in self.xs]}
        if self.ys is not None:
            sizes["y"] = [len(a) if a.ndim else None for a in self.ys]
        if self.sw is not None:
            sizes["sample_weight"] = [len(self.sw) if self.sw.ndim else None]
        flat = {n for v in sizes.values() for n in v}
        if None in flat:
            raise ValueError(f"Expected arrays with a batch axis; got shapes x={[shape_str(a.shape) for a in self.xs]}"
                             + ("" if self.ys is None else f", y={[shape_str(a.shape) for a in self.ys]}"))
        if len(flat) != 1:
            detail = ", ".join(f"{k} sizes: {v}" for k, v in sizes.items())
            raise ValueError(f"Data cardinality is ambiguous: make sure all arrays contain the same number of samples. "
                             f"{detail}")
        self.n = flat.pop()
        if self.n == 0:
            raise ValueError("Expected input data to be non-empty.")

    @property
    def y(self):
        if self.ys is None:
            return None
        return self.ys if self.multi_y else self.ys[0]

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
        out.multi, out.multi_y, out.xs = self.multi, self.multi_y, [a[idx] for a in self.xs]
        out.ys = None if self.ys is None else [a[idx] for a in self.ys]
        out.sw = None if self.sw is None else self.sw[idx]
        out.n = len(out.xs[0])
        return out

    def steps(self, batch_size):
        return math.ceil(self.n / batch_size)

    def batches(self, batch_size, shuffle=False):
        order = None
        if shuffle == "batch":          # whole batches in a new order, samples kept together
            starts = generator().permutation(self.steps(batch_size)) * batch_size
            order = np.concatenate([np.arange(s, min(s + batch_size, self.n)) for s in starts])
        elif shuffle:
            order = generator().permutation(self.n)
        for start in range(0, self.n, batch_size):
            idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            xs = [a[idx] for a in self.xs]
            ys = None if self.ys is None else [a[idx] for a in self.ys]
            yield (xs if self.multi else xs[0], ys if ys is None or self.multi_y else ys[0],
                   None if self.sw is None else self.sw[idx])

    def sample(self):
        return [a[:2] for a in self.xs] if self.multi else self.xs[0][:2]

    def source(self, batch_size, shuffle=False):
        return _Source(lambda epoch: self.batches(batch_size, shuffle), self.steps(batch_size))


def _split_item(item):
    if isinstance(item, (tuple, list)):
        parts = list(item) + [None] * (3 - len(item))
        x, y, sw = parts[:3]
    else:
        x, y, sw = item, None, None
    return _inputs(x), _targets(y), (None if sw is None else _as_array(sw))


class IterableData:
    """Batches from an iterable: a DataLoader or a list of ``(x, y)`` pairs (re-read each epoch), or a generator
    (read on from where the last epoch stopped)."""

    def __init__(self, source):
        self.data = source

    def steps(self, batch_size=None):
        try:
            return len(self.data)
        except TypeError:
            return None

    def batches(self, batch_size=None, shuffle=False):
        for item in self.data:
            yield _split_item(item)

    def sample(self):
        for x, _, _ in self.batches():
            return x
        raise ValueError("Expected input data to be non-empty.")

    def source(self, batch_size=None, shuffle=False):
        return _Source(lambda epoch: self.batches(), self.steps())


class PyDatasetData(IterableData):
    """A ``keras.utils.PyDataset``: batch ``i`` is ``data[i]``; ``on_epoch_begin``/``on_epoch_end`` are called
    around each epoch."""

    def steps(self, batch_size=None):
        n = getattr(self.data, "num_batches", None)
        return len(self.data) if n is None else n

    def batches(self, batch_size=None, shuffle=False):
        if hasattr(self.data, "on_epoch_begin"):
            self.data.on_epoch_begin()
        order = generator().permutation(self.steps()) if shuffle else range(self.steps())
        for i in order:         # Keras reads the batches of a PyDataset in a shuffled order when fit shuffles
            yield _split_item(self.data[int(i)])

    def sample(self):
        return _split_item(self.data[0])[0]

    def source(self, batch_size=None, shuffle=False):
        end = getattr(self.data, "on_epoch_end", None)
        return _Source(lambda epoch: self.batches(shuffle=shuffle), self.steps(), end)


class _Source:
    """What ``minidl.train.engine.fit_loop`` reads: ``steps``, ``batches(epoch)``, ``on_epoch_end()``."""

    def __init__(self, batches, steps, end=None):
        self.batches, self.steps, self._end = batches, steps, end

    def read_on(self):
        """With ``steps_per_epoch``, as Keras: each epoch reads on from where the last one stopped; a pass that runs
        out ends its epoch early, and the next epoch starts a new pass (reshuffled)."""
        fresh, current = self.batches, [None]

        def batches(epoch):
            for _ in range(2):      # a pass that ran out exactly at the last epoch's end: start the next one now
                if current[0] is None:
                    current[0] = iter(fresh(epoch))
                read = 0
                for read, batch in enumerate(current[0], 1):  # noqa: B007 -- counts what was read
                    yield batch
                current[0] = None
                if read:
                    return
        self.batches = batches

    def on_epoch_end(self):
        if self._end is not None:
            self._end()


def is_pydataset(x):
    return hasattr(x, "__getitem__") and hasattr(x, "__len__") and hasattr(x, "on_epoch_end") and \
        not isinstance(x, (np.ndarray, list, tuple, dict))


def adapt(x, y=None, sample_weight=None, who="fit"):
    """ArrayData, PyDatasetData or IterableData for ``x``; a dataset or an iterable of batches takes no separate
    ``y``."""
    if x is None:
        raise ValueError(f"{who}: the input data `x` is missing")
    if is_pydataset(x):
        kind = PyDatasetData
    elif isinstance(x, (np.ndarray, list, tuple)) or hasattr(x, "__array__") or hasattr(x, "shape"):
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], (tuple, list)) and y is None:
            return IterableData(x)      # a list of (x, y) batches
        return ArrayData(x, y, sample_weight)
    elif hasattr(x, "__iter__"):
        kind = IterableData
    else:
        raise TypeError(f"{who}: unrecognized data type x={type(x).__name__}")
    if y is not None:
        raise ValueError(f"{who}: `y` must not be given when `x` is a dataset, a generator or an iterable of batches "
                         "(it yields (x, y) itself)")
    if sample_weight is not None:
        raise ValueError(f"{who}: `sample_weight` must not be given when `x` is a dataset, a generator or an iterable "
                         "of batches (yield (x, y, sample_weight) instead)")
    return kind(x)


def class_weights_for(y, class_weight):
    """Per-sample weights from a ``{class: weight}`` dict (labels as indices, or one-hot)."""
    if isinstance(y, (list, tuple)):
        raise ValueError("`class_weight` is only supported for Models with a single output.")
    labels = y.argmax(-1) if y.ndim >= 2 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = np.round(labels).astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - set(class_weight))
    if missing:
        raise ValueError(f"class_weight has no entry for class(es) {missing}")
    return np.array([class_weight[int(c)] for c in labels], np.float64)
