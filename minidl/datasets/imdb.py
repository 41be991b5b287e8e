"""IMDB movie-review sentiment (Maas et al., 2011) in Keras' ``imdb.npz`` format: reviews as word-index lists.

Index ``i`` in the file stands for the ``i``-th most frequent word (1-based); ``load_data`` shifts the
indices by ``index_from`` so that 0 (padding), ``start_char`` and ``oov_char`` stay free, as Keras does.
Files are read from ``path`` or ``$MINIDL_DATA/imdb/`` (default ``~/.minidl/data/imdb/``), downloaded
once when absent; files in that default folder must match their published digest on every load.
Keras stores the reviews as pickled object arrays; they are read without pickle (see ``_npz``), so a file
can never run code: anything but int lists is a ``ValueError`` naming the file.
"""
import json
import os

import numpy as np

from . import _files, _npz

MIRRORS = ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",)
# Keras publishes a SHA-256 for imdb.npz and only an MD5 for the word index.
CHECKSUMS = {
    "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "imdb_word_index.json": "bfafd718b763782e994055a2d397834f",
}
MAX_WORD_INDEX_BYTES = 64 << 20


def _resolve(path, filename, download):
    if path is not None and os.path.isfile(path):
        return path
    if path is not None and not os.path.isdir(path):
        raise FileNotFoundError(f"imdb: {path} does not exist: pass {filename} or the folder holding it")
    folder = path if path is not None else _files.data_home("imdb")
    return _files.ensure_files("imdb", folder, {filename: CHECKSUMS[filename]}, MIRRORS, download_ok=download,
                               check=path is None)[filename]


def _read_npz(path):
    # NOTE: Keras stores the reviews as pickled object arrays of lists; _npz reads exactly that shape of
    # pickle without running it, so a planted file cannot execute code.
    arrays = _npz.read_members(path, ("x_train", "y_train", "x_test", "y_test"), object_names=("x_train", "x_test"))
    out = []
    for split in ("train", "test"):
        x, y = _object_array(arrays["x_" + split]), arrays["y_" + split]
        if y.ndim != 1 or len(x) != len(y) or y.dtype.kind not in "biu":
            raise ValueError(f"{path}: y_{split} should be 1-D integer labels, one per review of x_{split} "
                             f"({len(x)}), got {y.dtype} {tuple(y.shape)}")
        out += [x, y]
    return out


def _object_array(lists):
    out = np.empty(len(lists), dtype=object)      # 1-D even when every review has the same length
    for i, x in enumerate(lists):
        out[i] = x
    return out


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, download=True):
    """Load the IMDB reviews with Keras' options.

    Args:
        path: ``imdb.npz`` or the folder holding it (default ``$MINIDL_DATA/imdb``).
        num_words: keep only word indices below this (after shifting); others become ``oov_char``
            (or are dropped when ``oov_char`` is None). Default: keep all.
        skip_top: also treat the indices below this as out of vocabulary (the most frequent words).
        maxlen: drop reviews whose length (with the start mark) is not below ``maxlen``.
        seed: seed of the shuffle of the training and of the test set (``np.random.RandomState``, as Keras).
        start_char: index put at the start of every review (None: none).
        oov_char: index replacing out-of-vocabulary words (None: drop them).
        index_from: shift added to every word index.
        download: fetch ``imdb.npz`` when absent.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` 1-D object arrays of int lists, ``y`` label arrays.

    Example:
        >>> (x_train, y_train), _ = md.datasets.imdb.load_data(num_words=10000)
        >>> x = md.datasets.pad_sequences(x_train, maxlen=200)
    """
    x_train, y_train, x_test, y_test = _read_npz(_resolve(path, "imdb.npz", download))
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = x_train[order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = x_test[order], y_test[order]

    head = [] if start_char is None else [start_char]
    shift = index_from or 0
    xs = [head + [int(w) + shift for w in x] for x in list(x_train) + list(x_test)]
    labels = np.concatenate([y_train, y_test])
    n_train = len(x_train)
    if maxlen:
        keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
        n_train = sum(1 for i in keep if i < len(x_train))
        if n_train == 0 or n_train == len(keep):
            raise ValueError(f"imdb.load_data: after dropping sequences of length >= maxlen={maxlen}, no "
                             f"{'training' if n_train == 0 else 'test'} sequence is left; increase maxlen")
        xs, labels = [xs[i] for i in keep], labels[keep]
    if not num_words:
        # NOTE: Keras documents "None: all words are kept" but its code uses the largest index as the bound,
        # which turns that one word into oov_char; the bound is one past it here, as documented.
        num_words = max((max(x) for x in xs if x), default=0) + 1
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    return (_object_array(xs[:n_train]), labels[:n_train]), (_object_array(xs[n_train:]), labels[n_train:])


def get_word_index(path=None, download=True):
    """The word -> index dictionary of the reviews (``imdb_word_index.json``), indices before ``index_from``.

    Example:
        >>> index = md.datasets.imdb.get_word_index()
        >>> words = {i + 3: w for w, i in index.items()}      # decode with load_data's default index_from=3
    """
    file = _resolve(path, "imdb_word_index.json", download)
    size = os.path.getsize(file)
    if size > MAX_WORD_INDEX_BYTES:
        raise ValueError(f"{file}: {size} bytes, over the {MAX_WORD_INDEX_BYTES}-byte limit of a word index "
                         "(Keras' is 1.6 MB)")
    try:
        with open(file, encoding="utf-8") as f:
            index = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{file}: not a valid word-index JSON file ({type(exc).__name__}: {exc})") from None
    if not isinstance(index, dict):
        raise ValueError(f"{file}: expected a JSON object mapping words to indices, got {type(index).__name__}")
    bad = next((k for k, v in index.items() if type(v) is not int), None)
    if bad is not None:
        raise ValueError(f"{file}: word {bad!r} maps to {index[bad]!r}, not an integer index")
    return index
