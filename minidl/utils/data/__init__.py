"""``md.utils.data``: datasets, samplers and the DataLoader under PyTorch's module path (they live in ``md.data``).

Example:
    >>> from minidl.utils.data import DataLoader, TensorDataset, random_split
    >>> train_set, val_set = random_split(TensorDataset(x, y), [0.8, 0.2], generator=md.Generator().manual_seed(0))
    >>> loader = DataLoader(train_set, batch_size=32, shuffle=True, num_workers=2)
"""
from ...data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset,
                     RandomSampler, Sampler, SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                     WeightedRandomSampler, WorkerInfo, default_collate, default_convert, get_worker_info,
                     random_split)
from . import dataloader, dataset, sampler

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "WorkerInfo", "dataloader", "dataset", "default_collate", "default_convert",
           "get_worker_info", "random_split", "sampler"]
