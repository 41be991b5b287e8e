"""``md.accelerator``: PyTorch's device-agnostic probe of the current accelerator. minidl's only accelerator is a
CUDA GPU through CuPy, so this answers from ``md.cuda``.

Example:
    >>> device = md.accelerator.current_accelerator() if md.accelerator.is_available() else md.device("cpu")
    >>> device
    device('cpu')
"""
from . import cuda
from .device import Device


def is_available():
    """True when an accelerator (a CUDA GPU usable through CuPy) is present."""
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``device('cuda')`` when a CUDA GPU can be used, else None. (PyTorch may name a device that was compiled in
    but is not present when ``check_available`` is False; minidl names only one it can use, either way.)"""
    return Device("cuda") if cuda.is_available() else None


def device_count():
    """How many accelerators there are (CUDA devices; 0 without)."""
    return cuda.device_count()


def current_device_index():
    """The index of the current accelerator device (CUDA's current device)."""
    return cuda.current_device()


def synchronize(device=None):
    """Wait for the work queued on the accelerator (``md.cuda.synchronize``)."""
    cuda.synchronize(device)


__all__ = ["current_accelerator", "current_device_index", "device_count", "is_available", "synchronize"]
