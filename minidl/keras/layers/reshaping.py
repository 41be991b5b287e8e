"""Keras' reshaping layers: ``Permute``, ``RepeatVector``, ``UpSampling1D/2D/3D``, ``ZeroPadding1D/2D/3D``,
``Cropping1D/2D/3D`` (channels-last by default, ``data_format="channels_first"`` where Keras has it)."""
from ... import nn
from .. import backend
from .base import Layer, shape_str

_FORMATS = ("channels_last", "channels_first")


def _format(data_format):
    if data_format not in (None, *_FORMATS):
        raise ValueError(f"The `data_format` argument must be one of {_FORMATS}. Received: {data_format!r}")
    return data_format or backend.image_data_format()


def _int(value, what):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be a non-negative int, got {value!r}")
    return value


def _pair(value, what):
    """An int or a pair of ints as a pair."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (_int(value, what), _int(value, what))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (_int(value[0], what), _int(value[1], what))
    raise ValueError(f"{what} must be an int or a tuple of 2 ints, got {value!r}")


def _pairs_nd(value, what, n):
    """An int, n ints (symmetric per axis) or n pairs ((lo, hi) per axis) as n pairs."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (_pair(value, what),) * n
    if isinstance(value, (list, tuple)) and len(value) == n:
        return tuple(_pair(v, what) for v in value)
    raise ValueError(f"{what} must be an int, a tuple of {n} ints or a tuple of {n} tuples of 2 ints, got {value!r}")


