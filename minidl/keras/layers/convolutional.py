"""Channels-last convolution and pooling layers: ``Conv1D``, ``Conv2D``, ``MaxPooling1D/2D``,
``AveragePooling1D/2D`` and the global poolings.

Keras images are ``(N, H, W, C)`` and sequences ``(N, steps, C)``; minidl's kernels are NCHW. Each layer moves the
channel axis in, runs ``md.nn``'s 2-D convolution or pooling, and moves it back, so ``Flatten`` sees Keras' (H, W, C)
order and weights match Keras' layout. A 1-D layer is the 2-D one with a unit H axis: ``(N, steps, C)`` runs as
``(N, C, 1, steps)`` and its ``(k,)`` kernel as ``(1, k)``. ``padding="same"`` follows TensorFlow: output
``ceil(size / stride)``, with the odd extra pixel of padding at the bottom/right; ``Conv1D``'s ``padding="causal"``
pads ``dilation_rate * (kernel_size - 1)`` steps on the left only, so no output sees a later step.
"""
import numpy as np

from ... import nn, ops
from ...backends.geometry import output_size
from ...creation import full
from .. import activations, backend, constraints, initializers, regularizers
from .base import Layer
from .core import _dtype, _need_known


def _tuple(v, n, what):
    v = (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)
    if len(v) != n or not all(isinstance(i, (int, np.integer)) and i > 0 for i in v):
        raise ValueError(f"The `{what}` argument must be a tuple of {n} positive integers. Received: {v}")
    return tuple(int(i) for i in v)


def _pair(v, what):
    return _tuple(v, 2, what)


def _padding(value, allowed=("valid", "same")):
    value = value.lower() if isinstance(value, str) else value
    if value not in allowed:
        raise ValueError(f"The `padding` argument must be one of {', '.join(repr(a) for a in allowed)}. "
                         f"Received: {value!r}")
    return value


def _data_format(value):
    value = value or backend.image_data_format()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of 'channels_last', 'channels_first'. "
                         f"Received: {value!r}")
    return value


