"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm`` and ``InstanceNorm2d``."""
import warnings

from .. import dtypes
from ..creation import ones, tensor, zeros
from . import functional as F
from . import init
from .module import Module
from .parameter import empty_parameter


def _running_stats(module, n, track, device, dtype):
    """Register the running-statistics buffers (mean 0, variance 1, batch count 0), or None for each when not
    tracking, under PyTorch's names."""
    if track:
        module.register_buffer("running_mean", zeros(n, device=device, dtype=dtype))
        module.register_buffer("running_var", ones(n, device=device, dtype=dtype))
        module.register_buffer("num_batches_tracked", tensor(0, dtype=dtypes.int64, device=device))
    else:
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            module.register_buffer(name, None)


class _BatchNorm(Module):
    _dims = ()      # accepted input ranks
    _layout = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = empty_parameter(num_features, device=device, dtype=dtype)
            self.bias = empty_parameter(num_features, device=device, dtype=dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        _running_stats(self, num_features, track_running_stats, device, dtype)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self._dims:
            raise ValueError(f"{name}: expected a {' or '.join(f'{d}-D' for d in self._dims)} input "
                             f"{self._layout}, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): input of shape {x.shape} has {x.shape[1]} channels in "
                             f"dim 1, expected {self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:       # cumulative moving average over all batches so far
                factor = 1.0 / float(self.num_batches_tracked.item())
        # batch statistics in training, or whenever there are no running statistics to use
        use_batch = self.training or self.running_mean is None
        update = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if update else None, self.running_var if update else None,
                            self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L), per channel C, with running statistics as PyTorch.

    ``momentum=None`` makes the running statistics a cumulative average over all batches seen.

    Example:
        >>> bn = md.nn.BatchNorm1d(4)
        >>> bn(md.randn(8, 4)).shape, bn.num_batches_tracked.item()
        ((8, 4), 1)
    """

    _dims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W), per channel C, with running statistics as PyTorch.

    Example:
        >>> md.nn.BatchNorm2d(3)(md.randn(2, 3, 4, 4)).shape
        (2, 3, 4, 4)
    """

    _dims = (4,)
    _layout = "(N, C, H, W)"


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` dims (biased variance), then an elementwise affine map.

    Example:
        >>> md.nn.LayerNorm(8)(md.randn(2, 5, 8)).shape
        (2, 5, 8)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine, self._bias_flag = eps, elementwise_affine, bias
        if elementwise_affine:
            self.weight = empty_parameter(*self.normalized_shape, device=device, dtype=dtype)
            if bias:
                self.bias = empty_parameter(*self.normalized_shape, device=device, dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape or x.ndim < k:
            raise ValueError(f"LayerNorm({self.normalized_shape}): input of shape {x.shape} must end in "
                             f"{self.normalized_shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self._bias_flag}")


# --- issue 14 --------------------------------------------------------------------------------------------------
def _affine_parameters(module, n, affine, bias, device, dtype):
    """Register ``weight`` and ``bias`` of ``n`` entries (None where not ``affine``/``bias``)."""
    module.register_parameter("weight", empty_parameter(n, device=device, dtype=dtype) if affine else None)
    module.register_parameter("bias", empty_parameter(n, device=device, dtype=dtype) if affine and bias else None)


class GroupNorm(Module):
    """Normalize (N, C, *) over groups of ``num_channels // num_groups`` channels (and the spatial dims), then a
    per-channel affine map (``weight`` 1, ``bias`` 0 initially).

    Example:
        >>> md.nn.GroupNorm(2, 6)(md.randn(4, 6, 5, 5)).shape
        (4, 6, 5, 5)
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if not isinstance(num_groups, int) or num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups!r} must divide num_channels={num_channels}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _affine_parameters(self, num_channels, affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input (N, "
                             f"{self.num_channels}, *), got shape {x.shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    """Normalize each (sample, channel) over the ``_spatial`` trailing dims; see InstanceNorm1d/2d."""

    _spatial = 0
    _layouts = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_parameters(self, num_features, affine, bias, device, dtype)
        _running_stats(self, num_features, track_running_stats, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        name, k = type(self).__name__, self._spatial
        if x.ndim not in (k + 1, k + 2):
            raise ValueError(f"{name}: expected a {self._layouts} input, got shape {x.shape}")
        c = x.shape[-k - 1]
        if c != self.num_features:
            message = (f"{name}({self.num_features}): input of shape {x.shape} has {c} channels, expected "
                       f"{self.num_features}")
            if self.affine:
                raise ValueError(message)
            warnings.warn(message + " (num_features is unused without affine=True)", stacklevel=2)
        batched = x.unsqueeze(0) if x.ndim == k + 1 else x
        # NOTE: as PyTorch's, num_batches_tracked is never advanced and momentum=None freezes the running stats
        factor = 0.0 if self.momentum is None else self.momentum
        use_input_stats = self.training or not self.track_running_stats
        y = F.instance_norm(batched, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                            factor, self.eps)
        return y.squeeze(0) if x.ndim == k + 1 else y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Normalize each (sample, channel) of (N, C, L) or (C, L) over L. ``affine`` adds a learnable per-channel
    map; ``track_running_stats`` keeps running statistics (used in eval), as PyTorch.

    Example:
        >>> md.nn.InstanceNorm1d(3)(md.randn(2, 3, 8)).shape
        (2, 3, 8)
    """

    _spatial, _layouts = 1, "2-D (C, L) or 3-D (N, C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Normalize each (sample, channel) of (N, C, H, W) or (C, H, W) over H and W. ``affine`` adds a learnable
    per-channel map; ``track_running_stats`` keeps running statistics (used in eval), as PyTorch.

    Example:
        >>> md.nn.InstanceNorm2d(3)(md.randn(2, 3, 8, 8)).shape
        (2, 3, 8, 8)
    """

    _spatial, _layouts = 2, "3-D (C, H, W) or 4-D (N, C, H, W)"
