"""Sparse COO matrices: PyTorch's ``torch.sparse_coo_tensor`` / ``Tensor.to_sparse`` for 2-d tensors on the CPU.

What graph networks (GCN, GAT) do with them: build an adjacency or scaling matrix, multiply it with dense
features (``sparse @ dense``, ``dense @ sparse``, ``md.mm``, ``md.spmm``, ``md.matmul``), add it to a dense
matrix. Products cost O(nnz * columns) and pass gradients to the dense operand; a sparse operand that requires
grad, more than two dims, and CUDA are refused with NotImplementedError naming the feature.

Example:
    >>> a = md.sparse_coo_tensor([[0, 1], [1, 0]], md.tensor([2.0, 3.0]), (2, 2))
    >>> a @ md.ones(2, 1)
    tensor([[2.],
            [3.]])
"""
import numpy as np

from . import dtypes
from .autograd.function import Function
from .device import Device
from .ops import matmul as _dense_matmul
from .ops import mm as _dense_mm
from .tensor import Tensor


def _refuse(what):
    raise NotImplementedError(f"sparse tensors: {what} is not supported (minidl's sparse COO tensors are 2-d, "
                              "CPU-only, and pass gradients to the dense operand only)")


class SparseCOOTensor:
    """A 2-d matrix kept as ``indices`` (2, nnz) int64 and ``values`` (nnz,), duplicates summed (uncoalesced COO).

    Build it with ``md.sparse_coo_tensor`` or ``Tensor.to_sparse()``; ``to_dense()`` gives the dense Tensor back.
    """

    is_sparse = True
    layout = "sparse_coo"

    def __init__(self, indices, values, size):
        self._ind = indices              # NumPy int64 (2, nnz)
        self._val = values               # minidl Tensor (nnz,), never requiring grad
        self._size = tuple(int(s) for s in size)

    # --- what PyTorch's sparse tensors answer -------------------------------------------------------------------
    @property
    def shape(self):
        from .ops.extra import Size  # noqa: PLC0415 -- md.Size, as Tensor.shape
        return Size(self._size)

    def size(self, dim=None):
        return self.shape if dim is None else self._size[dim]

    @property
    def ndim(self):
        return 2

    def dim(self):
        return 2

    @property
    def dtype(self):
        return self._val.dtype

    @property
    def device(self):
        return self._val.device

    @property
    def requires_grad(self):
        return False

    def _nnz(self):
        return self._ind.shape[1]

    def indices(self):
        return Tensor._wrap(self._ind.copy())

    def values(self):
        return self._val

    def coalesce(self):
        """Duplicates summed, entries in row-major order."""
        flat = self._ind[0] * self._size[1] + self._ind[1]
        uniq, inverse = np.unique(flat, return_inverse=True)
        vals = np.zeros(uniq.size, self._val.dtype.np)
        np.add.at(vals, inverse, self._val.numpy())
        ind = np.stack([uniq // self._size[1], uniq % self._size[1]]).astype(np.int64)
        return SparseCOOTensor(ind, Tensor._wrap(vals), self._size)

    def to_dense(self):
        out = np.zeros(self._size, self._val.dtype.np)
        np.add.at(out, (self._ind[0], self._ind[1]), self._val.numpy())
        return Tensor._wrap(out)

    def to_sparse(self):
        return self

    def to(self, *args, dtype=None, device=None):
        for a in args:
            if isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        if device is not None and Device(device).type != "cpu":
            _refuse(f"moving to {device}")
        values = self._val if dtype is None else self._val.to(dtype)
        return SparseCOOTensor(self._ind, values, self._size)

    def cpu(self):
        return self

    def t(self):
        return SparseCOOTensor(self._ind[::-1].copy(), self._val, self._size[::-1])

    # --- arithmetic ---------------------------------------------------------------------------------------------
    def __matmul__(self, other):
        return spmm(self, other)

    def __rmatmul__(self, other):
        if not isinstance(other, Tensor) or other.ndim != 2:
            _refuse(f"a product with {type(other).__name__} of {getattr(other, 'ndim', '?')} dims")
        return spmm(self.t(), other.t()).t()

    def __add__(self, other):
        if isinstance(other, SparseCOOTensor):
            _check_same_size("add", self, other)
            values = _cat_values(self._val, other._val)
            return SparseCOOTensor(np.concatenate([self._ind, other._ind], 1), values, self._size)
        if isinstance(other, Tensor):
            return self.to_dense() + other          # PyTorch: sparse + dense is dense
        return NotImplemented

    def __minidl_operand__(self):
        # a dense Tensor's operators (``dense + sparse``, ``dense @ sparse``) see the dense equivalent, as PyTorch
        # gives a dense result for both
        return self.to_dense()

    def __radd__(self, other):
        if isinstance(other, Tensor):
            return other + self.to_dense()
        return NotImplemented

    def __repr__(self):
        return (f"tensor(indices={self.indices()!r},\n       values={self._val!r},\n       size={self._size}, "
                f"nnz={self._nnz()}, layout=minidl.sparse_coo)")


def _check_same_size(op, a, b):
    if a._size != b._size:
        raise ValueError(f"{op}: sparse sizes {a._size} and {b._size} differ")


def _cat_values(a, b):
    dt = dtypes.promote_types(a.dtype, b.dtype)
    return Tensor._wrap(np.concatenate([a.numpy().astype(dt.np), b.numpy().astype(dt.np)]))


class _SparseDenseMM(Function):
    """out = S @ D for a constant sparse S (rows, cols, vals) and a dense D; dD = S^T @ dout (the same op)."""

    @staticmethod
    def forward(ctx, dense, rows, cols, vals, n_rows):
        ctx.sparse = (rows, cols, vals, n_rows, dense.shape[0])
        arr = dense.array
        out = np.zeros((n_rows, arr.shape[1]), arr.dtype)
        np.add.at(out, rows, vals.astype(arr.dtype, copy=False)[:, None] * arr[cols])
        return out

    @staticmethod
    def backward(ctx, grad):
        rows, cols, vals, _, n_cols = ctx.sparse
        return _SparseDenseMM.apply(grad, cols, rows, vals, n_cols), None, None, None, None


def spmm(input, mat2):  # noqa: A002 -- PyTorch's names
    """``sparse @ dense``: a (n, m) sparse COO matrix times a (m, p) dense Tensor, a dense (n, p) result whose
    gradient flows to ``mat2``. A dense ``input`` falls back to the dense product, as ``torch.spmm`` does.

    Example:
        >>> md.spmm(md.eye(2).to_sparse(), md.ones(2, 3)).shape
        (2, 3)
    """
    if not isinstance(input, SparseCOOTensor):
        return _dense_mm(input, mat2)
    if isinstance(mat2, SparseCOOTensor):
        _refuse("a sparse @ sparse product")
    if not isinstance(mat2, Tensor):
        raise TypeError(f"spmm: expected mat2 to be a Tensor, got {type(mat2).__name__}")
    if mat2.ndim != 2:
        _refuse(f"a product with a {mat2.ndim}-d dense operand")
    if mat2.device.type != "cpu":
        _refuse(f"a dense operand on {mat2.device}")
    if input._size[1] != mat2.shape[0]:
        raise ValueError(f"spmm: shapes {input._size} and {tuple(mat2.shape)} cannot be multiplied "
                         f"({input._size[1]} != {mat2.shape[0]})")
    out_dtype = dtypes.promote_types(input.dtype, mat2.dtype)
    dense = mat2 if mat2.dtype == out_dtype else mat2.to(out_dtype)
    return _SparseDenseMM.apply(dense, input._ind[0], input._ind[1], input._val.numpy(), input._size[0])


def mm(input, mat2):  # noqa: A002
    """``md.mm`` taking a sparse COO operand on either side (PyTorch's ``torch.mm``)."""
    if isinstance(input, SparseCOOTensor):
        return spmm(input, mat2)
    if isinstance(mat2, SparseCOOTensor):
        return mat2.__rmatmul__(input)
    return _dense_mm(input, mat2)


def matmul(input, other):  # noqa: A002
    """``md.matmul`` taking a sparse COO operand on either side (2-d only)."""
    if isinstance(input, SparseCOOTensor) or isinstance(other, SparseCOOTensor):
        return mm(input, other)
    return _dense_matmul(input, other)


def sparse_coo_tensor(indices, values, size=None, dtype=None, device=None, requires_grad=False):
    """A sparse COO matrix with ``values[i]`` at ``(indices[0][i], indices[1][i])``; duplicates add up.

    ``size`` defaults to one past the largest index in each dim (PyTorch's rule).

    Example:
        >>> md.sparse_coo_tensor([[0, 2], [1, 0]], [1.0, 5.0], (3, 2)).to_dense()
        tensor([[0., 1.],
                [0., 0.],
                [5., 0.]])
    """
    if requires_grad:
        _refuse("requires_grad=True (a gradient with respect to the sparse values)")
    if device is not None and Device(device).type != "cpu":
        _refuse(f"device={device}")
    ind = np.asarray(indices.numpy() if isinstance(indices, Tensor) else indices)
    if ind.ndim != 2 or ind.shape[0] != 2 or not (ind.size == 0 or np.issubdtype(ind.dtype, np.integer)):
        if ind.ndim == 2 and ind.shape[0] != 2:
            _refuse(f"{ind.shape[0]}-d sparse tensors")
        raise ValueError(f"sparse_coo_tensor: indices must be an integer array of shape (2, nnz), got shape "
                         f"{ind.shape} of {ind.dtype}")
    ind = ind.astype(np.int64)
    vals = values.detach() if isinstance(values, Tensor) else Tensor(np.asarray(values))
    if vals.ndim != 1 or vals.shape[0] != ind.shape[1]:
        raise ValueError(f"sparse_coo_tensor: values must be 1-d with one entry per index column ({ind.shape[1]}), "
                         f"got shape {tuple(vals.shape)}")
    if dtype is not None:
        vals = vals.to(dtype)
    size = tuple(int(s) for s in (size if size is not None else ind.max(1) + 1))
    if len(size) != 2:
        _refuse(f"size {size} (only 2-d)")
    if ind.size and ((ind < 0).any() or (ind[0] >= size[0]).any() or (ind[1] >= size[1]).any()):
        raise ValueError(f"sparse_coo_tensor: indices out of bounds for size {size}")
    return SparseCOOTensor(ind, vals, size)


def _to_sparse(self, sparse_dim=None):
    """The non-zero entries of a 2-d Tensor as a sparse COO matrix (``Tensor.to_sparse``)."""
    if self.ndim != 2 or sparse_dim not in (None, 2):
        _refuse(f"to_sparse of a {self.ndim}-d tensor (sparse_dim={sparse_dim})")
    if self.device.type != "cpu":
        _refuse(f"to_sparse on {self.device}")
    if self.requires_grad:
        _refuse("to_sparse of a tensor that requires grad")
    arr = self.numpy()
    rows, cols = np.nonzero(arr)
    return SparseCOOTensor(np.stack([rows, cols]).astype(np.int64), Tensor._wrap(arr[rows, cols].copy()), arr.shape)


Tensor.to_sparse = _to_sparse
Tensor.to_dense = lambda self: self
Tensor.is_sparse = False
Tensor.mm = mm
Tensor.matmul = matmul

__all__ = ["SparseCOOTensor", "sparse_coo_tensor", "spmm"]
