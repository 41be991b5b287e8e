"""Layers of ``md.nn`` against PyTorch: PyTorch's weights are copied in through ``load_state_dict`` of NumPy
arrays, then outputs, input gradients, parameter gradients and buffers must agree (float64 tightly, float32 to
its precision), in train and eval mode where they differ. Also: state_dict keys and shapes equal PyTorch's for
every layer, repr, clear errors, and a float64 gradcheck of ``F.conv_transpose2d``.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_helpers import PRECISIONS, compare_module

import minidl as md
from minidl.nn import functional as F
from minidl.testing import assert_gradcheck

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape)


# name -> (minidl factory, torch factory, input shape); both factories receive the module namespace (md.nn / torch.nn)
LAYERS = {
    "Linear": (lambda nn: nn.Linear(5, 3), (4, 5)),
    "Linear-nobias": (lambda nn: nn.Linear(5, 3, bias=False), (2, 7, 5)),
    "Conv2d": (lambda nn: nn.Conv2d(4, 6, 3, stride=2, padding=1), (2, 4, 7, 6)),
    "Conv2d-groups-dilation": (lambda nn: nn.Conv2d(4, 6, (3, 2), dilation=(2, 1), groups=2, bias=False),
                               (2, 4, 8, 5)),
    "Conv2d-same": (lambda nn: nn.Conv2d(3, 2, 4, padding="same"), (1, 3, 6, 5)),
    "Conv2d-valid": (lambda nn: nn.Conv2d(3, 2, 2, padding="valid"), (3, 5, 5)),
    "ConvTranspose2d": (lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (2, 4, 5, 6)),
    "ConvTranspose2d-groups": (lambda nn: nn.ConvTranspose2d(4, 6, (3, 2), stride=(3, 2), padding=(2, 1),
                                                             output_padding=(1, 0), groups=2, dilation=2),
                               (2, 4, 4, 5)),
    "ConvTranspose2d-op-ge-stride": (lambda nn: nn.ConvTranspose2d(2, 3, 3, output_padding=2, dilation=3,
                                                                   bias=False), (1, 2, 4, 4)),
    "MaxPool2d": (lambda nn: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 3, 7, 6)),
    "AvgPool2d": (lambda nn: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 3, 7, 6)),
    "AvgPool2d-divisor": (lambda nn: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, divisor_override=4),
                          (2, 3, 7, 6)),
    "LayerNorm": (lambda nn: nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
    "LayerNorm-noaffine": (lambda nn: nn.LayerNorm(4, elementwise_affine=False), (2, 4)),
    "Flatten": (lambda nn: nn.Flatten(), (2, 3, 4, 5)),
    "Flatten-range": (lambda nn: nn.Flatten(0, 1), (2, 3, 4)),
    "Unflatten": (lambda nn: nn.Unflatten(1, (2, -1)), (3, 8, 2)),
    "Identity": (lambda nn: nn.Identity(54, unused=1), (2, 3)),
    "ReLU": (lambda nn: nn.ReLU(), (3, 4)),
    "LeakyReLU": (lambda nn: nn.LeakyReLU(0.2), (3, 4)),
    "Sigmoid": (lambda nn: nn.Sigmoid(), (3, 4)),
    "Tanh": (lambda nn: nn.Tanh(), (3, 4)),
    "GELU": (lambda nn: nn.GELU(), (3, 4)),
    "GELU-tanh": (lambda nn: nn.GELU(approximate="tanh"), (3, 4)),
    "Softmax": (lambda nn: nn.Softmax(dim=1), (3, 4, 2)),
    "LogSoftmax": (lambda nn: nn.LogSoftmax(dim=-1), (3, 4)),
    "Upsample-nearest": (lambda nn: nn.Upsample(scale_factor=2), (2, 3, 3, 4)),
    "Upsample-nearest-size": (lambda nn: nn.Upsample(size=(7, 3)), (2, 3, 3, 4)),
    "Upsample-nearest-1d": (lambda nn: nn.Upsample(scale_factor=1.7), (2, 3, 7)),
    "Upsample-bilinear": (lambda nn: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 3, 4)),
    "Upsample-bilinear-ac": (lambda nn: nn.Upsample(size=(5, 9), mode="bilinear", align_corners=True),
                             (2, 3, 3, 4)),
    "Upsample-bilinear-frac": (lambda nn: nn.Upsample(scale_factor=(1.5, 0.6), mode="bilinear"), (1, 2, 4, 5)),
    "Upsample-linear": (lambda nn: nn.Upsample(scale_factor=2.5, mode="linear"), (2, 3, 4)),
    "Sequential": (lambda nn: nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                            nn.Linear(4 * 2 * 2, 3)), (2, 2, 6, 6)),
}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("dtype,rtol,atol", PRECISIONS, ids=["float64", "float32"])
def test_layer_matches_torch(torch, name, dtype, rtol, atol):
    make, shape = LAYERS[name]
    torch.manual_seed(0)
    compare_module(torch, make(md.nn), make(torch.nn), rand(*shape), dtype, rtol, atol)


@pytest.mark.parametrize("name", list(LAYERS) + ["BatchNorm1d", "BatchNorm2d", "Embedding", "LSTM", "GRU", "RNN"])
def test_state_dict_keys_and_shapes_match_torch(torch, name):
    extra = {"BatchNorm1d": lambda nn: nn.BatchNorm1d(3), "BatchNorm2d": lambda nn: nn.BatchNorm2d(3, affine=False),
             "Embedding": lambda nn: nn.Embedding(5, 2), "LSTM": lambda nn: nn.LSTM(3, 4, 2, bidirectional=True),
             "GRU": lambda nn: nn.GRU(3, 4, bias=False), "RNN": lambda nn: nn.RNN(3, 4, 3)}
    make = extra[name] if name in extra else LAYERS[name][0]
    got = {k: tuple(v.shape) for k, v in make(md.nn).state_dict().items()}
    want = {k: tuple(v.shape) for k, v in make(torch.nn).state_dict().items()}
    assert list(got.items()) == list(want.items())


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 2, 5))])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("dtype,rtol,atol", PRECISIONS, ids=["float64", "float32"])
def test_batchnorm_train_then_eval(torch, cls, shape, momentum, dtype, rtol, atol):
    mm, tm = getattr(md.nn, cls)(3, momentum=momentum), getattr(torch.nn, cls)(3, momentum=momentum)
    with torch.no_grad():                       # non-trivial affine parameters
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-1, 1)
    for step in range(3):     # compare_module reloads torch's state (incl. running stats) each time: both advance
        compare_module(torch, mm, tm, rand(*shape) * 2 + 1, dtype, rtol, atol, seed=step)
    assert mm.num_batches_tracked.item() == 3 and mm.num_batches_tracked.dtype == md.int64
    compare_module(torch, mm, tm, rand(*shape), dtype, rtol, atol, train=False)
    assert mm.num_batches_tracked.item() == 3


@pytest.mark.parametrize("kw", [dict(affine=False), dict(track_running_stats=False), dict(momentum=0.5)])
def test_batchnorm_options(torch, kw):
    mm, tm = md.nn.BatchNorm2d(2, **kw), torch.nn.BatchNorm2d(2, **kw)
    compare_module(torch, mm, tm, rand(3, 2, 3, 3))
    compare_module(torch, mm, tm, rand(3, 2, 3, 3), train=False)


def test_batchnorm_running_stats_accumulate_over_batches(torch):
    """Without reloading: minidl's own running statistics track PyTorch's over several batches (momentum=None)."""
    mm, tm = md.nn.BatchNorm1d(3, momentum=None).double(), torch.nn.BatchNorm1d(3, momentum=None).double()
    for _ in range(4):
        x = rand(5, 3) * 3 + 2
        mm(md.tensor(x))
        tm(torch.tensor(x))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(mm, name).numpy(), getattr(tm, name).numpy(), rtol=1e-12, err_msg=name)


def test_batchnorm_bad_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D input .*\(2, 3\)"):
        md.nn.BatchNorm2d(3)(md.randn(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): input of shape \(2, 3\) has 3 channels"):
        md.nn.BatchNorm1d(4)(md.randn(2, 3))


@pytest.mark.parametrize("padding_idx", [None, 1, -1])
@pytest.mark.parametrize("dtype,rtol,atol", PRECISIONS, ids=["float64", "float32"])
def test_embedding_matches_torch(torch, padding_idx, dtype, rtol, atol):
    mm = md.nn.Embedding(5, 3, padding_idx=padding_idx)
    tm = torch.nn.Embedding(5, 3, padding_idx=padding_idx)
    idx = np.array([[0, 1, 4, 1], [2, 4, 4, 3]])
    compare_module(torch, mm, tm, idx, dtype, rtol, atol)
    if padding_idx is not None:
        assert not np.any(mm.weight.grad.numpy()[padding_idx])
        fresh = md.nn.Embedding(5, 3, padding_idx=padding_idx)
        assert not np.any(fresh.weight.numpy()[padding_idx]), "the padding row is initialized to zeros"


def test_embedding_max_norm(torch):
    mm, tm = md.nn.Embedding(6, 4, max_norm=1.0), torch.nn.Embedding(6, 4, max_norm=1.0)
    compare_module(torch, mm, tm, np.array([0, 2, 2, 5]))
    np.testing.assert_allclose(mm.weight.numpy(), tm.weight.detach().numpy(), rtol=1e-6)


def test_embedding_bad_index():
    with pytest.raises(IndexError, match=r"out of range for weight of shape \(5, 3\)"):
        md.nn.Embedding(5, 3)(md.tensor([5]))


def test_dropout_eval_is_identity_and_train_scales():
    drop = md.nn.Dropout(0.3)
    x = md.ones(200, 500)
    assert drop.eval()(x) is x
    md.manual_seed(1)
    y = drop.train()(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)     # survivors scaled by 1/(1-p)
    frac = 1 - kept.mean()
    sd = np.sqrt(0.3 * 0.7 / y.size)
    assert abs(frac - 0.3) < 6 * sd, f"dropped fraction {frac} is not 0.3 within 6 sd"
    assert abs(y.mean() - 1) < 6 * sd / 0.7, "dropout must keep the mean"


def test_dropout_seeded_and_gradient():
    md.manual_seed(3)
    x = md.ones(4, 5, requires_grad=True)
    y = md.nn.Dropout(0.5)(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())   # grad is the same mask * scale


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss"])
def test_loss_modules_match_torch(torch, loss, reduction):
    kw = {"reduction": reduction}
    if loss == "CrossEntropyLoss":
        kw.update(weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1)
    if loss == "BCEWithLogitsLoss":
        kw["pos_weight"] = np.array([1.5, 0.5, 2.0])
    mk = {k: md.tensor(v, dtype=md.float64) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    tk = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    mm, tm = getattr(md.nn, loss)(**mk), getattr(torch.nn, loss)(**tk)
    x = rand(4, 3)
    if loss in ("CrossEntropyLoss", "NLLLoss"):
        t = np.array([0, 2, 1, 2])
        x = x if loss == "CrossEntropyLoss" else np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True))
    elif loss == "BCELoss":
        x, t = 1 / (1 + np.exp(-x)), RNG.uniform(size=(4, 3))
    else:
        t = RNG.uniform(size=(4, 3))
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = mm(xm, md.tensor(t)), tm(xt, torch.tensor(t))
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-10)
    ym.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert list(mm.state_dict()) == list(tm.state_dict())


def test_loss_legacy_reduction_and_bad_reduction():
    assert md.nn.MSELoss(size_average=False).reduction == "sum"
    assert md.nn.MSELoss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="MSELoss: reduction must be"):
        md.nn.MSELoss(reduction="avg")


@settings(deadline=None, max_examples=15)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.integers(1, 2),
       st.integers(1, 4), st.integers(1, 4), st.booleans())
def test_conv_transpose2d_geometries(torch, stride, k, padding, dilation, groups, h, w, bias):
    """Hypothesis-drawn geometries against PyTorch (output_padding drawn within its allowed range)."""
    padding = min(padding, dilation * (k - 1) // 2)     # keep the output non-empty for 1x1 inputs
    op = (stride * 7 + k) % max(stride, dilation)
    cin, cout = 2 * groups, 3 * groups
    x, wt = rand(2, cin, h, w), rand(cin, cout // groups, k, k)
    b = rand(cout) if bias else None
    args = dict(stride=stride, padding=padding, output_padding=op, groups=groups, dilation=dilation)
    th = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(wt), None if b is None else
                                              torch.tensor(b), **args)
    got = F.conv_transpose2d(md.tensor(x), md.tensor(wt), None if b is None else md.tensor(b), **args)
    np.testing.assert_allclose(got.numpy(), th.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, output_padding=1), dict(stride=1, padding=0, groups=2),
                                dict(stride=2, dilation=2, output_padding=1)])
def test_conv_transpose2d_gradcheck(kw):
    x, w, b = rand(1, 2, 3, 3), rand(2, 2, 2, 3) * 0.5, rand(4 if kw.get("groups") else 2)
    assert_gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), x, w, b)


def test_conv_transpose2d_output_size(torch):
    x, w = rand(1, 2, 5, 5), rand(2, 3, 3, 3)
    m = md.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    assert m(md.tensor(x, dtype=md.float32), output_size=(10, 9)).shape == (1, 3, 10, 9)
    with pytest.raises(ValueError, match=r"output_size \(12, 9\) is not reachable"):
        F.conv_transpose2d(md.tensor(x), md.tensor(w), stride=2, padding=1, output_size=(12, 9))
    with pytest.raises(ValueError, match="output_padding .* must be smaller than either stride"):
        md.nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=2)


def test_layer_input_errors_name_layer_and_shape():
    with pytest.raises(ValueError, match=r"Linear\(in_features=4\): input of shape \(2, 3\)"):
        md.nn.Linear(4, 2)(md.randn(2, 3))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 4\): input of shape \(1, 2, 5, 5\) has 2 channels"):
        md.nn.Conv2d(3, 4, 3)(md.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"Conv2d: expected a 3-D .* got shape \(5, 5\)"):
        md.nn.Conv2d(3, 4, 3)(md.randn(5, 5))
    with pytest.raises(ValueError, match=r"MaxPool2d: expected .* got shape \(2, 3\)"):
        md.nn.MaxPool2d(2)(md.randn(2, 3))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4,\)\): input of shape \(2, 3\)"):
        md.nn.LayerNorm(4)(md.randn(2, 3))
    with pytest.raises(ValueError, match="groups=3 must divide"):
        md.nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        md.nn.Conv2d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"interpolate: mode 'bilinear' expects a 4-D input .* \(2, 3, 4\)"):
        md.nn.Upsample(scale_factor=2, mode="bilinear")(md.randn(2, 3, 4))
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        md.nn.Upsample()
    with pytest.raises(ValueError, match=r"Unflatten: cannot split dim 1 of size 7"):
        md.nn.Unflatten(1, (2, 3))(md.randn(2, 7))


def test_reprs_match_torch(torch):
    def build(nn):
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.ConvTranspose2d(8, 4, 2, stride=2, bias=False), nn.Flatten(), nn.Dropout(0.25),
                             nn.Linear(16, 10), nn.LeakyReLU(0.1), nn.LayerNorm(10), nn.Softmax(dim=1),
                             nn.Upsample(scale_factor=2.0, mode="bilinear"), nn.Embedding(10, 3, padding_idx=0),
                             nn.GELU(), nn.Sequential(nn.Tanh(), nn.Sigmoid()), nn.Identity(),
                             nn.LSTM(3, 4, num_layers=2, batch_first=True), nn.AvgPool2d(2))
    assert repr(build(md.nn)) == repr(build(torch.nn))


def test_parameter_repr():
    assert repr(md.nn.Parameter(md.zeros(2))).startswith("Parameter containing:\ntensor([0., 0.]")
