"""``keras.utils.PyDataset`` (and its older name ``Sequence``): a dataset written in Python, batch by batch, that
``fit``/``evaluate``/``predict`` read by index.

Subclass it and define ``__len__`` (the number of batches) and ``__getitem__(index)`` (batch ``index`` as ``x``,
``(x, y)`` or ``(x, y, sample_weight)``); ``on_epoch_begin``/``on_epoch_end`` run around each epoch (shuffle
there). ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted as in Keras; md.keras reads the
batches in order in the training process.

Example:
    >>> class Batches(md.keras.utils.PyDataset):
    ...     def __init__(self, x, y, batch_size, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, i):
    ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
    ...         return self.x[s], self.y[s]
    >>> model.fit(Batches(x_train, y_train, 32), epochs=3)
"""


class PyDataset:
    """Base class of Python datasets read batch by batch (see the module's notes)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PyDataset: {name} must be a positive int, got {value!r}")
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, bool(use_multiprocessing), \
            max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning batch `index`")

    @property
    def num_batches(self):
        """The number of batches: ``len(self)``."""
        if type(self).__len__ is PyDataset.__len__:
            raise NotImplementedError(f"{type(self).__name__} must define __len__ (its number of batches)")
        return len(self)

    def __len__(self):
        return self.num_batches

    def on_epoch_begin(self):
        """Called before each epoch (override it)."""

    def on_epoch_end(self):
        """Called after each epoch (override it, e.g. to shuffle)."""


Sequence = PyDataset
