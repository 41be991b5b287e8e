"""Provider "cupy": the same reference kernels, run on CuPy arrays (the GPU fallback)."""
from . import export_reference

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
