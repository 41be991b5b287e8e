"""Samplers: iterables of dataset indices that a ``DataLoader`` batches (``DataLoader(..., sampler=...)``)."""
import numbers

import numpy as np

from .. import random as md_random


def numpy_rng(generator):
    """The NumPy ``Generator`` behind a ``generator=`` argument: an ``md.Generator``, a NumPy one, or None (global)."""
    if generator is None:
        return md_random.generator()
    if isinstance(generator, md_random.Generator):
        return generator._np
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be an md.Generator, a numpy.random.Generator or None, got "
                    f"{type(generator).__name__}")


def _positive_int(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer, got {value!r}")
    return int(value)


class Sampler:
    """Base class of index samplers: override ``__iter__`` (yielding dataset indices) and ``__len__``.

    A ``DataLoader`` given ``sampler=`` batches the indices in the order the sampler yields them, as in PyTorch;
    ``md.distributed.DistributedSampler`` is one.

    Example:
        >>> class EvenFirst(md.data.Sampler):
        ...     def __init__(self, n): self.n = n
        ...     def __iter__(self): return iter([*range(0, self.n, 2), *range(1, self.n, 2)])
        ...     def __len__(self): return self.n
        >>> loader = md.data.DataLoader(dataset, batch_size=8, sampler=EvenFirst(len(dataset)))
    """

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order.

    Example:
        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in random order: a fresh permutation each epoch, or ``num_samples`` draws with ``replacement``.

    Without replacement and ``num_samples > len(data_source)``, whole permutations follow each other (the last
    one cut short). The order comes from ``generator`` (see :func:`random_split`), or minidl's global generator.

    Example:
        >>> loader = DataLoader(ds, batch_size=32, sampler=RandomSampler(ds, generator=md.Generator().manual_seed(0)))
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, got {replacement!r}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples
        if num_samples is not None:
            _positive_int(num_samples, "num_samples", "RandomSampler")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, k, rng = len(self.data_source), self.num_samples, numpy_rng(self.generator)
        if self.replacement:
            order = rng.integers(0, n, size=k)
        else:
            order = np.concatenate([rng.permutation(n) for _ in range(-(-k // n))])[:k] if n else np.arange(0)
        return iter(order.tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a fresh random order each epoch.

    Example:
        >>> train_loader = DataLoader(ds, batch_size=32, sampler=SubsetRandomSampler(train_idx))
    """

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        perm = numpy_rng(self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in perm.tolist()])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (with replacement by default).

    Example:
        >>> sampler = WeightedRandomSampler(1.0 / class_counts[labels], num_samples=len(labels))
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        self.num_samples = _positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement should be a boolean value, got {replacement!r}")
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1-d sequence, got shape {w.shape}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                             f"{np.count_nonzero(w)} non-zero weights")
        self.weights, self.replacement, self.generator = w, replacement, generator

    def __iter__(self):
        rng = numpy_rng(self.generator)
        draws = rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                           p=self.weights / self.weights.sum())
        return iter(draws.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``).

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        self.batch_size = _positive_int(batch_size, "batch_size", "BatchSampler")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, got {drop_last!r}")
        self.sampler, self.drop_last = sampler, drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(int(idx))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
