"""Issue 14's ``md.nn`` additions against PyTorch: activations, losses, ``pad``/``one_hot``/``normalize``/
``cosine_similarity``/``pixel_shuffle``, containers and hooks. Same inputs and weights (state dicts loaded as
NumPy arrays) in both frameworks; values and input/parameter gradients must agree; every differentiable function
is gradchecked in float64 (hypothesis-drawn shapes where shapes matter).
"""

from collections import OrderedDict

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
    "LogSigmoid": lambda nn: nn.LogSigmoid(), "GLU": lambda nn: nn.GLU(0), "PReLU": lambda nn: nn.PReLU(), "PReLU-channels": lambda nn: nn.PReLU(3),
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


@pytest.mark.parametrize("fn", ["elu", "selu", "hardtanh", "relu6", "hardsigmoid", "hardswish", "silu", "mish"])
def test_activation_gradients_at_kinks_match_torch(fn):
    run_both(getattr(F, fn), getattr(TF, fn), np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0]))


def test_elu_large_inputs_have_finite_gradients():
    x = md.tensor([800.0, -800.0, 0.5], dtype=md.float64, requires_grad=True)
    F.elu(x).sum().backward()
    assert x.grad.tolist() == pytest.approx([1.0, 0.0, 1.0])


@SETTINGS
@given(st.sampled_from(["elu", "selu", "silu", "mish", "hardtanh", "hardswish", "logsigmoid", "glu"]),
       st.lists(st.integers(1, 4), min_size=0, max_size=3))
