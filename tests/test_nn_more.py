"""Issue 14's ``md.nn`` additions against PyTorch: activations, losses, ``pad``/``one_hot``/``normalize``/
``cosine_similarity``/``pixel_shuffle``, containers and hooks. Same inputs and weights (state dicts loaded as
NumPy arrays) in both frameworks; values and input/parameter gradients must agree; every differentiable function
is gradchecked in float64 (hypothesis-drawn shapes where shapes matter).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_helpers import PRECISIONS, close, compare_module

import minidl as md
from minidl.nn import functional as F
from minidl.testing import assert_gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(14)
SETTINGS = settings(max_examples=25, deadline=None)


def rand(*shape):
    return RNG.standard_normal(shape)


def run_both(fn_md, fn_torch, *arrays, seed=0, masks=()):
    """Apply the two functions to the same float64 inputs, back-propagate the same upstream gradient and compare
    values and every input's gradient (input i's only where ``masks[i]``, when given)."""
    xm = [md.tensor(a, requires_grad=True) for a in arrays]
    xt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ym, yt = fn_md(*xm), fn_torch(*xt)
    close(ym, yt, 1e-7, 1e-9, "value")
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    (ym * md.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for i, (a, b) in enumerate(zip(xm, xt)):
        m = masks[i] if i < len(masks) else np.ones(a.shape, bool)
        close(a.grad.numpy()[m], b.grad.numpy()[m], 1e-7, 1e-9, f"grad of input {i}")


# --- activations ---------------------------------------------------------------------------------------------
ACTIVATIONS = {
    "ELU": lambda nn: nn.ELU(), "ELU-alpha": lambda nn: nn.ELU(alpha=0.3), "SELU": lambda nn: nn.SELU(),
    "SiLU": lambda nn: nn.SiLU(), "Mish": lambda nn: nn.Mish(), "Hardtanh": lambda nn: nn.Hardtanh(),
    "Hardtanh-range": lambda nn: nn.Hardtanh(-2.0, 0.5), "ReLU6": lambda nn: nn.ReLU6(),
    "Hardsigmoid": lambda nn: nn.Hardsigmoid(), "Hardswish": lambda nn: nn.Hardswish(),
    "Softplus": lambda nn: nn.Softplus(beta=2.0, threshold=5.0), "LeakyReLU": lambda nn: nn.LeakyReLU(0.2),
    "LogSigmoid": lambda nn: nn.LogSigmoid(), "PReLU": lambda nn: nn.PReLU(), "PReLU-channels": lambda nn: nn.PReLU(3),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype,rtol,atol", PRECISIONS)
def test_activation_matches_torch(name, dtype, rtol, atol):
    x = rand(4, 3, 5) * 4          # spans every piece of the piecewise ones
    tm = ACTIVATIONS[name](torch.nn)
    if name.startswith("PReLU"):
        with torch.no_grad():
            tm.weight.copy_(torch.linspace(-0.5, 0.7, tm.weight.numel()))
    mm = ACTIVATIONS[name](md.nn)
    compare_module(torch, mm, tm, x, dtype=dtype, rtol=rtol, atol=atol)
    assert repr(mm) == repr(tm)


@pytest.mark.parametrize("fn", ["elu", "selu", "silu", "mish", "hardtanh", "relu6", "hardsigmoid", "hardswish",
                                "logsigmoid"])
def test_functional_activation_matches_torch(fn):
    run_both(getattr(F, fn), getattr(TF, fn), rand(3, 7) * 4)


def test_elu_large_inputs_have_finite_gradients():
    x = md.tensor([800.0, -800.0, 0.5], dtype=md.float64, requires_grad=True)
    F.elu(x).sum().backward()
    assert x.grad.tolist() == pytest.approx([1.0, 0.0, 1.0])


@SETTINGS
@given(st.sampled_from(["elu", "selu", "silu", "mish", "hardtanh", "hardswish", "logsigmoid"]),
       st.lists(st.integers(1, 4), min_size=0, max_size=3))
def test_activation_gradcheck(fn, shape):
    x = RNG.uniform(-3.5, 3.5, shape)
    x[np.abs(np.abs(x) - 1) < 1e-3] += 0.01     # keep off hardtanh's kinks, where finite differences straddle
    x[np.abs(np.abs(x) - 3) < 1e-3] += 0.01
    assert_gradcheck(getattr(F, fn), x)


def test_prelu_gradcheck_and_errors():
    assert_gradcheck(F.prelu, rand(2, 3, 4), np.array([0.1, -0.2, 0.3]))
    assert_gradcheck(F.prelu, rand(5), np.array([0.25]))
    with pytest.raises(ValueError, match="prelu: weight of 3 entries needs an input with 3 channels"):
        md.nn.PReLU(3)(md.randn(2, 4))
    with pytest.raises(ValueError, match="PReLU: num_parameters"):
        md.nn.PReLU(0)


def test_prelu_learns_its_slope():
    """A PReLU's weight is a Parameter an optimizer updates, as in a PyTorch training loop."""
    act = md.nn.PReLU()
    opt = md.optim.SGD(act.parameters(), lr=0.1)
    x = md.tensor([-1.0, -2.0, 3.0])
    for _ in range(50):
        opt.zero_grad()
        loss = ((act(x) - md.tensor([-0.5, -1.0, 3.0])) ** 2).sum()
        loss.backward()
        opt.step()
    assert act.weight.item() == pytest.approx(0.5, abs=1e-3)
    assert [n for n, _ in act.named_parameters()] == ["weight"]


