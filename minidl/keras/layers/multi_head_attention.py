"""Keras 3's ``MultiHeadAttention`` on md.keras, with Keras' arguments, weight layouts and parameter counts.

The four projections are Keras' ``EinsumDense`` weights: ``query/kernel (dim, num_heads, key_dim)`` with
``query/bias (num_heads, key_dim)``, the same for ``key`` and (with ``value_dim``) ``value``, an optional sigmoid
``gate`` (``use_gate``) and ``attention_output/kernel (num_heads, value_dim, *output_shape)`` with its bias, in
Keras' order, so ``set_weights(keras_layer.get_weights())`` gives Keras' outputs. Each projection is one GEMM over
the flattened kernel.

Masks combine as Keras combines them: ``attention_mask`` (``(B, T, S)``, True = attend) AND the query's mask
(``(B, T, 1)``) AND the value's and key's masks (``(B, 1, S)``; a tensor's Keras mask, from
``Embedding(mask_zero=True)``, fills ``value_mask``/``key_mask`` when not given) AND the causal mask AND the
``sliding_window`` band. The output carries the query's mask. Without ``return_attention_scores`` and without
dropout in training, the attention runs through ``md.nn.functional.scaled_dot_product_attention`` (the fused
kernel, never building the score matrix; a causal-only call passes ``is_causal``); otherwise it is composed as
Keras composes it (masked scores at -1e9, softmax, masked probabilities zeroed, dropout on the probabilities).
"""
import math

import numpy as np

from ...device import array_module
from ...nn import functional as F
from ...nn.parameter import Parameter
from ...ops import sigmoid
from ...tensor import Tensor
from .. import constraints, initializers, regularizers
from ..masking_utils import get_keras_mask, set_keras_mask
from . import call_losses
from .attention_common import bool_mask, input_mask, is_symbolic, known_dim, masked_softmax, symbolic_call
from .base import LAYER_DTYPES, KerasTensor, Layer

_TENSOR_ARGS = ("query", "value", "key", "query_mask", "value_mask", "key_mask", "attention_mask")


