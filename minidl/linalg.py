"""PyTorch's ``torch.linalg``: norms, inverses, determinants, solves and the matrix factorizations, batched over
leading dims and differentiable.

The factorizations run on the array module's LAPACK (NumPy's, or CuPy's for GPU tensors). Their gradients are the
standard adjoint formulas (matrix-calculus results for inverse, determinant, Cholesky, QR, symmetric eigen- and
singular-value decompositions), computed on the arrays. ``inv``, ``det``, ``slogdet`` and ``solve`` are
differentiable twice (under ``create_graph`` their backward is written with differentiable ops); the factorizations'
backward is ``once_differentiable``. Everything else is composed from differentiable ops.

Where PyTorch documents a gradient as undefined it is undefined here too: ``eigh`` / ``svd`` with repeated
eigen/singular values give non-finite gradients when the vectors are used, ``qr`` backward needs ``m >= n``.

Example:
    >>> A = md.tensor([[4., 1.], [1., 3.]], requires_grad=True)
    >>> md.linalg.det(A)
    tensor(11., grad_fn=<_DetBackward>)
"""
import math
from collections import namedtuple

import numpy as np

from . import dtypes
from .autograd.function import Function, once_differentiable
from .autograd.grad_mode import is_grad_enabled
from .ops import amax, amin, matmul, sum, where  # noqa: A004 -- minidl's sum, not the builtin
from .ops import abs as _abs
from .tensor import Tensor

__all__ = ["LinAlgError", "vector_norm", "matrix_norm", "norm", "inv", "inv_ex", "det", "slogdet", "solve",
           "matrix_power", "cholesky", "cholesky_ex", "solve_triangular", "qr", "eigh", "eigvalsh", "svd", "svdvals",
           "pinv", "lstsq", "matmul", "multi_dot", "matrix_rank", "vecdot"]

_SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])
_QRResult = namedtuple("qr", ["Q", "R"])
_EighResult = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
_SVDResult = namedtuple("svd", ["U", "S", "Vh"])
_OldSVDResult = namedtuple("svd", ["U", "S", "V"])
_InvExResult = namedtuple("inv_ex", ["inverse", "info"])
_CholeskyExResult = namedtuple("cholesky_ex", ["L", "info"])
_LstsqResult = namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])


class LinAlgError(RuntimeError):
    """A matrix the operation cannot handle (singular, not positive-definite), as ``torch.linalg.LinAlgError``."""


# --- argument checks ------------------------------------------------------------------------------------------------

def _float_tensor(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg.{op}: expected a Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"linalg.{op}: expected a floating point tensor, got {x.dtype.name} of shape {x.shape}")
    return x


def _matrix(op, x, square=True):
    """``x`` must be a floating (*, m, n) tensor, square where ``square``."""
    _float_tensor(op, x)
    if x.ndim < 2:
        raise ValueError(f"linalg.{op}: expected a matrix or a batch of matrices (at least 2 dims), got shape "
                         f"{x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"linalg.{op}: expected square matrices, got shape {x.shape} "
                         f"({x.shape[-2]} x {x.shape[-1]})")
    return x


def _lapack(op, shape, fn, *arrays, what="singular"):
    """Run ``fn`` and turn the array module's LinAlgError into ours, naming the op and the shape."""
    try:
        return fn(*arrays)
    except Exception as e:          # numpy.linalg.LinAlgError / cupy's: both subclass Exception only
        if type(e).__name__ != "LinAlgError":
            raise
        raise LinAlgError(f"linalg.{op}: the input of shape {tuple(shape)} is {what} ({e})") from None


def _t(a):
    """Transpose of the last two dims of an array."""
    return a.swapaxes(-1, -2)


# --- norms ----------------------------------------------------------------------------------------------------------