# --- losses --------------------------------------------------------------------------------------------------
LOSSES = {
    "SmoothL1Loss": {}, "SmoothL1Loss-beta": {"beta": 0.5}, "SmoothL1Loss-l1": {"beta": 0.0},
    "HuberLoss": {}, "HuberLoss-delta": {"delta": 0.3},
}


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_loss_matches_torch(name, reduction):
    cls = name.split("-")[0]
    kw = dict(LOSSES[name], reduction=reduction)
    run_both(getattr(md.nn, cls)(**kw), getattr(torch.nn, cls)(**kw), rand(4, 5) * 2, rand(4, 5))


def test_huber_loss_weight_matches_torch():
    w = RNG.uniform(0, 2, (4, 5))
    run_both(lambda a, b: F.huber_loss(a, b, delta=0.7, weight=md.tensor(w)),
             lambda a, b: TF.huber_loss(a, b, delta=0.7, weight=torch.tensor(w)), rand(4, 5), rand(4, 5))


def test_smooth_l1_legacy_arguments():
    a, b = md.tensor(rand(3)), md.tensor(rand(3))
    assert md.nn.SmoothL1Loss(size_average=False)(a, b).item() == pytest.approx(
        F.smooth_l1_loss(a, b, reduction="sum").item())


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
def test_kl_div_matches_torch(reduction, log_target):
    logits, tlogits = rand(4, 6), rand(4, 6)
    inp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    tgt = tlogits - np.log(np.exp(tlogits).sum(1, keepdims=True))
    if not log_target:
        tgt = np.exp(tgt)
        tgt[0, :2] = 0.0                # zero target probabilities contribute 0
    # NOTE: d(t log t)/dt is -inf at t = 0; PyTorch's target gradient there is nan, ours is 0 (finite), so the
    # target gradient is compared where t > 0
    run_both(md.nn.KLDivLoss(reduction=reduction, log_target=log_target),
             torch.nn.KLDivLoss(reduction=reduction, log_target=log_target), inp, tgt,
             masks=(np.ones(inp.shape, bool), tgt > 0 if not log_target else np.ones(tgt.shape, bool)))


def test_kl_div_as_distillation():
    """Knowledge distillation as public programs write it: KL of softened student and teacher distributions."""
    s, t, temp = rand(8, 10), rand(8, 10), 4.0
    run_both(lambda a, b: F.kl_div(F.log_softmax(a / temp, dim=1), F.softmax(b / temp, dim=1),
                                   reduction="batchmean") * temp ** 2,
             lambda a, b: TF.kl_div(TF.log_softmax(a / temp, dim=1), TF.softmax(b / temp, dim=1),
                                    reduction="batchmean") * temp ** 2, s, t)


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.sampled_from(["mean", "sum", "none"]))
def test_loss_gradcheck(shape, reduction):
    x, y = RNG.standard_normal(shape) * 2, RNG.standard_normal(shape)
    assert_gradcheck(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=0.5), x, y)
    assert_gradcheck(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=0.8), x, y)
    assert_gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction), x, RNG.uniform(0.1, 1, shape))
    assert_gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True), x, y)


def test_loss_errors():
    with pytest.raises(ValueError, match="smooth_l1_loss: input of shape"):
        F.smooth_l1_loss(md.zeros(3), md.zeros(4))
    with pytest.raises(ValueError, match="KLDivLoss: reduction must be"):
        md.nn.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match="HuberLoss: delta must be positive"):
        md.nn.HuberLoss(delta=0)


# --- pad, one_hot, normalize, cosine_similarity, pixel_shuffle -----------------------------------------------
@pytest.mark.parametrize("shape,pad,value", [((3, 4), (1, 2), None), ((2, 3, 4), (0, 1, 2, 0, 1, 1), 1.5),
                                             ((2, 3, 4), (-1, 2, 1, -2), 0.0), ((5,), (3, 0), -2.0),
                                             ((2, 1, 3, 4), (1, 1, 1, 1), None)])
def test_pad_constant_matches_torch(shape, pad, value):
    run_both(lambda a: F.pad(a, pad, value=value), lambda a: TF.pad(a, pad, value=value), rand(*shape))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 5), (2, 1)), ((2, 3, 5, 4), (1, 2, 3, 0)), ((3, 4, 5), (0, 3, 1, 2)),
                                       ((1, 2, 3, 4, 4), (1, 1, 2, 0, 1, 1))])
