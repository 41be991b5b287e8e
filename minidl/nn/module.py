"""``Module``: the base class of layers and models (parameters, buffers, submodules, state dicts)."""
from collections import OrderedDict, namedtuple

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..device import Device, move
from ..tensor import Tensor
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _shape_of(v):
    return tuple(getattr(v, "shape", np.shape(v)))


class Module:
    """Base class of every layer and model.

    Assigning a ``Parameter``, a ``Module`` or (through ``register_buffer``) a Tensor to an attribute registers it,
    so ``parameters()``, ``state_dict()``, ``to()`` and ``train()``/``eval()`` see it. Subclasses call
    ``super().__init__()`` first and define ``forward``; calling the module runs ``forward``.

    Example:
        >>> class Net(md.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = md.nn.Linear(4, 2)
        ...     def forward(self, x):
        ...         return self.fc(x).relu()
        >>> Net()(md.randn(3, 4)).shape
        (3, 2)
    """

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()

    # --- registration -------------------------------------------------------------------------------------------
    def _registry(self):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning parameters, "
                                 "buffers or submodules")
        return self._parameters, self._buffers, self._modules

    def _check_name(self, kind, name):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{type(self).__name__}: {kind} name must be a non-empty string without '.', got {name!r}")
        params, buffers, modules = self._registry()
        if hasattr(self, name) and name not in params and name not in buffers and name not in modules:
            raise KeyError(f"{type(self).__name__}: attribute {name!r} already exists")

    def register_parameter(self, name, param):
        """Register ``param`` (a ``Parameter`` or None) under ``name``."""
        self._check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(param).__name__} as parameter {name!r} "
                            "(a Parameter or None is required)")
        self._discard(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a Tensor (or None) that is state but not a parameter, e.g. BatchNorm's running mean.

        Persistent buffers are part of ``state_dict()``.
        """
        self._check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(tensor).__name__} as buffer {name!r} "
                            "(a Tensor or None is required)")
        self._discard(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Register a submodule (or None) under ``name``."""
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"{type(self).__name__}: module name must be a non-empty string without '.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {type(module).__name__} is not a Module")
        self._registry()
        self._discard(name)
        self._modules[name] = module

    register_module = add_module

    def _discard(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to parameter {name!r} "
                                "(a Parameter or None is required)")
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to buffer {name!r}")
            self._buffers[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to submodule {name!r}")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):     # only called when normal lookup fails
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if any(name in s for s in (self._parameters, self._buffers, self._modules)):
            self._discard(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # --- calling ------------------------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Module must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- traversal ----------------------------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Yield (qualified name, module) for this module and every descendant, depth first, each once."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """(name, module) of the direct submodules."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, v in getattr(m, store).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield (f"{mprefix}.{name}" if mprefix else name), v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(qualified name, Parameter) pairs; a parameter shared by two modules appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, only_trainable=False):
        """Total number of parameter elements (those that require grad only, with ``only_trainable``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule (children first) and then on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ------------------------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``training=True``) on this module and every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        """Set evaluation mode (Dropout off, BatchNorm uses running statistics); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Drop (``set_to_none``) or zero the ``.grad`` of every parameter."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = p.grad.detach()
                    p.grad.array[...] = 0

    # --- devices and dtypes -------------------------------------------------------------------------------------
    def _convert(self, fn):
        """Replace every parameter's and buffer's array by ``fn(array)`` in place, keeping the Tensor objects."""
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is None:
                        continue
                    t.array = fn(t.array)
                    if t.grad is not None:
                        t.grad.array = fn(t.grad.array)
        return self

    def to(self, *args, dtype=None, device=None):
        """``to("cuda")``, ``to(md.float64)``, ``to("cpu", md.float32)``: move/cast parameters and buffers in place.

        Only floating tensors change dtype (``num_batches_tracked`` stays int64). Returns self.
        """
        for a in args:
            if isinstance(a, (Device, str)) and str(a).split(":")[0] in ("cpu", "cuda"):
                device = a
            elif isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            else:
                dtype = a
        npdt = None if dtype is None else dtypes.to_dtype(dtype).np
        if npdt is not None and npdt.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: only floating dtypes are allowed, got {dtype}")

        def fn(arr):
            if npdt is not None and arr.dtype.kind == "f" and arr.dtype != npdt:
                arr = arr.astype(npdt)
            return arr if device is None else move(arr, Device(device))
        return self._convert(fn)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    # --- state dicts --------------------------------------------------------------------------------------------
    def _state_items(self):
        """(qualified name, Tensor) of every parameter and persistent buffer, in registration order."""
        for prefix, m in self.named_modules(remove_duplicate=False):
            dot = prefix + "." if prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    yield dot + name, p
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    yield dot + name, b

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An ``OrderedDict`` of qualified name -> Tensor for every parameter and persistent buffer.

        Values are detached Tensors sharing memory with the module (``keep_vars=True``: the Parameters themselves).
        Keys, order and shapes are PyTorch's, so ``{k: v.numpy() for k, v in sd.items()}`` of either framework
        loads into the other's same model.
        """
        out = OrderedDict() if destination is None else destination
        for name, t in self._state_items():
            out[prefix + name] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (Tensors, NumPy arrays or anything ``np.asarray`` takes) into this
        module's parameters and buffers, in place, cast to their dtypes.

        A value whose shape differs from the module's is always an error. With ``strict`` (the default) missing or
        unexpected keys are errors too; the error lists every offending key with its shape. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        for k, t in own.items():
            if k in state_dict and _shape_of(state_dict[k]) != t.shape:
                problems.append(f"  {k}: checkpoint shape {_shape_of(state_dict[k])}, model shape {t.shape}")
        if strict:
            problems += [f"  missing key {k} (model shape {own[k].shape})" for k in missing]
            problems += [f"  unexpected key {k} (shape {_shape_of(state_dict[k])})" for k in unexpected]
        if problems:
            raise RuntimeError(f"{type(self).__name__}.load_state_dict: the state dict does not fit the model:\n"
                               + "\n".join(problems))
        with no_grad():
            for k, t in own.items():
                if k in state_dict:
                    v = state_dict[k]
                    arr = v.array if isinstance(v, Tensor) else np.asarray(v)
                    t.array[...] = move(arr, t.device).astype(t.array.dtype, copy=False)
                    t._version += 1
        return IncompatibleKeys(missing, unexpected)

    # --- display ------------------------------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses in ``repr``; layers override it."""
        return ""

    def __repr__(self):
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
