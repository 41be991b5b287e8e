"""Data-parallel training: ``DistributedDataParallel`` (replicas in lockstep) and ``DistributedOptimizer``.

Gradients travel in a few large flat buckets (one allreduce each) rather than one call per tensor: on MPI the
fixed cost of a collective is tens of microseconds, and a CNN has a dozen or more parameter tensors.
"""
import contextlib
import hashlib
import time
import warnings

import numpy as np

from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..device import array_module
from ..nn.module import Module
from ..tensor import Tensor
from . import comm


class Bucket:
    """Tensors of one dtype and device laid end to end in one flat array (``tail`` extra slots at the end)."""

    def __init__(self, tensors, tail=0):
        self.tensors = list(tensors)
        self.sizes = [int(t.array.size) for t in self.tensors]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        self.numel = self.offsets[-1]
        self.tail = tail
        self.flat = None

    def buffer(self):
        """The flat array, allocated once on the tensors' device and reused every step."""
        first = self.tensors[0].array
        if self.flat is None:
            self.flat = array_module(first).zeros(self.numel + self.tail, dtype=first.dtype)
        return self.flat

    def flatten(self, arrays):
        """Copy ``arrays`` (one per tensor, or None for zeros) into the flat buffer and return it."""
        flat = self.buffer()
        for a, lo, hi in zip(arrays, self.offsets, self.offsets[1:]):
            if a is None:
                flat[lo:hi] = 0
            else:
                flat[lo:hi] = a.reshape(-1)
        return flat

    def views(self):
        """Each tensor's slice of the flat buffer, in its shape."""
        flat = self.buffer()
        return [flat[lo:hi].reshape(t.array.shape) for t, lo, hi in zip(self.tensors, self.offsets, self.offsets[1:])]


def make_buckets(tensors, cap_bytes, tail=0):
    """Group ``tensors`` into :class:`Bucket`s by (dtype, device), in order, each at most ``cap_bytes`` (a tensor
    larger than the cap gets a bucket of its own)."""
    buckets, open_ = [], {}
    for t in tensors:
        key = (t.array.dtype.str, str(t.device))
        cur = open_.get(key)
        nbytes = t.array.size * t.array.dtype.itemsize
        if cur is None or (cur[1] + nbytes > cap_bytes and cur[0]):
            cur = open_[key] = [[], 0]
            buckets.append(cur)
        cur[0].append(t)
        cur[1] += nbytes
    return [Bucket(ts, tail) for ts, _ in buckets]


def _signature(module):
    """What every replica must agree on, in the order the buckets are built: each parameter's and buffer's name,
    dtype, shape, ``requires_grad`` and device type."""
    params = [("parameter", n, p.array.dtype.name, tuple(p.shape), bool(p.requires_grad), p.device.type)
              for n, p in module.named_parameters()]
    return params + [("buffer", n, b.array.dtype.name, tuple(b.shape), False, b.device.type)
                     for n, b in module.named_buffers()]


def _describe(entry):
    kind, name, dtype, shape, requires_grad, device = entry
    return (f"{kind} {name!r} {dtype} of shape {shape}" + (", requires_grad=False" if kind == "parameter" and
                                                            not requires_grad else "")
            + ("" if device == "cpu" else f" on {device}"))


def _mismatch(signatures):
    """The message for replicas that differ: the first entry where the first rank that differs from rank 0 does."""
    ref = signatures[0]
    differ = [r for r, sig in enumerate(signatures) if sig != ref]
    other = signatures[differ[0]]
    i = next((i for i, (a, b) in enumerate(zip(ref, other)) if a != b), min(len(ref), len(other)))

    def has(sig):
        return _describe(sig[i]) if i < len(sig) else f"no parameter or buffer #{i + 1} (it has {len(sig)})"

    more = f" (ranks that differ from rank 0: {differ})" if len(differ) > 1 else ""
    return (f"DistributedDataParallel: the replicas differ between ranks: rank 0 has {has(ref)}, rank {differ[0]} "
            f"has {has(other)}{more}. Every rank must wrap the same model: the same parameters and buffers (names, "
            "shapes, dtypes, requires_grad, device) in the same order")


def check_replicas(module):
    """Raise RuntimeError on every rank unless every rank's ``module`` has the same parameters and buffers (names,
    shapes, dtypes, ``requires_grad``, device type, in order): what DistributedDataParallel checks at wrap time,
    before its first collective. One small allgather (a digest per rank); the full lists only on a mismatch.

    Example:
        >>> md.distributed.init()
        >>> md.distributed.ddp.check_replicas(model)     # e.g. rank 1 built Linear(12, 8) where rank 0 built (8, 12)
    """
    if comm.world_size() == 1:
        return
    sig = _signature(module)
    digest = hashlib.blake2b(repr(sig).encode(), digest_size=16).hexdigest()
    if len(set(comm.all_gather_object(digest))) == 1:
        return
    raise RuntimeError(_mismatch(comm.all_gather_object(sig)))


