"""``md.nn.utils``: gradient clipping, regularization penalties, and ``md.nn.utils.rnn`` (padded and packed sequences).

Example:
    >>> md.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
"""
from . import clip_grad, convert_parameters, rnn, weight_norm as _weight_norm_module
from .clip_grad import (clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm,
                        l1_penalty, l2_penalty)
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .weight_norm import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm

__all__ = ["clip_grad", "clip_grad_norm_", "clip_grad_value_", "l1_penalty", "l2_penalty", "rnn", "get_total_norm",
           "clip_grads_with_norm_", "clip_grad_norm", "convert_parameters", "parameters_to_vector",
           "vector_to_parameters", "weight_norm", "remove_weight_norm", "spectral_norm", "remove_spectral_norm"]
del _weight_norm_module
