"""PyTorch's allow-list for weights-only loading: ``add_safe_globals``, ``safe_globals`` (a context manager),
``get_safe_globals`` and ``clear_safe_globals`` in ``md.serialization``.

A checkpoint holding a pickled object (``md.save(model, path)``) is refused by a weights-only ``md.load`` (the
default). Once the program names the classes and functions it trusts -- as PyTorch's word-language-model example
does with ``torch.serialization.safe_globals([TransformerModel, torch.nn.modules.linear.Linear, ...])`` -- the
pickle is read by an unpickler that resolves only those names, plus the few that every tensor needs (minidl's
Tensor and Parameter, NumPy's array reconstruction, OrderedDict). Any other global in the pickle is refused by its
name before its module is imported, so nothing the file names runs unless it is on the list.
"""
import collections
import contextvars
import io
import pickle

import numpy as np

_process_wide = []
_scoped = contextvars.ContextVar("minidl_safe_globals", default=())


def _check(op, entries):
    entries = list(entries)
    for e in entries:
        ok = (isinstance(e, tuple) and len(e) == 2 and isinstance(e[1], str)) or callable(e)
        if not ok:
            raise TypeError(f"{op}: expected classes or functions, or (object, 'module.name') pairs, got {e!r}")
    return entries


def add_safe_globals(safe_globals):
    """Allow the listed classes and functions in weights-only loads from now on (process-wide), as PyTorch.

    Args:
        safe_globals: a list of objects, or of ``(object, "module.name")`` pairs naming where the pickle finds them.

    Example:
        >>> md.serialization.add_safe_globals([MyModel, md.nn.Linear])
        >>> model = md.load("model.pt")          # a file written by md.save(model, "model.pt")
    """
    _process_wide.extend(_check("add_safe_globals", safe_globals))


def clear_safe_globals():
    """Forget every global added with :func:`add_safe_globals`.

    Example:
        >>> md.serialization.clear_safe_globals()
    """
    _process_wide.clear()


def get_safe_globals():
    """The globals added with :func:`add_safe_globals` (the ``safe_globals`` context's are not included).

    Example:
        >>> md.serialization.get_safe_globals()
        []
    """
    return list(_process_wide)


class safe_globals:  # noqa: N801 -- PyTorch's name
    """Within the ``with`` block, weights-only loads also allow the listed classes and functions.

    Example:
        >>> with md.serialization.safe_globals([MyModel, md.nn.Linear]):
        ...     model = md.load("model.pt")
    """

    def __init__(self, safe_globals):
        self.safe_globals = _check("safe_globals", safe_globals)
        self._token = None

    def __enter__(self):
        self._token = _scoped.set(_scoped.get() + tuple(self.safe_globals))
        return self

    def __exit__(self, *exc):
        _scoped.reset(self._token)
        return False


def active():
    """Whether any safe global is allowed here (process-wide or by an enclosing ``safe_globals``)."""
    return bool(_process_wide) or bool(_scoped.get())


def _allowed():
    from .nn.parameter import Parameter  # noqa: PLC0415 -- nn imports serialization
    from .tensor import Tensor  # noqa: PLC0415

    reconstruct = np._core.multiarray._reconstruct if hasattr(np, "_core") else np.core.multiarray._reconstruct
    table = {"collections.OrderedDict": collections.OrderedDict, "minidl.tensor.Tensor": Tensor,
             "minidl.nn.parameter.Parameter": Parameter, "numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype,
             "numpy._core.multiarray._reconstruct": reconstruct, "numpy.core.multiarray._reconstruct": reconstruct}
    for e in (*_process_wide, *_scoped.get()):
        if isinstance(e, tuple):
            table[e[1]] = e[0]
        else:
            table[f"{e.__module__}.{e.__qualname__}"] = e
    return table


class _Restricted(pickle.Unpickler):
    def __init__(self, blob, refuse):
        super().__init__(io.BytesIO(blob))
        self._table, self._refuse = _allowed(), refuse

    def find_class(self, module, name):
        obj = self._table.get(f"{module}.{name}")
        if obj is None:
            raise self._refuse(f"{module}.{name}")
        return obj


def restricted_loads(blob, refuse):
    """Unpickle ``blob`` resolving only the allowed globals; ``refuse(name)`` builds the exception for any other."""
    return _Restricted(blob, refuse).load()
