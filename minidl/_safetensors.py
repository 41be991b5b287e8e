"""The safetensors format, read and written by hand: one implementation for ``md.save``/``md.load`` and for the
weights of ``md.keras`` (``model.weights.safetensors`` inside a ``.keras`` zip, ``save_weights`` files).

A file is an 8-byte little-endian header length, a JSON header ``{name: {"dtype", "shape", "data_offsets"}}``
(plus an optional ``"__metadata__"`` of strings), then the tensors' raw little-endian bytes, which must tile the
data area exactly. Reading checks all of that against the stream's real size before anything is allocated, then
reads the tensors front to back, each straight into a fresh array in bounded chunks, so any binary stream works:
a file, or a zip member that can only be read in order.

Every defect is a ``ValueError`` starting with ``source``, the caller's name for the stream (``"load: m.st"``).

Example:
    >>> size, write = writer({"w": np.ones(3, np.float32)})
    >>> with open("w.safetensors", "wb") as f:
    ...     write(f)
    >>> with open("w.safetensors", "rb") as f:
    ...     _, entries, _ = read_header(f, size, "w.safetensors")
    ...     check_loadable(entries, "w.safetensors")
    ...     read_tensors(f, entries, "w.safetensors")
    {'w': array([1., 1., 1.], dtype=float32)}
"""
import json
import reprlib

import numpy as np

from .tensor import Tensor

# safetensors dtype name <-> NumPy dtype, for the dtypes NumPy holds natively (all little-endian on disk).
CODES = {"BOOL": "|b1", "U8": "|u1", "I8": "|i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "I32": "<i4",
         "U32": "<u4", "F32": "<f4", "F64": "<f8", "I64": "<i8", "U64": "<u8"}
NAME_OF = {np.dtype(v): k for k, v in CODES.items()}
# Dtypes minidl has no type for but holds exactly in a wider one: file dtype -> the dtype it loads as.
WIDEN = {"I8": np.int32, "I16": np.int32, "U16": np.int32, "U32": np.int64, "BF16": np.float32}
NATIVE = {"BOOL", "U8", "F16", "I32", "F32", "F64", "I64"}
ITEMSIZE = {**{k: np.dtype(v).itemsize for k, v in CODES.items()}, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
            "F8_E8M0": 1, "C64": 8, "C128": 16}
_REFUSED_WHY = {"U64": "its values may not fit minidl's int64",
                "C64": "minidl has no complex dtype", "C128": "minidl has no complex dtype"}
LOADABLE = "float16/32/64, int32/64, uint8, bool, and BF16, I8, I16, U16, U32 widened exactly"

MAX_HEADER = 16 << 20           # bytes of JSON header (about 100,000 tensors); json.loads needs ~10x that
MAX_DIMS = 64                   # NumPy's limit on the number of dimensions
CHUNK = 16 << 20                # tensor bytes move in pieces of this size

_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 120, 120, 8, 4


# ---------------------------------------------------------------- writing

def _host_array(name, value):
    """``value`` as a NumPy array of exactly its shape (0-d stays 0-d), C-contiguous, in a dtype safetensors has."""
    if isinstance(value, Tensor):
        value = value.numpy()
    elif hasattr(value, "get") and type(value).__module__.startswith("cupy"):
        value = value.get()
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(f"save: entry {name!r} is a {type(value).__name__}; only Tensors and arrays can be saved")
    value = np.asarray(value)
    if value.dtype not in NAME_OF and value.dtype.newbyteorder("<") not in NAME_OF:
        raise TypeError(f"save: entry {name!r} has dtype {value.dtype}, which safetensors cannot store "
                        f"(it stores bool, (u)int8-64, float16/32/64)")
    if value.dtype != value.dtype.newbyteorder("<"):       # the format is little-endian
        value = value.astype(value.dtype.newbyteorder("<"))
    return value if value.flags.c_contiguous else np.ascontiguousarray(value).reshape(value.shape)


def _check_metadata(metadata):
    if metadata is None:
        return None
    if not hasattr(metadata, "items"):
        raise TypeError(f"save: metadata must be a dict of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"save: metadata must be a dict of str to str; entry {k!r}: {v!r} is a "
                            f"{type(k).__name__} to {type(v).__name__}")
    return dict(metadata)


def _host_arrays(state_dict):
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved by the safetensors format; pass metadata= instead")
        arrays[name] = _host_array(name, value)
    return arrays


