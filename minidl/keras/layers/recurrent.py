"""Sequence layers: ``Embedding``, ``SimpleRNN``, ``LSTM``, ``GRU`` (on ``md.nn.Embedding``/``RNN``/``LSTM``/``GRU``).

Inputs are batch-major ``(N, steps, features)`` as in Keras. The weights use Keras' layouts and gate orders in
``get_weights``: ``kernel (features, k * units)``, ``recurrent_kernel (units, k * units)``, and one ``bias``
(LSTM gates i, f, c, o as PyTorch; GRU gates z, r, h where PyTorch has r, z, n, and its bias is ``(2, 3 * units)``,
input and recurrent halves, in Keras' default ``reset_after=True`` form; ``reset_after=False`` runs its own step
loop with one bias). Parameter counts are Keras'.
"""
import numpy as np

from ... import nn
from ...creation import zeros
from ...tensor import Tensor
from .. import initializers, regularizers
from .base import Layer
from .core import _dtype, _need_known


class Embedding(Layer):
    """Map integer ids in ``[0, input_dim)`` to trainable vectors: ``(N, steps) -> (N, steps, output_dim)``.

    Default initializer ``uniform`` (U(-0.05, 0.05)), as Keras. ``mask_zero=True`` is refused: minidl's recurrent
    layers take no masks; pad with ``pad_sequences(padding="pre")`` so the real tokens come last.

    Example:
        >>> emb = md.keras.layers.Embedding(10000, 32)
        >>> emb(np.array([[1, 2, 3]])).shape
        (1, 3, 32)
    """

    _autocast = False       # ids stay integers (float ids are cast to int64 in call)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Both `input_dim` and `output_dim` should be positive, Received {name}={v}")
        if mask_zero:
            raise ValueError("Embedding(mask_zero=True) is not supported by md.keras: its recurrent layers take no "
                             "masks. Pad with pad_sequences(padding='pre') and leave mask_zero=False.")
        self.input_dim, self.output_dim, self.input_length = int(input_dim), int(output_dim), input_length
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)

    def _weight_shapes(self, input_shape):
        return [(self.input_dim, self.output_dim)]

    def build(self, input_shape):
        self.embedding = nn.Embedding(self.input_dim, self.output_dim, dtype=_dtype(self))
        self._add_weight("embeddings", lambda: self.embedding.weight, self.embeddings_initializer,
                         regularizer=self.embeddings_regularizer)

    def call(self, inputs):
        ids = inputs
        if ids.dtype.is_floating_point:
            ids = Tensor._wrap(ids.array.astype(np.int64))        # Keras casts float ids
        if ids.numel():
            lo, hi = int(ids.array.min()), int(ids.array.max())
            if lo < 0 or hi >= self.input_dim:
                bad = lo if lo < 0 else hi
                raise ValueError(f'Layer "{self.name}": index {bad} is not in [0, {self.input_dim}) (input_dim='
                                 f"{self.input_dim}); use a larger input_dim or limit the vocabulary (num_words)")
        return self.embedding(ids)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "input_length": self.input_length}