def _out_size(size, k, s, d, padding):
    if size is None:
        return None
    if padding in ("same", "causal"):
        return -(-size // s)
    return output_size(size, k, s, 0, d)


def _same_pads(size, k, s, d):
    """(before, after) padding of one axis for TensorFlow's 'same'."""
    total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _pad_hw(x, pads, value):
    """Pad the H and W axes of an NCHW tensor by ((top, bottom), (left, right)) with ``value``."""
    for axis, (before, after) in zip((2, 3), pads):
        parts = []
        for n in (before, after):
            shape = list(x.shape)
            shape[axis] = n
            parts.append(full(shape, value, dtype=x.dtype, device=x.device) if n else None)
        if before or after:
            x = ops.cat([p for p in (parts[0], x, parts[1]) if p is not None], dim=axis)
    return x


class _Spatial(Layer):
    """Shared by the 1-D and 2-D layers: layout moves and output shapes. ``rank`` is the number of spatial axes; a
    1-D layer adds a unit H axis (``_as2d`` turns its Keras tuples into the 2-D kernels' ones)."""

    rank = 2

    @property
    def ndim(self):
        return self.rank + 2

    def _as2d(self, t):
        return (1,) * (2 - self.rank) + tuple(t)

    def _to_nchw(self, x):
        last = self.data_format == "channels_last"
        if self.rank == 1:
            x = x.unsqueeze(1 if last else 2)
        return x.permute(0, 3, 1, 2) if last else x

    def _from_nchw(self, y):
        last = self.data_format == "channels_last"
        y = y.permute(0, 2, 3, 1) if last else y
        return y.squeeze(1 if last else 2) if self.rank == 1 else y

    def _spatial(self, shape):
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def _hw(self, shape):
        return self._as2d(self._spatial(shape))

    def _pads(self, hw, kernel, strides, dilation):
        """Symmetric (ph, pw) when the padding allows it, else (0, 0) and explicit ((top, bottom), (left, right))."""
        if self.padding == "valid":
            return (0, 0), None
        if self.padding == "causal":                # the steps axis (W): all of it on the left
            return (0, 0), ((0, 0), (dilation[1] * (kernel[1] - 1), 0))
        pads = tuple(_same_pads(hw[i], kernel[i], strides[i], dilation[i]) for i in range(2))
        if all(b == a for b, a in pads):
            return (pads[0][0], pads[1][0]), None
        return (0, 0), pads

    def _out_spatial(self, input_shape, kernel, strides, dilation):
        """The output's spatial sizes (Keras' rank, ``None`` where unknown) for Keras-rank tuples."""
        return tuple(_out_size(s, k, st, d, self.padding) for s, k, st, d in
                     zip(self._spatial(input_shape), kernel, strides, dilation))

    def _shape_with(self, input_shape, spatial, channels):
        if self.data_format == "channels_last":
            return (input_shape[0],) + tuple(spatial) + (channels,)
        return (input_shape[0], channels) + tuple(spatial)


class _Conv(_Spatial):
    """The N-D convolution (N = ``rank``), through ``md.nn.Conv2d``'s parameters and ``F.conv2d``."""

    _cast_ints = True
    _paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. Received "
                             f"filters={filters}.")
        n = self.rank
        self.filters, self.kernel_size = int(filters), _tuple(kernel_size, n, "kernel_size")
        self.strides, self.dilation_rate = _tuple(strides, n, "strides"), _tuple(dilation_rate, n, "dilation_rate")
        self.padding, self.data_format = _padding(padding, self._paddings), _data_format(data_format)
        if not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups}.")
        self.groups = int(groups)
        if self.strides != (1,) * n and self.dilation_rate != (1,) * n:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation, self.use_bias = activations.get(activation), use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _weight_shapes(self, input_shape):
        axis = -1 if self.data_format == "channels_last" else 1
        channels = _need_known(self, input_shape, axis, "channel dimension of the inputs")
        return [self.kernel_size + (channels // self.groups, self.filters)] + [(self.filters,)] * bool(self.use_bias)

    def build(self, input_shape):
        axis = -1 if self.data_format == "channels_last" else 1
        channels = _need_known(self, input_shape, axis, "channel dimension of the inputs")
        if channels % self.groups or self.filters % self.groups:
            raise ValueError(f'Layer "{self.name}": groups={self.groups} must divide both the input channels '
                             f"({channels}) and filters ({self.filters})")
        self.conv = nn.Conv2d(channels, self.filters, self._as2d(self.kernel_size), self._as2d(self.strides), 0,
                              self._as2d(self.dilation_rate), self.groups, self.use_bias, dtype=_dtype(self))
        # minidl (out, in, kh, kw) <-> Keras (kh, kw, in, out); 1-D: minidl (out, in, 1, k) <-> Keras (k, in, out)
        n, k2 = self.rank, self._as2d(self.kernel_size)
        spatial = tuple(range(2, 2 + n))

        def to_keras(a):
            return a.reshape(a.shape[:2] + self.kernel_size).transpose(*spatial, 1, 0)

        def from_keras(a):
            return a.transpose(n + 1, n, *range(n)).reshape(a.shape[n + 1], a.shape[n], *k2)

        self._add_weight("kernel", lambda: self.conv.weight, self.kernel_initializer, to_keras, from_keras,
                         self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self._add_weight("bias", lambda: self.conv.bias, self.bias_initializer, regularizer=self.bias_regularizer,
                             constraint=self.bias_constraint)
        self._axes = {axis: channels}

    def call(self, inputs):
        self.compute_output_shape(tuple(inputs.shape))       # Keras' error for an input smaller than the kernel
        x = self._to_nchw(inputs)
        k2, s2, d2 = self._as2d(self.kernel_size), self._as2d(self.strides), self._as2d(self.dilation_rate)
        padding, pads = self._pads(x.shape[2:], k2, s2, d2)
        if pads is not None:
            x = _pad_hw(x, pads, 0.0)
        y = nn.functional.conv2d(x, self.conv.weight, self.conv.bias, s2, padding, d2, self.groups)
        return self.activation(self._from_nchw(y))

    def compute_output_shape(self, input_shape):
        out = self._out_spatial(input_shape, self.kernel_size, self.strides, self.dilation_rate)
        if any(s is not None and s <= 0 for s in out):
            raise ValueError(f'Layer "{self.name}": the input of shape {tuple(input_shape)} is too small for a '
                             f"{self.kernel_size} kernel with padding='valid' (output size {out})")
        return self._shape_with(input_shape, out, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class Conv1D(_Conv):
    """1-D convolution over ``(N, steps, channels)`` sequences (the 2-D convolution with a unit axis inside).

    Kernel in Keras' layout ``(kernel_size, in, filters)`` for ``get_weights``; ``glorot_uniform`` kernel, zero bias.
    ``padding`` is ``"valid"``, ``"same"`` (TensorFlow's) or ``"causal"`` (``dilation_rate * (kernel_size - 1)``
    zeros on the left only: output step t sees input steps <= t, as in WaveNet).

    Example:
        >>> conv = md.keras.layers.Conv1D(16, 3, activation="relu", padding="causal")
        >>> conv(np.zeros((2, 40, 8))).shape
        (2, 40, 16)
    """

    rank = 1
    _paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """2-D convolution over ``(N, H, W, C)`` images (``md.nn.Conv2d`` inside).

    Kernel in Keras' layout ``(kh, kw, in, filters)`` for ``get_weights``; ``glorot_uniform`` kernel, zero bias.

    Example:
        >>> conv = md.keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same")
        >>> conv(np.zeros((2, 28, 28, 1))).shape
        (2, 28, 28, 32)
    """

    rank = 2


class _Pooling(_Spatial):
    _cast_ints = True

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else _tuple(strides, self.rank, "strides")
        self.padding, self.data_format = _padding(padding), _data_format(data_format)

    def call(self, inputs):
        self.compute_output_shape(tuple(inputs.shape))       # Keras' error for an input smaller than the pool
        x = self._to_nchw(inputs)
        padding, pads = self._pads(x.shape[2:], self._as2d(self.pool_size), self._as2d(self.strides), (1, 1))
        if pads is None and padding != (0, 0):
            pads = ((padding[0], padding[0]), (padding[1], padding[1]))
        return self._from_nchw(self._pool(x, pads))

    def compute_output_shape(self, input_shape):
        out = self._out_spatial(input_shape, self.pool_size, self.strides, (1,) * self.rank)
        if any(s is not None and s <= 0 for s in out):
            raise ValueError(f'Layer "{self.name}": the input of shape {tuple(input_shape)} is smaller than the pool '
                             f"size {self.pool_size} (output size {out}); use padding='same' or a smaller pool")
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        return self._shape_with(input_shape, out, channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class _MaxPool:
    def _pool(self, x, pads):
        if pads is not None:        # 'same': padded pixels never win the max
            x = _pad_hw(x, pads, -np.inf)
        return nn.functional.max_pool2d(x, self._as2d(self.pool_size), self._as2d(self.strides))


class _AvgPool:
    def _pool(self, x, pads):
        pool, strides = self._as2d(self.pool_size), self._as2d(self.strides)
        if pads is None:
            return nn.functional.avg_pool2d(x, pool, strides)
        # mean of the real pixels only: pool the zero-padded input and divide by the pooled share of real pixels
        ones = full((1, 1) + tuple(x.shape[2:]), 1.0, dtype=x.dtype, device=x.device)
        summed = nn.functional.avg_pool2d(_pad_hw(x, pads, 0.0), pool, strides)
        share = nn.functional.avg_pool2d(_pad_hw(ones, pads, 0.0), pool, strides)
        return summed / share


class MaxPooling1D(_MaxPool, _Pooling):
    """Max over ``pool_size`` steps (default 2, stride = pool size) of ``(N, steps, features)`` sequences.

    Example:
        >>> md.keras.layers.MaxPooling1D()(np.zeros((1, 40, 8))).shape
        (1, 20, 8)
    """

    rank = 1


class MaxPooling2D(_MaxPool, _Pooling):
    """Max over ``pool_size`` windows (default 2x2, stride = pool size) of ``(N, H, W, C)`` images.

    Example:
        >>> md.keras.layers.MaxPooling2D()(np.zeros((1, 28, 28, 8))).shape
        (1, 14, 14, 8)
    """

    rank = 2


class AveragePooling1D(_AvgPool, _Pooling):
    """Mean over ``pool_size`` steps of ``(N, steps, features)`` sequences; with ``padding="same"`` the padded steps
    are not counted, as Keras.

    Example:
        >>> md.keras.layers.AveragePooling1D(pool_size=3, padding="same")(np.ones((1, 10, 4))).shape
        (1, 4, 4)
    """

    rank = 1


class AveragePooling2D(_AvgPool, _Pooling):
    """Mean over ``pool_size`` windows of ``(N, H, W, C)`` images; with ``padding="same"`` the padded pixels are not
    counted, as Keras.

    Example:
        >>> md.keras.layers.AveragePooling2D(pool_size=2)(np.ones((1, 4, 4, 3))).shape
        (1, 2, 2, 3)
    """

    rank = 2


class _GlobalPooling(Layer):
    _cast_ints = True

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format, self.keepdims = _data_format(data_format), keepdims

    def _axes_of(self, ndim):
        return tuple(range(1, ndim - 1)) if self.data_format == "channels_last" else tuple(range(2, ndim))

    def call(self, inputs):
        axes = self._axes_of(inputs.ndim)
        out = inputs
        for axis in sorted(axes, reverse=True):
            out = self._reduce(out, axis)
        if self.keepdims:
            for axis in axes:
                out = out.unsqueeze(axis)
        return out

    def compute_output_shape(self, input_shape):
        axes = self._axes_of(len(input_shape))
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _Average:
    @staticmethod
    def _reduce(x, axis):
        return x.mean(axis)


class _Max:
    @staticmethod
    def _reduce(x, axis):
        return ops.max(x, axis).values


class GlobalAveragePooling1D(_Average, _GlobalPooling):
    """Mean over the steps of ``(N, steps, features)``: ``(N, features)``. The classic IMDB head after Embedding.

    Example:
        >>> md.keras.layers.GlobalAveragePooling1D()(np.ones((2, 7, 16))).shape
        (2, 16)
    """

    ndim = 3


class GlobalMaxPooling1D(_Max, _GlobalPooling):
    """Max over the steps of ``(N, steps, features)``."""

    ndim = 3


class GlobalAveragePooling2D(_Average, _GlobalPooling):
    """Mean over H and W of ``(N, H, W, C)`` images: ``(N, C)``."""

    ndim = 4


class GlobalMaxPooling2D(_Max, _GlobalPooling):
    """Max over H and W of ``(N, H, W, C)`` images: ``(N, C)``."""

    ndim = 4
