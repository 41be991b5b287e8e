"""``md.keras.datasets.imdb``: the IMDB reviews with Keras' options (``num_words``, ``maxlen``, ``skip_top``,
``start_char``, ``oov_char``, ``index_from``), backed by ``md.datasets.imdb``.

Example:
    >>> (x_train, y_train), (x_test, y_test) = md.keras.datasets.imdb.load_data(num_words=10000)
"""
from ...datasets import imdb as _source


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3,
              download=True):
    """Load IMDB as lists of word-index sequences and 0/1 labels (see ``md.datasets.imdb.load_data``)."""
    return _source.load_data(path=path, num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                             start_char=start_char, oov_char=oov_char, index_from=index_from, download=download)


def get_word_index(path=None, download=True):
    """The ``{word: index}`` mapping of the IMDB set."""
    return _source.get_word_index(path=path, download=download)
