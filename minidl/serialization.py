"""``md.save`` / ``md.load``: checkpoints in the safetensors format, written atomically; PyTorch's ``.pt`` files read.

safetensors (https://github.com/huggingface/safetensors) is a plain, safe container: an 8-byte
little-endian header length, a JSON header of names, dtypes, shapes and byte offsets, then the raw
bytes. Other tools (PyTorch, JAX, NumPy) read the files minidl writes, and minidl reads theirs.

minidl reads and writes the format itself (``minidl._safetensors``, which md.keras' weights use too; no
extra package needed), so that it can:

* keep every shape exactly (0-d tensors such as BatchNorm's ``num_batches_tracked`` included);
* stream tensors to disk and read each one straight into its own array: loading needs about the
  file's size in memory, and every size in the header is checked against the file's real size
  before anything is allocated;
* load the dtypes minidl lacks when it can do so exactly (BF16 -> float32, small integers widened)
  and refuse the others (F8, complex, U64) with a ``ValueError`` naming the file, tensor and dtype.

A state dict is stored as a plain safetensors file. Anything else PyTorch users save -- nested dicts, lists and
tuples of tensors, NumPy arrays, numbers, strings (a whole training checkpoint) -- is stored the same way, its
tensors as entries and the rest as a JSON tree in the header (``minidl._checkpoint``). ``md.load`` also reads
PyTorch's own ``torch.save`` zip files without PyTorch (``minidl._torch_zip``: tensors, parameters, containers
and primitives only). Loading never executes code: the header is JSON, the rest is raw numbers, and a PyTorch
pickle may name only the globals of a fixed table of minidl's own builders.
"""
import os
import re
import socket
import tempfile

import io

from . import _checkpoint, _torch_zip
from ._safetensors import check_loadable, read_header, read_tensors, writer
from .device import Device
from .tensor import Tensor

_TMP_PREFIX = ".minidl-save-"
_TMP_RE = re.compile(r"^\.minidl-save-(\d+)@(.*)-[A-Za-z0-9_]+\.tmp$")


# ---------------------------------------------------------------- saving

def save(obj, f, metadata=None):
    """Write a state dict, or a whole checkpoint, to ``f`` (a path, or a binary file object) in the safetensors format.

    ``obj`` is a ``{name: Tensor or array}`` mapping (written as a plain safetensors file that other readers, such as
    ``safetensors.torch.load_file``, read too), or what PyTorch users pass to ``torch.save``: dicts (any plain
    keys), lists and tuples nesting tensors, parameters, NumPy arrays, numbers, strings, None, dtypes and devices.
    Shapes, dtypes, values, ``requires_grad`` and the nesting round-trip exactly through :func:`load` (0-d tensors
    included); a tensor that appears twice is stored once. A whole Module, an optimizer or any other object is
    pickled into the file (``md.save(model, path)``, as ``torch.save``), and :func:`load` unpickles it only with
    ``weights_only=False``; an object that cannot be pickled is a TypeError naming it. ``metadata`` is an optional
    ``{str: str}`` dict stored in the header; read it back with :func:`load_metadata`.

    To a path the write is atomic (see :func:`atomic_write`): a crash or kill mid-save leaves the old file (or
    none), never a half-written one; a symlink at ``path`` is written through (the link stays, its target gets
    the new data); a new file gets the mode ``0o666 & ~umask`` and an existing one keeps its mode. To a file object
    the bytes are written at its position, and atomicity is the caller's.

    Example:
        >>> md.save(model.state_dict(), "model.safetensors", metadata={"epoch": "3"})
        >>> model.load_state_dict(md.load("model.safetensors"))
        >>> md.save({"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict()}, "ckpt.pt")
        >>> md.load("ckpt.pt")["epoch"]
        3
    """
    if metadata is not None and _checkpoint.STRUCTURE_KEY in metadata:
        raise ValueError(f"save: the metadata key {_checkpoint.STRUCTURE_KEY!r} is reserved for the checkpoint "
                         "structure")
    if _checkpoint.is_flat(obj):
        _, write = writer(obj, metadata)
    else:
        arrays, tree = _checkpoint.flatten(obj)
        _, write = writer(arrays, {**(metadata or {}), _checkpoint.STRUCTURE_KEY: tree})
    if hasattr(f, "write"):
        write(f)
    else:
        _atomic_write(f, write)


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

def _open(f):
    """``(name, binary file, whether to close it)`` for a path or a file object; a file object that cannot seek is
    read into memory."""
    if hasattr(f, "read"):
        name = getattr(f, "name", None)
        name = name if isinstance(name, str) else f"<{type(f).__name__}>"
        seekable = getattr(f, "seekable", lambda: False)()
        return name, (f if seekable else io.BytesIO(f.read())), False
    path = os.fspath(f)
    return path, open(path, "rb"), True


def _target_device(op, device, map_location):
    """map_location (PyTorch's spelling: a device or its string) wins over ``device``; functions and dicts are
    refused."""
    where = device if map_location is None else map_location
    if callable(where) or isinstance(where, dict):
        raise TypeError(f"{op}: map_location as a function or a dict is not supported; give a device such as 'cpu'")
    return str(Device(where))


