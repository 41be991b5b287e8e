"""``md.nn.parallel``: PyTorch's single-process ``DataParallel`` / ``data_parallel``, on one device.

PyTorch splits a batch over several GPUs of one process. minidl runs a module on one device, so with no GPU or one
GPU these run the module as it is (as PyTorch does then); asking for several devices is refused, pointing to
``md.distributed.DistributedDataParallel`` (one process per device), which is how minidl trains on several.

Example:
    >>> net = md.nn.DataParallel(md.nn.Linear(4, 2))
    >>> net(md.randn(3, 4)).shape
    (3, 2)
"""
from .. import cuda
from .module import Module

__all__ = ["DataParallel", "data_parallel"]


def _device_ids(device_ids, op):
    """PyTorch's default (every visible GPU; none on a CPU-only build) and the one-device limit."""
    if device_ids is None:
        device_ids = list(range(cuda.device_count())) if cuda.is_available() else []
    ids = [d.index if hasattr(d, "index") else int(d) for d in device_ids]
    if len(ids) > 1:
        raise NotImplementedError(f"{op}: splitting a batch over several devices ({ids}) in one process is not "
                                  "supported by minidl; use md.distributed.DistributedDataParallel (one process "
                                  "per device)")
    return ids


class DataParallel(Module):
    """Wraps ``module`` as PyTorch's ``nn.DataParallel``: the wrapped module is ``.module`` (so state-dict keys
    start with ``module.``, as in PyTorch's checkpoints) and ``forward`` runs it on the inputs.

    Example:
        >>> net = md.nn.DataParallel(md.nn.Linear(4, 2)); list(net.state_dict())
        ['module.weight', 'module.bias']
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        self.device_ids = _device_ids(device_ids, "DataParallel")
        self.output_device = output_device if output_device is not None else \
            (self.device_ids[0] if self.device_ids else None)
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """PyTorch's functional ``data_parallel``: ``module(*inputs, **module_kwargs)`` on the one GPU. As in PyTorch,
    it needs a GPU (RuntimeError without one).

    Example:
        >>> md.nn.parallel.data_parallel(net.cuda(), x.cuda()).shape        # on a machine with a GPU
        (3, 2)
    """
    if not cuda.is_available():     # PyTorch refuses too: the function form is for GPUs only
        raise RuntimeError("data_parallel: device type could not be determined: it needs a GPU (wrap the module "
                           "in DataParallel, or call it, on the CPU)")
    _device_ids(device_ids, "data_parallel")
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    return module(*inputs, **(module_kwargs or {}))
