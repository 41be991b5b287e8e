"""The process group: MPI (mpi4py) for host arrays, NCCL (CuPy) for device arrays when CuPy has it.

How a failing rank ends the job (never by the others waiting for it):

- a rank that *dies* (a signal, ``os._exit``): MPICH's ``mpiexec`` tears the whole job down;
- an uncaught exception on a rank: once :func:`init` has run, ``sys.excepthook`` prints the traceback and a line
  naming the rank and the exception, then calls ``MPI_Abort`` on COMM_WORLD (what ``python -m mpi4py`` does for
  a script it runs), so the job ends at once instead of the other ranks waiting out their deadline;
- a rank that wants to stop on purpose calls :func:`abort` (``sys.exit(1)`` on one rank is a normal exit that
  the others cannot see);
- a rank that is alive but stuck: every collective here is nonblocking underneath and waited on with a deadline
  (``MINIDL_DIST_TIMEOUT`` seconds, default 300); the ranks still waiting report which op timed out and abort.
"""
import contextlib
import hashlib
import os
import pickle
import sys
import time

import numpy as np

from ..device import is_cuda_array
from ..tensor import Tensor

INSTALL_HINT = 'pip install "minidl[distributed]"'
_state = {"comm": None, "nccl": None, "local": None, "excepthook": None}
_OPS = ("sum", "mean", "max", "min")
# NOTE: mpiexec forwards a rank's output asynchronously and MPI_Abort kills every rank at once: without a pause
# before the abort the rank's last message was lost in about 1 run in 10 (0 in 30 with it)
_ABORT_PAUSE_S = 1.0


def _mpi():
    try:
        from mpi4py import MPI  # noqa: PLC0415 -- optional: the [distributed] extra
    except ImportError as e:
        raise ImportError(f"md.distributed needs mpi4py and an MPI library: {INSTALL_HINT} "
                          f"(mpi4py plus the mpich wheel), then launch with `mpirun -n N python ...` ({e})") from e
    return MPI


def init():
    """Join the MPI job this process was started in (``mpirun -n N``); a lone process is a world of size 1.

    Safe to call more than once. Raises ImportError naming ``pip install "minidl[distributed]"`` when mpi4py is
    missing. From here on an uncaught exception on any rank of a job of several ends the whole job at once: the
    traceback, a line naming the rank and the exception, then ``MPI_Abort`` (see :func:`abort`).

    Example:
        >>> import minidl as md
        >>> md.distributed.init()
        >>> print(md.distributed.rank(), "of", md.distributed.world_size())
    """
    if _state["comm"] is None:
        _state["comm"] = _mpi().COMM_WORLD       # importing mpi4py.MPI calls MPI_Init_thread
        _install_excepthook()
    return _state["comm"]


def is_initialized():
    """True once :func:`init` has run in this process."""
    return _state["comm"] is not None


def _comm():
    if _state["comm"] is None:
        raise RuntimeError("md.distributed: call md.distributed.init() first")
    return _state["comm"]


def rank():
    """This process's index in the job, 0..world_size()-1 (0 before :func:`init` too, so logging code can ask)."""
    return 0 if _state["comm"] is None else _state["comm"].Get_rank()


def world_size():
    """The number of processes in the job (1 before :func:`init`)."""
    return 1 if _state["comm"] is None else _state["comm"].Get_size()


def _local():
    """The communicator of the ranks on this machine (MPI's shared-memory split), made once."""
    if _state.get("local") is None:
        comm = _comm()
        _state["local"] = comm.Split_type(_mpi().COMM_TYPE_SHARED, key=comm.Get_rank())
    return _state["local"]


def local_rank():
    """This process's index among the ranks on its own machine (0 before :func:`init`): the GPU to pick on a
    multi-GPU node, e.g. ``cupy.cuda.Device(md.distributed.local_rank()).use()`` before making CUDA tensors.

    Example:
        >>> md.distributed.init()
        >>> gpu = md.distributed.local_rank() % max(md.cuda.device_count(), 1)
    """
    return 0 if _state["comm"] is None else _local().Get_rank()


def local_world_size():
    """The number of ranks on this process's machine (1 before :func:`init`)."""
    return 1 if _state["comm"] is None else _local().Get_size()


def timeout():
    """Seconds a collective may wait for its peers before the job is aborted (``MINIDL_DIST_TIMEOUT``, default 300)."""
    raw = os.environ.get("MINIDL_DIST_TIMEOUT", "300")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"MINIDL_DIST_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"MINIDL_DIST_TIMEOUT must be positive, got {raw!r}")
    return value


# --- ending the job -----------------------------------------------------------------------------------------------
def _can_abort():
    """True in a job of several ranks, unless ``MINIDL_DIST_ABORT=0`` (then errors are only raised/printed)."""
    return _state["comm"] is not None and world_size() > 1 and os.environ.get("MINIDL_DIST_ABORT", "1") != "0"


