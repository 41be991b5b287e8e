"""L-BFGS: a quasi-Newton method that re-evaluates the model through a closure, with an optional
strong-Wolfe line search. The algorithm and its stopping rules follow PyTorch's ``torch.optim.LBFGS``
(itself modelled on minFunc), so runs match it iteration for iteration.

Scalars that come from dot products stay NumPy scalars of the parameters' dtype, as PyTorch keeps them
0-d tensors, so float32 runs round as PyTorch's do.
"""
import numpy as np

from ..autograd.grad_mode import enable_grad
from ..device import array_module
from ..tensor import Tensor
from .optimizer import Optimizer, _check

_HISTORY_KEYS = ("old_dirs", "old_stps", "ro", "al")


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through two points with values ``f`` and slopes ``g``, clamped to ``bounds``
    (default: between the points); the middle of the bounds when the cubic has no real minimizer."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 ** 2 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = disc ** 0.5
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Search along ``d`` for a step ``t`` meeting the strong Wolfe conditions: first bracket an interval
    holding one (growing ``t`` by cubic extrapolation), then shrink it by safeguarded cubic interpolation
    (zoom). ``evaluate(t)`` returns the loss and flat gradient at ``x + t * d``.

    Returns ``(loss, flat_grad, t, evaluations)``.
    """
    xp = array_module(d)
    d_norm = xp.abs(d).max()
    g = g.copy()
    f_new, g_new = evaluate(t)
    evals, ls_iter = 1, 0
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    bracket = None
    while ls_iter < max_ls:
        # the sufficient-decrease test fails, or the loss rose: a minimum lies between t_prev and t
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new.copy(), gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:              # the curvature condition holds too: done
            bracket, done = [[t, f_new, g_new, gtd_new]], True
            break
        if gtd_new >= 0:                            # the slope turned: a minimum lies behind t
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new.copy(), gtd_new]]
            break
        # still descending: extrapolate, between 1.01x and 10x the step
        step = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = step
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:                           # out of evaluations: bracket from the start point
        bracket = [[0, f, g, None], [t, f_new, g_new, None]]

    # zoom: each bracket entry is [t, loss, flat grad, directional derivative]
    insufficient = False
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while not done and ls_iter < max_ls:
        ts = (bracket[0][0], bracket[1][0])
        if abs(ts[1] - ts[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0][0], bracket[0][1], bracket[0][3], bracket[1][0], bracket[1][1], bracket[1][3])
        # keep t at least 10% of the interval away from its ends, unless the last step made enough progress
        lo, hi = min(ts), max(ts)
        margin = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < margin:
            if insufficient or t >= hi or t <= lo:
                t = hi - margin if abs(t - hi) < abs(t - lo) else lo + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = [t, f_new, g_new.copy(), gtd_new]
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = list(bracket[low])     # the old low end becomes the high end
            bracket[low] = [t, f_new, g_new.copy(), gtd_new]
    t, f_new, g_new = bracket[low][0], bracket[low][1], bracket[low][2]
    return f_new, g_new, t, evals


class LBFGS(Optimizer):
    """L-BFGS with PyTorch's semantics: ``step(closure)`` runs up to ``max_iter`` iterations, each calling
    ``closure()`` (which must zero the gradients, recompute the loss, call ``backward()`` and return the loss).

    The search direction is the two-loop recursion over the last ``history_size`` curvature pairs; the step is
    ``lr`` (the first iteration ever: ``min(1, 1 / sum|g|) * lr``), or what a strong-Wolfe line search finds.
    An iteration stops the step when the gradient's largest entry is ``<= tolerance_grad``, when the step or the
    loss changes by less than ``tolerance_change``, or after ``max_eval`` closure calls. The history persists
    across ``step`` calls. Only one parameter group is supported.

    Args:
        params: Tensors (one group).
        lr: learning rate (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: first-order optimality tolerance (default 1e-7).
        tolerance_change: tolerance on loss and parameter changes (default 1e-9).
        history_size: curvature pairs kept (default 100).
        line_search_fn: ``None`` or ``"strong_wolfe"``.

    Returns (``step``): the loss of the first ``closure()`` call, as PyTorch.

    Example:
        >>> opt = md.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = loss_fn(model(x), y)
        ...     loss.backward()
        ...     return loss
        >>> loss = opt.step(closure)
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(int(g["max_iter"]) == g["max_iter"] and g["max_iter"] >= 1,
               f"LBFGS: max_iter must be a positive integer, got {g['max_iter']}")
        _check(g["max_eval"] >= 1, f"LBFGS: max_eval must be positive, got {g['max_eval']}")
        _check(int(g["history_size"]) == g["history_size"] and g["history_size"] >= 1,
               f"LBFGS: history_size must be a positive integer, got {g['history_size']}")
        _check(g["line_search_fn"] in (None, "strong_wolfe"),
               f"LBFGS: line_search_fn must be None or 'strong_wolfe' (the only line search supported), got "
               f"{g['line_search_fn']!r}")
        if len(self.param_groups) >= 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    # --- flat views of the parameters and gradients -----------------------------------------------------
    def _flat_grad(self):
        xp = array_module(self._params[0].array)
        parts = [p.grad.array.reshape(-1) if p.grad is not None else xp.zeros(p.array.size, dtype=p.array.dtype)
                 for p in self._params]
        return xp.concatenate(parts)

    def _add_step(self, t, direction):
        """``p += t * direction`` for each parameter's slice of the flat ``direction``."""
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array += t * direction[offset:offset + n].reshape(p.array.shape)
            p._version += 1
            offset += n

    def _set_params(self, saved):
        for p, a in zip(self._params, saved):
            p.array[...] = a
            p._version += 1

    def _evaluate_at(self, closure, saved, t, d):
        """Loss and flat gradient at ``saved + t * d``; the parameters are restored to ``saved`` afterwards."""
        self._add_step(t, d)
        loss = float(closure())
        grad = self._flat_grad()
        self._set_params(saved)
        return loss, grad

    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss of the first ``closure()`` call.

        Example:
            >>> loss = opt.step(closure)
        """
        if closure is None:
            raise TypeError("LBFGS.step() requires a closure: a function that zeroes the gradients, recomputes "
                            "the loss, calls loss.backward() and returns the loss")
        closure = enable_grad()(closure)
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        first_loss = closure()
        loss = float(first_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        xp = array_module(flat_grad)
        if xp.abs(flat_grad).max() <= tol_grad:     # already optimal
            return first_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:                 # steepest descent, empty history
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:                       # keep the pair only when the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)
                d = self._two_loop(state, -flat_grad, old_dirs, old_stps, ro, h_diag, history_size)
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            t = min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tol_change:                    # not a descent direction
                break

            ls_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                saved = [p.array.copy() for p in self._params]
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    lambda step, saved=saved, d=d: self._evaluate_at(closure, saved, step, d),
                    t, d, loss, flat_grad, gtd, max_ls=max_eval - evals)
                self._add_step(t, d)
                optimal = xp.abs(flat_grad).max() <= tol_grad
            else:
                self._add_step(t, d)
                optimal = False
                if n_iter != max_iter:               # the last iteration's loss is left for the next step
                    loss = float(closure())
                    flat_grad = self._flat_grad()
                    optimal = xp.abs(flat_grad).max() <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if (n_iter == max_iter or evals >= max_eval or optimal
                    or xp.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change):
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return first_loss

    @staticmethod
    def _two_loop(state, q, old_dirs, old_stps, ro, h_diag, history_size):
        """The L-BFGS two-loop recursion: the inverse-Hessian estimate applied to ``q`` (the negated gradient)."""
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = old_stps[i].dot(q) * ro[i]
            q += -al[i] * old_dirs[i]
        r = q * h_diag
        for i in range(len(old_dirs)):
            be_i = old_dirs[i].dot(r) * ro[i]
            r += (al[i] - be_i) * old_stps[i]
        return r

    # --- state dicts: the history lists are copied (and loaded) element by element -------------------
    def state_dict(self):
        """As :meth:`Optimizer.state_dict`, with the history lists copied into lists of Tensors.

        Example:
            >>> sd = opt.state_dict(); opt2.load_state_dict(sd)
        """
        sd = super().state_dict()
        for idx, entry in sd["state"].items():
            src = self.state[self._params[int(idx)]]
            for key in _HISTORY_KEYS:
                if key in src:
                    entry[key] = [Tensor._wrap(np.array(v, copy=True)) if v is not None else None for v in src[key]]
        return sd

    def _load_value(self, key, value, p):
        if key in _HISTORY_KEYS:
            return [None if v is None else self._load_value("_", v, p) for v in value]
        if isinstance(value, Tensor):
            value = value.array
        if hasattr(value, "shape") and len(value.shape) == 0:   # 0-d: a scalar of the parameters' dtype
            return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=p.array.dtype)[()]
        return super()._load_value(key, value, p)
