"""The backward engine: an iterative topological walk over recorded nodes (no recursion limit)."""
import numpy as np

from ..dtypes import to_dtype
from . import anomaly as _anomaly
from . import hooks as _hooks
from .grad_mode import set_grad_enabled


def _reduce_to(grad, shape, node):
    """Sum a broadcast gradient back to ``shape`` -- the one place broadcasting is undone."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0 or any(s != 1 and g != s for g, s in zip(grad.shape[extra:], shape)):
        raise RuntimeError(f"{node.name}.backward returned a gradient of shape {grad.shape} for an input of "
                           f"shape {shape}")
    dims = tuple(range(extra)) + tuple(extra + i for i, s in enumerate(shape) if s == 1 and grad.shape[extra + i] != 1)
    if dims:
        grad = grad.sum(dim=dims, keepdim=True)
    return grad.reshape(shape)


_BUILTIN = "minidl."


def _passed_on(slots, ctx):
    """ids of the arrays a backward received or saved: a gradient that is one of them is not its own."""
    known = {id(s.array) for s in slots if s is not None}
    known.update(id(t.array) for t in ctx._saved if t is not None and hasattr(t, "array"))
    return known


def _made_here(arr, known, in_grads, i):
    """Whether gradient ``i`` is a new array made by a built-in backward for that input alone: not a view, not an
    array it received or saved, not returned for another input too."""
    if type(arr) is not np.ndarray or arr.base is not None or not arr.flags.owndata or id(arr) in known:
        return False
    for j, other in enumerate(in_grads):
        if j != i and other is not None and (other.array if hasattr(other, "array") else other) is arr:
            return False
    return True


def _toposort_counts(roots):
    """For every node reachable from ``roots``: how many edges from reachable nodes point at it."""
    deps, seen, stack = {}, set(roots), list(roots)
    while stack:
        node = stack.pop()
        for e in node.edges:
            if e and e.node is not None:
                deps[e.node] = deps.get(e.node, 0) + 1
                if e.node not in seen:
                    seen.add(e.node)
                    stack.append(e.node)
    return deps


def run_backward(outputs, grads, retain_graph, create_graph, capture=None, accumulate=True):
    """Propagate ``grads`` from ``outputs`` to every leaf.

    ``capture`` maps keys (``id(leaf)`` or ``(node, nr)``) to slots whose gradient is returned
    in a dict instead of (``accumulate=False``) or besides being accumulated into ``.grad``.
    """
    from ..tensor import Tensor  # noqa: PLC0415

    found = {}
    capture = capture or {}

    def add(store, key, g):
        store[key] = g if store.get(key) is None else store[key] + g

    deferred = {}       # leaves with hooks: their summed gradient, for the hooks to see once, after the walk

    def to_leaf(t, g, fresh=False, hooked=False):
        if not hooked and _hooks._leaf and _hooks.has_leaf_hooks(t):
            prev = deferred.get(id(t))
            deferred[id(t)] = (t, g if prev is None else prev[1] + g)
            return
        if id(t) in capture:
            add(found, id(t), g)
        elif accumulate:
            if t.grad is None:
                # the leaf must own its .grad (later backwards add into it in place): an array that may be
                # shared is copied; one a built-in backward has just made for this edge alone is kept (as
                # PyTorch's AccumulateGrad steals a gradient nobody else holds)
                t.grad = g if create_graph else Tensor._wrap(g.array if fresh else g.array.copy())
            elif create_graph:
                t.grad = t.grad + g
            else:
                t.grad.array += g.array

    pending = {}
    for t, g in zip(outputs, grads):
        if t._node is None:
            to_leaf(t, g)
        else:
            slots = pending.setdefault(t._node, [None] * len(t._node.out_meta))
            slots[t._nr] = g if slots[t._nr] is None else slots[t._nr] + g
    roots = list(pending)
    deps = _toposort_counts(roots)
    ready = [n for n in roots if deps.get(n, 0) == 0]
    with set_grad_enabled(create_graph):
        while ready:
            node = ready.pop()
            ctx = node.ctx
            if ctx._released:
                raise RuntimeError(f"backward: trying to go through the graph a second time at {node.name}; its "
                                   "saved tensors were freed. Pass retain_graph=True to the first backward")
            slots = pending.pop(node)
            if _hooks._node:            # hooks of the tensors this node made see (and may replace) their gradients
                _hooks.run_node(node, slots)
            for nr, (shape, dtype, device) in enumerate(node.out_meta):
                if slots[nr] is None:
                    slots[nr] = Tensor._wrap(np.zeros(shape, dtype) if device is None else
                                             Tensor._zeros(shape, to_dtype(dtype), device).array)
                if capture and (node, nr) in capture:
                    add(found, (node, nr), slots[nr])
                if node.retained and nr in node.retained:
                    node.retained[nr].grad = slots[nr] if create_graph else slots[nr].detach()
            in_grads = node.fn.backward(ctx, *slots)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if _anomaly._mode[0]:
                _anomaly.check_grads(node, [g if g is None or isinstance(g, Tensor) else Tensor._wrap(g)
                                            for g in in_grads])
            edges = node.edges
            if len(in_grads) > len(edges):
                raise RuntimeError(f"{node.name}.backward returned {len(in_grads)} gradients for "
                                   f"{len(edges)} forward inputs")
            known = None                # arrays this backward may have passed on rather than made
            for i, edge in enumerate(edges):
                if not edge:        # None: a tensor needing no gradient; False: not a tensor
                    continue
                parent = edge.node
                g = in_grads[i] if i < len(in_grads) else None
                if g is not None:
                    if not isinstance(g, Tensor):
                        g = Tensor._wrap(g)
                    fresh = False
                    if g.array.shape != edge.shape:
                        reduced = _reduce_to(g, edge.shape, node)
                        # a sum made a new host array (only host gradients are ever kept without a copy)
                        fresh = type(reduced.array) is np.ndarray and not np.may_share_memory(reduced.array, g.array)
                        g = reduced
                    if g.array.dtype != edge.dtype:
                        g, fresh = g.astype(to_dtype(edge.dtype)), True
                    if parent is None:
                        if not fresh and not create_graph and node.fn.__module__.startswith(_BUILTIN):
                            if known is None:
                                known = _passed_on(slots, ctx)
                            fresh = _made_here(g.array, known, in_grads, i)
                        to_leaf(edge.leaf, g, fresh)
                    else:
                        slots = pending.get(parent)
                        if slots is None:
                            slots = pending[parent] = [None] * len(parent.out_meta)
                        slots[edge.nr] = g if slots[edge.nr] is None else slots[edge.nr] + g
                if parent is not None:
                    deps[parent] -= 1
                    if deps[parent] == 0:
                        ready.append(parent)
            if not retain_graph:
                ctx._release()
        for t, g in deferred.values():
            to_leaf(t, _hooks.run_leaf(t, g), hooked=True)
    return found


def _root_grads(outputs, grad_outputs, op):
    from ..tensor import Tensor  # noqa: PLC0415

    grads = []
    for i, t in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None else None
        if not t.requires_grad:
            raise RuntimeError(f"{op}: output {i} of shape {t.shape} does not require grad and has no graph "
                               "(was it computed under no_grad, or from tensors without requires_grad=True?)")
        if g is None:
            if t.array.size != 1:
                raise RuntimeError(f"{op}: grad can be created implicitly only for scalar outputs; output {i} has "
                                   f"shape {t.shape}: pass gradient= of that shape")
            g = Tensor._wrap(np.ones(t.array.shape, t.array.dtype) if type(t.array) is np.ndarray else
                             Tensor._ones(t.shape, t.dtype, t.device).array)
        elif not isinstance(g, Tensor):
            g = Tensor._wrap(t._xp.asarray(g, dtype=t.dtype.np))
        if g.shape != t.shape:
            raise RuntimeError(f"{op}: gradient of shape {g.shape} does not match output {i} of shape {t.shape}")
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad``."""
    tensors = [tensors] if not isinstance(tensors, (list, tuple)) else list(tensors)
    if grad_tensors is not None and not isinstance(grad_tensors, (list, tuple)):
        grad_tensors = [grad_tensors]
    retain_graph = create_graph if retain_graph is None else retain_graph
    run_backward(tensors, _root_grads(tensors, grad_tensors, "backward"), retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching any ``.grad``.

    Example:
        >>> x = md.tensor([3.0], requires_grad=True)
        >>> (g,) = md.autograd.grad(x ** 2, x)   # g == [6.0]
    """
    from ..tensor import Tensor  # noqa: PLC0415

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    retain_graph = create_graph if retain_graph is None else retain_graph
    keys = []
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} of shape {t.shape} does not require grad")
        keys.append(id(t) if t._node is None else (t._node, t._nr))
    found = run_backward(outputs, _root_grads(outputs, grad_outputs, "grad"), retain_graph, create_graph,
                         capture=dict.fromkeys(keys), accumulate=False)
    result = []
    for i, (t, k) in enumerate(zip(inputs, keys)):
        g = found.get(k)
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} of shape {t.shape} was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)
