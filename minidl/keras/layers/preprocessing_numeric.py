"""Keras' numeric preprocessing layers: ``Rescaling``, ``Normalization`` (with ``adapt``), ``CategoryEncoding`` and
``Hashing``.

``Normalization.adapt(data)`` computes the mean and variance of the data and keeps them as the layer's
non-trainable weights ``mean``, ``variance`` and ``count`` (Keras' names), so ``model.save`` stores them and
``load_model`` restores them.
"""
import numbers

import numpy as np

from ...tensor import Tensor
from .base import Layer, host, shape_str
from .hash_functions import fingerprint64, siphash24


def const_like(x, array):
    """``array`` as a Tensor on ``x``'s device (a constant: no gradient).

    Example:
        >>> const_like(md.ones(2), np.array([1.0, 2.0])).tolist()
        [1.0, 2.0]
    """
    return Tensor._wrap(x._xp.asarray(array))


def _number(value, what):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def iter_batches(data, batch_size=None, steps=None, who="adapt"):
    """The batches of ``data`` for ``adapt``: an array (split into ``batch_size`` pieces when given), or an iterable
    of batches (a dataset, a generator; an ``(x, y)`` pair contributes its ``x``), at most ``steps`` of them.

    Example:
        >>> [b.shape for b in iter_batches(np.zeros((5, 2)), batch_size=2)]
        [(2, 2), (2, 2), (1, 2)]
    """
    if isinstance(data, (np.ndarray, Tensor)) or (isinstance(data, (list, tuple)) and data and not isinstance(
            data[0], (np.ndarray, Tensor, list, tuple)) or hasattr(data, "__array__")):
        arr = host(data) if isinstance(data, Tensor) else np.asarray(data)
        if batch_size is None:
            yield arr
            return
        for i, start in enumerate(range(0, len(arr), int(batch_size))):
            if steps is not None and i >= steps:
                return
            yield arr[start:start + int(batch_size)]
        return
    if not hasattr(data, "__iter__"):
        raise TypeError(f"{who}: data must be an array, a list, a dataset or an iterable of batches, got "
                        f"{type(data).__name__}")
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            return
        if isinstance(batch, tuple) and len(batch) in (2, 3):
            batch = batch[0]
        yield host(batch) if isinstance(batch, Tensor) else np.asarray(batch)


class Rescaling(Layer):
    """Multiply the inputs by ``scale`` and add ``offset``: ``Rescaling(1 / 255)`` maps pixels to [0, 1],
    ``Rescaling(1 / 127.5, offset=-1)`` to [-1, 1].

    Example:
        >>> md.keras.layers.Rescaling(1 / 255)(np.array([[0, 255]])).tolist()
        [[0.0, 1.0]]
    """

    _cast_ints = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number(scale, "Rescaling scale") if not isinstance(scale, (list, tuple)) else list(scale)
        self.offset = _number(offset, "Rescaling offset") if not isinstance(offset, (list, tuple)) else list(offset)

    def call(self, inputs):
        scale = self.scale if isinstance(self.scale, float) else const_like(inputs, np.asarray(
            self.scale, inputs.array.dtype))
        offset = self.offset if isinstance(self.offset, float) else const_like(inputs, np.asarray(
            self.offset, inputs.array.dtype))
        return inputs * scale + offset

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _axes(axis):
    if axis is None:
        return ()
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (list, tuple)) and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                               for a in axis):
        return tuple(int(a) for a in axis)
    raise ValueError(f"Normalization: axis must be an int, a tuple of ints or None, got {axis!r}")


