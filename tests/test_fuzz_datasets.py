"""Fuzz the dataset readers with seeded mutations of valid files: IDX (raw and .gz), Keras-style mnist.npz and
imdb.npz (bit flips, truncations, forged .npy headers, wrong member dtypes and shapes, hostile pickles) and the
IMDB word index. The only allowed outcomes are a result of the documented form or a ValueError naming the file;
nothing in a file may run code (a planted ``os.system`` call would create a marker file).

Each test runs its cases in a fresh interpreter under RLIMIT_AS (1 GiB) and a timeout, so a crash, a hang or a
memory blow-up fails the test instead of killing the run. ``pytest --fuzz-budget N`` multiplies the case counts.
"""
import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import child_process  # tests/ helper: children import the same minidl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_CASES = {"idx": 60, "mnist_npz": 40, "imdb_npz": 60, "word_index": 20}
MEMORY_LIMIT = 1 << 30


# ------------------------------------------------------------------ mutations
def flip_bits(data, rng, n=None):
    out = bytearray(data)
    for _ in range(n or int(rng.integers(1, 9))):
        i = int(rng.integers(len(out)))
        out[i] ^= 1 << int(rng.integers(8))
    return bytes(out)


def overwrite(data, rng):
    i = int(rng.integers(len(data)))
    return data[:i] + rng.bytes(int(rng.integers(1, 9))) + data[i + 8:]


def truncate(data, rng):
    return data[:int(rng.integers(len(data)))]


def mutate_bytes(data, rng):
    how = rng.integers(4)
    if how == 0:
        return flip_bits(data, rng)
    if how == 1:
        return overwrite(data, rng)
    if how == 2:
        return truncate(data, rng)
    return data + rng.bytes(int(rng.integers(1, 64)))


def npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def npy_header(descr, shape):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def write_zip(path, members, compressed):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)


def write_case(folder, i, members, rng, flip_whole_file):
    """Write case ``i``'s zip (stored or deflated at random); optionally flip bytes of the whole file after."""
    path = os.path.join(folder, f"case{i}.npz")
    write_zip(path, members, bool(rng.integers(2)))
    if flip_whole_file:
        with open(path, "rb") as f:
            data = mutate_bytes(f.read(), rng)
        with open(path, "wb") as f:
            f.write(data)
    return path


def big_dim(rng):
    return int(rng.choice([0, 1, 2, 3, 28, 255, 2**16, 2**31 - 1, 2**31, 2**32 - 1, int(rng.integers(2**32))]))


# ------------------------------------------------------------------ IDX
IDX_CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_case(rng, folder, i):
    code = int(rng.choice(list(IDX_CODES)))
    shape = tuple(int(d) for d in rng.integers(1, 6, size=int(rng.integers(1, 4))))
    arr = rng.integers(0, 100, size=shape).astype(IDX_CODES[code])
    raw = bytearray(struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) +
                    arr.tobytes())
    what = rng.integers(6)
    if what == 0:
        raw[int(rng.integers(4))] = int(rng.integers(256))                 # magic, type code or ndim
    elif what == 1:
        k = int(rng.integers(len(shape)))
        raw[4 + 4 * k:8 + 4 * k] = struct.pack(">I", big_dim(rng))         # one dimension
    elif what == 2:
        raw = bytearray(mutate_bytes(bytes(raw), rng))
    elif what == 3:
        nd = int(rng.integers(0, 8))                                     # a header of random dimensions
        raw = bytearray(struct.pack(">HBB", 0, code, nd) + b"".join(struct.pack(">I", big_dim(rng))
                                                                    for _ in range(nd)) + rng.bytes(16))
    gz = bool(rng.integers(2))
    path = os.path.join(folder, f"case{i}-idx" + (".gz" if gz else ""))
    data = gzip.compress(bytes(raw)) if gz else bytes(raw)
    if gz and what >= 4:
        data = mutate_bytes(data, rng)                                     # damage the gzip layer itself
    with open(path, "wb") as f:
        f.write(data)
    return path


def check_idx(path):
    from minidl.datasets import read_idx

    out = read_idx(path)
    assert isinstance(out, np.ndarray) and out.dtype.isnative and out.nbytes < 1 << 20, (out.dtype, out.shape)


