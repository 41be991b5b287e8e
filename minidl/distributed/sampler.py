"""``DistributedSampler``: each rank's disjoint share of a dataset's indices, as in PyTorch."""
import math

import numpy as np

from ..data.sampler import Sampler
from . import comm


class DistributedSampler(Sampler):
    """Rank ``rank``'s share of ``range(len(dataset))``: every ``num_replicas``-th index of one global order.

    Every rank draws the same permutation (from ``seed + epoch``: call ``set_epoch(epoch)`` at each epoch's
    start; ``md.train.fit`` does), then takes ``order[rank::num_replicas]``, so the shards are disjoint and, batched
    with a per-rank batch size ``b``, the ranks' ``k``-th batches together are the ``k``-th global batch of ``b *
    num_replicas`` samples of that order. When ``len(dataset)`` is not a multiple of ``num_replicas``:

    - ``drop_last=False, pad=True`` (default, PyTorch's): the order is padded by repeating its first indices, so
      every rank gets ``ceil(n / num_replicas)`` samples and some samples are seen twice per epoch;
    - ``drop_last=True``: the tail is dropped; every rank gets ``n // num_replicas`` samples;
    - ``pad=False``: no repeats and no drops; shards differ in size by at most one. With
      ``DistributedDataParallel(average="samples")`` the training then equals a single process over exactly the
      dataset's global batches; the per-rank batch size must give every rank the same number of batches
      (:meth:`num_batches` checks), or the ranks' collectives stop matching.

    Args:
        dataset: anything with ``len``.
        num_replicas, rank: default to ``md.distributed.world_size()`` and ``rank()``.
        shuffle: a fresh seeded permutation every epoch (else the dataset order).
        seed: the same on every rank.

    Example:
        >>> sampler = md.distributed.DistributedSampler(train_set, shuffle=True, seed=0)
        >>> loader = md.data.DataLoader(train_set, batch_size=64, sampler=sampler)
        >>> for epoch in range(epochs):
        ...     sampler.set_epoch(epoch)
        ...     for xb, yb in loader: ...
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False, pad=True):
        num_replicas = comm.world_size() if num_replicas is None else num_replicas
        rank = comm.rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        if drop_last and not pad:
            raise ValueError("DistributedSampler: drop_last=True already makes even shards; pad=False goes with "
                             "drop_last=False")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.pad = bool(shuffle), int(seed), bool(drop_last), bool(pad)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last:
            self.total_size = (n // num_replicas) * num_replicas
        elif self.pad:
            self.total_size = math.ceil(n / num_replicas) * num_replicas
        else:
            self.total_size = n
        self.num_samples = len(range(rank, self.total_size, num_replicas))

    def set_epoch(self, epoch):
        """Use the permutation of epoch ``epoch`` (the same on every rank).

        Example:
            >>> sampler.set_epoch(3)
        """
        self.epoch = int(epoch)

    def global_order(self):
        """The order all ranks share this epoch, padded or cut to ``total_size``; rank r takes ``[r::num_replicas]``.

        Example:
            >>> sampler.global_order()[:4]
        """
        n = len(self.dataset)
        order = (np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle
                 else np.arange(n))
        if self.total_size <= n:
            return order[:self.total_size]
        reps = math.ceil((self.total_size - n) / max(n, 1))      # pad by repeating from the start
        return np.concatenate([order] + [order] * reps)[:self.total_size]

    def __iter__(self):
        return iter(self.global_order()[self.rank::self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples

    def num_batches(self, batch_size):
        """How many batches of ``batch_size`` each rank's loader yields (one number, or a ValueError naming the
        ranks' differing counts, possible only with ``pad=False``).

        Example:
            >>> DistributedSampler(range(50), num_replicas=3, rank=0, pad=False).num_batches(6)
            3
        """
        counts = [math.ceil(len(range(r, self.total_size, self.num_replicas)) / batch_size)
                  for r in range(self.num_replicas)]
        if len(set(counts)) > 1:
            raise ValueError(f"DistributedSampler: with {len(self.dataset)} samples over {self.num_replicas} "
                             f"ranks and batch_size {batch_size}, the ranks get {counts} batches; they must all "
                             "take the same number of steps (pick another batch size, or pad=True)")
        return counts[0]
