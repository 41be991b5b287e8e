"""The op table: one row per public op of SPEC section 1, from which tests/test_ops.py generates
its tests (forward vs PyTorch in float64 and float32, float64 gradcheck, gradients vs PyTorch).

A row's ``inputs`` strategy draws a ``Sample``: ``arrays``, a tuple of float64 NumPy arrays that
become the op's Tensor arguments (possibly non-contiguous, with broadcasting shapes, size-0 and
size-1 dims), and ``kwargs``, the non-Tensor arguments (dims, shapes, indices, scalars) passed
unchanged to both the minidl and the torch callable: ``fn(*tensors, **kwargs)``.

Input values stay inside each op's domain: positive where a log or a fractional power needs it,
away from the kinks of abs/relu/clamp, and without ties where max/min/maximum pick one element.

Adding an op is one ``_add(...)`` call below.
"""
import dataclasses
import importlib
import operator
import warnings
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from minidl.testing import arrays, broadcastable_shapes, shapes

MAX_SIDE = 4
MAX_DIMS = 4


class _LazyModule:
    """Module proxy imported on first attribute access: the table loads without torch (or minidl.nn)."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)


md = _LazyModule("minidl")
F = _LazyModule("minidl.nn.functional")
torch = _LazyModule("torch")
TF = _LazyModule("torch.nn.functional")


@dataclasses.dataclass
class Sample:
    arrays: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        parts = [f"array(shape={a.shape}, strides={a.strides}, values={a.tolist()})" for a in self.arrays]
        return f"Sample([{', '.join(parts)}], kwargs={self.kwargs!r})"

    def _repr_pretty_(self, printer, cycle):  # hypothesis' falsifying-example printer: keep the strides
        printer.text(repr(self))


@dataclasses.dataclass(frozen=True)
class OpInfo:
    name: str
    fn: Callable                  # minidl: fn(*tensors, **kwargs) -> Tensor or tuple of Tensors
    torch_fn: Callable            # torch:  torch_fn(*torch_tensors, **kwargs), same meaning
    inputs: st.SearchStrategy     # draws Sample
    differentiable: bool = True
    aliases: tuple = ()           # other spellings (method, functional, F.*) that must agree with fn
    rtol: float = 1e-7            # float64 forward values and gradients vs torch
    atol: float = 1e-10
    rtol32: float = 1e-5          # float32 forward values vs torch
    atol32: float = 1e-6
    gradcheck_tol: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        return f"OpInfo({self.name})"

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))


OPS = []


def _add(name, fn, torch_fn, inputs, **options):
    if any(op.name == name for op in OPS):
        raise ValueError(f"duplicate OpInfo name {name!r}")
    OPS.append(OpInfo(name, fn, torch_fn, inputs, **options))


# ---------------------------------------------------------------- domain transforms (values, not layout)

def _positive(a):
    return np.abs(a) + 0.5


def _away_from_zero(margin):
    return lambda a: np.where(a >= 0, a + margin, a - margin)


def _away_from(points, margin=0.05):
    def transform(a):
        for p in points:
            d = a - p
            a = np.where(np.abs(d) < margin, p + np.where(d >= 0, margin, -margin), a)
        return a
    return transform


def _grid(a):
    """Half-integers in [-2, 2]: comparisons see ties on purpose."""
    return np.round(a * 2) / 2


def _offset_grid(a):
    """Half-integers plus 1/4: never equal to a ``_grid`` value, so maximum/minimum have no ties."""
    return np.round(a * 2) / 2 + 0.25


def _distinct(a):
    """Same ordering, values at least 0.2 apart: no ties for max/min/argmax and var > 0."""
    flat = a.reshape(-1)
    ranks = np.empty(flat.size)
    ranks[np.argsort(flat, kind="stable")] = np.arange(flat.size)
    return (ranks * 0.25 - flat.size * 0.125 + flat * 0.01).reshape(a.shape)


def _in_place(transform):
    def apply(a):
        a[...] = transform(np.array(a))  # writes through the view: a non-contiguous layout survives
        return a
    return apply


# ---------------------------------------------------------------- input strategies

def _shape(min_dims=0, max_dims=MAX_DIMS, min_side=0, max_side=MAX_SIDE):
    return shapes(min_dims, max_dims, min_side, max_side)


def _array(shape, transform=None, contiguous=False):
    strategy = arrays(np.float64, shape=shape, noncontiguous=not contiguous)
    return strategy if transform is None else strategy.map(_in_place(transform))


def _unary(transform=None, contiguous=False, **shape_options):
    return _array(_shape(**shape_options), transform, contiguous).map(lambda a: Sample((a,)))


@st.composite
def _nary(draw, n=2, transforms=(), **shape_options):
    options = {"max_dims": MAX_DIMS, "max_side": MAX_SIDE}
    options.update(shape_options)
    shapes_ = draw(broadcastable_shapes(n, **options))
    transforms = tuple(transforms) + (None,) * (n - len(transforms))
    return Sample(tuple(draw(_array(s, t)) for s, t in zip(shapes_, transforms)))


def _with(strategy, **kwarg_strategies):
    """Add kwargs drawn independently of the arrays to a Sample strategy."""
    def merge(pair):
        sample, extra = pair
        return Sample(sample.arrays, {**sample.kwargs, **extra})
    return st.tuples(strategy, st.fixed_dictionaries(kwarg_strategies)).map(merge)


@st.composite
def _reduction(draw, mode, transform=None, min_count=0, keepdim=True, alias=False):
    """A reduction input: mode "all" (no dim), "dim" (an int, maybe negative) or "dims" (a tuple)."""
    min_dims = 0 if mode == "all" and min_count < 2 else 1
    shape = list(draw(_shape(min_dims=min_dims)))
    ndim = len(shape)
    kwargs = {}
    if mode == "all":
        reduced = list(range(ndim))
    elif mode == "dim":
        d = draw(st.integers(-ndim, ndim - 1))
        reduced, kwargs["dim"] = [d % ndim], d
    else:
        reduced = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        kwargs["dim"] = tuple(d - ndim if draw(st.booleans()) else d for d in reduced)
    for d in reduced:
        shape[d] = max(shape[d], min_count)
    if mode != "all" and keepdim:
        kwargs["keepdim"] = draw(st.booleans())
    if alias:
        kwargs = {{"dim": "axis", "keepdim": "keepdims"}.get(k, k): v for k, v in kwargs.items()}
    return Sample((draw(_array(tuple(shape), transform)),), kwargs)


def _axis_to_dim(kwargs):
    return {{"axis": "dim", "keepdims": "keepdim"}.get(k, k): v for k, v in kwargs.items()}


# ---------------------------------------------------------------- callables

def _named(fn, name):
    fn.__name__ = fn.__qualname__ = name  # shown by the alias test when a spelling disagrees
    return fn


def _md_fn(name):
    return _named(lambda *args, **kw: getattr(md, name)(*args, **kw), f"md.{name}")


def _F_fn(name):
    return _named(lambda *args, **kw: getattr(F, name)(*args, **kw), f"md.nn.functional.{name}")


def _method(name):
    return _named(lambda x, *args, **kw: getattr(x, name)(*args, **kw), f"Tensor.{name}")


def _torch_fn(name):
    return lambda *args, **kw: getattr(torch, name)(*args, **kw)


def _TF_fn(name):
    return lambda *args, **kw: getattr(TF, name)(*args, **kw)


def _positional_dim(name, module=None):
    """``x.sum(dim, keepdim)`` / ``md.sum(x, dim, keepdim)``: dim and keepdim given positionally.

    var/std take only dim positionally: as in torch, their next positional parameter is ``unbiased``.
    """
    def call(x, dim, keepdim=False):
        args = (dim,) if name in ("var", "std") else (dim, keepdim)
        kwargs = {"keepdim": keepdim} if name in ("var", "std") else {}
        return getattr(x, name)(*args, **kwargs) if module is None else getattr(module, name)(x, *args, **kwargs)
    return _named(call, f"{'Tensor' if module is None else 'md'}.{name}(x, dim, ...) positional")


def _pair(result):
    """Check ``max(dim)``'s result is a (values, indices) named pair and return it as a tuple."""
    assert hasattr(result, "values") and hasattr(result, "indices"), (
        f"expected a (values, indices) named pair, got {type(result).__name__}")
    values, indices = result
    assert values is result.values and indices is result.indices
    return values, indices


