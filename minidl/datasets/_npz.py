"""Reading ``.npz`` data files without pickle's code execution and with bounded memory.

``np.load(allow_pickle=True)`` lets a file call any Python function while it loads. Keras' ``imdb.npz`` needs
pickle only for 1-D object arrays of int lists (the reviews), so ``_ListUnpickler`` interprets that one
pickle shape itself: a small opcode machine whose only "globals" are tokens for ``ndarray``, ``dtype``,
``_reconstruct`` and ``_codecs.encode``, each checked for the exact arguments ``np.save`` writes. Nothing in
the file is ever called. The bulk of the stream, the int lists themselves, is vetted by regular expressions
that admit only list, int and memo opcodes, then decoded by the C unpickler at NumPy's speed.
Plain arrays are read after their ``.npy`` header is checked against the member's real size, so a forged
shape cannot make the reader allocate more than the data it holds.
"""
import lzma
import pickle
import re
import struct
import tokenize
import zipfile
import zlib
from math import prod

import numpy as np
from numpy.lib import format as npy_format

# No data member minidl reads comes near this (Keras' mnist.npz x_train: 47 MB); it caps what a file may ask.
MAX_MEMBER_BYTES = 1 << 30
# Pickled int lists (Keras' imdb.npz members: about 16 MB each) come back as Python lists, which take up to
# ~40x the bytes of the stream (an empty list is 1 byte there, 64 in memory): 2.5 GB at this cap.
MAX_RAGGED_BYTES = 64 << 20
# Above this, a member is first decompressed without keeping it, so a short deflate stream is caught
# before the array it claims is allocated.
_PRECHECK_BYTES = 64 << 20
_CHUNK = 1 << 20
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError, NotImplementedError,
                zlib.error, lzma.LZMAError, struct.error, UnicodeDecodeError, OverflowError, ValueError,
                tokenize.TokenError)    # numpy parses old .npy headers with tokenize


class BadFile(ValueError):
    """Internal: a problem found while parsing; the caller adds the file name."""


def read_members(path, names, object_names=()):
    """Read the arrays ``names`` of the ``.npz`` at ``path``: ``{name: array}``.

    Members in ``object_names`` must be 1-D object arrays of int lists (Keras' ragged sequences) and come
    back as a list of those int lists. Every other member must be a plain numeric array. Any defect is a
    ``ValueError`` naming ``path``; a missing file stays ``FileNotFoundError``.

    Example:
        >>> arrays = read_members("mnist.npz", ("x_train", "y_train"))
    """
    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            found = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            missing = [n for n in names if n not in found]
            if missing:
                raise BadFile(f"missing array(s) {', '.join(missing)} (found {', '.join(sorted(found)) or 'none'})")
            return {n: _read_member(zf, zf.getinfo(found[n]), n, n in object_names) for n in names}
    except (FileNotFoundError, PermissionError):
        raise
    except BadFile as exc:
        raise ValueError(f"{path}: {exc}") from None
    except _READ_ERRORS as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc}); it is corrupt or "
                         "truncated") from exc


def _read_member(zf, info, name, ragged):
    limit = MAX_RAGGED_BYTES if ragged else MAX_MEMBER_BYTES
    if info.file_size > limit:
        raise BadFile(f"array {name} declares {info.file_size} bytes, over the {limit}-byte limit")
    if info.file_size > _PRECHECK_BYTES:
        _check_member_length(zf, info, name)
    with zf.open(info) as fp:
        shape, fortran, dtype = _read_header(fp, name)
        data_bytes = info.file_size - fp.tell()
        if ragged:
            if dtype != np.dtype(object) or len(shape) != 1:
                raise BadFile(f"array {name} should be a 1-D object array of int lists, got {dtype} {shape}")
            return _ListUnpickler(fp, name, data_bytes, shape[0]).load_rows()
        if dtype.kind not in "biuf" or dtype.hasobject:
            raise BadFile(f"array {name} has dtype {dtype}; expected a plain numeric array")
        need = prod(shape) * dtype.itemsize
        if need != data_bytes:
            raise BadFile(f"array {name}: its header declares shape {shape} of {dtype} ({need} bytes) but "
                          f"{data_bytes} bytes of data follow")
        out = np.empty(prod(shape), dtype=dtype)
        view = memoryview(out).cast("B")
        done = 0
        while done < need:
            n = fp.readinto(view[done:done + _CHUNK])
            if not n:
                raise BadFile(f"array {name} is truncated ({done} of {need} bytes)")
            done += n
        out = out.reshape(shape[::-1]).T if fortran else out.reshape(shape)
        return out.astype(dtype.newbyteorder("="), copy=False)


