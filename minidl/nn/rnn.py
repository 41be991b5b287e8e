"""Recurrent layers: ``RNN`` (tanh/relu), ``LSTM`` and ``GRU``, with PyTorch's parameters, gates and outputs.

Each layer and direction is one op over the whole sequence (``minidl.ops.rnn.rnn_layer``: one input-projection GEMM,
per step a recurrent GEMM and fused gate math, backpropagation through time in one kernel).
"""
import math

from ..creation import zeros
from ..ops import cat, stack
from ..ops.rnn import rnn_layer
from . import functional as F
from . import init
from .module import Module
from .parameter import empty_parameter


_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU: parameters, shape checks, the layer/direction/time loops."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(hidden_size, int) or hidden_size < 1 or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"{name}: hidden_size and num_layers must be positive ints, got {hidden_size!r} and "
                             f"{num_layers!r}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        gates = _GATES[mode] * hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self._dirs
            for suffix in self._suffixes(layer):
                self.register_parameter(f"weight_ih{suffix}", empty_parameter(gates, in_size, device=device,
                                                                              dtype=dtype))
                self.register_parameter(f"weight_hh{suffix}", empty_parameter(gates, hidden_size, device=device,
                                                                              dtype=dtype))
                if bias:
                    self.register_parameter(f"bias_ih{suffix}", empty_parameter(gates, device=device, dtype=dtype))
                    self.register_parameter(f"bias_hh{suffix}", empty_parameter(gates, device=device, dtype=dtype))
        self.reset_parameters()

    @property
    def _dirs(self):
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer):
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _check_state(self, name, h, batch, batched, dtype):
        want = (self.num_layers * self._dirs, batch, self.hidden_size) if batched else \
            (self.num_layers * self._dirs, self.hidden_size)
        if h.shape != want:
            raise ValueError(f"{type(self).__name__}: {name} must have shape {want} for input of this shape, got "
                             f"{h.shape}")
        if h.dtype != dtype:
            raise TypeError(f"{type(self).__name__}: {name} has dtype {h.dtype.name}, input {dtype.name}")
        return h if batched else h.unsqueeze(1)

    def forward(self, input, hx=None):
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected a 2-D (L, H_in) or 3-D input "
                             f"({'(N, L, H_in)' if self.batch_first else '(L, N, H_in)'}), got shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}(input_size={self.input_size}): input of shape {input.shape} has feature size "
                             f"{input.shape[-1]}")
        batched = input.ndim == 3
        x = input if not batched else (input.transpose(0, 1) if self.batch_first else input)
        if not batched:
            x = x.unsqueeze(1)
        steps, batch = x.shape[:2]
        if steps == 0:
            raise ValueError(f"{name}: input of shape {input.shape} has no time steps")
        lstm = self.mode == "LSTM"
        state_shape = (self.num_layers * self._dirs, batch, self.hidden_size)
        if hx is None:
            h0 = zeros(*state_shape, dtype=x.dtype, device=x.device)
            c0 = h0 if lstm else None
        elif lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0 = self._check_state("h_0", hx[0], batch, batched, x.dtype)
            c0 = self._check_state("c_0", hx[1], batch, batched, x.dtype)
        else:
            h0, c0 = self._check_state("hx", hx, batch, batched, x.dtype), None

        output, h_n, c_n = self._run(x, h0, c0)
        if batched and self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def _layer_weights(self, suffix):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction (biases None without bias)."""
        w_ih, w_hh = getattr(self, f"weight_ih{suffix}"), getattr(self, f"weight_hh{suffix}")
        if not self.bias:
            return w_ih, w_hh, None, None
        return w_ih, w_hh, getattr(self, f"bias_ih{suffix}"), getattr(self, f"bias_hh{suffix}")

    def _run(self, x, h0, c0):
        """x (L, N, in), states (layers * dirs, N, H) -> output (L, N, dirs * H), h_n, c_n."""
        mode = self.mode.lower()
        h_last, c_last = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                w_ih, w_hh, b_ih, b_hh = self._layer_weights(suffix)
                k = layer * self._dirs + d
                y, h, c = rnn_layer(mode, x, h0[k], None if c0 is None else c0[k], w_ih, w_hh, b_ih, b_hh,
                                    reverse=bool(d))
                outs.append(y)
                h_last.append(h)
                c_last.append(c)
            x = outs[0] if len(outs) == 1 else cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        c_n = stack(c_last, 0) if c0 is not None else None
        return x, stack(h_last, 0), c_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` with act tanh or relu.

    Input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in); optional ``hx``
    (num_layers * num_directions, N, H). Returns ``(output, h_n)``: output (L, N, D * H) holds the last layer's
    hidden states (both directions concatenated), h_n the final state of every layer and direction.

    Example:
        >>> rnn = md.nn.RNN(10, 20, num_layers=2)
        >>> out, h_n = rnn(md.randn(5, 3, 10))
        >>> out.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype)

    def __setattr__(self, name, value):
        if name == "nonlinearity" and "_parameters" not in self.__dict__:
            self.__dict__[name] = value         # set before Module.__init__ so the mode is known
        else:
            super().__setattr__(name, value)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"


class LSTM(RNNBase):
    """Long short-term memory with PyTorch's gate order (input, forget, cell, output) in the stacked weights.

    Weights ``weight_ih_l{k}`` (4H, in), ``weight_hh_l{k}`` (4H, H), biases (4H,), ``_reverse`` for the backward
    direction. ``forward(input, (h_0, c_0))`` returns ``(output, (h_n, c_n))``.

    Example:
        >>> lstm = md.nn.LSTM(8, 16, batch_first=True, bidirectional=True)
        >>> out, (h_n, c_n) = lstm(md.randn(4, 7, 8))
        >>> out.shape, h_n.shape
        ((4, 7, 32), (2, 4, 16))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        if proj_size:
            raise ValueError(f"LSTM: proj_size={proj_size} (projected LSTM) is not supported; use proj_size=0")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit with PyTorch's gate order (reset, update, new) and
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

    Example:
        >>> gru = md.nn.GRU(8, 16, num_layers=2)
        >>> out, h_n = gru(md.randn(7, 4, 8))
        >>> out.shape, h_n.shape
        ((7, 4, 16), (2, 4, 16))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)


