"""Process-wide settings with PyTorch's names: threads, float32 matmul precision, deterministic algorithms,
print options, and ``md.compile``.

Example:
    >>> md.set_num_threads(1); md.get_num_threads()
    1
"""
import numpy as np

from .device import Device

_PRINT_DEFAULTS = {"precision": None, "threshold": 1000, "edgeitems": 3, "linewidth": 75, "sci_mode": None}
_state = {"matmul_precision": "highest", "deterministic": False, "deterministic_warn_only": False,
          "print": dict(_PRINT_DEFAULTS)}


def set_num_threads(n):
    """Use ``n`` threads in minidl's native kernels (OpenMP), as ``torch.set_num_threads``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    mod = _native()
    if mod is not None and hasattr(mod, "set_num_threads"):
        mod.set_num_threads(n)
    _state["threads"] = n


def get_num_threads():
    """The number of threads minidl's native kernels use."""
    mod = _native()
    if mod is not None:
        return int(mod.max_threads())
    return _state.get("threads", 1)


def _native():
    try:
        from . import _C  # noqa: PLC0415
    except ImportError:
        return None
    return _C


def set_float32_matmul_precision(precision):
    """PyTorch's switch for TF32/bfloat16 matmuls ("highest", "high", "medium"). minidl computes float32
    matmuls in float32 at every setting (what "highest" asks; "high"/"medium" only allow less)."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision: expected 'highest', 'high' or 'medium', got {precision!r}")
    _state["matmul_precision"] = precision


def get_float32_matmul_precision():
    """The value last given to ``set_float32_matmul_precision`` ("highest" by default)."""
    return _state["matmul_precision"]


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Ask for deterministic kernels. minidl's CPU kernels always are (fixed work split, no atomics), so on the
    CPU this only records the request; ``are_deterministic_algorithms_enabled`` reads it back."""
    _state["deterministic"], _state["deterministic_warn_only"] = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled():
    """Whether ``use_deterministic_algorithms(True)`` is in force."""
    return _state["deterministic"]


def is_deterministic_algorithms_warn_only_enabled():
    """Whether it was asked with ``warn_only=True``."""
    return _state["deterministic_warn_only"]


_PROFILES = {"default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
             "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
             "full": {"precision": 4, "threshold": np.inf, "edgeitems": 3, "linewidth": 80}}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print: digits after the point, how many elements before summarizing with "...", how many
    at each edge then, line width, and scientific notation (True/False; None lets the values decide).

    Example:
        >>> md.set_printoptions(precision=2); md.tensor([1 / 3])
        tensor([0.33])
    """
    opts = _state["print"]
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        opts.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                       ("linewidth", linewidth)):
        if value is not None:
            opts[key] = value
    opts["sci_mode"] = sci_mode


def reset_printoptions():
    """minidl's own print defaults (NumPy's shortest round-trip digits)."""
    _state["print"] = dict(_PRINT_DEFAULTS)


def array2string_options():
    """Keyword arguments for ``np.array2string`` that honour ``set_printoptions``."""
    opts = _state["print"]
    out = {"threshold": opts["threshold"], "edgeitems": opts["edgeitems"], "max_line_width": opts["linewidth"]}
    if opts["precision"] is not None:
        out["precision"] = opts["precision"]
    if opts["sci_mode"] is not None:
        out["floatmode"] = "fixed" if opts["precision"] is not None else "maxprec"
        out["suppress_small"] = not opts["sci_mode"]
        if opts["sci_mode"]:
            prec = opts["precision"] if opts["precision"] is not None else 4
            out["formatter"] = {"float_kind": lambda v: np.format_float_scientific(v, precision=prec)}
    return out


def typename(obj):
    """PyTorch's type name of ``obj``: ``torch.FloatTensor``-style names for tensors, else the class name."""
    from .tensor import Tensor  # noqa: PLC0415
    if isinstance(obj, Tensor):
        names = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
                 "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
                 "bool": "BoolTensor"}
        return "torch." + names.get(obj.dtype.name, obj.dtype.name)
    cls = type(obj)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def is_complex(input):  # noqa: A002
    """False: minidl has no complex dtypes."""
    return False


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,  # noqa: A001
            disable=False):
    """PyTorch's graph compiler entry point. minidl runs every model eagerly, so the model (or function) comes
    back as it is, with the same results, as ``torch.compile(..., backend="eager")`` gives; used as a
    decorator with arguments, it returns that decorator.

    Example:
        >>> net = md.compile(md.nn.Linear(2, 2))
    """
    if model is None:
        return lambda fn: fn
    return model


def get_default_device():
    """The device new tensors go to: the CPU (``md.set_default_dtype`` changes the dtype, not the device)."""
    return Device("cpu")


__all__ = ["set_num_threads", "get_num_threads", "set_float32_matmul_precision", "get_float32_matmul_precision",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled", "set_printoptions", "typename", "is_complex", "compile",
           "get_default_device"]
