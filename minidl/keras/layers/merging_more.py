"""More merge layers: ``Subtract``, ``Maximum``, ``Minimum``, ``Dot``."""
import minidl as md

from ... import nn
from .base import shape_str
from .merging import _Merge


class Subtract(_Merge):
    """``a - b`` of exactly two same-shape inputs: ``Subtract()([a, b])``.

    Example:
        >>> md.keras.layers.Subtract()([np.ones((1, 2)), np.ones((1, 2))]).tolist()
        [[0.0, 0.0]]
    """

    def _check_list(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2:
            raise ValueError(f'A `Subtract` layer should be called on exactly 2 inputs. Received: input_shape='
                             f"{shapes}")

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        return super().compute_output_shape(input_shape)

    @staticmethod
    def _combine(a, b):
        return a - b


class Maximum(_Merge):
    """Elementwise maximum of a list of same-shape inputs."""

    @staticmethod
    def _combine(a, b):
        return md.maximum(a, b)


class Minimum(_Merge):
    """Elementwise minimum of a list of same-shape inputs."""

    @staticmethod
    def _combine(a, b):
        return md.minimum(a, b)


class Dot(_Merge):
    """Dot product of two inputs along ``axes`` (an int for both, or one axis each; the batch axis 0 is not
    allowed), per sample (Keras' ``batch_dot``): the output holds the first input's other axes, then the second's; a
    result of one axis gets a size-1 axis appended. ``normalize=True`` L2-normalizes both along their axes first
    (cosine similarity).

    Example:
        >>> a, b = md.keras.Input(shape=(5, 8)), md.keras.Input(shape=(7, 8))
        >>> md.keras.layers.Dot(axes=2)([a, b]).shape
        (None, 5, 7)
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, int) and not isinstance(axes, bool):
            axes = [axes, axes]
        if not (isinstance(axes, (list, tuple)) and len(axes) == 2 and
                all(isinstance(a, int) and not isinstance(a, bool) for a in axes)):
            raise TypeError(f"Invalid type for argument `axes`: it should be a list or an int. Received: axes={axes}")
        self.axes, self.normalize = list(axes), bool(normalize)

    def _contracted(self, shapes):
        self._check_list(shapes)
        if len(shapes) != 2:
            raise ValueError(f"A `Dot` layer should be called on a list of 2 inputs. Received: input_shape={shapes}")
        axes = [a % len(s) for a, s in zip(self.axes, shapes)]
        if 0 in axes:
            raise ValueError(f'Layer "{self.name}": Dot cannot contract the batch axis (axes={self.axes})')
        a, b = shapes[0][axes[0]], shapes[1][axes[1]]
        if a is not None and b is not None and a != b:
            raise ValueError(f"Incompatible input shapes: axis values {a} (at axis {axes[0]}) != {b} (at axis "
                             f"{axes[1]}). Full input shapes: {shape_str(shapes[0])}, {shape_str(shapes[1])}")
        return axes

    def compute_output_shape(self, input_shape):
        s1, s2 = (list(s) for s in input_shape)
        a1, a2 = self._contracted(input_shape)
        out = s1[:a1] + s1[a1 + 1:] + s2[1:a2] + s2[a2 + 1:]
        return tuple(out) + ((1,) if len(out) == 1 else ())

    def call(self, inputs):
        x, y = inputs
        a1, a2 = self._contracted([(None,) + tuple(t.shape[1:]) for t in inputs])
        if self.normalize:
            x, y = nn.functional.normalize(x, dim=a1), nn.functional.normalize(y, dim=a2)
        n = x.shape[0]
        x_rest = [x.shape[i] for i in range(1, x.ndim) if i != a1]
        y_rest = [y.shape[i] for i in range(1, y.ndim) if i != a2]
        xm = x.movedim(a1, -1).reshape(n, -1, x.shape[a1])
        ym = y.movedim(a2, 1).reshape(n, y.shape[a2], -1)
        out = md.matmul(xm, ym).reshape(n, *x_rest, *y_rest)
        return out.reshape(n, 1) if out.ndim == 1 else out

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
