"""Shared loader of MNIST-shaped datasets: four IDX ``.gz`` files, or one Keras-style ``.npz``."""
import os
import zipfile

import numpy as np

from . import _files
from .idx import read_idx

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _check_pair(x, y, where, split):
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise ValueError(f"{where}: x_{split} should be uint8 of shape (N, 28, 28), got {x.dtype} {tuple(x.shape)}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{where}: y_{split} of shape {tuple(y.shape)} does not match x_{split} of shape "
                         f"{tuple(x.shape)}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{where}: y_{split} holds labels outside 0..9 ({y.min()}..{y.max()})")


def load_npz(path):
    """Read a Keras ``mnist.npz``-style file (keys x_train, y_train, x_test, y_test)."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:   # closes the file on any error
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise ValueError(f"{path}: missing array(s) {', '.join(missing)} (found {', '.join(f.files)})")
            x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc}); it is corrupt or "
                         "truncated") from exc
    _check_pair(x_train, y_train, path, "train")
    _check_pair(x_test, y_test, path, "test")
    return (x_train, y_train), (x_test, y_test)


def load_idx_folder(paths):
    """Read the four IDX files (paths in FILES order) and check images and labels agree."""
    x_train = read_idx(paths[0], ndim=3, shape=(None, 28, 28))
    y_train = read_idx(paths[1], ndim=1, shape=(x_train.shape[0],))
    x_test = read_idx(paths[2], ndim=3, shape=(None, 28, 28))
    y_test = read_idx(paths[3], ndim=1, shape=(x_test.shape[0],))
    _check_pair(x_train, y_train, paths[1], "train")
    _check_pair(x_test, y_test, paths[3], "test")
    return (x_train, y_train), (x_test, y_test)


def load(name, path, checksums, mirrors, npz_names, download=True):
    """Resolve ``path`` (None, a folder or an ``.npz`` file) and load; download the IDX files when absent."""
    if path is not None and not os.path.isdir(path):
        if os.path.isfile(path):
            return load_npz(path)
        raise FileNotFoundError(f"{name}: {path} does not exist: pass a folder holding {', '.join(FILES)} or a "
                                f"Keras-style .npz file ({' or '.join(npz_names)})")
    folder = path if path is not None else _files.data_home(name)
    if not all(os.path.isfile(os.path.join(folder, f)) for f in FILES):
        for npz in npz_names:
            if os.path.isfile(os.path.join(folder, npz)):
                return load_npz(os.path.join(folder, npz))
    hint = f"; a Keras-style {' or '.join(npz_names)} in that folder works too"
    paths = _files.ensure_files(name, folder, checksums, mirrors, download_ok=download, hint=hint)
    return load_idx_folder([paths[f] for f in FILES])
