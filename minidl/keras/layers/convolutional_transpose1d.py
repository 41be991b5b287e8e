"""``Conv1DTranspose``: the 1-D transposed convolution (decoders of sequence autoencoders), run as a 2-D one over a
unit height axis through ``Conv2DTranspose``'s code; weights in Keras' layout ``(kernel, filters, in)``."""
from .convolutional import _tuple
from .convolutional_more import Conv2DTranspose, _param, transposed_output


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution of ``(batch, steps, channels)`` inputs (``channels_first``: ``(batch, channels,
    steps)``). Output length by Keras' rule: ``"valid"``: ``n * s + max(k - s, 0)``, ``"same"``: ``n * s``, or with
    ``output_padding``: ``(n - 1) * s + k - 2 * pad + output_padding``. Kernel in Keras' layout ``(k, filters, in)``.

    Example:
        >>> layer = md.keras.layers.Conv1DTranspose(16, 7, strides=2, padding="same")
        >>> layer(np.zeros((2, 32, 4))).shape, layer.count_params()
        ((2, 64, 16), 464)
    """

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        k, s = _tuple(kernel_size, 1, "kernel_size"), _tuple(strides, 1, "strides")
        d = _tuple(dilation_rate, 1, "dilation_rate")
        op = None
        if output_padding is not None:
            op = (output_padding,) if isinstance(output_padding, int) else tuple(output_padding)
            if len(op) != 1 or not isinstance(op[0], int) or not 0 <= op[0] < s[0]:
                raise ValueError(f"Conv1DTranspose: output_padding must be one int smaller than the stride {s[0]}; "
                                 f"received output_padding={output_padding!r}")
        super().__init__(filters, (1,) + k, strides=(1,) + s, padding=padding,
                         output_padding=None if op is None else (0,) + op, data_format=data_format,
                         dilation_rate=(1,) + d, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer, **kwargs)
        self._k2, self._s2, self._d2 = self.kernel_size, self.strides, self.dilation_rate
        self._op2 = self.output_padding
        self.kernel_size, self.strides, self.dilation_rate, self.output_padding = k, s, d, op

    def _weight_shapes(self, input_shape):
        c = self._channels(input_shape)[1]
        return [self.kernel_size + (self.filters, c)] + [(self.filters,)] * bool(self.use_bias)

    def build(self, input_shape):
        axis, c = self._channels(input_shape)
        (k,) = self.kernel_size
        self.kernel = _param(self, c, self.filters, 1, k)    # minidl (in, f, 1, k) <-> Keras (k, f, in)
        self._add_weight("kernel", lambda: self.kernel, self.kernel_initializer,
                         lambda a: a[:, :, 0, :].transpose(2, 1, 0), lambda a: a.transpose(2, 1, 0)[:, :, None, :],
                         self.kernel_regularizer)
        self.bias = _param(self, self.filters) if self.use_bias else None
        if self.use_bias:
            self._add_weight("bias", lambda: self.bias, self.bias_initializer, regularizer=self.bias_regularizer)
        self._axes = {axis: c}

    def _lengths(self, spatial):
        if len(spatial) == 2:       # the unit-height 2-D view used by call
            return Conv2DTranspose._lengths(self._as_2d_view(), spatial)
        return Conv2DTranspose._lengths(self, spatial)

    def _as_2d_view(self):
        view = object.__new__(Conv2DTranspose)
        view.__dict__.update(kernel_size=self._k2, strides=self._s2, dilation_rate=self._d2,
                             output_padding=self._op2, padding=self.padding)
        return view

    def call(self, inputs):
        if len(inputs.shape) != 3:
            raise ValueError(f"Conv1DTranspose {self.name!r}: expected inputs of rank 3 (batch, steps, channels), "
                             f"received shape {tuple(inputs.shape)}")
        return transposed_output(self, self._to_nchw(inputs), self._s2, self._d2)
