"""``Function``: the one mechanism every differentiable op uses, built-in or user-defined."""
import functools

import numpy as np

from ..device import device_of
from .anomaly import _mode as _anomaly_mode
from .anomaly import record_stack as _record_stack
from .grad_mode import _enabled, enable_grad, is_grad_enabled, no_grad


class Context:
    """What ``forward`` leaves for ``backward``: saved tensors, flags, any attribute you set."""

    # class-level defaults: an op that saves nothing pays for no attribute writes
    _saved = ()
    _versions = ()
    _released = False
    needs_input_grad = ()
    _non_differentiable = ()

    def save_for_backward(self, *tensors):
        """Keep tensors (or None) for backward; in-place changes to them before backward are detected."""
        self._saved = tensors
        self._versions = tuple(getattr(t, "_version", None) for t in tensors)

    @property
    def saved_tensors(self):
        if self._released:
            raise RuntimeError("backward: the saved tensors of this graph were freed by an earlier backward; "
                               "pass retain_graph=True to the first backward to go through it twice")
        for i, (t, v) in enumerate(zip(self._saved, self._versions)):
            if v is not None and t._version != v:
                raise RuntimeError(f"backward: saved tensor {i} of shape {t.shape} was modified in place after it "
                                   f"was saved (version {v} -> {t._version}); its gradient would be wrong")
        return self._saved

    def mark_non_differentiable(self, *tensors):
        """Outputs that never get a gradient (indices, masks)."""
        self._non_differentiable = tensors

    def _release(self):
        self._saved = ()
        self._released = True


class Edge:
    """Where a gradient goes: into a leaf's ``.grad``, or into output ``nr`` of a parent node."""

    # dtype: the input's array dtype (NumPy's); the engine casts a gradient of another dtype to it
    __slots__ = ("leaf", "node", "nr", "shape", "dtype")

    def __init__(self, t):
        self.leaf = t if t._node is None else None
        self.node, self.nr = t._node, t._nr
        data = t.array
        self.shape, self.dtype = tuple(data.shape), data.dtype


class Node:
    """One recorded call of a Function: the context and the edges to its inputs."""

    __slots__ = ("fn", "ctx", "edges", "out_meta", "retained", "__weakref__")

    def __init__(self, fn, ctx, edges, out_meta):
        self.fn, self.ctx, self.edges, self.out_meta = fn, ctx, edges, out_meta
        self.retained = None        # output nr -> Tensor that called retain_grad()

    @property
    def name(self):
        return self.fn.__name__

    @property
    def next_functions(self):
        """Where this node's input gradients go, as PyTorch spells it: one ``(node, output_nr)`` per input, an
        ``AccumulateGrad`` for a leaf, ``(None, 0)`` for an input that needs no gradient.

        >>> import minidl as md
        >>> w = md.ones(2, requires_grad=True)
        >>> (w * 3).sum().grad_fn.next_functions[0][0].next_functions[0][0].variable is w
        True
        """
        return tuple((None, 0) if e is None else (AccumulateGrad(e.leaf), 0) if e.node is None else (e.node, e.nr)
                     for e in self.edges if e is not False)

    def __repr__(self):
        return f"<{self.name}Backward>"


class AccumulateGrad:
    """The end of a path in the graph: a leaf tensor whose ``.grad`` receives the gradient."""

    __slots__ = ("variable",)
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"


