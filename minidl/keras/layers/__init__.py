"""``md.keras.layers``: Keras' layers, each built on ``md.nn`` modules (see ``base.Layer``).

Example:
    >>> from minidl.keras import layers
    >>> model = md.keras.Sequential([layers.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
    ...                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10, activation="softmax")])
"""
from .base import Input, InputLayer, KerasTensor, Layer
from .convolutional import (AveragePooling1D, AveragePooling2D, Conv1D, Conv2D, GlobalAveragePooling1D,
                            GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .merging import Add, Average, Concatenate, Multiply
from .normalization import BatchNormalization, LayerNormalization
from .recurrent import GRU, LSTM, Embedding, SimpleRNN
from .wrappers import Bidirectional

# Keras' aliases
Convolution1D, MaxPool1D, AvgPool1D = Conv1D, MaxPooling1D, AveragePooling1D
Convolution2D, MaxPool2D, AvgPool2D = Conv2D, MaxPooling2D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                                      GlobalMaxPooling1D, GlobalMaxPooling2D)

LAYERS = {c.__name__: c for c in (Activation, Add, Average, AveragePooling1D, AveragePooling2D, BatchNormalization,
                                  Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten, GRU,
                                  GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                                  GlobalMaxPooling2D, LSTM, LayerNormalization, MaxPooling1D, MaxPooling2D, Multiply,
                                  Reshape, SimpleRNN)}

__all__ = sorted(LAYERS) + ["Input", "InputLayer", "KerasTensor", "Layer", "Convolution1D", "MaxPool1D", "AvgPool1D",
                            "Convolution2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D",
                            "GlobalMaxPool1D", "GlobalMaxPool2D"]

# --- issue 15: more of Keras 3's layers --------------------------------------------------------------------------
from .activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: E402
from .lambda_layers import Lambda, TimeDistributed  # noqa: E402
from .merging_more import Dot, Maximum, Minimum, Subtract  # noqa: E402
from .regularization import GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D  # noqa: E402
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D,  # noqa: E402
                        UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

_MORE = (ELU, LeakyReLU, PReLU, ReLU, Softmax, Lambda, TimeDistributed, Dot, Maximum, Minimum, Subtract,
         GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, Cropping1D, Cropping2D, Cropping3D,
         Permute, RepeatVector, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
LAYERS.update({c.__name__: c for c in _MORE})
__all__ += sorted(c.__name__ for c in _MORE)

from .convolutional_more import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D  # noqa: E402

Convolution2DTranspose, SeparableConvolution2D = Conv2DTranspose, SeparableConv2D
LAYERS.update({c.__name__: c for c in (Conv2DTranspose, DepthwiseConv2D, SeparableConv2D)})
__all__ += ["Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "Convolution2DTranspose",
            "SeparableConvolution2D"]

# --- more of Keras 3's layers and the functional merge spellings (layers_extra.py) ---
from .layers_extra import (FUNCTIONS as _EXTRA_FUNCTIONS, LAYER_CLASSES as _EXTRA,  # noqa: E402
                           ActivityRegularization, AlphaDropout, GroupNormalization, Identity, RMSNormalization,
                           SpatialDropout3D, UnitNormalization, add, average, concatenate, dot, maximum, minimum,
                           multiply, subtract)

LAYERS.update({c.__name__: c for c in _EXTRA})
__all__ += sorted(c.__name__ for c in _EXTRA) + [f.__name__ for f in _EXTRA_FUNCTIONS]

# --- issue 15 (pre): preprocessing layers (numeric, image, text) ---
from .preprocessing_image import (CenterCrop, RandomBrightness, RandomContrast, RandomFlip,  # noqa: E402
                                  RandomRotation, RandomTranslation, RandomZoom, Resizing)
from .preprocessing_numeric import CategoryEncoding, Hashing, Normalization, Rescaling  # noqa: E402
from .preprocessing_text import IntegerLookup, StringLookup, TextVectorization  # noqa: E402

_PREPROCESSING = (CenterCrop, RandomBrightness, RandomContrast, RandomFlip, RandomRotation, RandomTranslation,
                  RandomZoom, Resizing, CategoryEncoding, Hashing, Normalization, Rescaling, IntegerLookup,
                  StringLookup, TextVectorization)
LAYERS.update({c.__name__: c for c in _PREPROCESSING})
__all__ += sorted(c.__name__ for c in _PREPROCESSING)

from . import base as _base  # noqa: E402
from .preprocessing_text import StringDType as _StringDType  # noqa: E402

_base.INPUT_DTYPES.setdefault("string", _StringDType())      # keras.Input(shape=(1,), dtype="string")
# --- issue 15 (rnn): masks (Embedding(mask_zero=True), Masking) carried from layer to layer ---
from .. import masking_utils as _masking_utils  # noqa: E402,F401  (installs compute_mask on Layer)
from .masking import Masking  # noqa: E402

LAYERS["Masking"] = Masking
__all__ += ["Masking"]
# --- issue 15 campaign: Conv1DTranspose and the functional merge helpers ------------------------------------------
from .convolutional_transpose1d import Conv1DTranspose  # noqa: E402

Convolution1DTranspose = Conv1DTranspose
LAYERS["Conv1DTranspose"] = Conv1DTranspose
__all__ += ["Conv1DTranspose", "Convolution1DTranspose"]
# --- issue 16: attention layers -----------------------------------------------------------------------------------
from .attention import AdditiveAttention, Attention  # noqa: E402
from .multi_head_attention import MultiHeadAttention  # noqa: E402

LAYERS.update({c.__name__: c for c in (AdditiveAttention, Attention, MultiHeadAttention)})
__all__ += ["AdditiveAttention", "Attention", "MultiHeadAttention"]
