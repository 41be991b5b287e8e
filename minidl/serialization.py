"""``md.save`` / ``md.load``: state dicts in the safetensors format, written atomically.

safetensors (https://github.com/huggingface/safetensors) is a plain, safe container: an 8-byte
little-endian header length, a JSON header of names, dtypes, shapes and byte offsets, then the raw
bytes. Other tools (PyTorch, JAX, NumPy) read the files minidl writes, and minidl reads theirs.

minidl reads and writes the format itself (no extra package needed), so that it can:

* keep every shape exactly (0-d tensors such as BatchNorm's ``num_batches_tracked`` included);
* stream tensors to disk and read each one straight into its own array: loading needs about the
  file's size in memory, and every size in the header is checked against the file's real size
  before anything is allocated;
* load the dtypes minidl lacks when it can do so exactly (BF16 -> float32, small integers widened)
  and refuse the others (F8, complex, U64) with a ``ValueError`` naming the file, tensor and dtype.

Loading never executes code: the header is JSON, the rest is raw numbers.
"""
import json
import os
import re
import reprlib
import socket
import tempfile

import numpy as np

from .tensor import Tensor

_EXTRA = 'this needs the safetensors package: pip install "minidl[train]" (or pip install safetensors)'

# safetensors dtype name <-> NumPy dtype, for the dtypes NumPy holds natively (all little-endian on disk).
_CODES = {"BOOL": "|b1", "U8": "|u1", "I8": "|i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "I32": "<i4",
          "U32": "<u4", "F32": "<f4", "F64": "<f8", "I64": "<i8", "U64": "<u8"}
_NAME_OF = {np.dtype(v): k for k, v in _CODES.items()}
# Dtypes minidl has no type for but holds exactly in a wider one: file dtype -> the dtype it loads as.
_WIDEN = {"I8": np.int32, "I16": np.int32, "U16": np.int32, "U32": np.int64, "BF16": np.float32}
_NATIVE = {"BOOL", "U8", "F16", "I32", "F32", "F64", "I64"}
_ITEMSIZE = {**{k: np.dtype(v).itemsize for k, v in _CODES.items()}, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
             "F8_E8M0": 1, "C64": 8, "C128": 16}
_REFUSED_WHY = {"U64": "its values may not fit minidl's int64",
                "C64": "minidl has no complex dtype", "C128": "minidl has no complex dtype"}
_LOADABLE = "float16/32/64, int32/64, uint8, bool, and BF16, I8, I16, U16, U32 widened exactly"

_MAX_HEADER = 100 * 2**20        # the safetensors library's own limit on the JSON header
_MAX_DIMS = 64                  # NumPy's limit on the number of dimensions
_TMP_PREFIX = ".minidl-save-"
_TMP_RE = re.compile(r"^\.minidl-save-(\d+)@(.*)-[A-Za-z0-9_]+\.tmp$")


def _safetensors():
    """The safetensors library (md.keras' model files use it; md.save/md.load do not), or an ImportError saying
    how to install it."""
    try:
        from safetensors import numpy as st  # noqa: PLC0415 -- optional dependency
        from safetensors import SafetensorError  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(_EXTRA) from exc
    return st, SafetensorError


# ---------------------------------------------------------------- saving

def _host_array(name, value):
    """``value`` as a NumPy array of exactly its shape (0-d stays 0-d), C-contiguous, in a dtype safetensors has."""
    if isinstance(value, Tensor):
        value = value.numpy()
    elif hasattr(value, "get") and type(value).__module__.startswith("cupy"):
        value = value.get()
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(f"save: entry {name!r} is a {type(value).__name__}; only Tensors and arrays can be saved")
    value = np.asarray(value)
    if value.dtype not in _NAME_OF and value.dtype.newbyteorder("<") not in _NAME_OF:
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
        header[name] = {"dtype": _NAME_OF[a.dtype], "shape": list(a.shape), "data_offsets": list(offsets[name])}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def save(state_dict, path, metadata=None):
    """Write a ``{name: Tensor or array}`` mapping to ``path`` in the safetensors format.

    Shapes, dtypes and values round-trip exactly through :func:`load` (0-d tensors included), and
    other safetensors readers (PyTorch's ``safetensors.torch.load_file``) read the file too.
    ``metadata`` is an optional ``{str: str}`` dict stored in the header; read it back with
    :func:`load_metadata`.

    The write is atomic (see :func:`atomic_write`): a crash or kill mid-save leaves the old file (or
    none), never a half-written one; a symlink at ``path`` is written through (the link stays, its
    target gets the new data); a new file gets the mode ``0o666 & ~umask`` and an existing one keeps
    its mode.

    Example:
        >>> md.save(model.state_dict(), "model.safetensors", metadata={"epoch": "3"})
        >>> model.load_state_dict(md.load("model.safetensors"))
    """
    if not hasattr(state_dict, "items"):
        raise TypeError(f"save: expected a mapping of names to tensors, got {type(state_dict).__name__}")
    metadata = _check_metadata(metadata)
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved by the safetensors format; pass metadata= instead")
        arrays[name] = _host_array(name, value)
    # wider elements first, so that every tensor starts at a multiple of its element size (as safetensors does)
    order = sorted(arrays, key=lambda n: -arrays[n].dtype.itemsize)
    head = _header_bytes(arrays, order, metadata)

    def write(f):
        f.write(head)
        for name in order:
            a = arrays[name]
            if a.size:
                f.write(a.reshape(-1).view(np.uint8).data)

    _atomic_write(path, write)