def _blocks(a, order, axis):
    """Reorder the gate blocks of ``a`` along ``axis`` (``order[i]`` = the source block of block i)."""
    parts = np.split(a, len(order), axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


class _Recurrent(Layer):
    """The shared part of SimpleRNN, LSTM and GRU: arguments, weights, the time loop through ``md.nn``."""

    _cast_ints = True

    ndim = 3
    gates = 1
    torch_from_keras = None     # gate order: torch block i = keras block order[i] (None: same order)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, got "
                             f"{units}.")
        if recurrent_dropout:
            raise ValueError(f"{name}(recurrent_dropout={recurrent_dropout}) is not supported by md.keras (the "
                             "md.nn recurrent loop has no per-step mask); use dropout= or a Dropout layer")
        if return_state or stateful:
            raise ValueError(f"{name}: return_state=True and stateful=True are not supported by md.keras")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.units, self.use_bias, self.dropout, self.unroll = int(units), use_bias, float(dropout), unroll
        self.return_sequences, self.go_backwards = return_sequences, go_backwards
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._check_activations()

    def _check_activations(self):
        if self.activation != "tanh" or self.recurrent_activation != "sigmoid":
            raise ValueError(f"{type(self).__name__}: only activation='tanh' with recurrent_activation='sigmoid' is "
                             f"supported, got {self.activation!r} and {self.recurrent_activation!r}")

    def _to_keras(self, a):         # torch (k * units, n) -> keras (n, k * units)
        order = self.torch_from_keras
        return (_blocks(a, [order.index(i) for i in range(len(order))], 0) if order else a).T

    def _from_keras(self, a):       # keras (n, k * units) -> torch (k * units, n)
        return _blocks(a.T, self.torch_from_keras, 0) if self.torch_from_keras else a.T

    def _make(self, n_in):
        raise NotImplementedError

    def _weight_shapes(self, input_shape):
        n_in = _need_known(self, input_shape, -1, "feature dimension of the inputs")
        size = self.gates * self.units
        bias = (2, size) if isinstance(self, GRU) and self.reset_after else (size,)
        return [(n_in, size), (self.units, size)] + [bias] * bool(self.use_bias)

    def build(self, input_shape):
        n_in = _need_known(self, input_shape, -1, "feature dimension of the inputs")
        self.rnn = self._make(n_in)
        self._add_weight("kernel", lambda: self.rnn.weight_ih_l0, self.kernel_initializer, self._to_keras,
                         self._from_keras, self.kernel_regularizer)
        self._add_weight("recurrent_kernel", lambda: self.rnn.weight_hh_l0, self.recurrent_initializer,
                         self._to_keras, self._from_keras, self.recurrent_regularizer)
        if self.use_bias:
            self._add_bias()
        self._axes = {-1: n_in}

    def _add_bias(self):
        # one Keras bias: PyTorch's second bias (b_hh) becomes a fixed zero buffer so the sum is the Keras bias
        size = self.gates * self.units
        del self.rnn.bias_hh_l0
        self.rnn.register_buffer("bias_hh_l0", zeros(size, dtype=_dtype(self)), persistent=False)
        self._add_weight("bias", lambda: self.rnn.bias_ih_l0, self._bias_init, regularizer=self.bias_regularizer)

    def _bias_init(self, shape, dtype=None):
        return self.bias_initializer(shape, dtype)

    def call(self, inputs):
        x = inputs
        if self.go_backwards:
            x = x[:, np.arange(x.shape[1] - 1, -1, -1)]
        if self.dropout and self.training:       # one mask per sequence, shared by its steps (Keras' rule)
            keep = nn.functional.dropout(zeros(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device) + 1.0,
                                         self.dropout, True)
            x = x * keep
        out = self.rnn(x)[0]
        return out if self.return_sequences else out[:, -1]

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer), "dropout": self.dropout,
                "return_sequences": self.return_sequences, "go_backwards": self.go_backwards}


class SimpleRNN(_Recurrent):
    """Fully connected recurrence ``h_t = activation(x_t W + h_{t-1} U + b)`` (tanh or relu).

    Example:
        >>> md.keras.layers.SimpleRNN(16)(np.zeros((2, 5, 8))).shape
        (2, 16)
    """

    def _check_activations(self):
        if self.activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN: activation must be 'tanh' or 'relu', got {self.activation!r}")

    def _make(self, n_in):
        return nn.RNN(n_in, self.units, nonlinearity=self.activation, bias=self.use_bias, batch_first=True,
                      dtype=_dtype(self))


