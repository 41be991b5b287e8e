"""``md.utils.data.dataset``, as ``torch.utils.data.dataset``: the dataset classes and ``random_split``."""
from ...data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                             random_split)

__all__ = ["ChainDataset", "ConcatDataset", "Dataset", "IterableDataset", "Subset", "TensorDataset", "random_split"]
