"""Keras 3's ``Attention`` (Luong-style dot-product or concat scores) and ``AdditiveAttention`` (Bahdanau-style).

Both take ``[query, value]`` or ``[query, value, key]`` (``key`` defaults to ``value``) and ``mask=[query_mask,
value_mask]`` (filled from the inputs' own Keras masks when not given), and return ``(batch, Tq, dim_v)`` (with the
``(batch, Tq, Tv)`` attention distribution when ``return_attention_scores=True``). As in Keras: masked value steps
get their score lowered by 1e9 before the softmax (so a query that sees nothing averages all values), masked query
steps output zeros, ``use_causal_mask`` lets step i see steps <= i, and ``dropout`` drops attention weights in
training. The weights are Keras': ``Attention(use_scale=True)`` a scalar ``scale``, ``score_mode="concat"`` a
scalar ``concat_score_weight``, ``AdditiveAttention(use_scale=True)`` a ``scale`` vector of the feature size.
"""
import numpy as np

from ...device import array_module
from ...nn import functional as F
from ...nn.parameter import Parameter
from ...ops import softmax, tanh, where
from ...tensor import Tensor
from .. import initializers
from .attention_common import bool_mask, input_mask, is_symbolic, known_dim, large_negative, symbolic_call
from .base import LAYER_DTYPES, KerasTensor, Layer

_MASK_NAMES = ("query_mask", "value_mask", "key_mask")