def _batch_len(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor) and a.ndim > 0:
            return int(a.shape[0])
    return 1


class DistributedDataParallel(Module):
    """Wrap ``module`` so that every rank of the job trains the same replica on its own shard of the data.

    At wrap time every rank checks that all ranks wrapped the same model (parameter and buffer names, shapes,
    dtypes, ``requires_grad`` and device, in order; RuntimeError on every rank naming the first difference and the
    ranks), then rank 0's parameters and buffers are broadcast to every rank. ``sync_gradients()`` averages the
    gradients over the ranks (bucketed allreduces, then every rank holds the same bits); ``md.train.fit`` calls it
    after each backward, :func:`DistributedOptimizer` calls it in ``step()``, and a hand-written loop calls it
    between ``backward()`` and ``step()``. With ``broadcast_buffers`` (the default, as PyTorch) every training
    forward first copies rank 0's buffers (batch-norm statistics) to the other ranks, so replicas stay identical.

    Averaging: ``average="samples"`` (default) weights each rank's gradient by the number of samples its forward
    passes saw since the last sync (the leading dim of the first Tensor argument), so with a mean-reduced loss the
    result is exactly the gradient of the mean loss over the global batch even when per-rank batches differ in
    size (uneven shards, last batch). ``average="ranks"`` is PyTorch's plain mean over ranks. A parameter without a
    gradient counts as zeros; it gets an averaged gradient when any rank had one, and stays ``None`` otherwise.

    State dicts: as in PyTorch, this wrapper's keys carry a ``module.`` prefix; save ``ddp.module.state_dict()``
    for keys that load into the bare model.

    Args:
        module: the model (an ``nn.Module``), already on its device.
        bucket_cap_mb: the largest gradient bucket, in MiB (default 25, PyTorch's).
        broadcast_buffers: copy rank 0's buffers to all ranks at every training forward.
        average: ``"samples"`` or ``"ranks"`` (see above).

    Example:
        >>> md.distributed.init()
        >>> model = md.distributed.DistributedDataParallel(md.models.CNN())
        >>> loss = F.cross_entropy(model(xb), yb)        # xb, yb: this rank's shard of the global batch
        >>> loss.backward(); model.sync_gradients(); opt.step(); opt.zero_grad()
    """

    def __init__(self, module, bucket_cap_mb=25, broadcast_buffers=True, average="samples"):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}")
        if average not in ("samples", "ranks"):
            raise ValueError(f"DistributedDataParallel: average must be 'samples' or 'ranks', got {average!r}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        comm.init()
        # NOTE: before any bucketed collective: replicas that differ would be reinterpreted, crash MPICH or hang
        check_replicas(module)
        self.module = module
        self.broadcast_buffers, self.average = bool(broadcast_buffers), average
        self.bucket_cap_mb = bucket_cap_mb
        cap = int(bucket_cap_mb * 2 ** 20)
        params = [p for p in module.parameters() if p.requires_grad]
        # NOTE: each gradient bucket ends with one "had a gradient" slot per tensor and one sample-count slot, so
        # the flags and the weights ride in the same allreduce instead of two more calls per step
        object.__setattr__(self, "_grad_buckets", [Bucket(b.tensors, tail=len(b.tensors) + 1)
                                                    for b in make_buckets(params, cap)])
        object.__setattr__(self, "_state_buckets", make_buckets(
            list(module.parameters()) + [b for b in module.buffers() if b is not None], cap))
        object.__setattr__(self, "_buffer_buckets", make_buckets([b for b in module.buffers() if b is not None], cap))
        self._pending, self._count, self._no_sync, self._warned = False, 0, False, False
        self._pending_on_purpose = False
        self.comm_seconds = 0.0             # time spent inside collectives (gradients and buffers), for benchmarks
        self._broadcast(self._state_buckets, "DistributedDataParallel: broadcast of rank 0's parameters/buffers")

    def _broadcast(self, buckets, what):
        if comm.world_size() == 1:
            return
        start = time.perf_counter()
        with no_grad():
            for b in buckets:
                flat = b.flatten([t.array for t in b.tensors])
                comm.broadcast_array(flat, 0, what=f"{what} (bucket of {b.numel} {flat.dtype.name})")
                for t, v in zip(b.tensors, b.views()):
                    t.array[...] = v
                    t._version += 1
        self.comm_seconds += time.perf_counter() - start

    def forward(self, *args, **kwargs):
        if self.training and is_grad_enabled():
            # NOTE: a forward inside no_sync() leaves gradients pending on purpose; only an unsynced forward outside
            # it means the user forgot
            if self._pending and not self._no_sync and not self._pending_on_purpose and not self._warned:
                self._warned = True
                warnings.warn("DistributedDataParallel: a second training forward before the gradients of the "
                              "first were averaged; call model.sync_gradients() after backward (md.train.fit and "
                              "md.distributed.DistributedOptimizer do), or use `with model.no_sync():` to "
                              "accumulate on purpose", RuntimeWarning, stacklevel=2)
            if self.broadcast_buffers and self._buffer_buckets:
                self._broadcast(self._buffer_buckets, "DistributedDataParallel: broadcast of rank 0's buffers")
            self._count += _batch_len(args, kwargs)
            self._pending, self._pending_on_purpose = True, self._no_sync
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients over several forward/backward passes without averaging (and without the warning);
        the next ``sync_gradients()`` averages the sum.

        Example:
            >>> with model.no_sync():
            ...     F.cross_entropy(model(x1), y1).backward()
            >>> F.cross_entropy(model(x2), y2).backward(); model.sync_gradients(); opt.step()
        """
        old, self._no_sync = self._no_sync, True
        try:
            yield
        finally:
            self._no_sync = old

    def sync_gradients(self):
        """Average every parameter's ``.grad`` over all ranks, in place (see the class docstring for the weights).

        Returns True when it ran, False when there was nothing to do (no training forward since the last sync), so
        calling it twice in a step is harmless.

        Example:
            >>> loss.backward(); model.sync_gradients(); opt.step()
        """
        if not self._pending:
            return False
        self._pending = False
        count, self._count = self._count, 0
        world = comm.world_size()
        if world == 1:
            return True
        weight = float(count) if self.average == "samples" else 1.0
        start = time.perf_counter()
        with no_grad():
            for b in self._grad_buckets:
                grads = [None if p.grad is None else p.grad.array for p in b.tensors]
                flat = b.flatten(grads)
                k = len(b.tensors)
                if weight != 1.0:
                    flat[:b.numel] *= weight
                for i, g in enumerate(grads):
                    flat[b.numel + i] = 0.0 if g is None else 1.0
                flat[-1] = weight
                comm.all_reduce_array(flat, "sum", what=f"DistributedDataParallel.sync_gradients (bucket of "
                                                        f"{b.numel} {flat.dtype.name}, {k} tensors)")
                total = flat[-1]
                if total == 0:
                    raise RuntimeError("DistributedDataParallel.sync_gradients: no rank saw a sample since the last "
                                       "sync (every weight is 0)")
                flat[:b.numel] /= total
                had = flat[b.numel:b.numel + k]
                for p, v, h in zip(b.tensors, b.views(), had.tolist()):
                    if not h:
                        continue            # no rank had a gradient: leave it None, as a single process would
                    if p.grad is None:
                        p.grad = Tensor._wrap(v.copy())
                    else:
                        p.grad.array[...] = v
        self.comm_seconds += time.perf_counter() - start
        return True

    def average_logs(self, logs, weight):
        """Logged numbers (loss, metrics) averaged over the ranks, each weighted by its sample count ``weight``."""
        return comm.average_metrics(logs, weight)

    def extra_repr(self):
        return (f"world_size={comm.world_size()}, buckets={len(self._grad_buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb}, average={self.average!r}")


def DistributedOptimizer(optimizer, model):  # noqa: N802 -- Horovod's name; it returns an optimizer
    """Horovod-style: ``optimizer`` whose ``step()`` first averages the gradients of ``model`` (a
    :class:`DistributedDataParallel`) over the ranks, so a plain training loop cannot forget to.

    The result is an instance of a subclass of ``type(optimizer)`` sharing the optimizer's state and parameter
    groups, so schedulers and ``state_dict()`` work unchanged.

    Example:
        >>> model = md.distributed.DistributedDataParallel(net)
        >>> opt = md.distributed.DistributedOptimizer(md.optim.SGD(model.parameters(), lr=0.1), model)
        >>> F.cross_entropy(model(xb), yb).backward(); opt.step(); opt.zero_grad()
    """
    if not isinstance(model, DistributedDataParallel):
        raise TypeError(f"DistributedOptimizer: model must be a DistributedDataParallel, got {type(model).__name__}")
    base = type(optimizer)

    def step(self, *args, **kwargs):
        self._ddp_model.sync_gradients()
        return base.step(self, *args, **kwargs)

    cls = type(f"Distributed{base.__name__}", (base,), {"step": step, "__module__": __name__})
    out = object.__new__(cls)
    out.__dict__ = optimizer.__dict__      # shared: the original and the wrapper are one optimizer
    out._ddp_model = model
    return out
