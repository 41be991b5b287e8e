"""Reading PyTorch's own ``.pt``/``.pth`` checkpoints (``torch.save``'s zip format) without PyTorch, and without
letting the file run code.

A ``torch.save`` file is a zip: ``<name>/data.pkl`` is a pickle of the saved object whose tensors point, through
pickle's persistent ids, at raw storages ``<name>/data/<key>``. Unpickling it with ``pickle`` as it is would let the
file call any importable function. ``_CheckpointUnpickler`` answers each global the pickle names from a fixed table
of minidl's own builders (PyTorch's tensor and parameter rebuilders, storage types, ``torch.Size``, ``torch.device``,
dtypes, ``OrderedDict``, NumPy arrays, dtypes and scalars); any other name is refused before anything is called.
The builders return inert placeholders, and only after the pickle is fully read are they turned into minidl
Tensors, Parameters and NumPy arrays, each storage size and view bound checked against the zip member it reads.
"""
import io
import pickle
import zipfile
from collections import OrderedDict
from math import prod

import numpy as np

from . import dtypes

# torch.<Name>Storage -> the NumPy dtype of its elements (bfloat16 is widened to float32 on load, exactly)
_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
             "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
# torch.<dtype> globals -> minidl's dtype name (as md.<name>)
_DTYPES = {"float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
           "float16": "float16", "half": "float16", "int64": "int64", "long": "int64", "int32": "int32",
           "int": "int32", "uint8": "uint8", "bool": "bool"}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


class Refused(ValueError):
    """Internal: the file asks for something outside the table; the caller adds the file name."""


# ---------------------------------------------------------------- inert placeholders the pickle builds

class _Storage:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


class _TensorStub:
    """What ``torch._utils._rebuild_tensor_v2`` yields: a checked strided view of a storage, made a Tensor later."""
    __slots__ = ("array", "requires_grad", "parameter")

    def __init__(self, array, requires_grad):
        self.array, self.requires_grad, self.parameter = array, bool(requires_grad), False

    def __setstate__(self, state):
        raise Refused("a tensor with extra pickled state (a tensor subclass or hooks) is not supported")


class _ArrayStub:
    """What NumPy's ``_reconstruct(ndarray, (0,), b'b')`` yields; its BUILD state holds the shape, dtype and bytes."""
    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise Refused("a NumPy array with an unexpected pickled state")
        _, shape, dtype, fortran, raw = state
        dtype = _as_dtype(dtype)
        if dtype.hasobject:
            raise Refused("a NumPy object array (it would need pickle to rebuild its elements)")
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise Refused(f"a NumPy array with a bad shape {shape!r}")
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != prod(shape) * dtype.itemsize:
            raise Refused(f"a NumPy array of shape {shape} and dtype {dtype} whose data has the wrong size")
        flat = np.frombuffer(raw, dtype=dtype).copy()
        self.array = flat.reshape(shape[::-1]).T.copy() if fortran else flat.reshape(shape)


class _DtypeStub:
    """``numpy.dtype(spec, align, copy)``; BUILD may then give the byte order."""
    __slots__ = ("dtype",)

    def __init__(self, spec, align=False, copy=True):
        if not isinstance(spec, str) or len(spec) > 8:
            raise Refused(f"a NumPy dtype {spec!r}")
        try:
            self.dtype = np.dtype(spec)
        except TypeError as exc:
            raise Refused(f"a NumPy dtype {spec!r}") from exc
        if self.dtype.hasobject or self.dtype.fields is not None:
            raise Refused(f"a NumPy dtype {spec!r} (object or structured)")

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "="):
            if state[1] == ">":
                self.dtype = self.dtype.newbyteorder(">")
        else:
            raise Refused("a NumPy dtype with an unexpected pickled state")


def _as_dtype(d):
    if isinstance(d, _DtypeStub):
        return d.dtype
    raise Refused(f"a NumPy array whose dtype is {type(d).__name__}, not a dtype")


# ---------------------------------------------------------------- the builders the table hands out

