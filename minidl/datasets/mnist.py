"""MNIST handwritten digits (LeCun, Cortes & Burges): 60,000 training and 10,000 test images, 28x28 uint8.

Read from files you have, or downloaded once (SHA-256 checked) into ``$MINIDL_DATA/mnist/``
(default ``~/.minidl/data/mnist/``).
"""
from . import _mnist_like

# Published SHA-256 sums of the original IDX archives (the same files on every mirror below).
CHECKSUMS = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# Keras' mnist.npz (https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz), checked when found in
# the default folder.
NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)


def load_data(path=None, download=True):
    """Load MNIST as NumPy arrays, like ``keras.datasets.mnist.load_data``.

    Args:
        path: a folder holding the four IDX ``.gz`` files (``train-images-idx3-ubyte.gz``,
            ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``)
            or Keras' ``mnist.npz``; or the path of an ``.npz`` file. Default: ``$MINIDL_DATA/mnist``.
        download: fetch absent IDX files from the public mirrors (default True).
            Files in the default folder must match the published SHA-256 on every load; files under
            your own ``path`` are read as is (never executing code, memory bounded by their real size).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 of shape ``(N, 28, 28)``, ``y`` uint8 labels 0-9.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = md.datasets.mnist.load_data()
        >>> x_train.shape, x_test.shape
        ((60000, 28, 28), (10000, 28, 28))
    """
    return _mnist_like.load("mnist", path, CHECKSUMS, MIRRORS, ("mnist.npz",), download,
                            npz_checksums={"mnist.npz": NPZ_SHA256})
