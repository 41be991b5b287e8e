"""DataLoader: batches of a dataset, optionally shuffled from a seeded generator, collated into Tensors."""
import numbers

import numpy as np

from .. import random as md_random
from ..device import array_module, is_cuda_array
from ..tensor import Tensor
from .dataset import TensorDataset


def _batch_tensor(arr):
    # NOTE: integer scalars per sample are labels: int64, as PyTorch's loss functions expect.
    if arr.dtype.kind in "iu" and arr.ndim == 1:
        arr = arr.astype(np.int64, copy=False)
    return Tensor._wrap(arr)


def default_collate(batch):
    """Stack a list of samples into a batch: arrays, Tensors and numbers become Tensors with a leading batch dim.

    Tuples/lists of fields are collated field by field, dicts key by key. Integer scalars (labels)
    become ``int64``; Python floats become ``float32`` (minidl's default float); strings stay a list.

    Example:
        >>> xs, ys = default_collate([(np.zeros(3), 1), (np.ones(3), 0)])   # shapes (2, 3) and (2,)
    """
    if not batch:
        raise ValueError("default_collate: empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        datas = [t.array for t in batch]
        return _batch_tensor(array_module(datas[0]).stack(datas))
    if isinstance(first, np.ndarray) or is_cuda_array(first):
        return _batch_tensor(array_module(first).stack(batch))
    if isinstance(first, (bool, np.bool_)):
        return Tensor._wrap(np.asarray(batch, dtype=np.bool_))
    if isinstance(first, (numbers.Integral, np.integer)):
        return Tensor._wrap(np.asarray(batch, dtype=np.int64))
    if isinstance(first, (numbers.Real, np.floating)):
        return Tensor._wrap(np.asarray(batch, dtype=np.float64 if isinstance(first, np.float64) else np.float32))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, dict):
        return {k: default_collate([sample[k] for sample in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise ValueError("default_collate: every sample in a batch must have the same number of fields")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: don't know how to batch samples of type {type(first).__name__}; "
                    "pass a collate_fn")


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a ``Dataset`` (anything with ``__getitem__`` and ``__len__``).
        batch_size: samples per batch (default 1).
        shuffle: draw a fresh random order every epoch (every ``iter()``).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`).
        seed: seed of this loader's own generator, so the sequence of epoch orders is the same in
            every run; without it the orders come from minidl's global generator (``md.manual_seed``).
        sampler: an iterable of dataset indices with a ``len`` (a :class:`Sampler`, e.g.
            ``md.distributed.DistributedSampler``) giving each epoch's order; excludes ``shuffle=True``.

    Example:
        >>> loader = md.data.DataLoader(md.data.TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
        >>> for xb, yb in loader:
        ...     loss = loss_fn(model(xb), yb)
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, seed=None,
                 sampler=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle (the sampler decides "
                             "the order)")
        self.sampler = sampler
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.seed = bool(shuffle), bool(drop_last), seed
        self.collate_fn = collate_fn
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else md_random.generator()
        return rng.permutation(n)

    def __iter__(self):
        order = self._order()                       # drawn when the epoch starts
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        collate = self.collate_fn or default_collate
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            if fast:
                arrays = self.dataset.arrays
                yield tuple(_batch_tensor(a[idx if type(a) is np.ndarray else array_module(a).asarray(idx)])
                            for a in arrays)
            else:
                yield collate([self.dataset[int(i)] for i in idx])