def _abort_now(code):
    """``MPI_Abort`` on COMM_WORLD after flushing this rank's output (and a pause so mpiexec forwards it)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    time.sleep(_ABORT_PAUSE_S)
    _comm().Abort(code)


def abort(message, code=1):
    """End the whole job now, from this rank: print ``message`` naming the rank, then ``MPI_Abort`` on COMM_WORLD
    with exit status ``code`` (what mpiexec returns). Outside a job of several ranks: ``SystemExit(code)``.

    Use it where one rank alone decides to stop: ``sys.exit(1)`` on one rank is a normal exit that the other
    ranks cannot see, so they would wait in their next collective until ``MINIDL_DIST_TIMEOUT``.

    Example:
        >>> if not os.path.exists(args.data):
        ...     md.distributed.abort(f"no data at {args.data}")
    """
    print(f"minidl.distributed: rank {rank()} of {world_size()}: {message}; ending the job"
          + (" (MPI_Abort)" if _can_abort() else ""), file=sys.stderr, flush=True)
    if _can_abort():
        _abort_now(code)
    raise SystemExit(code)


def _interactive():
    return bool(getattr(sys.flags, "interactive", 0)) or hasattr(sys, "ps1")


def _excepthook(kind, value, tb):
    """``sys.excepthook`` once :func:`init` has run: the usual traceback, then (several ranks) a line naming the
    rank and the exception and ``MPI_Abort``, so the other ranks do not wait for this one until their deadline."""
    previous = _state["excepthook"] or sys.__excepthook__
    previous(kind, value, tb)
    if not _can_abort() or _interactive():
        return
    with contextlib.suppress(Exception):
        print(f"minidl.distributed: rank {rank()} of {world_size()}: uncaught {kind.__name__}: {value}; ending the "
              "job (MPI_Abort)", file=sys.stderr, flush=True)
    _abort_now(130 if issubclass(kind, KeyboardInterrupt) else 1)


def _install_excepthook():
    if sys.excepthook is not _excepthook:
        _state["excepthook"] = sys.excepthook
        sys.excepthook = _excepthook


def _fail(what):
    """Report a stalled collective and abort the job: the peers' matching calls can never be completed now."""
    msg = (f"minidl.distributed: rank {rank()} of {world_size()}: {what}; a peer died, hangs, or ran a different "
           "number of steps. Aborting the job (MPI_Abort).")
    print(msg, file=sys.stderr, flush=True)
    if _can_abort():
        _abort_now(1)           # the job is already past its timeout: the pause costs nothing
    raise TimeoutError(msg)


def _wait(request, what, done=None):
    """Poll ``request`` (an MPI request, or None with a ``done()`` callable) until complete or past the deadline."""
    limit = timeout()
    start = time.monotonic()
    test = request.Test if request is not None else done
    while not test():
        waited = time.monotonic() - start
        if waited > limit:
            _fail(f"{what} timed out after {limit:g} s (MINIDL_DIST_TIMEOUT)")
        # NOTE: spin first (collectives of one step finish in microseconds to milliseconds), then back off so a
        # rank waiting on a slow peer does not steal its core
        if waited > 0.05:
            time.sleep(0.001)


# --- transports ---------------------------------------------------------------------------------------------------
def _nccl():
    """CuPy's NCCL binding when CuPy has one and it is usable, else None."""
    try:
        from cupy.cuda import nccl  # noqa: PLC0415 -- optional
    except Exception:  # noqa: BLE001 -- no CuPy, or a CuPy built without NCCL: fall back to MPI through the host
        return None
    return nccl if getattr(nccl, "available", True) else None


def transport(array):
    """Which path a collective on ``array`` takes: ``"mpi"`` (host array), ``"nccl"`` (device array, CuPy has
    NCCL) or ``"mpi_host_staged"`` (device array copied to the host, reduced over MPI, copied back)."""
    if not is_cuda_array(array):
        return "mpi"
    return "nccl" if _nccl() is not None else "mpi_host_staged"


def _nccl_comm():
    """One NCCL communicator per process, its unique id created on rank 0 and broadcast over MPI."""
    if _state["nccl"] is None:
        nccl, comm = _nccl(), _comm()
        uid = nccl.get_unique_id() if comm.Get_rank() == 0 else None
        uid = comm.bcast(uid, root=0)
        _state["nccl"] = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
    return _state["nccl"]


def _device_ptr(array):
    return array.data.ptr       # CuPy: the device address of the first element


_NCCL_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
                "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8"}