# ------------------------------------------------------------------ mnist.npz
def mnist_arrays(rng, n=3):
    return {"x_train": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, n,
            dtype=np.uint8), "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 2, dtype=np.uint8)}


def mnist_npz_case(rng, folder, i):
    arrays = mnist_arrays(rng)
    members = {k: npy(v) for k, v in arrays.items()}
    key = str(rng.choice(list(members)))
    what = rng.integers(7)
    if what == 0:
        members[key] = npy(arrays[key].astype(rng.choice(["float32", "int64", "bool", ">u2", "complex64"])))
    elif what == 1:
        members[key] = npy(arrays[key].reshape(-1)[:int(rng.integers(1, 50))])
    elif what == 2:
        members[key] = npy(np.array([arrays[key], "x"], dtype=object))      # needs pickle: refused
    elif what == 3:
        shape = tuple(big_dim(rng) for _ in range(int(rng.integers(0, 4))))
        members[key] = npy_header(str(rng.choice(["|u1", "<f8", "|O", "<i4", "V8", "<U3"])), shape) + \
            arrays[key].tobytes()
    elif what == 4:
        del members[key]
    elif what == 5:
        members[key] = mutate_bytes(members[key], rng)
    return write_case(folder, i, members, rng, flip_whole_file=what == 6)


def check_mnist_npz(path):
    from minidl.datasets import mnist

    (x, y), (xt, yt) = mnist.load_data(path=path)
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and y.shape == (len(x),) and yt.shape == (len(xt),)


