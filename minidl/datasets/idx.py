"""Reader of the IDX format (MNIST's): a magic number, big-endian dimensions, then the raw values.

Every check names the file, so a corrupt or truncated download is a clear error, never a bad array. The
header is checked before any data is kept: dimensions multiply as Python ints (no wrap-around), their size
must stay under ``max_bytes``, and the data is read in chunks into an array of exactly the declared size, so
a small file with a forged header cannot make the reader allocate more than the data it really holds.
"""
import gzip
import os
import struct
import zlib
from math import prod

import numpy as np

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# The largest IDX data read by default (MNIST's training images: 47 MB; EMNIST ByClass: 547 MB).
MAX_BYTES = 2 << 30
# Compressed data declaring more than this is first decompressed without being kept, to check its length.
_PRECHECK_BYTES = 64 << 20
_CHUNK = 1 << 20


def _magic(head, name, ndim):
    """(dtype, number of dimensions) from the first 4 bytes."""
    if len(head) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(head)} bytes, shorter than the 4-byte magic number")
    zero, code, nd = struct.unpack(">HBB", head[:4])
    if zero != 0 or code not in _TYPES:
        raise ValueError(f"{name}: not an IDX file: bad magic number 0x{head[:4].hex()} (expected 0x0000 then a "
                         f"type code in {sorted(hex(c) for c in _TYPES)} and a dimension count)")
    if ndim is not None and nd != ndim:
        raise ValueError(f"{name}: expected an IDX file with {ndim} dimension(s), this one has {nd}")
    return np.dtype(_TYPES[code]), nd


def _dims(raw, nd, name, shape, dtype, max_bytes):
    """The dimensions from their 4*nd header bytes; returns (dims, data bytes they need)."""
    if len(raw) < 4 * nd:
        raise ValueError(f"{name}: truncated IDX header ({4 + len(raw)} bytes, the {nd} dimensions need "
                         f"{4 + 4 * nd})")
    dims = struct.unpack(f">{nd}I", raw[:4 * nd])
    if shape is not None and any(s is not None and s != d for s, d in zip(shape, dims)):
        raise ValueError(f"{name}: IDX dimensions {dims} do not match the expected {tuple(shape)}")
    need = prod(dims) * dtype.itemsize           # Python ints: no wrap-around to a small number
    if need > max_bytes:
        raise ValueError(f"{name}: IDX dimensions {dims} declare {need} bytes of {dtype}, over the limit of "
                         f"{max_bytes} bytes (max_bytes=)")
    return dims, need


def _size_error(name, dims, need, have):
    what = "truncated" if have < need else "has trailing bytes"
    return ValueError(f"{name}: IDX data {what}: dimensions {dims} need {need} bytes of data, found "
                      f"{have if have <= need else 'more'}")


def _native(flat, dtype, dims):
    return flat.view(dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def read_idx_bytes(raw, name="<bytes>", ndim=None, shape=None, max_bytes=MAX_BYTES):
    """Parse IDX ``raw`` bytes into an array; ``ndim``/``shape`` (``None`` entries are free) are checked.

    Example:
        >>> read_idx_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])).tolist()
        [7, 9]
    """
    dtype, nd = _magic(raw[:4], name, ndim)
    dims, need = _dims(raw[4:], nd, name, shape, dtype, max_bytes)
    have = len(raw) - 4 - 4 * nd
    if have != need:
        raise _size_error(name, dims, need, have)
    return _native(np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).copy(), dtype, dims)


def _read_data(f, name, dims, need):
    """Exactly ``need`` bytes from ``f`` into a fresh array, checking nothing follows them."""
    out = np.empty(need, dtype=np.uint8)
    view, done = memoryview(out), 0
    while done < need:
        n = f.readinto(view[done:done + _CHUNK])
        if not n:
            raise _size_error(name, dims, need, done)
        done += n
    if f.read(1):
        raise _size_error(name, dims, need, need + 1)
    return out


def _stream_length(path, offset, limit):
    """Bytes of decompressed data after ``offset`` in the gzip file ``path``, counting at most ``limit``."""
    got = 0
    with gzip.open(path, "rb") as f:
        f.read(offset)
        while got < limit:
            chunk = f.read(min(_CHUNK, limit - got))
            if not chunk:
                break
            got += len(chunk)
    return got


def _read(path, name, ndim, shape, max_bytes):
    gz = str(path).endswith(".gz")
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        dtype, nd = _magic(f.read(4), name, ndim)
        dims, need = _dims(f.read(4 * nd), nd, name, shape, dtype, max_bytes)
        offset = 4 + 4 * nd
        if not gz:
            have = os.fstat(f.fileno()).st_size - offset
            if have != need:
                raise _size_error(name, dims, need, have)
        elif need > _PRECHECK_BYTES:
            have = _stream_length(path, offset, need + 1)
            if have != need:
                raise _size_error(name, dims, need, have)
        return _native(_read_data(f, name, dims, need), dtype, dims)


def read_idx(path, ndim=None, shape=None, max_bytes=MAX_BYTES):
    """Read an IDX file, gzipped (``.gz``) or not; data over ``max_bytes`` (default 2 GiB) is refused.

    A damaged file is a ``ValueError`` naming it; a missing one a ``FileNotFoundError``.

    Example:
        >>> x = read_idx("train-images-idx3-ubyte.gz", ndim=3)    # (60000, 28, 28) uint8
    """
    try:
        return _read(path, str(path), ndim, shape, max_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(f"{path}: cannot decompress ({type(exc).__name__}: {exc}); the file is corrupt or "
                         "truncated: delete it and download it again") from exc
