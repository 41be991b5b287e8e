"""One recurrent layer and direction (RNN tanh/relu, LSTM, GRU) over a whole sequence as a single op.

``rnn_layer`` runs the ``rnn_forward``/``rnn_backward`` kernels (C++: one input-projection GEMM over all steps,
per step a recurrent GEMM and fused gate math, backpropagation through time in C++): one autograd node per layer
and direction instead of a dozen per time step. Where no provider has the kernel (a forced provider without it),
and for the derivative of the backward (create_graph=True), the same math is composed from differentiable ops.
"""
from .. import backends
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..backends import kernels
from ..tensor import Tensor
from .elementwise import relu, sigmoid, tanh
from .movement import cat, stack

MODES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _arr(t):
    return None if t is None else t._xp.ascontiguousarray(t.array)


class Unbind(Function):
    """Split ``x`` along ``dim`` into its slices in one op; the backward stacks their gradients.

    NOTE: not ``split``/indexing per step: each of those scatters into a full-size zero gradient, which makes the
    backward of a length-L loop O(L^2) in memory traffic.
    """

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        lead = (slice(None),) * dim
        return tuple(x.array[lead + (i,)].copy() for i in range(x.shape[dim]))

    @staticmethod
    def backward(ctx, *grads):
        return stack(grads, ctx.dim), None


def unbind(x, dim=0):
    """The slices of ``x`` along ``dim`` as a tuple of tensors (differentiable, one op)."""
    return Unbind.apply(x, dim) if x.shape[dim] > 1 else (x.squeeze(dim),)


def _gates(t, k):
    """The k equal column blocks of a (B, k * H) tensor."""
    return unbind(t.reshape(t.shape[0], k, -1), 1)


def _times(steps, reverse):
    return list(range(steps - 1, -1, -1) if reverse else range(steps))


def _composed_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """The layer from differentiable ops: (y, h_n, c_n, per-time (h_prev, c_prev, gates) for the backward)."""
    steps, batch = x.shape[:2]
    proj = x.reshape(steps * batch, x.shape[2]) @ w_ih.T
    if b_ih is not None:
        proj = proj + b_ih
    inputs = unbind(proj.reshape(steps, batch, -1), 0)
    h, c = h0, c0
    ys, saved = [None] * steps, [None] * steps
    for t in _times(steps, reverse):
        gh = h @ w_hh.T
        if b_hh is not None:
            gh = gh + b_hh
        if mode == "gru":
            (xr, xz, xn), (hr, hz, hn) = _gates(inputs[t], 3), _gates(gh, 3)
            r, z = sigmoid(xr + hr), sigmoid(xz + hz)
            n = tanh(xn + r * hn)
            saved[t] = (h, c, (r, z, n, hn))
            h = n + z * (h - n)
        elif mode == "lstm":
            pi, pf, pg, po = _gates(inputs[t] + gh, 4)
            i, f, g, o = sigmoid(pi), sigmoid(pf), tanh(pg), sigmoid(po)
            saved[t] = (h, c, (i, f, g, o))
            c = f * c + i * g
            h = o * tanh(c)
        else:
            saved[t] = (h, c, ())
            h = tanh(inputs[t] + gh) if mode == "rnn_tanh" else relu(inputs[t] + gh)
        ys[t] = h
    return stack(ys, 0), h, c, saved


def _composed_backward(mode, reverse, inputs, needs, gy, ghn, gcn):
    """Backpropagation through time from differentiable ops on the saved inputs, so the gradients it returns
    have a graph of their own (create_graph=True)."""
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = inputs
    steps, batch, n_in = x.shape
    y, _, _, saved = _composed_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    order = _times(steps, reverse)
    dgx, dgh = [None] * steps, [None] * steps
    dh, dc = ghn, gcn
    for t in reversed(order):
        h_prev, c_prev, gates = saved[t]
        d = dh + gy[t]
        if mode == "lstm":
            i, f, g, o = gates
            c = f * c_prev + i * g
            tc = tanh(c)
            dct = dc + d * o * (1 - tc * tc)
            dgx[t] = dgh[t] = cat([dct * g * i * (1 - i), dct * c_prev * f * (1 - f), dct * i * (1 - g * g),
                                   d * tc * o * (1 - o)], 1)
            dc = dct * f
            dh = dgh[t] @ w_hh
        elif mode == "gru":
            r, z, n, hn = gates
            dan = d * (1 - z) * (1 - n * n)
            dar = dan * hn * r * (1 - r)
            daz = d * (h_prev - n) * z * (1 - z)
            dgx[t], dgh[t] = cat([dar, daz, dan], 1), cat([dar, daz, dan * r], 1)
            dh = d * z + dgh[t] @ w_hh
        else:
            yt = y[t]
            dgx[t] = dgh[t] = d * (1 - yt * yt) if mode == "rnn_tanh" else d * (yt > 0).astype(yt.dtype)
            dh = dgh[t] @ w_hh
    gates = dgx[0].shape[1]
    flat_gx = stack(dgx, 0).reshape(steps * batch, gates)
    flat_gh = stack(dgh, 0).reshape(steps * batch, gates)
    h_all = stack([saved[t][0] for t in range(steps)], 0).reshape(steps * batch, -1)
    results = (lambda: (flat_gx @ w_ih).reshape(steps, batch, n_in), lambda: dh, lambda: dc,
               lambda: flat_gx.T @ x.reshape(steps * batch, n_in), lambda: flat_gh.T @ h_all,
               lambda: flat_gx.sum(0), lambda: flat_gh.sum(0))
    return tuple(fn() if need else None for fn, need in zip(results, needs))


