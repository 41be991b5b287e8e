"""DataLoader: batches of a dataset, in the main process or in worker processes, collated into Tensors.

Batches are built as NumPy arrays (in the worker when there are workers) and wrapped into Tensors in the main
process, so the same code path gives the same batches, in the same order, for any ``num_workers``.
"""
import itertools
import multiprocessing
import numbers
import os
import pickle
import queue
import time
import weakref

import numpy as np

from ..device import array_module, is_cuda_array
from ..tensor import Tensor
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, numpy_rng
from .worker import StopMarker, WorkerError, _next_batch, worker_loop


def _raw(t):
    """The array behind a Tensor (the one place this module reaches into a Tensor's storage)."""
    return t.array


def _label_dtype(arr):
    # NOTE: integer scalars per sample are labels: int64, as PyTorch's loss functions expect.
    if arr.dtype.kind in "iu" and arr.ndim == 1:
        arr = arr.astype(np.int64, copy=False)
    return arr


def _collate_arrays(batch):
    """default_collate without the final wrapping: the same structure with arrays where Tensors will be."""
    if not batch:
        raise ValueError("default_collate: empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        datas = [_raw(t) for t in batch]
        return _label_dtype(array_module(datas[0]).stack(datas))
    if isinstance(first, np.ndarray) or is_cuda_array(first):
        return _label_dtype(array_module(first).stack(batch))
    if isinstance(first, (bool, np.bool_)):
        return np.asarray(batch, dtype=np.bool_)
    if isinstance(first, (numbers.Integral, np.integer)):
        return np.asarray(batch, dtype=np.int64)
    if isinstance(first, (numbers.Real, np.floating)):
        return np.asarray(batch, dtype=np.float64 if isinstance(first, np.float64) else np.float32)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, dict):
        return {k: _collate_arrays([sample[k] for sample in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise ValueError("default_collate: every sample in a batch must have the same number of fields")
        fields = [_collate_arrays(list(field)) for field in zip(*batch)]
        if isinstance(first, tuple) and hasattr(first, "_fields"):      # a namedtuple keeps its type
            return type(first)(*fields)
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: don't know how to batch samples of type {type(first).__name__}; "
                    "pass a collate_fn")


def _to_tensors(obj):
    """Wrap every array in a (nested) structure into a Tensor; everything else is kept."""
    if isinstance(obj, np.ndarray) or is_cuda_array(obj):
        return Tensor._wrap(obj)
    if isinstance(obj, dict):
        return {k: _to_tensors(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        items = [_to_tensors(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    if isinstance(obj, list):
        return [_to_tensors(v) for v in obj]
    return obj


def _canonical_dtypes(obj):
    """Arrays (also inside Tensors) unpickled from a worker, given NumPy's own dtype objects.

    NOTE: unpickling makes a new dtype object equal to, but not the same object as, ``np.dtype(np.float32)``;
    minidl's C++ kernels test dtypes by identity and would refuse such an array ("must be float32, got float32").
    """
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biufc" and obj.dtype.fields is None:
            canonical = np.dtype(obj.dtype.str)
            if obj.dtype is not canonical:
                return obj.view(canonical)
        return obj
    if isinstance(obj, Tensor):
        arr = _raw(obj)
        fixed = _canonical_dtypes(arr) if isinstance(arr, np.ndarray) else arr
        if fixed is arr:
            return obj
        out = Tensor._wrap(fixed)
        return out.requires_grad_(True) if obj.requires_grad else out
    if isinstance(obj, dict):
        return {k: _canonical_dtypes(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        items = [_canonical_dtypes(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    if isinstance(obj, list):
        return [_canonical_dtypes(v) for v in obj]
    return obj


def default_collate(batch):
    """Stack a list of samples into a batch: arrays, Tensors and numbers become Tensors with a leading batch dim.

    Tuples/lists of fields are collated field by field, dicts key by key. Integer scalars (labels)
    become ``int64``; Python floats become ``float32`` (minidl's default float); strings stay a list.

    Example:
        >>> xs, ys = default_collate([(np.zeros(3), 1), (np.ones(3), 0)])   # shapes (2, 3) and (2,)
    """
    return _to_tensors(_collate_arrays(batch))


def default_convert(sample):
    """What a loader with ``batch_size=None`` does to each sample: NumPy arrays (also nested) become Tensors.

    Example:
        >>> default_convert({"x": np.zeros(3)})["x"].shape
        (3,)
    """
    return _to_tensors(sample)


def _identity(sample):
    return sample


class _Fetcher:
    """Turns a request (a list of indices, or one index without batching) into a batch; runs in the workers."""

    def __init__(self, dataset, collate, batched):
        self.dataset, self.collate, self.batched = dataset, collate, batched
        self.fast = batched and collate is _collate_arrays and isinstance(dataset, TensorDataset)

    def __call__(self, request):
        if not self.batched:
            return self.collate(self.dataset[request])
        if self.fast:                      # TensorDataset: index its arrays with the whole batch at once
            idx = np.asarray(request, dtype=np.int64)
            return tuple(_label_dtype(a[idx if type(a) is np.ndarray else array_module(a).asarray(idx)])
                         for a in self.dataset.arrays)
        return self.collate([self.dataset[i] for i in request])


class _WorkerPool:
    """``num_workers`` processes, each with its own request queue, answering on one shared result queue."""

    def __init__(self, loader, base_seed):
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        elif isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        self.timeout = loader.timeout
        self.result_queue = ctx.Queue()
        self.index_queues, self.procs = [], []
        n = loader.num_workers
        for wid in range(n):
            q = ctx.Queue()
            p = ctx.Process(target=worker_loop, daemon=True,
                            args=(wid, n, base_seed + wid, loader.dataset, loader._fetcher, loader._iterable,
                                  loader.batch_size, loader.drop_last, loader._worker_collate, loader.worker_init_fn,
                                  q, self.result_queue, os.getpid()))
            p.start()
            self.index_queues.append(q)
            self.procs.append(p)
        self._finalizer = weakref.finalize(self, _shutdown, self.procs, self.index_queues, self.result_queue)

    def send(self, wid, epoch, task, request):
        self.index_queues[wid].put((epoch, task, request))

    def get(self, waiting_on):
        """The next ``(epoch, task, result)``; raises if a worker waited on died or ``timeout`` passed."""
        start = time.monotonic()
        while True:
            try:
                epoch, task, payload = self.result_queue.get(timeout=0.1)
                return epoch, task, _canonical_dtypes(pickle.loads(payload))
            except queue.Empty:
                pass
            for wid in waiting_on:
                p = self.procs[wid]
                if not p.is_alive():
                    code = p.exitcode
                    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                    self.shutdown(now=True)
                    raise RuntimeError(f"DataLoader worker {wid} (pid {p.pid}) exited unexpectedly ({how})")
            if self.timeout and time.monotonic() - start > self.timeout:
                self.shutdown(now=True)
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds waiting for a batch "
                                   "from its workers")

    def alive(self):
        return self._finalizer.alive and all(p.is_alive() for p in self.procs)

    def shutdown(self, now=False):
        """Stop the workers: ask them to finish, or (``now``, after a failure) terminate them."""
        if now:
            for p in self.procs:
                if p.is_alive():
                    p.terminate()
        self._finalizer()


def _shutdown(procs, index_queues, result_queue):
    for q, p in zip(index_queues, procs):
        if p.is_alive():
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.terminate()
            p.join()
    for q in [*index_queues, result_queue]:
        q.cancel_join_thread()
        q.close()


class DataLoader:
    """Iterate over a dataset in batches, optionally with worker processes, with PyTorch's arguments.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__`` and ``__len__``) or an :class:`IterableDataset`.
        batch_size: samples per batch (default 1); ``None`` yields single samples (arrays made Tensors).
        shuffle: draw a fresh random order every epoch (a :class:`RandomSampler`).
        sampler: the dataset indices of an epoch, in order (a :class:`Sampler`, e.g. ``DistributedSampler``).
        batch_sampler: yields whole lists of indices; excludes ``batch_size``, ``shuffle``, ``sampler``,
            ``drop_last``.
        num_workers: worker processes that load batches (0: in the main process). Batches come out in the same
            order as with 0 workers. Each worker seeds minidl's and Python's ``random`` generators with
            ``base_seed + worker_id`` (the base seed is drawn each epoch from the loader's generator). Workers are
            forked where the platform allows it (``multiprocessing_context`` picks another start method) and run
            their kernels on one thread. With an ``IterableDataset`` each worker iterates its own copy of the
            dataset: split the stream with :func:`get_worker_info`, or every sample arrives ``num_workers`` times.
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`); runs in the workers.
        pin_memory: accepted for PyTorch's signature; a no-op, as minidl's host arrays need no pinning.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout: seconds to wait for a batch from the workers before raising (0: no limit).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker once it is started and seeded.
        multiprocessing_context: a start method name or a ``multiprocessing`` context.
        generator: an ``md.Generator`` drawing the shuffle order and the workers' base seed.
        prefetch_factor: batches requested ahead per worker (default 2 with workers).
        persistent_workers: keep the workers (and their dataset copies) alive from one epoch to the next.
        in_order: yield batches in sampler order (default); ``False`` yields them as workers finish them.
        seed: minidl's shorthand for a generator of the loader's own seeded with ``seed``.

    A worker that raises makes the iteration raise the same exception type, naming the worker and carrying its
    traceback; a worker that dies raises a ``RuntimeError`` with its exit status.

    Example:
        >>> loader = md.utils.data.DataLoader(md.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True,
        ...                                   num_workers=2)
        >>> for xb, yb in loader:
        ...     loss = loss_fn(model(xb), yb)
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, seed=None):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                       or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size should be a positive integer or None, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be a non-negative integer, got {num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing; "
                             "let num_workers > 0 to enable multiprocessing")
        if num_workers == 0 and persistent_workers:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if prefetch_factor is not None and (not isinstance(prefetch_factor, numbers.Integral) or prefetch_factor < 1):
            raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got {prefetch_factor!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give either seed or generator, not both")
        self.dataset, self.num_workers, self.timeout = dataset, int(num_workers), timeout
        self.collate_fn, self.pin_memory, self.pin_memory_device = collate_fn, bool(pin_memory), pin_memory_device
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.prefetch_factor = (2 if prefetch_factor is None else int(prefetch_factor)) if num_workers else None
        self.persistent_workers, self.in_order, self.seed = bool(persistent_workers), bool(in_order), seed
        self.generator = generator if seed is None else np.random.default_rng(seed)
        self._iterable = isinstance(dataset, IterableDataset)
        self.shuffle = bool(shuffle)
        if self._iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                     f"but got {name}={value!r}")
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle (the sampler decides "
                             "the order)")
        if not self._iterable and sampler is None:
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        if not self._iterable and batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, bool(drop_last))
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.batch_size, self.drop_last = batch_size, bool(drop_last)
        batched = batch_size is not None or batch_sampler is not None
        self._worker_collate = collate_fn or (_collate_arrays if batched else _identity)
        self._convert = _to_tensors if collate_fn is None else _identity
        self._fetcher = None if self._iterable else _Fetcher(dataset, self._worker_collate, batched)
        self._pool, self._epoch = None, 0

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)        # a TypeError for a dataset without __len__, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _requests(self):
        return iter(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self):
        # drawn every epoch with or without workers, so the shuffle orders are the same for any num_workers
        base_seed = int(numpy_rng(self.generator).integers(2**62))
        if self.num_workers == 0:
            return self._iter_here()
        return self._iter_workers(base_seed)

    def _iter_here(self):
        if self._iterable:
            it = iter(self.dataset)
            while not isinstance(out := _next_from(it, self), StopMarker):
                yield self._convert(out)
            return
        for request in self._requests():
            yield self._convert(self._fetcher(request))

    def _iter_workers(self, base_seed):
        self._epoch += 1
        epoch = self._epoch
        pool = self._pool
        if pool is None or not pool.alive():
            if pool is not None:                    # a persistent worker died between epochs: start afresh
                pool.shutdown(now=True)
            pool = _WorkerPool(self, base_seed)
            if self.persistent_workers:
                self._pool = pool
        requests = itertools.repeat(None) if self._iterable else self._requests()
        active = list(range(self.num_workers))
        outstanding, ready = {}, {}            # task -> worker; task -> result that arrived early
        state = {"next_task": 0, "turn": 0, "done": False}

        def dispatch():
            while not state["done"] and active and len(outstanding) < self.prefetch_factor * self.num_workers:
                request = next(requests, StopMarker)
                if request is StopMarker:
                    state["done"] = True
                    return
                wid = active[state["turn"] % len(active)]
                state["turn"] += 1
                pool.send(wid, epoch, state["next_task"], request)
                outstanding[state["next_task"]] = wid
                state["next_task"] += 1

        # how the workers end: "now" after an error or an early stop (they may be busy), "wait" at the end of a
        # complete epoch (they are idle), None while persistent workers serve this loader on
        close = "now"
        try:
            dispatch()
            next_out = 0
            while outstanding or ready:
                if self.persistent_workers and self._epoch != epoch:
                    close = None                    # the workers now serve the newer iterator: leave them be
                    raise RuntimeError("DataLoader: this iterator was superseded by a newer iter() of the same "
                                       "loader (with persistent_workers=True, one iterator at a time)")
                if self.in_order and next_out in ready:
                    out = ready.pop(next_out)
                    next_out += 1
                else:
                    got_epoch, task, out = pool.get(set(outstanding.values()))
                    if got_epoch != epoch:          # left over from an epoch abandoned half way
                        continue
                    wid = outstanding.pop(task)
                    if isinstance(out, StopMarker) and wid in active:
                        active.remove(wid)
                    if self.in_order:
                        ready[task] = out
                        continue
                if isinstance(out, WorkerError):
                    out.reraise()
                dispatch()
                if not isinstance(out, StopMarker):
                    yield self._convert(out)
            close = None if self.persistent_workers else "wait"
        except GeneratorExit:                       # the caller stopped early: persistent workers stay
            if self.persistent_workers:
                close = None
            raise
        finally:
            if close is not None:
                pool.shutdown(now=close == "now")
                if self._pool is pool:
                    self._pool = None

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()


def _next_from(it, loader):
    return _next_batch(it, loader.batch_size, loader.drop_last, loader._worker_collate)
