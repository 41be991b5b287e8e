"""``md.multiprocessing``: Python's ``multiprocessing``, plus tensors in shared memory passed to other processes by
handle, as ``torch.multiprocessing`` (what Hogwild training needs: one model updated by several processes).

Everything of Python's ``multiprocessing`` is here (``Process``, ``Queue``, ``Pool``, ``set_start_method``, ...).
A CPU tensor moved into shared memory (``t.share_memory_()``, ``module.share_memory()``) and then sent to a process
(as a ``Process`` argument, through a ``Queue`` or ``Pipe``) arrives as a tensor over the *same* memory: in-place
changes on either side are seen by both. Other tensors are copied, as before. Gradients are not sent (PyTorch does
not send them either). Plain ``pickle`` and ``copy.deepcopy`` still copy shared tensors.

Example:
    >>> import minidl.multiprocessing as mp
    >>> model.share_memory()
    >>> p = mp.Process(target=train, args=(model,)); p.start(); p.join()   # model's weights now trained
"""
import atexit
import multiprocessing as _mp
from multiprocessing import *  # noqa: F403 -- PyTorch's torch.multiprocessing is a drop-in for Python's
from multiprocessing import shared_memory as _shm
from multiprocessing.reduction import ForkingPickler

import numpy as np

from .device import is_cuda_array
from .nn.parameter import Parameter
from .tensor import Tensor

__all__ = list(_mp.__all__) + ["share_memory_", "is_shared"]

_blocks = {}        # name -> SharedMemory this process created or attached (kept open while the process lives)
_owned = []         # names this process created: unlinked when it exits


def _block_of(arr):
    """(name, byte offset) of the shared block holding ``arr``'s memory, or None."""
    if not isinstance(arr, np.ndarray) or not _blocks:
        return None
    ptr = arr.__array_interface__["data"][0]
    for name, shm in _blocks.items():
        start = np.frombuffer(shm.buf, np.uint8, count=0).__array_interface__["data"][0] if shm.size else None
        if start is not None and start <= ptr < start + shm.size:
            return name, ptr - start
    return None


def is_shared(t):
    """Whether tensor ``t`` lives in shared memory (``share_memory_`` or received from another process)."""
    return _block_of(t.array) is not None


def share_memory_(t):
    """Move ``t``'s values into a new shared-memory block, in place (``t`` keeps its identity); a no-op for a tensor
    already shared and for a GPU tensor (as PyTorch). Returns ``t``."""
    if is_cuda_array(t.array) or is_shared(t):
        return t
    src = np.ascontiguousarray(t.array)
    shm = _shm.SharedMemory(create=True, size=max(src.nbytes, 1))
    _blocks[shm.name] = shm
    _owned.append(shm.name)
    arr = np.ndarray(src.shape, src.dtype, buffer=shm.buf)
    arr[...] = src
    t.array = arr
    return t


@atexit.register
def _unlink_owned():
    for name in _owned:
        try:
            _blocks[name].unlink()
        except (FileNotFoundError, OSError):     # another process unlinked it first, or it is gone
            pass


def _rebuild(cls, name, offset, shape, strides, dtype, requires_grad):
    shm = _blocks.get(name)
    if shm is None:
        shm = _blocks[name] = _shm.SharedMemory(name=name)
    arr = np.ndarray(shape, np.dtype(dtype), buffer=shm.buf, offset=offset, strides=strides)
    if cls is Parameter or issubclass(cls, Parameter):
        return cls(Tensor._wrap(arr), requires_grad)
    return Tensor._wrap(arr).requires_grad_(requires_grad)


def _reduce(t):
    """How a tensor crosses to another process: shared ones by handle, the others by value."""
    if t.requires_grad and not t.is_leaf:   # as PyTorch: autograd graphs do not cross processes
        raise RuntimeError("multiprocessing: cannot send a tensor that requires grad and is not a leaf (its graph "
                           "cannot cross processes); send t.detach()")
    where = _block_of(t.array)
    if where is None:
        return t.__reduce_ex__(4)
    a = t.array
    return _rebuild, (type(t), where[0], where[1], a.shape, a.strides, a.dtype.str, t.requires_grad)


ForkingPickler.register(Tensor, _reduce)
ForkingPickler.register(Parameter, _reduce)


# --- torch.multiprocessing.spawn: run fn(i, *args) in nprocs processes, re-raising a child's error ---------------
__all__ += ["spawn", "start_processes", "ProcessContext", "ProcessException", "ProcessRaisedException",
            "ProcessExitedException"]


