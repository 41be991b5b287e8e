"""Sequence layers: ``Embedding``, ``SimpleRNN``, ``LSTM``, ``GRU`` (on ``md.nn.Embedding``/``RNN``/``LSTM``/``GRU``).

Inputs are batch-major ``(N, steps, features)`` as in Keras. The weights use Keras' layouts and gate orders in
``get_weights``: ``kernel (features, k * units)``, ``recurrent_kernel (units, k * units)``, and one ``bias``
(LSTM gates i, f, c, o as PyTorch; GRU gates z, r, h where PyTorch has r, z, n, and its bias is ``(2, 3 * units)``,
input and recurrent halves, in Keras' default ``reset_after=True`` form; ``reset_after=False`` runs its own step
loop with one bias). Parameter counts are Keras'.

Keras' recurrent features: masks (from ``Embedding(mask_zero=True)`` or ``Masking``; a masked step keeps the state
and repeats the previous output), ``return_state``, ``initial_state=``, ``recurrent_dropout`` (one mask per gate
on the state, drawn per call, in training only), ``stateful`` with ``reset_state(s)()``, ``go_backwards``, and
``unroll`` (accepted; the values do not depend on it).
"""
import numpy as np

from ... import nn
from ...creation import ones, zeros
from ...nn import functional as F
from ...ops import cat, stack, where
from ...tensor import Tensor
from .. import initializers, regularizers
from .base import KerasTensor, Layer, host, to_tensor
from .core import _dtype, _need_known


class Embedding(Layer):
    """Map integer ids in ``[0, input_dim)`` to trainable vectors: ``(N, steps) -> (N, steps, output_dim)``.

    Default initializer ``uniform`` (U(-0.05, 0.05)), as Keras. ``mask_zero=True`` makes id 0 padding: the output
    carries a mask (``compute_mask``: ids != 0) that the recurrent layers, and the loss and metrics in ``fit``, skip.

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
        self.mask_zero = bool(mask_zero)
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

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero=True``: ``inputs != 0`` (a bool Tensor of the ids' shape); else None."""
        if not self.mask_zero:
            return None
        if isinstance(inputs, KerasTensor):
            from ..masking_utils import symbolic_mask  # noqa: PLC0415
            return symbolic_mask(inputs, inputs.shape)
        ids = to_tensor(inputs)
        return ids != 0

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "mask_zero": self.mask_zero, "input_length": self.input_length}


