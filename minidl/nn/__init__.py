"""``md.nn``: modules, layers, losses, initializers and utilities, with PyTorch's names and layouts.

Example:
    >>> net = md.nn.Sequential(md.nn.Linear(4, 8), md.nn.ReLU(), md.nn.Linear(8, 2))
    >>> loss = md.nn.CrossEntropyLoss()(net(md.randn(3, 4)), md.tensor([0, 1, 1]))
"""
from . import functional, init, utils
from . import functional as F  # noqa: N812 -- PyTorch users write F
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .conv import Conv2d, ConvTranspose2d
from .container import Flatten, ModuleList, Sequential, Unflatten
from .dropout import Dropout
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .parameter import Parameter
from .pooling import AvgPool2d, MaxPool2d
from .rnn import GRU, LSTM, RNN
from .sparse import Embedding
from .upsampling import Upsample

__all__ = ["AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d",
           "CrossEntropyLoss", "Dropout", "Embedding", "F", "Flatten", "GELU", "GRU", "Identity", "L1Loss", "LSTM",
           "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleList", "NLLLoss",
           "Parameter", "RNN", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "Unflatten", "Upsample",
           "functional", "init", "utils"]


# --- issue 14 ---
from .activation import (ELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU,  # noqa: E402
                         ReLU6, SiLU, Softplus)
from .container import ModuleDict, ParameterDict, ParameterList  # noqa: E402
from .distance import CosineSimilarity  # noqa: E402
from .loss import HuberLoss, KLDivLoss, SmoothL1Loss  # noqa: E402
from .pixelshuffle import PixelShuffle, PixelUnshuffle  # noqa: E402
from .conv import Conv1d  # noqa: E402
from .dropout import Dropout1d, Dropout2d  # noqa: E402
from .normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d  # noqa: E402
from .pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, MaxPool1d  # noqa: E402
from .rnn import GRUCell, LSTMCell, RNNCell  # noqa: E402
from .linear import Bilinear  # noqa: E402
from .activation import GLU  # noqa: E402

__all__ += ["CosineSimilarity", "ELU", "SELU", "Hardsigmoid", "Hardswish", "Hardtanh", "HuberLoss", "KLDivLoss",
            "LogSigmoid", "Mish", "PReLU", "PixelShuffle", "PixelUnshuffle", "ReLU6", "SiLU", "SmoothL1Loss",
            "Softplus", "ModuleDict", "ParameterDict", "ParameterList", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
            "AvgPool1d", "Conv1d", "Dropout1d", "Dropout2d", "GRUCell", "GroupNorm", "InstanceNorm2d", "LSTMCell",
            "MaxPool1d", "RNNCell", "Bilinear", "InstanceNorm1d", "GLU"]

# --- padding layers, shrink/threshold activations, distances and the margin/likelihood losses ---------------------
from . import layers_more as _layers_more  # noqa: E402
from . import padding as _padding  # noqa: E402
from .layers_more import *  # noqa: E402,F403
from .padding import *  # noqa: E402,F403

__all__ += _layers_more.__all__ + _padding.__all__


# --- issue 14: programs (vis) ---
from . import parallel  # noqa: E402
from .parallel import DataParallel  # noqa: E402

__all__ += ["DataParallel", "parallel"]


# --- issue 16: attention and the Transformer layers ---
from .attention_layer import MultiheadAttention  # noqa: E402
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,  # noqa: E402
                          TransformerEncoderLayer)

__all__ += ["MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
            "TransformerEncoderLayer"]
from . import modules  # noqa: E402  (the layers under PyTorch's file names: nn.modules.linear.Linear, ...)

__all__ += ["modules"]
