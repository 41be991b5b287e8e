"""The UCI optical-recognition handwritten digits, shipped inside minidl: 1,797 8x8 images, values 0-16.

Source: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
Repository (1998), https://doi.org/10.24432/C50P49, licensed CC BY 4.0. The bundled copy is the set
scikit-learn distributes (the UCI test portion, 1,797 samples); see ``data/README.md``. Each image counts
the "on" pixels of a 32x32 bitmap in 4x4 blocks, so values run 0..16.
"""
import hashlib
import os

import numpy as np

_FILE = os.path.join(os.path.dirname(__file__), "data", "digits.npz")
# SHA-256 of images.tobytes() + labels.tobytes(): catches a damaged package file
_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
N_SAMPLES = 1797


def _load_all():
    with np.load(_FILE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    if hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest() != _SHA256:
        raise ValueError(f"{_FILE}: the bundled digits data is damaged (checksum mismatch); reinstall minidl")
    return images, labels.astype(np.int64)


def load_data(test_fraction=0.2, seed=0, test_split=None):
    """Load the digits with a fixed, seeded train/test split; no network, no files to fetch.

    Args:
        test_fraction: share of the 1,797 samples held out for testing, in (0, 1). The default 0.2
            gives 1,438 training and 359 test samples (``round(1797 * test_fraction)`` test samples).
        seed: seed of the permutation that splits the samples (default 0: always the same split).
        test_split: an alias of ``test_fraction``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 of shape ``(N, 8, 8)`` with values 0-16,
        ``y`` int64 labels 0-9.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = md.datasets.digits.load_data()
        >>> x_train.shape, x_test.shape
        ((1438, 8, 8), (359, 8, 8))
    """
    frac = test_fraction if test_split is None else test_split
    if not 0.0 < frac < 1.0:
        raise ValueError(f"digits.load_data: test_fraction must be in (0, 1), got {frac}")
    images, labels = _load_all()
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * frac))
    if n_test == 0 or n_test == len(labels):
        raise ValueError(f"digits.load_data: test_fraction={frac} leaves an empty train or test set")
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])