class RnnLayer(Function):
    """One layer and direction over the whole sequence: forward and backward are one kernel call each."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, reverse):
        y, h_n, c_n, ws = kernels.rnn_forward(mode, _arr(x), _arr(h0), _arr(c0), _arr(w_ih), _arr(w_hh),
                                              _arr(b_ih), _arr(b_hh), reverse)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        ctx.mode, ctx.reverse, ctx.y, ctx.ws = mode, reverse, y, ws
        return (y, h_n, c_n) if mode == "lstm" else (y, h_n)

    @staticmethod
    def backward(ctx, gy, ghn, gcn=None):
        needs = ctx.needs_input_grad[:7]
        if is_grad_enabled():       # create_graph: the gradients must be differentiable themselves
            return _composed_backward(ctx.mode, ctx.reverse, ctx.saved_tensors, needs, gy, ghn, gcn)
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = (_arr(t) for t in ctx.saved_tensors)
        grads = kernels.rnn_backward(ctx.mode, _arr(gy), _arr(ghn), _arr(gcn), x, h0, c0, w_ih, w_hh, b_ih, b_hh,
                                     ctx.y, ctx.ws, ctx.reverse, needs)
        return tuple(None if g is None else Tensor._wrap(g) for g in grads)


def rnn_layer(mode, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One recurrent layer and direction over a whole sequence, with PyTorch's gates and bias layout.

    Args:
        mode: "rnn_tanh", "rnn_relu", "lstm" (gates i, f, g, o) or "gru" (gates r, z, n, b_hn inside r * (...)).
        x: (T, B, I) input, T >= 1. h0: (B, H). c0: (B, H) for "lstm", else None.
        w_ih: (G * H, I), w_hh: (G * H, H) with G = 1, 4, 3; b_ih, b_hh: (G * H,) each, or both None.
        reverse: process t = T - 1 down to 0 (the reverse direction of a bidirectional layer).

    Returns:
        ``(y, h_n, c_n)``: y (T, B, H) the hidden state at each time (time order), h_n (B, H) the last one
        processed, c_n (B, H) the final cell state for "lstm" (None otherwise).

    Example:
        >>> w_ih, w_hh = md.randn(32, 8), md.randn(32, 8)
        >>> y, h, c = md.ops.rnn.rnn_layer("lstm", md.randn(5, 2, 8), md.zeros(2, 8), md.zeros(2, 8), w_ih, w_hh)
        >>> y.shape, c.shape
        ((5, 2, 8), (2, 8))
    """
    _check(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    if backends.supports("rnn_forward", x.device):
        out = RnnLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, bool(reverse))
        return out if mode == "lstm" else (out[0], out[1], None)
    y, h_n, c_n, _ = _composed_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    return y, h_n, c_n


def _check(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    op = "rnn_layer"
    if mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if x.ndim != 3 or x.shape[0] < 1:
        raise ValueError(f"{op}: x must be (T, B, I) with T >= 1, got shape {x.shape}")
    steps, batch, n_in = x.shape
    hidden = w_hh.shape[-1] if w_hh.ndim == 2 else -1
    gates = MODES[mode] * hidden
    want = {"w_ih": (w_ih, (gates, n_in)), "w_hh": (w_hh, (gates, hidden)), "h0": (h0, (batch, hidden))}
    if mode == "lstm":
        want["c0"] = (c0, (batch, hidden))
    elif c0 is not None:
        raise ValueError(f"{op}: c0 is only for mode 'lstm', got one of shape {c0.shape} for {mode!r}")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{op}: b_ih and b_hh must both be given or both be None")
    if b_ih is not None:
        want.update(b_ih=(b_ih, (gates,)), b_hh=(b_hh, (gates,)))
    if hidden < 1:
        raise ValueError(f"{op}: w_hh must be (G * H, H) with H >= 1, got shape {w_hh.shape}")
    for name, (t, shape) in want.items():
        if t is None or t.shape != shape:
            raise ValueError(f"{op}({mode}): {name} must have shape {shape} for x {x.shape} and w_hh {w_hh.shape}, "
                             f"got {None if t is None else t.shape}")
        if t.dtype != x.dtype or not x.dtype.is_floating_point:
            raise TypeError(f"{op}: {name} has dtype {t.dtype.name}, x {x.dtype.name} (one float dtype expected)")