# ---------------------------------------------------------------- atomic writes

def _proc_umask():
    """The process umask from /proc/self/status (Linux >= 4.7), read without changing it; None elsewhere."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _import_umask():
    mask = _proc_umask()
    if mask is None:                    # no /proc: read it once here, at import, never while saving
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _import_umask()


def _new_file_mode():
    mask = _proc_umask()
    return 0o666 & ~(_UMASK_AT_IMPORT if mask is None else mask)


def _host_tag():
    """Where this process's pids mean something, as it appears in temporary file names: the host name (only
    [A-Za-z0-9.-] kept) and, on Linux, the pid namespace, since containers sharing a host name and a folder
    each number their processes apart."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"
    try:
        return f"{host}+{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return host


def _pid_is_dead(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):    # PermissionError: alive (another user's); else not a pid to judge
        return False
    return False


def _remove_stale_temporaries(folder):
    """Delete the temporary files that saves killed mid-write left in ``folder``: only files named
    ``.minidl-save-<pid>@<this host and pid namespace>-*.tmp`` whose writer process no longer exists. A live writer's
    file (this process's included), another host's, and every other file are left alone. Returns the
    removed paths."""
    removed, host, me = [], _host_tag(), os.getpid()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TMP_RE.match(entry.name)
        if match is None or match.group(2) != host:
            continue
        pid = int(match.group(1))
        try:
            if pid == me or not entry.is_file(follow_symlinks=False) or not _pid_is_dead(pid):
                continue
            os.unlink(entry.path)
            removed.append(entry.path)
        except OSError:                 # gone already, or not ours to remove: never fail a save over it
            continue
    return removed


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)                    # make the rename itself durable
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path, write):
    """Call ``write(f)`` on a temporary file beside ``path``'s final target, then rename it over the target."""
    path = os.fspath(path)
    target = os.path.realpath(path)             # write through symlinks: the link stays, its target is replaced
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise IsADirectoryError(f"save: {path} is a directory")
    _remove_stale_temporaries(folder)
    try:
        mode = os.stat(target).st_mode & 0o777     # overwriting keeps the file's mode, as open(path, "w") does
    except OSError:
        mode = _new_file_mode()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}@{_host_tag()}-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise type(exc)(exc.errno, f"save: cannot write {path} ({exc.strerror})", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), mode)         # mkstemp makes it 0600
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def atomic_write(path, blob):
    """Write ``blob`` (bytes) to ``path`` through a temporary file in the same folder renamed over it when
    complete, so a crash never leaves a half-written file.

    A symlink at ``path`` is written through (its target is replaced atomically, the link stays; a
    dangling link gets its target created). A new file gets the mode ``0o666 & ~umask`` (read without
    changing the process umask), an existing one keeps its mode. Temporary files left by writers that
    were killed (named with their pid and host) are removed from the folder on the next write.

    Example:
        >>> atomic_write("config.json", b"{}")
    """
    _atomic_write(path, lambda f: f.write(blob))


# ---------------------------------------------------------------- loading

_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 120, 120, 8, 4


