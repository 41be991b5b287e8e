"""Padding layers, shrink/threshold activations, in-place functional activations, pairwise distances and the
margin/embedding/likelihood losses: values and gradients against PyTorch's modules, float64 gradchecks."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

torch = pytest.importorskip("torch")
R = np.random.default_rng(0)


def _compare(mine, theirs, arrays, tol=1e-10, grads=None):
    """Run both modules on the same float64 inputs; compare outputs and the gradients of inputs ``grads``
    (indices; default: every float input)."""
    grads = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"] if grads is None else grads
    m_in = [md.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    t_in = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    ym, yt = mine(*m_in), theirs(*t_in)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    w = R.standard_normal(tuple(yt.shape))
    (ym * md.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    for a, b in zip(m_in, t_in):
        if b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,args,shape", [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad2d", ((1, 0, 2, 1),), (2, 3, 4, 4)), ("ZeroPad3d", (1,), (1, 2, 3, 3, 3)),
    ("ConstantPad1d", ((1, 2), 3.5), (3, 5)), ("ConstantPad2d", (1, -1.0), (2, 3, 4, 4)),
    ("ConstantPad3d", ((1, 0, 0, 1, 1, 0), 2.0), (1, 2, 3, 3, 3)), ("ReflectionPad1d", ((2, 1),), (2, 3, 5)),
    ("ReflectionPad2d", (2,), (2, 3, 4, 4)), ("ReflectionPad2d", ((1, 2, 0, 3),), (3, 4, 5)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 3, 3)), ("ReplicationPad1d", (3,), (2, 3, 5)),
    ("ReplicationPad2d", ((1, 2, 3, 0),), (2, 3, 4, 4)), ("ReplicationPad3d", (1,), (1, 2, 3, 3, 3)),
    ("CircularPad1d", (2,), (2, 3, 5)), ("CircularPad2d", ((1, 1, 2, 0),), (2, 3, 4, 4)),
])
def test_padding_layers_match_pytorch(name, args, shape):
    mine, theirs = getattr(md.nn, name)(*args), getattr(torch.nn, name)(*args)
    _compare(mine, theirs, [R.standard_normal(shape)])
    assert repr(mine) == repr(theirs)


ACTIVATIONS = [("Softmin", (1,)), ("Softmax2d", ()), ("Softsign", ()), ("Tanhshrink", ()), ("Threshold", (0.1, -2.0)),
               ("Hardshrink", (0.3,)), ("Softshrink", (0.4,)), ("CELU", (0.7,)), ("RReLU", (0.1, 0.3))]


@pytest.mark.parametrize("name,args", ACTIVATIONS)
def test_activations_match_pytorch(name, args):
    mine, theirs = getattr(md.nn, name)(*args), getattr(torch.nn, name)(*args)
    mine.eval()
    theirs.eval()                       # RReLU's slope is random only while training
    # PyTorch's CELU gradient is off by up to 1e-8 in float64 (minidl's is exact: exp(x / alpha))
    _compare(mine, theirs, [R.standard_normal((2, 3, 4, 4))], 1e-7 if name == "CELU" else 1e-10)
    assert repr(mine) == repr(theirs)


def test_rrelu_draws_slopes_in_its_range_while_training():
    md.manual_seed(0)
    x = -md.ones(10000)
    y = md.nn.RReLU(0.1, 0.3)(x)
    assert -0.3 <= y.min().item() and y.max().item() <= -0.1 and abs(y.mean().item() + 0.2) < 0.01


@pytest.mark.parametrize("name,args", [("relu_", ()), ("elu_", (0.5,)), ("selu_", ()), ("celu_", (2.0,)),
                                       ("leaky_relu_", (0.2,)), ("hardtanh_", (-0.5, 0.5)), ("threshold_", (0.2, 9.0))])
def test_in_place_functional_activations_write_into_their_input_and_record(name, args):
    a = R.standard_normal((3, 4))
    xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ym, yt = xm * 1.5, xt * 1.5
    assert getattr(md.nn.functional, name)(ym, *args) is ym
    getattr(torch.nn.functional, name)(yt, *args)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    (ym * ym).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10)


def _labels(n, classes):
    return R.integers(0, classes, n)


def _signs(*shape):
    return R.choice([-1.0, 1.0], shape)


LOSSES = [
    ("PairwiseDistance", {}, lambda: [R.standard_normal((4, 5)), R.standard_normal((4, 5))]),
    ("PairwiseDistance", {"p": 1.0, "keepdim": True}, lambda: [R.standard_normal((4, 5)), R.standard_normal((4, 5))]),
    ("MarginRankingLoss", {"margin": 0.3}, lambda: [R.standard_normal(6), R.standard_normal(6), _signs(6)]),
    ("HingeEmbeddingLoss", {"margin": 0.8}, lambda: [np.abs(R.standard_normal((3, 4))), _signs(3, 4)]),
    ("SoftMarginLoss", {"reduction": "sum"}, lambda: [R.standard_normal((3, 4)), _signs(3, 4)]),
    ("MultiLabelSoftMarginLoss", {"weight": np.linspace(0.5, 2, 5)},
     lambda: [R.standard_normal((3, 5)), R.integers(0, 2, (3, 5)).astype(float)]),
    ("CosineEmbeddingLoss", {"margin": 0.1}, lambda: [R.standard_normal((4, 5)), R.standard_normal((4, 5)),
                                                     _signs(4)]),
    ("MultiMarginLoss", {}, lambda: [R.standard_normal((4, 5)), _labels(4, 5)]),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": np.linspace(0.5, 2, 5), "reduction": "none"},
     lambda: [R.standard_normal((4, 5)), _labels(4, 5)]),
    ("TripletMarginLoss", {"margin": 0.5}, lambda: [R.standard_normal((4, 5)) for _ in range(3)]),
    ("TripletMarginLoss", {"p": 1.0, "swap": True, "reduction": "none"},
     lambda: [R.standard_normal((4, 5)) for _ in range(3)]),
    ("PoissonNLLLoss", {}, lambda: [R.standard_normal((3, 4)), R.poisson(2.0, (3, 4)).astype(float)]),
    ("PoissonNLLLoss", {"log_input": False, "full": True},
     lambda: [R.uniform(0.5, 3, (3, 4)), R.poisson(2.0, (3, 4)).astype(float)]),
    ("GaussianNLLLoss", {}, lambda: [R.standard_normal((3, 4)), R.standard_normal((3, 4)), R.uniform(0.5, 2, (3, 4))]),
    ("GaussianNLLLoss", {"full": True, "reduction": "sum"},
     lambda: [R.standard_normal((3, 4)), R.standard_normal((3, 4)), R.uniform(0.5, 2, (3, 1))]),
]


@pytest.mark.parametrize("name,kw,make", LOSSES)
def test_distances_and_losses_match_pytorch(name, kw, make):
    arrays = make()
    grads = {"PairwiseDistance": (0, 1), "MarginRankingLoss": (0, 1), "CosineEmbeddingLoss": (0, 1),
             "TripletMarginLoss": (0, 1, 2), "GaussianNLLLoss": (0, 2)}.get(name, (0,))
    kw_m = {k: md.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    kw_t = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    _compare(getattr(md.nn, name)(**kw_m), getattr(torch.nn, name)(**kw_t), arrays, grads=grads)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["softsign", "tanhshrink", "celu", "softmin", "pairwise_distance", "soft_margin_loss",
                             "cosine_embedding_loss", "triplet_margin_loss", "gaussian_nll_loss"]),
       rows=st.integers(1, 4), cols=st.integers(2, 5), seed=st.integers(0, 2**16))
def test_gradcheck(name, rows, cols, seed):
    rng = np.random.default_rng(seed)
    F = md.nn.functional
    x, y = rng.standard_normal((rows, cols)), rng.standard_normal((rows, cols))
    sign = md.tensor(rng.choice([-1.0, 1.0], rows))
    fns = {"softsign": lambda a, b: F.softsign(a), "tanhshrink": lambda a, b: F.tanhshrink(a),
           "celu": lambda a, b: F.celu(a, 0.5), "softmin": lambda a, b: F.softmin(a, dim=1),
           "pairwise_distance": F.pairwise_distance, "soft_margin_loss": lambda a, b: F.soft_margin_loss(a, b),
           "cosine_embedding_loss": lambda a, b: F.cosine_embedding_loss(a, b, sign, 0.1),
           "triplet_margin_loss": lambda a, b: F.triplet_margin_loss(a, b, a * 0.5 - b, margin=2.0),
           "gaussian_nll_loss": lambda a, b: F.gaussian_nll_loss(a, b * 0, b * b + 0.5)}
    assert_gradcheck(fns[name], x, y)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be an int or 4 ints, got \(1, 2\)"):
        md.nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match=r"ZeroPad2d: expected a 3-d or 4-d input, got shape \(5,\)"):
        md.nn.ZeroPad2d(1)(md.ones(5))
    with pytest.raises(ValueError, match="multi_margin_loss: p must be 1 or 2"):
        md.nn.functional.multi_margin_loss(md.ones(2, 3), md.tensor([0, 1]), p=3)
    with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative entries"):
        md.nn.functional.gaussian_nll_loss(md.ones(2), md.ones(2), -md.ones(2))


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": (2, 3), "stride": 2, "padding": 1},
                                {"kernel_size": 3, "dilation": 2, "padding": (1, 2), "stride": (1, 2)}])
def test_unfold_and_fold_match_pytorch(kw):
    x = R.standard_normal((2, 3, 7, 8))
    _compare(md.nn.Unfold(**kw), torch.nn.Unfold(**kw), [x])
    cols = torch.nn.Unfold(**kw)(torch.tensor(x)).numpy()
    _compare(md.nn.Fold((7, 8), **kw), torch.nn.Fold((7, 8), **kw), [cols])
    assert_gradcheck(lambda t: md.nn.functional.unfold(t, **kw), x[:1, :2])


@pytest.mark.parametrize("name,size,shape", [("AdaptiveMaxPool2d", (2, 3), (2, 3, 7, 8)),
                                             ("AdaptiveMaxPool2d", 1, (3, 5, 5)),
                                             ("AdaptiveMaxPool2d", (None, 2), (1, 2, 4, 5)),
                                             ("AdaptiveMaxPool1d", 3, (2, 3, 7))])
def test_adaptive_max_pooling_matches_pytorch(name, size, shape):
    x = R.standard_normal(shape)
    _compare(getattr(md.nn, name)(size), getattr(torch.nn, name)(size), [x])
    vm, im = getattr(md.nn, name)(size, return_indices=True)(md.tensor(x))
    vt, it = getattr(torch.nn, name)(size, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(im.numpy(), it.numpy())


def test_norms_upsampling_and_transposed_conv1d_match_pytorch():
    x = R.standard_normal((2, 6, 5, 4))
    _compare(md.nn.LocalResponseNorm(3, alpha=0.1, beta=0.5, k=2.0), torch.nn.LocalResponseNorm(3, 0.1, 0.5, 2.0), [x])
    _compare(md.nn.LocalResponseNorm(4), torch.nn.LocalResponseNorm(4), [R.standard_normal((2, 6, 5))])
    for args in ((4,), ((5, 4), 1e-3)):
        mine, theirs = md.nn.RMSNorm(*args), torch.nn.RMSNorm(*args)
        assert repr(mine) == repr(theirs)
        _compare(mine, theirs, [x])
    _compare(md.nn.UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2), [x])
    _compare(md.nn.UpsamplingBilinear2d(size=(7, 9)), torch.nn.UpsamplingBilinear2d(size=(7, 9)), [x])
    theirs = torch.nn.ConvTranspose1d(6, 4, 3, stride=2, padding=1, output_padding=1).double()
    mine = md.nn.ConvTranspose1d(6, 4, 3, stride=2, padding=1, output_padding=1, dtype=md.float64)
    mine.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    assert repr(mine) == repr(theirs)
    _compare(mine, theirs, [R.standard_normal((2, 6, 5))])


def test_gumbel_softmax_samples_are_distributions_and_hard_ones_are_one_hot():
    md.manual_seed(0)
    logits = md.tensor(np.log([[0.7, 0.2, 0.1]]).repeat(4000, 0), requires_grad=True)
    soft = md.nn.functional.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), 1.0, rtol=1e-6)
    hard = md.nn.functional.gumbel_softmax(logits, tau=0.5, hard=True)
    assert set(np.unique(hard.detach().numpy())) == {0.0, 1.0}
    np.testing.assert_allclose(hard.detach().numpy().mean(0), [0.7, 0.2, 0.1], atol=0.03)
    (hard * md.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0
