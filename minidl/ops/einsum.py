"""``einsum``: Einstein summation over any equation, with explicit or implicit output and ``...`` broadcasting.

The gradient of each operand is itself an einsum of the output gradient with the other operands, so it is
differentiable again (create_graph). Letters summed out of one operand alone come back by broadcasting, and a
letter repeated in one operand (a diagonal, ``"ii->i"``) by multiplying with an identity matrix.
"""
import string

import numpy as np

from ..autograd.function import Function
from ..tensor import Tensor

_LETTERS = string.ascii_letters


def _parse(equation, operands):
    """(input subscripts with '...' spelled out as letters, output subscripts, broadcast shape of '...')."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(operands):
        raise ValueError(f"einsum: the equation {equation!r} names {len(subs)} operands, got {len(operands)}")
    for s in subs + ([rhs] if arrow else []):
        bad = set(s.replace("...", "")) - set(_LETTERS)
        if bad or s.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {s!r} in {equation!r} (letters and one '...' only)")
    used = set(eq)
    free = [c for c in _LETTERS if c not in used]
    ell_ndim = 0
    for s, x in zip(subs, operands):
        named = len(s.replace("...", ""))
        if ("..." in s and x.ndim < named) or ("..." not in s and x.ndim != named):
            raise ValueError(f"einsum: subscripts {s!r} do not fit operand of shape {x.shape}")
        if "..." in s:
            ell_ndim = max(ell_ndim, x.ndim - named)
    ell = "".join(free[:ell_ndim])
    shapes = []
    out_subs = []
    for s, x in zip(subs, operands):
        if "..." in s:
            k = x.ndim - len(s.replace("...", ""))
            start = s.index("...")
            shapes.append(x.shape[start:start + k])
            s = s.replace("...", ell[ell_ndim - k:])
        out_subs.append(s)
    try:
        ell_shape = tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    except ValueError:
        raise ValueError(f"einsum: the '...' dims of the operands cannot be broadcast together: {shapes}") from None
    if arrow:
        out = rhs.replace("...", ell)
    else:                   # implicit output: '...' dims, then letters seen once, alphabetically
        counts = {}
        for s in subs:
            for c in s.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    if len(set(out)) != len(out) or set(out) - set("".join(out_subs)):
        raise ValueError(f"einsum: output subscripts {out!r} must name each letter of the inputs at most once")
    return out_subs, out, ell, ell_shape


def _broadcast_ellipsis(x, subs, ell, ell_shape):
    """Expand an operand's '...' dims (a suffix of ``ell``) to the common broadcast shape."""
    k = sum(c in ell for c in subs)
    if not k:
        return x, subs
    start = subs.index(ell[len(ell) - k])
    lead = len(ell) - k
    shape = x.shape[:start] + (1,) * lead + x.shape[start:]
    subs = subs[:start] + ell + subs[start + k:]
    target = x.shape[:start] + ell_shape + x.shape[start + k:]
    return x.reshape(shape).expand(target), subs


class Einsum(Function):
    @staticmethod
    def forward(ctx, equation, *operands):
        ctx.equation = equation
        ctx.save_for_backward(*operands)
        return operands[0]._xp.einsum(equation, *[o.array for o in operands], optimize=len(operands) > 2)

    @staticmethod
    def backward(ctx, grad):
        ops = ctx.saved_tensors
        lhs, out = ctx.equation.split("->")
        subs = lhs.split(",")
        grads = [None]
        for i, x in enumerate(ops):
            grads.append(_operand_grad(grad, out, subs, ops, i, x) if ctx.needs_input_grad[i + 1] else None)
        return tuple(grads)


def _operand_grad(grad, out, subs, ops, i, x):
    s = subs[i]
    sizes = dict(zip(s, x.shape))
    unique = "".join(dict.fromkeys(s))
    reachable = set(out).union(*[set(t) for j, t in enumerate(subs) if j != i])
    kept = "".join(c for c in unique if c in reachable)
    others = [(t, o) for j, (t, o) in enumerate(zip(subs, ops)) if j != i]
    g = _einsum(",".join([out] + [t for t, _ in others]) + "->" + kept, grad, *[o for _, o in others])
    if kept != unique:          # letters only this operand sums over: their gradient is broadcast back
        g = g.reshape(tuple(sizes[c] if c in kept else 1 for c in unique)).expand(tuple(sizes[c] for c in unique))
    if unique != s:             # repeated letters: the gradient lives on the diagonal
        free = [c for c in _LETTERS if c not in set("".join(subs)) | set(out)]
        target, eyes, seen = "", [], set()
        for c in s:
            if c in seen:
                f = free.pop(0)
                eyes.append((c + f, sizes[c]))
                target += f
            else:
                seen.add(c)
                target += c
        mats = [Tensor._wrap(x._xp.eye(n, dtype=x.dtype.np)) for _, n in eyes]
        g = _einsum(",".join([unique] + [e for e, _ in eyes]) + "->" + target, g, *mats)
    return g


def _einsum(equation, *operands):
    return Einsum.apply(equation, *operands)


def einsum(equation, *operands):
    """Sum products of the operands' entries as the equation says: ``"ij,jk->ik"`` is a matrix product,
    ``"bij->bji"`` a batched transpose, ``"ii"`` a trace; ``...`` stands for broadcast dims, and without ``->``
    the output is the letters used once, in alphabetical order. Operands may also be passed as one list.

    Example:
        >>> md.einsum("ij,jk->ik", md.ones(2, 3), md.ones(3, 4)).shape
        (2, 4)
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands or not all(isinstance(o, Tensor) for o in operands):
        raise TypeError(f"einsum: expected Tensor operands, got {[type(o).__name__ for o in operands]}")
    subs, out, ell, ell_shape = _parse(equation, operands)
    ops = []
    for k, (s, x) in enumerate(zip(subs, operands)):
        x, s = _broadcast_ellipsis(x, s, ell, ell_shape)
        sizes = {}
        for c, n in zip(s, x.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: subscript {c!r} of operand {k} has sizes {sizes[c]} and {n}")
        subs[k] = s
        ops.append(x)
    sizes = {}
    for k, (s, x) in enumerate(zip(subs, ops)):
        for c, n in zip(s, x.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: subscript {c!r} has size {sizes[c]} in one operand and {n} in operand "
                                 f"{k} (shapes {[o.shape for o in operands]})")
    dtype = ops[0].dtype
    if any(o.dtype != dtype for o in ops):
        raise TypeError(f"einsum: expected operands of one dtype, got {[o.dtype.name for o in ops]}")
    return _einsum(",".join(subs) + "->" + out, *ops)


__all__ = ["einsum"]
