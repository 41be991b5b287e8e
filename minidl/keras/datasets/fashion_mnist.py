"""``md.keras.datasets.fashion_mnist``: ``load_data()`` returns ``(x_train, y_train), (x_test, y_test)``
as Keras, images ``(N, 28, 28)`` uint8. Files are read from ``$MINIDL_DATA/fashion_mnist``
(IDX ``.gz`` files or a Keras ``.npz``), or downloaded once and SHA-256 checked; see ``md.datasets.fashion_mnist``."""
from ...datasets import fashion_mnist as _source


def load_data(path=None, download=True):
    """Load fashion_mnist (see ``md.datasets.fashion_mnist.load_data``)."""
    return _source.load_data(path=path, download=download)
