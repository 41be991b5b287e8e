"""More 2-D convolutions: ``DepthwiseConv2D``, ``SeparableConv2D`` and ``Conv2DTranspose``, channels-last by default,
weights in Keras' layouts (``get_weights``), TensorFlow's ``"same"`` padding rule as ``Conv2D``'s."""
import minidl as md

from ... import nn
from .. import activations, initializers, regularizers
from .base import LAYER_DTYPES, Layer
from .convolutional import _data_format, _pad_hw, _padding, _Spatial, _tuple
from .core import _need_known


def _param(layer, *shape):
    return nn.Parameter(md.zeros(*shape, dtype=LAYER_DTYPES[layer.dtype_name]))


class _Depthwise(_Spatial):
    """Shared by DepthwiseConv2D and SeparableConv2D: the per-channel convolution (``groups = in_channels``)."""

    _cast_ints = True

    def _setup(self, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
               use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer):
        self.kernel_size, self.strides = _tuple(kernel_size, 2, "kernel_size"), _tuple(strides, 2, "strides")
        self.dilation_rate = _tuple(dilation_rate, 2, "dilation_rate")
        self.padding, self.data_format = _padding(padding), _data_format(data_format)
        if not isinstance(depth_multiplier, int) or isinstance(depth_multiplier, bool) or depth_multiplier < 1:
            raise ValueError(f"Invalid value for argument `depth_multiplier`. Expected a strictly positive value. "
                             f"Received depth_multiplier={depth_multiplier}.")
        if self.strides != (1, 1) and self.dilation_rate != (1, 1):
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.depth_multiplier, self.use_bias = depth_multiplier, use_bias
        self.activation = activations.get(activation)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def _channels(self, input_shape):
        axis = -1 if self.data_format == "channels_last" else 1
        return axis, _need_known(self, input_shape, axis, "channel dimension of the inputs")

    def _build_depthwise(self, input_shape):
        axis, c = self._channels(input_shape)
        m, (kh, kw) = self.depth_multiplier, self.kernel_size
        self.depthwise = _param(self, c * m, 1, kh, kw)       # minidl (c*m, 1, kh, kw) <-> Keras (kh, kw, c, m)
        self._add_weight("depthwise_kernel", lambda: self.depthwise, self.depthwise_initializer,
                         lambda a: a.reshape(c, m, kh, kw).transpose(2, 3, 0, 1),
                         lambda a: a.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), self.depthwise_regularizer)
        self._axes = {axis: c}
        return c

    def _depthwise_conv(self, inputs):
        self.compute_output_shape(tuple(inputs.shape))
        x = self._to_nchw(inputs)
        padding, pads = self._pads(x.shape[2:], self.kernel_size, self.strides, self.dilation_rate)
        if pads is not None:
            x = _pad_hw(x, pads, 0.0)
        return nn.functional.conv2d(x, self.depthwise, None, self.strides, padding, self.dilation_rate, x.shape[1])

    def _spatial_out(self, input_shape):
        out = self._out_spatial(input_shape, self.kernel_size, self.strides, self.dilation_rate)
        if any(s is not None and s <= 0 for s in out):
            raise ValueError(f'Layer "{self.name}": the input of shape {tuple(input_shape)} is too small for a '
                             f"{self.kernel_size} kernel with padding='valid' (output size {out})")
        return out

    def _base_config(self):
        return {**Layer.get_config(self), "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "depth_multiplier": self.depth_multiplier, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


class DepthwiseConv2D(_Depthwise):
    """Convolve each input channel with its own ``depth_multiplier`` filters (no mixing across channels): ``in *
    depth_multiplier`` output channels. Weights: ``depthwise_kernel`` ``(kh, kw, in, depth_multiplier)`` and
    ``bias`` ``(in * depth_multiplier,)``, as Keras.

    Example:
        >>> layer = md.keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
        >>> layer(np.zeros((1, 8, 8, 3))).shape, layer.count_params()
        ((1, 6, 6, 6), 60)
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self._setup(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
                    use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer)

    def _weight_shapes(self, input_shape):
        c = self._channels(input_shape)[1]
        out = c * self.depth_multiplier
        return [self.kernel_size + (c, self.depth_multiplier)] + [(out,)] * bool(self.use_bias)

    def build(self, input_shape):
        c = self._build_depthwise(input_shape)
        self.bias = _param(self, c * self.depth_multiplier) if self.use_bias else None
        if self.use_bias:
            self._add_weight("bias", lambda: self.bias, self.bias_initializer, regularizer=self.bias_regularizer)

    def call(self, inputs):
        y = self._depthwise_conv(inputs)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return self.activation(self._from_nchw(y))

    def compute_output_shape(self, input_shape):
        c = input_shape[-1 if self.data_format == "channels_last" else 1]
        return self._shape_with(input_shape, self._spatial_out(input_shape),
                                None if c is None else c * self.depth_multiplier)

    def get_config(self):
        return self._base_config()


class SeparableConv2D(_Depthwise):
    """A depthwise convolution (each channel by its own ``depth_multiplier`` filters) followed by a 1x1 pointwise
    convolution to ``filters`` channels. Weights, as Keras: ``depthwise_kernel`` ``(kh, kw, in, depth_multiplier)``,
    ``pointwise_kernel`` ``(1, 1, in * depth_multiplier, filters)``, ``bias`` ``(filters,)``.

    Example:
        >>> layer = md.keras.layers.SeparableConv2D(16, 3, padding="same")
        >>> layer(np.zeros((1, 8, 8, 4))).shape, layer.count_params()
        ((1, 8, 8, 16), 116)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. Received "
                             f"filters={filters}.")
        self.filters = filters
        self._setup(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
                    use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)

    def _weight_shapes(self, input_shape):
        c = self._channels(input_shape)[1]
        return [self.kernel_size + (c, self.depth_multiplier), (1, 1, c * self.depth_multiplier, self.filters)] + \
            [(self.filters,)] * bool(self.use_bias)

    def build(self, input_shape):
        c = self._build_depthwise(input_shape)
        cm, f = c * self.depth_multiplier, self.filters
        self.pointwise = _param(self, f, cm, 1, 1)            # minidl (f, cm, 1, 1) <-> Keras (1, 1, cm, f)
        self._add_weight("pointwise_kernel", lambda: self.pointwise, self.pointwise_initializer,
                         lambda a: a.transpose(2, 3, 1, 0), lambda a: a.transpose(3, 2, 0, 1),
                         self.pointwise_regularizer)
        self.bias = _param(self, f) if self.use_bias else None
        if self.use_bias:
            self._add_weight("bias", lambda: self.bias, self.bias_initializer, regularizer=self.bias_regularizer)

    def call(self, inputs):
        y = nn.functional.conv2d(self._depthwise_conv(inputs), self.pointwise, self.bias)
        return self.activation(self._from_nchw(y))

    def compute_output_shape(self, input_shape):
        return self._shape_with(input_shape, self._spatial_out(input_shape), self.filters)

    def get_config(self):
        return {**self._base_config(), "filters": self.filters,
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer)}