class Normalization(Layer):
    """Standardize the inputs feature-wise: ``(x - mean) / sqrt(variance)`` (``invert=True`` undoes it). The
    statistics are per index of the kept ``axis`` (default the last) and come from ``mean``/``variance`` given here
    or from ``adapt(data)``.

    Example:
        >>> norm = md.keras.layers.Normalization()
        >>> norm.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> norm(np.array([[2.0, 20.0]])).tolist()
        [[0.0, 0.0]]
    """

    _cast_ints = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization {self.name!r}: when setting values directly, both `mean` and `variance` "
                             f"must be set. Received: mean={mean} and variance={variance}")
        self.invert = bool(invert)
        self.input_mean = None if mean is None else np.asarray(mean, np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, np.float64)

    def _kept(self, input_shape):
        ndim = len(input_shape)
        kept = []
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise ValueError(f"Normalization {self.name!r}: axis {a} is out of range for inputs of shape "
                                 f"{shape_str(input_shape)}")
            kept.append(a % ndim)
        if 0 in kept:
            raise ValueError(f"Normalization {self.name!r}: the batch axis cannot be kept (axis={self.axis})")
        for a in kept:
            if input_shape[a] is None:
                raise ValueError(f"Normalization {self.name!r}: the kept axis {a} of input shape "
                                 f"{shape_str(input_shape)} must have a known size")
        return sorted(set(kept))

    def _stat_shape(self, input_shape):
        return tuple(input_shape[a] for a in self._kept(input_shape))

    def _weight_shapes(self, input_shape):
        if self.input_mean is not None:
            return ()
        shape = self._stat_shape(input_shape)
        return (shape, shape, ())

    def build(self, input_shape):
        self._ndim = len(input_shape)
        kept = self._kept(input_shape)
        self._bshape = tuple(input_shape[a] if a in kept else 1 for a in range(len(input_shape)))
        shape = self._stat_shape(input_shape)
        if self.input_mean is not None:
            self._fixed = tuple(np.broadcast_to(v, shape).reshape(self._bshape)
                                for v in (self.input_mean, self.input_variance))
            return
        self._fixed = None
        dt = self.dtype_name
        self.register_buffer("adapt_mean", Tensor._wrap(np.zeros(shape, dt)))
        self.register_buffer("adapt_variance", Tensor._wrap(np.ones(shape, dt)))
        self.register_buffer("adapt_count", Tensor._wrap(np.zeros((), "int64")))
        self._add_weight("mean", lambda: self.adapt_mean, trainable=False)
        self._add_weight("variance", lambda: self.adapt_variance, trainable=False)
        self._add_weight("count", lambda: self.adapt_count, trainable=False)

    def adapt(self, data, batch_size=None, steps=None):
        """Compute the mean and variance of ``data`` (an array, a dataset or an iterable of batches) over every axis
        but the kept ones, and make them the layer's statistics."""
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r}: cannot adapt a layer whose mean and variance were given")
        total = total_sq = None
        count = 0
        for batch in iter_batches(data, batch_size, steps, f"Normalization {self.name!r} adapt"):
            batch = np.asarray(batch, np.float64)
            if not self.built:
                self._maybe_build((None,) + batch.shape[1:])
            kept = self._kept((None,) + batch.shape[1:])
            reduce = tuple(a for a in range(batch.ndim) if a not in kept)
            n = int(np.prod([batch.shape[a] for a in reduce]))
            s, sq = batch.sum(axis=reduce), (batch * batch).sum(axis=reduce)
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            count += n
        if not count:
            raise ValueError(f"Normalization {self.name!r}: adapt() received no data")
        mean = total / count
        var = np.maximum(total_sq / count - mean * mean, 0.0)
        for name, value in (("mean", mean), ("variance", var), ("count", np.asarray(count))):
            w = next(w for w in self._weights if w.name == name)
            w.write(np.asarray(value, w.read().dtype).reshape(w.read().shape), self)

    def call(self, inputs):
        if self._fixed is not None:
            mean, var = self._fixed
        else:
            mean = host(self.adapt_mean).reshape(self._bshape)
            var = host(self.adapt_variance).reshape(self._bshape)
        dt = inputs.array.dtype
        std = np.maximum(np.sqrt(var), 1e-7).astype(dt)
        mean = np.asarray(mean, dt)
        if self.invert:
            return inputs * const_like(inputs, std) + const_like(inputs, mean)
        return (inputs - const_like(inputs, mean)) / const_like(inputs, std)

    def get_config(self):
        def listed(v):
            return None if v is None else v.tolist()
        return {**super().get_config(), "axis": list(self.axis) if self.axis else None, "invert": self.invert,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}