# --- issue 14: single-step cells -------------------------------------------------------------------------------
class RNNCellBase(Module):
    """One time step of an RNN/LSTM/GRU: ``weight_ih`` (G H, in), ``weight_hh`` (G H, H), ``bias_ih``/``bias_hh``
    (G H,) with PyTorch's names, gate order and U(-1/sqrt(H), 1/sqrt(H)) initialization."""

    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(hidden_size, int) or hidden_size < 1 or not isinstance(input_size, int) or input_size < 1:
            raise ValueError(f"{name}: input_size and hidden_size must be positive ints, got {input_size!r} and "
                             f"{hidden_size!r}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        g = self._gates * hidden_size
        self.weight_ih = empty_parameter(g, input_size, device=device, dtype=dtype)
        self.weight_hh = empty_parameter(g, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = empty_parameter(g, device=device, dtype=dtype)
            self.bias_hh = empty_parameter(g, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _prepare(self, x, states):
        """Batch an unbatched (in,) input and check shapes; zero states where None. Returns (x, states, batched)."""
        name = type(self).__name__
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}({self.input_size}, {self.hidden_size}): expected input (N, {self.input_size}) "
                             f"or ({self.input_size},), got shape {x.shape}")
        batched = x.ndim == 2
        x = x if batched else x.unsqueeze(0)
        out = []
        for s in states:
            if s is None:
                s = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            else:
                want = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
                if s.shape != want:
                    raise ValueError(f"{name}: hidden state of shape {s.shape} does not fit input of shape "
                                     f"{x.shape if batched else x.shape[1:]} (expected {want})")
                s = s if batched else s.unsqueeze(0)
            out.append(s)
        return x, out, batched

    def _projections(self, x, h):
        return F.linear(x, self.weight_ih, self.bias_ih), F.linear(h, self.weight_hh, self.bias_hh)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        return s if nl == "tanh" else s + f", nonlinearity={nl}"


class RNNCell(RNNCellBase):
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` with act ``"tanh"`` or ``"relu"``.

    Example:
        >>> cell = md.nn.RNNCell(10, 20)
        >>> cell(md.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        gi, gh = self._projections(x, h)
        h = (gi + gh).tanh() if self.nonlinearity == "tanh" else (gi + gh).relu()
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step with PyTorch's gate order (input, forget, cell, output); ``forward(input, (h, c))`` returns
    ``(h', c')``.

    Example:
        >>> cell = md.nn.LSTMCell(10, 20)
        >>> h, c = cell(md.randn(3, 10))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    _gates = 4

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTMCell: hx must be a tuple (h_0, c_0)")
        x, (h, c), batched = self._prepare(input, [None, None] if hx is None else list(hx))
        gi, gh = self._projections(x, h)
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step with PyTorch's gate order (reset, update, new): ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``,
    ``h' = (1 - z) n + z h``.

    Example:
        >>> cell = md.nn.GRUCell(10, 20)
        >>> cell(md.randn(3, 10)).shape
        (3, 20)
    """

    _gates = 3

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        gi, gh = self._projections(x, h)
        ir, iz, in_ = gi.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
        n = (in_ + r * hn).tanh()
        h = (1 - z) * n + z * h
        return h if batched else h.squeeze(0)


# --- issue 14, programs (seq) ---------------------------------------------------------------------------------------
def _flatten_parameters(self):
    """Kept for PyTorch programs (word_language_model calls it after loading): PyTorch packs the weights into one
    cuDNN buffer and does nothing otherwise; minidl has no cuDNN, so there is nothing to do here either.

    Example:
        >>> md.nn.LSTM(2, 3).flatten_parameters() is None
        True
    """
    return None


RNNBase.flatten_parameters = _flatten_parameters


# --- issue 14, programs (seq): RNN / LSTM / GRU over a PackedSequence -----------------------------------------------
def _run_packed(self, x, lengths, h0, c0):
    """Like ``_run`` for a padded batch (T, N, in) sorted by decreasing ``lengths``: each run of equal lengths goes
    through the fused layer over its own steps only, so every sequence starts (reverse direction) and stops at its
    own end, as PyTorch's packed recurrence. Places past a sequence's end hold zeros."""
    mode, steps = self.mode.lower(), x.shape[0]
    bounds = [0] + [i for i in range(1, len(lengths)) if lengths[i] != lengths[i - 1]] + [len(lengths)]
    groups = [(s, e, int(lengths[s])) for s, e in zip(bounds[:-1], bounds[1:])]
    h_last, c_last = [], []
    for layer in range(self.num_layers):
        outs = []
        for d, suffix in enumerate(self._suffixes(layer)):
            w_ih, w_hh, b_ih, b_hh = self._layer_weights(suffix)
            k = layer * self._dirs + d
            ys, hs, cs = [], [], []
            for s, e, n in groups:
                y, h, c = rnn_layer(mode, x[:n, s:e], h0[k][s:e], None if c0 is None else c0[k][s:e], w_ih, w_hh,
                                    b_ih, b_hh, reverse=bool(d))
                ys.append(y if n == steps else cat([y, zeros(steps - n, e - s, y.shape[2], dtype=y.dtype,
                                                             device=y.device)], 0))
                hs.append(h)
                cs.append(c)
            outs.append(cat(ys, 1))
            h_last.append(cat(hs, 0))
            c_last.append(cat(cs, 0) if c0 is not None else None)
        x = outs[0] if len(outs) == 1 else cat(outs, dim=2)
        if self.dropout and self.training and layer < self.num_layers - 1:
            x = F.dropout(x, self.dropout, True)
    return x, stack(h_last, 0), (stack(c_last, 0) if c0 is not None else None)


def _forward_packed(self, input, hx):
    """PyTorch's packed path: output is a PackedSequence like ``input``; the states are in the caller's batch order."""
    from .utils.rnn import PackedSequence, _padded_sorted
    name, lstm = type(self).__name__, self.mode == "LSTM"
    if input.data.ndim != 2 or input.data.shape[1] != self.input_size:
        raise ValueError(f"{name}(input_size={self.input_size}): packed data of shape {input.data.shape} should be "
                         f"(sum of lengths, {self.input_size})")
    x, lengths = _padded_sorted(input)
    batch, order = x.shape[1], input.sorted_indices

    def to_sorted(h, what):
        h = self._check_state(what, h, batch, True, x.dtype)
        return h if order is None else h.index_select(1, order)
    if hx is None:
        h0 = zeros(self.num_layers * self._dirs, batch, self.hidden_size, dtype=x.dtype, device=x.device)
        c0 = h0 if lstm else None
    elif lstm:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        h0, c0 = to_sorted(hx[0], "h_0"), to_sorted(hx[1], "c_0")
    else:
        h0, c0 = to_sorted(hx, "hx"), None
    out, h_n, c_n = self._run_packed(x, lengths, h0, c0)
    sizes = input.batch_sizes.numpy()
    data = cat([out[t, :int(b)] for t, b in enumerate(sizes)], 0)
    if input.unsorted_indices is not None:
        h_n = h_n.index_select(1, input.unsorted_indices)
        c_n = None if c_n is None else c_n.index_select(1, input.unsorted_indices)
    packed = PackedSequence(data, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
    return (packed, (h_n, c_n)) if lstm else (packed, h_n)


_padded_forward = RNNBase.forward


def _forward(self, input, hx=None):
    from .utils.rnn import PackedSequence
    if isinstance(input, PackedSequence):
        return self._forward_packed(input, hx)
    return _padded_forward(self, input, hx)


_forward.__doc__ = _padded_forward.__doc__
RNNBase._run_packed, RNNBase._forward_packed, RNNBase.forward = _run_packed, _forward_packed, _forward