def _blocks(a, order, axis):
    """Reorder the gate blocks of ``a`` along ``axis`` (``order[i]`` = the source block of block i)."""
    parts = np.split(a, len(order), axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


class _Recurrent(Layer):
    """The shared part of SimpleRNN, LSTM and GRU: arguments, weights, the time loop through ``md.nn``.

    Without a mask or recurrent dropout the whole sequence runs through the fused ``md.nn`` kernel (from the initial
    or carried states when given); a mask (from ``Embedding(mask_zero=True)``/``Masking``) or ``recurrent_dropout``
    in training runs a step loop of differentiable ops, where a masked step keeps the state and repeats the previous
    output (zeros inside a ``Bidirectional`` with ``return_sequences``), as Keras."""

    _cast_ints = True
    supports_masking = True

    ndim = 3
    gates = 1
    n_states = 1
    torch_from_keras = None     # gate order: torch block i = keras block order[i] (None: same order)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, got "
                             f"{units}.")
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= rate < 1:
                raise ValueError(f"{name}: {what} must be in [0, 1), got {rate}")
        self.units, self.use_bias, self.dropout, self.unroll = int(units), use_bias, float(dropout), bool(unroll)
        self.recurrent_dropout, self.seed = float(recurrent_dropout), seed
        self.return_sequences, self.go_backwards = bool(return_sequences), bool(go_backwards)
        self.return_state, self.stateful = bool(return_state), bool(stateful)
        self.zero_output_for_mask = bool(zero_output_for_mask)  # masked steps output zeros (Bidirectional sets it)
        self.states = None                      # the carried states of a stateful layer
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

    @staticmethod
    def _sequence_shape(input_shape):
        """The sequence's shape when the input is [sequence, *initial states]."""
        if isinstance(input_shape, list) or (input_shape and isinstance(input_shape[0], (list, tuple))):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def _weight_shapes(self, input_shape):
        input_shape = self._sequence_shape(input_shape)
        n_in = _need_known(self, input_shape, -1, "feature dimension of the inputs")
        size = self.gates * self.units
        bias = (2, size) if isinstance(self, GRU) and self.reset_after else (size,)
        return [(n_in, size), (self.units, size)] + [bias] * bool(self.use_bias)

    def build(self, input_shape):
        input_shape = self._sequence_shape(input_shape)
        n_in = _need_known(self, input_shape, -1, "feature dimension of the inputs")
        self.rnn = self._make(n_in)
        self._add_weight("kernel", lambda: self.rnn.weight_ih_l0, self.kernel_initializer, self._to_keras,
                         self._from_keras, self.kernel_regularizer)
        self._add_weight("recurrent_kernel", lambda: self.rnn.weight_hh_l0, self.recurrent_initializer,
                         self._to_keras, self._from_keras, self.recurrent_regularizer)
        if self.use_bias:
            self._add_bias()
        self._axes = {-1: n_in}
        if self.stateful and input_shape[0] is not None:
            self._state_batch = int(input_shape[0])

    def _add_bias(self):
        # one Keras bias: PyTorch's second bias (b_hh) becomes a fixed zero buffer so the sum is the Keras bias
        size = self.gates * self.units
        del self.rnn.bias_hh_l0
        self.rnn.register_buffer("bias_hh_l0", zeros(size, dtype=_dtype(self)), persistent=False)
        self._add_weight("bias", lambda: self.rnn.bias_ih_l0, self._bias_init, regularizer=self.bias_regularizer)

    def _bias_init(self, shape, dtype=None):
        return self.bias_initializer(shape, dtype)

    # --- calls ----------------------------------------------------------------------------------------------------
    def __call__(self, inputs, training=None, initial_state=None, **kwargs):
        """``layer(sequences, initial_state=None, mask=None, training=None)``; ``initial_state`` is a list of
        ``(batch, units)`` states (``[h, c]`` for an LSTM) or KerasTensors from another layer (an encoder's states).
        As in Keras, with ``initial_state`` the sequence's own mask is not applied unless passed as ``mask=``."""
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != self.n_states:
                raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects {self.n_states} initial "
                                 f"state(s), got {len(states)}")
            inputs = [inputs, *states]
        from ..masking_utils import state_outputs  # noqa: PLC0415
        return state_outputs(self, super().__call__(inputs, training, **kwargs))

    def compute_mask(self, inputs, mask=None):
        """The output's mask: the input mask with ``return_sequences``, else None (the layer consumes it)."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * self.n_states if self.return_state else out

    def _states_from(self, given, x):
        """The initial states as (1, N, units) Tensors of x's dtype, or None for zeros."""
        n = x.shape[0]
        if given is None and self.stateful:
            want = getattr(self, "_state_batch", None)
            if want is None:
                self._state_batch = want = n
            if n != want:
                raise ValueError(f"Stateful layer {self.name!r} ({type(self).__name__}) has batch size {want} (from "
                                 f"its input shape or first batch); it received a batch of {n}. Feed batches of "
                                 f"{want} (batch_size={want}, drop the remainder) or call reset_states() first "
                                 "after changing it is not possible: rebuild the layer")
            given = self.states
        if given is None:
            return None
        out = []
        for i, s in enumerate(given):
            s = to_tensor(s)
            if tuple(s.shape) != (n, self.units):
                raise ValueError(f"Layer {self.name!r}: initial state {i} must have shape ({n}, {self.units}), got "
                                 f"{tuple(s.shape)}")
            out.append((s if s.dtype == x.dtype else s.to(x.dtype)).unsqueeze(0))
        return out

    def call(self, inputs, mask=None, initial_state=None):
        x, given = inputs, initial_state
        if isinstance(x, (list, tuple)):
            x, given = x[0], list(x[1:]) or given
        if isinstance(mask, (list, tuple)):
            # the masks of [sequence, *initial states], found on the inputs: as Keras, a layer given initial states
            # uses a mask only when it is passed as mask= (the output still carries the sequence's mask)
            mask = None
        if mask is not None:
            mask = to_tensor(mask)
            if tuple(mask.shape) != tuple(x.shape[:2]):
                raise ValueError(f"Layer {self.name!r}: the mask must have shape {tuple(x.shape[:2])} (batch, steps), "
                                 f"got {tuple(mask.shape)}")
            if bool(host(mask).all()):
                mask = None                                 # nothing masked: the fused kernel
        if self.go_backwards:
            rev = np.arange(x.shape[1] - 1, -1, -1)
            x = x[:, rev]
            mask = None if mask is None else mask[:, rev]
        states = self._states_from(given, x)
        rec_drop = bool(self.recurrent_dropout and self.training)
        in_masks = None
        if self.dropout and self.training:       # one mask per sequence, shared by its steps (Keras' rule)
            count = self.gates if rec_drop else 1
            in_masks = [nn.functional.dropout(ones(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device),
                                              self.dropout, True) for _ in range(count)]
            if count == 1:
                x, in_masks = x * in_masks[0], None
        spans = None if mask is None or rec_drop or in_masks is not None else _spans(host(mask))
        if mask is None and not rec_drop and in_masks is None:
            out, last, finals = self._fused(x, states)
        elif spans is not None:         # each sequence's kept steps are one run: the fused kernel over each run
            out, last, finals = self._fused_spans(x, states, spans)
        else:
            rec_masks = None
            if rec_drop:
                rec_masks = [nn.functional.dropout(ones(x.shape[0], self.units, dtype=x.dtype, device=x.device),
                                                   self.recurrent_dropout, True) for _ in range(self.gates)]
            out, last, finals = _step_loop(self._mode(), self.rnn, x, states, mask, in_masks, rec_masks,
                                           self.zero_output_for_mask, self.activation)
        if self.stateful:
            self.states = [f.detach() for f in finals]
        output = out if self.return_sequences else last
        return [output, *finals] if self.return_state else output

    def _mode(self):
        return "rnn"

    def _fused(self, x, states):
        """The whole sequence through the fused md.nn kernel: (outputs, last output, final states)."""
        hx = None if states is None else (tuple(states) if self.n_states == 2 else states[0])
        out, hn = self.rnn(x, hx)
        return out, out[:, -1], [h.squeeze(0) for h in (hn if isinstance(hn, tuple) else (hn,))]

    def _fused_spans(self, x, states, spans):
        """A mask whose kept steps form one run per sequence (padding before and/or after, as ``pad_sequences``
        makes): the rows with the same run go through the fused kernel over those steps only, from the initial
        states; the masked steps before a run output zeros, those after it repeat its last output (zeros with
        ``zero_output_for_mask``), and the states are those at its end -- the step loop's results, exactly."""
        steps, u = x.shape[1], self.units
        groups = {}
        for row, span in enumerate(spans):
            groups.setdefault(span, []).append(row)
        outs, lasts, finals, order = [], [], [[] for _ in range(self.n_states)], []
        for (start, end), rows in groups.items():
            idx = np.asarray(rows)
            init = None if states is None else [s[:, idx] for s in states]
            k = len(rows)
            if end > start:
                seq, last, fin = self._fused(x[idx][:, start:end], init)
            else:               # every step masked: zeros out, the initial states kept
                seq, last = zeros(k, 0, u, dtype=x.dtype, device=x.device), zeros(k, u, dtype=x.dtype, device=x.device)
                fin = [zeros(k, u, dtype=x.dtype, device=x.device) for _ in range(self.n_states)] if init is None \
                    else [s.squeeze(0) for s in init]
            parts = [zeros(k, start, u, dtype=x.dtype, device=x.device)] if start else []
            parts.append(seq)
            if end < steps:
                fill = zeros(k, u, dtype=x.dtype, device=x.device) if self.zero_output_for_mask else last
                parts.append(fill.unsqueeze(1).expand(k, steps - end, u))
            outs.append(cat(parts, dim=1) if len(parts) > 1 else parts[0])
            lasts.append(last)
            for i, f in enumerate(fin):
                finals[i].append(f)
            order.extend(rows)
        back = np.argsort(np.asarray(order))          # the rows back in the batch's order

        def join(parts):
            return (cat(parts, dim=0) if len(parts) > 1 else parts[0])[back]
        return join(outs), join(lasts), [join(f) for f in finals]

    def compute_output_shape(self, input_shape):
        input_shape = self._sequence_shape(input_shape)
        if self.return_sequences:
            shape = (input_shape[0], input_shape[1], self.units)
        else:
            shape = (input_shape[0], self.units)
        if self.return_state:
            return [shape] + [(input_shape[0], self.units)] * self.n_states
        return shape

    def reset_state(self):
        """Zero the carried states of a ``stateful=True`` layer (Keras' ``reset_state``; ``reset_states`` is the
        same).

        Example:
            >>> layer = md.keras.layers.LSTM(4, stateful=True)
            >>> _ = layer(np.zeros((2, 3, 5)))
            >>> layer.reset_state()
        """
        if self.states is not None:
            self.states = [zeros(*s.shape, dtype=s.dtype, device=s.device) for s in self.states]

    reset_states = reset_state

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer), "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask, "seed": self.seed}


