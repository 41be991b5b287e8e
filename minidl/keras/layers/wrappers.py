"""``Bidirectional``: run a recurrent layer forward and a copy of it backward over the sequence, and merge."""
from ... import ops
from .base import Layer
from .recurrent import _Recurrent

_MERGES = ("concat", "sum", "mul", "ave")
_RECURRENT = ("SimpleRNN", "LSTM", "GRU")


class Bidirectional(Layer):
    """``Bidirectional(LSTM(64))``: the wrapped layer reads the sequence forward, a copy with its own weights reads it
    backward (``go_backwards``), and their outputs are merged (``merge_mode``: ``"concat"``, the default, ``"sum"``,
    ``"mul"``, ``"ave"``). With ``return_sequences`` the backward outputs are put back in time order first, as Keras.

    Weights: the forward layer's, then the backward layer's (twice the wrapped layer's parameter count).

    Example:
        >>> model = md.keras.Sequential([md.keras.layers.Embedding(20000, 128),
        ...                              md.keras.layers.Bidirectional(md.keras.layers.LSTM(64)),
        ...                              md.keras.layers.Dense(1, activation="sigmoid")])
    """

    ndim = 3

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if not isinstance(layer, _Recurrent):
            raise ValueError("Please initialize `Bidirectional` layer with a recurrent layer instance (SimpleRNN, "
                             f"LSTM, GRU). Received: {layer!r}")
        if merge_mode not in _MERGES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode!r}. Merge mode should be one of "
                             f"{', '.join(_MERGES)} (None, which returns both outputs, is not supported)")
        if layer.built:
            raise ValueError("Bidirectional: wrap a layer that has not been built (called) yet")
        super().__init__(**kwargs)
        self.merge_mode, self.layer_config = merge_mode, layer.get_config()
        if backward_layer is None:
            config = {**self.layer_config, "name": "backward_" + layer.name,
                      "go_backwards": not self.layer_config["go_backwards"]}
            backward_layer = type(layer).from_config(config)
        elif not isinstance(backward_layer, _Recurrent) or backward_layer.return_sequences != layer.return_sequences:
            raise ValueError("Bidirectional: backward_layer must be a recurrent layer with the same return_sequences")
        layer.name = "forward_" + layer.name
        self.forward_layer, self.backward_layer = layer, backward_layer
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        for sub in (layer, backward_layer):         # Keras: masked steps of the merged sequence output are zeros
            sub.zero_output_for_mask = self.return_sequences

    supports_masking = True

    def __call__(self, inputs, training=None, initial_state=None, **kwargs):
        """``Bidirectional(...)(sequences, initial_state=None, mask=None)``; ``initial_state``: the forward layer's
        states then the backward layer's."""
        if initial_state is not None:
            inputs = [inputs, *initial_state]
        from ..masking_utils import state_outputs  # noqa: PLC0415
        return state_outputs(self, super().__call__(inputs, training, **kwargs))

    def compute_mask(self, inputs, mask=None):
        """The input's mask with ``return_sequences`` (None for the states), else None."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * (2 * self.forward_layer.n_states) if self.return_state else out

    def reset_state(self):
        """Zero the carried states of both directions (``stateful=True``)."""
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def _weight_shapes(self, input_shape):
        return ()           # the two sublayers claim theirs when they build

    def build(self, input_shape):
        input_shape = self.forward_layer._sequence_shape(input_shape)
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)

    def call(self, inputs, mask=None, initial_state=None):
        if isinstance(inputs, (list, tuple)):
            inputs, initial_state = inputs[0], list(inputs[1:]) or initial_state
        if isinstance(mask, (list, tuple)):
            mask = None         # found on [sequence, *states]: with initial states, only mask= applies (Keras)
        k = self.forward_layer.n_states
        if initial_state is not None and len(initial_state) != 2 * k:
            raise ValueError(f"Bidirectional {self.name!r}: initial_state must hold {2 * k} states (the forward "
                             f"layer's {k}, then the backward layer's), got {len(initial_state)}")
        fwd = self.forward_layer(inputs, mask=mask, initial_state=None if initial_state is None else initial_state[:k])
        bwd = self.backward_layer(inputs, mask=mask,
                                  initial_state=None if initial_state is None else initial_state[k:])
        states = []
        if self.return_state:
            states = list(fwd[1:]) + list(bwd[1:])
            fwd, bwd = fwd[0], bwd[0]
        out = self._merge(fwd, bwd)
        return [out, *states] if self.return_state else out

    def _merge(self, fwd, bwd):
        if self.return_sequences and self.backward_layer.go_backwards != self.forward_layer.go_backwards:
            bwd = bwd[:, list(range(bwd.shape[1] - 1, -1, -1))]         # back into time order
        if self.merge_mode == "concat":
            return ops.cat([fwd, bwd], dim=-1)
        if self.merge_mode == "sum":
            return fwd + bwd
        if self.merge_mode == "mul":
            return fwd * bwd
        return (fwd + bwd) * 0.5

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:]
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        return [shape] + states + states if self.return_state else shape

    # the weights are the two sublayers'
    def get_weights(self):
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def set_weights(self, weights):
        weights = list(weights)
        n = len(self.forward_layer.get_weights())
        if len(weights) != 2 * n:
            raise ValueError(f"Layer {self.name!r} expected {2 * n} weights, but received {len(weights)} input weights")
        self.forward_layer.set_weights(weights[:n])
        self.backward_layer.set_weights(weights[n:])

    def count_params(self):
        return self.forward_layer.count_params() + self.backward_layer.count_params()

    def _param_counts(self):
        a, b = self.forward_layer._param_counts(), self.backward_layer._param_counts()
        return a[0] + b[0], a[1] + b[1]

    @property
    def losses(self):
        return self.forward_layer.losses + self.backward_layer.losses

    def _apply_trainable(self):
        if "forward_layer" in self._modules:
            self.forward_layer.trainable = self._trainable
            self.backward_layer.trainable = self._trainable

    def get_config(self):
        return {**super().get_config(), "layer": {"class_name": type(self.forward_layer).__name__,
                                                  "config": self.layer_config}, "merge_mode": self.merge_mode}

    @classmethod
    def from_config(cls, config):
        from ..saving import layer_from_config  # noqa: PLC0415
        config = dict(config)
        spec = config.pop("layer", None)
        if not isinstance(spec, dict) or spec.get("class_name") not in _RECURRENT:
            raise ValueError(f"Bidirectional: the config's 'layer' must be a {', '.join(_RECURRENT)} config, got "
                             f"{spec!r:.80}")
        return cls(layer_from_config(spec), **config)
