"""Shared loader of MNIST-shaped datasets: four IDX ``.gz`` files, or one Keras-style ``.npz``."""
import os

import numpy as np

from . import _files, _npz
from .idx import read_idx

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _check_pair(x, y, where, split):
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise ValueError(f"{where}: x_{split} should be uint8 of shape (N, 28, 28), got {x.dtype} {tuple(x.shape)}")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in "iu":
        raise ValueError(f"{where}: y_{split} ({y.dtype} {tuple(y.shape)}) should be integer labels, one per "
                         f"image of x_{split} {tuple(x.shape)}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{where}: y_{split} holds labels outside 0..9 ({y.min()}..{y.max()})")


def load_npz(path):
    """Read a Keras ``mnist.npz``-style file (keys x_train, y_train, x_test, y_test); never unpickles."""
    arrays = _npz.read_members(path, ("x_train", "y_train", "x_test", "y_test"))
    _check_pair(arrays["x_train"], arrays["y_train"], path, "train")
    _check_pair(arrays["x_test"], arrays["y_test"], path, "test")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_idx_folder(paths):
    """Read the four IDX files (paths in FILES order) and check images and labels agree."""
    x_train = read_idx(paths[0], ndim=3, shape=(None, 28, 28))
    y_train = read_idx(paths[1], ndim=1, shape=(x_train.shape[0],))
    x_test = read_idx(paths[2], ndim=3, shape=(None, 28, 28))
    y_test = read_idx(paths[3], ndim=1, shape=(x_test.shape[0],))
    _check_pair(x_train, y_train, paths[1], "train")
    _check_pair(x_test, y_test, paths[3], "test")
    return (x_train, y_train), (x_test, y_test)


def load(name, path, checksums, mirrors, npz_names, download=True, npz_checksums=None):
    """Resolve ``path`` (None, a folder or an ``.npz`` file) and load; download the IDX files when absent.

    Files in the default folder (``path`` None) must match ``checksums`` / ``npz_checksums`` where one is known.
    """
    if path is not None and not os.path.isdir(path):
        if os.path.isfile(path):
            return load_npz(path)
        raise FileNotFoundError(f"{name}: {path} does not exist: pass a folder holding {', '.join(FILES)} or a "
                                f"Keras-style .npz file ({' or '.join(npz_names)})")
    folder = path if path is not None else _files.data_home(name)
    if not all(os.path.isfile(os.path.join(folder, f)) for f in FILES):
        for npz in npz_names:
            file = os.path.join(folder, npz)
            if os.path.isfile(file):
                if path is None and (npz_checksums or {}).get(npz):
                    _files.verify(file, npz_checksums[npz])
                return load_npz(file)
    hint = f"; a Keras-style {' or '.join(npz_names)} in that folder works too"
    paths = _files.ensure_files(name, folder, checksums, mirrors, download_ok=download, hint=hint,
                                check=path is None)
    return load_idx_folder([paths[f] for f in FILES])
