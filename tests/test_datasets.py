"""md.datasets: bundled digits, IDX/npz parsers and downloads (never the network), imdb, pad_sequences, synthetic."""
import gzip
import hashlib
import io
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from urllib.error import URLError

import numpy as np
import pytest

import minidl as md
from minidl.datasets import _files, fashion_mnist, imdb, mnist, pad_sequences, synthetic
from minidl.datasets._mnist_like import FILES
import child_process  # tests/ helper: children import the same minidl


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test reaches the network or the user's data folder."""
    def refuse(url, timeout=None):
        raise URLError("network disabled in tests")
    monkeypatch.setattr(_files, "urlopen", refuse)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "home"))


# --- digits -----------------------------------------------------------------------------------------------
def test_digits_shapes_dtypes_and_split():
    (x_train, y_train), (x_test, y_test) = md.datasets.digits.load_data()
    assert x_train.shape == (1438, 8, 8) and x_test.shape == (359, 8, 8)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert x_train.max() == 16 and x_train.min() == 0
    y = np.concatenate([y_train, y_test])
    assert set(np.unique(y)) == set(range(10))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]   # the UCI counts


def test_digits_is_deterministic_and_seeded():
    a = md.datasets.digits.load_data()
    b = md.datasets.digits.load_data(0.2, 0)
    c = md.datasets.digits.load_data(seed=1)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[1][1], b[1][1])
    assert not np.array_equal(a[1][1], c[1][1])
    (x_train, _), (x_test, _) = md.datasets.digits.load_data(test_split=0.5)
    assert len(x_test) == 898 and len(x_train) == 899
    with pytest.raises(ValueError, match="test_fraction"):
        md.datasets.digits.load_data(test_fraction=1.0)


def test_digits_is_package_data():
    import tomllib
    with open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml"), "rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]["minidl.datasets"]
    assert "data/*.npz" in package_data
    assert os.path.isfile(md.datasets.digits._FILE)


# --- IDX and npz parsers ----------------------------------------------------------------------------------
def idx_bytes(arr, code=0x08, ndim=None):
    ndim = arr.ndim if ndim is None else ndim
    return struct.pack(">HBB", 0, code, ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_gz(path, raw):
    with gzip.open(path, "wb") as f:
        f.write(raw)


def tiny_mnist(n_train=5, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8)),
            (rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8)))


def write_idx_folder(folder, data):
    os.makedirs(folder, exist_ok=True)
    (xa, ya), (xb, yb) = data
    for name, arr in zip(FILES, (xa, ya, xb, yb)):
        write_gz(os.path.join(folder, name), idx_bytes(arr))


def assert_same(got, want):
    assert len(got) == len(want) == 2 and len(got[0]) == len(got[1]) == 2
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def sha256s(folder, names):
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in names}


@pytest.mark.parametrize("module", [mnist, fashion_mnist], ids=["mnist", "fashion_mnist"])
def test_idx_folder_round_trip(tmp_path, module, monkeypatch):
    data = tiny_mnist()
    write_idx_folder(tmp_path / "idx", data)
    assert_same(module.load_data(path=str(tmp_path / "idx")), data)       # the user's own files: read as is
    # the default folder: $MINIDL_DATA/<name>, whose files must have their published digests
    home = tmp_path / "home" / module.__name__.rsplit(".", 1)[1]
    write_idx_folder(home, data)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: SHA256 .* does not match the published"):
        module.load_data()
    monkeypatch.setattr(module, "CHECKSUMS", sha256s(home, FILES))
    assert_same(module.load_data(), data)


def test_read_idx_other_types(tmp_path):
    arr = np.arange(12, dtype=">i4").reshape(3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(arr, code=0x0C))
    got = md.datasets.read_idx(str(tmp_path / "a.idx"), ndim=2)
    np.testing.assert_array_equal(got, np.arange(12).reshape(3, 4))
    assert got.dtype == np.int32 and got.dtype.isnative


