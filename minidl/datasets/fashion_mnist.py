"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017; Zalando Research, MIT licence): 28x28 images of 10 clothing classes.

Same layout as MNIST: 60,000 training and 10,000 test images. Read from files you have, or downloaded
once (SHA-256 checked) into ``$MINIDL_DATA/fashion_mnist/`` (default ``~/.minidl/data/fashion_mnist/``).
"""
from . import _mnist_like

# SHA-256 sums of the four archives as published by several independent projects next to Zalando's MD5s.
CHECKSUMS = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")


def load_data(path=None, download=True):
    """Load Fashion-MNIST as NumPy arrays, like ``keras.datasets.fashion_mnist.load_data``.

    Args:
        path: a folder holding the four IDX ``.gz`` files (same names as MNIST's) or a Keras-style
            ``fashion-mnist.npz`` / ``fashion_mnist.npz``; or the path of such an ``.npz`` file.
            Default: ``$MINIDL_DATA/fashion_mnist``.
        download: fetch absent IDX files from the public mirrors (default True).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 ``(N, 28, 28)``, ``y`` uint8 labels 0-9
        (names in ``CLASS_NAMES``).

    Example:
        >>> (x_train, y_train), _ = md.datasets.fashion_mnist.load_data()
        >>> md.datasets.fashion_mnist.CLASS_NAMES[y_train[0]]
        'Ankle boot'
    """
    return _mnist_like.load("fashion_mnist", path, CHECKSUMS, MIRRORS, ("fashion-mnist.npz", "fashion_mnist.npz"),
                            download)
