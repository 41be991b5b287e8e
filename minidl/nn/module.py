"""``Module``: the base class of layers and models (parameters, buffers, submodules, state dicts)."""
from collections import OrderedDict, namedtuple

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..device import Device, move
from ..tensor import Tensor
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _shape_of(v):
    return tuple(getattr(v, "shape", np.shape(v)))


class _HookInputs(Function):
    """Identity on the module's Tensor inputs whose backward runs the full backward hooks on their gradients."""

    @staticmethod
    def forward(ctx, state, *xs):
        ctx.state = state
        return xs

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.state.fire(grads))


class _HookOutputs(Function):
    """Identity on the module's Tensor outputs whose backward records their gradients (``grad_output``)."""

    @staticmethod
    def forward(ctx, state, *ys):
        ctx.state = state
        return ys

    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        state.grad_outputs = grads
        if not state.inputs_wrapped:        # no input needs a gradient: the hooks run now, grad_input all None
            state.fire((None,) * state.n_inputs)
        return (None, *grads)


class _BackwardHooks:
    """One forward call's bookkeeping for ``register_full_backward_hook``."""

    def __init__(self, module):
        self.module, self.grad_outputs, self.inputs_wrapped, self.n_inputs = module, (), False, 0
        self.positions = []

    def wrap_inputs(self, args):
        self.positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(self.positions)
        if not any(args[i].requires_grad for i in self.positions):
            return args
        self.inputs_wrapped = True
        wrapped = _HookInputs.apply(self, *[args[i] for i in self.positions])
        args = list(args)
        for i, t in zip(self.positions, wrapped):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, out):
        single = isinstance(out, Tensor)
        outs = (out,) if single else out
        if not isinstance(outs, tuple) or not any(isinstance(o, Tensor) and o.requires_grad for o in outs):
            return out
        idx = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        wrapped = _HookOutputs.apply(self, *[outs[i] for i in idx])
        outs = list(outs)
        for i, t in zip(idx, wrapped):
            outs[i] = t
        return outs[0] if single else tuple(outs)

    def fire(self, grads):
        """Run the module's hooks on ``grads`` (grad_input); each may return replacements."""
        grads = tuple(grads)
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, grads, self.grad_outputs)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grads):
                    raise RuntimeError(f"{type(self.module).__name__}: a full backward hook returned {len(result)} "
                                       f"gradients for {len(grads)} inputs")
                grads = result
        return grads