@pytest.mark.parametrize("damage,match", [
    (lambda raw: b"\x01\x02" + raw[2:], "bad magic number"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "bad magic number"),
    (lambda raw: raw[:-10], "truncated"),
    (lambda raw: raw + b"\x00", "trailing bytes"),
    (lambda raw: raw[:10], "truncated IDX header"),
    (lambda raw: raw[:3], "shorter than the 4-byte magic"),
])
def test_corrupt_idx_is_a_clear_error(tmp_path, damage, match):
    data = tiny_mnist()
    write_idx_folder(tmp_path, data)
    bad = tmp_path / FILES[0]
    write_gz(bad, damage(idx_bytes(data[0][0])))
    with pytest.raises(ValueError, match=match) as err:
        mnist.load_data(path=str(tmp_path))
    assert FILES[0] in str(err.value)


def test_idx_wrong_dims_and_mismatched_labels(tmp_path):
    data = tiny_mnist()
    write_idx_folder(tmp_path, data)
    write_gz(tmp_path / FILES[2], idx_bytes(np.zeros((3, 27, 28), np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-images.*\(3, 27, 28\) do not match the expected \(None, 28, 28\)"):
        mnist.load_data(path=str(tmp_path))
    write_idx_folder(tmp_path, data)
    write_gz(tmp_path / FILES[1], idx_bytes(np.zeros(4, np.uint8)))          # 4 labels for 5 images
    with pytest.raises(ValueError, match="train-labels"):
        mnist.load_data(path=str(tmp_path))
    write_gz(tmp_path / FILES[1], idx_bytes(np.zeros((5, 1), np.uint8)))     # labels must be 1-D
    with pytest.raises(ValueError, match="1 dimension"):
        mnist.load_data(path=str(tmp_path))
    write_gz(tmp_path / FILES[1], idx_bytes(np.full(5, 12, np.uint8)))
    with pytest.raises(ValueError, match="outside 0..9"):
        mnist.load_data(path=str(tmp_path))


def test_truncated_gzip_is_a_clear_error(tmp_path):
    data = tiny_mnist()
    write_idx_folder(tmp_path, data)
    raw = (tmp_path / FILES[2]).read_bytes()
    (tmp_path / FILES[2]).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: cannot decompress"):
        mnist.load_data(path=str(tmp_path))
    (tmp_path / FILES[2]).write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        mnist.load_data(path=str(tmp_path))


def test_keras_npz(tmp_path):
    data = tiny_mnist()
    (xa, ya), (xb, yb) = data
    np.savez(tmp_path / "mnist.npz", x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    assert_same(mnist.load_data(path=str(tmp_path / "mnist.npz")), data)
    assert_same(mnist.load_data(path=str(tmp_path)), data)                 # a folder with only mnist.npz
    np.savez(tmp_path / "fashion-mnist.npz", x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    assert_same(fashion_mnist.load_data(path=str(tmp_path)), data)
    np.savez(tmp_path / "bad.npz", x_train=xa, y_train=ya, x_test=xb)
    with pytest.raises(ValueError, match="bad.npz: missing array.*y_test"):
        mnist.load_data(path=str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "bad.npz", x_train=xa[:, :20], y_train=ya, x_test=xb, y_test=yb)
    with pytest.raises(ValueError, match=r"x_train should be uint8 of shape \(N, 28, 28\)"):
        mnist.load_data(path=str(tmp_path / "bad.npz"))
    raw = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.npz: not a readable .npz"):
        mnist.load_data(path=str(tmp_path / "cut.npz"))


# --- missing files and downloads --------------------------------------------------------------------------
def test_missing_files_error_names_files_and_folder(tmp_path):
    folder = tmp_path / "home" / "mnist"
    for download in (True, False):
        with pytest.raises(FileNotFoundError) as err:
            mnist.load_data(download=download)
        msg = str(err.value)
        assert all(f in msg for f in FILES) and str(folder) in msg and "mnist.npz" in msg
        if download:
            assert "network disabled in tests" in msg
    write_idx_folder(tmp_path / "partial", tiny_mnist())
    os.remove(tmp_path / "partial" / FILES[3])
    with pytest.raises(FileNotFoundError) as err:
        mnist.load_data(path=str(tmp_path / "partial"))
    assert FILES[3] in str(err.value) and FILES[0] not in str(err.value).split("Put them")[0]
    with pytest.raises(FileNotFoundError, match="nowhere.npz does not exist"):
        mnist.load_data(path=str(tmp_path / "nowhere.npz"))


class FakeWeb:
    """Serves bytes by URL, records requests."""

    def __init__(self, files):
        self.files, self.requests = files, []

    def __call__(self, url, timeout=None):
        self.requests.append(url)
        if url not in self.files:
            raise URLError(f"404 {url}")
        return io.BytesIO(self.files[url])


def test_download_once_checked_and_atomic(tmp_path, monkeypatch):
    data = tiny_mnist()
    write_idx_folder(tmp_path / "src", data)
    blobs = {f: (tmp_path / "src" / f).read_bytes() for f in FILES}
    monkeypatch.setattr(mnist, "CHECKSUMS", {f: hashlib.sha256(b).hexdigest() for f, b in blobs.items()})
    # the first mirror serves a damaged copy of one file: the second mirror's good copy is taken
    web = {mnist.MIRRORS[1] + f: b for f, b in blobs.items()}
    web[mnist.MIRRORS[0] + FILES[0]] = blobs[FILES[0]][:-1]
    fake = FakeWeb(web)
    monkeypatch.setattr(_files, "urlopen", fake)
    assert_same(mnist.load_data(), data)
    folder = tmp_path / "home" / "mnist"
    assert sorted(os.listdir(folder)) == sorted(FILES)                 # no temporary files left behind
    assert mnist.MIRRORS[0] + FILES[0] in fake.requests
    n = len(fake.requests)
    assert_same(mnist.load_data(), data)
    assert len(fake.requests) == n                                      # downloaded once


def test_download_with_bad_checksum_keeps_nothing(tmp_path, monkeypatch):
    data = tiny_mnist()
    write_idx_folder(tmp_path / "src", data)
    fake = FakeWeb({m + f: (tmp_path / "src" / f).read_bytes() for m in fashion_mnist.MIRRORS for f in FILES})
    monkeypatch.setattr(_files, "urlopen", fake)       # real checksums: the tiny files cannot match them
    with pytest.raises(FileNotFoundError) as err:
        fashion_mnist.load_data()
    assert "does not match the published" in str(err.value) and FILES[0] in str(err.value)
    folder = tmp_path / "home" / "fashion_mnist"
    assert os.listdir(folder) == []


def test_published_checksums_are_well_formed():
    for table in (mnist.CHECKSUMS, fashion_mnist.CHECKSUMS):
        assert sorted(table) == sorted(FILES)
        assert all(len(v) == 64 and int(v, 16) >= 0 for v in table.values())
    assert len(imdb.CHECKSUMS["imdb.npz"]) == 64 and len(imdb.CHECKSUMS["imdb_word_index.json"]) == 32


# --- imdb ---------------------------------------------------------------------------------------------------
def obj(lists):
    out = np.empty(len(lists), dtype=object)
    out[:] = lists
    return out


TRAIN = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10, 1]]
TEST = [[2, 2], [11, 3, 1]]


@pytest.fixture
def imdb_file(tmp_path):
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=obj(TRAIN), y_train=np.array([1, 0, 1, 0]), x_test=obj(TEST), y_test=np.array([0, 1]))
    return str(path)


def keras_order(n_train, n_test, seed=113):
    rng = np.random.RandomState(seed)
    a, b = np.arange(n_train), np.arange(n_test)
    rng.shuffle(a)
    rng.shuffle(b)
    return a, b


def test_imdb_defaults(imdb_file):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(path=imdb_file)
    a, b = keras_order(4, 2)
    assert x_train.dtype == object and x_train.shape == (4,)
    assert list(x_train) == [[1] + [w + 3 for w in TRAIN[i]] for i in a]
    assert list(y_train) == [[1, 0, 1, 0][i] for i in a]
    assert list(x_test) == [[1] + [w + 3 for w in TEST[i]] for i in b]
    assert list(y_test) == [[0, 1][i] for i in b]


def test_imdb_options(imdb_file):
    a, b = keras_order(4, 2, seed=5)
    # num_words=8 keeps shifted indices < 8 (raw 1..4 with index_from=3); skip_top=5 marks 1..4 as OOV too
    (x_train, _), (x_test, _) = imdb.load_data(path=imdb_file, num_words=8, skip_top=5, seed=5)
    expect = lambda seq: [w if 5 <= w < 8 else 2 for w in [1] + [v + 3 for v in seq]]
    assert list(x_train) == [expect(TRAIN[i]) for i in a]
    assert list(x_test) == [expect(TEST[i]) for i in b]
    # oov_char=None drops them; start_char=None, index_from=0 keeps raw indices
    (x_train, _), _ = imdb.load_data(path=imdb_file, num_words=5, start_char=None, oov_char=None, index_from=0,
                                     seed=5)
    assert list(x_train) == [[w for w in TRAIN[i] if w < 5] for i in a]
    # maxlen keeps sequences strictly shorter than maxlen (the start mark counts)
    (x_train, y_train), (x_test, _) = imdb.load_data(path=imdb_file, maxlen=4, seed=5)
    kept = [i for i in a if len(TRAIN[i]) + 1 < 4]
    assert list(x_train) == [[1] + [w + 3 for w in TRAIN[i]] for i in kept]
    assert list(y_train) == [[1, 0, 1, 0][i] for i in kept]
    assert all(len(x) < 4 for x in x_test)
    with pytest.raises(ValueError, match="maxlen=2"):
        imdb.load_data(path=imdb_file, maxlen=2)


def test_imdb_word_index_and_errors(tmp_path):
    (tmp_path / "imdb_word_index.json").write_text(json.dumps({"the": 1, "movie": 2}))
    assert imdb.get_word_index(path=str(tmp_path)) == {"the": 1, "movie": 2}
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: not a valid word-index JSON"):
        imdb.get_word_index(path=str(tmp_path / "broken.json"))
    with pytest.raises(FileNotFoundError) as err:
        imdb.load_data()
    assert "imdb.npz" in str(err.value) and str(tmp_path / "home" / "imdb") in str(err.value)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 junk")
    with pytest.raises(ValueError, match="junk.npz: not a readable .npz"):
        imdb.load_data(path=str(tmp_path / "junk.npz"))


# --- pad_sequences (expected values worked out by hand from Keras' documented semantics) --------------------
def test_pad_sequences_keras_semantics():
    seqs = [[1, 2, 3], [4, 5], [6], []]
    out = pad_sequences(seqs)
    assert out.dtype == np.int32
    assert out.tolist() == [[1, 2, 3], [0, 4, 5], [0, 0, 6], [0, 0, 0]]
    assert pad_sequences(seqs, padding="post").tolist() == [[1, 2, 3], [4, 5, 0], [6, 0, 0], [0, 0, 0]]
    assert pad_sequences(seqs, maxlen=2).tolist() == [[2, 3], [4, 5], [0, 6], [0, 0]]
    assert pad_sequences(seqs, maxlen=2, truncating="post").tolist() == [[1, 2], [4, 5], [0, 6], [0, 0]]
    assert pad_sequences(seqs, maxlen=4, value=-1, padding="post").tolist() == \
        [[1, 2, 3, -1], [4, 5, -1, -1], [6, -1, -1, -1], [-1, -1, -1, -1]]
    f = pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", value=0.25)
    assert f.dtype == np.float32 and f.tolist() == [[0.5, 1.5], [0.25, 2.5]]
    v = pad_sequences([np.ones((2, 3)), np.zeros((1, 3))], dtype="float64")
    assert v.shape == (2, 2, 3) and v[1, 0].tolist() == [0.0, 0.0, 0.0]
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    assert md.datasets.pad_sequences is pad_sequences
    with pytest.raises(ValueError, match='padding type "middle"'):
        pad_sequences(seqs, padding="middle")
    with pytest.raises(ValueError, match='truncating type "x"'):
        pad_sequences(seqs, truncating="x")
    with pytest.raises(ValueError, match="string padding value"):
        pad_sequences(seqs, value="pad")
    with pytest.raises(ValueError, match="item 1 is int"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="item 1 has values of shape"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 4))])


