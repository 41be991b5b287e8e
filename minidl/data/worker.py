"""DataLoader worker processes: the loop each one runs, ``get_worker_info``, and errors carried back to the parent.

A worker receives ``(epoch, task, request)`` messages on its own queue (``request`` is a list of indices for a
map-style dataset, ``None`` for "the next batch" of an iterable one) and answers ``(epoch, task, pickled
result)`` on the shared result queue. Results are pickled here, in the worker, so that an unpicklable batch is an
error reported like any other instead of a silent failure of the queue's feeder thread.
"""
import ctypes
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

_info = None          # this process's WorkerInfo; None in the main process


@dataclass(frozen=True)
class WorkerInfo:
    """What a DataLoader worker knows about itself: ``id``, ``num_workers``, ``seed``, its ``dataset`` copy."""
    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """Inside a DataLoader worker process, its :class:`WorkerInfo`; in the main process, ``None``.

    Example:
        >>> info = md.utils.data.get_worker_info()
        >>> shard = range(info.id, n, info.num_workers) if info else range(n)
    """
    return _info


class StopMarker:
    """The answer of a worker whose iterable dataset is exhausted."""


class WorkerError:
    """An exception raised in a worker, in a form that survives pickling (its type if picklable, and its text)."""

    def __init__(self, worker_id, exc):
        self.worker_id, self.type_name = worker_id, type(exc).__name__
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            self.exc_type = pickle.loads(pickle.dumps(type(exc)))
        except Exception:  # noqa: BLE001 -- a local exception class: fall back to RuntimeError
            self.exc_type = RuntimeError

    def reraise(self):
        msg = f"Caught {self.type_name} in DataLoader worker process {self.worker_id}.\nOriginal {self.text}"
        try:
            exc = self.exc_type(msg)
        except Exception:  # noqa: BLE001 -- a type whose constructor wants other arguments
            exc = RuntimeError(msg)
        raise exc


def _one_thread():
    # NOTE: libgomp's thread pool does not survive fork(): a forked child entering a parallel region with more
    # than one thread hangs. One thread per worker (as PyTorch's workers) also keeps workers from oversubscribing.
    try:
        ctypes.CDLL("libgomp.so.1").omp_set_num_threads(1)
    except OSError:
        pass
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            numba.set_num_threads(1)
        except Exception:  # noqa: BLE001,S110 -- numba without a threading layer: nothing to limit
            pass


def _seed(seed):
    from .. import random as md_random  # noqa: PLC0415
    md_random.manual_seed(seed)
    random.seed(seed)


def _next_batch(it, batch_size, drop_last, collate):
    """The next batch of an iterable dataset's iterator, or a StopMarker."""
    if batch_size is None:
        try:
            return collate(next(it))
        except StopIteration:
            return StopMarker()
    samples = []
    for sample in it:
        samples.append(sample)
        if len(samples) == batch_size:
            break
    if not samples or (drop_last and len(samples) < batch_size):
        return StopMarker()
    return collate(samples)


def worker_loop(worker_id, num_workers, seed, dataset, fetch, iterable, batch_size, drop_last, collate, init_fn,
                index_queue, result_queue, parent_pid):
    """Serve requests until a ``None`` message (or the parent's death)."""
    global _info  # noqa: PLW0603 -- one value per worker process
    _one_thread()
    _seed(seed)
    _info = WorkerInfo(worker_id, num_workers, seed, dataset)
    init_error = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception as exc:  # noqa: BLE001 -- reported with the first answer
            init_error = WorkerError(worker_id, exc)
    it, it_epoch = None, None
    while True:
        try:
            msg = index_queue.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent_pid:        # the main process died: nobody will send the stop message
                return
            continue
        if msg is None:
            return
        epoch, task, request = msg
        try:
            if init_error is not None:
                out = init_error
            elif iterable:
                if it_epoch != epoch:             # a new epoch: a fresh pass over this worker's dataset copy
                    it, it_epoch = iter(dataset), epoch
                out = _next_batch(it, batch_size, drop_last, collate)
            else:
                out = fetch(request)
            payload = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 -- every error goes back to the main process
            payload = pickle.dumps(WorkerError(worker_id, exc), protocol=pickle.HIGHEST_PROTOCOL)
        result_queue.put((epoch, task, payload))
