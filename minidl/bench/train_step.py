"""Whole training steps in minidl and in PyTorch, case by case in one process.

Each case (``CASES``) is one network of a classic family, written once against an ``nn`` namespace, so
the same code builds the ``md.nn`` model (what a user writes) and the ``torch.nn`` one. Both start from
the same weights (minidl's seeded initialization, copied into PyTorch with ``load_state_dict``), see the
same batch and run the same optimizer; minidl runs with automatic dispatch, which is what a user gets.

Before anything is timed, both sides run two steps and their losses must agree (the second loss
depends on the gradients and the update of the first), so a broken model is reported as such and
never timed as fast. The steps are then timed interleaved: warm-up, then alternating blocks of
minidl and PyTorch steps, the median of each side (``measure_interleaved``).

Adding a case is one ``Case`` entry: a builder ``build(nn, **sizes)``, a batch maker, an objective
``objective(F, output, target)``, the optimizer, and full and tiny sizes.
"""
import statistics
import time
from dataclasses import dataclass

import numpy as np

from .kernels import MAX_REPEAT, MIN_REPEAT, Result, import_torch, minidl_threads, torch_threads

SEED = 0
ROUNDS = 5                 # alternating blocks per side: slow drift of the machine hits both sides alike


# -- the networks, each written once for md.nn and torch.nn -----------------------------------------------------

def _mlp(nn, widths, **_):
    layers = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def _mnist_cnn(nn, channels, image, hidden, classes, **_):
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (image // 4) ** 2, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def _lstm_classifier(nn, vocab, embed, hidden, classes, **_):
    class LSTMClassifier(nn.Module):
        """Embedding -> LSTM (batch first) -> Linear on the last hidden state."""

        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True)
            self.head = nn.Linear(hidden, classes)

        def forward(self, tokens):
            _, (h, _) = self.lstm(self.embedding(tokens))
            return self.head(h[-1])
    return LSTMClassifier()


def _lstm(nn, embed, hidden, **_):
    return nn.LSTM(embed, hidden)


def _autoencoder(nn, widths, **_):
    """The dense autoencoder of ``md.models.Autoencoder(widths[0], hidden=widths[1:-1], latent=widths[-1])``."""
    enc, dec = [nn.Flatten()], []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        enc += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    back = widths[::-1]
    for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
        dec += [nn.Linear(a, b), nn.ReLU() if i < len(back) - 2 else nn.Sigmoid()]
    return nn.Sequential(nn.Sequential(*enc), nn.Sequential(*dec))


def _conv_autoencoder(nn, channels, **_):
    """The network of ``md.models.ConvAutoencoder(1, channels)``."""
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())