class _Token:
    """A global the table allows only as an argument (a storage type, ``numpy.ndarray``): never called."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise Refused(f"a call of {self.name}")


_NDARRAY = _Token("numpy.ndarray")


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks, metadata=None):
    if not isinstance(storage, _Storage):
        raise Refused("a tensor whose storage is not a storage")
    if backward_hooks:
        raise Refused("a tensor saved with backward hooks")
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or not all(isinstance(v, int) and v >= 0 for v in size + stride) \
            or not isinstance(offset, int) or offset < 0:
        raise Refused(f"a tensor view with size {size}, stride {stride}, offset {offset!r}")
    base = storage.array
    end = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else offset
    if end > base.size:
        raise Refused(f"a tensor view (size {size}, stride {stride}, offset {offset}) reaching past its storage "
                      f"of {base.size} elements")
    if not all(size):
        return _TensorStub(np.zeros(size, base.dtype), requires_grad)
    view = np.lib.stride_tricks.as_strided(base[offset:], size, tuple(s * base.itemsize for s in stride),
                                           writeable=False)
    return _TensorStub(np.array(view), requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks, *rest):
    if not isinstance(data, _TensorStub):
        raise Refused("a parameter whose data is not a tensor")
    if backward_hooks:
        raise Refused("a parameter saved with backward hooks")
    data.requires_grad, data.parameter = bool(requires_grad), True
    return data


def _size(*args):
    return tuple(*args) if args else ()


def _device(*args):
    if not args or not isinstance(args[0], str):
        raise Refused(f"torch.device{args!r}")
    return args[0] if len(args) == 1 else f"{args[0]}:{args[1]}"


def _codecs_encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding != "latin1":
        raise Refused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


def _np_reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY:
        raise Refused("numpy _reconstruct of something other than ndarray")
    return _ArrayStub()


def _np_scalar(dtype, raw):
    dtype = _as_dtype(dtype)
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != dtype.itemsize:
        raise Refused("a NumPy scalar whose data has the wrong size")
    return np.frombuffer(raw, dtype=dtype)[0]


def _table():
    out = {("collections", "OrderedDict"): OrderedDict,
           ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
           ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
           ("torch", "Size"): _size,
           ("torch", "device"): _device,
           ("_codecs", "encode"): _codecs_encode,
           ("numpy", "ndarray"): _NDARRAY,
           ("numpy", "dtype"): _DtypeStub}
    for mod in _NUMPY_MODULES:
        out[(mod, "_reconstruct")] = _np_reconstruct
        out[(mod, "scalar")] = _np_scalar
    for name in _STORAGES:
        out[("torch", name)] = _Token(name)
    for name, md_name in _DTYPES.items():
        out[("torch", name)] = getattr(dtypes, md_name if md_name != "bool" else "bool_")
    return out


_TABLE = _table()


class _CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, data, read_storage):
        super().__init__(io.BytesIO(data))
        self._read_storage = read_storage
        self._storages = {}

    def find_class(self, module, name):
        try:
            return _TABLE[(module, name)]
        except KeyError:
            raise Refused(f"it names {module}.{name}, which is not a tensor, a container, a number or a string: "
                          "minidl loads only those and never runs code from a file") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise Refused(f"an unknown persistent id {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if not (isinstance(kind, _Token) and kind.name in _STORAGES):
            raise Refused(f"a storage of unknown type {kind!r:.80}")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise Refused(f"a storage with key {key!r:.40} and {numel!r:.40} elements")
        if key not in self._storages:
            self._storages[key] = _Storage(self._read_storage(key, _STORAGES[kind.name], numel))
        return self._storages[key]


# ---------------------------------------------------------------- the zip

def _read_storage(zf, prefix, key, dtype, numel):
    name = f"{prefix}data/{key}"
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise Refused(f"the storage {name} is missing") from None
    itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
    if info.file_size != numel * itemsize:
        raise Refused(f"the storage {name} holds {info.file_size} bytes, not the {numel} x {itemsize} the pickle "
                      "declares")
    raw = zf.read(info)
    if dtype == "bfloat16":                           # the upper half of a float32: widening is exact
        return (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.dtype(dtype), copy=True)


def _finish(obj, make_tensor):
    """Replace the placeholders in the loaded object graph by Tensors, Parameters and arrays."""
    if isinstance(obj, _TensorStub):
        return make_tensor(obj)
    if isinstance(obj, _ArrayStub):
        if obj.array is None:
            raise Refused("a NumPy array without its data")
        return obj.array
    if isinstance(obj, _DtypeStub):
        return obj.dtype
    if isinstance(obj, (_Storage, _Token)):
        raise Refused(f"a bare {type(obj).__name__.strip('_').lower()} outside a tensor")
    if isinstance(obj, tuple):
        return tuple(_finish(v, make_tensor) for v in obj)
    if isinstance(obj, list):
        return [_finish(v, make_tensor) for v in obj]
    if isinstance(obj, dict):
        out = type(obj)() if type(obj) in (dict, OrderedDict) else {}
        for k, v in obj.items():
            out[_finish(k, make_tensor)] = _finish(v, make_tensor)
        meta = getattr(obj, "_metadata", None)
        if isinstance(meta, dict) and isinstance(out, OrderedDict):
            out._metadata = _finish(meta, make_tensor)
        return out
    return obj


def is_torch_zip(head):
    """Whether the first bytes of a file are a zip's (``torch.save``'s default format)."""
    return head[:4] == b"PK\x03\x04"


def load_torch_zip(f, make_tensor):
    """The object ``torch.save`` wrote to the zip file ``f`` (binary, seekable), tensors made by ``make_tensor``
    (called with each placeholder's ``array``, ``requires_grad`` and ``parameter``). Raises ``Refused`` (a
    ValueError) for anything outside the table, naming it."""
    try:
        zf = zipfile.ZipFile(f)
    except zipfile.BadZipFile as exc:
        raise Refused(f"not a readable zip ({exc})") from None
    with zf:
        pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") <= 1]
        if len(pkl) != 1:
            raise Refused("no single <name>/data.pkl member: not a torch.save checkpoint")
        prefix = pkl[0][:-len("data.pkl")]
        if f"{prefix}byteorder" in zf.namelist() and zf.read(f"{prefix}byteorder") != b"little":
            raise Refused("a big-endian checkpoint")
        unpickler = _CheckpointUnpickler(zf.read(pkl[0]), lambda k, d, n: _read_storage(zf, prefix, k, d, n))
        try:
            obj = unpickler.load()
        except Refused:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, IndexError, KeyError, AttributeError,
                ValueError, RecursionError) as exc:
            raise Refused(f"its pickle is corrupt ({type(exc).__name__}: {exc})") from None
    try:
        return _finish(obj, make_tensor)
    except RecursionError:
        raise Refused("its object nesting is too deep") from None
    except AttributeError:                            # a placeholder made without its builder (NEWOBJ)
        raise Refused("its pickle builds a placeholder without its arguments") from None
