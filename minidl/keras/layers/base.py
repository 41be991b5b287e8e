"""The Keras ``Layer`` on top of ``md.nn.Module``, symbolic ``KerasTensor``s, and ``Input``.

A Keras layer is an ``md.nn.Module`` whose weights are created by ``build(input_shape)`` on first use: from the
``input_shape`` argument, an ``Input``, or the first batch. Inside, each layer holds ordinary ``md.nn`` modules
(``Linear``, ``Conv2d``, ``LSTM``...), so training runs on minidl's own kernels and autograd; what this class adds
is Keras' shape rules, names, weight layouts (``get_weights``), regularizers and configs.
"""
import contextlib
import contextvars
import functools
import math

import numpy as np

from ... import dtypes
from ...device import array_module, to_host
from ...nn.module import Module
from ...tensor import Tensor
from .. import backend
from . import call_losses


# the dtypes a layer computes in and an Input may hold, by the names configs use (never looked up with getattr)
LAYER_DTYPES = {d.name: d for d in (dtypes.float16, dtypes.float32, dtypes.float64)}
INPUT_DTYPES = {**LAYER_DTYPES, **{d.name: d for d in (dtypes.int32, dtypes.int64, dtypes.uint8, dtypes.bool_)}}


def resolve_dtype(value, allowed, what):
    """The name of a dtype given as a name or an ``md`` dtype, checked against ``allowed``."""
    name = value.name if isinstance(value, dtypes.DType) else value
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(f"{what}: unknown dtype {value!r} (known: {', '.join(allowed)})")
    return name


def _size(layer, weight_shape, input_shape):
    """The number of values in a planned weight (its sizes checked: a list of input shapes given to a layer that
    takes one input must not turn into a size)."""
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in weight_shape):
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) cannot be built for the input shape "
                         f"{input_shape!r:.120}")
    return math.prod(int(d) for d in weight_shape)


class WeightBudget:
    """While a file is loaded: the weight values its tensors hold, which the layers being rebuilt from its config may
    claim before they allocate (``Layer._maybe_build``), so a config cannot make loading allocate more than the file
    holds."""

    def __init__(self, values, source):
        self.left, self.total, self.source = values, values, source

    def take(self, layer, count):
        if count > self.left:
            raise ValueError(f"{self.source}: the config's layer {layer.name!r} ({type(layer).__name__}) needs "
                             f"{count} weight values, but the file's weights hold only {self.total} in all "
                             f"({self.left} left for this layer)")
        self.left -= count


