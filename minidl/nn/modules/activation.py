"""PyTorch's ``torch.nn.modules.activation``: minidl's activation layers and ``MultiheadAttention``.

Example:
    >>> md.nn.modules.activation.MultiheadAttention is md.nn.MultiheadAttention
    True
"""
from ..activation import (ELU, GELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid,  # noqa: F401
                          LogSoftmax, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Tanh)
from ..attention_layer import MultiheadAttention  # noqa: F401
from ..layers_more import (CELU, Hardshrink, RReLU, Softmax2d, Softmin, Softshrink, Softsign,  # noqa: F401
                           Tanhshrink, Threshold)