# ---------------------------------------------------------------- elementwise math

_UNARY = [
    # name, domain transform, torch callable, also in md.nn.functional
    ("exp", None, _torch_fn("exp"), False),
    ("log", _positive, _torch_fn("log"), False),
    ("sqrt", _positive, _torch_fn("sqrt"), False),
    ("abs", _away_from_zero(0.1), _torch_fn("abs"), False),
    ("sin", None, _torch_fn("sin"), False),
    ("cos", None, _torch_fn("cos"), False),
    ("tanh", None, _torch_fn("tanh"), True),
    ("sigmoid", None, _torch_fn("sigmoid"), True),
    ("relu", _away_from_zero(0.1), _torch_fn("relu"), True),
    ("softplus", None, _TF_fn("softplus"), True),
]
for _name, _transform, _tfn, _in_F in _UNARY:
    _aliases = (_method(_name),) + ((_F_fn(_name),) if _in_F else ())
    _add(_name, _md_fn(_name), _tfn, _unary(_transform), aliases=_aliases)

# beta and threshold drawn: a backward that ignores beta (sigmoid(x) for sigmoid(beta*x)) must fail
_add("softplus.beta", _md_fn("softplus"), _TF_fn("softplus"),
     _with(_unary(_away_from([-2.0, -0.5, 1 / 3, 0.5, 2.0])), beta=st.sampled_from([0.5, 2.0, 3.0]),
           threshold=st.sampled_from([20.0, 1.0])),
     aliases=(_method("softplus"), _F_fn("softplus")))