_ENCODE_MODES = ("one_hot", "multi_hot", "count")


def encode_tokens(ids, num_tokens, mode, weights=None, who="CategoryEncoding", dtype="float32"):
    """Integer ``ids`` as one-hot / multi-hot / count vectors of ``num_tokens`` (Keras' CategoryEncoding rules:
    a rank-1 input is one sample for multi_hot and count, a column of samples for one_hot).

    Example:
        >>> encode_tokens(np.array([[0, 2, 2]]), 3, "count").tolist()
        [[1.0, 0.0, 2.0]]
    """
    ids = np.asarray(ids)
    if ids.dtype.kind == "f":
        if not np.all(ids == np.round(ids)):
            raise ValueError(f"{who}: inputs must be integer token ids")
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iub":
        raise ValueError(f"{who}: inputs must be integer token ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= num_tokens):
        raise ValueError(f"{who}: token ids must be in [0, num_tokens={num_tokens}); got values in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    if mode == "one_hot":
        if ids.ndim >= 1 and ids.shape[-1] == 1 and ids.ndim > 1:
            ids = ids[..., 0]
        out = np.zeros(ids.shape + (num_tokens,), dtype)
        np.put_along_axis(out, ids[..., None].astype(np.int64), 1, axis=-1)
        return out
    single = ids.ndim == 1
    ids2 = ids[None] if single else ids.reshape(ids.shape[0], -1) if ids.ndim > 2 else ids
    if ids2.ndim == 0:
        ids2 = ids2.reshape(1, 1)
    out = np.zeros((ids2.shape[0], num_tokens), np.float64)
    rows = np.repeat(np.arange(ids2.shape[0]), ids2.shape[1])
    w = np.ones(ids2.size) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if w.size != ids2.size:
        raise ValueError(f"{who}: count_weights of shape {np.shape(weights)} do not match inputs of shape "
                         f"{ids.shape}")
    np.add.at(out, (rows, ids2.reshape(-1).astype(np.int64)), w)
    if mode == "multi_hot":
        out = (out > 0).astype(np.float64)
    out = out.astype(dtype)
    return out[0] if single else out


class CategoryEncoding(Layer):
    """Encode integer token ids in ``[0, num_tokens)`` as ``"multi_hot"`` (default), ``"one_hot"`` or ``"count"``
    vectors of ``num_tokens`` floats.

    Example:
        >>> md.keras.layers.CategoryEncoding(4, output_mode="one_hot")(np.array([0, 3])).tolist()
        [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """

    _autocast = False

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
            raise ValueError(f"CategoryEncoding: num_tokens must be a positive int, got {num_tokens!r}")
        if output_mode not in _ENCODE_MODES:
            raise ValueError(f"Unknown arg for output_mode: {output_mode!r}. Allowed values: {_ENCODE_MODES}")
        if sparse:
            raise ValueError("CategoryEncoding: sparse=True (sparse outputs) is not supported by md.keras")
        self.num_tokens, self.output_mode, self.sparse = int(num_tokens), output_mode, False

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return shape + (self.num_tokens,)
        if len(shape) <= 1:
            return (self.num_tokens,)
        return (shape[0], self.num_tokens)

    def __call__(self, inputs, training=None, count_weights=None, **kwargs):
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError("`count_weights` is not used when `output_mode` is not 'count'. Received "
                                 f"count_weights={count_weights}.")
            return self._encode(inputs, host(count_weights) if isinstance(count_weights, Tensor) else count_weights)
        return super().__call__(inputs, training=training, **kwargs)

    def _encode(self, inputs, weights=None):
        ids = host(inputs) if isinstance(inputs, Tensor) else np.asarray(inputs)
        out = encode_tokens(ids, self.num_tokens, self.output_mode, weights, f"CategoryEncoding {self.name!r}",
                            self.dtype_name)
        t = Tensor._wrap(out)
        return t.to(inputs.device) if isinstance(inputs, Tensor) and str(inputs.device) != "cpu" else t

    def call(self, inputs):
        return self._encode(inputs)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": self.sparse}


def hash_bins(values, num_bins, mask_value=None, salt=None):
    """Bins in ``[0, num_bins)`` for strings or integers, as Keras' Hashing computes them: the value's UTF-8 text
    (integers as decimal text, floats first truncated to integers) hashed by FarmHash Fingerprint64, or by
    SipHash-2-4 keyed with ``salt`` (a pair of ints), modulo the bins; with ``mask_value``, that value maps to 0 and
    the rest to ``[1, num_bins)``.

    Example:
        >>> hash_bins(np.array(["A", "B", "C"]), num_bins=3).tolist()
        [1, 0, 1]
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    buckets = num_bins - (mask_value is not None)
    mask = None if mask_value is None else (mask_value.decode() if isinstance(mask_value, bytes) else
                                            str(mask_value))
    key = None if salt is None else tuple(int(k) & 0xFFFFFFFFFFFFFFFF for k in salt)
    seen = {}
    out = np.empty(arr.size, np.int64)
    for i, v in enumerate(arr.reshape(-1).tolist()):
        text = v.decode("utf-8") if isinstance(v, bytes) else str(v)
        b = seen.get(text)
        if b is None:
            if mask is not None and text == mask:
                b = 0
            else:
                data = text.encode("utf-8")
                h = fingerprint64(data) if key is None else siphash24(key[0], key[1], data)
                b = h % buckets + (mask is not None)
            seen[text] = b
        out[i] = b
    return out.reshape(arr.shape)


class Hashing(Layer):
    """Map strings or integers to ``num_bins`` bins by hashing (the same value always lands in the same bin).
    ``mask_value`` reserves bin 0 for it; ``salt`` (an int or a pair of ints) changes the hash. ``output_mode``
    ``"one_hot"``/``"multi_hot"``/``"count"`` encode the bins as ``CategoryEncoding`` does.

    The bins are Keras': FarmHash Fingerprint64 of the value's text, or SipHash-2-4 keyed with the salt.

    Example:
        >>> md.keras.layers.Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"]])).tolist()
        [[1], [0], [1]]
    """

    _autocast = False

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1 or (
                mask_value is not None and num_bins < 2):
            raise ValueError(f"The `num_bins` for `Hashing` cannot be smaller than {1 + (mask_value is not None)}. "
                             f"Received: num_bins={num_bins}")
        if output_mode not in ("int", *_ENCODE_MODES):
            raise ValueError(f"Hashing: output_mode must be one of {('int', *_ENCODE_MODES)}, got {output_mode!r}")
        if sparse:
            raise ValueError("Hashing: sparse=True (sparse outputs) is not supported by md.keras")
        if salt is not None and not (isinstance(salt, (int, np.integer)) or (
                isinstance(salt, (list, tuple)) and len(salt) == 2)):
            raise ValueError(f"Hashing: salt must be None, an int or a pair of ints, got {salt!r}")
        self.num_bins, self.mask_value, self.output_mode, self.sparse = int(num_bins), mask_value, output_mode, False
        self.salt = None if salt is None else ([int(salt), int(salt)] if isinstance(salt, (int, np.integer))
                                               else [int(s) for s in salt])

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, (np.ndarray, list, tuple, str)) and np.asarray(inputs).dtype.kind in "USO":
            return self.call(np.asarray(inputs))
        return super().__call__(inputs, training=training, **kwargs)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return CategoryEncoding(self.num_bins, self.output_mode).compute_output_shape(input_shape)

    def _output_dtype(self, inputs):
        return "int64" if self.output_mode == "int" else self.dtype_name

    def call(self, inputs):
        values = host(inputs) if isinstance(inputs, Tensor) else np.asarray(inputs)
        bins = hash_bins(values, self.num_bins, self.mask_value, self.salt)
        if self.output_mode != "int":
            bins = encode_tokens(bins, self.num_bins, self.output_mode, who=f"Hashing {self.name!r}",
                                 dtype=self.dtype_name)
        return Tensor._wrap(bins)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "mask_value": self.mask_value, "salt": self.salt,
                "output_mode": self.output_mode, "sparse": self.sparse}
