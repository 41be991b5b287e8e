"""``md.amp``: PyTorch's mixed-precision helpers. ``GradScaler`` is complete (loss scaling, unscaling, skipped
steps on inf/NaN, growth and backoff); ``autocast`` runs its block unchanged when disabled, and refuses to enable
mixed precision, which minidl's kernels do not offer.

Example:
    >>> scaler = md.amp.GradScaler(enabled=False)
    >>> with md.autocast(device_type="cpu", enabled=False):
    ...     loss = model(x).sum()
    >>> scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
"""
import math

from .autograd.grad_mode import no_grad
from .tensor import Tensor


class autocast:  # noqa: N801 -- PyTorch's name
    """Context manager and decorator; ``enabled=False`` (how programs switch mixed precision off on a CPU or
    without a GPU) runs the block as it is. ``enabled=True`` raises NotImplementedError: minidl computes in the
    tensors' own dtypes."""

    def __init__(self, device_type="cuda", dtype=None, enabled=True, cache_enabled=None):
        if enabled:
            raise NotImplementedError(f"autocast: mixed precision (device_type={device_type!r}) is not supported by "
                                      "minidl; pass enabled=False, or convert the model with .half()/.double()")
        self.device_type, self.dtype, self.enabled = device_type, dtype, enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, fn):
        def wrapped(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapped


def is_autocast_available(device_type):
    """False: minidl has no autocast."""
    return False


class GradScaler:
    """Scale the loss so small float16 gradients do not underflow, then unscale before the step; a step whose
    gradients hold inf or NaN is skipped and the scale backs off; after ``growth_interval`` good steps it grows.
    With ``enabled=False`` every method passes through (``scale`` returns the loss, ``step`` steps).

    Example:
        >>> scaler = md.amp.GradScaler()
        >>> scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
    """

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        if growth_factor <= 1.0 or not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1 and backoff_factor in (0, 1), got "
                             f"{growth_factor} and {backoff_factor}")
        self.device, self._enabled = device, enabled
        self._scale, self._growth_factor, self._backoff_factor = float(init_scale), growth_factor, backoff_factor
        self._growth_interval, self._growth_tracker = growth_interval, 0
        self._per_optimizer = {}

    def is_enabled(self):
        return self._enabled

    def get_scale(self):
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """``outputs`` (a tensor or nested lists/tuples of them) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: expected tensors, got {type(outputs).__name__}")

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale in place (once per step) and note whether any is inf/NaN."""
        if not self._enabled:
            return
        state = self._per_optimizer.setdefault(id(optimizer), {})
        if state.get("unscaled"):
            raise RuntimeError("GradScaler.unscale_: already called on this optimizer since the last update()")
        inv, found = 1.0 / self._scale, False
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.array
                    g *= g.dtype.type(inv)
                    if not bool(p.grad._xp.isfinite(g).all()):
                        found = True
        state.update(unscaled=True, found_inf=found)

    def step(self, optimizer, *args, **kwargs):
        """Unscale (if not done yet) and step, unless a gradient was inf/NaN; returns the step's result or None."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        state = self._per_optimizer.setdefault(id(optimizer), {})
        if not state.get("unscaled"):
            self.unscale_(optimizer)
        state["stepped"] = True
        if state["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        """Back off after a skipped step, grow after ``growth_interval`` good ones (or set ``new_scale``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        elif self._per_optimizer:
            if any(s.get("found_inf") for s in self._per_optimizer.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
                    if math.isinf(self._scale):
                        self._scale = float("inf")
        self._per_optimizer = {}

    def state_dict(self):
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker} \
            if self._enabled else {}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("GradScaler.load_state_dict: the state dict is empty (saved from a disabled scaler)")
        self._scale, self._growth_factor = float(state_dict["scale"]), state_dict["growth_factor"]
        self._backoff_factor, self._growth_interval = state_dict["backoff_factor"], state_dict["growth_interval"]
        self._growth_tracker = state_dict["_growth_tracker"]


__all__ = ["autocast", "GradScaler", "is_autocast_available"]
