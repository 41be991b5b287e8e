"""Keras' optimizers with Keras' defaults, driving ``md.optim`` underneath.

A Keras optimizer is made before the model has weights (``compile(optimizer=Adam(1e-3))``); it creates its
``md.optim`` optimizer when training starts. The update rules are ``md.optim``'s (PyTorch's formulas; Keras places
``epsilon`` slightly differently, which matters only for gradients near zero) with Keras' hyperparameters:
Adam ``epsilon=1e-7``, RMSprop ``rho=0.9``, SGD ``learning_rate=0.01``. ``weight_decay`` is decoupled
(``w -= lr * weight_decay * w``) for every optimizer, as in Keras 3; ``clipnorm``/``clipvalue``/``global_clipnorm``
clip the gradients first. ``learning_rate`` may be a number or a ``schedules.LearningRateSchedule``.

Example:
    >>> model.compile(optimizer=md.keras.optimizers.Adam(learning_rate=1e-3, clipnorm=1.0), loss="mse")
"""
import math

from .. import optim
from ..autograd.grad_mode import no_grad
from ..nn.utils import clip_grad_norm_, clip_grad_value_
from . import constraints
from ._config import construct, from_registry, is_number


class LearningRateSchedule:
    """A learning rate as a function of the step count: ``schedule(step) -> float``."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        return dict(self.__dict__)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored exponent with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        if decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


class CosineDecay(LearningRateSchedule):
    """Cosine from ``initial_learning_rate`` down to ``alpha * initial_learning_rate`` over ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        self.initial_learning_rate, self.decay_steps, self.alpha = initial_learning_rate, decay_steps, alpha

    def __call__(self, step):
        p = min(step, self.decay_steps) / self.decay_steps
        return self.initial_learning_rate * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * p)) + self.alpha)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``step <= boundaries[i]`` (one more value than boundaries)."""

    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise ValueError("The length of boundaries should be 1 less than the length of values")
        self.boundaries, self.values = list(boundaries), list(values)

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]


class schedules:  # noqa: N801 -- Keras' namespace ``optimizers.schedules``
    LearningRateSchedule, ExponentialDecay = LearningRateSchedule, ExponentialDecay
    CosineDecay, PiecewiseConstantDecay = CosineDecay, PiecewiseConstantDecay


# the only schedules a config may name (looked up here, never with getattr on the namespace)
SCHEDULES = {c.__name__: c for c in (ExponentialDecay, CosineDecay, PiecewiseConstantDecay)}


class Optimizer:
    """Base of the Keras optimizers: holds the hyperparameters until ``build(params)`` makes the ``md.optim`` one."""

    _config_root = True     # __init__ rejects unknown keyword arguments itself (see keras._config.init_params)

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if not (is_number(learning_rate) or callable(learning_rate)):
            raise ValueError(f"{type(self).__name__}: learning_rate must be a number or a LearningRateSchedule, got "
                             f"{learning_rate!r}")
        for key, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm)):
            if value is not None and not is_number(value):
                raise ValueError(f"{type(self).__name__}: {key} must be a number or None, got {value!r}")
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set")
        self._lr, self.weight_decay = learning_rate, weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations, self.inner, self._params, self._constrained = 0, None, [], []

    def _make(self, params, lr):
        raise NotImplementedError

    def _current_lr(self):
        return float(self._lr(self.iterations)) if callable(self._lr) else float(self._lr)

    @property
    def learning_rate(self):
        """The current learning rate; assigning a number changes it for the next steps (as callbacks do)."""
        return self._current_lr()

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = value
        if self.inner is not None:
            for group in self.inner.param_groups:
                group["lr"] = self._current_lr()

    lr = learning_rate

    def build(self, params):
        self._params = [p for p in params if p.requires_grad]
        self._constrained = constraints.constrained(self._params)
        # a model with nothing to train (all layers frozen) still fits, as in Keras: the steps change nothing
        self.inner = self._make(self._params, self._current_lr()) if self._params else _Frozen(self._current_lr())

    def zero_grad(self):
        if self.inner is not None:
            self.inner.zero_grad()

    def step(self):
        if self.inner is None:
            raise RuntimeError("The optimizer is not built: compile the model and call fit (or build(params))")
        lr = self._current_lr()
        for group in self.inner.param_groups:
            group["lr"] = lr
        with_grad = [p for p in self._params if p.grad is not None]
        if self.clipvalue is not None:
            clip_grad_value_(with_grad, self.clipvalue)
        elif self.clipnorm is not None:
            for p in with_grad:
                clip_grad_norm_([p], self.clipnorm)
        elif self.global_clipnorm is not None:
            clip_grad_norm_(with_grad, self.global_clipnorm)
        if self.weight_decay:
            with no_grad():
                for p in with_grad:
                    p.mul_(1.0 - lr * self.weight_decay)
        self.inner.step()
        if self._constrained:                   # Keras projects constrained weights after each update
            constraints.apply(self._constrained)
        self.iterations += 1

    def apply(self, grads, trainable_variables=None):
        """Keras 3's update from a custom ``train_step``: ``grads[i]`` (Keras' layout; None: the gradient the
        variable's tensors already hold from ``backward``) is the gradient of ``trainable_variables[i]`` (a
        ``keras.Variable``, or the model's trainable weights when omitted). Builds the optimizer on first use."""
        from .variables import Variable  # noqa: PLC0415
        grads = list(grads)
        variables = list(trainable_variables) if trainable_variables is not None else None
        if variables is None:
            if not self._params:
                raise ValueError("optimizer.apply: give trainable_variables on the first call")
            variables = [None] * len(grads)
        if len(variables) != len(grads):
            raise ValueError(f"optimizer.apply: {len(grads)} gradients for {len(variables)} variables")
        params = []
        for g, v in zip(grads, variables):
            if isinstance(v, Variable):
                params += v._set_grad(g)
            elif g is not None:
                raise TypeError(f"optimizer.apply takes keras.Variables (model.trainable_weights), got "
                                f"{type(v).__name__}")
        if self.inner is None:
            self.build(params)
        self.step()

    def apply_gradients(self, grads_and_vars):
        """``apply`` for ``[(grad, variable), ...]`` (Keras 2's spelling)."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def get_config(self):
        lr = self._lr
        if isinstance(lr, LearningRateSchedule):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm, **self._hyper()}

    def _hyper(self):
        return {}

    @classmethod
    def from_config(cls, config):
        """The optimizer a ``get_config()`` dict describes; a schedule's class comes from ``SCHEDULES`` only, and
        unknown arguments are a ValueError.

        Example:
            >>> md.keras.optimizers.Adam.from_config({"learning_rate": 0.01, "beta_1": 0.8})
        """
        if not isinstance(config, dict):
            raise ValueError(f"optimizer {cls.__name__!r}: the config must be a dict, got {config!r:.80}")
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = from_registry(SCHEDULES, lr, "learning rate schedule")
        return construct(cls, config, f"optimizer {cls.__name__!r}")


class _Frozen:
    """The stand-in ``md.optim`` optimizer of a model without trainable weights."""

    def __init__(self, lr):
        self.param_groups = [{"lr": lr}]

    def step(self):
        pass

    def zero_grad(self):
        pass


class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)``."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov

    def _make(self, params, lr):
        return optim.SGD(params, lr=lr, momentum=self.momentum, nesterov=self.nesterov)

    def _hyper(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _make(self, params, lr):
        return optim.Adam(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon, amsgrad=self.amsgrad)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay, ``AdamW(learning_rate=0.001, weight_decay=0.004, ...)``."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)``."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _make(self, params, lr):
        return optim.RMSprop(params, lr=lr, alpha=self.rho, eps=self.epsilon, momentum=self.momentum,
                             centered=self.centered)

    def _hyper(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """``Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)``."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _make(self, params, lr):
        return optim.Adagrad(params, lr=lr, initial_accumulator_value=self.initial_accumulator_value,
                             eps=self.epsilon)

    def _hyper(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """``Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)`` (the update PyTorch's Adadelta computes)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def _make(self, params, lr):
        return optim.Adadelta(params, lr=lr, rho=self.rho, eps=self.epsilon)

    def _hyper(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """``Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``: Adam with the infinity norm."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _make(self, params, lr):
        return optim.Adamax(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Adamax):
    """``Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``: Adam with Nesterov momentum and
    Keras 3's momentum schedule ``beta_1 * (1 - 0.5 * 0.96 ** t)`` at step t: PyTorch's NAdam rule with
    ``momentum_decay=1`` (PyTorch's default, 4e-3, decays 250 times slower)."""

    def _make(self, params, lr):
        return optim.NAdam(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon, momentum_decay=1.0)


_CLASSES = {c.__name__: c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam)}
_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
            "adamax": Adamax, "nadam": Nadam}


def get(identifier):
    """An Optimizer from a name (``"adam"``), a config dict or an Optimizer."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if not isinstance(name, str) or name not in _CLASSES:
            raise ValueError(f"Could not interpret optimizer identifier: unknown class_name {name!r:.80} (known: "
                             f"{', '.join(_CLASSES)})")
        return _CLASSES[name].from_config(identifier.get("config", {}))
    if isinstance(identifier, optim.Optimizer):
        raise TypeError("compile() takes a Keras optimizer (md.keras.optimizers.Adam(...) or 'adam'), not an "
                        "md.optim optimizer: the Keras one is built once the model has its weights")
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r} (known: {', '.join(_BY_NAME)})")


def serialize(opt):
    return {"class_name": type(opt).__name__, "config": opt.get_config()}
