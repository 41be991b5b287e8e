"""``md.save`` / ``md.load``: state dicts in the safetensors format, written atomically.

safetensors (https://github.com/huggingface/safetensors) is a plain, safe container: an 8-byte
header length, a JSON header of names, dtypes, shapes and offsets, then the raw bytes. Other tools
(PyTorch, JAX, NumPy) read the files minidl writes. The library is an optional dependency
(``pip install "minidl[train]"``).
"""
import os
import tempfile

import numpy as np

from .tensor import Tensor

_EXTRA = 'md.save/md.load need the safetensors package: pip install "minidl[train]" (or pip install safetensors)'


def _safetensors():
    try:
        from safetensors import numpy as st  # noqa: PLC0415 -- optional dependency
        from safetensors import SafetensorError  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(_EXTRA) from exc
    return st, SafetensorError


def _host_array(name, value):
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy() if value.device.type != "cpu" else value.data
    elif hasattr(value, "get") and type(value).__module__.startswith("cupy"):
        value = value.get()
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(f"save: entry {name!r} is a {type(value).__name__}; only Tensors and arrays can be saved")
    return np.ascontiguousarray(value)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(state_dict, path, metadata=None):
    """Write a ``{name: Tensor or array}`` mapping to ``path`` in the safetensors format.

    The file is written to a temporary name in the same folder and renamed over ``path`` only when
    complete, so a crash never leaves a half-written checkpoint. ``metadata`` is an optional
    ``{str: str}`` dict stored in the header.

    Example:
        >>> md.save(model.state_dict(), "model.safetensors")
        >>> model.load_state_dict(md.load("model.safetensors"))
    """
    st, _ = _safetensors()
    if not hasattr(state_dict, "items"):
        raise TypeError(f"save: expected a mapping of names to tensors, got {type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        arrays[name] = _host_array(name, value)
    atomic_write(path, st.save(arrays, metadata=metadata))


def atomic_write(path, blob):
    """Write ``blob`` (bytes) to ``path`` through a temporary file in the same folder renamed over it when complete,
    so a crash never leaves a half-written file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".minidl-save-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes it 0600; a saved file gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, device="cpu"):
    """Read a safetensors file into a ``{name: Tensor}`` dict (in the file's order), on ``device``.

    A missing file raises FileNotFoundError; a truncated or corrupt one raises ValueError naming it.

    Example:
        >>> state = md.load("model.safetensors"); sorted(state)[:2]
        ['classifier.1.bias', 'classifier.1.weight']
    """
    st, error = _safetensors()
    path = os.fspath(path)
    with open(path, "rb") as f:
        blob = f.read()
    try:
        arrays = st.load(blob)
    except (error, ValueError, OverflowError) as exc:
        raise ValueError(f"load: {path} is not a valid safetensors file (corrupt or truncated): {exc}") from None
    out = {}
    for name, arr in arrays.items():
        t = Tensor._wrap(np.array(arr))      # own, writable memory
        out[name] = t if device == "cpu" else t.to(device)
    return out
