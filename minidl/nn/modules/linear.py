"""PyTorch's ``torch.nn.modules.linear``: ``Identity``, ``Linear``, ``Bilinear`` and ``NonDynamicallyQuantizableLinear``
(``MultiheadAttention.out_proj``'s class).

Example:
    >>> md.nn.modules.linear.Linear is md.nn.Linear
    True
"""
from ..attention_layer import NonDynamicallyQuantizableLinear  # noqa: F401
from ..linear import Bilinear, Identity, Linear  # noqa: F401
