"""``md.distributions``: PyTorch's ``torch.distributions`` for the discrete policies of reinforcement learning.

Only ``Categorical`` is offered; any other name raises an AttributeError naming ``torch.distributions.<name>``.
"""
from .._missing import module_getattr
from .categorical import Categorical

__all__ = ["Categorical"]

__getattr__ = module_getattr("minidl.distributions", "torch.distributions")
