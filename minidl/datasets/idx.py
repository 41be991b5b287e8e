"""Reader of the IDX format (MNIST's): a magic number, big-endian dimensions, then the raw values.

Every check names the file, so a corrupt or truncated download is a clear error, never a bad array.
"""
import gzip
import struct
import zlib

import numpy as np

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx_bytes(raw, name="<bytes>", ndim=None, shape=None):
    """Parse IDX ``raw`` bytes into an array; ``ndim``/``shape`` (``None`` entries are free) are checked."""
    if len(raw) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(raw)} bytes, shorter than the 4-byte magic number")
    zero, code, nd = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _TYPES:
        raise ValueError(f"{name}: not an IDX file: bad magic number 0x{raw[:4].hex()} (expected 0x0000 then a "
                         f"type code in {sorted(hex(c) for c in _TYPES)} and a dimension count)")
    if ndim is not None and nd != ndim:
        raise ValueError(f"{name}: expected an IDX file with {ndim} dimension(s), this one has {nd}")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(raw)} bytes, the {nd} dimensions need {header})")
    dims = struct.unpack(f">{nd}I", raw[4:header])
    if shape is not None and any(s is not None and s != d for s, d in zip(shape, dims)):
        raise ValueError(f"{name}: IDX dimensions {dims} do not match the expected {tuple(shape)}")
    dtype = np.dtype(_TYPES[code])
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - header
    if have != need:
        what = "truncated" if have < need else "has trailing bytes"
        raise ValueError(f"{name}: IDX data {what}: dimensions {dims} need {need} bytes of data, found {have}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path, ndim=None, shape=None):
    """Read an IDX file, gzipped (``.gz``) or not.

    Example:
        >>> x = read_idx("train-images-idx3-ubyte.gz", ndim=3)    # (60000, 28, 28) uint8
    """
    try:
        if str(path).endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot decompress ({type(exc).__name__}: {exc}); the file is corrupt or "
                         "truncated: delete it and download it again") from exc
    return read_idx_bytes(raw, str(path), ndim, shape)
