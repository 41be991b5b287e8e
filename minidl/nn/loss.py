"""Loss modules over ``md.nn.functional``'s losses; ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``.

Class weights and ``pos_weight`` are registered as buffers, as PyTorch does (so they follow ``to()`` and appear
in ``state_dict()``). The deprecated ``size_average``/``reduce`` arguments are honoured the way PyTorch maps them.
"""
from . import functional as F
from .module import Module


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "mean" if size_average and reduce else "sum" if reduce else "none"


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction


class L1Loss(_Loss):
    """Mean (or sum) absolute error.

    Example:
        >>> md.nn.L1Loss()(md.tensor([1.0, 2.0]), md.tensor([0.0, 0.0])).item()
        1.5
    """

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum) squared error.

    Example:
        >>> md.nn.MSELoss()(md.tensor([1.0, 2.0]), md.tensor([0.0, 0.0])).item()
        2.5
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices given log-probabilities (N, C) or (N, C, d...).

    Example:
        >>> md.nn.NLLLoss()(md.nn.functional.log_softmax(md.zeros(2, 4), 1), md.tensor([0, 3]))  # log(4)
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits against class indices or class probabilities, with ``label_smoothing``.

    Example:
        >>> md.nn.CrossEntropyLoss()(md.zeros(2, 4), md.tensor([1, 3])).item()   # log(4) = 1.386...
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100, as PyTorch).

    Example:
        >>> md.nn.BCELoss()(md.tensor([0.5]), md.tensor([1.0])).item()   # log(2)
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (a sigmoid folded in, computed stably), with optional ``pos_weight``.

    Example:
        >>> md.nn.BCEWithLogitsLoss()(md.zeros(3), md.ones(3)).item()   # log(2)
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


# --- issue 14 --------------------------------------------------------------------------------------------------
class SmoothL1Loss(_Loss):
    """Quadratic for ``|input - target| < beta``, linear beyond (``beta=0``: L1).

    Example:
        >>> md.nn.SmoothL1Loss()(md.tensor([0.5, 3.0]), md.zeros(2)).item()
        1.3125
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5 d^2`` for ``|d| < delta``, ``delta (|d| - 0.5 delta)`` beyond (``d = input - target``).

    Example:
        >>> md.nn.HuberLoss(delta=2.0)(md.tensor([0.5, 3.0]), md.zeros(2)).item()
        2.0625
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(Module):
    """KL divergence of ``target`` (probabilities, or log-probabilities with ``log_target``) from the
    log-probabilities ``input``; ``reduction`` may also be ``"batchmean"`` (sum over batch size).

    Example:
        >>> p = md.tensor([[0.25, 0.75]])
        >>> md.nn.KLDivLoss(reduction="batchmean")(p.log(), p).item()
        0.0
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if reduction not in ("mean", "sum", "none", "batchmean"):
            raise ValueError(f"KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}")
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
