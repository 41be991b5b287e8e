"""Helpers shared by the nn tests: run a minidl module and the equivalent PyTorch module on the same weights."""
import numpy as np

import minidl as md

# (dtype, rtol, atol): float64 agrees to rounding, float32 to its precision
PRECISIONS = ((np.float64, 1e-7, 1e-9), (np.float32, 1e-4, 1e-5))


def load_from_torch(mm, tm):
    """Copy PyTorch's weights into the minidl module the way a user would: a state dict of NumPy arrays."""
    mm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def close(got, want, rtol, atol, label):
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    got = got.numpy() if isinstance(got, md.Tensor) else np.asarray(got)
    assert got.shape == want.shape, f"{label}: shape {got.shape}, torch gives {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=label)


def compare_module(torch, mm, tm, x, dtype=np.float64, rtol=1e-7, atol=1e-9, train=True, seed=0, input_grad=True):
    """Load tm's weights into mm, run both on ``x`` in the same mode, back-propagate the same random upstream
    gradient, and compare output, input gradient, parameter gradients and buffers (by name)."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        x = x.astype(dtype)
    tdt = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    tm.to(tdt)
    mm.to(md.float64 if dtype == np.float64 else md.float32)
    load_from_torch(mm, tm)
    mm.train(train)
    tm.train(train)
    grad_in = input_grad and x.dtype.kind == "f"
    xm, xt = md.tensor(x, requires_grad=grad_in), torch.tensor(x, requires_grad=grad_in)
    ym, yt = mm(xm), tm(xt)
    close(ym, yt, rtol, atol, f"{type(tm).__name__} output")
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape)).astype(dtype)
    (ym * md.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    if grad_in:
        close(xm.grad, xt.grad, rtol, atol, f"{type(tm).__name__} input grad")
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in mm.named_parameters()] == list(tparams)
    for n, p in mm.named_parameters():
        if tparams[n].grad is None:
            assert p.grad is None or not np.any(p.grad.numpy()), n
        else:
            close(p.grad, tparams[n].grad, rtol, atol, f"{type(tm).__name__} grad of {n}")
    tbufs = dict(tm.named_buffers())
    for n, b in mm.named_buffers():
        close(b, tbufs[n], rtol, atol, f"{type(tm).__name__} buffer {n}")
    return ym, yt
