"""``md.cuda``: is a GPU usable here, how many, and waiting for queued GPU work."""
from .device import Device, _cupy, cuda_device_count, cuda_is_available, cuda_unavailable_reason, xp_for


def is_available():
    """True when CuPy imports and ``cupy.is_available()`` says a CUDA device is usable (never raises)."""
    return cuda_is_available()


def unavailable_reason():
    """None when CUDA is usable, else why not (CuPy missing, no driver/GPU, or the check raised)."""
    return cuda_unavailable_reason()


def device_count():
    """The number of CUDA devices CuPy sees; 0 when CUDA is not available."""
    return cuda_device_count()


def current_device():
    """The index of CuPy's current device."""
    xp_for("cuda")
    return int(_cupy().cuda.Device().id)


def synchronize(device=None):
    """Wait until every kernel queued on ``device`` (default: the current one) has finished.

    GPU work is asynchronous: time it or read a clock only after this (``.item()``/``.cpu()`` synchronize too).
    """
    dev = Device("cuda" if device is None else device if not isinstance(device, int) else f"cuda:{device}")
    xp_for(dev)                                 # clear error when there is no GPU
    index = int(_cupy().cuda.Device().id) if device is None else dev.index
    _cupy().cuda.Device(index).synchronize()


def manual_seed(seed):
    """Seed the GPU's random numbers: minidl draws on the host for every device, so this is ``md.manual_seed``."""
    from .random import manual_seed as seed_all  # noqa: PLC0415
    seed_all(seed)


manual_seed_all = manual_seed


def empty_cache():
    """Return the GPU memory CuPy's pool holds but does not use (nothing to do without CuPy)."""
    import sys  # noqa: PLC0415
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.get_default_memory_pool().free_all_blocks()


class amp:  # noqa: N801 -- the old md.cuda.amp namespace
    """``torch.cuda.amp``'s spellings: ``GradScaler`` and ``autocast`` for device "cuda"."""

    @staticmethod
    def GradScaler(init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,  # noqa: N802
                   enabled=True):
        from .amp import GradScaler  # noqa: PLC0415
        return GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)

    @staticmethod
    def autocast(enabled=True, dtype=None, cache_enabled=True):
        from .amp import autocast  # noqa: PLC0415
        return autocast("cuda", dtype, enabled, cache_enabled)


__all__ = ["current_device", "device_count", "is_available", "synchronize", "unavailable_reason", "manual_seed",
           "manual_seed_all", "empty_cache", "amp"]
