"""The kernel dispatcher: which provider runs each kernel call, and why.

Providers are modules ``minidl/backends/ops_<name>.py`` found by filename; each is a flat set of
functions named after the kernels in ``reference.py``. For a call, the first provider in the
device's ORDER that loads and defines the kernel runs it -- unless one is forced with
``MINIDL_BACKEND`` or ``use(...)``, in which case that one runs or the call fails clearly.
"""
import contextvars
import importlib
import inspect
import os
import pkgutil
import threading
import time

import numpy as np

from ..device import device_of

ORDER = {"cpu": ("native", "numba", "numpy"), "cuda": ("cuda", "cupy", "numba_cuda")}
PROVIDERS = tuple(p for order in ORDER.values() for p in order)
DEVICE_OF_PROVIDER = {p: dev for dev, order in ORDER.items() for p in order}

_modules = {}           # provider -> loaded module
_why = {}               # provider -> sentence saying why it is unusable
_lock = threading.Lock()
_forced = contextvars.ContextVar("minidl_backend", default=None)
_trace = contextvars.ContextVar("minidl_backend_trace", default=None)
# (kernel, device type, forced provider) -> what _resolve found. The forced provider is part of the key, so use() and
# MINIDL_BACKEND select another entry instead of invalidating; _forget() (a provider loaded again) clears it.
_resolved = {}


def _discover():
    """Provider names that have an ``ops_<name>.py`` file in this package."""
    return {m.name[4:] for m in pkgutil.iter_modules(__path__) if m.name.startswith("ops_")}


def _load(name):
    """Import provider ``name`` once; record the reason when it cannot be used. Never raises."""
    if name in _modules or name in _why:
        return _modules.get(name)
    with _lock:
        if name in _modules or name in _why:
            return _modules.get(name)
        if name not in _discover():
            _why[name] = f"not implemented in this version (no module ops_{name}.py)"
            return None
        try:
            _modules[name] = importlib.import_module(f"{__name__}.ops_{name}")
        except Exception as e:  # noqa: BLE001 -- any import failure is a reason, not a crash
            msg = str(e).strip() or type(e).__name__
            _why[name] = msg if isinstance(e, ImportError) else f"{type(e).__name__}: {msg}"
    return _modules.get(name)


def _forget(*names):
    """Drop what is remembered about providers ``names`` (all when none are named), so the next call imports them
    again. For tests that install or remove a (fake) CuPy; a provider's import is otherwise tried once."""
    import sys  # noqa: PLC0415
    with _lock:
        _resolved.clear()
        for name in names or PROVIDERS:
            _modules.pop(name, None)
            _why.pop(name, None)
            sys.modules.pop(f"{__name__}.ops_{name}", None)


def kernel_names():
    """The kernels every provider implements: the public functions of the reference."""
    from . import reference  # noqa: PLC0415
    return tuple(n for n, f in inspect.getmembers(reference, inspect.isfunction)
                 if not n.startswith("_") and f.__module__ == reference.__name__)


def export_reference(namespace):
    """Put every reference kernel into a provider module's namespace (the numpy and cupy providers)."""
    from . import reference  # noqa: PLC0415
    namespace.update({n: getattr(reference, n) for n in kernel_names()})


def available():
    """Every provider in dispatch order: ``None`` when usable here, else the reason it is not.

    Example:
        >>> md.backends.available()
        {'native': None, 'numba': 'numba is not installed (pip install "minidl[numba]")', 'numpy': None, ...}
    """
    return {name: (None if _load(name) is not None else _why[name]) for name in PROVIDERS}


def usable(device="cpu"):
    """Names of the usable providers for ``device`` ("cpu" or "cuda"), in dispatch order."""
    return [p for p in ORDER[str(device).split(":")[0]] if _load(p) is not None]


def provider_kernel(name, kernel):
    """Provider ``name``'s implementation of ``kernel``, or None when it lacks one or cannot load."""
    return getattr(_load(name), kernel, None)


def _check_name(name):
    if name not in PROVIDERS:
        raise ValueError(f"backend: unknown provider {name!r}; choose one of {', '.join(PROVIDERS)}")


