"""``md.cuda``: GPU availability (GPU tensors arrive with the CUDA backend)."""
from .device import cuda_is_available as is_available

__all__ = ["is_available"]
