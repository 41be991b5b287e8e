"""A whole MNIST-CNN training step in minidl and in PyTorch: forward, loss, backward, Adam update.

The network (batch 64, 1x28x28 input): conv 1->32 k3 p1, relu, maxpool 2, conv 32->64 k3 p1, relu,
maxpool 2, flatten, linear 3136->128, relu, linear 128->10, cross-entropy. Both sides start from the
same weights and see the same batch, so they do identical arithmetic; minidl runs with automatic
dispatch (each kernel on the first usable provider), which is what a user gets; the update is
``md.optim.Adam`` against ``torch.optim.Adam``.
"""
import numpy as np

from .kernels import Result, import_torch, measure, minidl_threads, torch_threads

LAYERS = ("conv1.weight", (32, 1, 3, 3)), ("conv1.bias", (32,)), ("conv2.weight", (64, 32, 3, 3)), \
    ("conv2.bias", (64,)), ("fc1.weight", (128, 3136)), ("fc1.bias", (128,)), ("fc2.weight", (10, 128)), \
    ("fc2.bias", (10,))
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
SHAPE = "mnist_cnn batch 64"


def init_weights(dtype="float32", seed=0):
    """PyTorch-style uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights as NumPy arrays, by parameter name.

    Example:
        >>> init_weights()["conv1.weight"].shape
        (32, 1, 3, 3)
    """
    rng = np.random.default_rng(seed)
    out, fan_in = {}, 1
    for name, shape in LAYERS:
        if name.endswith("weight"):
            fan_in = int(np.prod(shape[1:]))
        bound = 1 / np.sqrt(fan_in)
        out[name] = rng.uniform(-bound, bound, shape).astype(dtype)
    return out


def batch(n=64, dtype="float32", seed=1):
    """A random MNIST-shaped batch: images (n, 1, 28, 28) and int64 labels in 0..9."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)).astype(dtype), rng.integers(0, 10, n).astype(np.int64)


def _forward_minidl(md, p, x, y):
    F = md.nn.functional
    h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)), 2)
    h = F.relu(F.linear(h.flatten(1), p["fc1.weight"], p["fc1.bias"]))
    return F.cross_entropy(F.linear(h, p["fc2.weight"], p["fc2.bias"]), y)


def minidl_step(dtype="float32", device="cpu"):
    """A zero-argument function running one minidl training step (and its loss as a float).

    Example:
        >>> step = minidl_step()
        >>> loss = step()
    """
    import minidl as md  # noqa: PLC0415
    params = {k: md.tensor(v, device=device, requires_grad=True) for k, v in init_weights(dtype).items()}
    opt = md.optim.Adam(params.values(), lr=LR, betas=BETAS, eps=EPS)
    xs, ys = batch(dtype=dtype)
    x, y = md.tensor(xs, device=device), md.tensor(ys, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = _forward_minidl(md, params, x, y)
        loss.backward()
        opt.step()
        return float(loss.item())
    return step


def torch_step(torch, dtype="float32", device="cpu"):
    """A zero-argument function running the same step in PyTorch with ``torch.optim.Adam``."""
    F = torch.nn.functional
    p = {k: torch.tensor(v, device=device, requires_grad=True) for k, v in init_weights(dtype).items()}
    xs, ys = batch(dtype=dtype)
    x, y = torch.from_numpy(xs).to(device), torch.from_numpy(ys).to(device)
    opt = torch.optim.Adam(p.values(), lr=LR, betas=BETAS, eps=EPS)

    def step():
        opt.zero_grad(set_to_none=True)
        h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)), 2)
        h = F.relu(F.linear(h.flatten(1), p["fc1.weight"], p["fc1.bias"]))
        loss = F.cross_entropy(F.linear(h, p["fc2.weight"], p["fc2.bias"]), y)
        loss.backward()
        opt.step()
        return float(loss.item())
    return step


def run_train_step(compare=("torch",), dtype="float32", repeat=None, budget=0.5, device="cpu"):
    """Time one MNIST-CNN training step in minidl (provider "minidl": automatic dispatch) and PyTorch.

    Returns ``Result`` rows (op "train_step", direction "step"; gflops/gbps None), the minidl row with
    ``ratio_vs_torch`` = torch ms / minidl ms when PyTorch ran. On ``device="cuda"`` a step is timed by the host
    clock too: it ends in ``loss.item()``, which waits for the GPU.

    Example:
        >>> [r.provider for r in run_train_step(repeat=1)]
        ['minidl', 'torch']
    """
    rows = [Result("train_step", SHAPE, "MNIST CNN + Adam", "step", "minidl", dtype)]
    rows[0].ms, rows[0].repeats = measure(minidl_step(dtype, device), repeat, budget)
    torch = import_torch() if "torch" in compare else None
    if device != "cpu" and torch is not None and not torch.cuda.is_available():
        torch = None
    if torch is not None:
        with torch_threads(torch, minidl_threads()):
            row = Result("train_step", SHAPE, "MNIST CNN + Adam", "step", "torch", dtype, ratio_vs_torch=1.0)
            row.ms, row.repeats = measure(torch_step(torch, dtype, device), repeat, budget)
        rows[0].ratio_vs_torch = row.ms / rows[0].ms
        rows.append(row)
    return rows