class use:
    """Force provider ``name`` for every kernel call; also a context manager that restores the previous choice.

    Raises at once when the provider is unusable here (never a silent switch). ``use(None)``
    returns to automatic dispatch.

    Example:
        >>> with md.backends.use("numpy"):
        ...     y = x @ w              # runs the NumPy reference
    """

    def __init__(self, name):
        if name is not None:
            _check_name(name)
            if _load(name) is None:
                raise RuntimeError(f"backend {name!r} is not available: {_why[name]}")
        self.name = name
        self._token = _forced.set(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _forced.reset(self._token)
        return False


def forced():
    """The provider forced by ``use(...)`` or ``MINIDL_BACKEND`` (None: automatic)."""
    name = _forced.get()
    if name is None:
        name = os.environ.get("MINIDL_BACKEND") or None
    return name


def _resolve(kernel, device):
    """(function, provider, reasons the providers ahead of it were passed over), cached per forced provider."""
    name = forced()
    key = (kernel, device, name)
    hit = _resolved.get(key)
    # NOTE: an entry stands while each provider looked at still has (or still lacks) the kernel it had, so a
    # patched provider module (tests, users' monkeypatching) is seen at the next call; one getattr when the
    # first provider runs it
    if hit is None or any(getattr(mod, kernel, None) is not fn for mod, fn in hit[3]):
        hit = _resolved[key] = _resolve_uncached(kernel, device, name)
    return hit


def supports(kernel, device="cpu"):
    """Whether a call of ``kernel`` on ``device`` would find an implementation now (under any forced provider).

    Ops with a fused kernel use it to fall back to composing basic kernels when the forced provider lacks it.

    Example:
        >>> md.backends.supports("matmul")
        True
    """
    try:
        _resolve(kernel, str(device).split(":")[0])
    except (NotImplementedError, RuntimeError):
        return False
    return True


def _resolve_uncached(kernel, device, name):
    if name is not None:
        _check_name(name)
        if DEVICE_OF_PROVIDER[name] != device:
            raise RuntimeError(f"{kernel}: backend {name!r} is forced but serves {DEVICE_OF_PROVIDER[name]} "
                               f"tensors, and the inputs are on {device}")
        mod = _load(name)
        if mod is None:
            raise RuntimeError(f"{kernel}: backend {name!r} is forced but not available: {_why[name]}")
        fn = getattr(mod, kernel, None)
        if fn is None:
            raise NotImplementedError(f"{kernel}: backend {name!r} is forced but does not implement this kernel")
        return fn, name, {p: "not chosen: another backend is forced" for p in ORDER[device] if p != name}, \
            ((mod, fn),)
    skipped, looked = {}, []
    for p in ORDER[device]:
        mod = _load(p)
        fn = getattr(mod, kernel, None)
        if mod is not None:
            looked.append((mod, fn))
        if fn is not None:
            return fn, p, skipped, tuple(looked)
        skipped[p] = _why[p] if mod is None else f"{p} does not implement {kernel}"
    raise NotImplementedError(f"{kernel}: no provider for device {device!r} ({skipped})")


def _shape_of(a):
    return tuple(a.shape) if hasattr(a, "shape") else None


def _device_type(args):
    for a in args:
        if type(a) is np.ndarray:       # the common case, without building a Device
            return "cpu"
        if hasattr(a, "shape"):
            return device_of(a).type
    raise TypeError("dispatch: no array argument")


def dispatch(kernel, *args, **kwargs):
    """Run ``kernel`` on the first usable provider for the device of the first array argument."""
    return _call(kernel, _resolve(kernel, _device_type(args)), args, kwargs)


def dispatch_or(fallback, kernel, *args):
    """``dispatch(kernel, *args)``, or ``fallback(*args)`` when no provider of the device implements ``kernel``
    (a forced provider without it). Only the lookup decides: an error raised inside the kernel propagates.

    Example:
        >>> float(md.backends.dispatch_or(np.add, "no_such_kernel", np.float64(1), np.float64(2)))
        3.0
    """
    try:
        resolved = _resolve(kernel, _device_type(args))
    except NotImplementedError:
        return fallback(*args)
    return _call(kernel, resolved, args, {})


def _call(kernel, resolved, args, kwargs):
    fn, provider, skipped, _ = resolved
    log = _trace.get()
    if log is None:
        return fn(*args, **kwargs)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    log.append(TraceRecord(kernel, provider, [_shape_of(a) for a in args if _shape_of(a) is not None],
                           str(next(a.dtype for a in args if hasattr(a, "dtype"))), skipped,
                           (time.perf_counter() - start) * 1e3))
    return out


class _Kernels:
    """``kernels.conv2d(x, w, ...)``: attribute access returns the dispatching callable."""

    def __getattr__(self, kernel):
        if kernel.startswith("_"):
            raise AttributeError(kernel)

        def call(*args, **kwargs):
            return dispatch(kernel, *args, **kwargs)
        call.__name__ = kernel
        return call


kernels = _Kernels()


class TraceRecord:
    __slots__ = ("kernel", "provider", "shapes", "dtype", "skipped", "ms")

    def __init__(self, kernel, provider, shapes, dtype, skipped, ms):
        self.kernel, self.provider, self.shapes, self.dtype, self.skipped, self.ms = \
            kernel, provider, shapes, dtype, skipped, ms

    def __repr__(self):
        return f"TraceRecord({self.kernel!r}, provider={self.provider!r}, shapes={self.shapes}, dtype={self.dtype})"


class Trace(list):
    """The kernel calls recorded by ``trace()``; ``print(log)`` shows them as a table."""

    def __str__(self):
        rows = [("kernel", "provider", "shapes", "dtype", "ms", "passed over")]
        for r in self:
            why = "; ".join(f"{p}: {w}" for p, w in r.skipped.items()) or "-"
            rows.append((r.kernel, r.provider, " ".join(str(s) for s in r.shapes), r.dtype, f"{r.ms:.3f}", why))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:5], widths)) + "  " + row[5] for row in rows]
        return "\n".join(lines) if len(rows) > 1 else "(no kernel calls)"


class trace:
    """Record every kernel call inside the block: kernel, shapes, dtype, provider, and why the
    providers ahead of it did not run.

    Example:
        >>> with md.backends.trace() as log:
        ...     md.nn.functional.conv2d(x, w)
        >>> print(log)
    """

    def __enter__(self):
        self.log = Trace()
        self._token = _trace.set(self.log)
        return self.log

    def __exit__(self, *exc):
        _trace.reset(self._token)
        return False


__all__ = ["ORDER", "PROVIDERS", "available", "cudnn", "dispatch", "dispatch_or", "forced", "kernel_names",
           "kernels", "mps", "provider_kernel", "supports", "trace", "usable", "use"]

# PyTorch's device switches and probes (md.backends.cudnn, md.backends.mps), so programs that set or ask them run;
# imported last: they import nothing from here
from . import cudnn, mps  # noqa: E402
