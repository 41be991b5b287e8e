"""Keras' image preprocessing and augmentation layers on channels-last (or channels-first) image batches:
``Resizing``, ``CenterCrop``, and the random ones ``RandomFlip``, ``RandomRotation``, ``RandomTranslation``,
``RandomZoom``, ``RandomContrast``, ``RandomBrightness``.

As in Keras 3, a random layer is active while training (inside ``fit``) and when called directly (``layer(x)``,
``model(x)``, a ``dataset.map`` function: Keras' augmentation layers default to ``training=True``), and passes its
inputs through in ``evaluate``/``predict`` and when called with ``training=False``. md.keras tells the two apart by
the autograd mode: ``predict``/``evaluate`` run under ``no_grad``, so a direct call inside ``md.no_grad()`` is also
inference. Each draws from a ``keras.random.SeedGenerator`` made from its ``seed`` (repeatable with a seed).
"""
import math
import numbers

import numpy as np

from ... import nn
from ...autograd.grad_mode import is_grad_enabled
from ...tensor import Tensor
from ..random import SeedGenerator
from .base import KerasTensor, Layer, host, shape_str
from .reshaping import _format

_INTERPOLATIONS = ("bilinear", "nearest")
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _size(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def _hw_axes(data_format, ndim):
    """The (height, width) axes of a rank-``ndim`` image (batch) input."""
    return (ndim - 3, ndim - 2) if data_format == "channels_last" else (ndim - 2, ndim - 1)


def _to_nchw(x, data_format):
    """A 4-D batch in (N, C, H, W) from a 3-D image or a 4-D batch."""
    if x.ndim == 3:
        x = x.reshape(1, *x.shape)
    return x.permute(0, 3, 1, 2) if data_format == "channels_last" else x


def _from_nchw(x, data_format, ndim):
    x = x.permute(0, 2, 3, 1) if data_format == "channels_last" else x
    return x.reshape(*x.shape[1:]) if ndim == 3 else x


def _crop(x, hw_axes, top, left, height, width):
    index = [slice(None)] * x.ndim
    index[hw_axes[0]] = slice(top, top + height)
    index[hw_axes[1]] = slice(left, left + width)
    return x[tuple(index)]


def resize_images(x, height, width, interpolation, data_format, crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                  fill_value=0.0):
    """Resize a 3-D image or 4-D batch (a Tensor) to ``(height, width)``: PyTorch's ``interpolate`` rules (pixel
    centres, no antialiasing), which Keras' resize follows; ``crop_to_aspect_ratio`` first crops the largest centred
    window of the target's aspect ratio, ``pad_to_aspect_ratio`` pads with ``fill_value`` to it instead.

    Example:
        >>> resize_images(md.ones(1, 4, 6, 3), 2, 3, "bilinear", "channels_last").shape
        (1, 2, 3, 3)
    """
    hw = _hw_axes(data_format, x.ndim)
    h, w = x.shape[hw[0]], x.shape[hw[1]]
    if crop_to_aspect_ratio:
        ch, cw = min(h, int(w * height / width)), min(w, int(h * width / height))
        ch, cw = max(ch, 1), max(cw, 1)
        x = _crop(x, hw, (h - ch) // 2, (w - cw) // 2, ch, cw)
    elif pad_to_aspect_ratio:           # Keras pads the same number of rows (or columns) on both sides
        top = (max(h, int(w * height / width)) - h) // 2
        left = (max(w, int(h * width / height)) - w) // 2
        if top or left:
            shape = tuple(h + 2 * top if a == hw[0] else w + 2 * left if a == hw[1] else d
                          for a, d in enumerate(x.shape))
            arr = np.full(shape, fill_value, host(x).dtype)
            idx = [slice(None)] * x.ndim
            idx[hw[0]], idx[hw[1]] = slice(top, top + h), slice(left, left + w)
            arr[tuple(idx)] = host(x)
            x = Tensor._wrap(x._xp.asarray(arr))
    if (x.shape[hw[0]], x.shape[hw[1]]) == (height, width):
        return x
    if interpolation == "nearest":     # pixel centres: source floor((i + 0.5) * in / out), as Keras' resize
        for axis, n_out in zip(hw, (height, width)):
            n_in = x.shape[axis]
            src = np.minimum(np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), n_in - 1)
            index = [slice(None)] * x.ndim
            index[axis] = src
            x = x[tuple(index)]
        return x
    ndim = x.ndim
    y = nn.functional.interpolate(_to_nchw(x, data_format), size=(height, width), mode=interpolation,
                                  **({"align_corners": False} if interpolation == "bilinear" else {}))
    return _from_nchw(y, data_format, ndim)


class _ImageLayer(Layer):
    """Shared argument checks of the image layers: a 3-D image or a 4-D batch, floats."""

    _cast_ints = True

    def _check_input(self, shape):
        if len(shape) not in (3, 4):
            raise ValueError(f'Input 0 of layer "{self.name}" ({type(self).__name__}) expects a 3-D image or a 4-D '
                             f"batch of images, got shape {shape_str(shape)}")

    def _set_format(self, data_format):
        self.data_format = _format(data_format)


class Resizing(_ImageLayer):
    """Resize images to ``(height, width)`` with ``interpolation`` ``"bilinear"`` (default) or ``"nearest"``;
    ``crop_to_aspect_ratio=True`` crops the centre to the target's aspect ratio first (no distortion),
    ``pad_to_aspect_ratio=True`` pads with ``fill_value`` instead.

    Example:
        >>> md.keras.layers.Resizing(8, 8)(np.ones((2, 16, 16, 3))).shape
        (2, 8, 8, 3)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = _size(height, "Resizing height"), _size(width, "Resizing width")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"Resizing {self.name!r}: interpolation must be one of {_INTERPOLATIONS} in md.keras, "
                             f"got {interpolation!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True.")
        if fill_mode != "constant":
            raise ValueError(f"Resizing: fill_mode must be 'constant' (the only mode Keras has), got {fill_mode!r}")
        if antialias:
            raise ValueError("Resizing: antialias=True is not supported by md.keras")
        self.interpolation, self.crop_to_aspect_ratio = interpolation, bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio, self.fill_mode, self.fill_value = bool(pad_to_aspect_ratio), fill_mode, fill_value
        self.antialias = False
        self._set_format(data_format)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        hw = _hw_axes(self.data_format, len(out))
        out[hw[0]], out[hw[1]] = self.height, self.width
        return tuple(out)

    def call(self, inputs):
        return resize_images(inputs, self.height, self.width, self.interpolation, self.data_format,
                             self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(_ImageLayer):
    """Crop the central ``(height, width)`` window of images; an image smaller than that is first resized (crop to
    the aspect ratio, then bilinear resize), as Keras.

    Example:
        >>> md.keras.layers.CenterCrop(2, 2)(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = _size(height, "CenterCrop height"), _size(width, "CenterCrop width")
        self._set_format(data_format)

    compute_output_shape = Resizing.compute_output_shape

    def call(self, inputs):
        hw = _hw_axes(self.data_format, inputs.ndim)
        h, w = inputs.shape[hw[0]], inputs.shape[hw[1]]
        if h >= self.height and w >= self.width:
            return _crop(inputs, hw, (h - self.height) // 2, (w - self.width) // 2, self.height, self.width)
        return resize_images(inputs, self.height, self.width, "bilinear", self.data_format, crop_to_aspect_ratio=True)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "height": self.height, "width": self.width}


# --- random augmentation ----------------------------------------------------------------------------------------
def _factor_range(factor, what, symmetric=True, low=None):
    """``factor`` as (lower, upper): a number ``f`` means ``(-f, f)`` (``symmetric``), a pair is taken as given."""
    if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        f = float(factor)
        lower, upper = (-abs(f), abs(f)) if symmetric else (f, f)
    elif isinstance(factor, (list, tuple)) and len(factor) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in factor):
        lower, upper = float(factor[0]), float(factor[1])
    else:
        raise ValueError(f"{what} must be a number or a tuple of 2 numbers, got {factor!r}")
    if lower > upper:
        raise ValueError(f"{what}: the lower bound {lower} is above the upper bound {upper}")
    if low is not None and lower < low:
        raise ValueError(f"{what} must be >= {low}, got {factor!r}")
    return lower, upper


def _fill_index(i, n, mode):
    """Indices ``i`` (ints, any range) mapped into ``[0, n)`` by ``mode``; for ``constant`` also the mask of those
    inside."""
    if mode == "nearest":
        return np.clip(i, 0, n - 1), None
    if mode == "wrap":
        return np.mod(i, n), None
    if mode == "reflect":                   # d c b a | a b c d | d c b a
        period = 2 * n
        j = np.mod(i, period)
        return np.where(j >= n, period - 1 - j, j), None
    inside = (i >= 0) & (i < n)
    return np.clip(i, 0, n - 1), inside


def affine_transform(images, matrices, interpolation, fill_mode, fill_value):
    """Sample each (N, H, W, C) image ``k`` at the input points ``matrices[k] @ (x, y, 1)`` of its output pixels
    ``(x, y)`` (column, row): bilinear or nearest, points outside handled by ``fill_mode``.

    Example (a shift one column right, the first column filled with 0):
        >>> shift = np.array([[1.0, 0, -1], [0, 1, 0], [0, 0, 1]])
        >>> affine_transform(np.ones((1, 2, 3, 1)), [shift], "nearest", "constant", 0.0)[0, :, :, 0].tolist()
        [[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    """
    n, h, w, c = images.shape
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    out = np.empty_like(images)
    for k in range(n):
        m = matrices[k]
        sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        img = images[k]
        if interpolation == "nearest":
            corners = [(np.floor(sy + 0.5).astype(np.int64), np.floor(sx + 0.5).astype(np.int64), 1.0)]
        else:
            y0, x0 = np.floor(sy), np.floor(sx)
            fy, fx = sy - y0, sx - x0
            y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
            corners = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx), (y0 + 1, x0, fy * (1 - fx)),
                       (y0 + 1, x0 + 1, fy * fx)]
        acc = np.zeros((h, w, c), np.float64)
        for yi, xi, weight in corners:
            yy, my = _fill_index(yi, h, fill_mode)
            xx, mx = _fill_index(xi, w, fill_mode)
            vals = img[yy, xx].astype(np.float64)
            if my is not None:
                vals = np.where((my & mx)[..., None], vals, fill_value)
            acc += vals * np.asarray(weight)[..., None]
        out[k] = acc.astype(images.dtype)
    return out


