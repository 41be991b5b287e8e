"""``Masking``: mark the time steps whose features all equal ``mask_value`` as padding; and what md.keras' other
layers do with a mask, as Keras: most keep it (``supports_masking``), merges combine their inputs' masks, and
``GlobalAveragePooling1D`` averages over the unmasked steps only."""
from ..masking_utils import get_keras_mask, symbolic_mask  # noqa: F401  (get_keras_mask: re-exported for users)
from .base import KerasTensor, Layer


class Masking(Layer):
    """Skip the time steps of ``(batch, steps, features)`` inputs whose features all equal ``mask_value``: their
    values become 0 and the output carries a mask (``compute_mask``) that recurrent layers, and the loss and
    metrics in ``fit``/``evaluate``, leave out.

    Example:
        >>> x = np.array([[[1.0, 2.0], [0.0, 0.0]]])
        >>> out = md.keras.layers.Masking(mask_value=0.0)(x)
        >>> md.keras.layers.LSTM(4)(out).shape          # the LSTM stops at the first step
        (1, 4)
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise ValueError(f"Masking {self.name!r}: mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, mask=None):
        """True at the steps where some feature differs from ``mask_value`` (the last axis is reduced)."""
        if isinstance(inputs, KerasTensor):
            return symbolic_mask(inputs, inputs.shape[:-1])
        return (inputs != self.mask_value).any(-1)

    def call(self, inputs):
        keep = (inputs != self.mask_value).any(-1, keepdim=True)
        return inputs * keep.to(inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


def _keep_masks():
    """The layers that pass their input's mask on unchanged (Keras' ``supports_masking = True``)."""
    from . import activation_layers, core, lambda_layers, normalization, regularization  # noqa: PLC0415
    for cls in (core.Dense, core.Activation, core.Dropout, lambda_layers.TimeDistributed,
                normalization.LayerNormalization, regularization.GaussianNoise, regularization.GaussianDropout,
                regularization.SpatialDropout1D, activation_layers.ReLU, activation_layers.LeakyReLU,
                activation_layers.ELU, activation_layers.PReLU, activation_layers.Softmax):
        cls.supports_masking = True


def _merge_mask(self, inputs, mask=None):
    """A merge's output mask, as Keras: None unless every input has one, then their OR."""
    if not isinstance(mask, (list, tuple)) or any(m is None for m in mask):
        return None
    if isinstance(inputs[0], KerasTensor):
        return symbolic_mask(inputs[0], self.compute_output_shape([t.shape for t in inputs])[:-1])
    out = mask[0]
    for m in mask[1:]:
        out = out | m
    return out


def _concatenate_mask(self, inputs, mask=None):
    """Concatenate's output mask, as Keras: each input's mask (all true for an input without one) spread over its
    features, concatenated on the layer's axis, then true where any feature of a step is."""
    if not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
        return None
    if isinstance(inputs[0], KerasTensor):
        return symbolic_mask(inputs[0], self.compute_output_shape([t.shape for t in inputs])[:-1])
    from ... import ops  # noqa: PLC0415
    from ...creation import ones  # noqa: PLC0415
    full = []
    for x, m in zip(inputs, mask):
        if m is None:
            full.append(ones(*x.shape, device=x.device) > 0)
        else:
            full.append(m.unsqueeze(-1).expand(*x.shape) if m.ndim < x.ndim else m)
    return ops.cat(full, dim=self.axis).any(-1)


def _masked_global_average(original):
    def call(self, inputs, mask=None):
        """The mean over the steps whose ``mask`` is true (all steps without a mask), as Keras."""
        if mask is None:
            return original(self, inputs)
        axis = 1 if self.data_format == "channels_last" else 2
        keep = mask.to(inputs.dtype).unsqueeze(2 if axis == 1 else 1)
        out = (inputs * keep).sum(axis, keepdim=self.keepdims) / keep.sum(axis, keepdim=self.keepdims)
        return out
    return call


def _spread(m, x):
    return None if m is None else m.unsqueeze(-1).expand(*x.shape)


def _masked_multiply(original):
    def call(self, inputs, mask=None):
        """The product with masked entries counting as 1, then 0 where every input is masked (Keras' rule)."""
        if mask is None or all(m is None for m in mask):
            return original(self, inputs)
        from ...ops import where  # noqa: PLC0415
        out, out_mask, all_masked = None, None, all(m is not None for m in mask)
        for x, m in zip(inputs, mask):
            m = _spread(m, x)
            if m is not None:
                x = where(m, x, x * 0 + 1)
                out_mask = m if out_mask is None else out_mask | m
            out = x if out is None else out * x
        return where(out_mask, out, out * 0) if all_masked else out
    return call


def _masked_extremum(original, pick):
    def call(self, inputs, mask=None):
        """The elementwise extremum over the inputs that are not masked there (Keras' rule)."""
        if mask is None or all(m is None for m in mask):
            return original(self, inputs)
        from ...ops import where  # noqa: PLC0415
        out, out_mask = inputs[0], _spread(mask[0], inputs[0])
        for x, m in zip(inputs[1:], mask[1:]):
            m = _spread(m, x)
            if m is not None:
                x = where(m, x, out)
            if out_mask is not None:
                out = where(out_mask, out, x)
            out_mask = out_mask | m if m is not None and out_mask is not None else None
            out = pick(out, x)
        return out
    return call


def _merges_and_pooling():
    from . import convolutional, merging, merging_more  # noqa: PLC0415
    for cls in (merging.Add, merging.Average, merging.Multiply, merging_more.Subtract, merging_more.Maximum,
                merging_more.Minimum):
        cls.compute_mask = _merge_mask
    merging.Concatenate.compute_mask = _concatenate_mask
    from ...ops import maximum, minimum  # noqa: PLC0415
    merging.Multiply.call = _masked_multiply(merging.Multiply.call)
    merging_more.Maximum.call = _masked_extremum(merging_more.Maximum.call, maximum)
    merging_more.Minimum.call = _masked_extremum(merging_more.Minimum.call, minimum)
    pool = convolutional.GlobalAveragePooling1D
    pool.call = _masked_global_average(pool.call)
    pool.supports_masking = True
    pool.compute_mask = lambda self, inputs, mask=None: None      # the pooled output has no steps left


_keep_masks()
_merges_and_pooling()
