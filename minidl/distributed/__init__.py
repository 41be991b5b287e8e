"""``md.distributed``: data-parallel training over MPI (mpi4py), NCCL through CuPy for CUDA tensors.

Importing this package does not import mpi4py; :func:`init` does (``pip install "minidl[distributed]"``).
Run a script on N processes with ``mpirun -n N python train.py``; without mpirun it is a world of one.

Example:
    >>> import minidl as md
    >>> md.distributed.init()
    >>> model = md.distributed.DistributedDataParallel(md.models.CNN())
    >>> sampler = md.distributed.DistributedSampler(train_set, seed=0)
    >>> loader = md.data.DataLoader(train_set, batch_size=64, sampler=sampler)
    >>> md.train.fit(model, F.cross_entropy, md.optim.Adam(model.parameters()), loader, epochs=3,
    ...              verbose=1 if md.distributed.rank() == 0 else 0)
"""
from .comm import (INSTALL_HINT, abort, all_gather_object, all_reduce, average_metrics, barrier, broadcast, init,
                   is_initialized, local_rank, local_world_size, rank, timeout, transport, world_size)
from .ddp import DistributedDataParallel, DistributedOptimizer, make_buckets
from .sampler import DistributedSampler

__all__ = ["init", "is_initialized", "abort", "rank", "world_size", "local_rank", "local_world_size", "all_reduce",
           "broadcast", "barrier", "all_gather_object", "average_metrics", "DistributedDataParallel",
           "DistributedOptimizer", "DistributedSampler", "transport", "timeout"]


def is_available():
    """Whether data-parallel training can run here: mpi4py and an MPI library import (PyTorch's probe)."""
    from .comm import _mpi  # noqa: PLC0415
    try:
        _mpi()
    except ImportError:
        return False
    return True


__all__ += ["is_available"]