def test_pad_modes_match_torch(mode, shape, pad):
    run_both(lambda a: F.pad(a, pad, mode=mode), lambda a: TF.pad(a, pad, mode=mode), rand(*shape))


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_pad_gradcheck(shape, data):
    k = data.draw(st.integers(1, len(shape)))
    pad = tuple(data.draw(st.integers(-shape[len(shape) - 1 - i // 2] // 2, 3)) for i in range(2 * k))
    assert_gradcheck(lambda a: F.pad(a, pad, value=0.5), RNG.standard_normal(shape))
    # the backward of a constant pad is itself differentiable (second order)
    x = md.tensor(RNG.standard_normal(shape), requires_grad=True)
    (g,) = md.autograd.grad(F.pad(x, pad).pow(2).sum(), x, create_graph=True)
    assert g.requires_grad
    if len(shape) >= 2:
        n = shape[-1]
        rpad = (data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1)))
        assert_gradcheck(lambda a: F.pad(a, rpad, mode="reflect"), RNG.standard_normal(shape))
        assert_gradcheck(lambda a: F.pad(a, (2, 1), mode="replicate"), RNG.standard_normal(shape))


def test_pad_errors():
    with pytest.raises(NotImplementedError, match="pad: mode 'wrap' is not supported"):
        F.pad(md.zeros(1, 2, 3), (1, 1), mode="wrap")
    with pytest.raises(ValueError, match="reflect padding"):
        F.pad(md.zeros(1, 2, 3), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad: pad must hold an even number"):
        F.pad(md.zeros(2, 3), (1, 2, 3))
    with pytest.raises(NotImplementedError, match="pads the last 1 to 3 dims"):
        F.pad(md.zeros(3), (1, 1), mode="replicate")


def test_one_hot_matches_torch():
    labels = RNG.integers(0, 5, (3, 4))
    for n in (-1, 7):
        close(F.one_hot(md.tensor(labels), n), TF.one_hot(torch.tensor(labels), n), 0, 0, f"one_hot {n}")
    assert F.one_hot(md.tensor(labels)).dtype == md.int64
    with pytest.raises(ValueError, match="one_hot: class value 4 is out of range for num_classes=3"):
        F.one_hot(md.tensor([0, 4]), 3)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(md.tensor([-1, 2]))
    with pytest.raises(TypeError, match="one_hot: expects an integer tensor"):
        F.one_hot(md.tensor([0.0, 1.0]))


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1), (float("inf"), 1)])
def test_normalize_matches_torch(p, dim):
    x = rand(4, 5, 3)
    x[1] = 0.0            # an all-zero slice: the eps floor, and a finite gradient
    run_both(lambda a: F.normalize(a, p=p, dim=dim), lambda a: TF.normalize(a, p=p, dim=dim), x)


@pytest.mark.parametrize("s1,s2,dim", [((4, 5), (4, 5), 1), ((3, 1, 6), (1, 4, 6), -1), ((5,), (2, 5), 1),
                                       ((2, 3, 4), (2, 3, 4), 0)])
def test_cosine_similarity_matches_torch(s1, s2, dim):
    run_both(lambda a, b: F.cosine_similarity(a, b, dim=dim), lambda a, b: TF.cosine_similarity(a, b, dim=dim),
             rand(*s1), rand(*s2))
    run_both(md.nn.CosineSimilarity(dim=dim, eps=1e-6), torch.nn.CosineSimilarity(dim=dim, eps=1e-6),
             rand(*s1), rand(*s2))


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_normalize_cosine_gradcheck(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x1, x2 = RNG.standard_normal(shape), RNG.standard_normal(shape)
    assert_gradcheck(lambda a: F.normalize(a, dim=dim), x1)
    assert_gradcheck(lambda a: F.normalize(a, p=1.5, dim=dim), x1)
    assert_gradcheck(lambda a, b: F.cosine_similarity(a, b, dim=dim), x1, x2)


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 2), 2), ((18, 2, 3), 3), ((2, 1, 4, 2, 2), 2)])
def test_pixel_shuffle_matches_torch(shape, r):
    run_both(md.nn.PixelShuffle(r), torch.nn.PixelShuffle(r), rand(*shape))
    up = TF.pixel_shuffle(torch.tensor(rand(*shape)), r).numpy()
    run_both(md.nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), up)
    assert_gradcheck(lambda a: F.pixel_shuffle(a, r), rand(*shape))
    assert repr(md.nn.PixelShuffle(r)) == repr(torch.nn.PixelShuffle(r))
    with pytest.raises(ValueError, match="pixel_shuffle: needs"):
        F.pixel_shuffle(md.zeros(1, 5, 2, 2), 2)
