"""Reparameterizations of a module's weight, as PyTorch's ``torch.nn.utils`` hooks: ``weight_norm``
(magnitude ``g`` times direction ``v / |v|``) and ``spectral_norm`` (weight divided by its largest singular
value, estimated by power iteration). The weight is recomputed from its parameters before every forward.
"""
from ... import ops
from ...autograd.grad_mode import no_grad
from ...random import generator
from ...tensor import Tensor
from ..parameter import Parameter


def _norm_except_dim(v, dim):
    """The 2-norm over every dim but ``dim`` (kept, sizes 1 elsewhere); of everything when ``dim`` is None."""
    if dim is None:
        return (v * v).sum().sqrt()
    d = dim % v.ndim
    return (v * v).sum(dim=tuple(i for i in range(v.ndim) if i != d), keepdim=True).sqrt()


class _WeightNorm:
    def __init__(self, name, dim):
        self.name, self.dim = name, dim

    def compute(self, module):
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute(module))


def weight_norm(module, name="weight", dim=0):
    """Split ``module.<name>`` into ``<name>_g`` (its norm over all dims but ``dim``) and ``<name>_v`` (its
    direction); the weight is ``v * g / |v|``, recomputed before each forward.

    Example:
        >>> m = md.nn.utils.weight_norm(md.nn.Linear(4, 3))
        >>> sorted(n for n, _ in m.named_parameters())
        ['bias', 'weight_g', 'weight_v']
    """
    if name + "_g" in module._parameters:
        raise RuntimeError(f"weight_norm: the parameter {name!r} of {type(module).__name__} already has weight_norm")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
    fn = _WeightNorm(name, dim)
    delattr(module, name)
    module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight, dim).detach()))
    module.register_parameter(name + "_v", Parameter(weight.detach().clone()))
    object.__setattr__(module, name, fn.compute(module))
    handle = module.register_forward_pre_hook(fn)
    module.__dict__.setdefault("_reparameterizations", {})[name] = (fn, handle)
    return module


def remove_weight_norm(module, name="weight"):
    """Undo ``weight_norm``: ``module.<name>`` is a plain parameter again, with the current value."""
    return _remove(module, name, _WeightNorm, (name + "_g", name + "_v"))


class _SpectralNorm:
    def __init__(self, name, n_power_iterations, dim, eps):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def matrix(self, weight):
        w = weight if self.dim == 0 else ops.movedim(weight, self.dim, 0)
        return w.reshape(w.shape[0], -1)

    def compute(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        if do_power_iteration:
            with no_grad():
                w = self.matrix(weight)
                for _ in range(self.n_power_iterations):
                    v.copy_(_normalize(w.T @ u, self.eps))
                    u.copy_(_normalize(w @ v, self.eps))
                # clones: the weight's graph keeps these values even when the next forward updates u and v
                u, v = u.clone(), v.clone()
        sigma = (u * (self.matrix(weight) @ v)).sum()
        return weight / sigma

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute(module, module.training))


def _normalize(x, eps):
    return x / ops.clamp(ops.sqrt((x * x).sum()), min=eps)


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm (largest singular value of the weight as a matrix over
    ``dim``: 0, or 1 for transposed convolutions), estimated with ``n_power_iterations`` of power iteration per
    training forward; ``<name>_orig`` is the parameter, ``<name>_u``/``<name>_v`` the iteration's buffers.

    Example:
        >>> m = md.nn.utils.spectral_norm(md.nn.Linear(5, 4))
        >>> sorted(m.state_dict())
        ['bias', 'weight_orig', 'weight_u', 'weight_v']
    """
    if name + "_orig" in module._parameters:
        raise RuntimeError(f"spectral_norm: the parameter {name!r} of {type(module).__name__} already has "
                           "spectral_norm")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    if n_power_iterations <= 0:
        raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
    if dim is None:
        dim = 1 if "ConvTranspose" in type(module).__name__ else 0
    fn = _SpectralNorm(name, n_power_iterations, dim, eps)
    h, w = fn.matrix(weight).shape
    rng = generator()
    dtype = weight.array.dtype
    u = Tensor._from(rng.standard_normal(h).astype(dtype), device=weight.device)
    v = Tensor._from(rng.standard_normal(w).astype(dtype), device=weight.device)
    delattr(module, name)
    module.register_parameter(name + "_orig", weight)
    module.register_buffer(name + "_u", _normalize(u, eps))
    module.register_buffer(name + "_v", _normalize(v, eps))
    with no_grad():
        object.__setattr__(module, name, fn.compute(module, False).detach())
    handle = module.register_forward_pre_hook(fn)
    module.__dict__.setdefault("_reparameterizations", {})[name] = (fn, handle)
    return module


def remove_spectral_norm(module, name="weight"):
    """Undo ``spectral_norm``: ``module.<name>`` is a plain parameter again, with the current normalized value."""
    return _remove(module, name, _SpectralNorm, (name + "_orig", name + "_u", name + "_v"))


def _remove(module, name, kind, names):
    entry = module.__dict__.get("_reparameterizations", {}).get(name)
    if entry is None or not isinstance(entry[0], kind):
        what = "weight_norm" if kind is _WeightNorm else "spectral_norm"
        raise ValueError(f"remove_{what}: {what} of {name!r} not found in {type(module).__name__}")
    fn, handle = entry
    with no_grad():
        value = fn.compute(module) if kind is _WeightNorm else fn.compute(module, False)
    handle.remove()
    del module.__dict__["_reparameterizations"][name]
    for n in names:
        delattr(module, n)
    module.__dict__.pop(name, None)
    module.register_parameter(name, Parameter(value.detach()))
    return module


__all__ = ["weight_norm", "remove_weight_norm", "spectral_norm", "remove_spectral_norm"]