class RemovableHandle:
    """What ``register_forward_hook`` and friends return: ``remove()`` unregisters the hook (also on leaving a
    ``with`` block).

    Example:
        >>> with net.register_forward_hook(lambda m, a, out: print(out.shape)):
        ...     net(x)
    """

    _next_id = 0

    def __init__(self, hooks, with_kwargs):
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1
        self._hooks, self._with_kwargs = hooks, with_kwargs

    def remove(self):
        """Unregister the hook (a second call does nothing)."""
        self._hooks.pop(self.id, None)
        self._with_kwargs.discard(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


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
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_hooks_with_kwargs"] = set()
        d["_backward_hooks"] = OrderedDict()

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
        self._discard(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a Tensor (or None) that is state but not a parameter, e.g. BatchNorm's running mean.

        Persistent buffers are part of ``state_dict()``.
        """
        self._check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(tensor).__name__} as buffer {name!r} "
                            "(a Tensor or None is required)")
        self._discard(name, keep=self._buffers)
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
        self._discard(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    def _discard(self, name, keep=None):
        """Forget ``name`` everywhere but in ``keep``, where re-assigning keeps its place (as in PyTorch, so
        replacing ``model.fc`` leaves ``state_dict()`` and ``repr`` order unchanged)."""
        for store in (self._parameters, self._buffers, self._modules):
            if store is not keep:
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
        d = self.__dict__
        if d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks"):
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        """Run the forward pre-hooks, forward and the forward hooks, letting each replace the input or output."""
        with_kwargs = self._hooks_with_kwargs
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{type(self).__name__}: a forward pre-hook registered with_kwargs=True "
                                           f"must return None or (args, kwargs), got {type(result).__name__}")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward = _BackwardHooks(self) if self.__dict__.get("_backward_hooks") and is_grad_enabled() else None
        if backward is not None:
            args = backward.wrap_inputs(args)
        out = self.forward(*args, **kwargs)
        if backward is not None:
            out = backward.wrap_outputs(out)
        for hid, hook in list(self._forward_hooks.items()):
            result = hook(self, args, kwargs, out) if hid in with_kwargs else hook(self, args, out)
            if result is not None:
                out = result
        return out

    def _add_hook(self, store, hook, prepend, with_kwargs, kind):
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.register_{kind}: hook must be callable, got {type(hook).__name__}")
        d = self.__dict__
        if store not in d:      # a module whose __init__ predates hooks (e.g. unpickled from an older version)
            d[store] = OrderedDict()
            d.setdefault("_hooks_with_kwargs", set())
        handle = RemovableHandle(d[store], self._hooks_with_kwargs)
        d[store][handle.id] = hook
        if prepend:
            d[store].move_to_end(handle.id, last=False)
        if with_kwargs:
            self._hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """Call ``hook(module, args)`` before every forward; a non-None result replaces the positional inputs
        (a non-tuple is wrapped in one). With ``with_kwargs``: ``hook(module, args, kwargs)`` returning None or
        ``(args, kwargs)``. Returns a handle whose ``remove()`` unregisters the hook.

        Example:
            >>> h = net.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
            >>> h.remove()
        """
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs, "forward_pre_hook")

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """Call ``hook(module, args, output)`` after every forward; a non-None result replaces the output.
        With ``with_kwargs``: ``hook(module, args, kwargs, output)``. Returns a handle with ``remove()``.

        Example:
            >>> feats = {}
            >>> h = net[0].register_forward_hook(lambda m, args, out: feats.update(first=out.detach()))
            >>> _ = net(x); h.remove()
        """
        if always_call:
            raise NotImplementedError(f"{type(self).__name__}.register_forward_hook: always_call=True (running the "
                                      "hook when forward raises) is not supported")
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs, "forward_hook")

    def register_full_backward_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to the module's positional
        Tensor inputs have been computed (tuples; None for inputs that need no gradient). A non-None result (a
        tuple like ``grad_input``) replaces those gradients. Returns a handle with ``remove()``.

        Example:
            >>> grads = {}
            >>> h = layer.register_full_backward_hook(lambda m, gin, gout: grads.update(out=gout[0]))
        """
        return self._add_hook("_backward_hooks", hook, prepend, False, "full_backward_hook")

    def register_backward_hook(self, hook):
        raise NotImplementedError(f"{type(self).__name__}.register_backward_hook: the deprecated non-full backward "
                                  "hook is not supported; use register_full_backward_hook")

    # --- lookup by qualified name -------------------------------------------------------------------------------
    def get_submodule(self, target):
        """The submodule at dotted path ``target`` ("" is self), e.g. ``net.get_submodule("encoder.0")``.

        Example:
            >>> md.nn.Sequential(md.nn.Linear(2, 2)).get_submodule("0")
            Linear(in_features=2, out_features=2, bias=True)
        """
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if item not in mod.__dict__.get("_modules", {}):
                if hasattr(mod, item):
                    raise AttributeError(f"{type(self).__name__}.get_submodule({target!r}): `{item}` is not an "
                                         "nn.Module")
                raise AttributeError(f"{type(self).__name__}.get_submodule({target!r}): {type(mod).__name__} has no "
                                     f"attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def _get_member(self, target, store, kind):
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in getattr(mod, store):
            raise AttributeError(f"{type(self).__name__}.get_{kind}({target!r}): {type(mod).__name__} has no "
                                 f"{kind} `{name}`")
        return getattr(mod, store)[name]

    def get_parameter(self, target):
        """The Parameter at dotted path ``target``, e.g. ``net.get_parameter("0.weight")``."""
        return self._get_member(target, "_parameters", "parameter")

    def get_buffer(self, target):
        """The buffer at dotted path ``target``, e.g. ``net.get_buffer("1.running_mean")``."""
        return self._get_member(target, "_buffers", "buffer")

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


# --- issue 14: programs (vis) ---
def _share_memory(self):
    """Move every parameter, existing gradient and buffer into shared memory (``Tensor.share_memory_``), so the
    processes this module is sent to through ``md.multiprocessing`` train the same weights (Hogwild). Returns
    the module.

    Example:
        >>> model.share_memory(); mp.Process(target=train, args=(model,)).start()
    """
    for p in self.parameters():
        p.share_memory_()
        if p.grad is not None:
            p.grad.share_memory_()
    for b in self.buffers():
        b.share_memory_()
    return self


Module.share_memory = _share_memory