def _bad(source, why):
    return ValueError(f"load: {source} is not a valid safetensors file: {why}")


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
    if not isinstance(shape, list) or len(shape) > _MAX_DIMS or not all(_is_count(d) for d in shape):
        raise _bad(source, f"{what} has shape {_REPR.repr(shape)} (want at most {_MAX_DIMS} sizes >= 0)")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets) \
            or offsets[0] > offsets[1]:
        raise _bad(source, f"{what} has data_offsets {_REPR.repr(offsets)} (want [begin, end], 0 <= begin <= end)")
    if dtype not in _ITEMSIZE:
        raise ValueError(f"load: {source}: {what} has dtype {_REPR.repr(dtype)}, which minidl does not know "
                         f"(it loads {_LOADABLE})")
    count = 1
    for d in shape:
        count *= d
    if count * _ITEMSIZE[dtype] != offsets[1] - offsets[0]:
        raise _bad(source, f"{what} of shape {shape} and dtype {dtype} needs {count * _ITEMSIZE[dtype]} bytes "
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


def _read_header(f, size, source):
    """Parse and check the header of a safetensors stream of ``size`` bytes: (metadata, {name: entry}, data_start)."""
    if size < 8:
        raise _bad(source, f"it has {size} bytes, fewer than the 8 of the header length")
    raw = f.read(8)
    if len(raw) != 8:
        raise _bad(source, "it ends inside the header length")
    n = int.from_bytes(raw, "little")
    if n > size - 8 or n > _MAX_HEADER:
        raise _bad(source, f"the header claims {n} bytes but the file holds {size - 8} after the length "
                           f"(and at most {_MAX_HEADER} are allowed)")
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


def _check_loadable(name, dtype, source):
    if dtype in _NATIVE or dtype in _WIDEN:
        return
    why = _REFUSED_WHY.get(dtype, "minidl has no 8-bit float type")
    raise ValueError(f"load: {source}: tensor {_REPR.repr(name)} has dtype {dtype}, which minidl cannot load "
                     f"({why}; it loads {_LOADABLE})")


def _read_tensor(f, name, entry, start, source):
    """Read one checked entry straight from ``f`` into a new array of minidl's dtype for it."""
    dtype, shape, begin, stop = entry
    try:
        arr = np.empty(shape, np.dtype("<u2") if dtype == "BF16" else np.dtype(_CODES[dtype]))
    except (ValueError, MemoryError, OverflowError) as exc:
        raise _bad(source, f"tensor {_REPR.repr(name)} of shape {list(shape)} cannot be allocated ({exc})") from None
    if stop > begin:
        f.seek(start + begin)
        got = f.readinto(arr.reshape(-1).view(np.uint8))
        if got != stop - begin:
            raise _bad(source, f"it ended while reading tensor {_REPR.repr(name)} (did it change meanwhile?)")
    if not arr.dtype.isnative:          # big-endian hosts
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if dtype == "BF16":                 # bfloat16 is the top half of a float32: widening is exact
        wide = arr.astype(np.uint32)
        del arr
        np.left_shift(wide, 16, out=wide)
        return wide.view(np.float32)
    return arr if dtype in _NATIVE else arr.astype(_WIDEN[dtype])


def _read_arrays(f, size, source):
    """``{name: ndarray}`` (in the header's order) from a binary stream ``f`` of ``size`` bytes positioned at 0.

    Every size in the header is checked against ``size`` and every dtype against what minidl can
    load before anything is allocated; then each tensor is read straight into its own array, so the
    memory needed is the data's size (up to 4x for widened dtypes). Any defect is a ValueError naming
    ``source``. (md.keras can read its zip member through this too.)
    """
    _, entries, start = _read_header(f, size, source)
    for name, entry in entries.items():
        _check_loadable(name, entry[0], source)
    by_offset = sorted(entries, key=lambda n: entries[n][2])        # read front to back
    arrays = {name: _read_tensor(f, name, entries[name], start, source) for name in by_offset}
    return {name: arrays[name] for name in entries}


def _open(path):
    path = os.fspath(path)
    return path, open(path, "rb")


def load(path, device="cpu"):
    """Read a safetensors file into a ``{name: Tensor}`` dict (in the file's order), on ``device``.

    Shapes round-trip exactly. Dtypes minidl lacks are widened when that is exact (BF16 -> float32;
    int8, int16, uint16 -> int32; uint32 -> int64); F8, complex and uint64 tensors are refused with a
    ``ValueError`` naming the file, the tensor and the dtype. Loading never executes code from the
    file, and never allocates more than the file's real size allows: a missing file raises
    FileNotFoundError; a truncated, corrupt or inconsistent one raises ValueError naming it.

    Example:
        >>> state = md.load("model.safetensors"); sorted(state)[:2]
        ['classifier.1.bias', 'classifier.1.weight']
    """
    path, f = _open(path)
    with f:
        arrays = _read_arrays(f, os.fstat(f.fileno()).st_size, path)
    out = {}
    for name in list(arrays):
        t = Tensor._wrap(arrays.pop(name))      # each array is fresh, writable memory of its own
        out[name] = t if device == "cpu" else t.to(device)
    return out


def load_metadata(path):
    """The ``{str: str}`` metadata stored in a safetensors file's header (``md.save(..., metadata=...)``);
    ``{}`` when it has none. Only the header is read (and checked).

    Example:
        >>> md.save(model.state_dict(), "m.safetensors", metadata={"epoch": "3"})
        >>> md.serialization.load_metadata("m.safetensors")
        {'epoch': '3'}
    """
    path, f = _open(path)
    with f:
        metadata, _, _ = _read_header(f, os.fstat(f.fileno()).st_size, path)
    return metadata