# --- synthetic ----------------------------------------------------------------------------------------------
SYNTH = {
    "classification": ((20,), np.float32, (), np.int64),
    "blobs": ((1, 16, 16), np.float32, (), np.int64),
    "images": ((1, 16, 16), np.float32, (), np.int64),
    "sequence": ((20,), np.int64, (), np.int64),
    "sentiment": ((40,), np.int64, (), np.int64),
    "reconstruction": ((32,), np.float32, (32,), np.float32),
}


@pytest.mark.parametrize("task", sorted(SYNTH))
def test_synthetic_shapes_and_determinism(task):
    xshape, xdtype, yshape, ydtype = SYNTH[task]
    (x_train, y_train), (x_test, y_test) = synthetic.load_data(task, n=200, seed=3)
    assert x_train.shape == (160,) + xshape and x_test.shape == (40,) + xshape
    assert y_train.shape == (160,) + yshape and y_test.shape == (40,) + yshape
    assert x_train.dtype == xdtype and y_train.dtype == ydtype
    again = synthetic.load_data(task, n=200, seed=3)
    other = synthetic.load_data(task, n=200, seed=4)
    np.testing.assert_array_equal(x_train, again[0][0])
    np.testing.assert_array_equal(y_test, again[1][1])
    assert not np.array_equal(x_train, other[0][0])
    if ydtype == np.int64:
        assert y_train.min() >= 0 and len(np.unique(y_train)) > 1


