"""Datasets: anything with ``__getitem__`` and ``__len__``; ``TensorDataset`` wraps aligned arrays."""
import bisect
import itertools
import math
import numbers
import warnings

import numpy as np

from ..device import is_cuda_array
from ..tensor import Tensor


class Dataset:
    """Base class of map-style datasets: override ``__getitem__(i)`` and ``__len__()``.

    Example:
        >>> class Squares(md.data.Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, i): return float(i), i * i
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])          # ds1 + ds2, as in PyTorch


def _array(x, i):
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, np.ndarray) or is_cuda_array(x):
        return x
    try:
        return np.asarray(x)
    except Exception as exc:  # noqa: BLE001 -- any conversion failure is the same user error
        raise TypeError(f"TensorDataset: argument {i} must be a Tensor or an array, got {type(x).__name__}") from exc


class TensorDataset(Dataset):
    """Samples are the ``i``-th rows of the given Tensors or arrays, which must share their first dimension.

    ``dataset[i]`` is a tuple of Tensors (views, cut from any graph). ``DataLoader`` indexes the
    underlying arrays with a whole batch of indices at once instead of calling ``__getitem__`` per sample.

    Example:
        >>> ds = md.data.TensorDataset(np.zeros((100, 4), np.float32), np.arange(100))
        >>> x, y = ds[3]            # x.shape == (4,), y is a 0-d int64 tensor
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one Tensor or array")
        self.arrays = [_array(t, i) for i, t in enumerate(tensors)]
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is 0-d; every argument needs a first (sample) "
                                 "dimension")
        sizes = [a.shape[0] for a in self.arrays]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions differ ({shapes})")

    @property
    def tensors(self):
        return tuple(Tensor._wrap(a) for a in self.arrays)

    def __getitem__(self, index):
        return tuple(Tensor._wrap(a[index]) for a in self.arrays)

    def __len__(self):
        return int(self.arrays[0].shape[0])


class IterableDataset(Dataset):
    """Base class of stream-style datasets: override ``__iter__`` to yield samples (no indexing, maybe no length).

    With ``DataLoader(num_workers=N)`` each worker process iterates its own copy of the dataset, so without care
    every sample arrives N times; split the stream inside ``__iter__`` with :func:`get_worker_info` (as in PyTorch).

    Example:
        >>> class Count(md.utils.data.IterableDataset):
        ...     def __init__(self, n): self.n = n
        ...     def __iter__(self):
        ...         info = md.utils.data.get_worker_info()
        ...         start, step = (0, 1) if info is None else (info.id, info.num_workers)
        ...         return iter(range(start, self.n, step))
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: it is iterated, not indexed")

    def __len__(self):
        raise TypeError(f"{type(self).__name__} is an IterableDataset without a length; define __len__ to give "
                        "it one")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """The samples of several iterable datasets, one after the other.

    Example:
        >>> both = md.utils.data.ChainDataset([stream_a, stream_b])
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset: only IterableDatasets can be chained, got {type(d).__name__}")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class Subset(Dataset):
    """The samples of ``dataset`` at positions ``indices``, in that order.

    Example:
        >>> evens = md.utils.data.Subset(ds, range(0, len(ds), 2))
        >>> evens[1]          # ds[2]
    """

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several map-style datasets seen as one: index ``i`` runs through the first, then the second, ...

    Example:
        >>> both = md.utils.data.ConcatDataset([train_set, extra_set])   # or train_set + extra_set
        >>> len(both) == len(train_set) + len(extra_set)
        True
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError(f"ConcatDataset: absolute value of index {idx} should not exceed dataset length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for a dataset of length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[d][idx - (self.cumulative_sizes[d - 1] if d else 0)]


def _split_lengths(lengths, n):
    """Integer lengths from ``lengths`` (ints, or fractions summing to 1 whose remainder goes round-robin)."""
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1 (got {frac})")
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):          # what flooring left over: one more to each, from the first
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this split will be empty",
                              stacklevel=3)
        return sizes
    for i, size in enumerate(lengths):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
            raise ValueError(f"random_split: lengths must be non-negative integers or fractions summing to 1, got "
                             f"{size!r} at index {i}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths ({sum(lengths)}) does not equal the length of the "
                         f"input dataset ({n})")
    return [int(s) for s in lengths]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s of the given lengths.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1: each split then gets
    ``floor(len * fraction)`` samples and the samples flooring left over go one each to the splits in order.
    ``generator`` (an ``md.Generator``, a NumPy ``Generator`` or None for minidl's global one) draws the
    permutation, so a seeded generator gives the same split in every run.

    Example:
        >>> train_set, val_set = random_split(ds, [0.8, 0.2], generator=md.Generator().manual_seed(0))
    """
    from .sampler import numpy_rng  # noqa: PLC0415 -- sampler imports this module
    sizes = _split_lengths(lengths, len(dataset))
    perm = numpy_rng(generator).permutation(sum(sizes)).tolist()
    ends = list(itertools.accumulate(sizes))
    return [Subset(dataset, perm[end - size:end]) for size, end in zip(sizes, ends)]