_add("neg", operator.neg, operator.neg, _unary())
_add("leaky_relu", _md_fn("leaky_relu"), _TF_fn("leaky_relu"), _unary(_away_from_zero(0.1)),
     aliases=(_method("leaky_relu"), _F_fn("leaky_relu")))
_add("leaky_relu.slope", _md_fn("leaky_relu"), _TF_fn("leaky_relu"),
     _with(_unary(_away_from_zero(0.1)), negative_slope=st.sampled_from([0.2, 0.0, 1.5])),
     aliases=(_method("leaky_relu"), _F_fn("leaky_relu")))
_add("gelu", _md_fn("gelu"), _TF_fn("gelu"), _unary(), aliases=(_method("gelu"), _F_fn("gelu")))
_add("gelu.tanh", _md_fn("gelu"), _TF_fn("gelu"), _with(_unary(), approximate=st.just("tanh")),
     aliases=(_method("gelu"), _F_fn("gelu")))

_clamp_x = _unary(_away_from((-0.5, 0.75)))
_add("clamp", _md_fn("clamp"), _torch_fn("clamp"), _with(_clamp_x, min=st.just(-0.5), max=st.just(0.75)),
     aliases=(_method("clamp"),))
_add("clamp.min", _md_fn("clamp"), _torch_fn("clamp"), _with(_clamp_x, min=st.just(-0.5)), aliases=(_method("clamp"),))
_add("clamp.max", _md_fn("clamp"), _torch_fn("clamp"), _with(_clamp_x, max=st.just(0.75)), aliases=(_method("clamp"),))

_add("maximum", _md_fn("maximum"), _torch_fn("maximum"), _nary(2, (_grid, _offset_grid)),
     aliases=(_method("maximum"),))
_add("minimum", _md_fn("minimum"), _torch_fn("minimum"), _nary(2, (_grid, _offset_grid)),
     aliases=(_method("minimum"),))


@st.composite
def _where_sample(draw):
    cond_shape, x_shape, y_shape = draw(broadcastable_shapes(3, max_dims=MAX_DIMS, max_side=MAX_SIDE))
    cond = draw(arrays(np.bool_, shape=cond_shape))
    return Sample((draw(_array(x_shape)), draw(_array(y_shape))), {"cond": cond})


_add("where", lambda x, y, cond: md.where(md.tensor(cond, dtype=md.bool), x, y),
     lambda x, y, cond: torch.where(torch.as_tensor(np.array(cond, order="C")), x, y), _where_sample())

# ---------------------------------------------------------------- arithmetic, pow, comparisons

_add("add", operator.add, operator.add, _nary(2))
_add("sub", operator.sub, operator.sub, _nary(2))
_add("mul", operator.mul, operator.mul, _nary(2))
_add("div", operator.truediv, operator.truediv, _nary(2, (None, _away_from_zero(0.5))))

_SCALARS = st.sampled_from([2, -1, 0.5, -2.25, 3.0, 0])
_NONZERO = st.sampled_from([2, -1, 0.5, -2.25, 3.0])
_scalar_ops = [
    ("add.scalar", lambda x, s: x + s, None),
    ("radd.scalar", lambda x, s: s + x, None),
    ("sub.scalar", lambda x, s: x - s, None),
    ("rsub.scalar", lambda x, s: s - x, None),
    ("mul.scalar", lambda x, s: x * s, None),
    ("rmul.scalar", lambda x, s: s * x, None),
    ("div.scalar", lambda x, s: x / s, None),
    ("rdiv.scalar", lambda x, s: s / x, _away_from_zero(0.5)),
]
for _name, _fn, _transform in _scalar_ops:
    _add(_name, _fn, _fn, _with(_unary(_transform), s=_NONZERO if _name == "div.scalar" else _SCALARS))

_POW_SCALAR_ALIASES = (_named(lambda x, exponent: md.pow(x, exponent), "md.pow"),
                       _named(lambda x, exponent: x.pow(exponent), "Tensor.pow"))
