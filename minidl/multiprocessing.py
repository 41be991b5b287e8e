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
