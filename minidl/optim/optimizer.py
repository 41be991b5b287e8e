"""The optimizer base class: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

Updates run directly on ``p.array`` (a NumPy or CuPy array), so no graph is recorded and the
state arrays live on the parameter's device. Subclasses write ``_step_group(group, params, grads,
states)``, which hands every parameter of the group to one update kernel of ``minidl.backends``
(``sgd_step``, ``adam_step``, ...): the native provider updates them all in one fused pass; the
reference has PyTorch's single-tensor order of floating-point operations.
"""
import warnings

import numpy as np

from .. import backends
from ..autograd.grad_mode import enable_grad
from ..backends import reference
from ..device import array_module, move
from ..tensor import Tensor


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _fusable(arrays):
    """Whether every array of the lists ``arrays`` is a writeable C-contiguous NumPy array of one float dtype."""
    dtype = None
    for group in arrays:
        for a in group:
            if type(a) is not np.ndarray:
                return False
            if dtype is None:
                dtype = a.dtype
                if dtype != np.float32 and dtype != np.float64:
                    return False
            flags = a.flags
            if a.dtype != dtype or not flags.c_contiguous or not flags.writeable:
                return False
    return True


def _check(cond, message):
    if not cond:
        raise ValueError(message)


def check_implementation_flags(name, differentiable):
    """PyTorch's ``foreach``/``fused``/``capturable`` pick among implementations that give the same update, so
    minidl's one implementation serves them all; ``differentiable=True`` (autograd through the update) is refused."""
    if differentiable:
        raise NotImplementedError(f"{name}: differentiable=True (autograd through the optimizer step) is not "
                                  "supported")


class Optimizer:
    """Base class of every optimizer.

    Args:
        params: an iterable of Tensors, or of dicts (param groups) each holding ``"params"`` and optional
            per-group hyperparameters that override ``defaults``.
        defaults: the hyperparameters a group gets when it does not name them.

    Example:
        >>> opt = md.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.1}], lr=0.01)
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}                     # param Tensor -> dict (Tensors hash by identity)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a Tensor")
        if isinstance(params, dict):
            params = [params]
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyperparameters (e.g. a layer unfrozen mid-training).

        Example:
            >>> opt.add_param_group({"params": [head.weight], "lr": 1e-3})
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        elif params is None:
            raise ValueError("param_group must have a 'params' entry")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is {type(p).__name__}")
            if not p.dtype.is_floating_point:
                raise ValueError(f"optimizer can only optimize floating point Tensors, but params[{i}] has dtype "
                                 f"{p.dtype.name} (shape {p.shape})")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor: params[{i}] of shape {p.shape} was computed by "
                                 f"{p.grad_fn!r}; optimize the leaf it came from, or .detach() it")
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error", UserWarning, stacklevel=3)
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter "
                                 f"{name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        """Validate a group's hyperparameters (subclasses raise ValueError with PyTorch's wording)."""

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to ``None`` (default, frees memory) or to zeros in place.

        Example:
            >>> opt.zero_grad()                     # p.grad is None afterwards
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.grad_fn is not None:   # a create_graph gradient: cut it from its graph
                    p.grad = Tensor._wrap(array_module(p.grad.array).zeros_like(p.grad.array))
                else:
                    p.grad.array[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss when a closure is given.

        Args:
            closure: optional callable that re-evaluates the model and returns the loss (run with grad enabled).

        Example:
            >>> loss = model(x).sum(); loss.backward(); opt.step()
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            tensors, params, grads, states = [], [], [], []
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                param, grad = p.array, grad.array
                if grad.shape != param.shape:
                    raise ValueError(f"{type(self).__name__}.step: gradient of shape {tuple(grad.shape)} does not "
                                     f"match its parameter of shape {p.shape}")
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self._init_state(p, group)
                tensors.append(p)
                params.append(param)
                grads.append(grad)
                states.append(state)
            if tensors:
                self._step_group(group, params, grads, states)
                for p in tensors:
                    p._version += 1        # an in-place change: graphs that saved p must notice
        return loss

    def _step_group(self, group, params, grads, states):
        """Update the parameters of one group that have gradients (arrays; ``states`` are their state dicts)."""
        raise NotImplementedError

    @staticmethod
    def _advance(states):
        """Count this step in each state; the counts (float64 array), as the update kernels take them."""
        for state in states:
            state["step"] += 1
        return np.array([state["step"] for state in states], dtype=np.float64)

    @staticmethod
    def _run(kernel, first, arrays, *scalars):
        """Run update kernel ``kernel(first, *arrays, *scalars)`` of ``minidl.backends``: the dispatched (fused,
        native) one when every array is a C-contiguous NumPy array of one float dtype and a provider has it, else
        the reference, which loops over the parameters and takes any arrays (CuPy, mixed dtypes, strided)."""
        if _fusable(arrays) and backends.supports(kernel):
            backends.dispatch(kernel, first, *arrays, *scalars)
        else:
            getattr(reference, kernel)(first, *arrays, *scalars)

    def _init_state(self, p, group):
        raise NotImplementedError

    # --- state dicts (PyTorch's layout: state keyed by parameter index) ---------------------------------
    def state_dict(self):
        """The optimizer's state as ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        Indices number the parameters across groups in order. State arrays are returned as copies
        wrapped in Tensors, so saving a state dict and training on leaves it unchanged.

        Example:
            >>> sd = opt.state_dict(); opt2.load_state_dict(sd)
        """
        index, groups = {}, []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: Tensor._wrap(v.copy()) if hasattr(v, "shape") else v
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict from ``state_dict()`` (or PyTorch's): values may be Tensors, arrays or numbers.

        State arrays are copied to each parameter's device and floating dtype.

        Example:
            >>> opt.load_state_dict(saved["optimizer"])
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        for i, (g, s) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"loaded state dict's parameter group {i} has {len(s['params'])} parameters, the "
                                 f"optimizer's has {len(g['params'])}")
        by_index = {}
        for g, s in zip(self.param_groups, saved_groups):
            by_index.update(zip(s["params"], g["params"]))
        new_state = {}
        for idx, entry in state_dict["state"].items():
            p = by_index.get(int(idx))
            if p is None:
                raise ValueError(f"loaded state dict has state for parameter {idx}, which no group holds")
            new_state[p] = {k: self._load_value(k, v, p) for k, v in entry.items()}
        self.state = new_state
        for g, s in zip(self.param_groups, saved_groups):
            params = g["params"]
            g.clear()
            g.update({k: v for k, v in s.items() if k != "params"}, params=params)

    @staticmethod
    def _load_value(key, value, p):
        if key == "step":
            return float(value)
        if isinstance(value, Tensor):
            value = value.array
        if hasattr(value, "shape") or isinstance(value, (list, tuple)):
            arr = value if hasattr(value, "dtype") else np.asarray(value)
            if not hasattr(arr, "__array_interface__") and not hasattr(arr, "__cuda_array_interface__"):
                arr = np.asarray(arr)       # e.g. a torch tensor
            if arr.dtype.kind == "f":
                arr = arr.astype(p.array.dtype)
            return move(arr, p.device).copy()
        return value
