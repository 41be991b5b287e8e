"""Matrix multiplication and the fully connected layer, backed by the ``matmul`` / ``linear`` kernels."""
import math

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from .. import backends
from ..backends import kernels
from ..backends.geometry import check_array_size
from ..tensor import Tensor
from .elementwise import foreign_operand


def _plan(a, b):
    """How to present (…, M, K) @ (…, K, N) to a kernel that takes 2-D or equal-batch 3-D operands."""
    xp = a._xp if isinstance(a, Tensor) else np
    a, b = (a.array, b.array) if isinstance(a, Tensor) else (a, b)
    if a.ndim == 2 and b.ndim == 2:
        return xp.ascontiguousarray(a), xp.ascontiguousarray(b), None
    if b.ndim == 2:              # fold every leading dim of a into M: one big GEMM, no batch loop
        return xp.ascontiguousarray(a).reshape(math.prod(a.shape[:-1]), a.shape[-1]), xp.ascontiguousarray(b), \
            a.shape[:-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    n = math.prod(batch)         # explicit sizes: reshape(-1, ...) is ambiguous when a dim is 0
    a3 = xp.ascontiguousarray(xp.broadcast_to(a, batch + a.shape[-2:])).reshape((n,) + a.shape[-2:])
    b3 = xp.ascontiguousarray(xp.broadcast_to(b, batch + b.shape[-2:])).reshape((n,) + b.shape[-2:])
    return a3, b3, batch


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        a2, b2, lead = _plan(a, b)
        out = kernels.matmul(a2, b2)
        if lead is None:
            return out
        if b.ndim == 2:
            return out.reshape(lead + (b.shape[-1],))
        return out.reshape(lead + (a.shape[-2], b.shape[-1]))

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        if is_grad_enabled():           # create_graph: express the backward with differentiable ops
            return grad @ b.transpose(-1, -2), a.transpose(-1, -2) @ grad
        a2, b2, lead = _plan(a, b)
        g = grad._xp.ascontiguousarray(grad.array).reshape(a2.shape[:-1] + b2.shape[-1:])
        need = tuple(bool(n) for n in ctx.needs_input_grad[:2])
        ga, gb = kernels.matmul_backward(g, a2, b2, need)
        if b.ndim == 2:
            ga, gb = ga.reshape(a.shape) if need[0] else None, gb if need[1] else None
        else:
            # batched: gradients in the broadcast shape; the engine sums them back to each operand's shape
            ga = ga.reshape(lead + a.shape[-2:]) if need[0] else None
            gb = gb.reshape(lead + b.shape[-2:]) if need[1] else None
        # (a provider that ignores the mask computed both: the one nobody asked for is dropped above)
        return (None if ga is None else Tensor._wrap(ga)), (None if gb is None else Tensor._wrap(gb))


def _check_sizes(a, b, a2, b2, batch):
    """The output, and the broadcast copies of the operands, must be allocatable (ValueError naming the shapes)."""
    itemsize, context = a.array.dtype.itemsize, f"operands of shapes {a.shape} and {b.shape}"
    check_array_size("matmul", "output", batch + (a2.shape[-2], b2.shape[-1]), itemsize, context)
    if a2.ndim > 2 and b2.ndim > 2:
        check_array_size("matmul", "broadcast first operand", batch + a2.shape[-2:], itemsize, context)
        check_array_size("matmul", "broadcast second operand", batch + b2.shape[-2:], itemsize, context)


def matmul(a, b):
    """Matrix product with PyTorch's rules: 1-D operands are vectors, leading dims broadcast.

    Example:
        >>> (md.ones(5, 2, 3) @ md.ones(3, 4)).shape
        (5, 2, 4)
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        a, b = (x if isinstance(x, Tensor) or foreign_operand(x) is None else foreign_operand(x) for x in (a, b))
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: expected two Tensors, got {type(a).__name__} and {type(b).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dim, got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: expected both operands to have the same dtype, got {a.dtype.name} {a.shape} and "
                        f"{b.dtype.name} {b.shape}")
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(-1) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: {a2.shape[-1]} (last dim of the "
                         f"first) != {b2.shape[-2]} ({'only' if b.ndim == 1 else 'second-to-last'} dim of the second)")
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dims of shapes {a.shape} and {b.shape} cannot be broadcast") from None
    _check_sizes(a, b, a2, b2, batch)
    if a.dtype.is_floating_point:
        out = MatMul.apply(a2, b2)
    else:                               # integer matmul: no kernel, no gradient
        out = Tensor._wrap(a._xp.matmul(a2.array, b2.array))
    if a.ndim == 1:
        out = out.squeeze(-2)
    if b.ndim == 1:
        out = out.squeeze(-1)
    return out


def _rows(t):
    """t (…, F) as a C-contiguous (rows, F) array, leading dims folded (explicit sizes: a dim may be 0)."""
    return t._xp.ascontiguousarray(t.array).reshape(math.prod(t.shape[:-1]), t.shape[-1])


class Linear(Function):
    """``x @ w^T + bias`` through the fused ``linear`` kernels: the bias is added in the GEMM's output pass, ``w^T``
    is never copied, and the backward computes only the gradients some input needs."""

    @staticmethod
    def forward(ctx, x, w, bias=None):
        ctx.save_for_backward(x, w)
        ctx.has_bias = bias is not None
        y = kernels.linear(_rows(x), w.array, None if bias is None else bias.array)
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[:2]
        need_b = ctx.has_bias and ctx.needs_input_grad[2]
        if is_grad_enabled():           # create_graph: express the backward with differentiable ops
            g2 = grad.reshape(-1, w.shape[0]) if grad.numel() else grad.reshape(0, w.shape[0])
            x2 = x.reshape(g2.shape[0], x.shape[-1])
            return (grad @ w if need_x else None, g2.T @ x2 if need_w else None,
                    g2.sum(0) if need_b else None)
        gx, gw, gb = kernels.linear_backward(_rows(grad), _rows(x), w.array, (need_x, need_w, need_b))
        return (Tensor._wrap(gx.reshape(x.shape)) if need_x else None, Tensor._wrap(gw) if need_w else None,
                Tensor._wrap(gb) if need_b else None)


def linear_fusable(x, weight, bias):
    """Whether ``linear(x, weight, bias)`` can run on the fused kernels: one float dtype, a (N,) bias or none, and a
    provider of ``linear`` for the device (a forced provider may lack it: then the op composes matmul and add)."""
    if not (x.dtype.is_floating_point and x.dtype == weight.dtype and x.ndim >= 1):
        return False
    if bias is not None and (bias.dtype != x.dtype or bias.shape != (weight.shape[0],)):
        return False
    return backends.supports("linear", x.device) and backends.supports("linear_backward", x.device)