_BUDGET = contextvars.ContextVar("minidl_keras_weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(values, source):
    """Limit the weights the layers built inside to ``values`` in all (see ``WeightBudget``)."""
    token = _BUDGET.set(WeightBudget(values, source))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def host(t):
    """A NumPy copy of a Tensor (or array) wherever it lives."""
    return np.array(to_host(t))


def to_tensor(x):
    """Arrays become Tensors; float data is cast to floatx (as Keras casts its inputs). String arrays stay NumPy
    arrays, for the layers that take strings (StringLookup, TextVectorization, Hashing)."""
    if isinstance(x, Tensor):
        return x
    a = backend.float_array(x)
    return a if a.dtype.kind in "USO" else Tensor._wrap(a)


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class KerasTensor:
    """A symbolic tensor: a shape with ``None`` for the batch (and any unknown) axis, and the layer call that made
    it. Calling layers on KerasTensors records a graph that ``md.keras.Model(inputs, outputs)`` runs."""

    def __init__(self, shape, dtype=None, layer=None, parents=()):
        self.shape, self.dtype = tuple(shape), dtype or backend.floatx()
        self.layer, self.parents = layer, tuple(parents)

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={shape_str(self.shape)}, dtype={self.dtype}>"


def check_shape(shape, what):
    """A shape from a config as a tuple: a short list of sizes (non-negative ints below 2**31) or None."""
    if not isinstance(shape, (list, tuple)) or len(shape) > 16 or not all(
            d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d < 2 ** 31)
            for d in shape):
        raise ValueError(f"{what} must be a list of at most 16 sizes (ints in [0, 2**31) or None), got {shape!r}")
    return tuple(None if d is None else int(d) for d in shape)


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):  # noqa: N802 -- Keras' name
    """A symbolic input: ``inputs = md.keras.Input(shape=(28, 28, 1))`` (``shape`` excludes the batch axis).

    Start a functional model with it, or put it first in a ``Sequential`` list to fix the input shape.

    Example:
        >>> inputs = md.keras.Input(shape=(784,))
        >>> outputs = md.keras.layers.Dense(10, activation="softmax")(inputs)
        >>> model = md.keras.Model(inputs, outputs)
    """
    if batch_shape is None:
        if shape is None:
            raise ValueError("You must pass a `shape` argument to Input, e.g. Input(shape=(784,))")
        shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
        if not isinstance(shape, (list, tuple)):
            raise ValueError(f"Input: shape must be a tuple of sizes, got {shape!r}")
        batch_shape = (batch_size, *shape)
    batch_shape = check_shape(batch_shape, "Input shape")
    dtype = None if dtype is None else resolve_dtype(dtype, INPUT_DTYPES, "Input")
    t = KerasTensor(batch_shape, dtype)
    t.name = name or backend.unique_name("input_layer")     # a given name is kept, as Keras keeps it
    return t