class _RandomLayer(_ImageLayer):
    """A random augmentation: ``call`` passes inputs through unless training; ``_augment`` gets a channels-last
    float64 NumPy batch and a NumPy generator."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{type(self).__name__}: seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._set_format(data_format)
        self.seed_generator = SeedGenerator(self.seed)

    def __call__(self, inputs, training=None, **kwargs):
        if training is None and not isinstance(inputs, KerasTensor) and not self.training and is_grad_enabled():
            training = True         # a direct call (not predict/evaluate, which run without gradients): as Keras
        return super().__call__(inputs, training=training, **kwargs)

    def call(self, inputs):
        if not self.training:
            return inputs
        arr = host(inputs)
        single = arr.ndim == 3
        batch = arr[None] if single else arr
        if self.data_format == "channels_first":
            batch = np.moveaxis(batch, 1, -1)
        out = self._augment(batch, self.seed_generator.next())
        if self.data_format == "channels_first":
            out = np.moveaxis(out, -1, 1)
        out = np.ascontiguousarray((out[0] if single else out).astype(arr.dtype))
        return Tensor._wrap(inputs._xp.asarray(out))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "seed": self.seed}


_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(_RandomLayer):
    """While training, flip each image left-right (``"horizontal"``), top-bottom (``"vertical"``) or each way
    independently (``"horizontal_and_vertical"``, the default), each with probability 1/2.

    Example:
        >>> flip = md.keras.layers.RandomFlip("horizontal", seed=0)
        >>> flip(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in _FLIP_MODES:
            raise ValueError(f"RandomFlip layer {self.name} received an unknown mode argument {mode!r}; it must be "
                             f"one of {_FLIP_MODES}")
        self.mode = mode

    def _augment(self, batch, rng):
        out = batch.copy()
        n = len(batch)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            flip = rng.random(n) < 0.5
            out[flip] = out[flip][:, :, ::-1]
        if self.mode in ("vertical", "horizontal_and_vertical"):
            flip = rng.random(n) < 0.5
            out[flip] = out[flip][:, ::-1]
        return out

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineLayer(_RandomLayer):
    def _set_fill(self, fill_mode, interpolation, fill_value):
        if fill_mode not in _FILL_MODES:
            raise ValueError(f"Unknown `fill_mode` {fill_mode!r}. Expected of one {_FILL_MODES}.")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"Unknown `interpolation` {interpolation!r}. Expected of one {_INTERPOLATIONS}.")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        if not isinstance(fill_value, numbers.Real) or isinstance(fill_value, bool):
            raise ValueError(f"{type(self).__name__}: fill_value must be a number, got {fill_value!r}")
        self.fill_value = float(fill_value)

    def _augment(self, batch, rng):
        mats = self._matrices(len(batch), batch.shape[1], batch.shape[2], rng)
        return affine_transform(batch, mats, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "interpolation": self.interpolation}


