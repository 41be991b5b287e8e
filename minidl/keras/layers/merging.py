"""Layers that join branches of a functional model: ``Concatenate``, ``Add``, ``Multiply``, ``Average``."""
from ... import ops
from .base import Layer, shape_str


class _Merge(Layer):
    def _weight_shapes(self, input_shape):
        return ()
    def _check_list(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) < 2 or \
                not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f'Layer "{self.name}" should be called on a list of at least 2 inputs. '
                             f"Received: input_shape={shapes}")

    def build(self, input_shape):
        self._check_list(input_shape)

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        for s in input_shape[1:]:
            if len(s) != len(first) or any(a is not None and b is not None and a != b for a, b in zip(first, s)):
                raise ValueError(f'Layer "{self.name}": inputs must have the same shape; received '
                                 f"{', '.join(shape_str(s) for s in input_shape)}")
        return first

    def call(self, inputs):
        self.compute_output_shape([(None,) + tuple(t.shape[1:]) for t in inputs])
        out = inputs[0]
        for t in inputs[1:]:
            out = self._combine(out, t)
        return self._finish(out, len(inputs))

    def _finish(self, out, n):
        return out


class Add(_Merge):
    """Elementwise sum of a list of same-shape inputs: ``Add()([a, b])``."""

    @staticmethod
    def _combine(a, b):
        return a + b


class Multiply(_Merge):
    """Elementwise product of a list of same-shape inputs."""

    @staticmethod
    def _combine(a, b):
        return a * b


class Average(Add):
    """Elementwise mean of a list of same-shape inputs."""

    def _finish(self, out, n):
        return out / n


class Concatenate(_Merge):
    """Join a list of inputs along ``axis`` (default the last): ``Concatenate()([a, b])``.

    Example:
        >>> a, b = md.keras.Input(shape=(4,)), md.keras.Input(shape=(6,))
        >>> md.keras.layers.Concatenate()([a, b]).shape
        (None, 10)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape):
        first = list(input_shape[0])
        axis = self.axis % len(first)
        for s in input_shape[1:]:
            if len(s) != len(first) or any(i != axis and a is not None and b is not None and a != b
                                           for i, (a, b) in enumerate(zip(first, s))):
                raise ValueError(f'A `Concatenate` layer requires inputs with matching shapes except for the concat '
                                 f"axis. Received: input_shape={[shape_str(s) for s in input_shape]}")
        sizes = [s[axis] for s in input_shape]
        first[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(first)

    def call(self, inputs):
        self.compute_output_shape([(None,) + tuple(t.shape[1:]) for t in inputs])
        return ops.cat(list(inputs), dim=self.axis % inputs[0].ndim)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
