"""Datasets and batching: ``md.data.Dataset``, ``TensorDataset``, ``DataLoader``.

Example:
    >>> loader = md.data.DataLoader(md.data.TensorDataset(x, y), batch_size=64, shuffle=True)
"""
from .dataloader import DataLoader, default_collate
from .dataset import Dataset, TensorDataset
from .sampler import Sampler
