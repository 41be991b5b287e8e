"""The metrics of both training loops (``md.train.fit`` and ``md.keras.Model.fit``): Keras' ``Metric`` hierarchy,
running means over the batches of an epoch computed on the host without a graph.

``update_state(y_true, y_pred, sample_weight=None)`` adds a batch, ``result()`` reads the running value and
``reset_state()`` starts over (Keras' names); ``update(output, target)`` is md.train's spelling of
``update_state(target, output)``. ``md.keras.metrics`` and ``md.train.get_metric`` hand out these classes.
``"accuracy"`` picks binary, categorical or sparse-categorical accuracy from the compiled loss (``md.keras``) or
from the shapes of the first batch, as Keras does.

Example:
    >>> m = md.train.metrics.SparseCategoricalAccuracy()
    >>> m.update_state(np.array([1, 0]), np.array([[0.1, 0.9], [0.2, 0.8]]))
    >>> m.result()
    0.5
"""
import re

import numpy as np

from ..device import to_host


def host(t):
    """A NumPy copy of a Tensor (or array) wherever it lives."""
    return np.array(to_host(t))


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def snake_case(name):
    """``"MeanSquaredError"`` -> ``"mean_squared_error"``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()



def _arrays(y_true, y_pred):
    t = host(y_true) if hasattr(y_true, "array") else np.asarray(y_true)
    p = host(y_pred) if hasattr(y_pred, "array") else np.asarray(y_pred)
    return t, p


def _aligned(name, t, p):
    if t.ndim == p.ndim - 1 and p.shape[-1:] == (1,):
        t = t[..., None]
    elif t.ndim == p.ndim + 1 and t.shape[-1:] == (1,):
        t = t[..., 0]
    if t.shape != p.shape:
        raise ValueError(f"{name}: labels of shape {shape_str(t.shape)} do not match the model's output of shape "
                         f"{shape_str(p.shape)}")
    return t


def binary_accuracy(y_true, y_pred, threshold=0.5):
    t, p = _arrays(y_true, y_pred)
    t = _aligned("binary_accuracy", t, p)
    return ((p > threshold) == (t > 0.5)).astype(np.float64).mean(-1)


def categorical_accuracy(y_true, y_pred):
    t, p = _arrays(y_true, y_pred)
    t = _aligned("categorical_accuracy", t, p)
    return (t.argmax(-1) == p.argmax(-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    t, p = _arrays(y_true, y_pred)
    if t.ndim == p.ndim and t.shape[-1:] == (1,):
        t = t[..., 0]
    if t.shape != p.shape[:-1]:
        raise ValueError(f"sparse_categorical_accuracy: labels of shape {shape_str(t.shape)} do not match the "
                         f"model's output of shape {shape_str(p.shape)}")
    return (p.argmax(-1) == t).astype(np.float64)


def mean_squared_error(y_true, y_pred):
    t, p = _arrays(y_true, y_pred)
    return ((_aligned("mean_squared_error", t, p) - p) ** 2).mean(-1)


def mean_absolute_error(y_true, y_pred):
    t, p = _arrays(y_true, y_pred)
    return np.abs(_aligned("mean_absolute_error", t, p) - p).mean(-1)


class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``, ``reset_state()``.

    A metric of your own keeps its state in variables, as in Keras 3: ``self.add_variable(shape, initializer,
    name=...)`` in ``__init__`` (after ``super().__init__``), updated with ``assign``/``assign_add`` in
    ``update_state``; the base ``reset_state`` sets every variable back to its initial value.

    Example:
        >>> class Count(md.keras.metrics.Metric):
        ...     def __init__(self, name="count", **kwargs):
        ...         super().__init__(name=name, **kwargs)
        ...         self.n = self.add_variable(shape=(), initializer="zeros", name="n")
        ...     def update_state(self, y_true, y_pred, sample_weight=None):
        ...         self.n.assign_add(len(y_true))
        ...     def result(self):
        ...         return self.n
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype
        self._metric_variables = []
        Metric.reset_state(self)      # the base state only: a subclass's own state may not exist yet

    def reset_state(self):
        self.total, self.count = 0.0, 0.0
        for v in self.__dict__.get("_metric_variables", ()):
            v.assign(v.initial)

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable of this metric (a ``MetricVariable``: ``assign``, ``assign_add``, ``numpy()``)."""
        from ..keras import initializers  # noqa: PLC0415
        shape = tuple(shape) if isinstance(shape, (list, tuple)) else ((shape,) if shape else ())
        init = np.asarray(initializers.get(initializer)(shape, dtype or "float32"), dtype=dtype or "float32")
        v = MetricVariable(init, name or f"variable_{len(self._metric_variables)}")
        self._metric_variables.append(v)
        return v

    add_weight = add_variable

    @property
    def variables(self):
        return list(self._metric_variables)

    def result(self):
        return self.total / self.count if self.count else 0.0

    def update(self, output, target):
        """md.train's spelling: ``update_state(target, output)``."""
        self.update_state(target, output)

    def get_config(self):
        return {"name": self.name}