def _positive_int(value, what, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"Received an invalid value for argument `{what}`, expected a positive integer"
                         f"{' or `None`' if allow_none else ''}. Received: {what}={value!r}")
    return int(value)


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017) with Keras 3's arguments and weights:
    ``layer(query, value, key=None, attention_mask=None, return_attention_scores=False, training=None,
    use_causal_mask=False)``.

    ``query`` ``(B, T, dim)``, ``value`` ``(B, S, dim_v)``, ``key`` (default ``value``) ``(B, S, dim_k)``; the
    output is ``(B, T, dim)`` (or ``(B, T, *output_shape)``), and the scores, when returned, ``(B, num_heads, T,
    S)``. Inputs of higher rank attend over ``attention_axes`` (default: every axis but the batch and feature
    axes), as in Keras.

    Example:
        >>> mha = md.keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)
        >>> x = np.random.rand(4, 10, 16).astype("float32")
        >>> out, scores = mha(x, x, return_attention_scores=True, use_causal_mask=True)
        >>> out.shape, scores.shape, mha.count_params()
        ((4, 10, 16), (4, 2, 10, 10), 1088)
    """

    supports_masking = True
    # the call arguments a functional model saves with the node (see attention_common.symbolic_call)
    _node_call_kwargs = ("return_attention_scores", "use_causal_mask", "input_names")

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        self._num_heads = _positive_int(num_heads, "num_heads")
        self._key_dim = _positive_int(key_dim, "key_dim")
        self._value_dim = _positive_int(value_dim, "value_dim", allow_none=True) or self._key_dim
        super().__init__(**kwargs)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"MultiHeadAttention: `dropout` must be a number in [0, 1]. Received: dropout="
                             f"{dropout!r}")
        self._dropout, self._use_bias, self._use_gate = float(dropout), bool(use_bias), bool(use_gate)
        if output_shape:
            if isinstance(output_shape, (int, np.integer)):
                output_shape = (output_shape,)
            if not isinstance(output_shape, (list, tuple)):
                raise ValueError(f"Invalid `output_shape`: {output_shape!r}. When specified, the `output_shape` "
                                 "should be of type tuple, list, or int.")
            output_shape = tuple(_positive_int(d, "output_shape") for d in output_shape)
        self._output_shape = output_shape or None
        if isinstance(attention_axes, (int, np.integer)) and not isinstance(attention_axes, bool):
            attention_axes = (int(attention_axes),)
        elif attention_axes is not None:
            if not isinstance(attention_axes, (list, tuple)) or not all(
                    isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in attention_axes):
                raise ValueError(f"`attention_axes` must be an int, list, or tuple.Received: attention_axes="
                                 f"{attention_axes!r}")
            attention_axes = tuple(int(a) for a in attention_axes) or None
        self._attention_axes = attention_axes
        self._sliding_window = _positive_int(sliding_window, "sliding_window", allow_none=True)
        self._flash_attention = flash_attention
        if flash_attention and self._dropout > 0:
            raise ValueError("Dropout is not supported when flash attention is enabled. Please set dropout to 0.0 "
                             "to use flash attention.")
        self.seed = seed
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._projection_activity = regularizers.get(activity_regularizer)   # Keras: on each projection's output
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))

    # Keras' read-only properties
    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)

    # --- shapes and weights ---------------------------------------------------------------------------------------
    @staticmethod
    def _split_shapes(query_shape, value_shape, key_shape):
        """(query, value, key) shapes from Keras' three arguments or one list of shapes (what a model passes)."""
        if value_shape is None and isinstance(query_shape, (list, tuple)) and query_shape and \
                isinstance(query_shape[0], (list, tuple)):
            shapes = [tuple(s) for s in query_shape]
            query_shape, value_shape = shapes[0], shapes[1] if len(shapes) > 1 else None
            key_shape = shapes[2] if len(shapes) > 2 else None
        if value_shape is None:
            raise ValueError("MultiHeadAttention needs the shapes of both `query` and `value`, got only "
                             f"{query_shape!r}")
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        return query_shape, value_shape, value_shape if key_shape is None else tuple(key_shape)

    def _check_shapes(self, query_shape, value_shape, key_shape):
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be equal. Received: "
                             f"value_shape={value_shape} and key_shape={key_shape}")
        dims = [known_dim(self, s, what) for s, what in ((query_shape, "query"), (value_shape, "value"),
                                                          (key_shape, "key"))]
        rank = len(query_shape)
        if rank < 3 or len(value_shape) != rank:
            raise ValueError(f'Layer "{self.name}" (MultiHeadAttention): query and value must have the same rank, '
                             f"at least 3 ((batch, steps, features)); got query shape {query_shape} and value "
                             f"shape {value_shape}")
        return dims

    def _resolved_axes(self, rank):
        """The attention axes of the inputs (rank ``rank``), non-negative, checked: never the batch or feature."""
        if self._attention_axes is None:
            return tuple(range(1, rank - 1))
        axes = tuple(a + rank if a < 0 else a for a in self._attention_axes)     # Keras: from the projected rank - 1
        if any(not 1 <= a < rank - 1 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f'Layer "{self.name}" (MultiHeadAttention): attention_axes={self._attention_axes} must '
                             f"name distinct axes of the inputs other than the batch and feature axes (1 to "
                             f"{rank - 2} for inputs of rank {rank})")
        return axes

    def _weight_shapes(self, input_shape):
        q, v, k = self._split_shapes(input_shape, None, None)
        dq, dv, dk = self._check_shapes(q, v, k)
        heads, kd, vd = self._num_heads, self._key_dim, self._value_dim
        out = self._output_shape or (dq,)
        shapes = [(dq, heads, kd), (heads, kd), (dk, heads, kd), (heads, kd)]
        if self._use_gate:
            shapes += [(dq, heads, vd), (heads, vd)]
        shapes += [(dv, heads, vd), (heads, vd), (heads, vd, *out), tuple(out)]
        if not self._use_bias:
            shapes = shapes[::2]
        return shapes

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the projection weights for ``query``/``value``/``key`` shapes (batch axis None), as Keras'
        ``build(query_shape, value_shape, key_shape=None)``."""
        q, v, k = self._split_shapes(query_shape, value_shape, key_shape)
        dq, dv, dk = self._check_shapes(q, v, k)
        self._axes_resolved = self._resolved_axes(len(q))
        if self._attention_axes is None:                 # Keras reports the resolved axes after build
            self._attention_axes = self._axes_resolved
        heads, kd, vd = self._num_heads, self._key_dim, self._value_dim
        out = self._output_shape or (dq,)
        projections = [("query", dq, kd), ("key", dk, kd)] + [("gate", dq, vd)] * self._use_gate + [("value", dv, vd)]
        for name, n_in, size in projections:
            self._make_weights(name, (n_in, heads, size), (heads, size))
        self._make_weights("attention_output", (heads, vd, *out), tuple(out))
        self._dims, self._rank = (dq, dv, dk), len(q)

    def _make_weights(self, name, kernel_shape, bias_shape):
        dtype = LAYER_DTYPES[self.dtype_name].np
        for part, shape, init, reg, con in (
                ("kernel", kernel_shape, self._kernel_initializer, self._kernel_regularizer, self._kernel_constraint),
                ("bias", bias_shape, self._bias_initializer, self._bias_regularizer, self._bias_constraint)):
            if part == "bias" and not self._use_bias:
                continue
            key = f"{name}_{part}"
            self.register_parameter(key, Parameter(Tensor._wrap(np.zeros(shape, dtype=dtype))))
            self._add_weight(f"{name}/{part}", lambda key=key: self._parameters[key], init, regularizer=reg,
                             constraint=con)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        """``query``'s shape with its last axis replaced by ``output_shape`` (default: the query's feature size)."""
        q, v, k = self._split_shapes(query_shape, value_shape, key_shape)
        if v[1:-1] != k[1:-1]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be equal. Received: "
                             f"value_shape={v} and key_shape={k}")
        return tuple(q[:-1]) + tuple(self._output_shape) if self._output_shape else tuple(q)

    def _scores_shape(self, query_shape, key_shape):
        """Keras' layout of the scores: (batch axes with the heads last, query attention axes, key attention axes)."""
        rank = len(query_shape) + 1                                    # the projected rank (heads inserted)
        axes = self._resolved_axes(len(query_shape))
        proj_q = tuple(query_shape[:-1]) + (self._num_heads,)
        proj_k = tuple(key_shape[:-1]) + (self._num_heads,)
        batch = [i for i in range(rank - 1) if i not in axes]
        return tuple(proj_q[i] for i in batch) + tuple(proj_q[a] for a in axes) + tuple(proj_k[a] for a in axes)

    # --- calls ----------------------------------------------------------------------------------------------------
    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
                 attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False,
                 input_names=None, **kwargs):
        """``layer(query, value, key=None, ...)``; ``layer([query, value(, key)])`` as a model passes its inputs
        (``input_names`` say which argument each list entry is)."""
        if kwargs:
            raise TypeError(f"MultiHeadAttention.call() got unexpected keyword arguments: {sorted(kwargs)}")
        if isinstance(query, (list, tuple)) and value is None:
            names = list(input_names) if input_names is not None else ["query", "value", "key"][:len(query)]
            if len(names) != len(query) or len(set(names)) != len(names) or not set(names) <= set(_TENSOR_ARGS) \
                    or not {"query", "value"} <= set(names):
                raise ValueError(f'Layer "{self.name}" (MultiHeadAttention): a list of inputs must be [query, value] '
                                 f"or [query, value, key]; got {len(query)} inputs named {names}")
            given = dict(zip(names, query))
            query, value, key = given["query"], given["value"], given.get("key", key)
            query_mask = given.get("query_mask", query_mask)
            value_mask = given.get("value_mask", value_mask)
            key_mask = given.get("key_mask", key_mask)
            attention_mask = given.get("attention_mask", attention_mask)
        if value is None:
            raise TypeError(f'Layer "{self.name}" (MultiHeadAttention) must be called as layer(query, value, '
                            "key=None, ...): `value` is missing")
        # Keras fills the masks from the tensors' own masks (Embedding(mask_zero=True), Masking)
        query_mask = input_mask(query) if query_mask is None else query_mask
        value_mask = input_mask(value) if value_mask is None else value_mask
        if key is not None and key_mask is None:
            key_mask = input_mask(key)
        tensors = {"query": query, "value": value, "key": key, "query_mask": query_mask, "value_mask": value_mask,
                   "key_mask": key_mask, "attention_mask": attention_mask}
        options = {"return_attention_scores": bool(return_attention_scores), "use_causal_mask": bool(use_causal_mask)}
        if is_symbolic(query, value, key):
            return self._symbolic(tensors, options)
        inputs = [query, value] + ([key] if key is not None else [])
        out = Layer.__call__(self, inputs, training=training, query_mask=query_mask, value_mask=value_mask,
                             key_mask=key_mask, attention_mask=attention_mask, **options)
        first = out[0] if isinstance(out, tuple) else out
        if query_mask is not None:
            set_keras_mask(first, query_mask if isinstance(query_mask, Tensor) else Tensor._wrap(
                bool_mask(query_mask, first, "query_mask", self)))
        elif isinstance(first, Tensor):
            set_keras_mask(first, None)
        return out

    def _symbolic(self, tensors, options):
        query, value, key = tensors["query"], tensors["value"], tensors["key"]
        for name in ("query", "value", "key"):
            if tensors[name] is not None and not isinstance(tensors[name], KerasTensor):
                raise TypeError(f'Layer "{self.name}" (MultiHeadAttention): `{name}` is not a symbolic tensor, but '
                                "the other inputs are; call the layer on Input-made tensors only")
        shapes = [query.shape, value.shape] + ([key.shape] if key is not None else [])
        self._maybe_build(shapes)
        self._check_shapes(*self._split_shapes(shapes, None, None))
        # the tensors the model passes back: inputs, then explicit masks that are model tensors (a mask a tensor
        # carries itself comes back with it)
        names = [n for n in _TENSOR_ARGS if isinstance(tensors[n], KerasTensor) and (
            n in ("query", "value", "key") or not self._carried(tensors, n))]
        for n in ("query_mask", "value_mask", "key_mask", "attention_mask"):
            if tensors[n] is not None and not isinstance(tensors[n], KerasTensor):
                raise TypeError(f'Layer "{self.name}" (MultiHeadAttention): in a functional model `{n}` must be a '
                                "symbolic tensor (an Input or a layer's output), not a constant array")
        out_shape = self.compute_output_shape(*shapes)
        out_shapes = [out_shape]
        if options["return_attention_scores"]:
            out_shapes.append(self._scores_shape(query.shape, (key if key is not None else value).shape))
        call_kwargs = {k: v for k, v in options.items() if v}
        if names != ["query", "value", "key"][:len(names)]:
            call_kwargs["input_names"] = names
        return symbolic_call(self, [tensors[n] for n in names], out_shapes, call_kwargs, tensors["query_mask"])

    @staticmethod
    def _carried(tensors, name):
        """Whether the mask ``name`` is the Keras mask its input tensor carries (so it comes back with it)."""
        owner = tensors[name[:-len("_mask")]] if name != "attention_mask" else None
        return owner is not None and get_keras_mask(owner) is tensors[name]

    def forward(self, inputs, **kwargs):
        return self.call(*inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        """The output's mask: the query's (Keras)."""
        if isinstance(mask, (list, tuple)):
            return mask[0] if mask else None
        return mask

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        """The attention output (and scores with ``return_attention_scores``) for Tensors ``query``/``value``/
        ``key`` (see the class)."""
        key = value if key is None else key
        q_shape, v_shape, k_shape = (tuple(t.shape) for t in (query, value, key))
        self._check_shapes(q_shape, v_shape, k_shape)
        if len(q_shape) != self._rank:
            raise ValueError(f'Layer "{self.name}" (MultiHeadAttention) was built for inputs of rank {self._rank}, '
                             f"but received query of shape {q_shape}")
        for t, name, dim in ((query, "query", self._dims[0]), (value, "value", self._dims[1]),
                             (key, "key", self._dims[2])):
            if t.shape[-1] != dim:
                raise ValueError(f'Layer "{self.name}" (MultiHeadAttention) was built for {name} features of size '
                                 f"{dim}, but received {name} of shape {tuple(t.shape)}")
        if self._flash_attention and return_attention_scores:
            raise ValueError("Returning attention scores is not supported when flash attention is enabled. Please "
                             "disable flash attention to access attention scores.")
        masks = [query_mask, value_mask, key_mask, attention_mask]
        causal_only = use_causal_mask and all(m is None for m in masks) and self._sliding_window is None
        mask = None if causal_only else self._attention_mask(query, value, *masks, use_causal_mask)
        gate = self._project("gate", query) if self._use_gate else None
        q, k, v = self._project("query", query), self._project("key", key), self._project("value", value)
        out, scores = self._attend(q, k, v, mask, causal_only, return_attention_scores)
        if gate is not None:
            out = out * gate
        out = self._project("attention_output", out, bound=2)
        return (out, scores) if return_attention_scores else out

    def _project(self, name, x, bound=1):
        """An EinsumDense projection: contract the last ``bound`` axes of ``x`` with the kernel's leading axes."""
        kernel = self._parameters[f"{name}_kernel"]
        n_in = math.prod(kernel.shape[:bound])
        out_dims = tuple(kernel.shape[bound:])
        lead = tuple(x.shape[:x.ndim - bound])
        y = x.reshape(*lead, n_in) @ kernel.reshape(n_in, math.prod(out_dims))
        if self._use_bias:
            y = y + self._parameters[f"{name}_bias"].reshape(-1)
        y = y.reshape(*lead, *out_dims)
        if name == "gate":
            y = sigmoid(y)
        if self._projection_activity is not None and y.ndim and y.shape[0]:
            call_losses.add(self, self._projection_activity(y) / y.shape[0])
        return y

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras' combined mask (a bool array broadcastable to ``(B, T, S)``), or None."""
        xp_like = query
        auto = None

        def both(a, b):
            return b if a is None else a if b is None else a & b
        if query_mask is not None:
            auto = bool_mask(query_mask, xp_like, "query_mask", self)[..., None]
        for m, what in ((value_mask, "value_mask"), (key_mask, "key_mask")):
            if m is not None:
                auto = both(auto, bool_mask(m, xp_like, what, self)[..., None, :])
        t, s = query.shape[1], value.shape[1]
        if use_causal_mask or self._sliding_window is not None:
            xp = array_module(query.array)
            rows, cols = xp.arange(t)[:, None], xp.arange(s)[None, :]
            if use_causal_mask:
                auto = both(auto, (rows >= cols)[None])
            if self._sliding_window is not None:
                auto = both(auto, (abs(rows - cols) < self._sliding_window)[None])
        if attention_mask is not None:
            auto = both(bool_mask(attention_mask, xp_like, "attention_mask", self), auto)
        return auto

    def _attend(self, q, k, v, mask, causal_only, return_scores):
        """Attention over the resolved axes of projected ``q`` (B, ..., heads, key_dim), ``k``, ``v``; returns the
        output in ``q``'s layout (with value_dim) and the scores in Keras' layout (or None)."""
        rank = q.ndim
        axes = self._axes_resolved
        batch = [i for i in range(rank - 1) if i not in axes]          # heads (rank - 2) is the last of these
        perm = batch + list(axes) + [rank - 1]
        b_sizes = [q.shape[i] for i in batch]
        lq = math.prod(q.shape[a] for a in axes)
        lk = math.prod(k.shape[a] for a in axes)
        if [k.shape[i] for i in batch] != b_sizes:
            raise ValueError(f'Layer "{self.name}" (MultiHeadAttention): query and key/value must agree on every axis '
                             f"that is not an attention axis ({list(axes)}); got query {tuple(q.shape)} and key "
                             f"{tuple(k.shape)} after projection")
        lead = (math.prod(b_sizes[:-1]), b_sizes[-1])
        q4 = q.permute(*perm).reshape(*lead, lq, q.shape[-1])
        k4 = k.permute(*perm).reshape(*lead, lk, k.shape[-1])
        v4 = v.permute(*perm).reshape(*lead, lk, v.shape[-1])
        scores_shape = tuple(b_sizes) + tuple(q.shape[a] for a in axes) + tuple(k.shape[a] for a in axes)
        mask4 = None if mask is None else self._mask4(mask, scores_shape, lead, lq, lk)
        dropping = self.training and self._dropout > 0
        if self._flash_attention is not False and not return_scores and not dropping:
            out4 = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=None if mask4 is None else Tensor._wrap(mask4),
                                                  is_causal=bool(causal_only), scale=self._inverse_sqrt_key_dim)
            scores = None
        else:
            if causal_only:
                xp = array_module(q.array)
                mask4 = (xp.arange(lq)[:, None] >= xp.arange(lk)[None, :])[None, None]
            logits = (q4 * self._inverse_sqrt_key_dim) @ k4.transpose(-2, -1)
            probs = masked_softmax(logits, mask4, self.dtype_name)
            scores = probs.reshape(*scores_shape)
            if dropping:
                probs = F.dropout(probs, self._dropout, True)
            out4 = probs @ v4
        ev = v.shape[-1]
        out = out4.reshape(*b_sizes, *(q.shape[a] for a in axes), ev)
        inverse = [perm.index(i) for i in range(rank)]
        return out.permute(*inverse), scores

    def _mask4(self, mask, scores_shape, lead, lq, lk):
        """The combined mask broadcast as Keras broadcasts it to the scores, as ``(b, heads or 1, lq, lk)``."""
        n_axes = len(self._axes_resolved)
        ndim = len(scores_shape)
        if mask.ndim > ndim:
            raise ValueError(f'Layer "{self.name}" (MultiHeadAttention): the attention mask of shape {mask.shape} has '
                             f"more axes than the scores {scores_shape}")
        while mask.ndim < ndim:                  # Keras inserts the missing (heads, ...) axes before the attention axes
            at = mask.ndim + (-2 * n_axes - 1) + 1
            mask = mask.reshape(mask.shape[:at] + (1,) + mask.shape[at:])
        try:
            xp = array_module(mask)
            if n_axes == 1 and ndim == 4:        # the common case: keep broadcast batch/heads axes of size 1
                target = tuple(m if m == 1 else s for m, s in zip(mask.shape[:2], scores_shape[:2])) + (lq, lk)
                return xp.ascontiguousarray(xp.broadcast_to(mask, target))
            return xp.ascontiguousarray(xp.broadcast_to(mask, scores_shape)).reshape(*lead, lq, lk)
        except ValueError:
            raise ValueError(f'Layer "{self.name}" (MultiHeadAttention): the attention mask (combined shape '
                             f"{tuple(mask.shape)}) cannot be broadcast to the attention scores of shape "
                             f"{scores_shape}") from None

    def _h5_layout(self):
        """Keras' nesting of the weights in ``.weights.h5`` files: one group per projection sublayer (see
        ``saving_h5._layout``)."""
        per = 1 + self._use_bias
        return ([("", 0), ("query_dense", per), ("key_dense", per)] + [("_gate_dense", per)] * self._use_gate +
                [("value_dense", per), ("output_dense", per), ("_softmax", 0), ("_dropout_layer", 0)])

    # --- config ---------------------------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self._num_heads, "key_dim": self._key_dim, "value_dim": self._value_dim,
            "dropout": self._dropout, "use_bias": self._use_bias, "use_gate": self._use_gate,
            "output_shape": None if self._output_shape is None else list(self._output_shape),
            "attention_axes": None if self._attention_axes is None else list(self._attention_axes),
            "sliding_window": self._sliding_window,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self._bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._projection_activity),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint), "seed": self.seed})
        return config
