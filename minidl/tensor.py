"""The Tensor: an array of its device's array module (NumPy or CuPy) plus its autograd links.

No math lives here: operators and methods are installed from ``minidl.ops``.
"""
import numpy as np

from . import dtypes
from .autograd.grad_mode import is_grad_enabled
from .device import Device, array_module, device_of, is_cuda_array, move


def _as_array(data, dtype=None, xp=np):
    """Build a fresh array from Python data, a NumPy/CuPy array or a Tensor (PyTorch's dtype inference)."""
    if isinstance(data, Tensor):
        data = data.array
    is_array = hasattr(data, "__array_interface__") or hasattr(data, "__cuda_array_interface__") \
        or isinstance(data, np.generic)
    if dtype is not None:
        return xp.array(data, dtype=dtypes.to_dtype(dtype).np, copy=True)
    arr = xp.array(data, copy=True)
    if arr.dtype.kind == "f" and not is_array:
        arr = arr.astype(dtypes.default_float.np)      # Python floats -> float32, as torch.tensor
    elif arr.dtype.kind in "iu" and not is_array:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "O":
        raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} (ragged or non-numeric data)")
    dtypes.to_dtype(arr.dtype)                          # raises for unsupported dtypes
    return arr


class Tensor:
    """An n-dimensional array with reverse-mode autograd.

    Build one with ``md.tensor``, ``md.zeros`` and friends rather than this constructor.

    Example:
        >>> x = md.tensor([[1., 2.], [3., 4.]], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([[2., 4.],
                [6., 8.]])
    """

    # _vc: the version counter, a one-element list shared by every tensor that views the same memory (a view and
    # its base); _base: the tensor a view was taken from (None for a tensor that owns its memory), as in PyTorch
    # array: the raw NumPy or CuPy array holding the values (no copy; what ops and kernels work on). ``.data`` is
    # PyTorch's: a Tensor sharing that memory, detached from autograd.
    __slots__ = ("array", "grad", "_rg", "_node", "_nr", "_vc", "_base", "__weakref__")
    __array_priority__ = 1000           # make ``ndarray + Tensor`` call Tensor.__radd__

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        """PyTorch's legacy constructor: ``Tensor(2, 3)`` (sizes) is a zero-filled tensor of that shape,
        ``Tensor([1, 2])`` (data) a copy in the default float dtype (``md.tensor`` infers the dtype instead),
        ``Tensor(t)`` of a tensor keeps its dtype, ``Tensor()`` is empty."""
        sized = all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args)
        if sized or (len(args) == 1 and isinstance(args[0], tuple) and type(args[0]).__name__ == "Size"):
            shape = tuple(int(a) for a in (args[0] if args and not sized else args)) if args else (0,)
            if min(shape, default=0) < 0:
                raise ValueError(f"Tensor(*sizes): sizes must be non-negative, got {shape}")
            data = np.zeros(shape, (dtypes.to_dtype(dtype) if dtype is not None else dtypes.default_float).np)
        elif len(args) == 1:
            data = args[0]
            if dtype is None and not isinstance(data, Tensor):
                dtype = dtypes.default_float
        else:
            raise TypeError(f"Tensor(): expected sizes (ints) or one data argument, got {len(args)} arguments "
                            "(pass dtype=, device=, requires_grad= by keyword)")
        self._from_data(data, dtype, device, requires_grad)

    def _from_data(self, data, dtype=None, device=None, requires_grad=False):
        """Fill this tensor from ``data``, inferring the dtype when none is given (``md.tensor``'s rule)."""
        src = data.array if isinstance(data, Tensor) else data
        # device data is copied on its device (md.tensor(gpu_tensor) stays there, as in PyTorch), host data on the host
        arr = _as_array(data, dtype, array_module(src) if is_cuda_array(src) else np)
        if device is not None:
            arr = move(arr, device)
        self._init(arr)
        self.requires_grad = requires_grad

    @classmethod
    def _from(cls, data, dtype=None, device=None, requires_grad=False):
        """A new tensor from ``data`` with the dtype inferred (or given): what ``md.tensor`` makes."""
        t = object.__new__(cls)
        t._from_data(data, dtype, device, requires_grad)
        return t

    def _init(self, arr):
        self.array, self.grad, self._rg, self._node, self._nr = arr, None, False, None, 0
        self._vc, self._base = [0], None

    def _share_memory_of(self, base):
        """Make this tensor a view of ``base``: one version counter, so an in-place change through either is seen
        by every graph that saved the other."""
        self._vc = base._vc
        self._base = base if base._base is None else base._base
        return self

    @property
    def _version(self):
        """How many in-place changes the memory this tensor views has seen (shared with its base and views)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value):
        self._vc[0] = value

    @classmethod
    def _wrap(cls, arr):
        """A Tensor around ``arr`` (no copy, no checks): for ops and the engine."""
        if type(arr) is not np.ndarray and not is_cuda_array(arr):
            arr = np.asarray(arr)       # NumPy ufuncs turn 0-d results into scalars: keep arrays
        t = object.__new__(cls)
        t._init(arr)
        return t

    @classmethod
    def _zeros(cls, shape, dtype, device):
        return cls._wrap(_xp_of(device).zeros(shape, dtype=dtype.np))

    @classmethod
    def _ones(cls, shape, dtype, device):
        return cls._wrap(_xp_of(device).ones(shape, dtype=dtype.np))

    # --- attributes -----------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if flag and not self.dtype.is_floating_point:
            raise RuntimeError(f"requires_grad: only floating point tensors can require gradients, got "
                               f"{self.dtype.name} tensor of shape {self.shape}")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad: cannot turn it off on a non-leaf tensor; use .detach()")
        self._rg = flag

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def data(self):
        """A Tensor sharing this tensor's memory, detached from autograd, as PyTorch's ``.data``: a change through it
        (``p.data.add_(...)``, ``p.data.copy_(...)``) changes this tensor, and autograd neither records it nor
        checks it (unlike ``.detach()``, it has a version counter of its own). Setting ``t.data = other`` makes
        ``t`` hold ``other``'s memory (any shape, same device). The raw NumPy/CuPy array is ``t.array``.

        Example:
            >>> w = md.ones(2, requires_grad=True)
            >>> w.data.mul_(3); w
            tensor([3., 3.], requires_grad=True)
        """
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value):
        arr = value.array if isinstance(value, Tensor) else value
        if type(arr) is not np.ndarray and not is_cuda_array(arr):
            raise TypeError(f"data: expected a Tensor or an array to hold, got {type(value).__name__}")
        if device_of(arr) != self.device:
            raise RuntimeError(f"data: cannot set data on {self.device} from {device_of(arr)}; move it first")
        if self.requires_grad and arr.dtype.kind != "f":
            raise RuntimeError(f"data: a tensor that requires grad must hold floating data, got {arr.dtype}")
        self.array = arr

    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    @property
    def dtype(self):
        return dtypes.of_array(self.array)

    @property
    def device(self):
        return device_of(self.array)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    @property
    def is_mps(self):
        """False: minidl has no Metal backend (PyTorch's probe, answered)."""
        return False

    @property
    def is_xpu(self):
        """False: minidl has no Intel GPU backend (PyTorch's probe, answered)."""
        return False

    @property
    def _xp(self):
        return array_module(self.array)

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # --- conversion -----------------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array: shared with the tensor on the CPU, copied from a GPU."""
        return self.array if self.device.type == "cpu" else self.array.get()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python scalar, got shape "
                             f"{self.shape}")
        return self.array.reshape(-1)[0].item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; "
                               "use .any() or .all()")
        return bool(self.item())

    def __format__(self, spec):
        # as PyTorch: a 0-d tensor formats like its Python number ('{:.3f}'.format(loss)); others only as str()
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"format: the spec {spec!r} applies to 0-d tensors only, got shape {self.shape}; "
                            "format t.item() or t.tolist()")
        return str(self)

    def __index__(self):
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError(f"only integer tensors of one element can be used as an index, got {self.dtype.name} "
                            f"of shape {self.shape}")
        return int(self.item())

    def detach(self):
        """A new leaf sharing this tensor's data and version counter, cut from the graph (in-place changes to it
        are seen by graphs that saved this tensor, as in PyTorch)."""
        out = Tensor._wrap(self.array)
        out._vc = self._vc              # not a view for autograd (in-place on it is allowed), as in PyTorch
        return out

    def to(self, *args, dtype=None, device=None):
        """``t.to("cuda")``, ``t.to(md.float64)``, ``t.to("cpu", md.float32)``; differentiable."""
        for a in args:
            if isinstance(a, (Device, str)) and str(a).split(":")[0] in ("cpu", "cuda"):
                device = a
            else:
                dtype = a
        from .ops import to_device  # noqa: PLC0415
        out = self if dtype is None else self.astype(dtype)
        return out if device is None or Device(device) == out.device else to_device(out, device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.astype(dtypes.float32)

    def double(self):
        return self.astype(dtypes.float64)

    def half(self):
        return self.astype(dtypes.float16)

    def long(self):
        return self.astype(dtypes.int64)

    def int(self):
        return self.astype(dtypes.int32)

    def bool(self):
        return self.astype(dtypes.bool_)

    def short(self):
        return self.astype(dtypes.int16)

    def char(self):
        return self.astype(dtypes.int8)

    def byte(self):
        return self.astype(dtypes.uint8)

    def is_floating_point(self):
        """Whether the dtype is float16, float32 or float64."""
        return self.dtype.is_floating_point

    def is_complex(self):
        return False                    # minidl has no complex dtypes

    def element_size(self):
        """Bytes per element, e.g. 4 for float32."""
        return self.dtype.itemsize

    def type(self, dtype=None, non_blocking=False):
        """With no argument, the tensor's type name: PyTorch's legacy name under minidl's prefix, e.g.
        ``"minidl.FloatTensor"`` or ``"minidl.cuda.LongTensor"``; with a dtype or such a name (``"torch.FloatTensor"``
        is accepted too), the tensor converted to it (differentiable, ``self`` when nothing changes).

        Example:
            >>> md.ones(2).type()
            'minidl.FloatTensor'
            >>> md.ones(2).type(md.long).dtype, md.ones(2).type("torch.DoubleTensor").dtype
            (minidl.int64, minidl.float64)
        """
        if dtype is None:
            return dtypes.type_name(self.dtype, self.is_cuda)
        if isinstance(dtype, type) and isinstance(getattr(dtype, "dtype", None), dtypes.DType):
            dtype = dtype.dtype                 # md.FloatTensor, a legacy tensor type
        if isinstance(dtype, str) and dtype.rsplit(".", 1)[-1].endswith("Tensor"):
            dtype, cuda = dtypes.parse_type_name(dtype)
            if cuda != self.is_cuda:
                return self.to("cuda" if cuda else "cpu", dtype)
        return self.astype(dtype)

    # --- autograd -------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``; frees the graph unless ``retain_graph``."""
        from .autograd.engine import backward  # noqa: PLC0415
        backward(self, None if gradient is None else [gradient], retain_graph or create_graph, create_graph)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if self._node is not None:
            if self._node.retained is None:
                self._node.retained = {}
            self._node.retained[self._nr] = self
        return self

    # --- in-place ---------------------------------------------------------------------------
    # Outside a graph an in-place op writes the array and bumps the version counter. Where autograd must see it
    # (this tensor is part of a graph, or the value requires grad: ``out += residual``, ``h.relu_()``,
    # ``buf[:, t] = h``) the op is recorded as PyTorch does: the out-of-place op runs on the old values and the
    # tensor takes the result and its place in the graph (see ``_record_inplace``).
    def _inplace(self, op, other=None):
        """Check an in-place ``op`` on this tensor; True where it must be recorded (see ``_record_inplace``)."""
        record = False
        if is_grad_enabled():
            base = self._base
            value_rg = isinstance(other, Tensor) and other._rg
            if self._rg or value_rg or (base is not None and base._rg):
                leaf = self._node is None and self._rg
                if leaf or (base is not None and base._node is None and base._rg):
                    what = "a leaf tensor that requires grad" if leaf and base is None else \
                        "a view of a leaf tensor that requires grad"
                    raise RuntimeError(f"{op}: in-place change of {what} (shape {self.shape}) would make gradients "
                                       "wrong; do it under md.no_grad() or on a .clone()d copy")
                if base is not None:
                    raise RuntimeError(f"{op}: in-place change of a view (shape {self.shape}) where the tensor or the "
                                       "value is part of a graph: minidl's autograd records in-place changes of whole "
                                       "tensors only (its gradient would be lost); write through the tensor itself "
                                       "(t[key] = value) or build the result out of place (md.cat, md.where, ...)")
                record = True
        arr = self.array
        if any(st == 0 and n > 1 for st, n in zip(arr.strides, arr.shape)):
            raise RuntimeError(f"{op}: several elements of the tensor (shape {self.shape}, strides {arr.strides}) "
                               "share one memory location (an expand/broadcast_to view); .clone() it first")
        if not getattr(arr.flags, "writeable", True):
            raise RuntimeError(f"{op}: the tensor (shape {self.shape}) views read-only memory; .clone() it first")
        if not record:
            self._version += 1
        return record

    def _record_inplace(self, fn):
        """Run ``fn(old)`` recorded and make this tensor its result.

        ``old`` is this tensor as it was: its values and its old node. The result takes this tensor's place with
        new memory rather than being written into the old: ops that kept the old values for their backward (many
        keep the raw array of their output) stay right. So, unlike PyTorch, tensors that shared the old memory (a
        ``.detach()``, ``.data``, a view taken before) keep the old values. The version counter moves, so a backward
        that saved this tensor itself fails clearly, as in PyTorch.
        """
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"in-place op: a {self.dtype.name} tensor (shape {self.shape}) cannot take a result "
                               "that requires grad (only floating point tensors carry gradients)")
        old = Tensor._wrap(self.array)
        old._node, old._nr, old._rg = self._node, self._nr, self._rg
        out = fn(old)
        if out.array.dtype != self.array.dtype:
            out = out.astype(self.dtype)
        if out.shape != self.shape:
            raise RuntimeError(f"in-place op: the result's shape {out.shape} does not match the tensor's "
                               f"{self.shape} (the other operand broadcasts it larger)")
        self.array = out.array
        self._version += 1
        self._node, self._nr, self._rg = out._node, out._nr, out._rg
        return self

    def _value(self, other, op=None):
        """An in-place operand as a scalar or an array on this tensor's device.

        Host data (lists, NumPy arrays, one-element CPU tensors) is copied over; for the arithmetic ops (``op``
        given) a tensor with several elements on another device is an error, as for out-of-place ops.
        """
        if isinstance(other, Tensor):
            if op is not None and other.device != self.device and (other.device.type != "cpu" or other.numel() != 1):
                raise RuntimeError(f"{op}: expected both tensors on one device, got {self.device} and {other.device} "
                                   f"(shapes {self.shape} and {other.shape}); move one with .to()")
            other = other.array
        elif isinstance(other, (int, float, bool)):
            return other
        return move(other if hasattr(other, "dtype") else np.asarray(other), self.device)

    def zero_(self):
        """Fill with zeros in place."""
        return self.fill_(0)

    def fill_(self, value):
        if self._inplace("fill_", value):
            return self._record_inplace(lambda old: _inplace_ops().setitem(old, Ellipsis, value))
        self.array[...] = self._value(value)
        return self

    def copy_(self, src):
        if self._inplace("copy_", src):
            return self._record_inplace(lambda old: _inplace_ops().setitem(old, Ellipsis, src))
        self.array[...] = self._value(src)
        return self

    def add_(self, other, alpha=1):
        if self._inplace("add_", other):
            return self._record_inplace(lambda old: _inplace_ops().add(old, other, alpha=alpha))
        value = self._inplace_operand("add_", other)
        if alpha != 1:
            if value.dtype.kind != "f" and not isinstance(alpha, (int, np.integer)):
                raise RuntimeError(f"add_: alpha must be an integer for {value.dtype} operands, got {alpha!r}")
            # alpha in the operand's dtype: -1 becomes 255 for uint8, which subtracts modulo 256 as PyTorch does
            value = value * array_module(value).asarray(alpha).astype(value.dtype)
        self.array += value
        return self

    def sub_(self, other, alpha=1):
        if self.dtype is dtypes.bool_ or isinstance(other, (bool, np.bool_)) or \
                (isinstance(other, Tensor) and other.dtype is dtypes.bool_):
            raise RuntimeError("sub_: subtraction with a bool operand is not supported, as in PyTorch; use ~ "
                               "(logical_not) or ^ (logical_xor), or convert with .long() first")
        return self.add_(other, alpha=-alpha)

    def mul_(self, other):
        if self._inplace("mul_", other):
            return self._record_inplace(lambda old: old * other)
        self.array *= self._inplace_operand("mul_", other)
        return self

    def div_(self, other):
        if self._inplace("div_", other):
            return self._record_inplace(lambda old: old / other)
        value = self._inplace_operand("div_", other, true_division=True)
        self.array /= value
        return self

    def _inplace_operand(self, op, other, true_division=False):
        """``other`` for ``self op= other``: checked by PyTorch's rule (the result type must cast to this
        tensor's dtype: ``int_tensor += 1.5`` raises) and converted to the type the op computes in."""
        value = self._value(other, op)
        rt = dtypes.inplace_dtype(op, self, other if isinstance(other, (Tensor, int, float, bool)) else value,
                                  true_division)
        if isinstance(value, (int, float, bool)):
            return array_module(self.array).asarray(value).astype(rt.np)     # out-of-range ints wrap, as PyTorch
        return value if value.dtype == rt.np else value.astype(rt.np)

    def __setitem__(self, key, value):
        from .ops.movement import normalize_index  # noqa: PLC0415
        if self._inplace("__setitem__", value):
            self._record_inplace(lambda old: _inplace_ops().setitem(old, key, value))
            return
        self.array[normalize_index(key, self)] = self._value(value)

    # --- display --------------------------------------------------------------------------
    def __repr__(self):
        from .settings import array2string_options  # noqa: PLC0415
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", **array2string_options())
        extra = []
        if self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extra.append(f"dtype={self.dtype!r}")
        if self.device.type != "cpu":
            extra.append(f"device='{self.device}'")
        if self._node is not None:
            extra.append(f"grad_fn={self._node!r}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return f"tensor({body}{''.join(', ' + e for e in extra)})"

    __hash__ = object.__hash__          # == is elementwise, so hash by identity


def _xp_of(device):
    from .device import xp_for  # noqa: PLC0415
    return xp_for(device)


def _inplace_ops():
    from .ops import inplace  # noqa: PLC0415  (ops import this module)
    return inplace


# --- issue 14: programs (vis): shared memory for multiprocessing (Hogwild) ---
def _share_memory_(self):
    """Move the values into shared memory, in place, so processes this tensor is sent to (``md.multiprocessing``)
    see one copy; a no-op on a GPU tensor or one already shared.

    Example:
        >>> t = md.zeros(3).share_memory_(); t.is_shared()
        True
    """
    from .multiprocessing import share_memory_  # noqa: PLC0415 -- loads Python's multiprocessing only when asked
    return share_memory_(self)


def _is_shared(self):
    """Whether the values live in shared memory (``share_memory_``, or received from another process)."""
    from .multiprocessing import is_shared  # noqa: PLC0415
    return is_shared(self)


Tensor.share_memory_, Tensor.is_shared = _share_memory_, _is_shared