def test_synthetic_tasks_carry_their_signal():
    (x, y), _ = synthetic.sequences(n=300, length=15, n_classes=3)
    assert (x[:, 0] == y + 1).all() and (x[:, 1:] > 3).all()         # only the first token tells the class
    (x, y), _ = synthetic.sentiment(n=300, n_sentiment_words=5)
    pos, neg = ((x >= 1) & (x <= 5)).sum(1), ((x >= 6) & (x <= 10)).sum(1)
    assert ((pos > neg) == (y == 1)).all()
    (x, y), _ = synthetic.classification(n=600, n_classes=3, spread=0.5)
    means = np.stack([x[y == k].mean(0) for k in range(3)])
    nearest = np.argmin(((x[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y).mean() > 0.95
    (x, y), _ = synthetic.reconstruction(n=100)
    np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        synthetic.load_data("nope")
    with pytest.raises(ValueError, match="n must be"):
        synthetic.classification(n=0)


# --- hostile files (issue 12): no code execution, hash checks, bounded memory ------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, *args, limit_as=None, timeout=120, env=None):
    """Run ``code`` in a fresh interpreter (optionally under RLIMIT_AS bytes); returns the CompletedProcess."""
    prefix = "import resource, sys\n"
    if limit_as:
        prefix += f"resource.setrlimit(resource.RLIMIT_AS, ({limit_as}, {limit_as}))\n"
    full_env = child_process.env(**(env or {}))
    return subprocess.run([sys.executable, "-c", prefix + code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=child_process.CWD)


class RunsCode:
    """Pickles as a call of os.system: loading it with plain pickle would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def planted_imdb(path, marker):
    x = obj([[1, 2], [3]])
    x[1] = RunsCode(marker)
    np.savez(path, x_train=x, y_train=np.array([1, 0]), x_test=obj(TEST), y_test=np.array([0, 1]))


LOAD_IMDB = ("import minidl as md\n"
             "try:\n"
             "    md.datasets.imdb.load_data(path=sys.argv[1] if sys.argv[1] != '-' else None)\n"
             "except ValueError as e:\n"
             "    print('ValueError:', e)\n")


def test_planted_imdb_pickle_runs_no_code(tmp_path):
    marker = tmp_path / "ran"
    planted_imdb(tmp_path / "imdb.npz", marker)
    got = run_python(LOAD_IMDB, tmp_path / "imdb.npz")
    assert not marker.exists()
    assert got.returncode == 0, got.stderr
    assert f"ValueError: {tmp_path / 'imdb.npz'}: array x_train: pickle global posix.system is not allowed" \
        in got.stdout
    # in the default folder, the digest check refuses it first
    os.makedirs(tmp_path / "home" / "imdb")
    os.replace(tmp_path / "imdb.npz", tmp_path / "home" / "imdb" / "imdb.npz")
    got = run_python(LOAD_IMDB, "-", env={"MINIDL_DATA": str(tmp_path / "home")})
    assert not marker.exists()
    assert "imdb.npz: SHA256" in got.stdout and "does not match the published" in got.stdout, got.stderr


def test_planted_imdb_pickle_through_the_command_line(tmp_path):
    marker = tmp_path / "ran"
    planted_imdb(tmp_path / "imdb.npz", marker)
    got = subprocess.run([sys.executable, "-m", "minidl.cli", "train", "rnn", "--dataset", "imdb", "--data-path",
                          str(tmp_path), "--epochs", "1", "--quiet"], capture_output=True, text=True, timeout=120,
                         cwd=child_process.CWD, env=child_process.env())
    assert not marker.exists()
    assert got.returncode == 1 and "Traceback" not in got.stderr
    assert got.stderr.startswith(f"minidl train: error: {tmp_path / 'imdb.npz'}: array x_train: pickle global")


def npy_pickle(payload, shape):
    """An .npy member holding a pickle stream ``payload`` with an object-dtype header of ``shape``."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "|O", "fortran_order": False, "shape": shape})
    return head.getvalue() + payload


def imdb_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if isinstance(data, np.ndarray):
                buf = io.BytesIO()
                np.save(buf, data, allow_pickle=True)
                data = buf.getvalue()
            z.writestr(name + ".npy", data)


# What Python 2's numpy wrote (Keras' imdb.npz dates from then): protocol 2, GLOBAL opcodes, byte strings.
PY2_PICKLE = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85U\x01b\x87Rq\x03"
              b"(K\x01K\x02\x85cnumpy\ndtype\nq\x04U\x02O8K\x00K\x01\x87Rq\x05(K\x03U\x01|NNNJ\xff\xff\xff\xff"
              b"J\xff\xff\xff\xffK?tb\x89]q\x06(]q\x07(K\x05M\x10'J\xa0\x86\x01\x00e]q\x08K\x07aetb.")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5, "py2"])
def test_keras_format_imdb_loads_from_every_pickle_protocol(tmp_path, protocol):
    if protocol == "py2":
        x_train, rows = npy_pickle(PY2_PICKLE, (2,)), [[5, 10000, 100000], [7]]
    else:
        rows = [[1, 2, 3], [4, 70000], [], [2**40]]
        x_train = npy_pickle(pickle.dumps(obj(rows), protocol=protocol), (4,))
    imdb_zip(tmp_path / "reviews.npz", {"x_train": x_train, "y_train": np.arange(len(rows)) % 2,
                                        "x_test": obj(TEST), "y_test": np.array([0, 1])})
    (x, y), (xt, _) = imdb.load_data(path=str(tmp_path / "reviews.npz"), start_char=None, index_from=0, seed=0)
    order, _ = keras_order(len(rows), 2, seed=0)
    assert list(x) == [rows[i] for i in order] and list(y) == [i % 2 for i in order]
    assert sorted(map(list, xt)) == sorted(TEST)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_imdb_large_pickles_read_as_numpy_reads_them(tmp_path, protocol):
    # several APPENDS batches of 1000 lists, protocol 4's frames every 64 KiB, ints of every encoding
    rng = np.random.default_rng(protocol)
    rows = [[int(v) for v in rng.choice([5, 300, 70000, 2**40, -3], size=int(rng.integers(0, 60)))]
            for _ in range(2500)]
    rows[7] = list(range(2100))                                # one list longer than a batch
    x = obj(rows)
    imdb_zip(tmp_path / "big.npz", {"x_train": npy_pickle(pickle.dumps(x, protocol=protocol), (len(rows),)),
                                    "y_train": np.zeros(len(rows), np.int64), "x_test": obj(TEST),
                                    "y_test": np.array([0, 1])})
    with np.load(tmp_path / "big.npz", allow_pickle=True) as trusted:      # the test's own file
        want = list(trusted["x_train"])
    got = md.datasets.imdb._npz.read_members(str(tmp_path / "big.npz"), ("x_train",), ("x_train",))["x_train"]
    assert got == want


def test_huge_memo_index_allocates_nothing(tmp_path):
    # LONG_BINPUT 0xfffffff0 makes the C unpickler size its memo table for 2**32 entries (32 GiB)
    payload = pickle.dumps(obj([[1, 2], [3]]), protocol=2)
    inner = payload.index(b"]q", payload.index(b"]q") + 1)                # the first review's BINPUT
    payload = payload[:inner] + b"]r\xf0\xff\xff\xff" + payload[inner + 3:]
    imdb_zip(tmp_path / "memo.npz", {"x_train": npy_pickle(payload, (2,)), "y_train": np.array([1, 0]),
                                     "x_test": obj(TEST), "y_test": np.array([0, 1])})
    got = run_python("import minidl as md\nprint(md.datasets.imdb._npz.read_members(sys.argv[1], ('x_train',), "
                     "('x_train',)))", tmp_path / "memo.npz", limit_as=1 << 30)
    assert got.returncode == 0 and "[[1, 2], [3]]" in got.stdout, got.stderr[-2000:]


def test_hostile_pickle_time_is_bounded(tmp_path):
    # 2 MiB of memo stores (compressing to a few KiB): refused after a bounded number of opcodes
    payload = b"\x80\x02N" + b"q\x00" * (1 << 20) + b"."
    imdb_zip(tmp_path / "slow.npz", {"x_train": npy_pickle(payload, (2,)), "y_train": np.array([1, 0]),
                                     "x_test": obj(TEST), "y_test": np.array([0, 1])})
    with pytest.raises(ValueError, match="slow.npz: array x_train: over 500000 opcodes outside the lists"):
        imdb.load_data(path=str(tmp_path / "slow.npz"))


@pytest.mark.parametrize("payload,match", [
    (pickle.dumps(obj([[1], (2,)])), "something other than ints or int lists"),
    (pickle.dumps(obj([[1], [[2]]])), "something other than ints or int lists"),
    (pickle.dumps(obj([[1], ["a"]])), "something other than ints or int lists"),
    (pickle.dumps(obj([[1], np.array([2])])), "is not one np.save writes"),
    (pickle.dumps(obj([[1], [2]]))[:-5], "truncated"),
    (pickle.dumps(obj([[1], [2]])) + b"\x00", "bytes follow the pickle"),
    (pickle.dumps(obj([[1], [2], [3]])), "more int lists than the 2 the header declares"),
    (pickle.dumps(obj([[1]])), "does not hold the 2 int lists"),
    (b"\x80\x04cbuiltins\neval\n.", "global builtins.eval is not allowed"),
    (b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93.", "global builtins.exec is not allowed"),
    (b"cos\nsystem\n(S'true'\ntR.", "not a binary pickle"),
])
def test_imdb_pickles_other_than_int_lists_are_refused(tmp_path, payload, match):
    imdb_zip(tmp_path / "bad.npz", {"x_train": npy_pickle(payload, (2,)), "y_train": np.array([1, 0]),
                                    "x_test": obj(TEST), "y_test": np.array([0, 1])})
    with pytest.raises(ValueError, match=match) as err:
        imdb.load_data(path=str(tmp_path / "bad.npz"))
    assert "bad.npz: array x_train" in str(err.value)


def test_imdb_in_the_default_folder_is_hash_checked_once(tmp_path, monkeypatch, imdb_file):
    home = tmp_path / "home" / "imdb"
    os.makedirs(home)
    os.replace(imdb_file, home / "imdb.npz")
    with pytest.raises(ValueError, match=r"imdb.npz: SHA256 [0-9a-f]{64} does not match the published 6966"):
        imdb.load_data()
    monkeypatch.setitem(imdb.CHECKSUMS, "imdb.npz", sha256s(home, ["imdb.npz"])["imdb.npz"])
    hashed = []
    monkeypatch.setattr(_files, "file_digest", lambda p, a="sha256": hashed.append(p) or hashlib.sha256(
        open(p, "rb").read()).hexdigest())
    for _ in range(3):
        assert len(imdb.load_data()[0][0]) == 4
    assert len(hashed) == 1                                   # cached while the file is unchanged
    (home / "imdb_word_index.json").write_text(json.dumps({"the": 1}))
    with pytest.raises(ValueError, match="imdb_word_index.json: MD5 .* does not match"):
        imdb.get_word_index()


def test_mnist_npz_in_the_default_folder_is_hash_checked(tmp_path, monkeypatch):
    (xa, ya), (xb, yb) = data = tiny_mnist()
    home = tmp_path / "home" / "mnist"
    os.makedirs(home)
    np.savez(home / "mnist.npz", x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    with pytest.raises(ValueError, match="mnist.npz: SHA256 .* does not match the published 731c5ac6"):
        mnist.load_data()
    monkeypatch.setattr(mnist, "NPZ_SHA256", sha256s(home, ["mnist.npz"])["mnist.npz"])
    assert_same(mnist.load_data(), data)


def test_npz_header_larger_than_its_data_is_refused_before_allocating(tmp_path):
    (xa, ya), (xb, yb) = tiny_mnist()
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)})
    with zipfile.ZipFile(tmp_path / "forged.npz", "w") as z:
        z.writestr("x_train.npy", buf.getvalue() + xa.tobytes())
        for name, arr in (("y_train", ya), ("x_test", xb), ("y_test", yb)):
            out = io.BytesIO()
            np.save(out, arr)
            z.writestr(name + ".npy", out.getvalue())
    with pytest.raises(ValueError, match=r"forged.npz: array x_train: its header declares shape \(1000000000, 28, "
                                         r"28\) of uint8 \(784000000000 bytes\) but 3920 bytes of data follow"):
        mnist.load_data(path=str(tmp_path / "forged.npz"))