class ProcessException(Exception):
    """A process started by ``spawn`` failed; ``error_index`` is its rank, ``pid`` its process id."""

    def __init__(self, msg, error_index, pid):
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """The process raised: the message ends with its traceback."""


class ProcessExitedException(ProcessException):
    """The process exited with a non-zero code or was killed by a signal (no Python exception to show)."""

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code, self.signal_name)


def _run(fn, i, args, error_queue):
    """A spawned process's body: fn(i, *args); an exception goes back to the parent as its traceback."""
    import sys  # noqa: PLC0415
    import traceback  # noqa: PLC0415
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass                                            # the parent is stopping the run
    except Exception:                                   # noqa: BLE001 -- any error must reach the parent
        error_queue.put(traceback.format_exc())
        sys.exit(1)


class ProcessContext:
    """The processes of one ``spawn(..., join=False)``: ``join()`` waits, and raises the first failure.

    Example:
        >>> ctx = mp.spawn(work, nprocs=2, join=False)
        >>> while not ctx.join(): pass
    """

    def __init__(self, processes, error_queues):
        self.processes, self.error_queues = processes, error_queues
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None):
        """Wait up to ``timeout`` seconds for a process to end: True once all ended well; a failure stops the
        others and raises ``ProcessRaisedException`` (with the child's traceback) or ``ProcessExitedException``."""
        from multiprocessing.connection import wait  # noqa: PLC0415
        if not self.sentinels:
            return True
        failed = None
        for sentinel in wait(list(self.sentinels), timeout=timeout):
            i = self.sentinels.pop(sentinel)
            self.processes[i].join()
            if self.processes[i].exitcode != 0:
                failed = i
                break
        if failed is None:
            return not self.sentinels
        for p in self.processes:
            if p.is_alive():
                p.terminate()
            p.join()
        self._raise(failed)

    def _raise(self, i):
        p = self.processes[i]
        if self.error_queues[i].empty():
            if p.exitcode < 0:
                import signal  # noqa: PLC0415
                name = signal.Signals(-p.exitcode).name
                raise ProcessExitedException(f"process {i} terminated with signal {name}", i, p.pid, p.exitcode,
                                             name)
            raise ProcessExitedException(f"process {i} terminated with exit code {p.exitcode}", i, p.pid,
                                         p.exitcode)
        trace = self.error_queues[i].get()
        raise ProcessRaisedException(f"\n\n-- Process {i} terminated with the following error:\n{trace}", i, p.pid)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Start ``nprocs`` processes running ``fn(i, *args)`` (i = 0 .. nprocs-1) with ``start_method``; with
    ``join`` wait for them all (re-raising a failure), else return their ``ProcessContext``."""
    ctx = _mp.get_context(start_method)
    processes, queues = [], []
    for i in range(nprocs):
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_run, args=(fn, i, args, q), daemon=daemon)
        p.start()
        processes.append(p)
        queues.append(q)
    context = ProcessContext(processes, queues)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """``torch.multiprocessing.spawn``: run ``fn(i, *args)`` in ``nprocs`` fresh processes (``fn`` must be
    importable, e.g. defined at a module's top level), wait for them, and re-raise the first failure as
    ``ProcessRaisedException`` carrying the child's traceback.

    Example:
        >>> mp.spawn(train, args=(world_size,), nprocs=world_size)
    """
    return start_processes(fn, args, nprocs, join, daemon, start_method)


# --- sharing strategies: PyTorch's names, accepted; minidl shares through named POSIX shared memory either way ---
__all__ += ["get_sharing_strategy", "set_sharing_strategy", "get_all_sharing_strategies"]
_strategy = {"now": "file_descriptor"}


def get_all_sharing_strategies():
    """PyTorch's strategy names on Linux (both map to minidl's named shared-memory blocks)."""
    return {"file_descriptor", "file_system"}


def get_sharing_strategy():
    return _strategy["now"]


def set_sharing_strategy(new_strategy):
    """Record the strategy a program asks for (``'file_system'`` is the usual fix for 'too many open files' in
    PyTorch); minidl's blocks are named files in shared memory under either, and hold no descriptor open per tensor.

    Example:
        >>> mp.set_sharing_strategy("file_system")
    """
    if new_strategy not in get_all_sharing_strategies():
        raise ValueError(f"set_sharing_strategy: invalid sharing strategy {new_strategy!r}, expected one of "
                         f"{sorted(get_all_sharing_strategies())}")
    _strategy["now"] = new_strategy
