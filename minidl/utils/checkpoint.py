"""Activation checkpointing, as ``torch.utils.checkpoint``: run part of a model without keeping its
intermediate tensors, and run it again during backward to get its gradients (memory for compute).

Example:
    >>> from minidl.utils.checkpoint import checkpoint
    >>> out = checkpoint(block, x, use_reentrant=False)     # block's activations are recomputed in backward
"""
from ..autograd.engine import backward as _backward
from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad, no_grad
from ..random import get_rng_state, set_rng_state
from ..tensor import Tensor


class _Checkpoint(Function):
    @staticmethod
    def forward(ctx, fn, preserve_rng_state, kwargs, *args):
        ctx.fn, ctx.kwargs = fn, kwargs
        ctx.rng = get_rng_state() if preserve_rng_state else None
        ctx.inputs = args
        with no_grad():
            out = fn(*args, **kwargs)
        single = isinstance(out, Tensor)
        outs = (out,) if single else tuple(out)
        if not all(isinstance(o, Tensor) for o in outs):
            raise TypeError("checkpoint: the function must return a Tensor or a tuple of Tensors")
        ctx.single = single
        return outs[0].detach() if single else tuple(o.detach() for o in outs)

    @staticmethod
    def backward(ctx, *grads):
        args = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a for a in ctx.inputs]
        if ctx.rng is not None:
            saved = get_rng_state()
            set_rng_state(ctx.rng)          # dropout draws the same masks as in the forward
        try:
            with enable_grad():
                out = ctx.fn(*args, **ctx.kwargs)
        finally:
            if ctx.rng is not None:
                set_rng_state(saved)
        outs = (out,) if isinstance(out, Tensor) else tuple(out)
        pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad and g is not None]
        if pairs:
            # accumulates into the parameters the function used, and into the detached inputs
            _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None, None) + tuple(a.grad if isinstance(a, Tensor) and a.requires_grad else None
                                          for a in args)


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, context_fn=None, determinism_check=None,
               debug=None, **kwargs):
    """``function(*args, **kwargs)`` whose intermediate tensors are not kept; backward runs it again.

    The random state is restored for the second run (``preserve_rng_state``), so dropout masks agree.
    ``use_reentrant`` is accepted either way (PyTorch asks for it to be given); ``context_fn`` is not supported.
    """
    if context_fn is not None:
        raise NotImplementedError("checkpoint: context_fn= is not supported")
    if not callable(function):
        raise TypeError(f"checkpoint: expected a callable, got {type(function).__name__}")
    return _Checkpoint.apply(function, preserve_rng_state, kwargs, *args)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):  # noqa: A002
    """Run ``functions`` (a Sequential or list of modules) in ``segments`` checkpointed pieces (the last one
    normally, as PyTorch)."""
    fns = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if segments < 1 or segments > len(fns):
        raise ValueError(f"checkpoint_sequential: segments must be in [1, {len(fns)}], got {segments}")
    size = len(fns) // segments

    def run(start, end):
        def forward(x):
            for f in fns[start:end]:
                x = f(x)
            return x
        return forward
    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, **kwargs)  # noqa: A001
    return run(end, len(fns))(input)


__all__ = ["checkpoint", "checkpoint_sequential"]
