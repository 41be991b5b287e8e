"""Samplers: iterables of dataset indices that a ``DataLoader`` batches (``DataLoader(..., sampler=...)``)."""


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

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")