# ------------------------------------------------------------------ imdb.npz
class RunsCode:
    """Pickles as a call of os.system that would create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def ragged(rows):
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


HOSTILE_GLOBALS = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
                   ("builtins", "getattr"), ("subprocess", "Popen"), ("numpy", "load"), ("builtins", "list"),
                   ("numpy.core.multiarray", "scalar"), ("numpy", "frombuffer"), ("copyreg", "_reconstructor"),
                   ("numpy._core.multiarray", "_reconstruct")]
OPCODES = b"()t\x85\x86\x87]aeN\x88\x89JKM\x8aUT\x8cXCBc\x93Rbqr\x94hj\x95.}sd0l"


def random_pickle(rng, marker):
    kind = rng.integers(5)
    if kind == 0:                                         # a call of a (mostly hostile) global
        module, name = HOSTILE_GLOBALS[int(rng.integers(len(HOSTILE_GLOBALS)))]
        return (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" +
                pickle.dumps(f"touch {marker}", protocol=2)[2:-1] + b"\x85R.")
    if kind == 1:                                         # random opcodes with random arguments
        return b"\x80\x04" + b"".join(bytes([OPCODES[int(rng.integers(len(OPCODES)))]]) + rng.bytes(
            int(rng.integers(0, 3))) for _ in range(int(rng.integers(1, 40))))
    if kind == 2:                                         # other objects numpy would pickle
        obj = [ragged([[1, 2], {"a": 1}]), ragged([[1.5], [2]]), ragged([[2**70], [1]]), ragged([(1, 2), [3]]),
               ragged([[True], [1]]), ragged([[[1]], [2]]), ragged([np.int64(3), [1]]), ragged([set([1]), [2]]),
               np.array([[1, 2], [3, 4]], dtype=object), {"x": [1]}][int(rng.integers(10))]
        return pickle.dumps(obj, protocol=int(rng.integers(2, 6)))
    if kind == 3:                                         # code hidden among the reviews
        rows = ragged([[1, 2], [3], [4, 5]])
        rows[int(rng.integers(3))] = RunsCode(marker)
        return pickle.dumps(rows, protocol=int(rng.integers(2, 6)))
    return mutate_bytes(pickle.dumps(ragged([[1, 2, 3], [4], [5, 6]]), protocol=int(rng.integers(2, 6))), rng)


def imdb_npz_case(rng, folder, i, marker):
    rows = [list(map(int, rng.integers(1, 90000, size=int(rng.integers(0, 6))))) for _ in range(3)]
    members = {"x_train": npy(ragged(rows)), "y_train": npy(np.array([0, 1, 0])),
               "x_test": npy(ragged([[1, 2], [3]])), "y_test": npy(np.array([1, 0]))}
    key = str(rng.choice(["x_train", "x_test"] if rng.integers(3) else list(members)))
    what = rng.integers(6)
    n = 3 if key.endswith("train") else 2
    if what in (0, 1):
        members[key] = npy_header("|O", (n,)) + random_pickle(rng, marker)
    elif what == 2:
        members[key] = npy_header(str(rng.choice(["|O", "<i8", "|u1"])), tuple(big_dim(rng) for _ in range(
            int(rng.integers(0, 3))))) + members[key][128:]
    elif what == 3:
        members[key] = mutate_bytes(members[key], rng)
    elif what == 4:
        members[key] = npy(np.array([1.5, 2.5, 3.5][:n]) if key.startswith("y") else ragged(["ab", "c", "d"][:n]))
    return write_case(folder, i, members, rng, flip_whole_file=what == 5)


def check_imdb_npz(path):
    from minidl.datasets import imdb

    (x, y), (xt, yt) = imdb.load_data(path=path, maxlen=None)
    assert x.dtype == object and len(x) == len(y) and len(xt) == len(yt)
    assert all(type(w) is int for seq in list(x) + list(xt) for w in seq)


# ------------------------------------------------------------------ word index
def word_index_case(rng, folder, i):
    good = json.dumps({"the": 1, "movie": 2, "film": 3}).encode()
    options = [mutate_bytes(good, rng), b"[" * 100000, b'{"a": ' * 50000, json.dumps([1, 2]).encode(),
               json.dumps({"a": "1"}).encode(), json.dumps({"a": 1.5}).encode(), json.dumps({"a": True}).encode(),
               b"\xff\xfe{}", rng.bytes(32), good]
    path = os.path.join(folder, f"case{i}.json")
    with open(path, "wb") as f:
        f.write(options[int(rng.integers(len(options)))])
    return path


def check_word_index(path):
    from minidl.datasets import imdb

    index = imdb.get_word_index(path=path)
    assert isinstance(index, dict) and all(type(v) is int for v in index.values())


# ------------------------------------------------------------------ the child process
def fuzz(kind, seed, n, folder):
    """Run ``n`` cases of ``kind``; return the unexpected outcomes as strings."""
    rng = np.random.default_rng(seed)
    marker = os.path.join(folder, "code-ran")
    make = {"idx": idx_case, "mnist_npz": mnist_npz_case, "word_index": word_index_case,
            "imdb_npz": lambda r, f, i: imdb_npz_case(r, f, i, marker)}[kind]
    check = {"idx": check_idx, "mnist_npz": check_mnist_npz, "imdb_npz": check_imdb_npz,
             "word_index": check_word_index}[kind]
    bad = []
    for i in range(n):
        path = make(rng, folder, i)
        try:
            check(path)
        except ValueError as exc:
            if path not in str(exc):
                bad.append(f"case {i}: ValueError not naming {path}: {exc}")
        except Exception as exc:     # noqa: BLE001 -- anything else is the finding
            bad.append(f"case {i}: {type(exc).__name__}: {exc}")
        if os.path.exists(marker):
            bad.append(f"case {i}: the file ran code")
            os.remove(marker)
    return bad


@pytest.mark.parametrize("kind", sorted(BASE_CASES))
def test_fuzz_dataset_readers(kind, fuzz_budget, tmp_path):
    n = BASE_CASES[kind] * fuzz_budget
    code = (f"import resource, sys, json\nresource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
            "sys.path.insert(0, sys.argv[1])\nimport test_fuzz_datasets as t\n"
            "print(json.dumps(t.fuzz(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])))\n")
    got = subprocess.run([sys.executable, "-c", code, os.path.dirname(os.path.abspath(__file__)), kind,
                          str(1234 + sorted(BASE_CASES).index(kind)), str(n), str(tmp_path)],
                         capture_output=True, text=True, timeout=60 + 2 * n, cwd=child_process.CWD,
                         env=child_process.env())
    assert got.returncode == 0, got.stderr[-3000:]
    bad = json.loads(got.stdout.strip().splitlines()[-1])
    assert bad == [], "\n".join(bad[:20])
