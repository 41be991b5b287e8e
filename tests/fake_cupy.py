"""A fake CuPy for tests on machines without a GPU: NumPy underneath, a CuPy-like surface on top.

What it checks is minidl's *device plumbing* -- which array module serves a tensor, where host/device copies
happen, which provider runs a kernel, that devices never mix silently. It checks nothing about CuPy itself or
any GPU code: every "device" array is a NumPy array in host memory.

Device arrays are ``ndarray``, a distinct ``numpy.ndarray`` subclass whose type lives in module ``cupy``, so
``minidl.device`` takes them for CuPy arrays. As in real CuPy, an operation that mixes them with host NumPy
arrays (other than 0-d ones and scalars) raises TypeError, and results of operations on them are again device
arrays (0-d arrays, never NumPy scalars). Install it with ``install(monkeypatch)`` (the ``fake_cupy`` fixture in
``test_fake_cuda.py``).
"""
import math
import sys
import time
import types

import numpy as np

_state = {"available": True, "raise": None, "devices": 1}


def _is_host(a):
    return isinstance(a, np.ndarray) and not isinstance(a, ndarray) and a.ndim > 0


def _check_host(name, args):
    """Real CuPy refuses host arrays in device operations; so does the fake (recursing into lists and tuples)."""
    for a in args:
        if isinstance(a, (list, tuple)):
            _check_host(name, a)
        elif _is_host(a):
            raise TypeError(f"fake cupy {name}: unsupported type numpy.ndarray (a host array of shape {a.shape} "
                            "mixed with device arrays)")


def _unwrap(a):
    if isinstance(a, ndarray):
        return a.view(np.ndarray)
    if isinstance(a, (list, tuple)):
        return type(a)(_unwrap(x) for x in a)
    if isinstance(a, dict):
        return {k: _unwrap(v) for k, v in a.items()}
    return a


def _wrap(r):
    if isinstance(r, ndarray):
        return r
    if isinstance(r, np.ndarray):
        return r.view(ndarray)
    if isinstance(r, np.generic):
        return np.asarray(r).view(ndarray)
    if isinstance(r, (list, tuple)) and not hasattr(r, "_fields"):
        return type(r)(_wrap(x) for x in r)
    return r


class ndarray(np.ndarray):
    """A "device" array: NumPy storage, CuPy's type identity and host-mixing rules."""

    __module__ = "cupy"

    @property
    def device(self):
        return _Device(0)

    def get(self, stream=None):
        """The host copy (``cupy.ndarray.get``)."""
        return np.array(self.view(np.ndarray), copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _check_host(ufunc.__name__, inputs)
        out = kwargs.get("out")
        if out:
            _check_host(ufunc.__name__, out)
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        _check_host(func.__name__, args)
        _check_host(func.__name__, tuple(kwargs.values()))
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return _wrap(arr)           # 0-d results stay device arrays, as in CuPy

    def argmax(self, *args, **kwargs):
        return _wrap(super().argmax(*args, **kwargs))

    def argmin(self, *args, **kwargs):
        return _wrap(super().argmin(*args, **kwargs))

    def __getitem__(self, key):
        return _wrap(super().__getitem__(_unwrap(key)))

    def __setitem__(self, key, value):
        _check_host("__setitem__", (value,))
        super().__setitem__(_unwrap(key), _unwrap(value))


# --- the cupy namespace -----------------------------------------------------------------------------------------
def is_available():
    if _state["raise"] is not None:
        raise _state["raise"]
    return _state["available"]


def asarray(a, dtype=None, order=None):
    """Device array from host data (a copy) or the device array itself when it already matches."""
    if isinstance(a, ndarray) and (dtype is None or a.dtype == np.dtype(dtype)):
        return a
    return np.array(_unwrap(a), dtype=dtype, copy=True, order=order or "K").view(ndarray)


def array(obj, dtype=None, copy=True, order="K", ndmin=0):
    return np.array(_unwrap(obj), dtype=dtype, copy=copy, order=order, ndmin=ndmin).view(ndarray)


def asnumpy(a, stream=None):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*args):
    return sys.modules["cupy"] if any(isinstance(a, ndarray) for a in args) else np


def _delegate(name):
    """``cupy.<name>``: NumPy's function run on the unwrapped arrays, results wrapped; host arrays refused."""
    target = getattr(np, name)

    def fn(*args, **kwargs):
        _check_host(name, args)
        return _wrap(target(*_unwrap(args), **_unwrap(kwargs)))
    fn.__name__ = name
    return fn


def _module_getattr(name):
    attr = getattr(np, name)            # AttributeError for names NumPy lacks too
    if isinstance(attr, (type, np.ufunc, types.ModuleType)) or not callable(attr):
        return attr                     # dtypes, constants; ufuncs dispatch through __array_ufunc__
    return _delegate(name)


