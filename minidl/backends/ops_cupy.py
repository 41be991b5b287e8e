"""Provider "cupy": the same reference kernels, run on CuPy arrays (the GPU fallback)."""
import inspect

from . import export_reference, reference

try:
    import cupy
except ImportError:
    raise ImportError('cupy is not installed (pip install "minidl[cuda]")') from None
try:
    _gpu = cupy.is_available()
except Exception:  # noqa: BLE001 -- a missing driver raises from deep inside CUDA
    _gpu = False
if not _gpu:
    raise ImportError("cupy is installed but no usable CUDA GPU was found")

export_reference(globals())


def _with_mask(kernel):
    """``kernel`` taking the backward output mask ``need=(True, True)``: passed on where the reference takes it,
    else both gradients are computed and the unwanted one is dropped (None)."""
    if "need" in inspect.signature(kernel).parameters:
        return kernel

    def masked(*args, need=(True, True)):
        return tuple(g if wanted else None for g, wanted in zip(kernel(*args), need))
    masked.__name__ = masked.__qualname__ = kernel.__name__
    return masked


matmul_backward = _with_mask(reference.matmul_backward)
conv2d_backward = _with_mask(reference.conv2d_backward)
