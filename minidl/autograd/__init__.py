"""``md.autograd``: the Function mechanism, the backward engine, grad mode and gradcheck."""
from .anomaly import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from .engine import backward, grad
from .function import Context, Function, once_differentiable
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck

__all__ = ["Context", "Function", "GradcheckError", "backward", "enable_grad", "grad", "gradcheck",
           "is_grad_enabled", "no_grad", "once_differentiable", "set_grad_enabled", "detect_anomaly",
           "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]