_add("pow", operator.pow, operator.pow, _nary(2, (_positive,)), aliases=(_md_fn("pow"), _method("pow")))
_add("pow.int_scalar", lambda x, exponent: x ** exponent, lambda x, exponent: x ** exponent,
     _with(_unary(_away_from_zero(0.25)), exponent=st.sampled_from([0, 1, 2, 3, -1, -2])), aliases=_POW_SCALAR_ALIASES)
_add("pow.float_scalar", lambda x, exponent: x ** exponent, lambda x, exponent: x ** exponent,
     _with(_unary(_positive), exponent=st.sampled_from([0.5, 1.5, -0.5, 2.5, 0.0])), aliases=_POW_SCALAR_ALIASES)
_add("rpow.scalar", lambda x, base: base ** x, lambda x, base: base ** x,
     _with(_unary(), base=st.sampled_from([2.0, 0.5, 3, 1.0])))

_COMPARISONS = [("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt), ("le", operator.le),
                ("gt", operator.gt), ("ge", operator.ge)]
for _name, _fn in _COMPARISONS:
    _add(_name, _fn, _fn, _nary(2, (_grid, _grid)), differentiable=False)
    _scalar_fn = lambda x, other, _f=_fn: _f(x, other)
    _rscalar_fn = lambda x, other, _f=_fn: _f(other, x)  # 0.5 < x: Python reflects it
    for _suffix, _f in (("scalar", _scalar_fn), ("rscalar", _rscalar_fn)):
        _add(f"{_name}.{_suffix}", _f, _f, _with(_unary(_grid), other=st.sampled_from([0.5, -1, 0.0, 2])),
             differentiable=False)

# ---------------------------------------------------------------- matmul


@st.composite
def _matmul_sample(draw, a_dims, b_dims):
    """Shapes from letter templates: m, k, n, b, c are drawn sides (0-4, shared by name); "1" is 1."""
    sides = {name: draw(st.integers(0, MAX_SIDE)) for name in "mknbc"}
    a_shape = tuple(1 if ch == "1" else sides[ch] for ch in a_dims)
    b_shape = tuple(1 if ch == "1" else sides[ch] for ch in b_dims)
    return Sample((draw(_array(a_shape)), draw(_array(b_shape))))


for _a, _b in [("k", "k"), ("mk", "k"), ("k", "kn"), ("mk", "kn"), ("bmk", "bkn"), ("c1mk", "bkn"),
               ("1mk", "bkn"), ("bmk", "kn"), ("mk", "bkn"), ("k", "bkn"), ("bmk", "k")]:
    _add(f"matmul.{_a}@{_b}", operator.matmul, operator.matmul, _matmul_sample(_a, _b))

# ---------------------------------------------------------------- reductions

_REDUCTIONS = [
    # name, transform, smallest reduced size, modes, torch callable
    ("sum", None, 0, ("all", "dim", "dims"), None),
    ("mean", None, 0, ("all", "dim", "dims"), None),
    ("var", _distinct, 2, ("all", "dim", "dims"), None),
    ("std", _distinct, 2, ("all", "dim", "dims"), None),
    ("logsumexp", None, 0, ("all", "dim", "dims"), None),
]


def _torch_reduce(name):
    def call(x, **kw):
        kw = _axis_to_dim(kw)
        if name == "logsumexp" and "dim" not in kw:
            return torch.logsumexp(x.reshape(-1), 0)
        with warnings.catch_warnings():  # torch warns on var/std of an empty output; the value is right
            warnings.filterwarnings("ignore", message=".*degrees of freedom", category=UserWarning)
            return getattr(torch, name)(x, **kw)
    return call


# float32 sums of up to ~150 values of size <= 2 in another order than PyTorch's differ by ~sqrt(n) * eps * sum|x|
# (a few 1e-6 where the sum cancels to near zero): the absolute tolerance follows that, not the 1e-6 default
_ATOL32_SUMS = 1e-5
for _name, _transform, _count, _modes, _ in _REDUCTIONS:
    for _mode in _modes:
        _positional = (_positional_dim(_name), _positional_dim(_name, md)) if _mode == "dim" else ()
        _add(_name if _mode == "all" else f"{_name}.{_mode}", _method(_name), _torch_reduce(_name),
             _reduction(_mode, _transform, _count), aliases=(_md_fn(_name),) + _positional, atol32=_ATOL32_SUMS)
    _add(f"{_name}.axis_keepdims", _method(_name), _torch_reduce(_name),
         _reduction("dims", _transform, _count, alias=True), aliases=(_md_fn(_name),), atol32=_ATOL32_SUMS)

for _name in ("var", "std"):
    _add(f"{_name}.correction0", _method(_name), _torch_reduce(_name),
         _with(_reduction("dim", _distinct, 2), correction=st.just(0)), aliases=(_md_fn(_name),))
    _add(f"{_name}.unbiased_false", _method(_name), _torch_reduce(_name),
         _with(_reduction("all", _distinct, 2, keepdim=False), unbiased=st.just(False)), aliases=(_md_fn(_name),))
    _add(f"{_name}.correction0_all", _method(_name), _torch_reduce(_name),
         _with(_reduction("all", _distinct, 2), correction=st.just(0)), aliases=(_md_fn(_name),))

for _name in ("max", "min"):
    _add(_name, _method(_name), _torch_fn(_name), _reduction("all", _distinct, 1), aliases=(_md_fn(_name),))
    _add(f"{_name}.dim", lambda x, _n=_name, **kw: _pair(getattr(x, _n)(**kw)),
         lambda x, _n=_name, **kw: tuple(getattr(x, _n)(**kw)), _reduction("dim", _distinct, 1),
         aliases=(_named(lambda x, _n=_name, **kw: _pair(getattr(md, _n)(x, **kw)), f"md.{_name}"),
                  _named(lambda x, dim, keepdim, _n=_name: _pair(getattr(x, _n)(dim, keepdim)),
                         f"Tensor.{_name}(dim, keepdim) positional")))
    _add(f"{_name}.axis_keepdims", lambda x, _n=_name, **kw: _pair(getattr(x, _n)(**kw)),
         lambda x, _n=_name, **kw: tuple(getattr(x, _n)(**_axis_to_dim(kw))),
         _reduction("dim", _distinct, 1, alias=True))

for _name in ("argmax", "argmin"):
    _add(_name, _method(_name), _torch_fn(_name), _reduction("all", _distinct, 1), differentiable=False,
         aliases=(_md_fn(_name),))
    _add(f"{_name}.dim", _method(_name), _torch_fn(_name), _reduction("dim", _distinct, 1), differentiable=False,
         aliases=(_md_fn(_name), _positional_dim(_name), _positional_dim(_name, md)))
    _add(f"{_name}.axis_keepdims", _method(_name), lambda x, _n=_name, **kw: getattr(torch, _n)(x, **_axis_to_dim(kw)),
         _reduction("dim", _distinct, 1, alias=True), differentiable=False)

for _name in ("softmax", "log_softmax"):
    _add(_name, _md_fn(_name), lambda x, _n=_name, **kw: getattr(TF, _n)(x, **_axis_to_dim(kw)),
         _reduction("dim", keepdim=False),
         aliases=(_method(_name), _F_fn(_name),
                  _named(lambda x, dim, _n=_name: getattr(md, _n)(x, dim), f"md.{_name}(x, dim)"),
                  _named(lambda x, dim, _n=_name: getattr(x, _n)(dim), f"Tensor.{_name}(dim)")))
    _add(f"{_name}.axis", _md_fn(_name), lambda x, _n=_name, **kw: getattr(TF, _n)(x, **_axis_to_dim(kw)),
         _reduction("dim", keepdim=False, alias=True))

# ---------------------------------------------------------------- shape ops


@st.composite
def _reshape_sample(draw, contiguous=False):
    x = draw(_array(_shape(), contiguous=contiguous))
    target = []
    for side in draw(st.permutations(list(x.shape))):
        if target and draw(st.booleans()):
            target[-1] *= side  # merge with the previous dim
        else:
            target.append(side)
    for _ in range(draw(st.integers(0, 2))):
        target.insert(draw(st.integers(0, len(target))), 1)
    if x.size > 0 and target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return Sample((x,), {"shape": tuple(target)})


_add("reshape", lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape), _reshape_sample(),
     aliases=(lambda x, shape: x.reshape(*shape) if shape else x.reshape(()),))