def _nccl_call(array, what, run):
    """Run one NCCL collective on ``array`` (contiguous, on the current stream) and wait for it with a deadline."""
    import cupy  # noqa: PLC0415

    nccl = _nccl()
    name = _NCCL_DTYPES.get(array.dtype.name)
    if name is None:
        raise TypeError(f"{what}: NCCL has no type for dtype {array.dtype.name} (shape {tuple(array.shape)})")
    stream = cupy.cuda.get_current_stream()
    run(_nccl_comm(), getattr(nccl, name), stream.ptr)
    _wait(None, what, done=lambda: stream.done)


def _mpi_op(op):
    MPI = _mpi()
    return {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]


def _check_op(op, what):
    if op not in _OPS:
        raise ValueError(f"{what}: op must be one of {', '.join(_OPS)}, got {op!r}")


def all_reduce_array(array, op="sum", what="all_reduce"):
    """Reduce a contiguous NumPy/CuPy array over all ranks, in place; every rank gets the same result."""
    _check_op(op, what)
    comm = _comm()
    if not array.flags.c_contiguous:
        raise ValueError(f"{what}: the array must be C-contiguous (shape {tuple(array.shape)})")
    path = transport(array)
    if path == "nccl":
        nccl = _nccl()
        nccl_op = {"sum": nccl.NCCL_SUM, "mean": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}[op]
        ptr = _device_ptr(array)
        _nccl_call(array, what, lambda c, dt, s: c.allReduce(ptr, ptr, array.size, dt, nccl_op, s))
    elif path == "mpi_host_staged":
        import cupy  # noqa: PLC0415

        host = np.ascontiguousarray(cupy.asnumpy(array))
        _wait(comm.Iallreduce(_mpi().IN_PLACE, host, op=_mpi_op(op)), f"{what} of shape {tuple(array.shape)}")
        array[...] = cupy.asarray(host)
    else:
        _wait(comm.Iallreduce(_mpi().IN_PLACE, array, op=_mpi_op(op)), f"{what} of shape {tuple(array.shape)}")
    if op == "mean":
        array /= comm.Get_size()
    return array


def broadcast_array(array, src=0, what="broadcast"):
    """Overwrite a contiguous NumPy/CuPy array on every rank with rank ``src``'s, in place."""
    comm = _comm()
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"{what}: src {src} is not a rank of this job (world size {comm.Get_size()})")
    if not array.flags.c_contiguous:
        raise ValueError(f"{what}: the array must be C-contiguous (shape {tuple(array.shape)})")
    path = transport(array)
    if path == "nccl":
        _nccl_call(array, what, lambda c, dt, s: c.bcast(_device_ptr(array), array.size, dt, src, s))
    elif path == "mpi_host_staged":
        import cupy  # noqa: PLC0415

        host = np.ascontiguousarray(cupy.asnumpy(array))
        _wait(comm.Ibcast(host, root=src), f"{what} of shape {tuple(array.shape)}")
        array[...] = cupy.asarray(host)
    else:
        _wait(comm.Ibcast(array, root=src), f"{what} of shape {tuple(array.shape)}")
    return array


def _data(tensor, what):
    if isinstance(tensor, Tensor):
        return tensor.array
    if isinstance(tensor, np.ndarray) or is_cuda_array(tensor):
        return tensor
    raise TypeError(f"{what}: expected a Tensor or an array, got {type(tensor).__name__}")


def _in_place(arr, collective):
    """Run ``collective`` (which works in place on a contiguous buffer) on ``arr``; a strided view goes through a
    contiguous copy that is written back."""
    if arr.flags.c_contiguous:
        collective(arr)
    else:
        arr[...] = collective(arr.copy())


def _check_same_call(what, arr, detail):
    """Check that every rank called ``what`` on an array of the same dtype and shape, with the same ``detail`` (op
    or src) and transport, before the collective itself: unchecked, MPI reinterprets the bytes of a different
    shape of the same size, crashes inside MPICH on another dtype and waits until the deadline on another size.

    One allreduce of two int64 (max of a key and of minus the key: equal keys everywhere iff max == -max(-key));
    on a mismatch every rank sees it, gathers what each rank passed and raises the same RuntimeError."""
    comm = _comm()
    if comm.Get_size() == 1:
        return
    call = (what, arr.dtype.name, tuple(int(n) for n in arr.shape), detail, transport(arr) == "nccl")
    key = int.from_bytes(hashlib.blake2b(repr(call).encode(), digest_size=7).digest(), "little")
    both = np.array([key, -key], dtype=np.int64)
    _wait(comm.Iallreduce(_mpi().IN_PLACE, both, op=_mpi().MAX), f"{what} (check of the ranks' shapes and dtypes)")
    if both[0] == -both[1]:
        return
    calls = all_gather_object(call)
    differ = [r for r, c in enumerate(calls) if c != calls[0]]

    def passed(c):
        return (f"{c[1]} of shape {c[2]} ({c[3]})" + (" over NCCL" if c[4] else "")
                + (f" to {c[0]}" if c[0] != what else ""))

    more = f" (ranks that differ from rank 0: {differ})" if len(differ) > 1 else ""
    raise RuntimeError(f"{what}: the ranks' calls differ: rank 0 passed {passed(calls[0])}, rank {differ[0]} passed "
                       f"{passed(calls[differ[0]])}{more}; every rank must pass a tensor of the same shape and dtype")