class Function:
    """Base class of differentiable operations.

    Subclass it with static ``forward(ctx, *args)`` (returns an array, a Tensor, or a tuple
    of them) and ``backward(ctx, *grads)`` (returns one gradient per ``forward`` argument,
    ``None`` where there is none; trailing ``None`` may be left out). Call ``MyOp.apply(...)``.
    Tensors must be passed positionally to be differentiated. ``backward`` receives and
    returns Tensors in the *output's* shape: broadcast reduction happens in the engine.

    Example:
        >>> class Cube(md.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x.array ** 3
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (x,) = ctx.saved_tensors
        ...         return grad * 3 * x ** 2
        >>> Cube.apply(md.tensor([2.0], requires_grad=True))
    """

    # True for ops whose output may be a view of their first argument (reshape, permute, expand, basic indexing):
    # an output that shares the input's memory shares its version counter too, so in-place changes are seen
    returns_view = False

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _tensor_class()
        # NOTE: the per-op cost of this method is what a small op costs (PyTorch's is ~3 us): no list of the tensor
        # arguments, no Device objects, no context-manager object for the grad mode
        needs, host = [], True
        for a in args:
            if isinstance(a, Tensor):
                needs.append(a._rg)
                if type(a.array) is not np.ndarray:
                    host = False
            else:
                needs.append(False)
        needs = tuple(needs)
        if not host:
            _check_one_device(cls, [a for a in args if isinstance(a, Tensor)])
        ctx = Context()
        ctx.needs_input_grad = needs
        if _anomaly_mode[0]:
            _record_stack(ctx)
        if _enabled.get():
            record = True in needs
            token = _enabled.set(False)
            try:
                raw = cls.forward(ctx, *args, **kwargs)
            finally:
                _enabled.reset(token)
        else:
            record = False
            raw = cls.forward(ctx, *args, **kwargs)
        many = type(raw) is tuple
        if type(raw) is np.ndarray:            # the common case: one host array
            outs = [Tensor._wrap(raw)]
        else:
            outs = []
            for o in (raw if many else (raw,)):
                if isinstance(o, Tensor):
                    if any(o is a for a in args):   # never re-parent an input: return an alias instead
                        o = Tensor._wrap(o.array)._share_memory_of(o)
                else:
                    o = Tensor._wrap(o)
                outs.append(o)
        if cls.returns_view:
            base = args[0]
            may_share = np.may_share_memory if type(base.array) is np.ndarray else base._xp.may_share_memory
            for o in outs:
                if o._base is None and may_share(o.array, base.array):
                    o._share_memory_of(base)
        if record:
            # None: a tensor that needs no gradient; False: an argument that is not a tensor (next_functions skips it)
            edges = tuple([Edge(a) if need else None if isinstance(a, Tensor) else False
                           for a, need in zip(args, needs)])
            node = Node(cls, ctx, edges, tuple([_out_meta(o.array) for o in outs]))
            skip = ctx._non_differentiable
            for i, o in enumerate(outs):
                if o.array.dtype.kind == "f" and not (skip and any(o is t for t in skip)):
                    o._node, o._nr, o._rg = node, i, True     # floating, so the setter's check holds
        return tuple(outs) if many else outs[0]


def _out_meta(arr):
    """(shape, array dtype, device or None for the host): enough for the engine to build a zero gradient."""
    return tuple(arr.shape), arr.dtype, (None if type(arr) is np.ndarray else device_of(arr))


def _check_one_device(cls, tensors):
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, got {dev} and "
                               f"{t.device} (shapes {tensors[0].shape} and {t.shape}); move one with .to()")


@functools.lru_cache(maxsize=None)
def _tensor_class():
    # NOTE: tensor.py imports this module; an import statement inside apply() costs ~1 us per op call
    from ..tensor import Tensor  # noqa: PLC0415
    return Tensor


def once_differentiable(backward):
    """Mark a backward that uses raw kernels: asking for its derivative (create_graph) is an error."""
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        if is_grad_enabled() and any(g is not None and g.requires_grad for g in grads):
            raise RuntimeError(f"{backward.__qualname__.split('.')[0]}: this backward is a raw kernel and is not "
                               "differentiable itself (create_graph=True through it is not supported)")
        with no_grad():
            return backward(ctx, *grads)
    return wrapper


def recomputed_grads(composed, inputs, need, grad):
    """The create_graph path of a Function whose backward is a raw kernel: the gradients of ``composed(*inputs)``
    for ``grad``, each with a graph of its own, for the inputs flagged in ``need`` (None for the others).

    ``composed`` rebuilds the forward from differentiable ops on the saved inputs themselves, so higher derivatives
    reach them.
    """
    from . import grad as autograd_grad  # noqa: PLC0415 -- the package imports this module
    with enable_grad():
        out = composed(*inputs)
    wanted = [t for t, n in zip(inputs, need) if n]
    got = iter(autograd_grad(out, wanted, grad, create_graph=True, allow_unused=True))
    return tuple(next(got) if n else None for n in need)