def load(f, device="cpu", map_location=None, weights_only=None):
    """Read what :func:`save` wrote -- or a PyTorch ``torch.save`` file -- from ``f`` (a path or a binary file object).

    A plain safetensors file comes back as a ``{name: Tensor}`` dict (in the file's order); a checkpoint saved as
    a nested object comes back as that object (tensors as Tensors, parameters as Parameters, NumPy arrays as arrays).
    A ``.pt``/``.pth`` file written by ``torch.save`` (its zip format) is read without PyTorch: tensors (float64,
    float32, float16, bfloat16 widened to float32, int64, int32, int16, int8, uint8, bool), parameters, dicts,
    OrderedDicts, lists, tuples, numbers, strings, ``torch.Size``, dtypes, devices and NumPy arrays; anything else
    in it (a pickled Module, a custom class) is refused with a ValueError naming that global. A minidl checkpoint
    holding a pickled object (``md.save(model)``) is unpickled only with ``weights_only=False``, which runs code the
    file names (trusted files only, as PyTorch); otherwise ``pickle.UnpicklingError`` names the object. The legacy
    non-zip ``torch.save`` format is refused. ``map_location`` (a device or its string) is PyTorch's name for
    ``device``.

    Dtypes minidl lacks are widened when that is exact (BF16 -> float32; int8, int16, uint16 -> int32; uint32 ->
    int64); F8, complex and uint64 tensors are refused with a ``ValueError`` naming the file, the tensor and the
    dtype. Loading never allocates more than the file's real size allows: a missing file raises
    FileNotFoundError; a truncated, corrupt or inconsistent one raises ValueError naming it.

    Example:
        >>> state = md.load("model.safetensors"); sorted(state)[:2]
        ['classifier.1.bias', 'classifier.1.weight']
        >>> model.load_state_dict(md.load("resnet_from_pytorch.pth", map_location="cpu"))
    """
    if weights_only not in (None, True, False):
        raise TypeError(f"load: weights_only must be True, False or None, got {weights_only!r}")
    device = _target_device("load", device, map_location)
    name, fh, owned = _open(f)
    source = f"load: {name}"
    try:
        start = fh.tell()
        head = fh.read(4)
        fh.seek(start)
        if _torch_zip.is_torch_zip(head):
            return _load_torch(fh, source, device)
        if head == b"\x80\x02\x8a\x0a":         # pickle protocol 2, then the legacy format's magic number
            raise ValueError(f"{source}: a legacy (non-zip) torch.save file, which minidl does not read; re-save it "
                             "with a current PyTorch (torch.save's default zip format) or as safetensors")
        size = fh.seek(0, os.SEEK_END) - start
        fh.seek(start)
        metadata, entries, _ = read_header(fh, size, source)
        check_loadable(entries, source)         # every dtype, before any tensor is allocated
        arrays = read_tensors(fh, entries, source)
    finally:
        if owned:
            fh.close()
    out = {}
    for key in list(arrays):
        t = Tensor._wrap(arrays.pop(key))      # each array is fresh, writable memory of its own
        out[key] = t if device == "cpu" else t.to(device)
    structure = metadata.get(_checkpoint.STRUCTURE_KEY)
    if structure is None:
        return out
    obj = _checkpoint.unflatten(structure, out, source, allow_pickle=weights_only is False)
    return obj.to(device) if device != "cpu" and hasattr(obj, "to") and not isinstance(obj, Tensor) else obj


def _load_torch(fh, source, device):
    from .nn.parameter import Parameter  # noqa: PLC0415 -- nn imports this module

    def make_tensor(stub):
        t = Tensor._wrap(stub.array)
        if device != "cpu":
            t = t.to(device)
        if stub.parameter:
            return Parameter(t, requires_grad=stub.requires_grad)
        return t.requires_grad_(True) if stub.requires_grad and t.dtype.is_floating_point else t

    try:
        return _torch_zip.load_torch_zip(fh, make_tensor)
    except _torch_zip.Refused as exc:
        raise ValueError(f"{source}: refused as a PyTorch checkpoint: {exc}") from None


def load_metadata(path):
    """The ``{str: str}`` metadata stored in a safetensors file's header (``md.save(..., metadata=...)``);
    ``{}`` when it has none. Only the header is read (and checked).

    Example:
        >>> md.save(model.state_dict(), "m.safetensors", metadata={"epoch": "3"})
        >>> md.serialization.load_metadata("m.safetensors")
        {'epoch': '3'}
    """
    name, fh, owned = _open(path)
    try:
        start = fh.tell()
        size = fh.seek(0, os.SEEK_END) - start
        fh.seek(start)
        metadata, _, _ = read_header(fh, size, f"load: {name}")
    finally:
        if owned:
            fh.close()
    return {k: v for k, v in metadata.items() if k != _checkpoint.STRUCTURE_KEY}


# --- issue 16 (word-language-model example): PyTorch's allow-list for weights-only loads of pickled objects ---
from ._weights_only import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals  # noqa: E402,F401
