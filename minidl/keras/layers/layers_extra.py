"""More of Keras 3's layers: ``Identity``, ``ActivityRegularization``, ``AlphaDropout``, ``SpatialDropout3D``,
``UnitNormalization``, ``RMSNormalization``, ``GroupNormalization``, and the functional spellings of the merge
layers (``layers.add([a, b])``, ``layers.concatenate([a, b], axis=-1)``, ...).

Example:
    >>> x = md.keras.Input((8,))
    >>> y = md.keras.layers.concatenate([md.keras.layers.Dense(4)(x), md.keras.layers.Dense(4)(x)])
    >>> y.shape
    (None, 8)
"""
import minidl as md

from ... import nn
from ..regularizers import L1L2
from .base import Layer, shape_str
from .merging import Add, Average, Concatenate, Multiply
from .merging_more import Dot, Maximum, Minimum, Subtract
from .normalization import affine_config, set_affine_args
from .regularization import _SpatialDropout, _rate
from .reshaping import _format


class Identity(Layer):
    """Returns its input unchanged (a placeholder in a model).

    Example:
        >>> md.keras.layers.Identity()(np.ones((2, 3))).shape
        (2, 3)
    """

    def call(self, inputs):
        return inputs


class ActivityRegularization(Layer):
    """Identity that adds ``l1 * sum(|x|) + l2 * sum(x ** 2)`` of its input, divided by the batch size, to the
    training loss (Keras 3's activity regularization).

    Example:
        >>> model = md.keras.Sequential([md.keras.Input((4,)), md.keras.layers.ActivityRegularization(l2=1e-3)])
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}


class AlphaDropout(Layer):
    """Dropout that keeps a SELU network's mean and variance: dropped units take SELU's negative saturation value,
    then an affine map restores the statistics (training only).

    Example:
        >>> md.keras.layers.AlphaDropout(0.1)(np.ones((2, 3))).shape        # inference: identity
        (2, 3)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.noise_shape, self.seed = _rate(rate), noise_shape, seed

    def call(self, inputs):
        if not self.training or self.rate == 0:
            return inputs
        shape = tuple(inputs.shape) if self.noise_shape is None else tuple(
            d if d is not None else inputs.shape[i] for i, d in enumerate(self.noise_shape))
        alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
        kept = (md.rand(*shape, device=inputs.device) >= self.rate).to(inputs.dtype)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        return (inputs * kept + (1.0 - kept) * alpha_p) * a + b

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class SpatialDropout3D(_SpatialDropout):
    """Drop whole feature volumes of a ``(batch, d1, d2, d3, channels)`` input while training (one draw per sample
    and channel), scaling the rest by ``1 / (1 - rate)``.

    Example:
        >>> md.keras.layers.SpatialDropout3D(0.5)(np.ones((2, 2, 2, 2, 3)), training=True).shape
        (2, 2, 2, 2, 3)
    """

    ndim = 5

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed, **kwargs)
        self.data_format = _format(data_format)

    def _noise_shape(self, x):
        if self.data_format == "channels_last":
            return (x.shape[0], 1, 1, 1, x.shape[4])
        return (x.shape[0], x.shape[1], 1, 1, 1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _axes(layer, axis, ndim):
    axes = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim or a % ndim == 0:
            raise ValueError(f'Layer "{layer.name}": axis {axis} is out of range for inputs of rank {ndim} (the batch '
                             "axis cannot be normalized over)")
        out.append(a % ndim)
    return sorted(out)


class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over ``axis`` (an int or a list): ``x / sqrt(max(sum(x ** 2), 1e-12))``.

    Example:
        >>> md.keras.layers.UnitNormalization()(np.array([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        axes = tuple(_axes(self, self.axis, inputs.ndim))
        return inputs / (inputs * inputs).sum(axes, keepdim=True).clamp(min=1e-12).sqrt()

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(Layer):
    """Root-mean-square normalization over ``axis`` with a learned ``scale``: ``x * rsqrt(mean(x ** 2) + eps) *
    scale`` (Keras 3's ``RMSNormalization``, ``epsilon=1e-6``).

    Example:
        >>> md.keras.layers.RMSNormalization()(np.ones((2, 4))).shape
        (2, 4)
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, epsilon

    def build(self, input_shape):
        axes = _axes(self, self.axis, len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(f'Layer "{self.name}": the normalized axes of the input shape {shape_str(input_shape)} '
                             "must be known")
        self._norm_axes = axes
        self.scale = self.add_weight(shape=shape, initializer="ones", name="scale")

    def call(self, inputs):
        axes = tuple(self._norm_axes)
        x = inputs * ((inputs * inputs).mean(axes, keepdim=True) + self.epsilon).rsqrt()
        scale = self.scale.value
        shape = [inputs.shape[a] if a in axes else 1 for a in range(inputs.ndim)]
        return x * scale.reshape(shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class GroupNormalization(Layer):
    """Normalize groups of channels: the channels along ``axis`` are cut into ``groups`` groups, each sample's
    group normalized over its channels and all other axes, then scaled by ``gamma`` and shifted by ``beta`` per
    channel (Keras 3's ``GroupNormalization``, ``epsilon=1e-3``).

    Example:
        >>> md.keras.layers.GroupNormalization(groups=2)(np.random.rand(2, 5, 5, 4)).shape
        (2, 5, 5, 4)
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"GroupNormalization: groups must be a positive int, got {groups!r}")
        self.groups, self.axis, self.epsilon, self.center, self.scale = groups, axis, epsilon, center, scale
        set_affine_args(self, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
                        beta_constraint, gamma_constraint)

    def build(self, input_shape):
        (axis,) = _axes(self, self.axis, len(input_shape))
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the layer received "
                             f"an input with shape {shape_str(input_shape)}.")
        if channels < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the number of channels "
                             f"({channels}).")
        if channels % self.groups:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the number of channels "
                             f"({channels}).")
        self._channel_axis = axis
        self.gamma = self.add_weight(shape=(channels,), initializer=self.gamma_initializer, name="gamma",
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(shape=(channels,), initializer=self.beta_initializer, name="beta",
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self._axes = {axis: channels}

    def call(self, inputs):
        axis, nd = self._channel_axis, inputs.ndim
        order = [0, axis] + [a for a in range(1, nd) if a != axis]          # channels second, as F.group_norm
        x = inputs.permute(*order) if axis != 1 else inputs
        y = nn.functional.group_norm(x.unsqueeze(-1) if nd == 2 else x, self.groups,
                                     None if self.gamma is None else self.gamma.value,
                                     None if self.beta is None else self.beta.value, self.epsilon)
        y = y.squeeze(-1) if nd == 2 else y
        return y if axis == 1 else y.permute(*[order.index(a) for a in range(nd)])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **affine_config(self)}


# --- the functional spellings of the merge layers ------------------------------------------------------------------
def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes, normalize=normalize, **kwargs)(inputs)``."""
    return Dot(axes, normalize=normalize, **kwargs)(inputs)


LAYER_CLASSES = (Identity, ActivityRegularization, AlphaDropout, SpatialDropout3D, UnitNormalization,
                 RMSNormalization, GroupNormalization)
FUNCTIONS = (add, subtract, multiply, average, maximum, minimum, concatenate, dot)