class InputLayer:
    """``InputLayer(shape=...)`` as a ``Sequential`` entry: fixes the input shape, holds no weights."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, batch_shape=None):
        self.tensor = Input(shape if shape is not None else input_shape, batch_size, dtype, name, batch_shape)


class _Weight:
    """One Keras weight of a layer: its name, the minidl tensor(s) behind it (``get()`` returns one Tensor, or a
    tuple when one Keras weight spans several, like a GRU's two biases) and the layout conversions between them
    (``to_keras``: minidl array(s) -> Keras array, ``from_keras`` back), plus its regularizer and constraint."""

    def __init__(self, name, get, to_keras=None, from_keras=None, regularizer=None, trainable=True, constraint=None):
        self.name, self.get, self.regularizer, self.trainable = name, get, regularizer, trainable
        self.constraint = constraint
        self.to_keras, self.from_keras = to_keras or (lambda a: a), from_keras or (lambda a: a)
        self.identity_layout = to_keras is None     # the tensor is in Keras' layout (Variable.value is the tensor)

    def tensors(self):
        t = self.get()
        return tuple(t) if isinstance(t, (tuple, list)) else (t,)

    def read(self):
        arrays = [host(t) for t in self.tensors()]
        return np.asarray(self.to_keras(arrays[0] if len(arrays) == 1 else tuple(arrays)))

    def write(self, value, layer):
        want = self.read().shape
        value = np.asarray(value)
        if value.shape != want:
            raise ValueError(f"Layer {layer.name!r} weight {self.name!r} has shape {shape_str(want)}; the value "
                             f"given has shape {shape_str(value.shape)}")
        tensors = self.tensors()
        parts = self.from_keras(value)
        parts = parts if len(tensors) > 1 else (parts,)
        for t, arr in zip(tensors, parts):
            arr = np.ascontiguousarray(arr, dtype=t.array.dtype)
            t.array[...] = array_module(t.array).asarray(arr)        # host -> device if needed (CuPy's asarray)
            t._version += 1

    def penalty(self):
        total = 0.0
        for t in self.tensors():        # l1 and l2 are sums, so a weight split over tensors adds up
            total = total + self.regularizer(t)
        return total


class Layer(Module):
    """Base class of Keras layers. Subclasses set ``ndim`` / ``min_ndim`` (the input rank they accept), create
    their ``md.nn`` modules and weights in ``build``, compute in ``call`` and say their output shape in
    ``compute_output_shape``.

    Example (a custom layer):
        >>> class Double(md.keras.layers.Layer):
        ...     def call(self, x):
        ...         return x * 2
    """

    ndim = None
    min_ndim = None
    _config_root = True     # __init__ rejects unknown keyword arguments itself (see keras._config.init_params)
    _autocast = True        # float inputs are cast to the layer's dtype (Keras' autocast); Embedding opts out
    _cast_ints = False      # layers that compute in floats (Dense, Conv2D...) also cast integer inputs, as Keras

    def __init_subclass__(cls, **kwargs):
        """As Keras, a direct ``layer.build(input_shape)`` marks the layer built (so a later call does not build it a
        second time, and ``count_params`` works)."""
        super().__init_subclass__(**kwargs)
        original = cls.__dict__.get("build")
        if original is None or getattr(original, "_marks_built", False):
            return

        @functools.wraps(original)
        def build(self, input_shape=None, *args, **kw):
            out = original(self, input_shape, *args, **kw)
            self._finish_build(input_shape)
            return out

        build._marks_built = True
        cls.build = build

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None, batch_size=None,
                 batch_input_shape=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        super().__init__()
        if activity_regularizer is not None:
            from .. import regularizers  # noqa: PLC0415
            self.activity_regularizer = regularizers.get(activity_regularizer)
        if name is not None and (not isinstance(name, str) or not name or "." in name):
            raise ValueError(f"{type(self).__name__}: a layer name must be a non-empty string without '.', got "
                             f"{name!r}")
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.dtype_name = resolve_dtype(dtype or backend.floatx(), LAYER_DTYPES, f"layer {self.name!r}")
        self.built, self._weights, self._axes = False, [], {}
        self.input_shape = self.output_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = check_shape(batch_input_shape, f"layer {self.name!r} batch_input_shape")
        elif input_shape is not None:
            shape = [input_shape] if isinstance(input_shape, (int, np.integer)) else input_shape
            if not isinstance(shape, (list, tuple)):
                raise ValueError(f"layer {self.name!r}: input_shape must be a tuple of sizes, got {input_shape!r}")
            self._batch_input_shape = check_shape([batch_size, *shape], f"layer {self.name!r} input shape")
        else:
            self._batch_input_shape = None
        self._trainable = trainable
        # Keras: a layer called outside ``fit`` (no ``training=`` argument) runs in inference mode, so Dropout is
        # off and BatchNormalization uses its moving statistics; ``fit`` switches the model to training mode.
        self.__dict__["training"] = False

    # --- weights --------------------------------------------------------------------------------------------------
    def _add_weight(self, name, get, initializer=None, to_keras=None, from_keras=None, regularizer=None,
                    trainable=True, constraint=None):
        """Register a Keras weight backed by the minidl tensor ``get()``; fill it from ``initializer`` (called with
        the Keras shape, so fans are Keras'); ``constraint`` projects it after each optimizer step."""
        w = _Weight(name, get, to_keras, from_keras, regularizer, trainable, constraint)
        if constraint is not None:
            from .. import constraints  # noqa: PLC0415
            constraints.watch(w, self)
        if initializer is not None and _BUDGET.get() is None:     # a model being loaded gets the file's values
            w.write(initializer(w.read().shape, w.read().dtype.name), self)
        same = [i for i, old in enumerate(self._weights) if old.name == name]
        if same:                        # built again: the new weight replaces the old one
            self._weights[same[0]] = w
        else:
            self._weights.append(w)
        return w

    def get_weights(self):
        """The layer's weights as NumPy arrays in Keras' layouts (Dense kernel ``(in, out)``, Conv2D kernel
        ``(kh, kw, in, out)``), in Keras' order."""
        return [w.read() for w in self._weights]

    def set_weights(self, weights):
        """Load arrays in Keras' layouts and order (the inverse of ``get_weights``)."""
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(f"Layer {self.name!r} expected {len(self._weights)} weights, but received "
                             f"{len(weights)} input weights")
        for w, value in zip(self._weights, weights):
            w.write(value, self)

    @property
    def weight_names(self):
        return [f"{self.name}/{w.name}" for w in self._weights]

    def count_params(self):
        """The number of weight values (trainable or not), as Keras counts them."""
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer {self.name!r}, but the layer isn't built. "
                             "You can build it manually via: `layer.build(input_shape)`.")
        return int(sum(w.read().size for w in self._weights))

    def _param_counts(self):
        """(trainable, non-trainable) weight counts."""
        train = sum(w.read().size for w in self._weights if w.trainable and self._trainable)
        return int(train), int(self.count_params() - train)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freezing a layer stops its weights from training (their ``requires_grad`` goes off)."""
        self._trainable = bool(value)
        self._apply_trainable()

    def _apply_trainable(self):
        params = list(self.parameters())
        for w in self._weights:
            for t in w.tensors():
                if w.trainable and any(t is p for p in params):
                    t.requires_grad_(self._trainable)

    @property
    def losses(self):
        """The losses of this layer's latest call (``add_loss``, the activity regularizer), those of the layers
        inside it, then the regularization penalties of its weights (scalar Tensors, from their current values)."""
        return (call_losses.own(self) + [p for child in call_losses.child_layers(self) for p in child.losses]
                + [w.penalty() for w in self._weights if w.regularizer is not None])

    def add_loss(self, loss):
        """Add a scalar loss (a Tensor computed in ``call``) to this call's losses; ``fit`` adds it to the loss
        it minimises. See ``call_losses``."""
        call_losses.add(self, loss)

    # --- shapes and calls -----------------------------------------------------------------------------------------
    def _check_input(self, shape):
        """Keras' InputSpec check: the rank, then the axis sizes fixed at build time."""
        ndim = len(shape)
        if self.ndim is not None and ndim != self.ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.ndim}, found ndim={ndim}. Full shape received: {shape_str(shape)}")
        if self.min_ndim is not None and ndim < self.min_ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"min_ndim={self.min_ndim}, found ndim={ndim}. Full shape received: {shape_str(shape)}")
        for axis, size in self._axes.items():
            got = shape[axis] if -ndim <= axis < ndim else None
            if got is not None and got != size:
                raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                                 f"{axis} of input shape to have value {size}, but received input with shape "
                                 f"{shape_str(shape)}")

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis ``None``). Layers without weights keep this;
        called directly, it marks the layer built, as Keras."""
        self._finish_build(input_shape)

    def _maybe_build(self, input_shape):
        if self.built:
            return
        shape = tuple(input_shape)
        if not isinstance(shape[0] if shape else None, (list, tuple)):      # a merge layer takes a list of shapes
            self._check_input(shape)
        budget = _BUDGET.get()
        planned = self._weight_shapes(shape) if budget is not None else None
        if planned is not None:
            budget.take(self, sum(_size(self, s, shape) for s in planned))
        self.build(shape)
        self._finish_build(shape)
        if budget is not None and planned is None:          # a custom layer: counted once it has built
            budget.take(self, sum(t.numel() for w in self._weights for t in w.tensors()))

    def _weight_shapes(self, input_shape):
        """The shapes (Keras' layouts) of the weights ``build(input_shape)`` would create, computed without creating
        them; None where unknown (a custom layer's ``build``). Layers that create weights override this."""
        return () if type(self).build is Layer.build else None

    def _finish_build(self, shape):
        self.train(self.training)          # the md.nn modules made in build follow the layer's mode
        self.built = True
        if self.input_shape is None and shape is not None:
            self.input_shape = tuple(shape)
        if not self._trainable:
            self.trainable = False

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        raise NotImplementedError(f"{type(self).__name__} must implement call(inputs)")

    def forward(self, inputs):
        return self.call(inputs)

    def __call__(self, inputs, training=None, **kwargs):
        symbolic = isinstance(inputs, KerasTensor) or (isinstance(inputs, (list, tuple)) and inputs
                                                        and isinstance(inputs[0], KerasTensor))
        if symbolic:
            shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
            self._maybe_build(shapes)
            if not isinstance(inputs, (list, tuple)):
                self._check_input(shapes)
            out_shape = self.compute_output_shape(shapes)
            self.output_shape = out_shape
            return KerasTensor(out_shape, self._output_dtype(inputs), self,
                               inputs if isinstance(inputs, (list, tuple)) else [inputs])
        if isinstance(inputs, (list, tuple)):
            inputs = [self._cast_input(to_tensor(x)) for x in inputs]
            self._maybe_build([(None,) + tuple(x.shape[1:]) for x in inputs])
        else:
            inputs = self._cast_input(to_tensor(inputs))
            self._check_input(tuple(inputs.shape))           # errors show the real batch size, as Keras
            self._maybe_build((None,) + tuple(inputs.shape[1:]))
            self._check_input(tuple(inputs.shape))
        was = self.training
        if training is not None:
            self.train(bool(training))
        call_losses.enter()
        try:
            out = self.forward(inputs, **kwargs)
            call_losses.activity(self, out)
        finally:
            call_losses.leave()
            if training is not None:
                self.train(was)
        if self.output_shape is None and isinstance(out, Tensor):
            self.output_shape = (None,) + tuple(out.shape[1:])
        return out

    def _cast_input(self, x):
        if not self._autocast or not isinstance(x, Tensor):
            return x
        want = getattr(dtypes, self.dtype_name)
        if x.dtype == want or not (x.dtype.is_floating_point or self._cast_ints):
            return x
        return x.to(want)

    def _output_dtype(self, inputs):
        return self.dtype_name

    # --- config ---------------------------------------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments that rebuild this layer (saved in ``model.save`` files)."""
        config = {"name": self.name, "trainable": self._trainable, "dtype": self.dtype_name}
        if self.__dict__.get("activity_regularizer") is not None:
            from .. import regularizers  # noqa: PLC0415
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _serialized(self):
        """``{"class_name": ..., "config": ...}``: how a ``.keras`` file names and describes this layer."""
        spec = {"class_name": type(self).__name__, "config": self.get_config()}
        registered = type(self).__dict__.get("_registered_name")     # @register_keras_serializable, as Keras saves it
        return spec if registered is None else {**spec, "registered_name": registered}

    def _summary_row(self):
        """``model.summary()``'s cells for this layer: name (type), output shape, parameter count."""
        shape = self.output_shape
        shape_text = "?" if shape is None else (", ".join(shape_str(s) for s in shape) if shape and
                                                isinstance(shape[0], (tuple, list)) else shape_str(shape))
        return [f"{self.name} ({type(self).__name__})", shape_text,
                f"{self.count_params():,}" if self.built else "0 (unbuilt)"]

    def extra_repr(self):
        return f"name={self.name!r}"


# --- issue 15 (kapi): Keras 3's weight and node attributes: weights, trainable_weights, non_trainable_weights,
# add_weight, input, output ---
def _layer_variables(layer, trainable_path=True, seen=None):
    """(Variable, trainable) for the layer's weights, then its nested layers', in Keras' order; each once."""
    from ..variables import variable_for  # noqa: PLC0415
    seen = set() if seen is None else seen
    if id(layer) in seen:
        return []
    seen.add(id(layer))
    trainable_path = trainable_path and layer._trainable
    out = [(variable_for(w, layer), bool(w.trainable and trainable_path)) for w in layer._weights]
    for child in layer._modules.values():
        if isinstance(child, Layer):
            out.extend(_layer_variables(child, trainable_path, seen))
    return out


def _weights(self):
    """Every weight of the layer (and of the layers inside it) as ``md.keras.Variable``s, in Keras' order."""
    return [v for v, _ in _layer_variables(self)]


def _trainable_weights(self):
    """The weights training updates (none when the layer or a layer holding it is frozen)."""
    return [v for v, t in _layer_variables(self) if t]


def _non_trainable_weights(self):
    """The weights training leaves alone (BatchNormalization's moving statistics, frozen layers' weights)."""
    return [v for v, t in _layer_variables(self) if not t]


def _add_weight_public(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                       regularizer=None, constraint=None, aggregation="none", name=None, **kwargs):
    """Keras 3's ``add_weight``: create a weight of ``shape`` for a custom layer (usually in ``build``) and return
    its ``md.keras.Variable``; the weight trains with the model, is saved with it and counts in ``summary``.
    ``initializer`` defaults to ``"glorot_uniform"`` for floats and ``"zeros"`` otherwise, as Keras.

    Example:
        >>> class Scale(md.keras.layers.Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")
        ...     def call(self, x):
        ...         return x * self.w
    """
    from .. import constraints, initializers, regularizers  # noqa: PLC0415
    from ...nn.parameter import Parameter  # noqa: PLC0415
    from ..variables import variable_for  # noqa: PLC0415
    if kwargs:
        raise TypeError(f"add_weight() got unexpected keyword arguments: {sorted(kwargs)}")
    shape = () if shape is None else ((shape,) if isinstance(shape, (int, np.integer)) else tuple(shape))
    shape = check_shape(shape, f"Layer {self.name!r} add_weight shape")
    dtype = resolve_dtype(dtype or self.dtype_name, INPUT_DTYPES, f"Layer {self.name!r} add_weight")
    if name is None:
        taken = {w.name for w in self._weights}
        name = next(n for n in ("variable", *(f"variable_{i}" for i in range(1, len(taken) + 2))) if n not in taken)
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"Layer {self.name!r}: add_weight name must be a non-empty string without '/', got {name!r}")
    if initializer is None:
        initializer = "glorot_uniform" if INPUT_DTYPES[dtype].is_floating_point else "zeros"
    init = initializers.get(initializer)
    key = f"_keras_weight_{name}"
    param = Parameter(Tensor._wrap(np.zeros(shape, dtype=dtype)), requires_grad=bool(
        trainable and self._trainable and INPUT_DTYPES[dtype].is_floating_point))
    self.register_parameter(key, param)
    w = self._add_weight(name, lambda: self._parameters[key], init, regularizer=regularizers.get(regularizer),
                         trainable=bool(trainable), constraint=constraints.get(constraint))
    return variable_for(w, self)


def _record_call(call):
    @functools.wraps(call)
    def __call__(self, inputs, training=None, **kwargs):  # noqa: N807
        given = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if given and all(isinstance(t, KerasTensor) for t in given):      # for _traced_shapes: the input dtypes
            self.__dict__["_trace_dtypes"] = [t.dtype for t in given]
        out = call(self, inputs, training, **kwargs)
        if isinstance(out, KerasTensor):
            self.__dict__.setdefault("_keras_nodes", []).append((inputs, out))
        return out
    return __call__


def _node_attr(index, what):
    def get(self):
        nodes = self.__dict__.get("_keras_nodes")
        if not nodes:
            # a ValueError: an AttributeError here would be replaced by Module.__getattr__'s generic one
            raise ValueError(f"The layer {self.name!r} has never been called and thus has no defined {what}.")
        return nodes[0][index]
    get.__doc__ = f"The symbolic {what} of the layer's first call on KerasTensors (Keras' ``layer.{what}``)."
    return property(get)


Layer.weights = property(_weights)
Layer.trainable_weights = property(_trainable_weights)
Layer.non_trainable_weights = property(_non_trainable_weights)
Layer.variables = property(_weights)
Layer.trainable_variables = property(_trainable_weights)
Layer.non_trainable_variables = property(_non_trainable_weights)
Layer.add_weight = _add_weight_public
Layer.__call__ = _record_call(Layer.__call__)
Layer.input = _node_attr(0, "input")
Layer.output = _node_attr(1, "output")


# --- issue 15 (kapi): a custom layer without compute_output_shape gets its output shape by running call, as Keras 3
# infers it (compute_output_spec) ---
def _probe(shapes, batch, unknown, dtypes_):
    """Zero inputs for ``shapes`` (a shape or a list of them) of ``dtypes_`` (one a shape): the batch axis
    ``batch``, other unknown axes ``unknown``."""
    def one(shape, dtype):
        dims = [batch if i == 0 and d is None else unknown if d is None else d for i, d in enumerate(shape)]
        return Tensor._wrap(np.zeros(dims, dtype=dtype))
    if isinstance(shapes, list) or (isinstance(shapes, tuple) and shapes and isinstance(shapes[0], (list, tuple))):
        return [one(s, dtypes_[i % len(dtypes_)]) for i, s in enumerate(shapes)]
    return one(shapes, dtypes_[0])


def _traced_shapes(layer, input_shape):
    """The output shape(s) of ``layer.call`` found by running it twice on zeros of different batch (and unknown
    axis) sizes: the axes whose size changed are None. Weights, the global generator and the layer's
    SeedGenerators are restored afterwards, so tracing changes no state."""
    from ...autograd.grad_mode import no_grad  # noqa: PLC0415
    from ...random import _state as rng_state  # noqa: PLC0415
    from ..random import SeedGenerator  # noqa: PLC0415
    saved = [w.read() for w in layer._weights]
    gens = [g for g in vars(layer).values() if isinstance(g, SeedGenerator)]
    states = (rng_state["rng"].bit_generator.state, [g._rng.bit_generator.state for g in gens])
    # float inputs reach call in the layer's dtype (autocast), integer ones as they are (token ids, say)
    given = layer.__dict__.get("_trace_dtypes") or [None]
    probe_dtypes = [d if d in INPUT_DTYPES and not INPUT_DTYPES[d].is_floating_point else layer.dtype_name
                    for d in given]
    try:
        with no_grad(), call_losses.tracing():      # a traced call adds no loss, as a symbolic call in Keras
            outs = [_probe_call(layer, _probe(input_shape, b, u, probe_dtypes)) for b, u in ((2, 3), (5, 7))]
    finally:
        for w, value in zip(layer._weights, saved):
            w.write(value, layer)
        rng_state["rng"].bit_generator.state = states[0]
        for g, s in zip(gens, states[1]):
            g._rng.bit_generator.state = s

    def shape_of(a, b):
        return tuple(None if x != y else int(x) for x, y in zip(a.shape, b.shape))
    first, second = outs
    if isinstance(first, (list, tuple)):
        return [shape_of(a, b) for a, b in zip(first, second)]
    return shape_of(first, second)


def _probe_call(layer, probe):
    """``layer.call`` on probe data; a ``call(inputs, mask=None)`` gets an all-True mask over the probe's leading
    axes (batch, time), as a masked input would bring one."""
    import inspect  # noqa: PLC0415
    from ... import ones  # noqa: PLC0415
    params = inspect.signature(layer.call).parameters
    if "mask" in params and isinstance(probe, Tensor) and probe.ndim >= 2:
        return layer.call(probe, mask=ones(*probe.shape[:-1], dtype=dtypes.bool_))
    return layer.call(probe)


_identity_output_shape = Layer.compute_output_shape


def _compute_output_shape(self, input_shape):
    """The output shape for ``input_shape``. minidl's own layers that keep the shape use this identity; a custom
    layer (defined outside minidl) that does not override it gets the shape ``call`` produces, as Keras 3
    infers it."""
    if type(self).call is not Layer.call and not type(self).__module__.startswith("minidl."):
        return _traced_shapes(self, input_shape)
    return _identity_output_shape(self, input_shape)


Layer.compute_output_shape = _compute_output_shape
