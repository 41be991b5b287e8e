"""Containers (``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``) and shape
layers (``Flatten``, ``Unflatten``)."""
import operator
from collections import OrderedDict

from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


def _index(container, idx):
    n = len(container)
    i = operator.index(idx)
    if not -n <= i < n:
        raise IndexError(f"{type(container).__name__}: index {i} is out of range for {n} modules")
    return i % n


class Sequential(Module):
    """Modules applied one after another; built from modules or from an ``OrderedDict`` of named modules.

    Supports ``len``, iteration, indexing (a slice gives a new ``Sequential``), ``append``.

    Example:
        >>> net = md.nn.Sequential(md.nn.Linear(4, 8), md.nn.ReLU(), md.nn.Linear(8, 2))
        >>> net(md.randn(3, 4)).shape, len(net), net[0]
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(self, idx)]

    def __setitem__(self, idx, module):
        self.add_module(list(self._modules)[_index(self, idx)], module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for k in (keys[idx] if isinstance(idx, slice) else [keys[_index(self, idx)]]):
            del self._modules[k]
        # keep names 0..n-1, as PyTorch does after a deletion
        items = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain Python list would hide them).

    Example:
        >>> layers = md.nn.ModuleList([md.nn.Linear(4, 4) for _ in range(3)])
        >>> len(layers), layers[-1]
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(_index(self, idx))]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(self, idx)), module)

    def __delitem__(self, idx):
        items = list(self._modules.values())
        del items[idx if isinstance(idx, slice) else _index(self, idx)]
        self._modules.clear()
        self.extend(items)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        self.extend(items)

    def __iadd__(self, modules):
        return self.extend(modules)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward: iterate over it and call the modules yourself")


class Flatten(Module):
    """Flatten dims ``start_dim``..``end_dim`` into one (default: everything but the batch dim).

    Example:
        >>> md.nn.Flatten()(md.zeros(2, 3, 4, 5)).shape
        (2, 60)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (which may hold one -1).

    Example:
        >>> md.nn.Unflatten(1, (3, 4))(md.zeros(2, 12)).shape
        (2, 3, 4)
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim if -x.ndim <= self.dim < x.ndim else None
        if d is None:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for input of shape {x.shape}")
        sizes = list(self.unflattened_size)
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        if sizes.count(-1) > 1 or (-1 not in sizes and known != x.shape[d]) or (-1 in sizes and x.shape[d] % known):
            raise ValueError(f"Unflatten: cannot split dim {self.dim} of size {x.shape[d]} (input shape {x.shape}) "
                             f"into {self.unflattened_size}")
        return x.reshape(*x.shape[:d], *sizes, *x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# --- issue 14: dict-like and parameter containers ---------------------------------------------------------------
def _check_key(container, key):
    if not isinstance(key, str):
        raise TypeError(f"{type(container).__name__}: keys must be strings, got {type(key).__name__} {key!r}")
    return key


def _pairs(container, values):
    """(key, value) pairs from a mapping or an iterable of pairs, as ``dict.update`` takes them."""
    if hasattr(values, "keys"):
        return [(k, values[k]) for k in values.keys()]
    pairs = []
    for i, kv in enumerate(values):
        if not isinstance(kv, (tuple, list)) or len(kv) != 2:
            raise ValueError(f"{type(container).__name__}.update: element {i} is not a (key, value) pair: {kv!r}")
        pairs.append(tuple(kv))
    return pairs


class ModuleDict(Module):
    """A dict of named submodules, registered (so ``parameters()``/``state_dict()`` see them) in insertion order.

    Example:
        >>> heads = md.nn.ModuleDict({"cls": md.nn.Linear(8, 3), "box": md.nn.Linear(8, 4)})
        >>> heads["box"](md.randn(2, 8)).shape, list(heads.keys())
        ((2, 4), ['cls', 'box'])
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module named {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(_check_key(self, key), module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        """Remove the module under ``key`` and return it."""
        module = self[key]
        del self[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add (or replace) modules from a mapping or an iterable of (key, module) pairs."""
        for k, m in _pairs(self, modules):
            self[k] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward: pick a module by key and call it yourself")


def _as_parameter(value):
    """Tensors become Parameters (sharing memory), as PyTorch's parameter containers do; other values are kept."""
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _parameter_line(key, p):
    if not isinstance(p, Tensor):
        return f"  ({key}): Object of type: {type(p).__name__}"
    size = "x".join(str(s) for s in p.shape)
    device = "" if p.device.type == "cpu" else f" ({p.device})"
    kind = "Parameter containing" if isinstance(p, Parameter) else "Tensor containing"
    return f"  ({key}): {kind}: [{p.dtype} of size {size}{device}]"


class _ParameterContainer(Module):
    """Parameters held under string keys in ``_parameters``; other objects (as PyTorch allows) in ``_others``."""

    def __init__(self):
        super().__init__()
        self.__dict__["_others"] = OrderedDict()

    def _set(self, key, value):
        value = _as_parameter(value)
        if isinstance(value, Parameter) or value is None:
            self._others.pop(key, None)
            if key in self._parameters:
                self._parameters[key] = value       # keeps its place in parameters() and state_dict()
            else:
                self.register_parameter(key, value)
        else:
            self._parameters.pop(key, None)
            self._others[key] = value

    def _get(self, key):
        if key in self._parameters:
            return self._parameters[key]
        return self._others[key]

    def _keys(self):
        return [k for k in self._order if k in self._parameters or k in self._others]

    def extra_repr(self):
        return "\n".join(_parameter_line(k, self._get(k)) for k in self._keys())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward: index it and use the parameters")


class ParameterList(_ParameterContainer):
    """A list of Parameters registered under "0", "1", ... (Tensors are turned into Parameters on insertion).

    Example:
        >>> ws = md.nn.ParameterList([md.nn.Parameter(md.randn(4, 4)) for _ in range(3)])
        >>> len(ws), sum(p.numel() for p in ws.parameters())
        (3, 48)
    """

    def __init__(self, values=None):
        super().__init__()
        self.__dict__["_order"] = []
        if values is not None:
            self.extend(values)

    def _index(self, idx):
        return _index(self, idx)

    def __len__(self):
        return len(self._order)

    def __iter__(self):
        return iter([self._get(k) for k in self._order])

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self)[idx])
        return self._get(str(self._index(idx)))

    def __setitem__(self, idx, value):
        self._set(str(self._index(idx)), value)

    def append(self, value):
        """Add ``value`` at the end; returns self."""
        key = str(len(self))
        self._order.append(key)
        self._set(key, value)
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def __iadd__(self, values):
        return self.extend(values)


