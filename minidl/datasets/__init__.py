"""Data sets as NumPy arrays, Keras-style: ``(x_train, y_train), (x_test, y_test) = md.datasets.<name>.load_data()``.

- ``digits``: the UCI handwritten digits, shipped inside minidl (works offline).
- ``mnist``, ``fashion_mnist``: IDX ``.gz`` files or a Keras ``.npz``, downloaded once and SHA-256 checked.
- ``imdb``: Keras' ``imdb.npz`` with its options, ``get_word_index()``; ``pad_sequences``.
- ``synthetic``: seeded generators for every model family.
- ``addition``: multi-digit addition as characters (``"123+456=9750"``), the task of ``minidl train gpt``.

Example:
    >>> (x_train, y_train), (x_test, y_test) = md.datasets.digits.load_data()
"""
from . import addition, digits, fashion_mnist, imdb, mnist, synthetic
from .idx import read_idx
from .sequence import pad_sequences
