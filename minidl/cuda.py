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


__all__ = ["current_device", "device_count", "is_available", "synchronize", "unavailable_reason"]
