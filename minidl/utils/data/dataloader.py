"""``md.utils.data.dataloader``, as ``torch.utils.data.dataloader``: ``DataLoader`` and the collate functions."""
from ...data.dataloader import DataLoader, default_collate, default_convert
from ...data.worker import get_worker_info

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