def _about_centre(a, h, w):
    """The affine map ``a`` (2x2, acting on offsets from the image centre) as a 3x3 matrix on pixel coordinates."""
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    m = np.eye(3)
    m[:2, :2] = a
    m[:2, 2] = np.array([cx, cy]) - a @ np.array([cx, cy])
    return m


class RandomRotation(_AffineLayer):
    """While training, rotate each image by a random angle of ``factor`` turns: ``factor=0.1`` draws from
    ``[-0.1, 0.1] * 2 pi`` (a pair ``(lower, upper)`` gives the range; positive angles turn counter-clockwise).
    Points from outside the image are filled by ``fill_mode`` (``"reflect"``, ``"wrap"``, ``"constant"`` with
    ``fill_value``, ``"nearest"``).

    Example:
        >>> md.keras.layers.RandomRotation(0.1)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, "RandomRotation factor")
        self._set_fill(fill_mode, interpolation, fill_value)

    def _matrices(self, n, h, w, rng):
        angles = rng.uniform(self.factor[0], self.factor[1], n) * 2 * math.pi
        out = []
        for t in angles:
            c, s = math.cos(t), math.sin(t)
            out.append(_about_centre(np.array([[c, -s], [s, c]]), h, w))
        return out

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomTranslation(_AffineLayer):
    """While training, shift each image by a random fraction of its height (``height_factor``) and width
    (``width_factor``): a number ``f`` draws from ``[-f, f]``, a pair gives the range.

    Example:
        >>> md.keras.layers.RandomTranslation(0.1, 0.1)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height_factor = _factor_range(height_factor, "RandomTranslation height_factor")
        self.width_factor = _factor_range(width_factor, "RandomTranslation width_factor")
        self._set_fill(fill_mode, interpolation, fill_value)

    def _matrices(self, n, h, w, rng):
        dy = rng.uniform(*self.height_factor, n) * h
        dx = rng.uniform(*self.width_factor, n) * w
        out = []
        for ty, tx in zip(dy, dx):
            m = np.eye(3)
            m[0, 2], m[1, 2] = -tx, -ty         # the output at (x, y) shows the input at (x - dx, y - dy)
            out.append(m)
        return out

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor)}