def gz_of_zeros(head, megabytes):
    """A gzip file of ``head`` then ``megabytes`` MiB of zeros, a few KiB on disk (concatenated gzip members)."""
    one = gzip.compress(bytes(1 << 20), compresslevel=9)
    return gzip.compress(head) + one * megabytes


READ_IDX = ("import minidl as md\n"
            "try:\n"
            "    md.datasets.read_idx(sys.argv[1])\n"
            "except ValueError as e:\n"
            "    print('ValueError:', e)\n")


@pytest.mark.parametrize("dims,megabytes,match", [
    ((10, 28, 28), 1200, "has trailing bytes"),                 # the header says 7840 bytes; 1.2 GB follow
    ((900, 1000, 1000), 2, "truncated"),                        # 900 MB declared, 2 MiB there
    ((2**31, 28, 28), 1, "over the limit"),
])
def test_forged_idx_header_stays_within_memory(tmp_path, dims, megabytes, match):
    path = tmp_path / "forged-idx3-ubyte.gz"
    path.write_bytes(gz_of_zeros(struct.pack(">HBB3I", 0, 8, 3, *dims), megabytes))
    got = run_python(READ_IDX, path, limit_as=1 << 30)
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.startswith(f"ValueError: {path}: IDX ") and match in got.stdout


@pytest.mark.parametrize("dims", [(65536, 65536, 65536, 65536), (2**32 - 1, 2**32 - 1, 2**32 - 1, 7)])
def test_idx_dimensions_never_wrap_around(tmp_path, dims):
    path = tmp_path / "wrap.idx"
    path.write_bytes(struct.pack(">HBB4I", 0, 8, 4, *dims) + bytes(4))
    with pytest.raises(ValueError, match=rf"{path}: IDX dimensions .* declare {math.prod(dims)} bytes .* over the "
                                         "limit"):
        md.datasets.read_idx(str(path))
    with pytest.raises(ValueError, match="wrap: IDX dimensions"):
        md.datasets.idx.read_idx_bytes(path.read_bytes(), "wrap")
