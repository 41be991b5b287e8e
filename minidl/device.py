"""Devices: where a tensor's array lives, and the array module (NumPy or CuPy) that serves it."""
import numpy as np


class Device:
    """``Device("cpu")``, ``Device("cuda:0")``; compares equal to its string form."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        name, _, idx = str(spec).partition(":")
        if name not in ("cpu", "cuda") or (idx and not idx.isdigit()) or (name == "cpu" and idx not in ("", "0")):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
        self.type = name
        self.index = int(idx) if name == "cuda" and idx else (0 if name == "cuda" else None)

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device('{self}')"

    def __eq__(self, other):
        try:
            other = Device(other)
        except (ValueError, TypeError):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


CPU = Device("cpu")


def _cupy():
    # NOTE: a plain import each time (a dict lookup once loaded), never a cached module: tests swap a fake CuPy
    # in and out of sys.modules, and the answer must follow
    import cupy  # noqa: PLC0415 -- optional dependency, imported only for GPU work
    return cupy


def is_cuda_array(a):
    return type(a) is not np.ndarray and type(a).__module__.startswith("cupy")


def array_module(a):
    """NumPy for host arrays, CuPy for device arrays: the "xp" every reference kernel uses."""
    return _cupy() if is_cuda_array(a) else np


def device_of(a):
    return Device(f"cuda:{a.device.id}") if is_cuda_array(a) else CPU


def cuda_unavailable_reason():
    """None when CuPy imports *and* a CUDA device is usable, else a sentence saying why not.

    ``import cupy`` succeeds on machines with no driver and ``cupy.is_available()`` can raise from deep inside
    the CUDA runtime, so both are tried and any failure is the reason.
    """
    try:
        cupy = _cupy()
    except ImportError as e:
        return f'CuPy is not installed (pip install "minidl[cuda]"): {e}'
    except Exception as e:  # noqa: BLE001 -- a broken install is a reason, not a crash
        return f"CuPy failed to import: {type(e).__name__}: {e}"
    try:
        ok = bool(cupy.is_available())
    except Exception as e:  # noqa: BLE001
        return f"cupy.is_available() raised {type(e).__name__}: {e}"
    return None if ok else "CuPy is installed but finds no usable CUDA GPU (cupy.is_available() is False)"


def cuda_is_available():
    """True when CuPy imports *and* a CUDA device is usable."""
    return cuda_unavailable_reason() is None


def cuda_device_count():
    """How many CUDA devices CuPy sees (0 when CUDA is not available)."""
    if not cuda_is_available():
        return 0
    return int(_cupy().cuda.runtime.getDeviceCount())


def xp_for(device):
    device = Device(device)
    if device.type == "cpu":
        return np
    why = cuda_unavailable_reason()
    if why is not None:
        raise RuntimeError(f"device {device}: CUDA is not available: {why}")
    count = cuda_device_count()
    if device.index >= count:
        raise RuntimeError(f"device {device}: no such CUDA device ({count} visible: "
                           f"{', '.join(f'cuda:{i}' for i in range(count))})")
    return _cupy()


def to_host(x):
    """The NumPy data of a Tensor or an array, copied off the GPU when it lives there (not copied otherwise)."""
    data = getattr(x, "array", x)
    return move(data, "cpu") if is_cuda_array(data) else data


def move(a, device):
    """Copy array ``a`` to ``device`` (no copy when it is already there)."""
    device = Device(device)
    if device_of(a) == device:
        return a
    if device.type == "cpu":
        return a.get()
    cp = xp_for(device)
    with cp.cuda.Device(device.index):
        return cp.asarray(a)
