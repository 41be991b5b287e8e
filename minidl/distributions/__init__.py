"""PyTorch's ``torch.distributions``: probability distributions to sample from and score, with reparameterized
samples where they exist and closed-form KL divergences; what policy-gradient methods (Categorical: ``sample``,
``log_prob``, ``entropy``) and VAEs (Normal: ``rsample``, ``log_prob``, ``kl_divergence``) use.

Samples come from minidl's generator, so ``md.manual_seed`` repeats them.

Example:
    >>> from minidl.distributions import Categorical
    >>> m = Categorical(logits=md.zeros(3))
    >>> action = m.sample(); loss = -m.log_prob(action) * 1.0
"""
from . import constraints, kl
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .exponential import Exponential
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .log_normal import LogNormal
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Exponential", "Independent", "Laplace", "LogNormal",
           "MultivariateNormal", "Normal", "OneHotCategorical", "Uniform", "constraints", "kl", "kl_divergence",
           "register_kl"]

# a torch.distributions name minidl lacks (Beta, Dirichlet...): an AttributeError naming it
from .._missing import module_getattr  # noqa: E402

__getattr__ = module_getattr("minidl.distributions", "torch.distributions")
del module_getattr
