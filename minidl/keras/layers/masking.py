"""``Masking``: mark the time steps whose features all equal ``mask_value`` as padding, and which of md.keras'
layers keep a mask on their output (``supports_masking``), as Keras."""
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


_keep_masks()