def _check_member_length(zf, info, name):
    """Decompress ``info`` once, keeping nothing, to check it holds the bytes it declares."""
    got = 0
    with zf.open(info) as fp:
        for chunk in iter(lambda: fp.read(_CHUNK), b""):
            got += len(chunk)
    if got != info.file_size:
        raise BadFile(f"array {name} declares {info.file_size} bytes but holds {got}")


def _read_header(fp, name):
    major, _ = npy_format.read_magic(fp)
    if major == 1:
        shape, fortran, dtype = npy_format.read_array_header_1_0(fp)
    elif major in (2, 3):
        shape, fortran, dtype = npy_format.read_array_header_2_0(fp)
    else:
        raise BadFile(f"array {name}: unsupported .npy format version {major}")
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise BadFile(f"array {name}: bad shape {shape} in its header")
    return tuple(shape), fortran, dtype


# ------------------------------------------------------------------ the restricted pickle interpreter
class _Token:
    """A stand-in for one allowed global; pickle data can name it but never call real code through it."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


_NDARRAY, _RECONSTRUCT, _DTYPE, _ENCODE = (_Token(n) for n in ("ndarray", "_reconstruct", "dtype", "encode"))
_GLOBALS = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _DTYPE, ("_codecs", "encode"): _ENCODE,
            ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT}
_MAX_STRING = 64            # the longest string a legitimate stream holds is a module name
_MAX_STACK = 1 << 16        # Pickler appends in batches of 1000
# Opcodes interpreted one by one (np.save's streams need a few per 1000 lists; the lists go at C speed):
# bounds the time a hostile stream can take to about a second.
_MAX_SLOW_OPS = 500_000
_MAX_MEMO = 4096            # memoized non-list objects (strings, tuples, tokens): a handful in real files
# BININT1, BININT2, BININT and LONG1 of up to 8 bytes (Python 2 wrote its longs so): ints within int64
_INT = rb"(?:K.|M..|J....|\x8a(?:\x00|\x01.|\x02..|\x03...|\x04....|\x05.{5}|\x06.{6}|\x07.{7}|\x08.{8}))"
# A memo store: MEMOIZE, BINPUT, or LONG_BINPUT below 2**20 (the C unpickler sizes its memo table by the index).
_MEMO = rb"(?:\x94|q.|r..[\x00-\x0f]\x00)"
_INT_LIST = rb"\]" + _MEMO + rb"?(?:\(" + _INT + rb"*e|" + _INT + rb"a)*"
_INT_LIST_RE = re.compile(_INT_LIST, re.S)
# One APPENDS batch of int lists (the Pickler's batches hold 1000 items), so one decode makes at most 1000 lists.
_INT_LISTS_RE = re.compile(rb"\((?:" + _INT_LIST + rb"){1,1000}e", re.S)


def _deframe(buf):
    """The stream without the FRAME headers protocol 4 puts every 64 KiB, so a batch of lists is contiguous.

    Frames hold whole opcodes and follow each other right after PROTO; whatever follows the last whole frame
    is kept as is (the interpreter also reads a FRAME as a no-op).
    """
    parts, pos = [buf[:2]], 2
    while buf[pos:pos + 1] == b"\x95" and pos + 9 <= len(buf):
        end = pos + 9 + int.from_bytes(buf[pos + 1:pos + 9], "little")
        if end > len(buf):
            break
        parts.append(buf[pos + 9:end])
        pos = end
    parts.append(buf[pos:])
    return b"".join(parts) if len(parts) > 2 else buf


class _List:
    """A pickled list: of ints (a review) or of int lists (the array's data), never both."""

    def __init__(self, items=None):
        self.items = [] if items is None else items
        self.rows = False              # holds lists
        self.used = False              # appended into another list already (sharing is refused)


class _Pending:
    """The object ``_reconstruct`` or ``dtype`` would have made, waiting for its BUILD state."""

    def __init__(self, kind):
        self.kind, self.state = kind, None


class _ListUnpickler:
    """Interpret the pickle of a 1-D object ndarray of int lists, as ``np.save`` writes it (protocols 2-5)."""

    def __init__(self, fp, name, size, rows):
        self.name, self.pos, self.rows = name, 0, rows
        if rows > size:                          # every list takes a byte at least
            self.fail(f"{rows} lists declared in {size} bytes")
        self.buf = fp.read(size)                 # at most MAX_RAGGED_BYTES
        if len(self.buf) != size:
            self.fail("the pickle stream is truncated")
        self.buf = _deframe(self.buf)
        self.stack, self.marks, self.memo, self.memo_len = [], [], {}, 0

    def fail(self, why):
        raise BadFile(f"array {self.name}: {why} (only 1-D object arrays of int lists are read; nothing in the "
                      "file is executed)")

    def read(self, n):
        data = self.buf[self.pos:self.pos + n]
        if len(data) != n:
            self.fail("the pickle stream is truncated")
        self.pos += n
        return data

    def int_list(self):
        """EMPTY_LIST: the whole list of ints that usually follows it, decoded at C speed, or an empty list.

        ``_INT_LIST`` (and ``_INT_LISTS``, a batch of them) admits only EMPTY_LIST, one memo store and
        appends of ``_INT`` ints: a stream that builds nothing but a list of ints, which the C
        unpickler then decodes. Anything else in the list (a longer LONG1, a LONG_BINPUT index over 2**20, ...)
        ends the match; the interpreter goes on from there, one opcode at a time.
        """
        match = _INT_LIST_RE.match(self.buf, self.pos - 1)
        span = match.group()
        if len(span) > 1:
            ints = self.decode(span, 1)
            self.pos += len(span) - 1
        else:
            ints = []
        self.push(_List(ints))

    def push(self, value):
        if len(self.stack) >= _MAX_STACK:
            self.fail("the pickle stack grows past its bound")
        self.stack.append(value)

    def pop(self):
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            self.fail("the pickle stack underflows")
        return self.stack.pop()

    def decode(self, span, lists):
        """The vetted ``span`` (``lists`` int lists) through the C unpickler.

        ``span`` holds no opcode that finds a global or calls anything (the regular expressions admit none), so
        ``pickle.loads`` can only build lists of ints from it. Lists are never fetched back from the memo, so
        only the count of memo stores matters: one per list.
        """
        out = pickle.loads(b"\x80\x02" + span + b".")
        self.memo_len += lists
        return out

    def int_lists(self):
        """MARK: a whole batch of int lists appended to the list below it, decoded at C speed when it is one."""
        match = _INT_LISTS_RE.match(self.buf, self.pos - 1) if self.buf[self.pos:self.pos + 1] == b"]" else None
        target = self.stack[-1] if self.stack else None
        if match is None or not isinstance(target, _List) or target.used or (target.items and not target.rows):
            return self.mark()
        span = match.group()
        rows = self.decode(b"]" + span, 0)
        self.memo_len += len(rows)
        self.add_rows(target, rows)
        self.pos += len(span) - 1
        return None

    def mark(self):
        if len(self.marks) >= _MAX_STACK:
            self.fail("too many MARKs")
        self.marks.append(len(self.stack))

    def pop_mark(self):
        if not self.marks:
            self.fail("a pickle opcode needs a MARK that is absent")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def text(self, n, binary=False):
        if n > _MAX_STRING:
            self.fail(f"a {n}-byte string is longer than any in a valid file")
        raw = self.read(n)
        return raw if binary else raw.decode("latin-1")

    def line(self):
        raw = b""
        while not raw.endswith(b"\n"):
            if len(raw) > _MAX_STRING:
                self.fail("a global name is too long")
            raw += self.read(1)
        return raw[:-1].decode("latin-1")

    def global_(self, module, name):
        token = _GLOBALS.get((module, name))
        if token is None:
            self.fail(f"pickle global {module}.{name} is not allowed")
        return token

    def put(self, index):
        if not self.stack:
            self.fail("MEMOIZE on an empty stack")
        value = self.stack[-1]
        self.memo_len = max(self.memo_len, index + 1)
        if isinstance(value, _List):          # a list may not be referenced twice: keep nothing
            self.memo.pop(index, None)
            return
        if len(self.memo) >= _MAX_MEMO and index not in self.memo:
            self.fail("too many memoized objects")
        self.memo[index] = value

    def get(self, index):
        if index not in self.memo:
            self.fail(f"memo entry {index} is missing or a shared list")
        self.push(self.memo[index])

    def reduce(self, func, args):
        if not isinstance(args, tuple):
            self.fail("REDUCE arguments are not a tuple")
        if func is _RECONSTRUCT and len(args) == 3 and args[0] is _NDARRAY and args[1] == (0,) \
                and args[2] in (b"b", "b"):
            return _Pending("array")
        if func is _DTYPE and 1 <= len(args) <= 3 and args[0] in ("O8", "O4", "O", b"O8", b"O4", b"O"):
            return _Pending("dtype")
        if func is _ENCODE and len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return args[0].encode("latin-1")
        return self.fail(f"call {func!r}{args!r} is not one np.save writes")

    def build(self, inst, state):
        if not isinstance(inst, _Pending) or inst.state is not None or not isinstance(state, tuple):
            self.fail("BUILD of something other than an object array or its dtype")
        if inst.kind == "dtype":
            if len(state) < 2 or state[1] not in ("|", b"|"):
                self.fail(f"dtype state {state!r} is not that of an object dtype")
        else:
            state = state[1:] if len(state) == 5 else state        # (version,) shape, dtype, fortran, data
            if len(state) != 4 or not (isinstance(state[1], _Pending) and state[1].kind == "dtype"
                                       and state[1].state is not None) or not isinstance(state[3], _List):
                self.fail("the array's state is not (shape, object dtype, order, list)")
        inst.state = state

    def append(self, target, items):
        if not isinstance(target, _List) or target.used:
            self.fail("APPEND to something other than a fresh list")
        if all(type(v) is int for v in items):
            if target.rows:
                self.fail("a list mixes ints and lists")
            if any(not -2**63 <= v < 2**63 for v in items):      # only LONG1 (the slow path) makes such ints
                self.fail("a list holds an int outside int64")
            target.items.extend(items)
            return
        if not all(isinstance(v, _List) and not v.rows and not v.used for v in items):
            self.fail("a list holds something other than ints or int lists")
        if target.items and not target.rows:
            self.fail("a list mixes ints and lists")
        self.add_rows(target, [row.items for row in items])   # moved, not copied: never appended twice
        for row in items:
            row.used, row.items = True, None

    def add_rows(self, target, rows):
        if len(target.items) + len(rows) > self.rows:
            self.fail(f"more int lists than the {self.rows} the header declares")
        target.rows = True
        target.items.extend(rows)

    def load_rows(self):
        """Run the stream; return its int lists (a list of as many lists as the header declares)."""
        rows = self.rows
        result = self.run()
        if not isinstance(result, _Pending) or result.kind != "array" or result.state is None:
            self.fail("the pickle does not hold an object array")
        shape, _, _, data = result.state
        if shape != (rows,) or len(data.items) != rows or (rows and not data.rows):
            self.fail(f"the pickled array of shape {shape!r} does not hold the {rows} int lists its header declares")
        if self.pos != len(self.buf):
            self.fail(f"{len(self.buf) - self.pos} bytes follow the pickle")
        return data.items

    def run(self):   # noqa: C901 -- one branch per opcode reads best as one table
        ops = {
            b"(": self.int_lists,
            b")": lambda: self.push(()),
            b"t": lambda: self.push(tuple(self.pop_mark())),
            b"\x85": lambda: self.push((self.pop(),)),
            b"\x86": lambda: self.push(tuple(reversed([self.pop(), self.pop()]))),
            b"\x87": lambda: self.push(tuple(reversed([self.pop(), self.pop(), self.pop()]))),
            b"]": self.int_list,
            b"a": lambda: self.append(self.stack[-2] if len(self.stack) >= 2 else None, [self.pop()]),
            b"e": lambda: (lambda items: self.append(self.stack[-1] if self.stack else None, items))(self.pop_mark()),
            b"N": lambda: self.push(None),
            b"\x88": lambda: self.push(True),
            b"\x89": lambda: self.push(False),
            b"J": lambda: self.push(struct.unpack("<i", self.read(4))[0]),
            b"K": lambda: self.push(self.read(1)[0]),
            b"M": lambda: self.push(struct.unpack("<H", self.read(2))[0]),
            b"\x8a": lambda: self.push(int.from_bytes(self.text(self.read(1)[0], True), "little", signed=True)),
            b"U": lambda: self.push(self.text(self.read(1)[0])),
            b"T": lambda: self.push(self.text(struct.unpack("<I", self.read(4))[0])),
            b"\x8c": lambda: self.push(self.text(self.read(1)[0])),
            b"X": lambda: self.push(self.text(struct.unpack("<I", self.read(4))[0])),
            b"C": lambda: self.push(self.text(self.read(1)[0], True)),
            b"B": lambda: self.push(self.text(struct.unpack("<I", self.read(4))[0], True)),
            b"c": lambda: self.push(self.global_(self.line(), self.line())),
            b"\x93": lambda: (lambda name, module: self.push(self.global_(module, name)))(self.pop(), self.pop()),
            b"R": lambda: (lambda args, func: self.push(self.reduce(func, args)))(self.pop(), self.pop()),
            b"b": lambda: (lambda state: self.build(self.stack[-1] if self.stack else None, state))(self.pop()),
            b"q": lambda: self.put(self.read(1)[0]),
            b"r": lambda: self.put(struct.unpack("<I", self.read(4))[0]),
            b"\x94": lambda: self.put(self.memo_len),
            b"h": lambda: self.get(self.read(1)[0]),
            b"j": lambda: self.get(struct.unpack("<I", self.read(4))[0]),
            b"\x95": lambda: self.read(8),            # FRAME: a length hint only
        }
        if self.read(1) != b"\x80" or self.read(1)[0] not in (2, 3, 4, 5):
            self.fail("not a binary pickle (protocol 2 to 5)")
        for _ in range(_MAX_SLOW_OPS):
            op = self.read(1)
            if op == b".":
                if len(self.stack) != 1 or self.marks:
                    self.fail("the pickle ends with a malformed stack")
                return self.stack[0]
            handler = ops.get(op)
            if handler is None:
                self.fail(f"pickle opcode {op!r} is not one np.save writes for int lists")
            handler()
        return self.fail(f"over {_MAX_SLOW_OPS} opcodes outside the lists of ints")

