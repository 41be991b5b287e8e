"""``md.nn.utils``: gradient clipping, regularization penalties, and ``md.nn.utils.rnn`` (padded and packed sequences).

Example:
    >>> md.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
"""
from . import clip_grad, rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_, l1_penalty, l2_penalty

__all__ = ["clip_grad", "clip_grad_norm_", "clip_grad_value_", "l1_penalty", "l2_penalty", "rnn"]
