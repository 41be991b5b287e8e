"""Tensor gradient hooks (``Tensor.register_hook``), kept beside the graph rather than on the Tensor.

A leaf's hooks are keyed by the tensor's id (dropped when it dies); a non-leaf's by its graph node and output
number, so they run even when the Python tensor is gone but its graph lives on, as in PyTorch. The engine asks
``run`` for the gradient to use: each hook sees the gradient the previous one left, and may return a replacement.
"""
import itertools
import weakref

_leaf = {}                                  # id(tensor) -> {handle id: hook}
_node = weakref.WeakKeyDictionary()         # node -> {output nr: {handle id: hook}}
_ids = itertools.count()


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, table, hid):
        self._table, self._id = table, hid

    def remove(self):
        self._table.pop(self._id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def register(tensor, hook):
    """Register ``hook(grad) -> Tensor or None`` on ``tensor``; see ``Tensor.register_hook``."""
    if not callable(hook):
        raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
    if not tensor.requires_grad:
        raise RuntimeError(f"register_hook: cannot register a hook on a tensor (shape {tensor.shape}) that does "
                           "not require grad")
    if tensor._node is None:
        key = id(tensor)
        if key not in _leaf:
            _leaf[key] = {}
            weakref.finalize(tensor, _leaf.pop, key, None)
        table = _leaf[key]
    else:
        table = _node.setdefault(tensor._node, {}).setdefault(tensor._nr, {})
    hid = next(_ids)
    table[hid] = hook
    return RemovableHandle(table, hid)


def has_leaf_hooks(tensor):
    return bool(_leaf) and bool(_leaf.get(id(tensor)))


def _run(hooks, grad):
    for hook in list(hooks.values()):
        out = hook(grad)
        if out is not None:
            if getattr(out, "shape", None) != grad.shape:
                raise RuntimeError(f"hook: a tensor hook returned a gradient of shape {getattr(out, 'shape', out)} "
                                   f"for a gradient of shape {grad.shape}")
            grad = out
    return grad


def run_leaf(tensor, grad):
    """The gradient of leaf ``tensor`` after its hooks."""
    hooks = _leaf.get(id(tensor))
    return _run(hooks, grad) if hooks else grad


def run_node(node, slots):
    """Replace each gradient in ``slots`` (one per output of ``node``; None where none arrived) by what the hooks of
    the tensor that output made leave of it."""
    per = _node.get(node)
    if per:
        for nr, hooks in per.items():
            if hooks and slots[nr] is not None:
                slots[nr] = _run(hooks, slots[nr])
