"""Optimizers (``md.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``) and ``md.optim.lr_scheduler``.

Example:
    >>> opt = md.optim.Adam([w, b], lr=1e-3)
    >>> sched = md.optim.lr_scheduler.StepLR(opt, step_size=10)
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
