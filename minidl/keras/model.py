"""``md.keras.Model``: the functional API, the base of subclassed models, and the training methods every model
shares (``compile``, ``fit``, ``evaluate``, ``predict``, ``summary``, ``save``).

Training runs minidl's autograd and ``md.optim`` on the model's ``md.nn`` modules; there is no second engine.
"""
import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from ..train.engine import CallbackList, ModeGuard, evaluate_loop, fit_loop, predict_loop
from . import losses as losses_module
from . import optimizers as optimizers_module
from .data_adapter import ArrayData, adapt, class_weights_for
from .layers import call_losses
from .model_steps import StepMethods
from .layers.base import KerasTensor, Layer, host, shape_str, to_tensor
from .progbar import Progbar
from .saving import MODEL_CLASSES, config_index, field, layer_from_config, load_weights, save_model, save_weights
from .summary import print_summary


def _flatten_tensors(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _topological(outs, input_ids):
    """The layer-made tensors that ``outs`` depend on, each after its parents (a depth-first walk kept on an explicit
    stack, so a graph thousands of layers deep needs no recursion)."""
    order, seen = [], set()
    for out in outs:
        stack = [(out, False)]
        while stack:
            t, parents_done = stack.pop()
            if parents_done:
                order.append(t)
                continue
            if id(t) in seen:
                continue
            seen.add(id(t))
            if t.layer is None:
                if id(t) not in input_ids:
                    raise ValueError(f"Graph disconnected: cannot obtain value for tensor {t} at an Input that is not "
                                     "among the model's inputs")
                continue
            stack.append((t, True))
            stack.extend((p, False) for p in reversed(t.parents))
    return order


def _result(logs, return_dict):
    """``evaluate``'s answer: the logs as a dict, the loss alone, or ``[loss, *output losses, *metrics]``."""
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else list(logs.values())


def _class_weighted(batches, class_weight):
    """Batches (of a dataset or generator) whose sample weights are multiplied by their labels' class weights."""
    def weighted(epoch):
        for x, y, sw in batches(epoch):
            cw = class_weights_for(y, class_weight)
            yield x, y, cw if sw is None else sw * cw
    return weighted


def _compile_config(optimizer, loss, loss_weights, metrics):
    """What ``.keras`` files keep of ``compile``'s arguments (names and configs), or None when some of them are
    Python objects with no config."""
    def names(value):
        if value is None or isinstance(value, (str, int, float)):
            return value
        if isinstance(value, (list, tuple)):
            out = [names(v) for v in value]
            return None if any(o is None and v is not None for o, v in zip(out, value)) else out
        if isinstance(value, dict):
            out = {k: names(v) for k, v in value.items()}
            return None if any(out[k] is None and value[k] is not None for k in value) else out
        return None

    def losses(value):
        if isinstance(value, (list, tuple)):
            return [losses(v) for v in value]
        if isinstance(value, dict) and "class_name" not in value:
            return {k: losses(v) for k, v in value.items()}
        return losses_module.serialize(losses_module.get(value))

    serial_loss = None if loss is None else losses(loss)       # no loss: the model trains on its added losses
    metric_names = names(metrics)
    if metrics is not None and metric_names is None or (loss is not None and None in _flat(serial_loss)):
        return None
    return {"optimizer": optimizers_module.serialize(optimizer), "loss": serial_loss, "loss_weights": loss_weights,
            "metrics": metric_names}


def _flat(value):
    """The leaves of a list/dict (by output name) of saved losses (each a name or a ``class_name`` config)."""
    if isinstance(value, (list, tuple)):
        return [y for v in value for y in _flat(v)]
    if isinstance(value, dict) and "class_name" not in value:
        return [y for v in value.values() for y in _flat(v)]
    return [value]


def _fit_rank(value, shape):
    """Keras 3 adds or drops a trailing axis of size 1 when an input is one rank off its ``Input``: ``(N,)`` strings
    feed ``Input(shape=(1,))``, ``(N, 1)`` feeds ``Input(shape=())``."""
    got = tuple(value.shape)
    if len(got) == len(shape) - 1 and shape[-1] == 1:
        return value.unsqueeze(-1) if isinstance(value, Tensor) else value[..., None]
    if len(got) == len(shape) + 1 and got[-1] == 1:
        return value.squeeze(-1) if isinstance(value, Tensor) else value[..., 0]
    return value


class Model(StepMethods, Layer):
    """A Keras model. Three ways to make one, as in Keras:

    - functional: ``Model(inputs, outputs)`` from ``md.keras.Input`` and layer calls;
    - subclassing: define layers in ``__init__`` (after ``super().__init__()``) and the computation in ``call``;
    - ``md.keras.Sequential`` for a plain stack.

    Example:
        >>> inputs = md.keras.Input(shape=(64,))
        >>> x = md.keras.layers.Dense(32, activation="relu")(inputs)
        >>> model = md.keras.Model(inputs, md.keras.layers.Dense(10, activation="softmax")(x))
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(x_train, y_train, epochs=5, validation_split=0.1)
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        super().__init__(name=name or self._default_name(inputs), **kwargs)
        self.stop_training, self.optimizer, self.loss, self.compiled = False, None, None, False
        self.history, self._metrics, self._compile_config, self._compiled = None, [], None, None
        self._graph = None
        if inputs is not None or outputs is not None:
            self._init_graph(inputs, outputs)

    @staticmethod
    def _default_name(inputs):
        from .backend import unique_name  # noqa: PLC0415
        return unique_name("functional" if inputs is not None else "model")

    # --- the functional graph -------------------------------------------------------------------------------------
    def _init_graph(self, inputs, outputs):
        ins, outs = _flatten_tensors(inputs), _flatten_tensors(outputs)
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model(inputs, outputs) takes KerasTensors from md.keras.Input and layer calls, got "
                                f"{type(t).__name__}")
        order = _topological(outs, {id(i) for i in ins})
        self._graph = (ins, outs, order, isinstance(inputs, (list, tuple)), isinstance(outputs, (list, tuple)))
        for t in order:
            if t.layer.name not in self._modules:
                self._register_layer(t.layer)
        self.built, self.input_shape = True, ins[0].shape if len(ins) == 1 else [i.shape for i in ins]
        self.output_shape = outs[0].shape if len(outs) == 1 else [o.shape for o in outs]

    def _register_layer(self, layer):
        if layer.name in self._modules:
            raise ValueError(f"The name {layer.name!r} is used 2 times in the model. All layer names should be "
                             "unique.")
        self.add_module(layer.name, layer)

    @property
    def layers(self):
        """The model's layers, in the order they are applied."""
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by position ``index``."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has {len(layers)} "
                                 "layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[la.name for la in layers]}.")

    def call(self, inputs):
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__}: a subclassed Model must define call(self, inputs)")
        ins, outs, order, multi_in, multi_out = self._graph
        given = _flatten_tensors(inputs) if multi_in else [inputs]
        if len(given) != len(ins):
            raise ValueError(f'Layer "{self.name}" expects {len(ins)} input(s), but it received {len(given)} input '
                             "tensors")
        values = {id(t): _fit_rank(to_tensor(v), t.shape) for t, v in zip(ins, given)}
        for t in ins:
            got = tuple(values[id(t)].shape)
            if len(got) != len(t.shape) or any(a is not None and a != b for a, b in zip(t.shape[1:], got[1:])):
                raise ValueError(f'Input of model "{self.name}" is incompatible: expected shape {shape_str(t.shape)}, '
                                 f"found shape {shape_str(got)}")
        from .masking_utils import node_value  # noqa: PLC0415  (a layer call with several outputs runs once)
        for t in order:
            args = [values[id(p)] for p in t.parents]
            values[id(t)] = node_value(t, args, values)
        results = [values[id(o)] for o in outs]
        return results if multi_out else results[0]

    def compute_output_shape(self, input_shape):
        if self._graph is not None:
            return self.output_shape
        return super().compute_output_shape(input_shape)

    def _sublayers(self):
        """Every leaf layer, nested models expanded, in order."""
        out = []
        for layer in self.layers:
            out.extend(layer._sublayers() if isinstance(layer, Model) else [layer])
        return out

    # --- weights --------------------------------------------------------------------------------------------------
    def get_weights(self):
        """All weights as NumPy arrays in Keras' layouts, layer by layer."""
        return [w for layer in self._sublayers() for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        want = sum(len(layer.get_weights()) for layer in self._sublayers())
        if len(weights) != want:
            raise ValueError(f"Model {self.name!r} expects {want} weight arrays, but received {len(weights)}")
        i = 0
        for layer in self._sublayers():
            n = len(layer.get_weights())
            layer.set_weights(weights[i:i + n])
            i += n

    def count_params(self):
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self._sublayers())

    def _param_counts(self):
        counts = [layer._param_counts() for layer in self._sublayers()]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    @property
    def losses(self):
        return call_losses.own(self) + [p for layer in self.layers for p in layer.losses]     # nested models recurse

    def _require_built(self, what):
        if not self.built or not all(layer.built for layer in self._sublayers()):
            raise ValueError(f"This model has not yet been built. Build the model first by calling `build()` or by "
                             f"calling the model on a batch of data (needed for {what}).")

    # --- compile --------------------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, loss and metrics, by Keras name or object (Keras 3's argument order).

        ``optimizer``: ``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adagrad"``, ``"adamw"`` or an
        ``md.keras.optimizers`` object. ``loss``: ``"sparse_categorical_crossentropy"``,
        ``"categorical_crossentropy"``, ``"binary_crossentropy"``, ``"mse"``, ``"mae"``, ``"huber"``, a Loss or a
        function ``f(y_true, y_pred)``. ``metrics``: a list of ``"accuracy"``, ``"mae"``, ``"mse"``... or Metric
        objects. A model with several outputs takes ``loss``, ``loss_weights`` and ``metrics`` per output, as lists
        or dicts keyed by output name (see ``minidl.keras.compile_utils``). ``run_eagerly``,
        ``steps_per_execution``, ``jit_compile`` and ``auto_scale_loss`` are accepted for compatibility: minidl
        always runs eagerly.

        Example:
            >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        """
        from .compile_utils import Compiled, looks_like_metrics  # noqa: PLC0415
        if metrics is None and looks_like_metrics(loss_weights):    # md.keras' older order: compile(opt, loss, metrics)
            loss_weights, metrics = None, loss_weights
        if weighted_metrics is not None:
            raise ValueError("compile: weighted_metrics is not supported by md.keras (metrics are weighted by "
                             "sample_weight already)")
        self._compiled = Compiled(self._output_names(), loss, loss_weights, metrics)
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = self._compiled.losses[0] if not self._compiled.multi else loss
        self._metrics = self._compiled.metric_list
        self._compile_config = _compile_config(self.optimizer, loss, loss_weights, metrics)
        self.compiled = True

    def _output_names(self):
        """The names of the model's outputs (their layers' names in a functional model), as Keras logs them."""
        if self._graph is not None:
            return [t.layer.name for t in self._graph[1]]
        return ["output"]

    @property
    def metrics_names(self):
        return self._compiled.names_of_losses() + [m.name for m in self._metrics] if self.compiled else []

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before using the model ({what}).")

    def _prepare(self, data):
        """Build the model from a sample batch if it is not built yet, then the optimizer from its weights."""
        if not self.built or not all(layer.built for layer in self._sublayers()):
            self._build_from_sample(data.sample())
        if self.optimizer is not None and self.optimizer.inner is None:
            self.optimizer.build(self.parameters())

    def _build_from_sample(self, x):
        was = self.training
        self.eval()
        try:
            with no_grad():
                self(x)
        finally:
            self.train(was)

    def _device_put(self, x):
        device = next((p.device for p in self.parameters()), None)
        if device is None or str(device) == "cpu":
            return x
        if isinstance(x, list):
            return [to_tensor(a).to(device) for a in x]
        return to_tensor(x).to(device)

    def _targets(self, y):
        """``y`` in output order: a dict keyed by output name becomes a list."""
        if isinstance(y, dict):
            names = self._output_names()
            if set(y) != set(names):
                raise ValueError(f"The targets dict must be keyed by the model's output names {names}, got "
                                 f"{sorted(y)}")
            return [y[n] for n in names]
        return y

    def _inputs(self, x):
        """A dict of input arrays keyed by the ``Input`` names, in the model's input order (Keras' multi-input
        spelling); anything else as it is."""
        if not isinstance(x, dict) or self._graph is None:
            return x
        names = [t.name for t in self._graph[0]]
        if set(x) != set(names):
            raise ValueError(f"The inputs dict must be keyed by the model's Input names {names}, got {sorted(x)}")
        return [x[n] for n in names] if len(names) > 1 else x[names[0]]

    def _adapt(self, x, y, sample_weight, who):
        return adapt(self._inputs(x), self._targets(y), sample_weight, who)

    # --- steps ----------------------------------------------------------------------------------------------------
    def _one_batch(self, train, x, y, sample_weight):
        from .compile_utils import KerasStep  # noqa: PLC0415
        step = KerasStep(self, train)
        step.reset()
        with ModeGuard(self, train):
            logs, _ = step((x, y, sample_weight))
        return {**logs, **step.results()}

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the batch's loss (and metrics) like ``evaluate``."""
        self._require_compiled("train_on_batch")
        data = ArrayData(x, self._targets(y), sample_weight)
        self._prepare(data)
        sw = data.sw if class_weight is None else class_weights_for(data.y, class_weight)
        return _result(self._one_batch(True, data.xs if data.multi else data.xs[0], data.y, sw), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """``evaluate`` on one batch."""
        self._require_compiled("test_on_batch")
        data = ArrayData(x, self._targets(y), sample_weight)
        self._prepare(data)
        return _result(self._one_batch(False, data.xs if data.multi else data.xs[0], data.y, data.sw), return_dict)

    # --- fit / evaluate / predict ---------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` passes over ``(x, y)``; returns a ``History`` whose ``.history`` holds the per-epoch
        ``loss``, each metric, and their ``val_`` versions (with several outputs also ``<output>_loss`` and
        ``<output>_<metric>``).

        ``x``: an array, a list of arrays (several inputs), a ``keras.utils.PyDataset``, a Python generator
        (``steps_per_epoch`` batches make an epoch), or an iterable of ``(x, y)`` batches (e.g. an
        ``md.utils.data.DataLoader``). ``y``: an array, or a list/dict of arrays for several outputs.
        ``validation_split`` holds out the last fraction of the arrays (before shuffling); ``validation_data`` is
        ``(x_val, y_val[, sample_weight])`` or a dataset (``validation_steps`` batches of it). ``shuffle`` draws from
        minidl's generator (``md.keras.utils.set_random_seed`` makes runs repeatable). ``verbose``: 0 silent,
        1 progress bar, 2 one line per epoch. Runs on ``minidl.train.engine``, the loop ``md.train.fit`` runs on.

        Example:
            >>> history = model.fit(x_train, y_train, epochs=10, batch_size=32, validation_split=0.1,
            ...                     callbacks=[md.keras.callbacks.EarlyStopping(patience=2)])
            >>> history.history["val_accuracy"][-1]
        """
        from .compile_utils import KerasStep  # noqa: PLC0415
        self._require_compiled("fit")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"fit: batch_size must be a positive int, got {batch_size!r}")
        data = self._adapt(x, y, sample_weight, "fit")
        if validation_split:
            if not isinstance(data, ArrayData):
                raise ValueError("`validation_split` is only supported for NumPy arrays (not for datasets, generators "
                                 "or iterables of batches); pass validation_data instead")
            if validation_data is not None:
                raise ValueError("fit: give either validation_split or validation_data, not both")
            data, val = data.split(validation_split)
        else:
            val = None if validation_data is None else self._validation(validation_data)
        if class_weight is not None and sample_weight is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        if class_weight is not None and isinstance(data, ArrayData):
            if data.y is None:
                raise ValueError("fit: class_weight needs targets y")
            data.sw = class_weights_for(data.y, class_weight)
        self._prepare(data)
        source = data.source(batch_size, shuffle)
        if steps_per_epoch is not None:
            source.read_on()
        if class_weight is not None and not isinstance(data, ArrayData):
            source.batches = _class_weighted(source.batches, class_weight)
        vbs = validation_batch_size or batch_size

        def validate(cbs):
            return evaluate_loop(self, KerasStep(self, False), val.batches(vbs), validation_steps, cbs)[0]

        def progress(epoch, steps):
            if not verbose:
                return None
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            return Progbar(steps, verbose)

        return fit_loop(self, KerasStep(self, True), source, epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_epoch, callbacks=callbacks, validate=None if val is None else
                        validate, validation_freq=validation_freq, progress=progress, verbose=verbose)

    def _validation(self, validation_data):
        if isinstance(validation_data, tuple) and len(validation_data) in (2, 3):
            vx, vy, *vsw = validation_data
            return ArrayData(self._inputs(vx), self._targets(vy), *vsw)
        return adapt(validation_data, who="fit(validation_data)")

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """The loss (plus regularization penalties, as Keras) and metrics over ``(x, y)``, in inference mode:
        ``loss`` alone without metrics, else ``[loss, *output losses, *metrics]``; a dict with ``return_dict=True``.
        ``x`` may be anything ``fit`` takes; ``steps`` limits the batches read.

        Example:
            >>> test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
        """
        from .compile_utils import KerasStep  # noqa: PLC0415
        self._require_compiled("evaluate")
        if kwargs:
            raise TypeError(f"evaluate: unexpected keyword arguments {sorted(kwargs)}")
        verbose = 1 if verbose == "auto" else int(verbose)
        data = self._adapt(x, y, sample_weight, "evaluate")
        self._prepare(data)
        source = data.source(batch_size or 32)
        bar = Progbar(source.steps if steps is None else steps, verbose) if verbose else None
        cbs = CallbackList(callbacks, self, {"steps": source.steps, "verbose": verbose})
        logs, seen = evaluate_loop(self, KerasStep(self, False), source.batches(0), steps, cbs, bar)
        if seen == 0:
            raise ValueError("evaluate: the data holds no samples")
        if bar is not None:
            bar.finish(logs)
        return _result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` in inference mode (Dropout off, BatchNormalization on its moving
        statistics), as a NumPy array (a list of arrays for several outputs). ``x`` may be anything ``fit`` takes
        (targets in its batches are ignored).

        Example:
            >>> probs = model.predict(x_test, verbose=0)
            >>> labels = probs.argmax(axis=1)
        """
        verbose = 1 if verbose == "auto" else int(verbose)
        data = adapt(self._inputs(x), None, None, "predict")
        self._prepare(data)
        source = data.source(batch_size or 32)
        bar = Progbar(source.steps if steps is None else steps, verbose) if verbose else None
        cbs = CallbackList(callbacks, self, {"steps": source.steps, "verbose": verbose})

        def forward(batch):
            out = self(self._device_put(batch[0]))
            return [host(o) for o in out] if isinstance(out, (list, tuple)) else host(out)

        outs = predict_loop(self, forward, source.batches(0), steps, cbs, bar)
        if bar is not None:
            bar.finish({})
        if not outs:
            raise ValueError("predict: the input holds no samples")
        if isinstance(outs[0], list):
            return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        return np.concatenate(outs)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(ArrayData(x).xs[0]), verbose=0)

    # --- summary, saving --------------------------------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
        """Print Keras' table of layers, output shapes and parameter counts (``print_fn`` receives each line).

        Example:
            >>> model.summary()
            Model: "sequential"
            ...
        """
        print_summary(self, line_length or 80, print_fn or print)

    def get_config(self):
        """A functional model's graph: its layers' configs, then the nodes (layer calls) in order, each naming its
        layer and input tensors by index (the model's inputs first, then each node's output)."""
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__} is a subclassed Model: its architecture is Python code "
                                      "with no config to save. Use model.save_weights(path) and rebuild the model "
                                      "in code, then load_weights(path).")
        ins, outs, order, multi_in, multi_out = self._graph
        from .masking_utils import call_kwargs  # noqa: PLC0415
        ids = {id(t): i for i, t in enumerate(ins)}
        layers, layer_ids, nodes = [], {}, []
        for t in order:
            if id(t.layer) not in layer_ids:
                layer_ids[id(t.layer)] = len(layers)
                layers.append(t.layer._serialized())
            ids[id(t)] = len(ids)
            nodes.append({"layer": layer_ids[id(t.layer)], "inputs": [ids[id(p)] for p in t.parents],
                          **({"output_index": t._index} if hasattr(t, "_node") else {}),     # one of several outputs
                          **({"kwargs": call_kwargs(t)} if call_kwargs(t) else {})})     # e.g. use_causal_mask
        return {"name": self.name, "layers": layers, "nodes": nodes, "multi_input": multi_in,
                "multi_output": multi_out, "inputs": [{"shape": list(t.shape), "dtype": t.dtype} for t in ins],
                "outputs": [ids[id(t)] for t in outs]}

    def _serialized(self):
        return {"class_name": "Functional" if self._graph is not None else type(self).__name__,
                "config": self.get_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild a model from ``get_config()``'s dict (a fresh model: new weights, same architecture);
        ``custom_objects`` maps class names of your own layers to the classes. A subclassed model's own
        ``get_config`` dict goes to its constructor, as Keras.

        Example:
            >>> inputs = md.keras.Input(shape=(4,))
            >>> model = md.keras.Model(inputs, md.keras.layers.Dense(2)(inputs))
            >>> again = md.keras.Model.from_config(model.get_config())
            >>> again.count_params() == model.count_params()
            True
        """
        if not isinstance(config, dict):
            raise ValueError(f"{cls.__name__}.from_config expects the dict get_config() returns, got "
                             f"{type(config).__name__}")
        if issubclass(cls, MODEL_CLASSES["Sequential"]):
            return cls._from_saved_config(config, custom_objects, f"{cls.__name__} config")
        if cls is Model or ("layers" in config and "nodes" in config):
            return Model._from_saved_config(config, custom_objects)
        return cls(**config)

    @classmethod
    def _from_saved_config(cls, config, custom_objects=None, what="functional model config"):
        """The functional model ``get_config``'s dict describes (checked as untrusted data, see ``saving``)."""
        from .layers.base import INPUT_DTYPES, Input, check_shape, resolve_dtype  # noqa: PLC0415
        name = field(config, "name", str, what)
        specs, nodes = field(config, "layers", list, what), field(config, "nodes", list, what)
        inputs, outputs = field(config, "inputs", list, what), field(config, "outputs", list, what)
        multi_in, multi_out = field(config, "multi_input", bool, what), field(config, "multi_output", bool, what)
        if not inputs or not outputs or (not multi_in and len(inputs) != 1) or (not multi_out and len(outputs) != 1):
            raise ValueError(f"{what}: {len(inputs)} inputs and {len(outputs)} outputs do not fit multi_input="
                             f"{multi_in} and multi_output={multi_out}")
        layers = [layer_from_config(spec, custom_objects) for spec in specs]
        tensors = []
        for i, spec in enumerate(inputs):
            where = f"{what}: input {i}"
            shape = check_shape(field(spec, "shape", list, where), f"{where} shape")
            dtype = spec.get("dtype")
            tensors.append(Input(batch_shape=shape, dtype=None if dtype is None else
                                 resolve_dtype(dtype, INPUT_DTYPES, where)))
        from .masking_utils import node_output  # noqa: PLC0415
        calls = {}              # the outputs of each call with several outputs (return_state), made once
        for n, node in enumerate(nodes):
            where = f"{what}: node {n}"
            layer = layers[config_index(field(node, "layer", int, where), len(layers), f"{where} 'layer'")]
            refs = field(node, "inputs", list, where)
            if not refs:
                raise ValueError(f"{where} has no inputs")
            args = [tensors[config_index(r, len(tensors), f"{where} input")] for r in refs]
            out = node_output(layer, args, node, calls, where)
            if not hasattr(out, "layer"):
                raise ValueError(f"{where}: layer {layer.name!r} gave no symbolic output")
            tensors.append(out)
        ins = tensors[:len(inputs)]
        outs = [tensors[config_index(i, len(tensors), f"{what}: output")] for i in outputs]
        return Model(ins if multi_in else ins[0], outs if multi_out else outs[0], name=name)

    def _summary_row(self):
        """A nested model's row: its output shape (computed when not recorded) and all its leaf layers' weights."""
        row = super()._summary_row()
        if self.output_shape is None and self.built:
            row[1] = shape_str(self.compute_output_shape(self.input_shape))
        if self.built and not all(s.built for s in self._sublayers()):
            row[2] = "0"
        return row

    def save(self, filepath, overwrite=True):
        """Save the architecture (JSON config), the compile arguments and the weights (safetensors) in one
        ``.keras`` zip file, written atomically; ``md.keras.models.load_model`` reads it back.

        Example:
            >>> model.save("mnist.keras")
            >>> same = md.keras.models.load_model("mnist.keras")
        """
        save_model(self, filepath, overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Save only the weights (a safetensors file keyed ``layer_name/weight_name``, Keras' layouts)."""
        save_weights(self, filepath, overwrite)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` (or inside a ``.keras`` file) into this built model."""
        load_weights(self, filepath)


MODEL_CLASSES["Functional"] = Model


# --- issue 15 (kapi): model.inputs / model.outputs of a functional model (Keras 3's names) ---
def _symbolic_graph(model):
    """(inputs, outputs, multi_in, multi_out) of the model's functional graph, or None. A ``Sequential`` with a
    known input shape gets a graph of its own on use, by calling its layers on an ``Input`` (so ``layer.output``
    works there too, as in Keras); it is kept apart from ``_graph``, which makes a model functional."""
    if model._graph is not None:
        ins, outs, _, multi_in, multi_out = model._graph
        return ins, outs, multi_in, multi_out
    shape = getattr(model, "_input", None)
    if shape is None or not model.built:
        return None
    key = (tuple(shape), tuple(id(layer) for layer in model.layers))
    cached = model.__dict__.get("_keras_symbolic")
    if cached is None or cached[0] != key:
        from .layers.base import Input  # noqa: PLC0415
        inp = x = Input(batch_shape=shape)
        for layer in model.layers:
            x = layer(x)
        cached = model.__dict__["_keras_symbolic"] = (key, ([inp], [x], False, False))
    return cached[1]


def _graph_part(index, what):
    def get(self):
        if _symbolic_graph(self) is None:
            raise AttributeError(f"Model {self.name!r} has no `{what}`: only a functional model (Model(inputs, "
                                 "outputs)) defines its inputs and outputs")
        return list(_symbolic_graph(self)[index])
    get.__doc__ = f"The KerasTensors the functional model was made from (``Model(inputs, outputs)``'s {what})."
    return property(get)


def _graph_single(index, flag, what):
    def get(self):
        if _symbolic_graph(self) is None:
            raise AttributeError(f"Model {self.name!r} has no `{what}`: only a functional model defines it")
        graph = _symbolic_graph(self)
        return list(graph[index]) if graph[flag] else graph[index][0]
    get.__doc__ = f"The model's {what}: one KerasTensor, or a list as given to ``Model(inputs, outputs)``."
    return property(get)


Model.inputs = _graph_part(0, "inputs")
Model.outputs = _graph_part(1, "outputs")
Model.input = _graph_single(0, 2, "input")
Model.output = _graph_single(1, 3, "output")