def _ints_nd(value, what, n):
    """An int or n ints as n ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (_int(value, what),) * n
    if isinstance(value, (list, tuple)) and len(value) == n:
        return tuple(_int(v, what) for v in value)
    raise ValueError(f"{what} must be an int or a tuple of {n} ints, got {value!r}")


def _spatial(data_format, n):
    """The input axes (batch axis 0) holding the ``n`` spatial dims."""
    return list(range(1, 1 + n)) if data_format == "channels_last" else list(range(2, 2 + n))


class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of ``1..ndim-1`` (the batch axis stays first).

    Example:
        >>> md.keras.layers.Permute((2, 1))(md.keras.Input(shape=(10, 64))).shape
        (None, 64, 10)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                             f"must be consecutive and start from 1. Received dims={self.dims}")

    def _check(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f'Layer "{self.name}": dims {self.dims} do not fit the input shape '
                             f"{shape_str(input_shape)} (expected rank {len(self.dims) + 1})")

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        self._check(tuple(inputs.shape))
        return inputs.permute(0, *self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """Repeat a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    Example:
        >>> md.keras.layers.RepeatVector(3)(np.ones((2, 5))).shape
        (2, 3, 5)
    """

    ndim = 2

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise TypeError(f"Expected an integer value for `n`. Received: {n!r}")
        self.n = n

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        return inputs.unsqueeze(1).expand(inputs.shape[0], self.n, inputs.shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


def _repeat(x, axis, size):
    """Nearest-neighbour upsampling along ``axis``: each entry ``size`` times."""
    index = [i // size for i in range(x.shape[axis] * size)]
    return x[(slice(None),) * axis + (index,)]


def _times(d, s):
    return None if d is None else d * s


class UpSampling1D(Layer):
    """Repeat each step of a ``(batch, steps, features)`` input ``size`` times along the steps.

    Example:
        >>> md.keras.layers.UpSampling1D(2)(np.ones((1, 3, 4))).shape
        (1, 6, 4)
    """

    ndim = 3

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _int(size, "UpSampling1D size")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _times(input_shape[1], self.size), input_shape[2])

    def call(self, inputs):
        return _repeat(inputs, 1, self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class _UpSamplingND(Layer):
    """Nearest-neighbour (repeat) upsampling of the ``dims`` spatial axes; the 2-D layer also has bilinear."""

    dims = 2

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.size = _ints_nd(size, f"{cls} size", self.dims)
        self.data_format = _format(data_format)
        allowed = ("nearest", "bilinear") if self.dims == 2 else ("nearest",)
        if interpolation not in allowed:
            raise ValueError(f"{cls} {self.name!r}: interpolation must be one of {allowed} in md.keras, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, s in zip(_spatial(self.data_format, self.dims), self.size):
            out[axis] = _times(out[axis], s)
        return tuple(out)

    def call(self, inputs):
        if self.interpolation == "nearest":
            for axis, s in zip(_spatial(self.data_format, self.dims), self.size):
                inputs = _repeat(inputs, axis, s)
            return inputs
        x = inputs.permute(0, 3, 1, 2) if self.data_format == "channels_last" else inputs
        x = nn.functional.interpolate(x, size=(x.shape[2] * self.size[0], x.shape[3] * self.size[1]),
                                      mode="bilinear", align_corners=False)
        return x.permute(0, 2, 3, 1) if self.data_format == "channels_last" else x

    def get_config(self):
        config = {**super().get_config(), "size": list(self.size), "data_format": self.data_format}
        if self.dims == 2:
            config["interpolation"] = self.interpolation
        return config


class UpSampling2D(_UpSamplingND):
    """Scale the rows and columns of an image batch by ``size`` (an int or ``(rows, cols)``); ``interpolation``
    ``"nearest"`` (repeat) or ``"bilinear"`` (half-pixel centres, as Keras' resize).

    Example:
        >>> md.keras.layers.UpSampling2D()(np.ones((1, 4, 4, 3))).shape
        (1, 8, 8, 3)
    """

    dims, ndim = 2, 4

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, interpolation, **kwargs)


class UpSampling3D(_UpSamplingND):
    """Repeat each voxel of a ``(batch, dim1, dim2, dim3, channels)`` volume ``size`` times per axis.

    Example:
        >>> md.keras.layers.UpSampling3D((1, 2, 3))(np.ones((1, 2, 2, 2, 4))).shape
        (1, 2, 4, 6, 4)
    """

    dims, ndim = 3, 5

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)


def _grow(d, lo, hi):
    return None if d is None else d + lo + hi


class ZeroPadding1D(Layer):
    """Pad the steps of a ``(batch, steps, features)`` input with zeros: ``padding`` an int or ``(left, right)``.

    Example:
        >>> md.keras.layers.ZeroPadding1D(2)(np.ones((1, 3, 4))).shape
        (1, 7, 4)
    """

    ndim = 3

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pair(padding, "ZeroPadding1D padding")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _grow(input_shape[1], *self.padding), input_shape[2])

    def call(self, inputs):
        return nn.functional.pad(inputs, (0, 0, *self.padding))

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding)}


class _ZeroPaddingND(Layer):
    """Zeros around the ``dims`` spatial axes: ``padding`` an int, one int per axis (both sides) or one
    ``(before, after)`` pair per axis."""

    dims = 2

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs_nd(padding, f"{type(self).__name__} padding", self.dims)
        self.data_format = _format(data_format)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (lo, hi) in zip(_spatial(self.data_format, self.dims), self.padding):
            out[axis] = _grow(out[axis], lo, hi)
        return tuple(out)

    def call(self, inputs):
        pad = [p for lo_hi in reversed(self.padding) for p in lo_hi]     # F.pad: last axis first
        if self.data_format == "channels_last":
            pad = [0, 0] + pad
        return nn.functional.pad(inputs, tuple(pad))

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


class ZeroPadding2D(_ZeroPaddingND):
    """Pad the rows and columns of an image batch with zeros: ``padding`` an int, ``(rows, cols)`` (both sides) or
    ``((top, bottom), (left, right))``.

    Example:
        >>> md.keras.layers.ZeroPadding2D(((1, 0), (2, 3)))(np.ones((1, 4, 4, 3))).shape
        (1, 5, 9, 3)
    """

    dims, ndim = 2, 4

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPaddingND):
    """Pad the three spatial axes of a volume batch with zeros: an int, three ints, or three ``(before, after)``.

    Example:
        >>> md.keras.layers.ZeroPadding3D((1, 0, 2))(np.ones((1, 2, 2, 2, 4))).shape
        (1, 4, 2, 6, 4)
    """

    dims, ndim = 3, 5

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


def _shrink(layer, shape, axis, lo, hi):
    d = shape[axis]
    if d is None:
        return None
    if lo + hi >= d:
        raise ValueError(f'Layer "{layer.name}": cropping ({lo}, {hi}) on axis {axis} leaves nothing of the input '
                         f"shape {shape_str(shape)}")
    return d - lo - hi


class Cropping1D(Layer):
    """Cut ``cropping = (start, end)`` steps (or an int, both ends) off a ``(batch, steps, features)`` input.

    Example:
        >>> md.keras.layers.Cropping1D((1, 2))(np.ones((1, 6, 4))).shape
        (1, 3, 4)
    """

    ndim = 3

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair(cropping, "Cropping1D cropping")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _shrink(self, input_shape, 1, *self.cropping), input_shape[2])

    def call(self, inputs):
        _shrink(self, tuple(inputs.shape), 1, *self.cropping)
        lo, hi = self.cropping
        return inputs[:, lo:inputs.shape[1] - hi]

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


class _CroppingND(Layer):
    """Cut ``(before, after)`` off each of the ``dims`` spatial axes."""

    dims = 2

    def __init__(self, cropping=0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs_nd(cropping, f"{type(self).__name__} cropping", self.dims)
        self.data_format = _format(data_format)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (lo, hi) in zip(_spatial(self.data_format, self.dims), self.cropping):
            out[axis] = _shrink(self, input_shape, axis, lo, hi)
        return tuple(out)

    def call(self, inputs):
        self.compute_output_shape(tuple(inputs.shape))
        index = [slice(None)] * (self.dims + 2)
        for axis, (lo, hi) in zip(_spatial(self.data_format, self.dims), self.cropping):
            index[axis] = slice(lo, inputs.shape[axis] - hi)
        return inputs[tuple(index)]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping], "data_format": self.data_format}


class Cropping2D(_CroppingND):
    """Cut rows and columns off an image batch: ``cropping`` an int, ``(rows, cols)`` (both sides) or
    ``((top, bottom), (left, right))``.

    Example:
        >>> md.keras.layers.Cropping2D(((2, 2), (4, 4)))(np.ones((1, 28, 28, 3))).shape
        (1, 24, 20, 3)
    """

    dims, ndim = 2, 4

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_CroppingND):
    """Cut voxels off the three spatial axes of a volume batch: an int, three ints, or three ``(before, after)``.

    Example:
        >>> md.keras.layers.Cropping3D(((1, 1), (0, 2), (1, 0)))(np.ones((1, 4, 4, 4, 2))).shape
        (1, 2, 2, 3, 2)
    """

    dims, ndim = 3, 5

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)
