"""Datasets: anything with ``__getitem__`` and ``__len__``; ``TensorDataset`` wraps aligned arrays."""
import numpy as np

from ..device import is_cuda_array
from ..tensor import Tensor


class Dataset:
    """Base class of map-style datasets: override ``__getitem__(i)`` and ``__len__()``.

    Example:
        >>> class Squares(md.data.Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, i): return float(i), i * i
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


def _array(x, i):
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, np.ndarray) or is_cuda_array(x):
        return x
    try:
        return np.asarray(x)
    except Exception as exc:  # noqa: BLE001 -- any conversion failure is the same user error
        raise TypeError(f"TensorDataset: argument {i} must be a Tensor or an array, got {type(x).__name__}") from exc


class TensorDataset(Dataset):
    """Samples are the ``i``-th rows of the given Tensors or arrays, which must share their first dimension.

    ``dataset[i]`` is a tuple of Tensors (views, cut from any graph). ``DataLoader`` indexes the
    underlying arrays with a whole batch of indices at once instead of calling ``__getitem__`` per sample.

    Example:
        >>> ds = md.data.TensorDataset(np.zeros((100, 4), np.float32), np.arange(100))
        >>> x, y = ds[3]            # x.shape == (4,), y is a 0-d int64 tensor
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one Tensor or array")
        self.arrays = [_array(t, i) for i, t in enumerate(tensors)]
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is 0-d; every argument needs a first (sample) "
                                 "dimension")
        sizes = [a.shape[0] for a in self.arrays]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions differ ({shapes})")

    @property
    def tensors(self):
        return tuple(Tensor._wrap(a) for a in self.arrays)

    def __getitem__(self, index):
        return tuple(Tensor._wrap(a[index]) for a in self.arrays)

    def __len__(self):
        return int(self.arrays[0].shape[0])