def _deconv_length(n, k, s, d, padding, output_padding):
    """Keras' output length of a transposed convolution, and the offset of that window in the full result."""
    dk = (k - 1) * d + 1
    full = (n - 1) * s + dk
    if output_padding is None:
        length = n * s + max(dk - s, 0) if padding == "valid" else n * s
    else:
        length = (n - 1) * s + dk - 2 * (dk // 2 if padding == "same" else 0) + output_padding
    before = max(full - length, 0) // 2 if padding == "same" else 0
    return length, before


def transposed_output(layer, x, strides, dilation):
    """The transposed convolution of NCHW ``x`` with ``layer.kernel``, cut or zero-padded to Keras' output lengths
    (``layer._lengths``: the length and leading crop per spatial axis), plus the bias and the activation."""
    y = nn.functional.conv_transpose2d(x, layer.kernel, None, strides, 0, 0, 1, dilation)
    index, pads = [slice(None), slice(None)], []
    for axis, (length, before) in zip((2, 3), layer._lengths(x.shape[2:])):
        have = y.shape[axis] - before
        index.append(slice(before, before + min(length, have)))
        pads.append((0, max(length - have, 0)))
    y = y[tuple(index)]
    if any(p[1] for p in pads):
        y = _pad_hw(y, pads, 0.0)
    if layer.bias is not None:
        y = y + layer.bias.reshape(1, -1, 1, 1)
    return layer.activation(layer._from_nchw(y))


class Conv2DTranspose(_Spatial):
    """Transposed 2-D convolution (the gradient of ``Conv2D`` with respect to its input; "deconvolution"), as in
    decoders and autoencoders. Kernel in Keras' layout ``(kh, kw, filters, in)``; output sizes by Keras' rule:
    ``"valid"``: ``n * s + max(k - s, 0)``, ``"same"``: ``n * s``, or with ``output_padding``: ``(n - 1) * s + k - 2 *
    pad + output_padding``.

    Example:
        >>> layer = md.keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same")
        >>> layer(np.zeros((1, 7, 7, 4))).shape, layer.count_params()
        ((1, 14, 14, 8), 296)
    """

    _cast_ints = True

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. Received "
                             f"filters={filters}.")
        self.filters, self.kernel_size = filters, _tuple(kernel_size, 2, "kernel_size")
        self.strides, self.dilation_rate = _tuple(strides, 2, "strides"), _tuple(dilation_rate, 2, "dilation_rate")
        self.padding, self.data_format = _padding(padding), _data_format(data_format)
        if output_padding is not None:
            op = (output_padding,) * 2 if isinstance(output_padding, int) else tuple(output_padding)
            if len(op) != 2 or not all(isinstance(p, int) and 0 <= p < s for p, s in zip(op, self.strides)):
                raise ValueError(f"Conv2DTranspose {self.name!r}: output_padding must be 2 ints, each smaller than "
                                 f"the stride {self.strides}; received output_padding={output_padding!r}")
            output_padding = op
        self.output_padding = output_padding
        self.activation, self.use_bias = activations.get(activation), use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def _channels(self, input_shape):
        axis = -1 if self.data_format == "channels_last" else 1
        return axis, _need_known(self, input_shape, axis, "channel dimension of the inputs")

    def _weight_shapes(self, input_shape):
        c = self._channels(input_shape)[1]
        return [self.kernel_size + (self.filters, c)] + [(self.filters,)] * bool(self.use_bias)

    def build(self, input_shape):
        axis, c = self._channels(input_shape)
        self.kernel = _param(self, c, self.filters, *self.kernel_size)   # minidl (in, f, kh, kw) <-> (kh, kw, f, in)
        self._add_weight("kernel", lambda: self.kernel, self.kernel_initializer, lambda a: a.transpose(2, 3, 1, 0),
                         lambda a: a.transpose(3, 2, 0, 1), self.kernel_regularizer)
        self.bias = _param(self, self.filters) if self.use_bias else None
        if self.use_bias:
            self._add_weight("bias", lambda: self.bias, self.bias_initializer, regularizer=self.bias_regularizer)
        self._axes = {axis: c}

    def _lengths(self, spatial):
        ops = self.output_padding or (None, None)
        return [None if n is None else _deconv_length(n, k, s, d, self.padding, op) for n, k, s, d, op in
                zip(spatial, self.kernel_size, self.strides, self.dilation_rate, ops)]

    def compute_output_shape(self, input_shape):
        return self._shape_with(input_shape, [None if r is None else r[0] for r in self._lengths(
            self._spatial(input_shape))], self.filters)

    def call(self, inputs):
        return transposed_output(self, self._to_nchw(inputs), self.strides, self.dilation_rate)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