class LSTM(_Recurrent):
    """Long short-term memory (``md.nn.LSTM`` inside); ``unit_forget_bias`` starts the forget gate's bias at 1.

    Example:
        >>> model = md.keras.Sequential([md.keras.layers.Embedding(1000, 32), md.keras.layers.LSTM(32),
        ...                              md.keras.layers.Dense(1, activation="sigmoid")])
    """

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = unit_forget_bias
        super().__init__(units, **kwargs)

    def _make(self, n_in):
        return nn.LSTM(n_in, self.units, bias=self.use_bias, batch_first=True, dtype=_dtype(self))

    def _bias_init(self, shape, dtype=None):
        bias = self.bias_initializer(shape, dtype)
        if self.unit_forget_bias:
            bias[self.units:2 * self.units] = 1.0
        return bias

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_Recurrent):
    """Gated recurrent unit, Keras' default ``reset_after=True`` form (the same math as ``md.nn.GRU``).

    Example:
        >>> md.keras.layers.GRU(16, return_sequences=True)(np.zeros((2, 5, 8))).shape
        (2, 5, 16)
    """

    gates = 3
    torch_from_keras = (1, 0, 2)        # PyTorch r, z, n = Keras blocks r (1), z (0), h (2)

    def __init__(self, units, reset_after=True, **kwargs):
        self.reset_after = bool(reset_after)
        if not self.reset_after:
            self.torch_from_keras = None    # the reset-before cell keeps Keras' gate order z, r, h
        super().__init__(units, **kwargs)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}

    def _make(self, n_in):
        if not self.reset_after:
            return _GRUResetBefore(n_in, self.units, self.use_bias, _dtype(self))
        return nn.GRU(n_in, self.units, bias=self.use_bias, batch_first=True, dtype=_dtype(self))

    def _add_bias(self):
        if not self.reset_after:        # one bias (3 * units,) on the input projection
            return super()._add_bias()
        # Keras' bias (2, 3 * units): row 0 the input bias, row 1 the recurrent one (inside r * (...))
        order = self.torch_from_keras
        back = [order.index(i) for i in range(3)]

        def to_keras(ab):
            return np.stack([_blocks(ab[0], back, 0), _blocks(ab[1], back, 0)])

        def from_keras(a):
            return _blocks(a[0], order, 0), _blocks(a[1], order, 0)

        self._add_weight("bias", lambda: (self.rnn.bias_ih_l0, self.rnn.bias_hh_l0), self.bias_initializer,
                         to_keras, from_keras, self.bias_regularizer)


class _GRUResetBefore(nn.Module):
    """Keras' ``GRU(reset_after=False)`` cell over a batch-major sequence: the reset gate scales the previous
    state before its recurrent product, ``h~ = tanh(x W_h + (r * h) U_h + b_h)``, then ``h = z * h + (1 - z) * h~``
    (gates in Keras' order z, r, h). A step loop of differentiable ops (md.nn.GRU is the reset-after form)."""

    def __init__(self, n_in, units, bias, dtype):
        super().__init__()
        self.units = units
        self.weight_ih_l0 = nn.Parameter(zeros(3 * units, n_in, dtype=dtype))
        self.weight_hh_l0 = nn.Parameter(zeros(3 * units, units, dtype=dtype))
        if bias:
            self.bias_ih_l0 = nn.Parameter(zeros(3 * units, dtype=dtype))
            self.bias_hh_l0 = nn.Parameter(zeros(3 * units, dtype=dtype))

    def forward(self, x):
        u = self.units
        proj = x @ self.weight_ih_l0.T
        if hasattr(self, "bias_ih_l0"):
            proj = proj + self.bias_ih_l0
        w_zr, w_h = self.weight_hh_l0[:2 * u], self.weight_hh_l0[2 * u:]
        h = zeros(x.shape[0], u, dtype=x.dtype, device=x.device)
        outs = []
        for t in range(x.shape[1]):
            p = proj[:, t]
            zr = nn.functional.sigmoid(p[:, :2 * u] + h @ w_zr.T)
            z, r = zr[:, :u], zr[:, u:]
            cand = nn.functional.tanh(p[:, 2 * u:] + (r * h) @ w_h.T)
            h = z * h + (1 - z) * cand
            outs.append(h)
        from ...ops import stack  # noqa: PLC0415
        return stack(outs, dim=1), h.unsqueeze(0)