def _dims(op, x, dim):
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(x.ndim, 1) <= d < max(x.ndim, 1):
            raise IndexError(f"linalg.{op}: dim {d} is out of range for a tensor of shape {x.shape}")
        out.append(d % max(x.ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"linalg.{op}: dim {dim} names a dim twice")
    return tuple(out)


class _VectorNorm(Function):
    """``||x||_ord`` over ``dims``; gradients are 0 where the norm is 0 (PyTorch's subgradient)."""

    @staticmethod
    def forward(ctx, x, ord, dims, keepdim):  # noqa: A002
        xp, a = x._xp, x.array
        ax = xp.abs(a)
        if ord == math.inf:
            n = ax.max(axis=dims, keepdims=True) if a.size else xp.zeros([1 if i in dims else s
                                                                           for i, s in enumerate(a.shape)], a.dtype)
        elif ord == -math.inf:
            n = ax.min(axis=dims, keepdims=True)
        elif ord == 0:
            n = (a != 0).sum(axis=dims, keepdims=True).astype(a.dtype)
        elif ord == 1:
            n = ax.sum(axis=dims, keepdims=True)
        elif ord == 2:
            n = xp.sqrt((a * a).sum(axis=dims, keepdims=True))
        else:
            n = (ax ** ord).sum(axis=dims, keepdims=True) ** (1.0 / ord)
        ctx.x, ctx.n, ctx.ord, ctx.dims = a, n, ord, dims
        return n if keepdim else n.reshape([s for i, s in enumerate(n.shape) if i not in dims])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        a, n, ord, dims = ctx.x, ctx.n, ctx.ord, ctx.dims  # noqa: A001
        xp = grad._xp
        g = grad.array.reshape(n.shape)
        safe = xp.where(n == 0, 1, n)
        if ord == 0:
            out = xp.zeros_like(a)
        elif ord in (math.inf, -math.inf):
            hit = (xp.abs(a) == n)                      # ties share the gradient evenly, as PyTorch
            out = g * xp.sign(a) * hit / hit.sum(axis=dims, keepdims=True)
        elif ord == 1:
            out = g * xp.sign(a)
        elif ord == 2:
            out = xp.where(n == 0, 0, g * a / safe)
        else:
            out = xp.where(n == 0, 0, g * xp.sign(a) * xp.abs(a) ** (ord - 1) / safe ** (ord - 1))
        return Tensor._wrap(out.astype(a.dtype, copy=False))


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """The vector ``ord``-norm of ``x`` over ``dim`` (every entry when ``dim`` is None), as
    ``torch.linalg.vector_norm``: ``ord`` is any number, ``inf`` (largest magnitude), ``-inf`` (smallest)
    or 0 (count of non-zeros).

    Example:
        >>> md.linalg.vector_norm(md.tensor([3., -4.]))
        tensor(5.)
        >>> md.linalg.vector_norm(md.tensor([[1., -2.], [3., 0.]]), ord=1, dim=1)
        tensor([3., 3.])
    """
    if isinstance(x, Tensor) and dtype is not None:
        x = x.to(dtype)
    _float_tensor("vector_norm", x)
    if isinstance(ord, str) or isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg.vector_norm: ord must be a number (or inf / -inf), got {ord!r}")
    dims = _dims("vector_norm", x, dim)
    if x.ndim == 0:
        dims = ()
    if ord < 0 and any(x.shape[d] == 0 for d in dims) or ord == -math.inf and x.numel() == 0:
        raise ValueError(f"linalg.vector_norm: ord={ord} of an empty tensor (shape {x.shape}) is undefined")
    if ord == math.inf and any(x.shape[d] == 0 for d in dims):
        raise ValueError(f"linalg.vector_norm: ord=inf over an empty dim (shape {x.shape}, dim {dim}) is undefined")
    return _VectorNorm.apply(x, float(ord), dims, keepdim)


def _to_end(A, dims):
    """Move the two matrix dims of ``A`` to the end (for the SVD-based norms)."""
    rest = [d for d in range(A.ndim) if d not in dims]
    return A.permute(*rest, *dims)


def _restore(out, dims, keepdim):
    """A (*rest) result of a matrix norm, with the two reduced dims put back as size 1 when ``keepdim``."""
    if not keepdim:
        return out
    for d in sorted(dims):
        out = out.unsqueeze(d)
    return out


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: A002
    """A matrix norm over the two dims ``dim``, as ``torch.linalg.matrix_norm``: ``'fro'`` (Frobenius), ``'nuc'``
    (sum of singular values), 2 / -2 (largest / smallest singular value), 1 / -1 (largest / smallest absolute column
    sum), ``inf`` / ``-inf`` (largest / smallest absolute row sum).

    Example:
        >>> md.linalg.matrix_norm(md.tensor([[1., 2.], [3., 4.]]), ord=1)
        tensor(6.)
    """
    if isinstance(A, Tensor) and dtype is not None:
        A = A.to(dtype)
    _float_tensor("matrix_norm", A)
    if A.ndim < 2:
        raise ValueError(f"linalg.matrix_norm: expected a tensor with 2 or more dims, got shape {A.shape}")
    if isinstance(dim, int) or len(dim) != 2:
        raise ValueError(f"linalg.matrix_norm: dim must be a pair of dims, got {dim!r}")
    dims = _dims("matrix_norm", A, dim)
    if ord == "fro":
        return vector_norm(A, 2, dims, keepdim)
    if ord == "nuc" or ord in (2, -2):
        s = svdvals(_to_end(A, dims))
        out = s.sum(-1) if ord == "nuc" else amax(s, -1) if ord == 2 else amin(s, -1)
        return _restore(out, dims, keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, other = (dims[0], dims[1]) if ord in (1, -1) else (dims[1], dims[0])
        sums = sum(_abs(A), summed, keepdim=True)
        out = amax(sums, other, keepdim=True) if ord > 0 else amin(sums, other, keepdim=True)
        return out if keepdim else out.squeeze(max(dims)).squeeze(min(dims))
    raise ValueError(f"linalg.matrix_norm: ord must be 'fro', 'nuc', inf, -inf, 1, -1, 2 or -2, got {ord!r}")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int or the input is 1-D, a matrix norm when ``dim`` is a
    pair or the input is 2-D; with ``ord`` and ``dim`` both None, the 2-norm of every entry.

    Example:
        >>> md.linalg.norm(md.tensor([[1., 2.], [3., 4.]]), ord="nuc").item() > 5
        True
    """
    _float_tensor("norm", A if dtype is None or not isinstance(A, Tensor) else A.to(dtype))
    if dim is not None and not isinstance(dim, int):
        dim = tuple(dim)
        if len(dim) == 1:
            dim = dim[0]
    if isinstance(dim, tuple):
        if len(dim) != 2:
            raise ValueError(f"linalg.norm: dim must be an int or a pair of dims, got {dim!r}")
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    if isinstance(dim, int):
        if isinstance(ord, str):
            raise ValueError(f"linalg.norm: ord={ord!r} is a matrix norm but dim={dim} names one dim")
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    raise ValueError(f"linalg.norm: with ord={ord!r} and dim=None the input must be 1-D (vector norm) or 2-D "
                     f"(matrix norm), got shape {A.shape}")


# --- inverse, determinants, solve -----------------------------------------------------------------------------------

class _Inv(Function):
    @staticmethod
    def forward(ctx, A):
        out = _lapack("inv", A.shape, A._xp.linalg.inv, A.array)
        ctx.out = out
        ctx.save_for_backward(A)
        return out

    @staticmethod
    def backward(ctx, grad):
        # d(A^-1) = -A^-1 dA A^-1  =>  gA = -A^-T g A^-T
        if is_grad_enabled():               # create_graph: the same formula with differentiable ops
            it = inv(ctx.saved_tensors[0]).mT
            return -(it @ grad @ it)
        it = _t(ctx.out)
        return Tensor._wrap(-(it @ grad.array @ it))


def inv(A):
    """The inverse of each square matrix, as ``torch.linalg.inv``; a singular matrix raises ``LinAlgError``.

    Example:
        >>> md.linalg.inv(md.tensor([[2., 0.], [0., 4.]]))
        tensor([[0.5 , 0.  ],
                [0.  , 0.25]])
    """
    return _Inv.apply(_matrix("inv", A))


def inv_ex(A, *, check_errors=False):
    """``torch.linalg.inv_ex``: (inverse, info), info > 0 for the matrices that are singular (their inverse is NaN).

    Example:
        >>> md.linalg.inv_ex(md.eye(2)).info
        tensor(0, dtype=minidl.int32)
    """
    _matrix("inv_ex", A)
    xp = A._xp
    singular = xp.linalg.matrix_rank(A.array) < A.shape[-1] if A.shape[-1] else xp.zeros(A.shape[:-2], bool)
    if check_errors and bool(singular.any()):
        raise LinAlgError(f"linalg.inv_ex: the input of shape {A.shape} is singular")
    if bool(xp.any(singular)):
        safe = where(Tensor._wrap(singular[..., None, None]), _eye_tensor(A), A)
        out = where(Tensor._wrap(singular[..., None, None]), Tensor._wrap(xp.full(A.shape, xp.nan, A.array.dtype)),
                    inv(safe))
    else:
        out = inv(A)
    return _InvExResult(out, Tensor._wrap(singular.astype(xp.int32)))


def _eye_tensor(A):
    xp = A._xp
    return Tensor._wrap(xp.broadcast_to(xp.eye(A.shape[-1], dtype=A.array.dtype), A.shape).copy())


def _cofactor(xp, a):
    """The cofactor matrix det(A) A^-T, computed from the SVD so that it stays exact for singular matrices."""
    u, s, vt = xp.linalg.svd(a)
    n = s.shape[-1]
    others = xp.where(xp.eye(n, dtype=bool), 1, s[..., None, :])          # row i: every s_j but s_i
    p = others.prod(axis=-1)
    sign = xp.linalg.det(u) * xp.linalg.det(vt)
    return sign[..., None, None] * (u * p[..., None, :]) @ vt


class _Det(Function):
    @staticmethod
    def forward(ctx, A):
        ctx.a = A.array
        ctx.save_for_backward(A)
        return A._xp.linalg.det(A.array)

    @staticmethod
    def backward(ctx, grad):
        # d det(A) = tr(cof(A)^T dA), cof(A) = det(A) A^-T
        if is_grad_enabled():               # create_graph: differentiable ops (A must be invertible there)
            (A,) = ctx.saved_tensors
            return (grad * det(A)).unsqueeze(-1).unsqueeze(-1) * inv(A).mT
        return Tensor._wrap(grad.array[..., None, None] * _cofactor(grad._xp, ctx.a))


def det(A):
    """The determinant of each square matrix, as ``torch.linalg.det`` (gradient defined for singular matrices too).

    Example:
        >>> md.linalg.det(md.tensor([[1., 2.], [3., 4.]]))
        tensor(-2.)
    """
    return _Det.apply(_matrix("det", A))


class _Slogdet(Function):
    @staticmethod
    def forward(ctx, A):
        sign, logabs = A._xp.linalg.slogdet(A.array)
        ctx.a = A.array
        s = Tensor._wrap(A._xp.asarray(sign, dtype=A.array.dtype))
        ctx.mark_non_differentiable(s)
        ctx.save_for_backward(A)
        return s, A._xp.asarray(logabs, dtype=A.array.dtype)

    @staticmethod
    def backward(ctx, gsign, glog):
        # d log|det A| = tr(A^-1 dA)  =>  gA = g A^-T (infinite for a singular A, as in PyTorch)
        if is_grad_enabled():
            return glog.unsqueeze(-1).unsqueeze(-1) * inv(ctx.saved_tensors[0]).mT
        it = _t(_lapack("slogdet", ctx.a.shape, glog._xp.linalg.inv, ctx.a))
        return Tensor._wrap(glog.array[..., None, None] * it)


def slogdet(A):
    """(sign, log|det|) of each square matrix, as ``torch.linalg.slogdet``: the log stays finite where ``det``
    would under- or overflow.

    Example:
        >>> md.linalg.slogdet(md.tensor([[1., 2.], [3., 4.]])).sign
        tensor(-1.)
    """
    return _SlogdetResult(*_Slogdet.apply(_matrix("slogdet", A)))


def logdet(A):
    """``log(det(A))``: NaN where the determinant is negative, ``-inf`` where it is 0 (as ``torch.logdet``).

    Example:
        >>> md.logdet(md.tensor([[2., 0.], [0., 3.]]))
        tensor(1.7917595)
    """
    sign, logabs = slogdet(_matrix("logdet", A))
    nan = Tensor._wrap(A._xp.asarray(math.nan, dtype=A.array.dtype))
    return where(sign < 0, nan, logabs)           # sign 0: log|det| is already -inf


class _Solve(Function):
    """X with A X = B, for (*, n, n) A and (*, n, k) B (broadcast batch dims)."""

    @staticmethod
    def forward(ctx, A, B):
        xp = A._xp
        batch = tuple(np.broadcast_shapes(A.shape[:-2], B.shape[:-2]))
        a = xp.broadcast_to(A.array, batch + A.shape[-2:])
        b = xp.broadcast_to(B.array, batch + B.shape[-2:])
        x = _lapack("solve", A.shape, xp.linalg.solve, a, b)
        ctx.a, ctx.x = a, x
        ctx.save_for_backward(A, B)
        return x

    @staticmethod
    def backward(ctx, grad):
        if is_grad_enabled():               # create_graph: gB = A^-T g, gA = -gB X^T with differentiable ops
            A, B = ctx.saved_tensors
            gb = _Solve.apply(A.mT, grad)
            return -(gb @ _Solve.apply(A, B).mT), gb
        xp = grad._xp
        gb = xp.linalg.solve(_t(ctx.a), grad.array)       # gB = A^-T g ; gA = -gB X^T
        ga = -(gb @ _t(ctx.x)) if ctx.needs_input_grad[0] else None
        # broadcast batch dims: the engine sums these back to each operand's shape
        return (None if ga is None else Tensor._wrap(ga)), Tensor._wrap(gb)


def solve(A, B, *, left=True):
    """The solution X of ``A X = B`` (``X A = B`` with ``left=False``), as ``torch.linalg.solve``: A is (*, n, n),
    B is (*, n, k) or a batch of vectors (*, n); batch dims broadcast. A singular A raises ``LinAlgError``.

    Example:
        >>> md.linalg.solve(md.tensor([[2., 0.], [0., 4.]]), md.tensor([2., 2.]))
        tensor([1. , 0.5])
    """
    _matrix("solve", A)
    _float_tensor("solve", B)
    if B.ndim == 0:
        raise ValueError(f"linalg.solve: B must have at least 1 dim, got shape {B.shape}")
    n = A.shape[-1]
    vector = left and (B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1]))
    if not left:                            # X A = B  <=>  A^T X^T = B^T
        if B.ndim < 2 or B.shape[-1] != n:
            raise ValueError(f"linalg.solve: with left=False B must be (*, k, {n}) for A of shape {A.shape}, got "
                             f"shape {B.shape}")
        return solve(A.mT, B.mT).mT
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != n:
        raise ValueError(f"linalg.solve: B must be (*, {n}, k) or (*, {n}) for A of shape {A.shape}, got shape "
                         f"{B.shape}")
    try:
        np.broadcast_shapes(A.shape[:-2], Bm.shape[:-2])
    except ValueError:
        raise ValueError(f"linalg.solve: the batch dims of A {A.shape} and B {B.shape} do not broadcast") from None
    if A.dtype != B.dtype:
        raise TypeError(f"linalg.solve: A and B must have the same dtype, got {A.dtype.name} and {B.dtype.name}")
    X = _Solve.apply(A, Bm)
    return X.squeeze(-1) if vector else X


def matrix_power(A, n):
    """``A`` multiplied by itself ``n`` times (``n`` < 0: powers of the inverse; 0: the identity), as
    ``torch.linalg.matrix_power``.

    Example:
        >>> md.linalg.matrix_power(md.tensor([[1., 1.], [0., 1.]]), 3)
        tensor([[1., 3.],
                [0., 1.]])
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {n!r}")
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg.matrix_power: expected a Tensor, got {type(A).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"linalg.matrix_power: expected square matrices, got shape {A.shape}")
    if n == 0:                              # the identity, in A's graph (a zero gradient), as PyTorch
        return A * 0 + _eye_tensor(A)
    base = inv(A) if n < 0 else A
    result, power, k = None, base, abs(n)
    while k:                                # square-and-multiply: log2(n) products
        if k & 1:
            result = power if result is None else result @ power
        k >>= 1
        if k:
            power = power @ power
    return result


# --- factorizations -------------------------------------------------------------------------------------------------

class _Cholesky(Function):
    @staticmethod
    def forward(ctx, A):
        L = _lapack("cholesky", A.shape, A._xp.linalg.cholesky, A.array, what="not positive-definite")
        ctx.L = L
        return L

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        xp, L = grad._xp, ctx.L
        # A = L L^T: with P = Phi(L^T gL) (lower triangle, diagonal halved), gA = sym(L^-T P L^-1)
        P = xp.tril(_t(L) @ grad.array)
        P = P - 0.5 * xp.eye(L.shape[-1], dtype=L.dtype) * P
        Linv = xp.linalg.inv(L)
        S = _t(Linv) @ P @ Linv
        return Tensor._wrap(0.5 * (S + _t(S)))


def cholesky(A, *, upper=False):
    """The Cholesky factor of each symmetric positive-definite matrix (lower: A = L L^T; ``upper=True``: A = U^T U),
    as ``torch.linalg.cholesky``; only the lower triangle of A is read. Not positive-definite: ``LinAlgError``.

    Example:
        >>> md.linalg.cholesky(md.tensor([[4., 2.], [2., 2.]]))
        tensor([[2., 0.],
                [1., 1.]])
    """
    L = _Cholesky.apply(_matrix("cholesky", A))
    return L.mT if upper else L


class _QR(Function):
    @staticmethod
    def forward(ctx, A, mode):
        q, r = A._xp.linalg.qr(A.array, mode=mode)
        ctx.q, ctx.r, ctx.mode = q, r, mode
        return q, r

    @staticmethod
    @once_differentiable
    def backward(ctx, gq, gr):
        xp, q, r = gq._xp, ctx.q, ctx.r
        m, n = q.shape[-2], r.shape[-1]
        if m < n or (ctx.mode == "complete" and m > n):
            raise RuntimeError(f"linalg.qr: backward needs m >= n with mode='reduced' (or a square input), got "
                               f"{m} x {n} with mode={ctx.mode!r}")
        # A = QR: M = R gR^T - gQ^T Q; gA = (gQ + Q copyltu(M)) R^-T, copyltu mirroring the lower triangle upwards
        M = r @ _t(gr.array) - _t(gq.array) @ q
        low = xp.tril(M, -1)
        M = low + _t(low) + xp.eye(n, dtype=M.dtype) * M
        b = gq.array + q @ M
        return Tensor._wrap(_t(xp.linalg.solve(r, _t(b))))


def qr(A, mode="reduced"):
    """The QR decomposition ``A = Q R`` of each matrix, as ``torch.linalg.qr`` (``mode`` 'reduced', 'complete' or
    'r', the last with an empty Q).

    Example:
        >>> Q, R = md.linalg.qr(md.tensor([[3., 1.], [4., 2.]]))
        >>> R.shape
        (2, 2)
    """
    _matrix("qr", A, square=False)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    if mode == "r":
        _, R = _QR.apply(A, "reduced")
        return _QRResult(Tensor._wrap(A._xp.zeros((0,), A.array.dtype)), R)
    return _QRResult(*_QR.apply(A, mode))


class _Eigh(Function):
    @staticmethod
    def forward(ctx, A, uplo):
        w, v = A._xp.linalg.eigh(A.array, UPLO=uplo)
        ctx.w, ctx.v = w, v
        return w, v

    @staticmethod
    @once_differentiable
    def backward(ctx, gw, gv):
        xp, w, v = gw._xp, ctx.w, ctx.v
        inner = xp.eye(w.shape[-1], dtype=w.dtype) * gw.array[..., None, :]
        g = gv.array
        if xp.any(g != 0):
            # eigenvector term: F_ij = 1 / (w_j - w_i) off the diagonal (infinite for repeated eigenvalues)
            diff = w[..., None, :] - w[..., :, None]
            off = ~xp.eye(w.shape[-1], dtype=bool)
            F = xp.where(off, 1 / xp.where(off, diff, 1), 0)
            inner = inner + F * (_t(v) @ g)
        out = v @ inner @ _t(v)
        return Tensor._wrap(0.5 * (out + _t(out)))      # the symmetric gradient, as PyTorch's


def eigh(A, UPLO="L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors of each symmetric matrix, as ``torch.linalg.eigh``; only
    the ``UPLO`` triangle is read.

    Example:
        >>> md.linalg.eigh(md.tensor([[2., 0.], [0., 1.]])).eigenvalues
        tensor([1., 2.])
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return _EighResult(*_Eigh.apply(_matrix("eigh", A), UPLO))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues (ascending) of each symmetric matrix, as ``torch.linalg.eigvalsh``.

    Example:
        >>> md.linalg.eigvalsh(md.tensor([[2., 1.], [1., 2.]]))
        tensor([1., 3.])
    """
    return eigh(A, UPLO).eigenvalues


class _SVD(Function):
    @staticmethod
    def forward(ctx, A, full_matrices):
        xp = A._xp
        u, s, vh = xp.linalg.svd(A.array, full_matrices=full_matrices)
        ctx.u, ctx.s, ctx.vh = u, s, vh
        return u, s, vh

    @staticmethod
    @once_differentiable
    def backward(ctx, gu, gs, gvh):
        xp, s = gs._xp, ctx.s
        k = s.shape[-1]
        u, vh = ctx.u[..., :, :k], ctx.vh[..., :k, :]
        gu, gvh = gu.array[..., :, :k], gvh.array[..., :k, :]        # as PyTorch: the full_matrices extras ignored
        v, gv = _t(vh), _t(gvh)
        inner = xp.eye(k, dtype=s.dtype) * gs.array[..., None, :]
        use_u, use_v = bool(xp.any(gu != 0)), bool(xp.any(gv != 0))
        if use_u or use_v:
            s2 = s * s
            off = ~xp.eye(k, dtype=bool)
            diff = s2[..., None, :] - s2[..., :, None]               # s_j^2 - s_i^2
            F = xp.where(off, 1 / xp.where(off, diff, 1), 0)
            if use_u:
                ut_gu = _t(u) @ gu
                inner = inner + (F * (ut_gu - _t(ut_gu))) * s[..., None, :]
            if use_v:
                vt_gv = _t(v) @ gv
                inner = inner + s[..., :, None] * (F * (vt_gv - _t(vt_gv)))
        out = u @ inner @ vh
        m, n = u.shape[-2], v.shape[-2]
        if use_u and m > k:                   # the part of gU outside span(U)
            proj = gu - u @ (_t(u) @ gu)
            out = out + (proj / s[..., None, :]) @ vh
        if use_v and n > k:
            proj = gv - v @ (_t(v) @ gv)
            out = out + (u / s[..., None, :]) @ _t(proj)
        return Tensor._wrap(out)


def svd(A, full_matrices=True, *, driver=None):
    """The singular value decomposition ``A = U diag(S) Vh`` of each matrix, as ``torch.linalg.svd`` (singular values
    descending). Gradients through U / Vh need distinct singular values; with ``full_matrices=True`` the gradients
    of the columns beyond min(m, n) are ignored, as in PyTorch.

    Example:
        >>> U, S, Vh = md.linalg.svd(md.tensor([[3., 0.], [0., 4.]]))
        >>> S
        tensor([4., 3.])
    """
    if driver is not None:
        raise NotImplementedError("linalg.svd: driver= (a cuSOLVER choice) is not supported")
    return _SVDResult(*_SVD.apply(_matrix("svd", A, square=False), bool(full_matrices)))


class _SVDVals(Function):
    @staticmethod
    def forward(ctx, A):
        u, s, vh = A._xp.linalg.svd(A.array, full_matrices=False)
        ctx.u, ctx.vh = u, vh
        return s

    @staticmethod
    @once_differentiable
    def backward(ctx, gs):
        return Tensor._wrap((ctx.u * gs.array[..., None, :]) @ ctx.vh)      # d s_i = u_i^T dA v_i


def svdvals(A, *, driver=None):
    """The singular values (descending) of each matrix, as ``torch.linalg.svdvals``; their gradient is defined
    for repeated values too.

    Example:
        >>> md.linalg.svdvals(md.tensor([[3., 0.], [0., -4.]]))
        tensor([4., 3.])
    """
    if driver is not None:
        raise NotImplementedError("linalg.svdvals: driver= (a cuSOLVER choice) is not supported")
    return _SVDVals.apply(_matrix("svdvals", A, square=False))


class _Pinv(Function):
    @staticmethod
    def forward(ctx, A, atol, rtol):
        xp, a = A._xp, A.array
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        smax = s.max(axis=-1, keepdims=True) if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), s.dtype)
        cutoff = xp.maximum(atol, rtol * smax)
        keep = s > cutoff
        sinv = xp.where(keep, 1 / xp.where(keep, s, 1), 0)
        p = _t(vh) @ (sinv[..., :, None] * _t(u))
        ctx.a, ctx.p = a, p
        return p

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        # the derivative of the pseudo-inverse at constant rank (Golub & Pereyra), as an adjoint:
        # gA = -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A)
        xp, a, p, g = grad._xp, ctx.a, ctx.p, grad.array
        m, n = a.shape[-2], a.shape[-1]
        pt, gt = _t(p), _t(g)
        left = xp.eye(m, dtype=a.dtype) - a @ p
        right = xp.eye(n, dtype=a.dtype) - p @ a
        return Tensor._wrap(-(pt @ g @ pt) + left @ gt @ (p @ pt) + (pt @ p) @ gt @ right)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse of each matrix, as ``torch.linalg.pinv``: singular values at or below
    ``max(atol, rtol * largest)`` count as zero (default ``rtol``: eps * max(m, n) when ``atol`` is not given).

    Example:
        >>> md.linalg.pinv(md.tensor([[2., 0.], [0., 0.]]))
        tensor([[0.5, 0. ],
                [0. , 0. ]])
    """
    _matrix("pinv", A, square=False)
    if hermitian:
        _matrix("pinv", A)
    if isinstance(atol, Tensor) or isinstance(rtol, Tensor):
        raise NotImplementedError("linalg.pinv: tensor atol/rtol is not supported (pass numbers)")
    eps = dtypes.finfo(A.dtype).eps
    if rtol is None:
        rtol = eps * max(A.shape[-2:]) if (atol is None or atol <= 0) else 0.0
    return _Pinv.apply(A, float(atol or 0.0), float(rtol))


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution X minimising ``||A X - B||`` for each (*, m, n) A and (*, m, k) B, as
    ``torch.linalg.lstsq`` (returns (solution, residuals, rank, singular_values)). Computed as ``pinv(A) @ B``,
    which gives the minimum-norm solution (PyTorch's 'gelsd' / 'gelss' drivers); residuals are the squared
    residual norms when m > n and A has full rank, otherwise empty, as PyTorch's.

    Example:
        >>> md.linalg.lstsq(md.tensor([[1., 0.], [0., 1.], [0., 0.]]), md.tensor([[1.], [2.], [3.]])).solution
        tensor([[1.],
                [2.]])
    """
    _matrix("lstsq", A, square=False)
    _float_tensor("lstsq", B)
    if driver not in (None, "gels", "gelsy", "gelsd", "gelss"):
        raise ValueError(f"linalg.lstsq: driver must be one of 'gels', 'gelsy', 'gelsd', 'gelss', got {driver!r}")
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.shape[-2] != A.shape[-2]:
        raise ValueError(f"linalg.lstsq: A of shape {A.shape} and B of shape {B.shape} need the same number of rows")
    m, n = A.shape[-2:]
    if rcond is None:
        rcond = dtypes.finfo(A.dtype).eps * max(m, n)
    X = pinv(A, rtol=rcond) @ Bm
    xp = A._xp
    s = xp.linalg.svd(A.array, compute_uv=False)
    rank = (s > rcond * s.max(axis=-1, keepdims=True)).sum(-1) if s.shape[-1] else xp.zeros(s.shape[:-1], int)
    empty = Tensor._wrap(xp.zeros((0,), A.array.dtype))
    if m > n and bool(xp.all(rank == n)) and driver != "gelsy" and driver is not None:
        r = A @ X - Bm
        residuals = (r * r).sum(-2)
    else:
        residuals = empty
    singular = Tensor._wrap(s) if driver in ("gelsd", "gelss") else empty
    rank_t = Tensor._wrap(xp.asarray(rank, dtype=xp.int64)) if driver != "gels" else empty.to(dtypes.int64)
    return _LstsqResult(X.squeeze(-1) if vector else X, residuals, rank_t, singular)


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """The solution X of ``A X = B`` (``X A = B`` with ``left=False``) for triangular A, as
    ``torch.linalg.solve_triangular``: only the ``upper`` (or lower) triangle of A is read (its diagonal taken as ones
    with ``unitriangular``), so only that triangle gets a gradient. B is (*, n, k); batch dims broadcast.

    Example:
        >>> md.linalg.solve_triangular(md.tensor([[2., 0.], [1., 1.]]), md.tensor([[2.], [3.]]), upper=False)
        tensor([[1.],
                [2.]])
    """
    from .ops import tril, triu  # noqa: PLC0415
    _matrix("solve_triangular", A)
    _float_tensor("solve_triangular", B)
    if B.ndim < 2:
        raise ValueError(f"linalg.solve_triangular: B must be (*, n, k), got shape {B.shape}")
    if unitriangular:
        T = (triu(A, 1) if upper else tril(A, -1)) + _eye_tensor(A)
    else:
        T = triu(A) if upper else tril(A)
    return solve(T, B, left=left)


def cholesky_ex(A, *, upper=False, check_errors=False):
    """``torch.linalg.cholesky_ex``: (L, info), info > 0 for the matrices that are not positive-definite (their L is
    left NaN here) instead of an error.

    Example:
        >>> md.linalg.cholesky_ex(md.eye(2)).info
        tensor(0, dtype=minidl.int32)
    """
    _matrix("cholesky_ex", A)
    xp = A._xp
    a = A.array
    sym = 0.5 * (xp.tril(a) + _t(xp.tril(a)))                 # the lower triangle, as cholesky reads it
    # info: the order of the smallest leading minor that is not positive-definite (0: all are), as LAPACK reports
    info = xp.zeros(A.shape[:-2], xp.int32)
    for k in range(A.shape[-1], 0, -1):
        info = xp.where(~(xp.linalg.eigvalsh(sym[..., :k, :k]) > 0).all(axis=-1), k, info)
    bad = info > 0
    if check_errors and bool(bad.any()):
        raise LinAlgError(f"linalg.cholesky_ex: the input of shape {A.shape} is not positive-definite")
    if bool(xp.any(bad)):
        mask = Tensor._wrap(bad[..., None, None])
        L = where(mask, Tensor._wrap(xp.full(A.shape, xp.nan, a.dtype)), cholesky(where(mask, _eye_tensor(A), A),
                                                                                   upper=upper))
    else:
        L = cholesky(A, upper=upper)
    return _CholeskyExResult(L, Tensor._wrap(info.astype(xp.int32)))


def cholesky_solve(B, L, upper=False):
    """X with ``A X = B`` given the Cholesky factor L of A (A = L L^T, or U^T U with ``upper``), as
    ``torch.cholesky_solve``.

    Example:
        >>> md.cholesky_solve(md.tensor([[2.], [4.]]), md.tensor([[1., 0.], [0., 2.]]))
        tensor([[2.],
                [1.]])
    """
    # through A itself, so that L's gradient is PyTorch's: the full matrix -(gA + gA^T) L, not one triangle
    _matrix("cholesky_solve", L)
    return solve(L.mT @ L if upper else L @ L.mT, B)


# --- small helpers PyTorch also puts in torch.linalg ----------------------------------------------------------------

def multi_dot(tensors):
    """The product of a list of matrices (first and last may be vectors), as ``torch.linalg.multi_dot``.

    Example:
        >>> md.linalg.multi_dot([md.ones(2, 3), md.ones(3, 4), md.ones(4)]).shape
        (2,)
    """
    if len(tensors) < 2:
        raise ValueError(f"linalg.multi_dot: expected at least 2 tensors, got {len(tensors)}")
    out = tensors[0]
    for t in tensors[1:]:
        out = matmul(out, t)
    return out


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number of singular values above ``max(atol, rtol * largest)`` of each matrix (int64, not differentiable).

    Example:
        >>> md.linalg.matrix_rank(md.tensor([[1., 2.], [2., 4.]]))
        tensor(1)
    """
    _matrix("matrix_rank", A, square=False)
    xp = A._xp
    s = xp.linalg.svd(A.array, compute_uv=False)
    if rtol is None:
        rtol = dtypes.finfo(A.dtype).eps * max(A.shape[-2:]) if (atol is None or atol <= 0) else 0.0
    smax = s.max(axis=-1) if s.shape[-1] else xp.zeros(s.shape[:-1], s.dtype)
    return Tensor._wrap(xp.asarray((s > xp.maximum(atol or 0.0, rtol * smax)[..., None]).sum(-1), dtype=xp.int64))


def vecdot(x, y, *, dim=-1):
    """The dot product of ``x`` and ``y`` along ``dim`` (broadcasting the rest), as ``torch.linalg.vecdot``.

    Example:
        >>> md.linalg.vecdot(md.tensor([1., 2.]), md.tensor([3., 4.]))
        tensor(11.)
    """
    return sum(x * y, dim)


# --- PyTorch's older top-level names (torch.det, torch.svd...) and the Tensor methods ---------------------------------

def _old_svd(input, some=True, compute_uv=True):  # noqa: A002
    """``torch.svd``: (U, S, V) with V itself (not its transpose); ``some=False`` gives the full U and V,
    ``compute_uv=False`` zero-filled U and V.

    Example:
        >>> U, S, V = md.svd(md.tensor([[3., 0.], [0., 4.]]))
    """
    if not compute_uv:                      # as PyTorch: zero-filled (m, m) U and (n, n) V, whatever ``some``
        xp, dt = input._xp, input.array.dtype
        m, n = input.shape[-2:]
        zeros = [Tensor._wrap(xp.zeros(input.shape[:-2] + (k, k), dt)) for k in (m, n)]
        return _OldSVDResult(zeros[0], svdvals(input), zeros[1])
    U, S, Vh = svd(input, full_matrices=not some)
    return _OldSVDResult(U, S, Vh.mT)


def _old_qr(input, some=True):  # noqa: A002
    """``torch.qr``: ``some=False`` is ``linalg.qr(mode='complete')``."""
    return qr(input, "reduced" if some else "complete")


def _old_cholesky(input, upper=False):  # noqa: A002
    """``torch.cholesky`` (``upper`` positional, as the old API)."""
    return cholesky(input, upper=upper)


def _pinverse(input, rcond=1e-15):  # noqa: A002
    """``torch.pinverse``: ``rcond`` is the relative cutoff (``linalg.pinv``'s ``rtol``)."""
    return pinv(input, rtol=rcond)


def _install_aliases():
    """Add ``x.det()``, ``x.inverse()``... to Tensor and return the top-level functions (for minidl/__init__.py)."""
    names = {"det": det, "inverse": inv, "logdet": logdet, "slogdet": slogdet, "matrix_power": matrix_power,
             "cholesky": _old_cholesky, "qr": _old_qr, "svd": _old_svd, "pinverse": _pinverse,
             "cholesky_solve": cholesky_solve}
    for name, fn in names.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, fn)
    return tuple(names.values())


from ._missing import module_getattr  # noqa: E402

__getattr__ = module_getattr("minidl.linalg", "torch.linalg")     # eig, eigvals (complex results)... named as missing
del module_getattr