def _header_bytes(arrays, order, metadata):
    """The length-prefixed JSON header for ``arrays`` stored in ``order``, padded so the data starts 8-aligned."""
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    offsets = {}
    for name in order:
        offsets[name] = (offset, offset + arrays[name].nbytes)
        offset += arrays[name].nbytes
    for name, a in arrays.items():          # the header lists the tensors in the caller's order
        header[name] = {"dtype": NAME_OF[a.dtype], "shape": list(a.shape), "data_offsets": list(offsets[name])}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def writer(state_dict, metadata=None):
    """``(size, write)``: the safetensors file of a ``{name: Tensor or array}`` mapping as its size in bytes and a
    function ``write(f)`` that streams it to a binary file ``f`` (nothing is copied into one big buffer).

    Every entry and the ``{str: str}`` ``metadata`` are checked here, before anything is written (TypeError for a
    wrong type). Wider elements are stored first, so every tensor starts at a multiple of its element size.

    Example:
        >>> size, write = writer({"w": md.ones(2)}, metadata={"epoch": "3"})
    """
    if not hasattr(state_dict, "items"):
        raise TypeError(f"save: expected a mapping of names to tensors, got {type(state_dict).__name__}")
    metadata = _check_metadata(metadata)
    arrays = _host_arrays(state_dict)
    order = sorted(arrays, key=lambda n: -arrays[n].dtype.itemsize)
    head = _header_bytes(arrays, order, metadata)

    def write(f):
        f.write(head)
        for name in order:
            a = arrays[name]
            if a.size:
                f.write(a.reshape(-1).view(np.uint8).data)

    return len(head) + sum(a.nbytes for a in arrays.values()), write


# ---------------------------------------------------------------- reading

def _bad(source, why):
    return ValueError(f"{source} is not a valid safetensors file: {why}")


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {_REPR.repr(k)} appears twice in the header")
        out[k] = v
    return out


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63


def _check_entry(name, entry, source):
    """The (dtype, shape, begin, end) of one header entry, with every field checked."""
    what = f"tensor {_REPR.repr(name)}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _bad(source, f"{what} is not a {{dtype, shape, data_offsets}} record: {_REPR.repr(entry)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str):
        raise _bad(source, f"{what} has dtype {_REPR.repr(dtype)}, not a name")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_is_count(d) for d in shape):
        raise _bad(source, f"{what} has shape {_REPR.repr(shape)} (want at most {MAX_DIMS} sizes >= 0)")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets) \
            or offsets[0] > offsets[1]:
        raise _bad(source, f"{what} has data_offsets {_REPR.repr(offsets)} (want [begin, end], 0 <= begin <= end)")
    if dtype not in ITEMSIZE:
        raise ValueError(f"{source}: {what} has dtype {_REPR.repr(dtype)}, which minidl does not know "
                         f"(it loads {LOADABLE})")
    count = 1
    for d in shape:
        count *= d
    if count * ITEMSIZE[dtype] != offsets[1] - offsets[0]:
        raise _bad(source, f"{what} of shape {shape} and dtype {dtype} needs {count * ITEMSIZE[dtype]} bytes "
                           f"but its data_offsets {offsets} span {offsets[1] - offsets[0]}")
    return dtype, tuple(shape), offsets[0], offsets[1]


def _check_layout(entries, data_size, source):
    """The tensors must tile the data area exactly (no gap, no overlap, nothing past the end), as safetensors
    requires."""
    end = 0
    for name, (_, _, begin, stop) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if begin != end:
            raise _bad(source, f"tensor {_REPR.repr(name)} starts at byte {begin} of the data but the one before "
                               f"ends at {end} (tensors must follow each other without gaps or overlaps)")
        end = stop
    if end != data_size:
        raise _bad(source, f"the tensors cover {end} bytes of data but the file holds {data_size} "
                           "(truncated, or trailing bytes)")


