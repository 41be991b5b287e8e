"""``md.keras.datasets.mnist``: ``load_data()`` returns ``(x_train, y_train), (x_test, y_test)``
as Keras, images ``(N, 28, 28)`` uint8. Files are read from ``$MINIDL_DATA/mnist``
(IDX ``.gz`` files or a Keras ``.npz``), or downloaded once and SHA-256 checked; see ``md.datasets.mnist``."""
from ...datasets import mnist as _source


def load_data(path=None, download=True):
    """Load mnist (see ``md.datasets.mnist.load_data``)."""
    return _source.load_data(path=path, download=download)
