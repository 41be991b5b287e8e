"""Every differentiable op, and the installation of Tensor's operators and methods.

The table at the bottom is the only place a Tensor method is bound to an op.
"""
from ..tensor import Tensor
from .conv import avg_pool2d, conv2d, max_pool2d
from .elementwise import (abs, add, astype, clamp, cos, div, eq, erf, exp, ge, gelu, gt, isfinite, isnan, le,
                          leaky_relu, log, logical_and, logical_not, logical_or, logical_xor, lt, maximum, minimum,
                          mul, ne, neg, pow, relu, sigmoid, sign, sin, softplus, sqrt, sub, tanh, where)
from .linalg import matmul
from .movement import (T, broadcast_to, cat, chunk, clone, concatenate, contiguous, expand, flatten, getitem, narrow,
                       permute, reshape, split, squeeze, stack, to_device, transpose, unsqueeze, view)
from .norm import batch_norm, layer_norm
from .reduce import (all, any, argmax, argmin, log_softmax, logsumexp, max, mean, min, softmax, std, sum, var)
from . import extra as _extra
from .einsum import einsum
from .extra import (Size, amax, amin, argsort, bmm, cumsum, flip, gather, index_select, is_tensor, masked_fill, mm,
                    multinomial, norm, numel, prod, repeat, roll, scatter, scatter_add, sort, square, t, topk, tril,
                    triu, unbind, inference_mode, is_inference_mode_enabled)

__all__ = ["T", "abs", "add", "all", "any", "argmax", "argmin", "astype", "avg_pool2d", "batch_norm", "broadcast_to",
           "cat", "chunk", "clamp", "clone", "concatenate", "contiguous", "conv2d", "cos", "div", "eq", "erf", "exp",
           "expand", "flatten", "ge", "gelu", "getitem", "gt", "isfinite", "isnan", "layer_norm", "le", "leaky_relu",
           "log", "log_softmax", "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp", "lt",
           "matmul", "max", "max_pool2d", "maximum", "mean", "min", "minimum", "mul", "narrow", "ne", "neg",
           "permute", "pow", "relu", "reshape", "sigmoid", "sign", "sin", "softmax", "softplus", "split", "sqrt",
           "squeeze", "stack", "std", "sub", "sum", "tanh", "to_device", "transpose", "unsqueeze", "var", "view",
           "where"]
__all__ += ["amax", "amin", "argsort", "bmm", "cumsum", "flip", "gather", "index_select", "is_tensor",
            "masked_fill", "mm", "multinomial", "norm", "numel", "prod", "repeat", "roll", "scatter", "scatter_add",
            "sort", "square", "t", "topk", "tril", "triu", "unbind", "einsum", "Size", "inference_mode",
            "is_inference_mode_enabled"]


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _inplace(method):
    def op(self, other):
        return getattr(self, method)(other)
    return op


_METHODS = {
    # operators
    "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div, "__rtruediv__": _reflected(div),
    "__pow__": pow, "__rpow__": _reflected(pow), "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": neg, "__pos__": lambda self: self, "__abs__": abs, "__getitem__": getitem,
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__and__": logical_and, "__or__": logical_or, "__xor__": logical_xor, "__invert__": logical_not,
    # x += y changes x in place, as in PyTorch (so ``p -= lr * g`` updates a parameter)
    "__iadd__": _inplace("add_"), "__isub__": _inplace("sub_"), "__imul__": _inplace("mul_"),
    "__itruediv__": _inplace("div_"),
    # math
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "matmul": matmul,
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "sin": sin, "cos": cos, "tanh": tanh, "sigmoid": sigmoid,
    "relu": relu, "leaky_relu": leaky_relu, "gelu": gelu, "softplus": softplus, "erf": erf, "clamp": clamp,
    "clip": clamp, "maximum": maximum, "minimum": minimum, "sign": sign, "isnan": isnan, "isfinite": isfinite,
    "logical_not": logical_not, "logical_and": logical_and, "logical_or": logical_or, "logical_xor": logical_xor,
    "where": lambda self, condition, other: where(condition, self, other),
    "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
    # reductions
    "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "argmax": argmax, "argmin": argmin,
    "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax, "all": all, "any": any,
    # shape
    "reshape": reshape, "view": view, "flatten": flatten, "squeeze": squeeze, "unsqueeze": unsqueeze,
    "transpose": transpose, "permute": permute, "expand": expand, "broadcast_to": broadcast_to,
    "expand_as": lambda self, other: expand(self, other.shape),
    "view_as": lambda self, other: reshape(self, other.shape),
    "split": split, "chunk": chunk, "narrow": narrow, "clone": clone, "contiguous": contiguous, "astype": astype,
    "type_as": lambda self, other: astype(self, other.dtype),
    # more of PyTorch's tensor methods (ops/extra.py)
    "t": t, "mm": mm, "bmm": bmm, "masked_fill": masked_fill, "masked_fill_": _extra.masked_fill_,
    "index_select": index_select, "gather": gather, "scatter": scatter, "scatter_": _extra.scatter_,
    "scatter_add": scatter_add, "scatter_add_": _extra.scatter_add_, "repeat": repeat, "tril": tril, "triu": triu,
    "flip": flip, "roll": roll, "unbind": unbind, "cumsum": cumsum, "prod": prod, "square": square, "norm": norm,
    "topk": topk, "sort": sort, "argsort": argsort, "amax": amax, "amin": amin,
    "new_zeros": _extra.new_zeros, "new_ones": _extra.new_ones, "new_full": _extra.new_full,
    "new_empty": _extra.new_empty, "new_tensor": _extra.new_tensor, "uniform_": _extra.uniform_,
    "normal_": _extra.normal_, "clamp_": _extra.clamp_, "clip_": _extra.clamp_,
    "is_contiguous": _extra.is_contiguous, "data_ptr": _extra.data_ptr, "register_hook": _extra.register_hook,
    "size": _extra._size_of,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.shape = property(_extra._shape)       # md.Size, as torch.Size
Tensor.T = property(T)
Tensor.mT = property(lambda self: transpose(self, -2, -1))

# --- issue 14, dtypes: rounded division and remainders (PyTorch's promotion in elementwise.operands) ---------
from .. import dtypes as _dtypes  # noqa: E402
from .elementwise import divide, floor_divide, fmod, remainder, true_divide  # noqa: E402

__all__ += ["divide", "floor_divide", "fmod", "remainder", "true_divide"]


def _inplace_from(fn, name):
    """``t.name_(other)``: ``fn``'s result written into ``t``, which keeps its dtype (PyTorch's cast rule)."""
    def method(self, other):
        _dtypes.inplace_dtype(name, self, other if isinstance(other, (Tensor, int, float, bool)) else self)
        if self._inplace(name, other):
            return self._record_inplace(lambda old: fn(old, other))
        out = fn(self.detach(), other.detach() if isinstance(other, Tensor) else other)
        self.array[...] = out.array
        return self
    method.__name__ = name
    return method


for _name, _fn in {"__floordiv__": floor_divide, "__rfloordiv__": _reflected(floor_divide),
                   "__mod__": remainder, "__rmod__": _reflected(remainder),
                   "floor_divide": floor_divide, "remainder": remainder, "fmod": fmod,
                   "divide": divide, "true_divide": true_divide,
                   "floor_divide_": _inplace_from(floor_divide, "floor_divide_"),
                   "remainder_": _inplace_from(remainder, "remainder_"), "fmod_": _inplace_from(fmod, "fmod_"),
                   "__ifloordiv__": _inplace("floor_divide_"), "__imod__": _inplace("remainder_")}.items():
    setattr(Tensor, _name, _fn)