def read_header(f, size, source):
    """Read and check the header of a safetensors stream ``f`` of ``size`` bytes, positioned at its start:
    ``(metadata, {name: (dtype, shape, begin, end)}, data_start)``, with ``f`` left at the first tensor.

    Every entry is checked (known dtype, at most 64 sizes, offsets that match dtype and shape) and the tensors
    must tile the data exactly, so no later read can go past ``size``; the header may be at most ``MAX_HEADER``
    bytes. Loadability of the dtypes is :func:`check_loadable`'s job.

    Example:
        >>> with open("m.safetensors", "rb") as f:
        ...     metadata, entries, start = read_header(f, os.fstat(f.fileno()).st_size, "load: m.safetensors")
    """
    if size < 8:
        raise _bad(source, f"it has {size} bytes, fewer than the 8 of the header length")
    raw = f.read(8)
    if len(raw) != 8:
        raise _bad(source, "it ends inside the header length")
    n = int.from_bytes(raw, "little")
    if n > size - 8 or n > MAX_HEADER:
        raise _bad(source, f"the header claims {n} bytes but the file holds {size - 8} after the length "
                           f"(and at most {MAX_HEADER} are allowed)")
    text = f.read(n)
    if len(text) != n:
        raise _bad(source, f"it ends inside the {n}-byte header")
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(source, f"the header is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(header, dict):
        raise _bad(source, f"the header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (not isinstance(metadata, dict)
                                 or not all(isinstance(v, str) for v in metadata.values())):
        raise _bad(source, f"__metadata__ is not an object of strings: {_REPR.repr(metadata)}")
    entries = {name: _check_entry(name, entry, source) for name, entry in header.items()}
    _check_layout(entries, size - 8 - n, source)
    return metadata or {}, entries, 8 + n


def check_loadable(entries, source):
    """Refuse (ValueError naming ``source``, the tensor and its dtype) a header holding a dtype minidl cannot load
    exactly: F8, complex, U64."""
    for name, (dtype, _, _, _) in entries.items():
        if dtype in NATIVE or dtype in WIDEN:
            continue
        why = _REFUSED_WHY.get(dtype, "minidl has no 8-bit float type")
        raise ValueError(f"{source}: tensor {_REPR.repr(name)} has dtype {dtype}, which minidl cannot load "
                         f"({why}; it loads {LOADABLE})")


def _fill(f, buf, name, source):
    """Fill the uint8 array ``buf`` from ``f`` in chunks of at most CHUNK bytes."""
    pos, n = 0, len(buf)
    while pos < n:
        got = f.readinto(buf[pos:pos + CHUNK])
        if not got:
            raise _bad(source, f"it ends inside tensor {_REPR.repr(name)}: {n - pos} of its {n} bytes are missing "
                               "(truncated, or changed while loading)")
        pos += got


def _skip(f, n, name, source):
    """Read past ``n`` bytes of ``f`` (a zip member cannot seek without reading), a chunk at a time."""
    while n:
        got = len(f.read(min(n, CHUNK)))
        if not got:
            raise _bad(source, f"it ends inside tensor {_REPR.repr(name)} (truncated, or changed while loading)")
        n -= got


def _read_tensor(f, name, entry, source):
    """Read one checked entry from ``f``'s position straight into a new array of minidl's dtype for it."""
    dtype, shape, _, _ = entry
    try:
        arr = np.empty(shape, np.dtype("<u2") if dtype == "BF16" else np.dtype(CODES[dtype]))
    except (ValueError, MemoryError, OverflowError) as exc:
        raise _bad(source, f"tensor {_REPR.repr(name)} of shape {list(shape)} cannot be allocated ({exc})") from None
    _fill(f, arr.reshape(-1).view(np.uint8), name, source)
    if not arr.dtype.isnative:          # big-endian hosts
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if dtype == "BF16":                 # bfloat16 is the top half of a float32: widening is exact
        wide = arr.astype(np.uint32)
        del arr
        np.left_shift(wide, 16, out=wide)
        return wide.view(np.float32)
    return arr if dtype in NATIVE else arr.astype(WIDEN[dtype])


def read_tensors(f, entries, source, names=None):
    """``{name: ndarray}`` (in the header's order) of the tensors of ``entries`` (from :func:`read_header`, checked
    by :func:`check_loadable`), read from ``f`` positioned at the first tensor; those not in ``names`` (when
    given) are read past, not kept.

    The stream is read front to back, each tensor straight into its own array in chunks, so the memory needed
    is the kept data's size (up to 4x for widened dtypes), and ``f`` may be any binary stream (a zip member
    too). The stream must end after the last tensor (reading that far also makes a zip member check its CRC).
    """
    arrays = {}
    for name in sorted(entries, key=lambda n: entries[n][2]):
        _, _, begin, end = entries[name]
        if names is None or name in names:
            arrays[name] = _read_tensor(f, name, entries[name], source)
        else:
            _skip(f, end - begin, name, source)
    if f.read(1):
        raise _bad(source, "bytes follow the last tensor (did it change while loading?)")
    return {name: arrays[name] for name in entries if name in arrays}