# --- cupy.cuda ----------------------------------------------------------------------------------------------------
class _Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if not 0 <= self.id < _state["devices"]:
            raise RuntimeError(f"fake cupy: cudaErrorInvalidDevice: invalid device ordinal {self.id}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return self

    def synchronize(self):
        pass

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class _Stream:
    ptr = 0

    def synchronize(self):
        pass


class _Event:
    def __init__(self, *args, **kwargs):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


def _get_elapsed_time(start, end):
    return (end.t - start.t) * 1e3


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _MemoryPool()


# --- cupy.random ----------------------------------------------------------------------------------------------------
class _RandomState:
    def __init__(self, seed=None):
        self._rng = np.random.RandomState(seed)

    def __getattr__(self, name):
        f = getattr(self._rng, name)
        return lambda *a, **k: _wrap(np.asarray(f(*a, **k)))


def _build():
    """The module objects: cupy, cupy.cuda (+ runtime), cupy.random, cupy.lib(.stride_tricks), cupyx(.scipy.special)."""
    cp = types.ModuleType("cupy")
    cp.__doc__ = __doc__
    cp.__version__, cp.__file__ = "0.0-fake", __file__
    for f in (is_available, asarray, array, asnumpy, get_array_module):
        setattr(cp, f.__name__, f)
    cp.ndarray = ndarray
    cp.__getattr__ = _module_getattr
    cp.get_default_memory_pool = lambda: _POOL
    cp.get_default_pinned_memory_pool = lambda: _POOL

    cuda_mod = types.ModuleType("cupy.cuda")
    cuda_mod.Device, cuda_mod.Stream, cuda_mod.Event = _Device, _Stream, _Event
    cuda_mod.get_current_stream = lambda device=None: _Stream()
    cuda_mod.get_elapsed_time = _get_elapsed_time
    cuda_mod.runtime = types.SimpleNamespace(getDeviceCount=lambda: _state["devices"],
                                             getDeviceProperties=lambda i: {"name": b"fake GPU (NumPy on the host)"})
    cp.cuda = cuda_mod

    rnd = types.ModuleType("cupy.random")
    default = _RandomState(0)
    rnd.RandomState = _RandomState
    rnd.seed = lambda seed=None: default._rng.seed(seed)
    for name in ("rand", "randn", "random", "standard_normal", "uniform", "normal", "randint"):
        setattr(rnd, name, getattr(default, name))
    cp.random = rnd

    lib = types.ModuleType("cupy.lib")
    lib.stride_tricks = types.SimpleNamespace(
        as_strided=lambda x, shape=None, strides=None: _wrap(np.lib.stride_tricks.as_strided(
            _unwrap(x), shape=shape, strides=strides)))
    cp.lib = lib

    cupyx = types.ModuleType("cupyx")

    def scatter_add(a, slices, value):
        _check_host("scatter_add", (a, value))
        np.add.at(_unwrap(a), _unwrap(slices), _unwrap(value))
    cupyx.scatter_add = scatter_add
    scipy_mod = types.ModuleType("cupyx.scipy")
    special = types.ModuleType("cupyx.scipy.special")
    _erf = np.vectorize(math.erf, otypes=[np.float64])
    special.erf = lambda x: _wrap(_erf(_unwrap(x)).astype(x.dtype))
    scipy_mod.special = special
    cupyx.scipy = scipy_mod
    return {"cupy": cp, "cupy.cuda": cuda_mod, "cupy.random": rnd, "cupy.lib": lib, "cupyx": cupyx,
            "cupyx.scipy": scipy_mod, "cupyx.scipy.special": special}


def install(monkeypatch, available=True, raises=None, devices=1):
    """Put the fake into ``sys.modules`` and make minidl's dispatcher look again (undo with ``uninstall``).

    ``available=False`` makes ``cupy.is_available()`` return False; ``raises`` makes it raise that exception.
    Returns the fake ``cupy`` module.
    """
    from minidl import backends

    monkeypatch.setitem(_state, "available", available)
    monkeypatch.setitem(_state, "raise", raises)
    monkeypatch.setitem(_state, "devices", devices)
    mods = _build()
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    backends._forget()
    # The real CUDA extension and numba.cuda would run GPU code on these host arrays: keep them out of dispatch
    # so the `cupy` provider (the reference on CuPy) serves the fake device, as it does where nvcc is missing.
    for name in ("cuda", "numba_cuda"):
        monkeypatch.setitem(backends._why, name, "hidden while the fake CuPy is installed (tests)")
    return mods["cupy"]


def uninstall(monkeypatch):
    """Undo ``install`` and make the dispatcher forget the providers it loaded against the fake."""
    from minidl import backends

    monkeypatch.undo()
    backends._forget()
