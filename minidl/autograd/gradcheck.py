"""Finite-difference gradient checking in float64."""
import numpy as np

from ..device import move
from .engine import grad as autograd_grad


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytical and numerical gradients disagree."""


def _outputs(fn, inputs):
    from ..tensor import Tensor  # noqa: PLC0415

    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=False, seed=0):
    """Check ``fn``'s autograd gradients against central finite differences.

    Every floating input that requires grad must be float64 (float32 differences are too
    noisy to judge). ``fast_mode`` compares random projections ``u^T J v`` instead of the
    whole Jacobian (one backward and two forwards per input pair), for big kernels. Also
    checks that a zero upstream gradient gives zero input gradients.

    Returns True, or raises ``GradcheckError`` naming the output, the input, the worst
    element and both values.

    Example:
        >>> x = md.randn(3, 4, dtype=md.float64, requires_grad=True)
        >>> md.autograd.gradcheck(lambda t: (t.tanh() * t).sum(dim=1), (x,))
        True
    """
    from ..tensor import Tensor  # noqa: PLC0415

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    # materialize private copies: perturbing a broadcast or shared view would perturb many elements
    inputs = tuple(Tensor._wrap(t._xp.array(t.array, copy=True, order="C")).requires_grad_(t.requires_grad)
                   if isinstance(t, Tensor) else t for t in inputs)
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    for i in wrt:
        if inputs[i].dtype.np != np.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype.name}; use float64 inputs "
                             "(finite differences in lower precision give false failures)")
    outs = _outputs(fn, inputs)
    rng = np.random.default_rng(seed)
    for j, out in enumerate(outs):
        if not out.requires_grad:
            raise GradcheckError(f"gradcheck: output {j} of shape {out.shape} does not require grad")
        # zero upstream gradient must give zero input gradients
        zero = autograd_grad(out, [inputs[i] for i in wrt], Tensor._wrap(out._xp.zeros(out.shape)), retain_graph=True,
                             allow_unused=True)
        for i, g in zip(wrt, zero):
            if g is not None and bool((g.array != 0).any()):
                raise GradcheckError(f"gradcheck: output {j}: a zero grad_output gave a nonzero gradient for "
                                     f"input {i} of shape {inputs[i].shape}")
        if out.numel() == 0:
            continue
        if fast_mode:
            _check_projection(fn, inputs, wrt, j, out, rng, eps, atol, rtol)
        else:
            _check_full(fn, inputs, wrt, j, out, eps, atol, rtol)
    return True


def _host(a):
    """Jacobians are assembled on the host, whatever device the function runs on."""
    return a if type(a) is np.ndarray else move(a, "cpu")


def _numeric_column(fn, inputs, x, flat_idx, j, eps):
    # NOTE: fn runs with grad mode on: it may itself call autograd.grad (double-backward checks)
    flat = x.array.reshape(-1)
    old = flat[flat_idx]
    flat[flat_idx] = old + eps
    hi = _outputs(fn, inputs)[j].array.astype(np.float64)
    flat[flat_idx] = old - eps
    lo = _outputs(fn, inputs)[j].array.astype(np.float64)
    flat[flat_idx] = old
    return _host(((hi - lo) / (2 * eps)).reshape(-1))


def _check_full(fn, inputs, wrt, j, out, eps, atol, rtol):
    from ..tensor import Tensor  # noqa: PLC0415

    n_out = out.numel()
    analytic = {i: np.zeros((n_out, inputs[i].numel())) for i in wrt}
    for k in range(n_out):
        onehot = np.zeros(n_out)
        onehot[k] = 1.0
        gs = autograd_grad(out, [inputs[i] for i in wrt], Tensor._wrap(move(onehot.reshape(out.shape), out.device)),
                           retain_graph=True, allow_unused=True)
        for i, g in zip(wrt, gs):
            if g is not None:
                analytic[i][k] = _host(g.array.reshape(-1))
    for i in wrt:
        x = inputs[i]
        numeric = np.zeros_like(analytic[i])
        for e in range(x.numel()):
            numeric[:, e] = _numeric_column(fn, inputs, x, e, j, eps)
        _compare(numeric, analytic[i], i, j, x.shape, out.shape, atol, rtol)


def _check_projection(fn, inputs, wrt, j, out, rng, eps, atol, rtol):
    from ..tensor import Tensor  # noqa: PLC0415

    u = rng.standard_normal(out.shape)
    gs = autograd_grad(out, [inputs[i] for i in wrt], Tensor._wrap(move(u, out.device)), retain_graph=True,
                       allow_unused=True)
    for i, g in zip(wrt, gs):
        x = inputs[i]
        v = rng.standard_normal(x.shape)
        analytic = 0.0 if g is None else float(np.sum(_host(g.array) * v))
        v_dev = move(v, x.device)
        base = x.array.copy()
        x.array[...] = base + eps * v_dev
        hi = _outputs(fn, inputs)[j].array
        x.array[...] = base - eps * v_dev
        lo = _outputs(fn, inputs)[j].array
        x.array[...] = base
        numeric = float(np.sum(_host((hi - lo) / (2 * eps)) * u))
        if not abs(numeric - analytic) <= atol + rtol * abs(numeric):
            raise GradcheckError(f"gradcheck: output {j} (shape {out.shape}) w.r.t. input {i} (shape {x.shape}): "
                                 f"random projection u^T J v differs: numerical {numeric:.8g} vs analytical "
                                 f"{analytic:.8g}")


def _compare(numeric, analytic, i, j, in_shape, out_shape, atol, rtol):
    bad = np.abs(numeric - analytic) - (atol + rtol * np.abs(numeric))
    if not np.all(bad <= 0) or not np.all(np.isfinite(analytic) == np.isfinite(numeric)):
        bad = np.where(np.isnan(bad), np.inf, bad)
        k, e = np.unravel_index(np.argmax(bad), bad.shape)
        out_idx = np.unravel_index(k, out_shape) if out_shape else ()
        in_idx = np.unravel_index(e, in_shape) if in_shape else ()
        raise GradcheckError(
            f"gradcheck: Jacobian mismatch for output {j} (shape {out_shape}) w.r.t. input {i} (shape {in_shape}); "
            f"worst element: d out{tuple(int(v) for v in out_idx)} / d in{tuple(int(v) for v in in_idx)}: "
            f"numerical {numeric[k, e]:.8g} vs analytical {analytic[k, e]:.8g} "
            f"(tolerance atol={atol} + rtol={rtol} * |numerical|)")