class Attention(Layer):
    """Dot-product attention (Luong): ``scores = query @ key^T`` (times a learned scalar ``scale`` with
    ``use_scale=True``), or with ``score_mode="concat"`` ``concat_score_weight * sum(tanh(scale * (query + key)))``;
    ``softmax(scores) @ value``.

    Example:
        >>> q, v = np.random.rand(2, 3, 4).astype("float32"), np.random.rand(2, 5, 4).astype("float32")
        >>> out, scores = md.keras.layers.Attention()([q, v], return_attention_scores=True)
        >>> out.shape, scores.shape
        ((2, 3, 4), (2, 3, 5))
    """

    _node_call_kwargs = ("return_attention_scores", "use_causal_mask", "mask_names")

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. Received: "
                             f"score_mode={score_mode}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: `dropout` must be a number in [0, 1]. Received: dropout="
                             f"{dropout!r}")
        self.use_scale, self.score_mode, self.dropout, self.seed = bool(use_scale), score_mode, float(dropout), seed

    # --- inputs and shapes ----------------------------------------------------------------------------------------
    def _validate_inputs(self, inputs, mask=None):
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{name} layer must be called on a list of inputs, namely [query, value] or [query, "
                             f"value, key]. Received: inputs={type(inputs).__name__}.")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] or [query, "
                             f"value, key]. Received length: {len(inputs)}.")
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise ValueError(f"{name} layer mask must be a list of length 2 or 3, namely [query_mask, value_mask]. "
                             f"Received: mask={mask!r:.80}.")

    def _shapes(self, input_shape):
        self._validate_inputs(input_shape)
        shapes = [tuple(s) for s in input_shape]
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        dims = [known_dim(self, s, what) for s, what in ((q, "query"), (v, "value"), (k, "key"))]
        if len(q) != len(k) or len(v) != len(k) or k[:-1] != v[:-1] and None not in k[:-1] + v[:-1]:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): query {q}, value {v} and key {k} must '
                             "have the same rank, and value and key the same steps")
        if dims[0] != dims[2]:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): query and key must have the same feature '
                             f"size, got query {q} and key {k}")
        return q, v, k

    def _weight_shapes(self, input_shape):
        self._shapes(input_shape)
        return [()] * (self.use_scale + (self.score_mode == "concat"))

    def build(self, input_shape):
        self._shapes(input_shape)
        if self.use_scale:
            self._scalar_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self._scalar_weight("concat_score_weight", (), "ones")

    def _scalar_weight(self, name, shape, init):
        self.register_parameter(name, Parameter(Tensor._wrap(np.zeros(shape, LAYER_DTYPES[self.dtype_name].np))))
        self._add_weight(name, lambda: self._parameters[name], initializers.get(init))

    def compute_output_shape(self, input_shape):
        q, v, _ = self._shapes(input_shape)
        return (*q[:-1], v[-1])

    # --- calls ----------------------------------------------------------------------------------------------------
    def __call__(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False,
                 mask_names=None, **kwargs):
        """``layer([query, value(, key)], mask=None, training=None, return_attention_scores=False,
        use_causal_mask=False)``."""
        if kwargs:
            raise TypeError(f"{type(self).__name__}.call() got unexpected keyword arguments: {sorted(kwargs)}")
        if mask_names is not None:          # a model passes explicit masks after the inputs
            inputs = list(inputs)
            n = len(mask_names)
            if not 0 < n < len(inputs) or not set(mask_names) <= set(_MASK_NAMES):
                raise ValueError(f'Layer "{self.name}": mask_names {mask_names!r:.60} do not fit {len(inputs)} inputs')
            given = dict(zip(mask_names, inputs[-n:]))
            inputs = inputs[:-n]
            mask = [given.get(m) for m in _MASK_NAMES[:len(inputs)]]
        self._validate_inputs(inputs, mask)
        options = {"return_attention_scores": bool(return_attention_scores), "use_causal_mask": bool(use_causal_mask)}
        if is_symbolic(*inputs):
            return self._symbolic(list(inputs), mask, options)
        return Layer.__call__(self, list(inputs), training=training, mask=mask, **options)

    def _symbolic(self, inputs, mask, options):
        if not all(isinstance(t, KerasTensor) for t in inputs):
            raise TypeError(f'Layer "{self.name}" ({type(self).__name__}): call it on symbolic tensors only, or on '
                            "arrays/Tensors only")
        shapes = [t.shape for t in inputs]
        self._maybe_build(shapes)
        q, _, k = self._shapes(shapes)
        carried = [input_mask(t) for t in inputs]
        explicit = {}
        for name, m, own in zip(_MASK_NAMES, mask or [], carried):
            if m is None or m is own:
                continue
            if not isinstance(m, KerasTensor):
                raise TypeError(f'Layer "{self.name}" ({type(self).__name__}): in a functional model a mask must be '
                                "a symbolic tensor (an Input or a layer's output), not a constant array")
            explicit[name] = m
        out_shapes = [self.compute_output_shape(shapes)]
        if options["return_attention_scores"]:
            out_shapes.append((*q[:-1], k[-2]))
        call_kwargs = {k_: v for k_, v in options.items() if v}
        if explicit:
            call_kwargs["mask_names"] = list(explicit)
        q_mask = (mask[0] if mask else None) or carried[0]
        return symbolic_call(self, inputs + list(explicit.values()), out_shapes, call_kwargs, q_mask)

    def forward(self, inputs, **kwargs):
        return self.call(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        """The output's mask: the query's (Keras)."""
        if mask is None or not isinstance(mask, (list, tuple)) or not mask or mask[0] is None:
            return None
        m = mask[0]
        return m if isinstance(m, (Tensor, KerasTensor)) else Tensor._wrap(np.asarray(m) != 0)

    def _calculate_scores(self, query, key):
        scale = self._parameters["scale"] if self.use_scale else None
        if self.score_mode == "dot":
            scores = query @ key.transpose(-2, -1)
            return scores if scale is None else scores * scale
        total = query.unsqueeze(-2) + key.unsqueeze(-3)
        if scale is not None:
            total = total * scale
        return self._parameters["concat_score_weight"] * tanh(total).sum(-1)

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        """The attended values (and the attention distribution) for Tensors ``inputs`` (see the class)."""
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        self._shapes([tuple(t.shape) for t in (q, v, k)])
        if (q.shape[0], k.shape[0]) != (v.shape[0],) * 2 or k.shape[-2] != v.shape[-2]:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): query {tuple(q.shape)}, value '
                             f"{tuple(v.shape)} and key {tuple(k.shape)} must agree on the batch, and value and key on "
                             "the steps")
        q_mask = bool_mask(mask[0], q, "query_mask", self) if mask else None
        v_mask = bool_mask(mask[1], q, "value_mask", self) if mask else None
        scores = self._calculate_scores(q, k)
        keep = None if v_mask is None else v_mask[..., None, :]
        if use_causal_mask:
            xp = array_module(q.array)
            causal = (xp.arange(scores.shape[-2])[:, None] >= xp.arange(scores.shape[-1])[None, :])[None]
            keep = causal if keep is None else keep & causal
        if keep is not None:
            big = 65504.0 if self.dtype_name == "float16" else -large_negative(self.dtype_name)
            scores = where(Tensor._wrap(~keep), scores - big, scores)
        weights = softmax(scores, dim=-1)
        used = F.dropout(weights, self.dropout, True) if self.training and self.dropout > 0 else weights
        out = used @ v
        if q_mask is not None:
            out = where(Tensor._wrap(q_mask[..., None]), out, 0.0)
        return (out, weights) if return_attention_scores else out

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive attention (Bahdanau): ``scores = sum(scale * tanh(query + key), axis=-1)`` with a learned
    ``scale`` vector (``use_scale=True``, glorot-uniform initialised), then ``softmax(scores) @ value``.

    Example:
        >>> q, v = np.random.rand(2, 3, 4).astype("float32"), np.random.rand(2, 5, 4).astype("float32")
        >>> layer = md.keras.layers.AdditiveAttention()
        >>> layer([q, v]).shape, layer.count_params()
        ((2, 3, 4), 4)
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def _weight_shapes(self, input_shape):
        q, _, _ = self._shapes(input_shape)
        return [(q[-1],)] * self.use_scale

    def build(self, input_shape):
        q, _, _ = self._shapes(input_shape)
        if self.use_scale:
            self._scalar_weight("scale", (q[-1],), "glorot_uniform")

    def _calculate_scores(self, query, key):
        total = tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        if self.use_scale:
            total = total * self._parameters["scale"]
        return total.sum(-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