def test_activation_gradcheck(fn, shape):
    if fn == "glu":
        shape = [*shape, 2]
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
    pad = tuple(data.draw(st.integers(-(shape[len(shape) - 1 - i // 2] // 2), 3)) for i in range(2 * k))
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


def test_cosine_similarity_tiny_and_zero_vectors_match_torch():
    """Norms below eps: the value uses eps, the gradient the true norm (0 for an all-zero vector), as PyTorch."""
    a = np.array([[0.0, 0.0, 0.0], [1e-9, 2e-9, 0.0], [1.0, 2.0, 3.0]])
    b = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    run_both(F.cosine_similarity, TF.cosine_similarity, a, b)


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


# --- containers ----------------------------------------------------------------------------------------------
class Heads:
    """One model written against either framework's ``nn``: a ModuleDict of heads, a ParameterList and a
    ParameterDict, as multi-task programs build them."""

    @staticmethod
    def build(nn, framework):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
                self.heads = nn.ModuleDict({"cls": nn.Linear(6, 3), "reg": nn.Linear(6, 1)})
                self.scales = nn.ParameterList([nn.Parameter(framework.ones(3)), nn.Parameter(framework.ones(1))])
                self.extra = nn.ParameterDict({"shift": nn.Parameter(framework.zeros(3)),
                                               "bias2": nn.Parameter(framework.zeros(1))})

            def forward(self, x):
                h = self.trunk(x)
                cls = self.heads["cls"](h) * self.scales[0] + self.extra["shift"]
                reg = self.heads["reg"](h) * self.scales[1] + self.extra["bias2"]
                return framework.cat([cls, reg], 1)
        return Net()


def test_containers_state_dict_repr_and_gradients_match_torch():
    tm, mm = Heads.build(torch.nn, torch), Heads.build(md.nn, md)
    assert list(mm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in mm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert repr(mm).replace("minidl.", "torch.") == repr(tm).replace("torch.FloatTensor", "torch.float32")
    with torch.no_grad():
        for p in tm.parameters():
            p.normal_()
    compare_module(torch, mm, tm, rand(5, 4))


def test_module_dict_api():
    d = md.nn.ModuleDict([("a", md.nn.Linear(2, 2)), ("b", md.nn.ReLU())])
    d["c"] = md.nn.Tanh()
    d.update({"a": md.nn.Identity()})
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert isinstance(d["a"], md.nn.Identity)
    assert isinstance(d.pop("b"), md.nn.ReLU) and list(d.keys()) == ["a", "c"]
    with pytest.raises(KeyError, match="ModuleDict: no module named 'z'"):
        d["z"]
    with pytest.raises(TypeError, match="ModuleDict: keys must be strings"):
        d[1] = md.nn.ReLU()
    with pytest.raises(NotImplementedError, match="ModuleDict has no forward"):
        d(md.zeros(1))


def test_parameter_list_and_dict_api():
    pl = md.nn.ParameterList([md.zeros(2)])
    pl.append(md.nn.Parameter(md.ones(3)))
    pl += [md.ones(1)]
    assert len(pl) == 3 and all(isinstance(p, md.nn.Parameter) for p in pl)
    assert [p.shape for p in pl[1:]] == [(3,), (1,)]
    pl[0] = md.ones(2)
    assert list(pl.state_dict()) == ["0", "1", "2"] and pl[-1].shape == (1,)
    pd = md.nn.ParameterDict()
    pd["w"] = md.ones(2)
    pd.update([("v", md.nn.Parameter(md.zeros(1)))])
    assert pd.keys() == ["w", "v"] and "v" in pd and pd.get("nope") is None
    assert pd.pop("w").shape == (2,) and list(pd.state_dict()) == ["v"]
    with pytest.raises(KeyError, match="ParameterDict: no parameter named 'w'"):
        pd["w"]
    # a model's optimizer sees the parameters of both
    opt = md.optim.SGD(list(pl.parameters()) + list(pd.parameters()), lr=1.0)
    (pl[0].sum() + pd["v"].sum()).backward()
    opt.step()
    assert pl[0].tolist() == [0.0, 0.0] and pd["v"].tolist() == [-1.0]


def test_container_state_dict_round_trip_from_torch():
    tm, mm = Heads.build(torch.nn, torch), Heads.build(md.nn, md)
    sd = {k: v.detach().numpy() + 1 for k, v in tm.state_dict().items()}
    mm.load_state_dict(sd)
    for k, v in mm.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k])


# --- Module API: get_submodule, hooks ------------------------------------------------------------------------
def small_cnn(nn):
    return nn.Sequential(OrderedDict([
        ("features", nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(nn.Linear(4 * 4 * 4, 10)))]))


def test_get_submodule_parameter_buffer():
    net = small_cnn(md.nn)
    assert net.get_submodule("") is net
    assert net.get_submodule("features.0") is net.features[0]
    assert net.get_parameter("classifier.0.bias") is net.classifier[0].bias
    bn = md.nn.Sequential(md.nn.BatchNorm1d(3))
    assert bn.get_buffer("0.running_mean") is bn[0].running_mean
    with pytest.raises(AttributeError, match="Sequential has no attribute `nope`"):
        net.get_submodule("features.nope")
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        net.get_submodule("features.0.weight")
    with pytest.raises(AttributeError, match="has no parameter `nope`"):
        net.get_parameter("features.0.nope")


def test_forward_hook_feature_extraction_matches_torch():
    """The common program: register a forward hook on an inner layer, run the model, read the activations."""
    tm, mm = small_cnn(torch.nn), small_cnn(md.nn)
    mm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rand(2, 1, 8, 8).astype(np.float32)
    feats = {}

    def save(name):
        def hook(module, args, output):
            feats[name] = output.detach()
        return hook
    handles = [m.get_submodule("features").register_forward_hook(save(k)) for k, m in (("md", mm), ("torch", tm))]
    mm(md.tensor(x))
    tm(torch.tensor(x))
    close(feats["md"], feats["torch"], 1e-5, 1e-6, "hooked features")
    for h in handles:
        h.remove()
    feats.clear()
    mm(md.tensor(x))
    assert feats == {}


def hooked_linear_outputs(nn, fw):
    """Outputs of a Linear under pre-hooks and forward hooks that replace input and output, then as each goes."""
    lin = nn.Linear(3, 2)
    with fw.no_grad():
        lin.weight.copy_(fw.tensor(np.arange(6.0).reshape(2, 3), dtype=fw.float32))
        lin.bias.fill_(1.0)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: args[0] * 2)      # a non-tuple is wrapped
    # prepended: runs before h1, so it sees the original input
    h2 = lin.register_forward_pre_hook(lambda m, args: calls.append(args[0].tolist()), prepend=True)
    h3 = lin.register_forward_hook(lambda m, args, out: out + args[0].sum())
    h4 = lin.register_forward_hook(lambda m, args, kwargs, out: (calls.append(kwargs), out * 10)[1],
                                   with_kwargs=True)
    x = fw.ones(1, 3)
    out1 = lin(x).tolist()
    h1.remove()
    out2 = lin(x).tolist()
    for h in (h2, h3, h4):
        h.remove()
    return out1, out2, lin(x).tolist(), calls


def test_hooks_replace_inputs_and_outputs_as_torch():
    got = hooked_linear_outputs(md.nn, md)
    assert got == hooked_linear_outputs(torch.nn, torch)
    assert got[3][0] == [[1.0, 1.0, 1.0]]


def test_hook_handle_as_context_manager_and_errors():
    lin = md.nn.Linear(2, 2)
    seen = []
    with lin.register_forward_hook(lambda m, a, out: seen.append(out.shape)):
        lin(md.zeros(1, 2))
    lin(md.zeros(1, 2))
    assert seen == [(1, 2)]
    with pytest.raises(TypeError, match="hook must be callable"):
        lin.register_forward_hook(3)
    with pytest.raises(NotImplementedError, match="always_call=True"):
        lin.register_forward_hook(lambda *a: None, always_call=True)
    lin.register_forward_pre_hook(lambda m, a, k: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="must return None or \\(args, kwargs\\)"):
        lin(md.zeros(1, 2))


def test_replacing_a_layer_keeps_its_place_as_torch():
    """Transfer learning replaces the classifier in place; state_dict order and repr stay PyTorch's."""
    orders = []
    for nn in (md.nn, torch.nn):
        net = small_cnn(nn)
        net.flatten = nn.Flatten(1)
        net.features[0] = nn.Conv2d(1, 4, 3, padding=1)
        net.features[0].bias = None
        orders.append((list(net.state_dict()), [n for n, _ in net.named_children()]))
    assert orders[0] == orders[1]


# --- 1-D layers, adaptive pooling, group/instance norm, channel dropout, recurrent cells ---------------------------
LAYERS_1D = {
    "Conv1d": (lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1), (2, 4, 9)),
    "Conv1d-groups-dilation": (lambda nn: nn.Conv1d(4, 6, 2, dilation=2, groups=2, bias=False), (2, 4, 8)),
    "Conv1d-same": (lambda nn: nn.Conv1d(3, 2, 4, padding="same"), (3, 7)),
    "Conv1d-reflect": (lambda nn: nn.Conv1d(3, 2, 3, padding=1, padding_mode="reflect"), (2, 3, 6)),
    "Conv1d-same-circular": (lambda nn: nn.Conv1d(3, 2, 4, padding="same", dilation=1, padding_mode="circular"),
                             (2, 3, 6)),
    "Conv2d-reflect": (lambda nn: nn.Conv2d(3, 2, 3, padding=(1, 2), padding_mode="reflect"), (2, 3, 6, 5)),
    "Conv2d-replicate-stride": (lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="replicate"),
                                (2, 3, 7, 6)),
    "Conv2d-same-circular": (lambda nn: nn.Conv2d(2, 2, (4, 3), padding="same", dilation=(1, 2),
                                                  padding_mode="circular"), (1, 2, 6, 7)),
    "MaxPool1d": (lambda nn: nn.MaxPool1d(3, 2, padding=1, ceil_mode=True), (2, 3, 8)),
    "MaxPool1d-dilation": (lambda nn: nn.MaxPool1d(2, dilation=2), (3, 9)),
    "AvgPool1d": (lambda nn: nn.AvgPool1d(3, 2, padding=1, count_include_pad=False), (2, 3, 8)),
    "AvgPool1d-ceil": (lambda nn: nn.AvgPool1d(2, ceil_mode=True), (2, 3, 7)),
    "AdaptiveAvgPool1d": (lambda nn: nn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    "AdaptiveAvgPool2d": (lambda nn: nn.AdaptiveAvgPool2d((3, 5)), (2, 3, 7, 9)),
    "AdaptiveAvgPool2d-1": (lambda nn: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4)),
    "AdaptiveAvgPool2d-none": (lambda nn: nn.AdaptiveAvgPool2d((None, 2)), (3, 4, 5)),
    "GroupNorm": (lambda nn: nn.GroupNorm(3, 6), (2, 6, 4, 3)),
    "GroupNorm-1d": (lambda nn: nn.GroupNorm(2, 4, affine=False), (3, 4, 5)),
    "InstanceNorm2d": (lambda nn: nn.InstanceNorm2d(3), (2, 3, 4, 5)),
    "InstanceNorm2d-affine-stats": (lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
                                    (2, 3, 4, 5)),
    "InstanceNorm2d-unbatched": (lambda nn: nn.InstanceNorm2d(3, affine=True), (3, 4, 4)),
    "InstanceNorm1d-stats": (lambda nn: nn.InstanceNorm1d(4, affine=True, track_running_stats=True), (2, 4, 6)),
    "InstanceNorm1d-unbatched": (lambda nn: nn.InstanceNorm1d(4), (4, 5)),
    "RNNCell": (lambda nn: nn.RNNCell(5, 4), (3, 5)),
    "RNNCell-relu-nobias": (lambda nn: nn.RNNCell(5, 4, bias=False, nonlinearity="relu"), (5,)),
    "GRUCell": (lambda nn: nn.GRUCell(5, 4), (3, 5)),
}


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("name", list(LAYERS_1D))
@pytest.mark.parametrize("dtype,rtol,atol", PRECISIONS)
def test_more_layers_match_torch(name, dtype, rtol, atol):
    factory, shape = LAYERS_1D[name]
    tm, mm = factory(torch.nn), factory(md.nn)
    assert list(mm.state_dict()) == list(tm.state_dict())
    assert repr(mm) == repr(tm)
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(-1, 1)
    for train in (True, False):
        compare_module(torch, mm, tm, rand(*shape), dtype=dtype, rtol=rtol, atol=atol, train=train)


def test_instance_norm_running_stats_match_torch_over_steps():
    tm = torch.nn.InstanceNorm2d(3, momentum=0.3, track_running_stats=True).double()
    mm = md.nn.InstanceNorm2d(3, momentum=0.3, track_running_stats=True).double()
    for _ in range(3):
        x = rand(2, 3, 4, 4) * 3 + 1
        tm(torch.tensor(x))
        mm(md.tensor(x))
    for n, b in tm.named_buffers():
        close(getattr(mm, n), b, 1e-7, 1e-9, n)
    x = rand(2, 3, 4, 4)
    close(mm.eval()(md.tensor(x)), tm.eval()(torch.tensor(x)), 1e-7, 1e-9, "eval output")


def test_max_pool1d_indices_match_torch():
    x = rand(2, 3, 9)
    ym, im = F.max_pool1d(md.tensor(x), 3, 2, return_indices=True)
    yt, it = TF.max_pool1d(torch.tensor(x), 3, 2, return_indices=True)
    close(ym, yt, 0, 0, "values")
    close(im, it, 0, 0, "indices")


def test_lstm_cell_matches_torch_with_states():
    """An LSTMCell unrolled by hand over a sequence, as seq2seq decoders do."""
    tm, mm = torch.nn.LSTMCell(5, 4).double(), md.nn.LSTMCell(5, 4).double()
    mm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    xs = rand(6, 3, 5)
    ht, ct = torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64)
    hm, cm = md.zeros(3, 4, dtype=md.float64), md.zeros(3, 4, dtype=md.float64)
    for x in xs:
        ht, ct = tm(torch.tensor(x), (ht, ct))
        hm, cm = mm(md.tensor(x), (hm, cm))
    close(hm, ht, 1e-7, 1e-9, "h")
    close(cm, ct, 1e-7, 1e-9, "c")
    (hm.sum() + cm.sum()).backward()
    (ht.sum() + ct.sum()).backward()
    for n, p in tm.named_parameters():
        close(getattr(mm, n).grad, p.grad, 1e-7, 1e-9, f"grad of {n}")
    h1, c1 = mm(md.tensor(rand(5)))
    assert h1.shape == c1.shape == (4,)
    with pytest.raises(ValueError, match="LSTMCell: hidden state of shape"):
        mm(md.tensor(rand(3, 5)), (md.zeros(2, 4), md.zeros(2, 4)))


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 3), st.integers(1, 2),
       st.integers(0, 1))
