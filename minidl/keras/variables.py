"""``md.keras.Variable``: Keras 3's view of one layer weight (``layer.weights``, ``layer.add_weight``).

A ``Variable`` is a handle on a layer's registered weight (the ``_Weight`` entries of
``minidl/keras/layers/base.py``): ``.numpy()`` and ``.shape`` are in Keras' layout (Dense kernel ``(in, out)``),
``.assign(value)`` writes through to the minidl tensor, and ``.value`` is the tensor a computation uses. Arithmetic
on a Variable (``x @ w + b``) runs on ``.value``, so gradients reach the weight.
"""
import numpy as np

from ..tensor import Tensor

__all__ = ["Variable"]


class Variable:
    """One weight of a layer, as Keras 3 shows it.

    Example:
        >>> layer = md.keras.layers.Dense(3)
        >>> _ = layer(np.zeros((1, 4), "float32"))
        >>> [(v.name, v.shape) for v in layer.weights]
        [('kernel', (4, 3)), ('bias', (3,))]
    """

    __array_priority__ = 1001       # ``ndarray + variable`` calls the variable's reflected operator

    def __init__(self, weight, layer):
        self._weight, self._layer = weight, layer

    @property
    def name(self):
        return self._weight.name

    @property
    def path(self):
        """``"<layer name>/<weight name>"``, as Keras 3's ``variable.path``."""
        return f"{self._layer.name}/{self._weight.name}"

    @property
    def shape(self):
        return tuple(int(d) for d in self._weight.read().shape)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def dtype(self):
        return self._weight.read().dtype.name

    @property
    def trainable(self):
        return bool(self._weight.trainable and self._layer.trainable)

    @property
    def value(self):
        """The tensor behind the weight: the trained minidl Tensor itself where its layout is Keras' (weights made
        by ``add_weight``, biases, Conv kernels stored as Keras stores them); otherwise a Tensor holding a copy in
        Keras' layout (a Dense kernel, which minidl stores transposed)."""
        tensors = self._weight.tensors()
        if len(tensors) == 1 and getattr(self._weight, "identity_layout", False):
            return tensors[0]
        return Tensor._wrap(self._weight.read())

    def _set_grad(self, grad):
        """Give the weight's tensors the gradient ``grad`` (Keras' layout; None keeps what ``backward`` left);
        returns the tensors."""
        tensors = self._weight.tensors()
        if grad is not None:
            g = _numpy(grad)
            if g.shape != self.shape:
                raise ValueError(f"gradient of shape {g.shape} for variable {self.path} of shape {self.shape}")
            parts = self._weight.from_keras(g)
            parts = parts if len(tensors) > 1 else (parts,)
            for t, arr in zip(tensors, parts):
                t.grad = Tensor._wrap(t._xp.asarray(np.ascontiguousarray(arr, dtype=t.array.dtype)))
        return list(tensors)

    def numpy(self):
        """A NumPy copy in Keras' layout."""
        return self._weight.read()

    def assign(self, value):
        """Write ``value`` (same shape, Keras' layout) into the weight; returns the variable.

        Example:
            >>> layer.weights[1].assign(np.zeros(3))
        """
        self._weight.write(_numpy(value), self._layer)
        return self

    def assign_add(self, delta):
        """``variable += delta`` in place (a running total in a custom layer, as in Keras' guides)."""
        return self.assign(self.numpy() + _numpy(delta))

    def assign_sub(self, delta):
        """``variable -= delta`` in place."""
        return self.assign(self.numpy() - _numpy(delta))

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __repr__(self):
        shape = ", ".join(str(d) for d in self.shape) + ("," if self.ndim == 1 else "")
        return f"<Variable path={self.path}, shape=({shape}), dtype={self.dtype}>"

    def __minidl_operand__(self):
        # in a Tensor's operators (``x @ self.w``) a Variable is its tensor, with its gradient
        return self.value

    # arithmetic runs on the tensor, so a custom layer's ``x @ self.w + self.b`` is differentiable
    def __add__(self, o):
        return self.value + _val(o)

    def __radd__(self, o):
        return _val(o) + self.value

    def __sub__(self, o):
        return self.value - _val(o)

    def __rsub__(self, o):
        return _val(o) - self.value

    def __mul__(self, o):
        return self.value * _val(o)

    def __rmul__(self, o):
        return _val(o) * self.value

    def __truediv__(self, o):
        return self.value / _val(o)

    def __rtruediv__(self, o):
        return _val(o) / self.value

    def __matmul__(self, o):
        return self.value @ _val(o)

    def __rmatmul__(self, o):
        return _val(o) @ self.value

    def __pow__(self, o):
        return self.value ** _val(o)

    def __neg__(self):
        return -self.value

    def __getitem__(self, index):
        return self.value[index]


def _val(x):
    return x.value if isinstance(x, Variable) else x


def _numpy(x):
    if isinstance(x, Variable):
        return x.numpy()
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def variable_for(weight, layer):
    """The one Variable of a layer weight (the same object each time, so ``layer.weights == [layer.w, layer.b]``
    holds as in Keras)."""
    var = weight.__dict__.get("_variable")
    if var is None:
        var = weight.__dict__["_variable"] = Variable(weight, layer)
    return var