_add("view", lambda x, shape: x.view(shape), lambda x, shape: x.reshape(shape), _reshape_sample(contiguous=True),
     aliases=(lambda x, shape: x.view(*shape) if shape else x.view(()),))


@st.composite
def _flatten_sample(draw):
    x = draw(_array(_shape(min_dims=1)))
    ndim = x.ndim
    start = draw(st.integers(0, ndim - 1))
    end = draw(st.integers(start, ndim - 1))
    start -= ndim * draw(st.booleans())
    end -= ndim * draw(st.booleans())
    return Sample((x,), {"start_dim": start, "end_dim": end})


_add("flatten", lambda x: x.flatten(), lambda x: x.flatten(), _unary())
_add("flatten.range", _method("flatten"), _method("flatten"), _flatten_sample())


@st.composite
def _dim_sample(draw, min_dims=1, extra=0, max_side=MAX_SIDE, name="dim"):
    """One array and a dim in [-ndim - extra, ndim + extra - 1] (extra=1 for unsqueeze/stack)."""
    x = draw(_array(_shape(min_dims=min_dims, max_side=max_side)))
    return Sample((x,), {name: draw(st.integers(-x.ndim - extra, x.ndim + extra - 1))})


_add("squeeze", lambda x: x.squeeze(), lambda x: x.squeeze(), _unary(max_side=2, max_dims=4))
_add("squeeze.dim", _method("squeeze"), _method("squeeze"), _dim_sample(max_side=2))
_add("unsqueeze", _method("unsqueeze"), _method("unsqueeze"), _dim_sample(min_dims=0, extra=1))