def test_conv1d_pool1d_gradcheck(n, c, length, k, stride, pad):
    length = max(length, k)
    x = RNG.standard_normal((n, c, length))
    assert_gradcheck(lambda a, w, b: F.conv1d(a, w, b, stride, min(pad, k // 2)), x,
                     RNG.standard_normal((2, c, k)), RNG.standard_normal(2))
    assert_gradcheck(lambda a: F.avg_pool1d(a, k, stride, min(pad, k // 2)), x)
    assert_gradcheck(lambda a: F.adaptive_avg_pool1d(a, max(1, length // 2)), x)


@SETTINGS
@given(st.integers(1, 3), st.sampled_from([(2, 4), (3, 3), (1, 2)]), st.integers(2, 4), st.integers(2, 4))
def test_norm_gradcheck(n, groups_channels, h, w):
    g, c = groups_channels
    x = RNG.standard_normal((n, c, h, w))
    assert_gradcheck(lambda a, wt, b: F.group_norm(a, g, wt, b), x, RNG.standard_normal(c), RNG.standard_normal(c))
    assert_gradcheck(lambda a, wt, b: F.instance_norm(a, weight=wt, bias=b), x, RNG.standard_normal(c),
                     RNG.standard_normal(c))
    assert_gradcheck(lambda a: F.adaptive_avg_pool2d(a, (max(1, h - 1), 2)), x)


@pytest.mark.parametrize("cls,shape", [("Dropout1d", (40, 30, 5)), ("Dropout2d", (40, 30, 3, 3)),
                                       ("Dropout2d", (30, 4, 4))])
def test_channel_dropout(cls, shape):
    md.manual_seed(0)
    layer = getattr(md.nn, cls)(0.25)
    y = layer(md.ones(*shape)).numpy()
    per_channel = y.reshape(shape[:2] + (-1,))     # PyTorch's rule: dims 0 and 1 (a 3-D Dropout2d input is N, C, L)
    assert set(np.unique(per_channel).tolist()) <= {0.0, np.float32(1 / 0.75).item()}
    assert np.all(per_channel.min(-1) == per_channel.max(-1))       # whole channels kept or dropped
    assert 0.15 < (per_channel[..., 0] == 0).mean() < 0.35
    assert np.all(layer.eval()(md.ones(*shape)).numpy() == 1)
    assert repr(layer) == repr(getattr(torch.nn, cls)(0.25))
    with pytest.raises(ValueError, match=f"{cls.lower()}: expected"):
        getattr(F, cls.lower())(md.ones(5), 0.5)


def test_more_layer_errors():
    with pytest.raises(ValueError, match="GroupNorm: num_groups=4 must divide num_channels=6"):
        md.nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"Conv1d\(3, 2\): expected input"):
        md.nn.Conv1d(3, 2, 2)(md.zeros(1, 4, 5))
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: expected"):
        F.adaptive_avg_pool2d(md.zeros(4, 5), 2)
    with pytest.warns(UserWarning, match="num_features is unused"):
        md.nn.InstanceNorm2d(3)(md.zeros(1, 4, 2, 2))
    with pytest.raises(ValueError, match="glu: dim -1 of input of shape"):
        F.glu(md.zeros(2, 3))
    with pytest.raises(ValueError, match="InstanceNorm1d: expected a 2-D"):
        md.nn.InstanceNorm1d(3)(md.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="RNNCell: nonlinearity"):
        md.nn.RNNCell(2, 2, nonlinearity="gelu")


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_torch(bias):
    tm, mm = torch.nn.Bilinear(3, 4, 5, bias=bias).double(), md.nn.Bilinear(3, 4, 5, bias=bias).double()
    assert list(mm.state_dict()) == list(tm.state_dict()) and repr(mm) == repr(tm)
    mm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    w = {n: p.detach().numpy() for n, p in tm.named_parameters()}
    run_both(lambda a, b: mm(a, b), lambda a, b: tm(a, b), rand(2, 6, 3), rand(2, 6, 4))
    assert_gradcheck(lambda a, b, wt: F.bilinear(a, b, wt), rand(4, 3), rand(4, 4), w["weight"])
    with pytest.raises(ValueError, match="bilinear: inputs of shapes"):
        mm(md.zeros(2, 3), md.zeros(2, 3))


# --- whole programs: the same small models trained in both frameworks ------------------------------------------
def super_resolution(nn):
    """The sub-pixel convolution model of PyTorch's super-resolution example, shrunk."""
    return nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.Tanh(), nn.Conv2d(8, 4, 3, padding=1), nn.PReLU(),
                         nn.Conv2d(4, 4, 3, padding=1), nn.PixelShuffle(2))


def sequence_cnn(nn):
    """A 1-D CNN classifier as used on audio/text: Conv1d, GroupNorm, SiLU, pooling, dropout-free head."""
    return nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.GroupNorm(2, 8), nn.SiLU(), nn.MaxPool1d(2),
                         nn.Conv1d(8, 8, 3, padding=1), nn.Mish(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                         nn.Linear(8, 4))


@pytest.mark.parametrize("build,shape,loss", [(super_resolution, (2, 1, 6, 6), "SmoothL1Loss"),
                                              (sequence_cnn, (4, 3, 16), "HuberLoss")])
def test_training_matches_torch(build, shape, loss):
    torch.manual_seed(0)
    tm, mm = build(torch.nn).double(), build(md.nn).double()
    mm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rand(*shape)
    y = rand(*tm(torch.tensor(x)).shape)
    topt, mopt = torch.optim.SGD(tm.parameters(), lr=0.1), md.optim.SGD(mm.parameters(), lr=0.1)
    tloss, mloss = getattr(torch.nn, loss)(), getattr(md.nn, loss)()
    losses = []
    for _ in range(5):
        for opt, net, crit, fw in ((topt, tm, tloss, torch), (mopt, mm, mloss, md)):
            opt.zero_grad()
            value = crit(net(fw.tensor(x)), fw.tensor(y))
            value.backward()
            opt.step()
            losses.append(value.item())
    np.testing.assert_allclose(losses[1::2], losses[0::2], rtol=1e-9)
    assert losses[-1] < losses[0]


def grad_cam_maps(nn, fw, state, x):
    """Grad-CAM as public programs write it: forward and full backward hooks on the last conv layer, weights from
    the pooled gradients."""
    net = small_cnn(nn)
    net.load_state_dict({k: fw.tensor(v) for k, v in state.items()})
    store = {}
    target = net.get_submodule("features.0")
    h1 = target.register_forward_hook(lambda m, args, out: store.update(act=out))
    h2 = target.register_full_backward_hook(lambda m, gin, gout: store.update(grad=gout[0], gin=gin[0]))
    scores = net(fw.tensor(x, requires_grad=True))
    scores[:, 3].sum().backward()
    h1.remove()
    h2.remove()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    cam = (weights * store["act"]).sum(dim=1).relu()
    return cam.detach(), store["gin"]


def test_full_backward_hook_grad_cam_matches_torch():
    state = {k: v.detach().numpy() for k, v in small_cnn(torch.nn).state_dict().items()}
    x = rand(2, 1, 8, 8).astype(np.float32)
    cam_m, gin_m = grad_cam_maps(md.nn, md, state, x)
    cam_t, gin_t = grad_cam_maps(torch.nn, torch, state, x)
    close(cam_m, cam_t, 1e-4, 1e-6, "grad-cam map")
    close(gin_m, gin_t, 1e-4, 1e-6, "grad_input")


def test_full_backward_hook_replaces_input_gradients_as_torch():
    results = []
    for nn, fw in ((md.nn, md), (torch.nn, torch)):
        lin = nn.Linear(3, 2)
        with fw.no_grad():
            lin.weight.fill_(0.5)
        seen = []
        lin.register_full_backward_hook(lambda m, gin, gout: (gin[0] * 0 + 7,))
        lin.register_full_backward_hook(lambda m, gin, gout, seen=seen: seen.append(gin[0].tolist()))
        x = fw.ones(2, 3, requires_grad=True)
        lin(x).sum().backward()
        results.append((x.grad.tolist(), seen))
    assert results[0] == results[1]
    with pytest.raises(NotImplementedError, match="use register_full_backward_hook"):
        md.nn.Linear(2, 2).register_backward_hook(lambda *a: None)
