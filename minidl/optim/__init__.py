"""Optimizers (``md.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``, ``NAdam``,
``RAdam``, ``ASGD``, ``LBFGS``) and ``md.optim.lr_scheduler``.

Example:
    >>> opt = md.optim.Adam([w, b], lr=1e-3)
    >>> sched = md.optim.lr_scheduler.StepLR(opt, step_size=10)
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .asgd import ASGD
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["ASGD", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "lr_scheduler"]