def _spans(mask):
    """(start, end) of each row's kept steps when they form one run (possibly empty), else None."""
    mask = np.asarray(mask, bool)
    count = mask.sum(1)
    start = np.where(count > 0, mask.argmax(1), 0)
    end = np.where(count > 0, mask.shape[1] - mask[:, ::-1].argmax(1), 0)
    if not np.array_equal(end - start, count):
        return None
    return list(zip(start.tolist(), end.tolist()))


def _gate_matmul(h, w, masks):
    """``h @ w.T`` (w: (gates * units, n)), with ``masks[g]`` multiplying h for gate block g when given."""
    if masks is None:
        return h @ w.T
    size = w.shape[0] // len(masks)
    return cat([(h * m) @ w[g * size:(g + 1) * size].T for g, m in enumerate(masks)], dim=-1)


def _step_loop(mode, rnn, x, states, mask, in_masks, rec_masks, zero_output, activation):
    """Run the cell step by step over x (N, T, in) with PyTorch-layout weights of ``rnn``: returns (outputs (N, T,
    units), last output, final states). A step whose ``mask`` is False keeps the states and repeats the previous
    output (zeros with ``zero_output``); ``in_masks``/``rec_masks`` are per-gate dropout masks on the input and the
    recurrent state (Keras' implementation 1)."""
    w_ih, w_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
    b_ih = getattr(rnn, "bias_ih_l0", None) if "bias_ih_l0" in rnn._parameters else None
    b_hh = rnn._buffers.get("bias_hh_l0", rnn._parameters.get("bias_hh_l0"))
    n, steps = x.shape[0], x.shape[1]
    u = w_hh.shape[1]
    proj = _gate_matmul(x, w_ih, in_masks)
    if b_ih is not None:
        proj = proj + b_ih
    if states is None:
        h = zeros(n, u, dtype=x.dtype, device=x.device)
        c = zeros(n, u, dtype=x.dtype, device=x.device) if mode == "lstm" else None
    else:
        h = states[0].squeeze(0)
        c = states[1].squeeze(0) if mode == "lstm" else None
    prev = zeros(n, u, dtype=x.dtype, device=x.device)
    outs = []
    for t in range(steps):
        p = proj[:, t]
        if mode == "rnn":
            z = p + _gate_matmul(h, w_hh, rec_masks)
            if b_hh is not None:
                z = z + b_hh
            new_h, new_c = (F.relu(z) if activation == "relu" else F.tanh(z)), None
        elif mode == "lstm":
            z = p + _gate_matmul(h, w_hh, rec_masks)
            if b_hh is not None:
                z = z + b_hh
            i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            new_c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
            new_h = F.sigmoid(o) * F.tanh(new_c)
        elif mode == "gru":             # reset-after, PyTorch's gate order r, z, n
            hp = _gate_matmul(h, w_hh, rec_masks)
            if b_hh is not None:
                hp = hp + b_hh
            r = F.sigmoid(p[:, :u] + hp[:, :u])
            zg = F.sigmoid(p[:, u:2 * u] + hp[:, u:2 * u])
            cand = F.tanh(p[:, 2 * u:] + r * hp[:, 2 * u:])
            new_h, new_c = (1 - zg) * cand + zg * h, None
        else:                           # GRU reset-before, Keras' gate order z, r, h
            zr = p[:, :2 * u] + _gate_matmul(h, w_hh[:2 * u], None if rec_masks is None else rec_masks[:2])
            zg, r = F.sigmoid(zr[:, :u]), F.sigmoid(zr[:, u:])
            hm = h if rec_masks is None else h * rec_masks[2]
            cand = F.tanh(p[:, 2 * u:] + (r * hm) @ w_hh[2 * u:].T)
            new_h, new_c = zg * h + (1 - zg) * cand, None
        if mask is None:
            h, c, prev = new_h, new_c, new_h
            outs.append(new_h)
        else:
            m = mask[:, t:t + 1]
            h = where(m, new_h, h)
            c = None if c is None else where(m, new_c, c)
            prev = where(m, new_h, prev)
            outs.append(where(m, new_h, zeros(n, u, dtype=x.dtype, device=x.device)) if zero_output else prev)
    finals = [h] if c is None else [h, c]
    return stack(outs, dim=1), prev, finals


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
    n_states = 2

    def _mode(self):
        return "lstm"

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

    def _mode(self):
        return "gru" if self.reset_after else "gru_before"

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

    def forward(self, x, hx=None):
        out, _, finals = _step_loop("gru_before", self, x, None if hx is None else [hx], None, None, None, False,
                                    "tanh")
        return out, finals[0].unsqueeze(0)