class RandomZoom(_AffineLayer):
    """While training, zoom each image by a random amount: ``height_factor=0.2`` draws a height change from
    ``[-20%, +20%]`` (positive zooms out, negative in); ``width_factor`` likewise, or None to keep the aspect
    ratio.

    Example:
        >>> md.keras.layers.RandomZoom(0.2)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height_factor = _factor_range(height_factor, "RandomZoom height_factor", low=-1.0)
        self.width_factor = None if width_factor is None else _factor_range(width_factor,
                                                                              "RandomZoom width_factor", low=-1.0)
        self._set_fill(fill_mode, interpolation, fill_value)

    def _matrices(self, n, h, w, rng):
        zy = 1.0 + rng.uniform(*self.height_factor, n)
        zx = zy if self.width_factor is None else 1.0 + rng.uniform(*self.width_factor, n)
        return [_about_centre(np.diag([x, y]), h, w) for y, x in zip(zy, zx)]

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": None if self.width_factor is None else list(self.width_factor)}


class RandomContrast(_RandomLayer):
    """While training, scale each image's deviation from its per-channel mean by a random factor in
    ``[1 - lower, 1 + upper]``, then clip to ``value_range``. As Keras 3, a pair ``factor`` gives ``(lower, upper)``
    and a number ``f`` means ``(0, f)`` (contrast only increased).

    Example:
        >>> md.keras.layers.RandomContrast(0.5)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
            lower, upper = 0.0, abs(float(factor))     # Keras 3: a number f draws the contrast from [1, 1 + f]
        else:
            lower, upper = sorted(_factor_range(factor, "RandomContrast factor"))
        if lower < 0 or upper > 1:
            raise ValueError(f"The `factor` argument of RandomContrast should be a number (or a list of two numbers) "
                             f"in the range [0, 1]. Received: factor={factor}")
        self.factor, self.value_range = (lower, upper), tuple(float(v) for v in value_range)

    def _augment(self, batch, rng):
        f = rng.uniform(1 - self.factor[0], 1 + self.factor[1], len(batch))[:, None, None, None]
        mean = batch.mean(axis=(1, 2), keepdims=True)
        return np.clip((batch - mean) * f + mean, *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


class RandomBrightness(_RandomLayer):
    """While training, add a random brightness shift to each image: ``factor`` (in [-1, 1], a number ``f`` meaning
    ``[-f, f]``) times the width of ``value_range``, then clip to ``value_range``.

    Example:
        >>> md.keras.layers.RandomBrightness(0.2)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_range(factor, "RandomBrightness factor")
        if self.factor[0] < -1 or self.factor[1] > 1:
            raise ValueError(f"RandomBrightness factor must be in [-1, 1], got {factor!r}")
        self.value_range = tuple(float(v) for v in value_range)

    def _augment(self, batch, rng):
        lo, hi = self.value_range
        delta = rng.uniform(self.factor[0], self.factor[1], len(batch))[:, None, None, None] * (hi - lo)
        return np.clip(batch + delta, lo, hi)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}
