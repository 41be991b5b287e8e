"""``md.keras.utils.timeseries_dataset_from_array``: sliding windows over a time series, batched for ``fit``."""
import numpy as np

__all__ = ["TimeseriesDataset", "timeseries_dataset_from_array"]


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
    return int(value)


class TimeseriesDataset:
    """The windows of ``timeseries_dataset_from_array``: iterating gives batches ``(x, y)`` (or ``x`` without
    targets) as NumPy arrays, ``len()`` is the number of batches, so ``model.fit(dataset)`` trains on it."""

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size):
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(sequence_length) * sampling_rate
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def _item(self, starts):
        x = self.data[starts[:, None] + self.offsets]
        return x if self.targets is None else (x, self.targets[starts])

    def __iter__(self):
        if self.batch_size is None:
            for s in self.starts:
                x = self.data[s + self.offsets]
                yield x if self.targets is None else (x, self.targets[s])
            return
        for i in range(0, len(self.starts), self.batch_size):
            yield self._item(self.starts[i:i + self.batch_size])

    def as_numpy_iterator(self):
        return iter(self)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                                  shuffle=False, seed=None, start_index=None, end_index=None):
    """Windows of ``sequence_length`` steps (every ``sampling_rate``-th step) starting every ``sequence_stride``
    steps in ``data[start_index:end_index]``; window ``i`` starting at step ``s`` is paired with ``targets[s]``
    (``targets=None`` gives windows alone). ``shuffle`` orders the windows at random (repeatably with ``seed``);
    the last batch may be smaller.

    Example:
        >>> ds = md.keras.utils.timeseries_dataset_from_array(np.arange(10), None, sequence_length=5, batch_size=2)
        >>> next(iter(ds))
        array([[0, 1, 2, 3, 4],
               [1, 2, 3, 4, 5]])
    """
    sequence_length = _positive("sequence_length", sequence_length)
    sequence_stride = _positive("sequence_stride", sequence_stride)
    sampling_rate = _positive("sampling_rate", sampling_rate)
    if batch_size is not None:
        batch_size = _positive("batch_size", batch_size)
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError(f"timeseries_dataset_from_array: `data` must have a time axis, got a scalar {data!r}")
    start_index = 0 if start_index is None else int(start_index)
    end_index = len(data) if end_index is None else int(end_index)
    if not 0 <= start_index < len(data):
        raise ValueError(f"`start_index` must be 0 or greater and less than the length of `data` ({len(data)}). "
                         f"Received: start_index={start_index}")
    if not start_index < end_index <= len(data):
        raise ValueError(f"`end_index` must be higher than `start_index` ({start_index}) and at most the length of "
                         f"`data` ({len(data)}). Received: end_index={end_index}")
    data = data[start_index:end_index]
    count = len(data) - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)[start_index:]
        count = min(count, len(targets))
    starts = np.arange(0, max(count, 0), sequence_stride)
    if shuffle:
        rng = np.random.default_rng(seed)
        starts = rng.permutation(starts)
    return TimeseriesDataset(data, targets, starts, sequence_length, sampling_rate, batch_size)