class ParameterDict(_ParameterContainer):
    """A dict of named Parameters (Tensors are turned into Parameters); a plain ``dict`` given to the constructor
    or ``update`` is added in sorted key order, as PyTorch does.

    Example:
        >>> pd = md.nn.ParameterDict({"shift": md.zeros(3), "scale": md.nn.Parameter(md.ones(3))})
        >>> list(pd.keys()), [n for n, _ in pd.named_parameters()]
        (['scale', 'shift'], ['scale', 'shift'])
    """

    def __init__(self, parameters=None):
        super().__init__()
        self.__dict__["_order"] = []
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        if key not in self._order:
            raise KeyError(f"ParameterDict: no parameter named {key!r} (keys: {self._order})")
        return self._get(key)

    def __setitem__(self, key, value):
        key = _check_key(self, key)
        if key not in self._order:
            self._order.append(key)
        self._set(key, value)

    def __delitem__(self, key):
        if key not in self._order:
            raise KeyError(f"ParameterDict: no parameter named {key!r}")
        self._order.remove(key)
        self._parameters.pop(key, None)
        self._others.pop(key, None)

    def __len__(self):
        return len(self._order)

    def __iter__(self):
        return iter(list(self._order))

    def __contains__(self, key):
        return key in self._order

    def keys(self):
        return list(self._order)

    def values(self):
        return [self._get(k) for k in self._order]

    def items(self):
        return [(k, self._get(k)) for k in self._order]

    def get(self, key, default=None):
        return self._get(key) if key in self._order else default

    def pop(self, key):
        """Remove the entry under ``key`` and return it."""
        value = self[key]
        del self[key]
        return value

    def clear(self):
        for k in list(self._order):
            del self[k]

    def update(self, parameters):
        """Add (or replace) entries from a mapping or an iterable of (key, value) pairs. The entries of a plain
        ``dict`` are added in sorted key order, as PyTorch does; other sources keep their order."""
        pairs = _pairs(self, parameters)
        if isinstance(parameters, dict) and not isinstance(parameters, OrderedDict):
            pairs = sorted(pairs, key=lambda kv: kv[0])
        for k, v in pairs:
            self[k] = v