@st.composite
def _transpose_sample(draw):
    x = draw(_array(_shape(min_dims=1)))
    d = st.integers(-x.ndim, x.ndim - 1)
    return Sample((x,), {"dim0": draw(d), "dim1": draw(d)})


_add("transpose", lambda x, dim0, dim1: x.transpose(dim0, dim1), lambda x, dim0, dim1: x.transpose(dim0, dim1),
     _transpose_sample())


@st.composite
def _permute_sample(draw):
    x = draw(_array(_shape(min_dims=1)))
    dims = draw(st.permutations(range(x.ndim)))
    return Sample((x,), {"dims": tuple(d - x.ndim if draw(st.booleans()) else d for d in dims)})


_add("permute", lambda x, dims: x.permute(*dims), lambda x, dims: x.permute(*dims), _permute_sample(),
     aliases=(lambda x, dims: x.permute(dims),))
_add("T", lambda x: x.T, lambda x: x.permute(tuple(reversed(range(x.ndim)))), _unary())


@st.composite
def _expand_sample(draw):
    x = draw(_array(_shape(max_side=3)))
    sizes = list(draw(shapes(0 if x.ndim else 1, 2, 0, 3)))  # new leading dims
    for side in x.shape:
        sizes.append(draw(st.sampled_from([-1, 0, 1, 2, 3] if side == 1 else [-1, side])))
    return Sample((x,), {"sizes": tuple(sizes)})


_add("expand", lambda x, sizes: x.expand(*sizes), lambda x, sizes: x.expand(*sizes), _expand_sample(),
     aliases=(lambda x, sizes: x.expand(sizes),))


@st.composite
def _broadcast_to_sample(draw):
    own, other = draw(broadcastable_shapes(2, max_dims=MAX_DIMS, max_side=MAX_SIDE))
    return Sample((draw(_array(own)),), {"shape": np.broadcast_shapes(own, other)})


_add("broadcast_to", lambda x, shape: md.broadcast_to(x, shape), lambda x, shape: torch.broadcast_to(x, shape),
     _broadcast_to_sample(), aliases=(_named(lambda x, shape: x.broadcast_to(shape), "Tensor.broadcast_to"),))


@st.composite
def _cat_sample(draw, stack=False):
    base = list(draw(_shape(min_dims=0 if stack else 1)))
    ndim = len(base)
    extra = 1 if stack else 0
    dim = draw(st.integers(-ndim - extra, ndim - 1 + extra))
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if not stack:
            shape[dim] = draw(st.integers(0, 3))
        pieces.append(draw(_array(tuple(shape))))
    return Sample(tuple(pieces), {"dim": dim})


_add("cat", lambda *xs, dim: md.cat(list(xs), dim=dim), lambda *xs, dim: torch.cat(list(xs), dim=dim),
     _cat_sample(), aliases=(lambda *xs, dim: md.concatenate(list(xs), dim=dim),
                             lambda *xs, dim: md.cat(tuple(xs), dim=dim)))
_add("stack", lambda *xs, dim: md.stack(list(xs), dim=dim), lambda *xs, dim: torch.stack(list(xs), dim=dim),
     _cat_sample(stack=True), aliases=(lambda *xs, dim: md.stack(tuple(xs), dim=dim),))


@st.composite
def _split_sample(draw, kind):
    x = draw(_array(_shape(min_dims=1)))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[dim]
    if kind == "size":
        arg = draw(st.integers(1, 4))
    elif kind == "sections":
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        bounds = [0] + cuts + [n]
        arg = [hi - lo for lo, hi in zip(bounds, bounds[1:])]
    else:
        arg = draw(st.integers(1, 5))
    return Sample((x,), {"arg": arg, "dim": dim})


_add("split.size", lambda x, arg, dim: tuple(x.split(arg, dim)), lambda x, arg, dim: x.split(arg, dim),
     _split_sample("size"), aliases=(lambda x, arg, dim: tuple(x.split(arg, dim=dim)),))
_add("split.sections", lambda x, arg, dim: tuple(x.split(arg, dim)), lambda x, arg, dim: x.split(arg, dim),
     _split_sample("sections"), aliases=(lambda x, arg, dim: tuple(x.split(tuple(arg), dim=dim)),))
