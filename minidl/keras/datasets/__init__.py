"""``md.keras.datasets``: Keras' dataset loaders (``mnist``, ``fashion_mnist``, ``imdb``), backed by ``md.datasets``.

Example:
    >>> (x_train, y_train), (x_test, y_test) = md.keras.datasets.mnist.load_data()
"""
from . import fashion_mnist, imdb, mnist