def all_reduce(tensor, op="sum"):
    """Reduce ``tensor`` over all ranks in place (``op``: "sum", "mean", "max", "min") and return it.

    Works on CPU Tensors (MPI) and CUDA Tensors (NCCL through CuPy when available, else staged through host
    memory over MPI). No autograd: this is for gradients, metrics and buffers. Every rank must pass a tensor of
    the same shape and dtype with the same ``op``: a tiny allreduce first checks that (one more collective per
    call), and a mismatch raises RuntimeError on every rank, naming the ranks and what each passed.

    Example:
        >>> t = md.tensor([float(md.distributed.rank())])
        >>> md.distributed.all_reduce(t, op="sum")    # every rank now holds 0 + 1 + ... + (N - 1)
    """
    arr = _data(tensor, "all_reduce")
    _check_op(op, "all_reduce")
    _check_same_call("all_reduce", arr, f"op {op!r}")
    _in_place(arr, lambda a: all_reduce_array(a, op))
    return tensor


def broadcast(tensor, src=0):
    """Overwrite ``tensor`` on every rank with rank ``src``'s values, in place, and return it.

    Every rank must pass a tensor of the same shape and dtype with the same ``src``; checked as in
    :func:`all_reduce` (RuntimeError on every rank naming what each passed).

    Example:
        >>> w = md.randn(3, 3)
        >>> md.distributed.broadcast(w, src=0)        # every rank now holds rank 0's draw
    """
    arr = _data(tensor, "broadcast")
    if not 0 <= src < world_size():
        raise ValueError(f"broadcast: src {src} is not a rank of this job (world size {world_size()})")
    _check_same_call("broadcast", arr, f"src {src}")
    _in_place(arr, lambda a: broadcast_array(a, src))
    return tensor


def all_gather_object(obj):
    """A list of every rank's ``obj`` (picklable), in rank order, on every rank.

    Example:
        >>> md.distributed.all_gather_object(len(my_shard))    # e.g. [17, 17, 16]
    """
    comm = _comm()
    # NOTE: lowercase (pickle) collectives block; the deadline applies to the fixed-size exchange of lengths first,
    # which is where a dead or absent peer shows up
    sizes = np.zeros(comm.Get_size(), dtype=np.int64)
    payload = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
    sizes[comm.Get_rank()] = payload.size
    _wait(comm.Iallreduce(_mpi().IN_PLACE, sizes, op=_mpi().SUM), "all_gather_object (sizes)")
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    _wait(comm.Iallgatherv(payload, [out, sizes, offsets, _mpi().BYTE]), "all_gather_object")
    return [pickle.loads(out[o:o + s].tobytes()) for o, s in zip(offsets, sizes)]


def barrier():
    """Wait until every rank gets here (with the ``MINIDL_DIST_TIMEOUT`` deadline).

    Example:
        >>> md.distributed.barrier()
    """
    _wait(_comm().Ibarrier(), "barrier")


def average_metrics(logs, weight=1.0):
    """Average a dict of numbers over all ranks, each rank's values weighted by ``weight`` (e.g. its sample count).

    The result is the same dict on every rank, so rank 0 can print it: with each rank's mean loss and accuracy
    over its shard and ``weight`` its shard's sample count, the result is the loss and accuracy over the whole
    data. Every rank must pass the same keys.

    Example:
        >>> logs = md.distributed.average_metrics({"loss": 0.31, "accuracy": 0.9}, weight=len(shard))
        >>> if md.distributed.rank() == 0: print(logs)
    """
    keys = sorted(logs)
    if world_size() == 1 or not is_initialized():
        return dict(logs)
    names = all_gather_object(keys)
    if any(n != keys for n in names):
        raise ValueError(f"average_metrics: ranks logged different keys: {names}")
    buf = np.array([float(logs[k]) * weight for k in keys] + [float(weight)], dtype=np.float64)
    all_reduce_array(buf, "sum", what="average_metrics")
    if buf[-1] == 0:
        raise ValueError("average_metrics: the weights sum to 0 over all ranks")
    avg = dict(zip(keys, buf[:-1] / buf[-1]))
    return {k: float(avg[k]) for k in logs}