_add("chunk", lambda x, arg, dim: tuple(x.chunk(arg, dim)), lambda x, arg, dim: x.chunk(arg, dim),
     _split_sample("chunks"), aliases=(lambda x, arg, dim: tuple(x.chunk(arg, dim=dim)),))

# ---------------------------------------------------------------- indexing


def _torch_index(index):
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return torch.as_tensor(np.array(index, order="C"))
    return index


def _index_fn(x, index):
    return x[index]


def _torch_index_fn(x, index):
    return x[_torch_index(index)]


def _torch_index_by_map(x, index):
    """torch has no negative slice steps: gather the elements NumPy's indexing picks instead."""
    picked = np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(tuple(x.shape))[index]
    return x.reshape(-1)[torch.as_tensor(np.array(picked, order="C"))]


def _draw_item(draw, side, kinds):
    kind = draw(st.sampled_from(kinds))
    if kind == "int" and side > 0:
        return draw(st.integers(-side, side - 1))
    bound = st.one_of(st.none(), st.integers(-side - 2, side + 2))
    steps = [None, 1, 2, 3] if kind != "negative_step" else [-1, -2, -3, None, 1, 2]
    return slice(draw(bound), draw(bound), draw(st.sampled_from(steps)))


@st.composite
def _basic_index_sample(draw, kinds, ellipsis=False, none=False):
    x = draw(_array(_shape(min_dims=1)))
    ndim = x.ndim
    head = draw(st.integers(0 if ellipsis else 1, ndim))
    index = [_draw_item(draw, x.shape[d], kinds) for d in range(head)]
    if ellipsis:
        tail = draw(st.integers(0, ndim - head))
        index.append(Ellipsis)
        index += [_draw_item(draw, x.shape[d], kinds) for d in range(ndim - tail, ndim)]
    if none:
        for _ in range(draw(st.integers(1, 2))):
            index.insert(draw(st.integers(0, len(index))), None)
    index = tuple(index)
    if len(index) == 1 and draw(st.booleans()):
        index = index[0]  # x[i] as well as x[i,]
    return Sample((x,), {"index": index})


@st.composite
def _int_array_sample(draw, count=1):
    if count == 1:
        x = draw(_array(_shape(min_dims=1)))
        pos = draw(st.integers(0, x.ndim - 1))
        side = x.shape[pos]
        idx_shape = draw(_shape(0, 2, 0, 3)) if side else (0,)
        idx = np.asarray(draw(arrays(np.int64, shape=idx_shape, elements=st.integers(-side, max(side - 1, -side)),
                                     noncontiguous=False)))
        return Sample((x,), {"index": (slice(None),) * pos + (idx,)})
    x = draw(_array(_shape(min_dims=2, min_side=1)))
    idx_shapes = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    index = tuple(np.asarray(draw(arrays(np.int64, shape=s, elements=st.integers(-x.shape[d], x.shape[d] - 1),
                                         noncontiguous=False)))
                  for d, s in enumerate(idx_shapes))
    return Sample((x,), {"index": index})


@st.composite
def _bool_mask_sample(draw):
    x = draw(_array(_shape(min_dims=1)))
    k = draw(st.integers(1, x.ndim))
    mask = np.asarray(draw(arrays(np.bool_, shape=x.shape[:k], noncontiguous=False)))
    return Sample((x,), {"index": mask})


_add("index.int", _index_fn, _torch_index_fn, _basic_index_sample(["int"]))
_add("index.slice", _index_fn, _torch_index_fn, _basic_index_sample(["slice"]))
_add("index.none", _index_fn, _torch_index_fn, _basic_index_sample(["int", "slice"], none=True))
_add("index.ellipsis", _index_fn, _torch_index_fn, _basic_index_sample(["int", "slice"], ellipsis=True))
_add("index.mixed", _index_fn, _torch_index_fn, _basic_index_sample(["int", "slice"], ellipsis=True, none=True))
_add("index.negative_step", _index_fn, _torch_index_by_map, _basic_index_sample(["negative_step", "int"]))
_add("index.int_array", _index_fn, _torch_index_fn, _int_array_sample(1))
_add("index.int_arrays", _index_fn, _torch_index_fn, _int_array_sample(2))
_add("index.bool_mask", _index_fn, _torch_index_fn, _bool_mask_sample())
_add("index.int_tensor", lambda x, index: x[tuple(md.tensor(i, dtype=md.int64) if isinstance(i, np.ndarray) else i
                                                  for i in index)],
     _torch_index_fn, _int_array_sample(1))
