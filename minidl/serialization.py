"""``md.save`` / ``md.load``: state dicts in the safetensors format, written atomically.

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

Loading never executes code: the header is JSON, the rest is raw numbers.
"""
import os
import re
import socket
import tempfile

from ._safetensors import check_loadable, read_header, read_tensors, writer
from .tensor import Tensor

_TMP_PREFIX = ".minidl-save-"
_TMP_RE = re.compile(r"^\.minidl-save-(\d+)@(.*)-[A-Za-z0-9_]+\.tmp$")


# ---------------------------------------------------------------- saving

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
    _, write = writer(state_dict, metadata)
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
    source = f"load: {path}"
    with f:
        _, entries, _ = read_header(f, os.fstat(f.fileno()).st_size, source)
        check_loadable(entries, source)         # every dtype, before any tensor is allocated
        arrays = read_tensors(f, entries, source)
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
        metadata, _, _ = read_header(f, os.fstat(f.fileno()).st_size, f"load: {path}")
    return metadata