class MetricVariable:
    """A metric's state on the host: ``assign``, ``assign_add``, ``assign_sub``, ``numpy()``, ``value``; it reads
    as a number (``float(v)``) or an array, so ``result()`` may return it."""

    __array_priority__ = 1001

    def __init__(self, initial, name):
        self.initial, self.name = np.array(initial), name
        self._value = np.array(initial)

    def _as_array(self, value):
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        return np.asarray(value, dtype=self._value.dtype).reshape(self._value.shape)

    def assign(self, value):
        self._value = self._as_array(value)
        return self

    def assign_add(self, value):
        return self.assign(self._value + self._as_array(value))

    def assign_sub(self, value):
        return self.assign(self._value - self._as_array(value))

    def numpy(self):
        return self._value.copy()

    @property
    def value(self):
        return self.numpy()

    @property
    def shape(self):
        return self._value.shape

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __float__(self):
        return float(self._value)

    def __repr__(self):
        return f"<MetricVariable {self.name}={self._value!r}>"


class MeanMetricWrapper(Metric):
    """The weighted mean of a per-sample function ``fn(y_true, y_pred)`` over everything it has seen."""

    def __init__(self, fn, name=None, **kwargs):
        self.fn, self.kwargs = fn, kwargs
        super().__init__(name or fn.__name__)

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = np.asarray(self.fn(y_true, y_pred, **self.kwargs), np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            w = np.broadcast_to(np.asarray(host(sample_weight), np.float64).reshape(
                np.shape(sample_weight) + (1,) * (values.ndim - np.ndim(sample_weight))), values.shape)
            self.total += float((values * w).sum())
            self.count += float(w.sum())


def _wrapper(cls_name, fn, **defaults):
    def __init__(self, name=None, **kwargs):
        MeanMetricWrapper.__init__(self, fn, name or _snake(cls_name), **{**defaults, **kwargs})
    doc = f"Running mean of ``{fn.__name__}``."
    return type(cls_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc})


BinaryAccuracy = _wrapper("BinaryAccuracy", binary_accuracy, threshold=0.5)
CategoricalAccuracy = _wrapper("CategoricalAccuracy", categorical_accuracy)
SparseCategoricalAccuracy = _wrapper("SparseCategoricalAccuracy", sparse_categorical_accuracy)
MeanSquaredError = _wrapper("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = _wrapper("MeanAbsoluteError", mean_absolute_error)


class _Confusion(Metric):
    """Binary precision or recall at a 0.5 threshold, from true/false positive counts."""

    def __init__(self, thresholds=0.5, name=None):
        self.threshold = thresholds
        super().__init__(name)
        self.reset_state()

    def reset_state(self):
        self.tp = self.fp = self.fn = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _arrays(y_true, y_pred)
        t = _aligned(self.name, t, p) > 0.5
        p = p > self.threshold
        self.tp += float((t & p).sum())
        self.fp += float((~t & p).sum())
        self.fn += float((t & ~p).sum())


class Precision(_Confusion):
    """tp / (tp + fp) of 0/1 labels against ``y_pred > thresholds``."""

    def result(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0


class Recall(_Confusion):
    """tp / (tp + fn) of 0/1 labels against ``y_pred > thresholds``."""

    def result(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


_snake = snake_case


_BY_NAME = {"binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
            "sparse_categorical_accuracy": SparseCategoricalAccuracy, "mse": MeanSquaredError,
            "mean_squared_error": MeanSquaredError, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
            "precision": Precision, "recall": Recall}
_ACCURACY_FOR = {"binary_crossentropy": BinaryAccuracy, "categorical_crossentropy": CategoricalAccuracy,
                 "sparse_categorical_crossentropy": SparseCategoricalAccuracy}


class _AutoAccuracy(MeanMetricWrapper):
    """``"accuracy"`` with a loss that does not say which kind: decided from the shapes of the first batch."""

    def __init__(self, name):
        super().__init__(self._auto, name)

    @staticmethod
    def _auto(y_true, y_pred):
        t, p = _arrays(y_true, y_pred)
        if p.ndim >= 1 and p.shape[-1] > 1:
            return categorical_accuracy(t, p) if t.shape == p.shape else sparse_categorical_accuracy(t, p)
        return binary_accuracy(t, p)


def get(identifier, loss_name=None):
    """A fresh Metric for a name (``"accuracy"``, ``"mae"``...), a Metric (copied by its config) or a function."""
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            cls = _ACCURACY_FOR.get(loss_name)
            return cls(name=identifier) if cls else _AutoAccuracy(identifier)
        if identifier in _BY_NAME:
            return _BY_NAME[identifier](name=identifier)
        raise ValueError(f"Could not interpret metric identifier: {identifier!r} "
                         f"(known: accuracy, acc, {', '.join(sorted(_BY_NAME))})")
    if isinstance(identifier, Metric):
        return identifier
    if callable(identifier):
        return MeanMetricWrapper(identifier, getattr(identifier, "__name__", "metric"))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


# md.train's names (``metrics=("accuracy", "mae")``) map onto the Keras classes above
METRICS = {"accuracy": "accuracy", "acc": "acc", "mae": "mae", "mse": "mse"}


def get_metric(spec):
    """A fresh Metric for md.train from a name (``"accuracy"``, ``"mae"``...), a Metric class, or a Metric
    (whose class is instantiated anew).

    Example:
        >>> md.train.get_metric("accuracy").name
        'accuracy'
    """
    if isinstance(spec, str):
        if spec not in METRICS:
            raise ValueError(f"metric: unknown {spec!r} (choose from {', '.join(sorted(METRICS))})")
        return get(spec)
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    if isinstance(spec, Metric):
        spec.reset_state()
        return spec
    raise TypeError(f"metric: expected a name or a Metric, got {type(spec).__name__}")