_add("index.bool_tensor", lambda x, index: x[md.tensor(index, dtype=md.bool)], _torch_index_fn, _bool_mask_sample())

# ---------------------------------------------------------------- the rest of SPEC section 1

_add("erf", _md_fn("erf"), _torch_fn("erf"), _unary(), aliases=(_method("erf"),))
_add("sign", _md_fn("sign"), _torch_fn("sign"), _unary(_away_from_zero(0.1)), aliases=(_method("sign"),))
_add("clone", _md_fn("clone"), _torch_fn("clone"), _unary(), aliases=(_method("clone"),))
_add("contiguous", _method("contiguous"), _method("contiguous"), _unary())
# float32 rounding (~6e-8) would swamp a 1e-6 finite difference; the map is linear, so a wide step is exact
_add("astype.float32", lambda x: x.astype(md.float32), lambda x: x.to(torch.float32), _unary(),
     gradcheck_tol={"eps": 1e-2, "atol": 1e-4}, aliases=(_named(lambda x: md.astype(x, md.float32), "md.astype"),
              _named(lambda x: x.astype("float32"), "Tensor.astype('float32')")))
_add("astype.int64", lambda x: x.astype(md.int64), lambda x: x.to(torch.int64), _unary(), differentiable=False)
_add("astype.bool", lambda x: x.astype(md.bool), lambda x: x.to(torch.bool), _unary(_grid), differentiable=False)


@st.composite
def _narrow_sample(draw):
    x = draw(_array(_shape(min_dims=1)))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    side = x.shape[dim]
    start = draw(st.integers(0, side))
    length = draw(st.integers(0, side - start))
    if start < side and draw(st.booleans()):
        start -= side  # counts from the end, as in torch
    return Sample((x,), {"dim": dim, "start": start, "length": length})


_add("narrow", _method("narrow"), _method("narrow"), _narrow_sample(), aliases=(_md_fn("narrow"),))

def _with_specials(a):
    flat = a.reshape(-1)  # contiguous input: a view
    flat[::3] = np.nan
    flat[1::5] = np.inf
    flat[2::7] = -np.inf
    return a


for _name in ("isnan", "isfinite"):
    _add(_name, _md_fn(_name), _torch_fn(_name), _unary(_with_specials, contiguous=True), differentiable=False,
         aliases=(_method(_name),))

_add("logical_not", _md_fn("logical_not"), _torch_fn("logical_not"), _unary(_grid), differentiable=False,
     aliases=(_method("logical_not"),))
for _name in ("logical_and", "logical_or", "logical_xor"):
    _add(_name, _md_fn(_name), _torch_fn(_name), _nary(2, (_grid, _grid)), differentiable=False,
         aliases=(_method(_name),))

for _name in ("all", "any"):
    _add(_name, _method(_name), _torch_fn(_name), _reduction("all", _grid), differentiable=False,
         aliases=(_md_fn(_name),))
    _add(f"{_name}.dim", _method(_name), _torch_fn(_name), _reduction("dim", _grid), differentiable=False,
         aliases=(_md_fn(_name),))

OP_NAMES = [op.name for op in OPS]

# ---------------------------------------------------------------- issue 14, dtypes: rounded division, remainders


def _off_quarter_grid(a):
    """Odd multiples of 1/8: a quotient by a _divisors value is never near an integer (remainder's jumps)."""
    return np.round(a * 4) / 4 + 0.125


def _divisors(a):
    return np.choose(np.abs(a * 10).astype(np.int64) % 4, [0.5, -0.75, 1.5, 2.0])


_DIVISOR = st.sampled_from([0.5, -0.75, 1.5, 2.0])
for _name in ("remainder", "fmod"):
    _add(_name, _md_fn(_name), _torch_fn(_name), _nary(2, (_off_quarter_grid, _divisors)),
         aliases=(_method(_name),) + ((operator.mod,) if _name == "remainder" else ()))
    _add(f"{_name}.scalar", _md_fn(_name), _torch_fn(_name), _with(_unary(_off_quarter_grid), other=_DIVISOR),
         aliases=(_method(_name),))
# torch's floor_divide has no backward: its differentiable twin div(rounding_mode="floor") is the oracle
_add("floor_divide", _md_fn("floor_divide"), lambda x, y: torch.div(x, y, rounding_mode="floor"),
     _nary(2, (_off_quarter_grid, _divisors)), aliases=(operator.floordiv, _method("floor_divide")))
for _mode in ("floor", "trunc"):
    _add(f"div.{_mode}", _md_fn("div"), _torch_fn("div"),
         _with(_nary(2, (_off_quarter_grid, _divisors)), rounding_mode=st.just(_mode)), aliases=(_method("div"),))

OP_NAMES = [op.name for op in OPS]
