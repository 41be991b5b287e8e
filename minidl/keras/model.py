"""``md.keras.Model``: the functional API, the base of subclassed models, and the training methods every model
shares (``compile``, ``fit``, ``evaluate``, ``predict``, ``summary``, ``save``).

Training runs minidl's autograd and ``md.optim`` on the model's ``md.nn`` modules; there is no second engine.
"""
import numpy as np

from ..autograd.grad_mode import no_grad
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .data_adapter import ArrayData, adapt, class_weights_for
from .layers.base import KerasTensor, Layer, host, shape_str, to_tensor
from .progbar import Progbar


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


class Model(Layer):
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
        self.history, self._metrics, self._compile_config = None, [], None
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
        values = {id(t): to_tensor(v) for t, v in zip(ins, given)}
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
        return [p for layer in self._sublayers() for p in layer.losses]

    def _require_built(self, what):
        if not self.built or not all(layer.built for layer in self._sublayers()):
            raise ValueError(f"This model has not yet been built. Build the model first by calling `build()` or by "
                             f"calling the model on a batch of data (needed for {what}).")

    # --- compile --------------------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto"):
        """Choose the optimizer, loss and metrics, by Keras name or object.

        ``optimizer``: ``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adagrad"``, ``"adamw"`` or an
        ``md.keras.optimizers`` object. ``loss``: ``"sparse_categorical_crossentropy"``,
        ``"categorical_crossentropy"``, ``"binary_crossentropy"``, ``"mse"``, ``"mae"``, ``"huber"``, a Loss or a
        function ``f(y_true, y_pred)``. ``metrics``: a list of ``"accuracy"``, ``"mae"``, ``"mse"``... or Metric
        objects. ``run_eagerly``, ``steps_per_execution`` and ``jit_compile`` are accepted for compatibility: minidl
        always runs eagerly.

        Example:
            >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        """
        if loss is None:
            raise ValueError("compile: a `loss` is required to train (e.g. loss='sparse_categorical_crossentropy')")
        if loss_weights is not None or weighted_metrics is not None:
            raise ValueError("compile: loss_weights and weighted_metrics (multi-output training) are not supported "
                             "by md.keras")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        self._metric_specs = list(metrics or [])
        if isinstance(metrics, (str, dict)) or not isinstance(self._metric_specs, list):
            raise TypeError(f"compile: `metrics` must be a list, e.g. metrics=['accuracy'], got {metrics!r}")
        self._metrics = [metrics_module.get(m, getattr(self.loss, "name", None)) for m in self._metric_specs]
        names = [m.name for m in self._metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"compile: metric names must be unique and not 'loss', got {names}")
        self._compile_config = None
        if all(isinstance(m, str) for m in self._metric_specs) and losses_module.serialize(self.loss) is not None:
            self._compile_config = {"optimizer": optimizers_module.serialize(self.optimizer),
                                    "loss": losses_module.serialize(self.loss), "metrics": self._metric_specs}
        self.compiled = True

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self._metrics]

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

    def _single_output(self, y_pred):
        if isinstance(y_pred, (list, tuple)):
            raise ValueError("compile/fit: multi-output models are not supported by md.keras' training loop")
        return y_pred

    # --- steps ----------------------------------------------------------------------------------------------------
    def _loss_value(self, y, y_pred, sample_weight):
        if y is None:
            raise ValueError("Training needs targets: call fit(x, y) or give batches of (x, y)")
        loss = self.loss(y, y_pred, sample_weight)
        penalties = self.losses
        return loss + sum(penalties[1:], penalties[0]) if penalties else loss

    def _update_metrics(self, y, y_pred, sample_weight):
        from .masking_utils import update_metrics  # noqa: PLC0415  (the mean metrics skip masked steps)
        update_metrics(self._metrics, y, y_pred, sample_weight)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the batch's loss (and metrics) like ``evaluate``."""
        self._require_compiled("train_on_batch")
        data = ArrayData(x, y, sample_weight)
        self._prepare(data)
        for m in self._metrics:
            m.reset_state()
        sw = data.sw if class_weight is None else class_weights_for(data.y, class_weight)
        loss = self._train_step(data.xs if data.multi else data.xs[0], data.y, sw)
        return self._result({"loss": loss}, return_dict)

    def _train_step(self, x, y, sw):
        was = self.training
        self.train()            # Dropout and BatchNormalization in training mode for this step only, as Keras
        try:
            self.optimizer.zero_grad()
            y_pred = self._single_output(self(self._device_put(x)))
            loss = self._loss_value(y, y_pred, sw)
            if loss.numel() != 1:
                raise ValueError(f"The loss must reduce to a scalar, got shape {shape_str(loss.shape)}")
            if loss.requires_grad:          # False when every layer is frozen: Keras still runs the epoch
                loss.backward()
            self.optimizer.step()
        finally:
            self.train(was)
        self._update_metrics(y, y_pred, sw)     # y_pred keeps its mask (read on the host, no graph)
        return float(loss.item())

    def _result(self, logs, return_dict):
        logs = {**logs, **{m.name: float(m.result()) for m in self._metrics}}
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else [logs["loss"]] + [logs[m.name] for m in self._metrics]

    # --- fit / evaluate / predict ---------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` passes over ``(x, y)``; returns a ``History`` whose ``.history`` holds the per-epoch
        ``loss``, each metric, and their ``val_`` versions.

        ``x``: an array, a list of arrays (several inputs), or an iterable of ``(x, y)`` batches (e.g. an
        ``md.data.DataLoader``). ``validation_split`` holds out the last fraction of the arrays (before shuffling);
        ``validation_data`` is ``(x_val, y_val)`` or batches. ``shuffle`` draws from minidl's generator
        (``md.keras.utils.set_random_seed`` makes runs repeatable). ``verbose``: 0 silent, 1 progress bar, 2 one
        line per epoch.

        Example:
            >>> history = model.fit(x_train, y_train, epochs=10, batch_size=32, validation_split=0.1,
            ...                     callbacks=[md.keras.callbacks.EarlyStopping(patience=2)])
            >>> history.history["val_accuracy"][-1]
        """
        self._require_compiled("fit")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"fit: batch_size must be a positive int, got {batch_size!r}")
        data = adapt(x, y, sample_weight, "fit")
        if validation_split:
            if not isinstance(data, ArrayData):
                raise ValueError("`validation_split` is only supported for NumPy arrays (not for datasets or "
                                 "iterables of batches); pass validation_data instead")
            if validation_data is not None:
                raise ValueError("fit: give either validation_split or validation_data, not both")
            data, val = data.split(validation_split)
        else:
            val = None if validation_data is None else self._validation(validation_data)
        if class_weight is not None and isinstance(data, ArrayData):
            if data.y is None:
                raise ValueError("fit: class_weight needs targets y")
            cw = class_weights_for(data.y, class_weight)
            data.sw = cw if data.sw is None else data.sw * cw
        self._prepare(data)
        steps = data.steps(batch_size)
        if steps_per_epoch is not None:
            steps = steps_per_epoch if steps is None else min(steps, steps_per_epoch)
        history = callbacks_module.History()
        cbs = list(callbacks or []) + [history]        # last, as in Keras: it records what callbacks add to logs
        for cb in cbs:
            cb.set_model(self)
            cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training, self.history = False, history
        for cb in cbs:
            cb.on_train_begin({})
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            bar = Progbar(steps, verbose)
            for m in self._metrics:
                m.reset_state()
            total, seen = 0.0, 0
            for step, (xb, yb, swb) in enumerate(data.batches(batch_size, shuffle)):
                if steps is not None and step >= steps:
                    break
                for cb in cbs:
                    cb.on_train_batch_begin(step, {})
                n = len(xb[0] if isinstance(xb, list) else xb)
                loss = self._train_step(xb, yb, swb)
                total, seen = total + loss * n, seen + n
                logs = self._result({"loss": total / seen}, True)
                bar.update(step + 1, logs)
                for cb in cbs:
                    cb.on_train_batch_end(step, {**logs, "loss": loss})
                if self.stop_training:
                    break
            logs = self._result({"loss": total / max(seen, 1)}, True)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_data(val, validation_batch_size or batch_size, None)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            bar.finish(logs)
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(dict(history.history))
        return history

    def _validation(self, validation_data):
        if isinstance(validation_data, tuple) and len(validation_data) in (2, 3):
            return ArrayData(*validation_data)
        return adapt(validation_data, who="fit(validation_data)")

    def _evaluate_data(self, data, batch_size, bar):
        was = self.training
        self.eval()
        for m in self._metrics:
            m.reset_state()
        total, seen = 0.0, 0
        try:
            with no_grad():
                for step, (xb, yb, swb) in enumerate(data.batches(batch_size)):
                    y_pred = self._single_output(self(self._device_put(xb)))
                    n = len(xb[0] if isinstance(xb, list) else xb)
                    total, seen = total + float(self._loss_value(yb, y_pred, swb).item()) * n, seen + n
                    self._update_metrics(yb, y_pred, swb)
                    if bar is not None:
                        bar.update(step + 1, self._result({"loss": total / seen}, True))
        finally:
            self.train(was)
        if seen == 0:
            raise ValueError("evaluate: the data holds no samples")
        return self._result({"loss": total / seen}, True)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, return_dict=False,
                 callbacks=None):
        """The loss (plus regularization penalties, as Keras) and metrics over ``(x, y)``, in inference mode:
        ``loss`` alone without metrics, else ``[loss, *metrics]``; a dict with ``return_dict=True``.

        Example:
            >>> test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
        """
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        data = adapt(x, y, sample_weight, "evaluate")
        self._prepare(data)
        batch_size = batch_size or 32
        bar = Progbar(data.steps(batch_size), verbose) if verbose else None
        logs = self._evaluate_data(data, batch_size, bar)
        if bar is not None:
            bar.finish(logs)
        return self._result({"loss": logs["loss"]}, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """``evaluate`` on one batch."""
        return self.evaluate(x, y, batch_size=len(ArrayData(x).xs[0]), verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` in inference mode (Dropout off, BatchNormalization on its moving
        statistics), as a NumPy array (a list of arrays for several outputs).

        Example:
            >>> probs = model.predict(x_test, verbose=0)
            >>> labels = probs.argmax(axis=1)
        """
        verbose = 1 if verbose == "auto" else int(verbose)
        data = adapt(x, None, None, "predict")
        self._prepare(data)
        batch_size = batch_size or 32
        bar = Progbar(data.steps(batch_size), verbose) if verbose else None
        was = self.training
        self.eval()
        outs = []
        try:
            with no_grad():
                for step, (xb, _, _) in enumerate(data.batches(batch_size)):
                    if steps is not None and step >= steps:
                        break
                    out = self(self._device_put(xb))
                    outs.append([host(o) for o in out] if isinstance(out, (list, tuple)) else host(out))
                    if bar is not None:
                        bar.update(step + 1, {})
        finally:
            self.train(was)
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
        from .summary import print_summary  # noqa: PLC0415
        print_summary(self, line_length or 80, print_fn or print)

    def get_config(self):
        from .saving import functional_config  # noqa: PLC0415
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__} is a subclassed Model: its architecture is Python code "
                                      "with no config to save. Use model.save_weights(path) and rebuild the model "
                                      "in code, then load_weights(path).")
        return functional_config(self)

    def save(self, filepath, overwrite=True):
        """Save the architecture (JSON config), the compile arguments and the weights (safetensors) in one
        ``.keras`` zip file, written atomically; ``md.keras.models.load_model`` reads it back.

        Example:
            >>> model.save("mnist.keras")
            >>> same = md.keras.models.load_model("mnist.keras")
        """
        from .saving import save_model  # noqa: PLC0415
        save_model(self, filepath, overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Save only the weights (a safetensors file keyed ``layer_name/weight_name``, Keras' layouts)."""
        from .saving import save_weights  # noqa: PLC0415
        save_weights(self, filepath, overwrite)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` (or inside a ``.keras`` file) into this built model."""
        from .saving import load_weights  # noqa: PLC0415
        load_weights(self, filepath)


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