def _resnet_block(nn, channels, classes, **_):
    class BasicBlockNet(nn.Module):
        """A ResNet basic block (identity shortcut), global average pool, Linear."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(channels, classes)

        def forward(self, x):
            h = self.relu(self.bn1(self.conv1(x)))
            h = self.relu(self.bn2(self.conv2(h)) + x)
            return self.fc(h.mean(dim=(2, 3)))
    return BasicBlockNet()


# -- batches: (input, target) NumPy arrays ------------------------------------------------------------------------

def _images(rng, dtype, batch, shape, classes):
    return rng.standard_normal((batch,) + tuple(shape)).astype(dtype), rng.integers(0, classes, batch)


def _vectors(rng, dtype, batch, widths, **_):
    return _images(rng, dtype, batch, (widths[0],), widths[-1])


def _pixels(rng, dtype, batch, shape):
    x = rng.uniform(0, 1, (batch,) + tuple(shape)).astype(dtype)
    return x, x


def _digits(rng, dtype, batch, image, classes, **_):
    return _images(rng, dtype, batch, (1, image, image), classes)


def _feature_maps(rng, dtype, batch, channels, image, classes, **_):
    return _images(rng, dtype, batch, (channels, image, image), classes)


def _pixel_vectors(rng, dtype, batch, widths, **_):
    return _pixels(rng, dtype, batch, (widths[0],))


def _pixel_images(rng, dtype, batch, image, **_):
    return _pixels(rng, dtype, batch, (1, image, image))


def _tokens(rng, dtype, batch, vocab, steps, classes, **_):
    return rng.integers(0, vocab, (batch, steps)), rng.integers(0, classes, batch)


def _sequence(rng, dtype, batch, steps, embed, **_):
    return rng.standard_normal((steps, batch, embed)).astype(dtype), None


def _cross_entropy(F, out, y):
    return F.cross_entropy(out, y)


def _mse_to_input(F, out, x):
    return F.mse_loss(out, x)


def _sum_of_outputs(F, out, _):
    return out[0].sum()


ADAM = ("Adam", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8})
SGD_MOMENTUM = ("SGD", {"lr": 0.01, "momentum": 0.9})


@dataclass(frozen=True, eq=False)
class Case:
    """One benchmarked step: ``shape`` (a format string over ``sizes``) names it in the table and the JSON."""
    shape: str
    label: str
    build: object                   # build(nn, **sizes) -> module
    data: object                    # data(rng, dtype, **sizes) -> (input, target) NumPy arrays (target may be None)
    objective: object               # objective(F, model output, target) -> scalar loss
    optimizer: tuple                # (class name in md.optim / torch.optim, keyword arguments), or None
    sizes: dict
    tiny: dict                      # sizes for a smoke test (``tiny=True``): seconds, numbers meaningless
    direction: str = "step"

    def name(self, tiny=False):
        return self.shape.format(**(self.tiny if tiny else self.sizes))


CASES = (
    Case("mlp {widths[0]}-{widths[1]}-{widths[2]}-{widths[3]} batch {batch}", "MLP + Adam",
         _mlp, _vectors, _cross_entropy, ADAM,
         {"widths": (784, 512, 256, 10), "batch": 128}, {"widths": (12, 8, 6, 3), "batch": 4}),
    Case("mnist_cnn batch {batch}", "MNIST CNN + Adam",
         _mnist_cnn, _digits,
         _cross_entropy, ADAM,
         {"channels": (32, 64), "image": 28, "hidden": 128, "classes": 10, "batch": 64},
         {"channels": (2, 3), "image": 8, "hidden": 5, "classes": 3, "batch": 2}),
    Case("lstm_classifier vocab {vocab} embed {embed} hidden {hidden} T {steps} batch {batch}",
         "LSTM classifier + Adam",
         _lstm_classifier, _tokens, _cross_entropy, ADAM,
         {"vocab": 10000, "embed": 128, "hidden": 128, "steps": 100, "classes": 2, "batch": 64},
         {"vocab": 20, "embed": 4, "hidden": 5, "steps": 3, "classes": 2, "batch": 2}),
    Case("autoencoder {widths[0]}-{widths[1]}-{widths[2]}-{widths[1]}-{widths[0]} batch {batch}",
         "autoencoder, MSE + Adam",
         _autoencoder, _pixel_vectors,
         _mse_to_input, ADAM,
         {"widths": (784, 256, 64), "batch": 128}, {"widths": (10, 6, 3), "batch": 3}),
    Case("conv_autoencoder 1x{image}x{image} {channels[0]}-{channels[1]} batch {batch}",
         "conv autoencoder, MSE + Adam",
         _conv_autoencoder, _pixel_images,
         _mse_to_input, ADAM,
         {"channels": (16, 32), "image": 28, "batch": 64}, {"channels": (2, 3), "image": 8, "batch": 2}),
    Case("resnet_block {channels}x{image}x{image} batch {batch}",
         "ResNet basic block + SGD momentum",
         _resnet_block, _feature_maps,
         _cross_entropy, SGD_MOMENTUM,
         {"channels": 64, "image": 32, "classes": 10, "batch": 32},
         {"channels": 3, "image": 4, "classes": 3, "batch": 2}),
    Case("lstm {embed}->{hidden} T {steps} batch {batch}", "nn.LSTM, sum of outputs",
         _lstm, _sequence, _sum_of_outputs, None,
         {"embed": 128, "hidden": 128, "steps": 100, "batch": 64},
         {"embed": 3, "hidden": 4, "steps": 3, "batch": 2}, direction="forward+backward"),
)
SHAPE = CASES[1].name()          # the MNIST-CNN case, the only one before the others came


# -- building and stepping one side -------------------------------------------------------------------------------

def _minidl_model(case, sizes, dtype, device):
    import minidl as md  # noqa: PLC0415
    md.manual_seed(SEED)
    model = case.build(md.nn, **sizes).to(device=device, dtype=getattr(md, dtype))
    return md, model


def initial_state(case, tiny=False, dtype="float32"):
    """The case's initial weights as NumPy arrays by state-dict name (minidl's seeded initialization).

    Example:
        >>> sorted(initial_state(CASES[0], tiny=True))[:2]
        ['1.bias', '1.weight']
    """
    _, model = _minidl_model(case, case.tiny if tiny else case.sizes, dtype, "cpu")
    return {k: np.array(v.numpy()) for k, v in model.state_dict().items()}


def _step_fn(fw, model, opt, x, y, objective):
    """A zero-argument function running one step of ``model`` in framework ``fw`` and returning the loss."""
    params = list(model.parameters())

    def step():
        if opt is None:
            for p in params:
                p.grad = None
        else:
            opt.zero_grad(set_to_none=True)
        loss = objective(fw.nn.functional, model(x), y)
        loss.backward()
        if opt is not None:
            opt.step()
        return float(loss.item())
    return step


def minidl_step(case=CASES[1], dtype="float32", device="cpu", tiny=False, state=None):
    """A zero-argument function running one minidl step of ``case`` (and returning its loss as a float).

    ``state`` (NumPy arrays by name, as ``initial_state`` gives) replaces the seeded initial weights.

    Example:
        >>> step = minidl_step(CASES[0], tiny=True)
        >>> loss = step()
    """
    sizes = case.tiny if tiny else case.sizes
    md, model = _minidl_model(case, sizes, dtype, device)
    if state is not None:
        model.load_state_dict(state)
    xs, ys = case.data(np.random.default_rng(SEED + 1), dtype, **sizes)
    x = md.tensor(xs, device=device)
    y = None if ys is None else md.tensor(ys, device=device)
    opt = None if case.optimizer is None else \
        getattr(md.optim, case.optimizer[0])(model.parameters(), **case.optimizer[1])
    return _step_fn(md, model, opt, x, y, case.objective)


def torch_step(torch, case=CASES[1], dtype="float32", device="cpu", tiny=False, state=None):
    """The same step in PyTorch: the same network from the same weights (``state``, by default
    ``initial_state``), the same batch and the same optimizer."""
    sizes = case.tiny if tiny else case.sizes
    model = case.build(torch.nn, **sizes).to(device=device, dtype=getattr(torch, dtype))
    state = initial_state(case, tiny, dtype) if state is None else state
    model.load_state_dict({k: torch.tensor(v, device=device) for k, v in state.items()})
    xs, ys = case.data(np.random.default_rng(SEED + 1), dtype, **sizes)
    x = torch.from_numpy(np.asarray(xs)).to(device)
    y = None if ys is None else torch.from_numpy(np.asarray(ys)).to(device)
    opt = None if case.optimizer is None else \
        getattr(torch.optim, case.optimizer[0])(model.parameters(), **case.optimizer[1])
    return _step_fn(torch, model, opt, x, y, case.objective)


# -- checking and timing ------------------------------------------------------------------------------------------

CHECK_STEPS = 2
TOLERANCE = {"float32": 2e-3, "float64": 1e-7}     # relative, on each of the first CHECK_STEPS losses


def losses_disagree(md_losses, torch_losses, dtype="float32"):
    """None when the two sides' first losses agree to the dtype's tolerance, else a sentence saying where not.

    Example:
        >>> losses_disagree([2.30, 2.10], [2.30, 2.25])
        'step 2 loss: minidl 2.1, torch 2.25'
    """
    tol = TOLERANCE[dtype]
    for i, (a, b) in enumerate(zip(md_losses, torch_losses)):
        if not (np.isfinite(a) and abs(a - b) <= tol * max(abs(a), abs(b)) + tol * 1e-3):
            return f"step {i + 1} loss: minidl {a:.6g}, torch {b:.6g}"
    return None


def measure_interleaved(fns, repeat=None, budget=2.0, rounds=ROUNDS):
    """Median milliseconds and timed-call count of each zero-argument function in ``fns`` (a dict by name).

    Each function gets three warm-up calls; then the functions run in ``rounds`` alternating blocks (A's
    block, B's block, A's block, ...), so a machine whose speed drifts hits every side alike. ``repeat``
    fixes each side's timed calls; otherwise as many as fit in ``budget`` seconds per side (3..10000).

    Example:
        >>> out = measure_interleaved({"a": lambda: None, "b": lambda: None}, repeat=4)
        >>> out["a"][1]
        4
    """
    counts = {}
    for name, fn in fns.items():
        for _ in range(3):
            start = time.perf_counter()
            fn()
            last = time.perf_counter() - start
        counts[name] = max(1, repeat) if repeat is not None else \
            int(min(MAX_REPEAT, max(MIN_REPEAT, budget / max(last, 1e-7))))
    times = {name: [] for name in fns}
    for r in range(rounds):
        for name, fn in fns.items():
            n = counts[name]
            for _ in range(n * (r + 1) // rounds - n * r // rounds):      # blocks summing to n
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t) * 1e3, len(t)) for name, t in times.items()}


def _case_rows(case, torch, dtype, repeat, budget, device, tiny):
    """The minidl row (and the torch row) of one case: checked, then timed interleaved."""
    name = case.name(tiny)
    rows = {"minidl": Result("train_step", name, case.label, case.direction, "minidl", dtype)}
    state = initial_state(case, tiny, dtype)
    steps = {"minidl": minidl_step(case, dtype, device, tiny, state)}
    if torch is not None:
        rows["torch"] = Result("train_step", name, case.label, case.direction, "torch", dtype, ratio_vs_torch=1.0)
        steps["torch"] = torch_step(torch, case, dtype, device, tiny, state)
    losses = {side: [step() for _ in range(CHECK_STEPS)] for side, step in steps.items()}
    for side, row in rows.items():
        row.first_loss = losses[side][0]
    wrong = losses_disagree(losses["minidl"], losses["torch"], dtype) if torch is not None else None
    if wrong is None and not np.isfinite(losses["minidl"]).all():
        wrong = f"minidl loss is not finite: {losses['minidl']}"
    if wrong is not None:
        for row in rows.values():
            row.ratio_vs_torch, row.note = None, f"NOT TIMED: the two sides disagree ({wrong})"
        return list(rows.values())
    for side, (ms, n) in measure_interleaved(steps, repeat, budget).items():
        rows[side].ms, rows[side].repeats = ms, n
    if torch is not None:
        rows["minidl"].ratio_vs_torch = rows["torch"].ms / rows["minidl"].ms
    return list(rows.values())


def run_train_step(compare=("torch",), dtype="float32", repeat=None, budget=2.0, device="cpu", tiny=False,
                   cases=CASES, progress=None):
    """Time every case's step in minidl (provider "minidl": automatic dispatch) beside PyTorch's.

    Returns ``Result`` rows (op "train_step", shape = the case's name, label = what it trains, direction
    "step" or "forward+backward"; gflops/gbps None), minidl's then torch's per case, the minidl row with
    ``ratio_vs_torch`` = torch ms / minidl ms. Each row's ``first_loss`` is its side's first loss. When the
    two sides' first losses disagree, neither is timed (``ms`` None; the note says why). PyTorch runs with
    ``torch.set_num_threads`` = minidl's threads. On ``device="cuda"`` a step is timed by the host clock:
    it ends in ``loss.item()``, which waits for the GPU.

    Example:
        >>> [r.provider for r in run_train_step(repeat=1, tiny=True, cases=CASES[:1])]
        ['minidl', 'torch']
    """
    torch = import_torch() if "torch" in compare else None
    if device != "cpu" and torch is not None and not torch.cuda.is_available():
        torch = None
    rows = []
    with torch_threads(torch, minidl_threads()):
        for case in cases:
            if progress:
                progress(f"train_step {case.name(tiny)}")
            rows += _case_rows(case, torch, dtype, repeat, budget, device, tiny)
    return rows
