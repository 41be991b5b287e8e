"""Tests of ``md.nn.functional`` (F): layers and losses with autograd, against PyTorch.

For every function:
- forward values and the gradients of every differentiable input equal PyTorch's for the same inputs, in
  float64 (tight tolerances) and float32 (loose ones), on hypothesis-drawn shapes and geometries
  (``minidl.testing.conv2d_geometries`` / ``pool2d_geometries`` for convolution and pooling);
- a float64 ``md.autograd.gradcheck`` on small inputs (never skipped: it needs no PyTorch);
- bad input raises a clear exception naming the op and the offending shape, printed as a Python tuple.

Comparisons against PyTorch are skipped, with a reason, where it is not installed.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.nn import functional as F
from minidl.testing import conv2d_geometries, pool2d_geometries

SEEDS = st.integers(0, 2**32 - 1)


def examples(n):
    """``@settings`` with ``n`` examples under the default "ci" profile (30 examples), scaled with the active
    hypothesis profile: HYPOTHESIS_PROFILE=dev runs a third, =thorough ten times as many."""
    return settings(deadline=None, max_examples=max(1, round(n * settings.default.max_examples / 30)))

# (dtype, rtol, atol): float64 must agree to rounding; float32 to its precision
PRECISIONS = ((np.float64, 1e-7, 1e-9), (np.float32, 1e-4, 1e-5))


@pytest.fixture(scope="module")
def torch():
    """PyTorch, or a skip with a reason for the comparisons (gradchecks run regardless)."""
    return pytest.importorskip("torch", reason="PyTorch is not installed: comparisons against it are skipped")


@pytest.fixture(scope="module")
def TF(torch):  # torch.nn.functional, spelled as PyTorch users do
    return torch.nn.functional


# --- helpers --------------------------------------------------------------------------------------------------------
def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _cast(a, dtype):
    return a.astype(dtype) if a is not None and a.dtype.kind == "f" else a


def _compare(got, want, rtol, atol, label):
    """A minidl Tensor against a torch tensor: same shape, same dtype, close values (NaN where torch has NaN)."""
    assert isinstance(got, md.Tensor), f"{label}: got {type(got).__name__}, expected a minidl Tensor"
    want = want.detach().numpy()
    got_np = np.asarray(got.numpy())
    assert tuple(got.shape) == want.shape, f"{label}: shape {tuple(got.shape)}, torch gives {want.shape}"
    assert got_np.dtype == want.dtype, f"{label}: dtype {got_np.dtype}, torch gives {want.dtype}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got_np, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)
    else:
        np.testing.assert_array_equal(got_np, want, err_msg=label)


def run_both(torch, md_fn, th_fn, arrays, grads=(), *, dtype=np.float64, rtol=1e-7, atol=1e-9, seed=0,
             what="", mutable=()):
    """Call ``md_fn`` and ``th_fn`` on equal copies of ``arrays`` (floating ones cast to ``dtype``; None passes
    through) and compare every output; then back-propagate the same random upstream gradient through both and
    compare the gradients of the inputs listed in ``grads``. Inputs other than ``mutable`` must not change.

    Returns the minidl and torch inputs (for checking in-place updates of the ``mutable`` ones).
    """
    arrays = [_cast(a, dtype) for a in arrays]
    md_in = [None if a is None else md.from_numpy(a.copy()) for a in arrays]    # from_numpy: shares, so writes show
    th_in = [None if a is None else torch.from_numpy(a.copy()) for a in arrays]
    for i in grads:
        md_in[i].requires_grad_()
        th_in[i].requires_grad_()
    label = f"{what} in {np.dtype(dtype).name}"
    got, want = _as_list(md_fn(*md_in)), _as_list(th_fn(*th_in))
    assert len(got) == len(want), f"{label}: {len(got)} outputs, torch gives {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        _compare(g, w, rtol, atol, f"{label}, output {k}")
    for i, (t, a) in enumerate(zip(md_in, arrays)):
        if t is not None and i not in mutable:
            np.testing.assert_array_equal(t.numpy(), a, err_msg=f"{label}: the op changed its input {i}")
    if grads:
        rng = np.random.default_rng(seed)
        pairs = [(g, w) for g, w in zip(got, want) if w.requires_grad]
        for g, _ in pairs:
            assert g.requires_grad, f"{label}: output of shape {g.shape} does not require grad"
        ups = [np.asarray(rng.standard_normal(tuple(w.shape))).astype(dtype) for _, w in pairs]
        for (g, _), u in zip(pairs, ups):
            g.backward(md.from_numpy(u.copy()), retain_graph=True)
        torch.autograd.backward([w for _, w in pairs], [torch.from_numpy(u) for u in ups])
        for i in grads:
            lab = f"{label}: gradient of input {i} (shape {tuple(arrays[i].shape)})"
            want_g = np.zeros_like(arrays[i]) if th_in[i].grad is None else th_in[i].grad.numpy()
            g = md_in[i].grad
            if g is None:
                assert not np.any(want_g), f"{lab}: minidl gives none, torch a nonzero one"
                continue
            assert tuple(g.shape) == arrays[i].shape, f"{lab}: has shape {tuple(g.shape)}"
            assert g.dtype == md_in[i].dtype, f"{lab}: is {g.dtype}, input is {md_in[i].dtype}"
            np.testing.assert_allclose(g.numpy(), want_g, rtol=rtol, atol=atol, equal_nan=True, err_msg=lab)
    return md_in, th_in


def run_both_precisions(torch, md_fn, th_fn, arrays, grads=(), *, scale32=1.0, **kw):
    """``run_both`` in float64 and in float32 (tolerances of float32 times ``scale32``)."""
    for dtype, rtol, atol in PRECISIONS:
        if dtype == np.float32:
            rtol, atol = rtol * scale32, atol * scale32
        run_both(torch, md_fn, th_fn, arrays, grads, dtype=dtype, rtol=rtol, atol=atol, **kw)


def gradcheck(fn, arrays, grads, **kw):
    """float64 ``md.autograd.gradcheck`` of ``fn`` w.r.t. the inputs listed in ``grads`` (others are constants)."""
    inputs = [None if a is None else md.from_numpy(np.array(a, copy=True)) for a in arrays]
    for i in grads:
        assert inputs[i].dtype == md.float64
        inputs[i].requires_grad_()
    assert md.autograd.gradcheck(fn, inputs, **kw) is True


def raises(exc, fn, *fragments):
    """``fn()`` raises ``exc`` whose message contains every fragment (op name, shapes as tuples)."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"message {msg!r} does not mention {frag!r}"


def t64(*shape, seed=0):
    return md.from_numpy(np.random.default_rng(seed).standard_normal(shape))


def test_functional_namespace():
    assert md.nn.F is md.nn.functional
    for name in ["linear", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "dropout", "embedding",
                 "relu", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "cross_entropy", "nll_loss", "mse_loss",
                 "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]:
        assert callable(getattr(F, name, None)), f"md.nn.functional.{name} is missing"


# --- linear ---------------------------------------------------------------------------------------------------------
@st.composite
def linear_cases(draw):
    lead = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    fin, fout = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return lead, fin, fout, draw(st.booleans()), draw(SEEDS)


@examples(25)
@given(case=linear_cases())
def test_linear_matches_torch(torch, TF, case):
    lead, fin, fout, bias, seed = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(lead + (fin,)), rng.standard_normal((fout, fin))]
    if bias:
        arrays.append(rng.standard_normal(fout))
    run_both_precisions(torch, F.linear, TF.linear, arrays, range(len(arrays)), seed=seed, what="linear")


@examples(10)
@given(case=linear_cases())
def test_linear_gradcheck(case):
    lead, fin, fout, bias, seed = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(lead + (fin,)), rng.standard_normal((fout, fin))]
    if bias:
        arrays.append(rng.standard_normal(fout))
    gradcheck(F.linear, arrays, range(len(arrays)))


# --- conv2d ---------------------------------------------------------------------------------------------------------
def _conv_arrays(g, bias, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(g.x_shape), rng.standard_normal(g.w_shape)]
    if bias:
        arrays.append(rng.standard_normal(g.w_shape[0]))
    return arrays


def _conv(g):
    def fn(x, w, b=None):
        return F.conv2d(x, w, b, stride=g.stride, padding=g.padding, dilation=g.dilation, groups=g.groups)
    return fn


def _tconv(TF, g):
    def fn(x, w, b=None):
        return TF.conv2d(x, w, b, stride=g.stride, padding=g.padding, dilation=g.dilation, groups=g.groups)
    return fn


@examples(40)
@given(g=conv2d_geometries(), bias=st.booleans(), seed=SEEDS)
def test_conv2d_matches_torch(torch, TF, g, bias, seed):
    arrays = _conv_arrays(g, bias, seed)
    run_both_precisions(torch, _conv(g), _tconv(TF, g), arrays, range(len(arrays)), scale32=10, seed=seed,
                        what=f"conv2d {g}")


@examples(15)
@given(g=conv2d_geometries(max_batch=2, max_size=6), bias=st.booleans(), seed=SEEDS)
def test_conv2d_gradcheck(g, bias, seed):
    arrays = _conv_arrays(g, bias, seed)
    gradcheck(_conv(g), arrays, range(len(arrays)), fast_mode=True)


def test_conv2d_gradcheck_full_jacobian():
    # every element of the Jacobian, on one small geometry with everything switched on
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((4, 2, 3, 2)), rng.standard_normal(4)]
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
              arrays, (0, 1, 2))


@pytest.mark.parametrize("kernel,dilation", [((1, 1), 1), ((3, 3), 1), ((5, 3), 1), ((3, 3), 2), ((3, 5), (2, 1))])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_string_padding_matches_torch(torch, TF, padding, kernel, dilation):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((4, 3) + kernel), rng.standard_normal(4)]
    fn = lambda x, w, b: F.conv2d(x, w, b, padding=padding, dilation=dilation)
    tfn = lambda x, w, b: TF.conv2d(x, w, b, padding=padding, dilation=dilation)
    run_both_precisions(torch, fn, tfn, arrays, (0, 1, 2), scale32=10, what=f"conv2d padding={padding!r}")
    if padding == "same":
        assert fn(*[md.from_numpy(a) for a in arrays]).shape == (2, 4, 7, 8)


@pytest.mark.parametrize("kernel,dilation", [((2, 4), 1), ((2, 2), 1), ((4, 3), 1), ((2, 3), (3, 1))])
def test_conv2d_same_padding_even_kernel_pads_bottom_right_as_torch(torch, TF, kernel, dilation):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2) + kernel), rng.standard_normal(3)]
    fn = lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=dilation)
    tfn = lambda x, w, b: TF.conv2d(x, w, b, padding="same", dilation=dilation)
    run_both_precisions(torch, fn, tfn, arrays, (0, 1, 2), scale32=10, what="conv2d same, even kernel")
    assert fn(*[md.from_numpy(a) for a in arrays]).shape == (2, 3, 5, 6)


def test_conv2d_same_padding_needs_stride_one():
    raises(ValueError, lambda: F.conv2d(t64(1, 1, 5, 5), t64(1, 1, 3, 3), padding="same", stride=2),
           "conv2d", "same", "(2, 2)")


def _depthwise_arrays(multiplier, c=5):
    """x (3, C, 6, 7), w (C * multiplier, 1, 3, 3), bias: a depthwise convolution with groups=C."""
    rng = np.random.default_rng(multiplier)
    return [rng.standard_normal((3, c, 6, 7)), rng.standard_normal((c * multiplier, 1, 3, 3)),
            rng.standard_normal(c * multiplier)]


@pytest.mark.parametrize("multiplier", [1, 2])
def test_conv2d_depthwise_matches_torch(torch, TF, multiplier):
    fn = lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=x.shape[1])
    tfn = lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1, groups=x.shape[1])
    run_both_precisions(torch, fn, tfn, _depthwise_arrays(multiplier), (0, 1, 2), scale32=10, what="depthwise conv2d")


@pytest.mark.parametrize("multiplier", [1, 2])
def test_conv2d_depthwise_gradcheck(multiplier):
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=x.shape[1]),
              _depthwise_arrays(multiplier), (0, 1, 2), fast_mode=True)


def _unbatched_conv_arrays(bias):
    """x (C, H, W) without a batch dim, w, and optionally a bias."""
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 6, 5)), rng.standard_normal((4, 2, 3, 2))]
    return arrays + [rng.standard_normal(4)] if bias else arrays


@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_unbatched_matches_torch(torch, TF, bias):
    arrays = _unbatched_conv_arrays(bias)
    run_both_precisions(torch, lambda *a: F.conv2d(*a, stride=(1, 2), padding=1),
                        lambda *a: TF.conv2d(*a, stride=(1, 2), padding=1), arrays, range(len(arrays)), scale32=10,
                        what="unbatched conv2d")


@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_unbatched_gradcheck(bias):
    arrays = _unbatched_conv_arrays(bias)
    out = F.conv2d(*[md.from_numpy(a) for a in arrays], stride=(1, 2), padding=1)
    assert out.shape == (4, 6, 3)
    gradcheck(lambda *a: F.conv2d(*a, stride=(1, 2), padding=1), arrays, range(len(arrays)))


@pytest.mark.parametrize("op", ["conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "linear"])
def test_non_contiguous_inputs(torch, TF, op):
    # a transposed view (H and W swapped) must give the same values and gradients as PyTorch on the same view
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5))
    w = {"conv2d": rng.standard_normal((4, 3, 3, 2)), "linear": rng.standard_normal((4, 6))}.get(op)
    calls = {
        "conv2d": (lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1)),
        "max_pool2d": (lambda x, w: F.max_pool2d(x, 2, 1, 1), lambda x, w: TF.max_pool2d(x, 2, 1, 1)),
        "avg_pool2d": (lambda x, w: F.avg_pool2d(x, 3, 2, 1), lambda x, w: TF.avg_pool2d(x, 3, 2, 1)),
        "batch_norm": (lambda x, w: F.batch_norm(x, None, None, training=True),
                       lambda x, w: TF.batch_norm(x, None, None, training=True)),
        "layer_norm": (lambda x, w: F.layer_norm(x, (5, 6)), lambda x, w: TF.layer_norm(x, (5, 6))),
        "linear": (F.linear, TF.linear),
    }
    fn, tfn = calls[op]
    run_both(torch, lambda x, w: fn(x.transpose(2, 3), w), lambda x, w: tfn(x.transpose(2, 3), w), [x, w],
             (0,) if w is None else (0, 1), what=f"{op} of a transposed view")


# --- pooling --------------------------------------------------------------------------------------------------------
def _maxpool(g):
    return lambda x: F.max_pool2d(x, g.kernel_size, g.stride, g.padding, g.dilation, ceil_mode=g.ceil_mode,
                                  return_indices=True)


def _tmaxpool(TF, g):
    return lambda x: TF.max_pool2d(x, g.kernel_size, g.stride, g.padding, g.dilation, ceil_mode=g.ceil_mode,
                                   return_indices=True)


def _avgpool(g):
    return lambda x: F.avg_pool2d(x, g.kernel_size, g.stride, g.padding, ceil_mode=g.ceil_mode,
                                  count_include_pad=g.count_include_pad)


def _tavgpool(TF, g):
    return lambda x: TF.avg_pool2d(x, g.kernel_size, g.stride, g.padding, ceil_mode=g.ceil_mode,
                                   count_include_pad=g.count_include_pad)


@examples(40)
@given(g=pool2d_geometries(), seed=SEEDS)
def test_max_pool2d_matches_torch(torch, TF, g, seed):
    x = np.random.default_rng(seed).standard_normal(g.x_shape)
    run_both_precisions(torch, _maxpool(g), _tmaxpool(TF, g), [x], (0,), seed=seed, what=f"max_pool2d {g}")


def test_max_pool2d_without_indices_and_defaults(torch, TF):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    for args in ((2,), (3, 2), ((3, 2), (2, 1), 1), (3, None, 1, 2)):
        run_both(torch, lambda t, a=args: F.max_pool2d(t, *a), lambda t, a=args: TF.max_pool2d(t, *a), [x], (0,),
                 what=f"max_pool2d{args}")


@examples(40)
@given(g=pool2d_geometries(max_dilation=1), seed=SEEDS)
def test_avg_pool2d_matches_torch(torch, TF, g, seed):
    x = np.random.default_rng(seed).standard_normal(g.x_shape)
    run_both_precisions(torch, _avgpool(g), _tavgpool(TF, g), [x], (0,), seed=seed, what=f"avg_pool2d {g}")


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_avg_pool2d_padding_divisor(torch, TF, ceil_mode, count_include_pad):
    # windows that overlap the padding (and, with ceil_mode, hang past it) are where the divisors differ
    x = np.arange(1.0, 1 + 2 * 5 * 6).reshape(1, 2, 5, 6)
    fn = lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    tfn = lambda t: TF.avg_pool2d(t, 3, 2, 1, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    run_both(torch, fn, tfn, [x], (0,), what=f"avg_pool2d ceil_mode={ceil_mode} count_include_pad={count_include_pad}")


def test_avg_pool2d_defaults(torch, TF):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    # defaults: stride = kernel, count_include_pad=True, ceil_mode=False
    run_both(torch, lambda t: F.avg_pool2d(t, 3, padding=1), lambda t: TF.avg_pool2d(t, 3, padding=1), [x], (0,),
             what="avg_pool2d defaults")
    run_both(torch, lambda t: F.avg_pool2d(t, (2, 3)), lambda t: TF.avg_pool2d(t, (2, 3)), [x], (0,),
             what="avg_pool2d rectangular")


def test_pooling_unbatched_matches_torch(torch, TF):
    x = np.random.default_rng(0).standard_normal((3, 7, 5))
    run_both_precisions(torch, lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True),
                        lambda t: TF.max_pool2d(t, 3, 2, 1, return_indices=True), [x], (0,), what="unbatched max")
    run_both_precisions(torch, lambda t: F.avg_pool2d(t, 2, 1, 1, count_include_pad=False),
                        lambda t: TF.avg_pool2d(t, 2, 1, 1, count_include_pad=False), [x], (0,), what="unbatched avg")


def test_max_pool2d_propagates_nan(torch, TF):
    # one NaN per window: the output there is NaN, its index points at the NaN, and the gradient goes to it
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    x[0, 0, 1, 1] = x[0, 1, 4, 5] = x[1, 1, 0, 3] = np.nan
    run_both(torch, lambda t: F.max_pool2d(t, 2, return_indices=True),
             lambda t: TF.max_pool2d(t, 2, return_indices=True), [x], (0,), what="max_pool2d with NaN")
    run_both(torch, lambda t: F.max_pool2d(t, 3, 1, 1, return_indices=True),
             lambda t: TF.max_pool2d(t, 3, 1, 1, return_indices=True), [x], (0,), what="overlapping max_pool2d, NaN")


def test_max_pool2d_nan_beats_inf():
    # several NaNs in one window (and +inf beside them): still NaN, and the index points at a NaN
    y = np.zeros((1, 1, 4, 4))
    y[0, 0, 0, 0], y[0, 0, 1, 1], y[0, 0, 0, 1] = np.nan, np.nan, np.inf
    out, idx = F.max_pool2d(md.from_numpy(y), 2, return_indices=True)
    assert np.isnan(out.numpy()[0, 0, 0, 0]) and not np.isnan(out.numpy()[0, 0, 1, 1])
    assert np.isnan(y.reshape(-1)[idx.numpy()[0, 0, 0, 0]])


@examples(10)
@given(g=pool2d_geometries(max_size=7), seed=SEEDS)
def test_max_pool2d_ties_match_torch(torch, TF, g, seed):
    # small integer values tie often: the index (and so the gradient) must go where PyTorch sends it
    x = np.random.default_rng(seed).integers(0, 3, g.x_shape).astype(np.float64)
    run_both(torch, _maxpool(g), _tmaxpool(TF, g), [x], (0,), seed=seed, what=f"max_pool2d with ties {g}")


@examples(15)
@given(g=pool2d_geometries(max_batch=2, max_channels=2, max_size=6), seed=SEEDS)
def test_max_pool2d_gradcheck(g, seed):
    x = np.random.default_rng(seed).standard_normal(g.x_shape)
    gradcheck(lambda t: _maxpool(g)(t)[0], [x], (0,))


@examples(15)
@given(g=pool2d_geometries(max_batch=2, max_channels=2, max_size=6, max_dilation=1), seed=SEEDS)
def test_avg_pool2d_gradcheck(g, seed):
    x = np.random.default_rng(seed).standard_normal(g.x_shape)
    gradcheck(_avgpool(g), [x], (0,))


def test_max_pool2d_indices_are_not_differentiable():
    x = t64(1, 2, 4, 4).requires_grad_()
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert out.requires_grad and not idx.requires_grad and idx.dtype == md.int64


# --- batch_norm -----------------------------------------------------------------------------------------------------
@st.composite
def batch_norm_cases(draw):
    ndim = draw(st.sampled_from([2, 3, 4]))
    training = draw(st.booleans())
    c = draw(st.integers(1, 4))
    while True:
        n = draw(st.integers(1, 4))
        spatial = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
        if not training or n * math.prod(spatial) > 1:
            break
    return {"shape": (n, c) + spatial, "training": training, "stats": draw(st.booleans()) or not training,
            "weight": draw(st.booleans()), "bias": draw(st.booleans()),
            "momentum": draw(st.sampled_from([0.0, 0.1, 0.37, 1.0])), "eps": draw(st.sampled_from([1e-5, 1e-3])),
            "seed": draw(SEEDS)}


def _bn_arrays(case):
    rng = np.random.default_rng(case["seed"])
    c = case["shape"][1]
    x = rng.standard_normal(case["shape"]) * 2 + 0.5
    rm = rng.standard_normal(c) if case["stats"] else None
    rv = rng.uniform(0.5, 2.0, c) if case["stats"] else None
    w = rng.standard_normal(c) if case["weight"] else None
    b = rng.standard_normal(c) if case["bias"] else None
    return [x, rm, rv, w, b]


@examples(40)
@given(case=batch_norm_cases())
def test_batch_norm_matches_torch(torch, TF, case):
    arrays = _bn_arrays(case)
    grads = [i for i in (0, 3, 4) if arrays[i] is not None]
    kw = {"training": case["training"], "momentum": case["momentum"], "eps": case["eps"]}
    fn = lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, **kw)
    tfn = lambda x, rm, rv, w, b: TF.batch_norm(x, rm, rv, w, b, **kw)
    for dtype, rtol, atol in PRECISIONS:
        if dtype == np.float32:
            rtol, atol = 1e-3, 1e-4
        md_in, th_in = run_both(torch, fn, tfn, arrays, grads, dtype=dtype, rtol=rtol, atol=atol, seed=case["seed"],
                                what=f"batch_norm {case}", mutable=(1, 2))
        for i, name in ((1, "running_mean"), (2, "running_var")):
            if arrays[i] is not None:   # updated in place in training (with the unbiased variance), kept in eval
                _compare(md_in[i], th_in[i], rtol, atol, f"batch_norm {case}: {name} after the call in {dtype}")


def test_batch_norm_updates_the_callers_buffers_in_place():
    rm_np, rv_np = np.zeros(3), np.ones(3)
    rm, rv = md.from_numpy(rm_np), md.from_numpy(rv_np)
    x = np.random.default_rng(0).standard_normal((6, 3, 2))
    F.batch_norm(md.from_numpy(x), rm, rv, training=True, momentum=0.25)
    mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(rm.numpy(), 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * var, rtol=1e-12)
    np.testing.assert_allclose(rm_np, 0.25 * mean, rtol=1e-12, err_msg="running_mean was rebound, not updated")
    np.testing.assert_allclose(rv_np, 0.75 + 0.25 * var, rtol=1e-12, err_msg="running_var was rebound, not updated")
    before = rm_np.copy(), rv_np.copy()
    F.batch_norm(md.from_numpy(x), rm, rv, training=False)
    np.testing.assert_array_equal(rm_np, before[0], err_msg="eval mode changed running_mean")
    np.testing.assert_array_equal(rv_np, before[1], err_msg="eval mode changed running_var")


def test_batch_norm_zero_size_batch(torch, TF):
    # the spec accepts a zero-size batch: an empty output, running statistics untouched (as PyTorch)
    x = np.zeros((0, 3, 2))
    fn = lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=True)
    tfn = lambda x, rm, rv, w, b: TF.batch_norm(x, rm, rv, w, b, training=True)
    md_in, th_in = run_both(torch, fn, tfn, [x, np.zeros(3), np.ones(3), np.ones(3), np.zeros(3)], (0, 3, 4),
                            what="batch_norm of an empty batch", mutable=(1, 2))
    _compare(md_in[1], th_in[1], 0, 0, "running_mean after an empty batch")
    _compare(md_in[2], th_in[2], 0, 0, "running_var after an empty batch")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2), (2, 2, 2, 2)])
def test_batch_norm_gradcheck(shape, training):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    arrays = [rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)]
    rm, rv = md.from_numpy(rng.standard_normal(c)), md.from_numpy(rng.uniform(0.5, 2, c))
    gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training), arrays, (0, 1, 2))
    if training:  # no running statistics, no affine parameters
        gradcheck(lambda x: F.batch_norm(x, None, None, training=True), arrays[:1], (0,))


# --- layer_norm -----------------------------------------------------------------------------------------------------
@st.composite
def layer_norm_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    k = draw(st.integers(1, min(2, len(shape))))
    return shape, shape[len(shape) - k:], draw(st.booleans()), draw(st.booleans()), \
        draw(st.sampled_from([1e-5, 1e-2])), draw(SEEDS)


def _ln_arrays(case):
    shape, norm, weight, bias, _, seed = case
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * 3 + 1, rng.standard_normal(norm) if weight else None,
            rng.standard_normal(norm) if bias else None]


@examples(30)
@given(case=layer_norm_cases())
def test_layer_norm_matches_torch(torch, TF, case):
    _, norm, _, _, eps, seed = case
    arrays = _ln_arrays(case)
    grads = [i for i, a in enumerate(arrays) if a is not None]
    fn = lambda x, w, b: F.layer_norm(x, norm, w, b, eps)
    tfn = lambda x, w, b: TF.layer_norm(x, norm, w, b, eps)
    if math.prod(norm) <= 2:
        # groups of 1 or 2 elements are ill-conditioned in float32: with one, x - mean is 0 exactly but PyTorch's
        # rounding leaves noise of order 1e-7 |x| / sqrt(eps); with two, the input gradient cancels to a term of
        # order eps / sigma^3. Compare those in float64 only.
        run_both(torch, fn, tfn, arrays, grads, seed=seed, what=f"layer_norm {case}")
    else:
        run_both_precisions(torch, fn, tfn, arrays, grads, scale32=10, seed=seed, what=f"layer_norm {case}")
    if len(norm) == 1:  # an int normalized_shape works too (PyTorch's functional form wants a tuple)
        run_both(torch, lambda x, w, b: F.layer_norm(x, norm[0], w, b, eps),
                 lambda x, w, b: TF.layer_norm(x, norm, w, b, eps), arrays, grads, what="layer_norm(int)")


@examples(10)
@given(case=layer_norm_cases())
def test_layer_norm_gradcheck(case):
    _, norm, _, _, eps, _ = case
    arrays = _ln_arrays(case)
    grads = [i for i, a in enumerate(arrays) if a is not None]
    gradcheck(lambda x, w, b: F.layer_norm(x, norm, w, b, eps), arrays, grads)


# --- dropout --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [md.float32, md.float64], ids=["float32", "float64"])
def test_dropout_statistics(p, dtype):
    n = 200_000
    md.manual_seed(1234)
    x = md.ones(n, dtype=dtype, requires_grad=True)
    y = F.dropout(x, p)
    assert y.shape == (n,) and y.dtype == dtype
    out = y.numpy()
    zero = out == 0
    frac = zero.mean()
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n), f"dropout(p={p}) zeroed {frac:.4f} of the elements"
    np.testing.assert_allclose(out[~zero], 1 / (1 - p), rtol=1e-6, err_msg="kept elements are not scaled by 1/(1-p)")
    assert abs(out.mean() - 1) < 5 * math.sqrt(p / (1 - p) / n), "dropout does not preserve the mean"
    # the gradient is the same mask and scale
    up = np.random.default_rng(0).standard_normal(n).astype(dtype.np)
    y.backward(md.from_numpy(up))
    np.testing.assert_allclose(x.grad.numpy(), np.where(zero, 0, up / (1 - p)), rtol=1e-6)


def test_dropout_scales_values_not_just_ones():
    md.manual_seed(3)
    x = np.random.default_rng(1).standard_normal((50, 40))
    y = F.dropout(md.from_numpy(x), 0.3).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-12)


def test_dropout_eval_is_identity():
    x = t64(4, 5).requires_grad_()
    for p in (0.0, 0.5, 1.0):
        y = F.dropout(x, p, training=False)
        np.testing.assert_array_equal(y.numpy(), x.numpy())
    y = F.dropout(x, 0.5, training=False)
    y.backward(md.ones(4, 5, dtype=md.float64))
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((4, 5)))
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())   # p=0 in training is identity too


def test_dropout_p_one_zeroes_everything():
    x = t64(3, 4).requires_grad_()
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), np.zeros((3, 4)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


def test_dropout_is_repeatable_with_manual_seed():
    x = md.ones(1000, dtype=md.float64)
    md.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    md.manual_seed(7)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b), "two calls in a row drew the same mask"


def test_dropout_gradcheck():
    # a fixed mask: the same seed before each evaluation
    x = np.random.default_rng(0).standard_normal((3, 4))

    def fn(t):
        md.manual_seed(11)
        return F.dropout(t, 0.4)
    gradcheck(fn, [x], (0,))


def test_dropout_rejects_bad_p():
    raises(ValueError, lambda: F.dropout(t64(2, 2), 1.5), "dropout", "1.5")
    raises(ValueError, lambda: F.dropout(t64(2, 2), -0.1), "dropout", "-0.1")


# --- embedding ------------------------------------------------------------------------------------------------------
@st.composite
def embedding_cases(draw):
    n, dim = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    idx_shape = tuple(draw(st.lists(st.integers(0, 4), max_size=2)))
    pad = draw(st.none() | st.integers(-n, n - 1))
    return n, dim, idx_shape, pad, draw(SEEDS)


@examples(30)
@given(case=embedding_cases())
def test_embedding_matches_torch(torch, TF, case):
    n, dim, idx_shape, pad, seed = case
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, idx_shape)     # few embeddings, so indices repeat: their gradients must add up
    w = rng.standard_normal((n, dim))
    run_both_precisions(torch, lambda i, w: F.embedding(i, w, padding_idx=pad),
                        lambda i, w: TF.embedding(i, w, padding_idx=pad), [idx, w], (1,), seed=seed,
                        what=f"embedding {case}")


def test_embedding_padding_row_gets_no_gradient_and_repeats_accumulate():
    w = md.from_numpy(np.arange(12.0).reshape(4, 3)).requires_grad_()
    idx = md.tensor([[1, 2, 1], [0, 1, 2]])
    out = F.embedding(idx, w, padding_idx=2)
    np.testing.assert_array_equal(out.numpy(), np.arange(12.0).reshape(4, 3)[idx.numpy()])  # forward keeps the row
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1] * 3, [3] * 3, [0] * 3, [0] * 3])
    w.grad = None
    F.embedding(idx, w, padding_idx=-2).sum().backward()     # -2 is row 2 of 4
    np.testing.assert_array_equal(w.grad.numpy()[2], [0, 0, 0])


def test_embedding_gradcheck():
    rng = np.random.default_rng(0)
    idx = md.from_numpy(np.array([[0, 3, 3], [1, 0, 4]]))
    gradcheck(lambda w: F.embedding(idx, w), [rng.standard_normal((5, 2))], (0,))


# --- losses: cross_entropy and nll_loss ------------------------------------------------------------------------------
@st.composite
def class_cases(draw, smoothing=True, probs=True):
    layout = draw(st.sampled_from(["unbatched", "2d", "3d", "4d"]))
    c = draw(st.integers(1, 5))
    n = draw(st.integers(1, 4))
    extra = {"unbatched": (), "2d": (), "3d": (draw(st.integers(1, 3)),),
             "4d": (draw(st.integers(1, 3)), draw(st.integers(1, 2)))}[layout]
    shape = (c,) if layout == "unbatched" else (n, c) + extra
    kind = draw(st.sampled_from(["index", "prob"])) if probs else "index"
    ignore = "none" if kind == "prob" or layout == "unbatched" else draw(st.sampled_from(["none", "class", "neg"]))
    if ignore == "class" and c < 2:
        ignore = "none"
    # NOTE: an unbatched input with reduction="none" has its own test below
    reductions = ["mean", "sum"] if layout == "unbatched" and kind == "index" else ["mean", "sum", "none"]
    return {"shape": shape, "kind": kind, "ignore": ignore, "weight": draw(st.booleans()),
            "label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.45, 1.0])) if smoothing else 0.0,
            "reduction": draw(st.sampled_from(reductions)), "seed": draw(SEEDS)}


def _class_arrays(case):
    """logits, target, weight (or None), and the ignore_index to pass."""
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"]
    c = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    x = rng.standard_normal(shape) * 2
    weight = rng.uniform(0.2, 2.0, c) if case["weight"] else None
    if case["kind"] == "prob":
        e = np.exp(rng.standard_normal(shape))
        return x, e / e.sum(axis=0 if len(shape) == 1 else 1, keepdims=True), weight, -100
    t = rng.integers(0, c, tshape)
    ignore_index = -100
    if case["ignore"] == "class":
        ignore_index = int(rng.integers(0, c))
        t.reshape(-1)[0] = (ignore_index + 1) % c            # at least one target counts
    elif case["ignore"] == "neg":
        ignore_index = -1
        t = np.where(rng.random(tshape) < 0.3, -1, t)
        t.reshape(-1)[0] = 0
    return x, t, weight, ignore_index


@examples(60)
@given(case=class_cases())
def test_cross_entropy_matches_torch(torch, TF, case):
    x, t, weight, ignore_index = _class_arrays(case)
    kw = {"ignore_index": ignore_index, "reduction": case["reduction"], "label_smoothing": case["label_smoothing"]}
    grads = (0, 1) if case["kind"] == "prob" else (0,)
    run_both_precisions(torch, lambda x, t, w: F.cross_entropy(x, t, w, **kw),
                        lambda x, t, w: TF.cross_entropy(x, t, w, **kw), [x, t, weight], grads,
                        seed=case["seed"], what=f"cross_entropy {case}")


@examples(15)
@given(case=class_cases())
def test_cross_entropy_gradcheck(case):
    x, t, weight, ignore_index = _class_arrays(case)
    kw = {"ignore_index": ignore_index, "reduction": case["reduction"], "label_smoothing": case["label_smoothing"]}
    grads = (0, 1) if case["kind"] == "prob" else (0,)
    wt = None if weight is None else md.from_numpy(weight)
    gradcheck(lambda x, t: F.cross_entropy(x, t, wt, **kw), [x, t], grads)


@examples(40)
@given(case=class_cases(smoothing=False, probs=False))
def test_nll_loss_matches_torch(torch, TF, case):
    x, t, weight, ignore_index = _class_arrays(case)
    kw = {"ignore_index": ignore_index, "reduction": case["reduction"]}
    run_both_precisions(torch, lambda x, t, w: F.nll_loss(x, t, w, **kw), lambda x, t, w: TF.nll_loss(x, t, w, **kw),
                        [x, t, weight], (0,), seed=case["seed"], what=f"nll_loss {case}")


@examples(10)
@given(case=class_cases(smoothing=False, probs=False))
def test_nll_loss_gradcheck(case):
    x, t, weight, ignore_index = _class_arrays(case)
    wt = None if weight is None else md.from_numpy(weight)
    gradcheck(lambda x: F.nll_loss(x, md.from_numpy(t), wt, ignore_index=ignore_index,
                                   reduction=case["reduction"]), [x], (0,))


@pytest.mark.parametrize("name,weight,label_smoothing", [
    ("cross_entropy", False, 0.0), ("cross_entropy", True, 0.0), ("cross_entropy", False, 0.2),
    ("cross_entropy", True, 0.2), ("nll_loss", False, 0.0), ("nll_loss", True, 0.0)])
def test_class_losses_unbatched_without_reduction(torch, TF, name, weight, label_smoothing):
    # a (C,) input and a 0-d target: reduction="none" gives a 0-d loss, as PyTorch
    kw = {"reduction": "none", "label_smoothing": label_smoothing} if label_smoothing else {"reduction": "none"}
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(4), np.array(2), rng.uniform(0.5, 2, 4) if weight else None]
    run_both_precisions(torch, lambda x, t, w: getattr(F, name)(x, t, w, **kw),
                        lambda x, t, w: getattr(TF, name)(x, t, w, **kw), arrays, (0,), what=f"unbatched {name}")


def test_cross_entropy_known_values():
    # uniform logits: log(C); a confident right answer: ~0
    assert F.cross_entropy(md.zeros(2, 4, dtype=md.float64), md.tensor([1, 3])).item() == pytest.approx(math.log(4))
    x = md.tensor([[100.0, 0.0, 0.0]], dtype=md.float64)
    assert F.cross_entropy(x, md.tensor([0])).item() == pytest.approx(0.0, abs=1e-12)
    # huge logits stay finite (log_softmax, not log of softmax)
    x = md.tensor([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=md.float64, requires_grad=True)
    loss = F.cross_entropy(x, md.tensor([1, 1]))
    loss.backward()
    assert loss.item() == pytest.approx(1000.0) and np.all(np.isfinite(x.grad.numpy()))


# --- losses: regression and binary ----------------------------------------------------------------------------------
@st.composite
def pair_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=3)))
    return shape, draw(st.sampled_from(["mean", "sum", "none"])), draw(SEEDS)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@examples(20)
@given(case=pair_cases())
def test_regression_losses_match_torch(torch, TF, name, case):
    shape, reduction, seed = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape), rng.standard_normal(shape)]
    run_both_precisions(torch, lambda a, b: getattr(F, name)(a, b, reduction=reduction),
                        lambda a, b: getattr(TF, name)(a, b, reduction=reduction), arrays, (0, 1), seed=seed,
                        what=f"{name} {case}")


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@examples(10)
@given(case=pair_cases())
def test_regression_losses_gradcheck(name, case):
    shape, reduction, seed = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape), rng.standard_normal(shape)]
    gradcheck(lambda a, b: getattr(F, name)(a, b, reduction=reduction), arrays, (0, 1))


def test_l1_loss_gradient_at_zero_difference(torch, TF):
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    t = x.copy()
    t[0, 1] = 4.0
    run_both(torch, F.l1_loss, TF.l1_loss, [x, t], (0, 1), what="l1_loss with equal elements")


@st.composite
def binary_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    return {"shape": shape, "hard": draw(st.booleans()), "weight": draw(st.sampled_from(["none", "full", "last"])),
            "pos_weight": draw(st.booleans()), "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
            "seed": draw(SEEDS)}


def _binary_arrays(case, probabilities):
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"]
    x = rng.uniform(0.02, 0.98, shape) if probabilities else rng.standard_normal(shape) * 3
    t = rng.integers(0, 2, shape).astype(np.float64) if case["hard"] else rng.random(shape)
    w = {"none": None, "full": rng.uniform(0.1, 2, shape), "last": rng.uniform(0.1, 2, shape[-1:])}[case["weight"]]
    pw = rng.uniform(0.2, 3, shape[-1:]) if case["pos_weight"] else None
    return x, t, w, pw


@examples(30)
@given(case=binary_cases())
def test_binary_cross_entropy_matches_torch(torch, TF, case):
    x, t, w, _ = _binary_arrays(case, probabilities=True)
    red = case["reduction"]
    run_both_precisions(torch, lambda x, t, w: F.binary_cross_entropy(x, t, w, reduction=red),
                        lambda x, t, w: TF.binary_cross_entropy(x, t, w, reduction=red), [x, t, w], (0, 1),
                        scale32=10, seed=case["seed"], what=f"binary_cross_entropy {case}")


@examples(10)
@given(case=binary_cases())
def test_binary_cross_entropy_gradcheck(case):
    x, t, w, _ = _binary_arrays(case, probabilities=True)
    wt = None if w is None else md.from_numpy(w)
    gradcheck(lambda x, t: F.binary_cross_entropy(x, t, wt, reduction=case["reduction"]), [x, t], (0, 1))


# inputs exactly 0 and 1: log(0) is clamped at -100 as PyTorch does
BCE_EDGE_X = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.5])
BCE_EDGE_T = np.array([0.0, 1.0, 1.0, 0.0, 0.25, 0.75, 1.0])


@pytest.mark.parametrize("dtype", [md.float32, md.float64], ids=["float32", "float64"])
def test_binary_cross_entropy_at_exactly_zero_and_one_is_finite(dtype):
    x = md.from_numpy(BCE_EDGE_X.astype(dtype.np)).requires_grad_()
    loss = F.binary_cross_entropy(x, md.from_numpy(BCE_EDGE_T.astype(dtype.np)), reduction="none")
    np.testing.assert_allclose(loss.numpy()[:4], [0, 0, 100, 100], atol=1e-6)
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy())), f"non-finite input gradient: {x.grad.numpy()}"


def test_binary_cross_entropy_at_exactly_zero_and_one_matches_torch(torch, TF):
    for red, (dtype, rtol, atol) in [(r, p) for r in ("none", "sum", "mean") for p in PRECISIONS]:
        run_both(torch, lambda x, t, r=red: F.binary_cross_entropy(x, t, reduction=r),
                 lambda x, t, r=red: TF.binary_cross_entropy(x, t, reduction=r), [BCE_EDGE_X, BCE_EDGE_T], (0, 1),
                 dtype=dtype, rtol=rtol, atol=atol, what=f"binary_cross_entropy at 0 and 1, {red}")


@examples(30)
@given(case=binary_cases())
def test_binary_cross_entropy_with_logits_matches_torch(torch, TF, case):
    x, t, w, pw = _binary_arrays(case, probabilities=False)
    red = case["reduction"]
    run_both_precisions(torch, lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, red, pw),
                        lambda x, t, w, pw: TF.binary_cross_entropy_with_logits(x, t, w, reduction=red, pos_weight=pw),
                        [x, t, w, pw], (0, 1), seed=case["seed"], what=f"binary_cross_entropy_with_logits {case}")


@examples(10)
@given(case=binary_cases())
def test_binary_cross_entropy_with_logits_gradcheck(case):
    x, t, w, pw = _binary_arrays(case, probabilities=False)
    wt, pwt = (None if a is None else md.from_numpy(a) for a in (w, pw))
    gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, wt, case["reduction"], pwt), [x, t], (0, 1))


LARGE_LOGITS = np.array([[-1000.0, -80.0, 0.0, 80.0, 1000.0], [1e4, -1e4, 35.0, -35.0, 1e30]])
LARGE_LOGITS_T = np.array([[0.0, 1.0, 0.5, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0, 0.3]])
POS_WEIGHTS = [None, np.array([0.5, 3.0, 1.0, 2.0, 7.0])]


@pytest.mark.parametrize("pos_weight", POS_WEIGHTS, ids=["no-pos_weight", "pos_weight"])
@pytest.mark.parametrize("dtype", [md.float32, md.float64], ids=["float32", "float64"])
def test_binary_cross_entropy_with_logits_large_logits_stay_finite(dtype, pos_weight):
    x = md.from_numpy(LARGE_LOGITS.astype(dtype.np)).requires_grad_()
    t = md.from_numpy(LARGE_LOGITS_T.astype(dtype.np)).requires_grad_()
    pw = None if pos_weight is None else md.from_numpy(pos_weight.astype(dtype.np))
    loss = F.binary_cross_entropy_with_logits(x, t, None, "none", pw)
    # the stable form, in float64 NumPy: (1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x))
    p = 1.0 if pos_weight is None else pos_weight
    want = (1 - LARGE_LOGITS_T) * LARGE_LOGITS + (1 + (p - 1) * LARGE_LOGITS_T) * np.logaddexp(0, -LARGE_LOGITS)
    np.testing.assert_allclose(loss.numpy(), want, rtol=1e-6, atol=1e-6)
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy())) and np.all(np.isfinite(t.grad.numpy()))


@pytest.mark.parametrize("pos_weight", POS_WEIGHTS, ids=["no-pos_weight", "pos_weight"])
def test_binary_cross_entropy_with_logits_large_logits_match_torch(torch, TF, pos_weight):
    for dtype, rtol, atol in PRECISIONS:
        run_both(torch, lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, None, "none", pw),
                 lambda x, t, pw: TF.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=pw),
                 [LARGE_LOGITS, LARGE_LOGITS_T, pos_weight], (0, 1), dtype=dtype, rtol=rtol, atol=atol,
                 what="binary_cross_entropy_with_logits of large logits")


# --- errors: the op and the offending shapes, as Python tuples -----------------------------------------------------
def _f32(*shape):
    return md.zeros(*shape, dtype=md.float32)


ERRORS = [
    # (id, exception type, call, fragments the message must hold)
    ("linear-mismatch", ValueError, lambda: F.linear(_f32(4, 3), _f32(2, 5)), ["linear", "(4, 3)", "(2, 5)"]),
    ("conv2d-channels", ValueError, lambda: F.conv2d(_f32(2, 3, 5, 5), _f32(4, 2, 3, 3)),
     ["conv2d", "(2, 3, 5, 5)", "(4, 2, 3, 3)"]),
    ("conv2d-weight-3d", ValueError, lambda: F.conv2d(_f32(2, 3, 5, 5), _f32(4, 3, 3)), ["conv2d", "(4, 3, 3)"]),
    ("conv2d-input-2d", ValueError, lambda: F.conv2d(_f32(5, 5), _f32(4, 1, 3, 3)), ["conv2d", "(5, 5)"]),
    ("conv2d-kernel-too-big", ValueError, lambda: F.conv2d(_f32(1, 1, 3, 3), _f32(1, 1, 5, 5), padding=0),
     ["conv2d", "(1, 1, 3, 3)", "(1, 1, 5, 5)"]),
    ("conv2d-dilated-kernel-too-big", ValueError,
     lambda: F.conv2d(_f32(1, 1, 4, 9), _f32(1, 1, 3, 3), padding=(0, 1), dilation=2),
     ["conv2d", "(1, 1, 4, 9)", "(1, 1, 3, 3)"]),
    ("conv2d-mixed-dtypes", TypeError, lambda: F.conv2d(_f32(1, 1, 4, 4), md.zeros(1, 1, 3, 3, dtype=md.float64)),
     ["conv2d", "float32", "float64", "(1, 1, 4, 4)", "(1, 1, 3, 3)"]),
    ("conv2d-bias-shape", ValueError, lambda: F.conv2d(_f32(1, 2, 4, 4), _f32(3, 2, 3, 3), _f32(2)),
     ["conv2d", "(2,)", "(3,)"]),
    ("conv2d-groups", ValueError, lambda: F.conv2d(_f32(1, 4, 4, 4), _f32(3, 2, 3, 3), groups=2),
     ["conv2d", "groups"]),
    ("max_pool2d-padding", ValueError, lambda: F.max_pool2d(_f32(1, 1, 6, 6), 2, padding=2),
     ["max_pool2d", "(2, 2)"]),
    ("avg_pool2d-padding", ValueError, lambda: F.avg_pool2d(_f32(1, 1, 6, 6), (3, 4), padding=(1, 3)),
     ["avg_pool2d", "(1, 3)", "(3, 4)"]),
    ("max_pool2d-too-small", ValueError, lambda: F.max_pool2d(_f32(1, 1, 2, 2), 3), ["max_pool2d", "(1, 1, 2, 2)"]),
    ("avg_pool2d-input-2d", ValueError, lambda: F.avg_pool2d(_f32(4, 4), 2), ["avg_pool2d", "(4, 4)"]),
    ("max_pool2d-integer", TypeError, lambda: F.max_pool2d(md.zeros(1, 1, 4, 4, dtype=md.int64), 2),
     ["max_pool2d", "(1, 1, 4, 4)"]),
    ("batch_norm-one-value-per-channel", ValueError, lambda: F.batch_norm(_f32(1, 3), None, None, training=True),
     ["batch_norm", "(1, 3)"]),
    ("batch_norm-one-value-per-channel-4d", ValueError,
     lambda: F.batch_norm(_f32(1, 2, 1, 1), _f32(2), _f32(2), training=True), ["batch_norm", "(1, 2, 1, 1)"]),
    ("batch_norm-weight-shape", ValueError, lambda: F.batch_norm(_f32(4, 3), None, None, _f32(4), training=True),
     ["batch_norm", "(4,)", "(4, 3)"]),
    ("batch_norm-1d-input", ValueError, lambda: F.batch_norm(_f32(5), None, None, training=True),
     ["batch_norm", "(5,)"]),
    ("layer_norm-shape", ValueError, lambda: F.layer_norm(_f32(2, 3, 4), (3,)), ["layer_norm", "(3,)", "(2, 3, 4)"]),
    ("mse_loss-shapes", ValueError, lambda: F.mse_loss(_f32(2, 3), _f32(3, 2)), ["mse_loss", "(2, 3)", "(3, 2)"]),
    ("l1_loss-shapes", ValueError, lambda: F.l1_loss(_f32(2, 3), _f32(2, 3, 1)), ["l1_loss", "(2, 3)", "(2, 3, 1)"]),
    ("bce-shapes", ValueError, lambda: F.binary_cross_entropy(_f32(4), _f32(4, 1)),
     ["binary_cross_entropy", "(4,)", "(4, 1)"]),
    ("bce-not-probabilities", ValueError,
     lambda: F.binary_cross_entropy(md.tensor([0.5, 1.5]), md.tensor([0.0, 1.0])), ["binary_cross_entropy"]),
    ("bce_with_logits-shapes", ValueError, lambda: F.binary_cross_entropy_with_logits(_f32(3, 2), _f32(2, 3)),
     ["binary_cross_entropy_with_logits", "(3, 2)", "(2, 3)"]),
    ("cross_entropy-target-shape", ValueError, lambda: F.cross_entropy(_f32(4, 5), md.tensor([0, 1, 2])),
     ["cross_entropy", "(4, 5)", "(3,)"]),
    ("cross_entropy-prob-target-shape", ValueError, lambda: F.cross_entropy(_f32(4, 5), _f32(4, 4)),
     ["cross_entropy", "(4, 5)", "(4, 4)"]),
    ("cross_entropy-class-out-of-range", IndexError, lambda: F.cross_entropy(_f32(2, 3), md.tensor([0, 3])),
     ["cross_entropy", "(2, 3)", "3"]),
    ("cross_entropy-negative-class", IndexError, lambda: F.cross_entropy(_f32(2, 3), md.tensor([-1, 0])),
     ["cross_entropy", "(2, 3)", "-1"]),
    ("cross_entropy-unbatched-target-shape", ValueError, lambda: F.cross_entropy(_f32(5), md.tensor([1])),
     ["cross_entropy", "(5,)", "(1,)"]),
    ("nll_loss-target-shape", ValueError, lambda: F.nll_loss(_f32(2, 3, 4), md.tensor([[0, 1, 2]])),
     ["nll_loss", "(2, 3, 4)", "(1, 3)"]),
    ("nll_loss-class-out-of-range", IndexError, lambda: F.nll_loss(_f32(2, 3), md.tensor([0, 5])),
     ["nll_loss", "(2, 3)", "5"]),
    ("nll_loss-weight-shape", ValueError, lambda: F.nll_loss(_f32(2, 3), md.tensor([0, 1]), _f32(4)),
     ["nll_loss", "(3,)", "(4,)"]),
    ("nll_loss-float-target", TypeError, lambda: F.nll_loss(_f32(2, 3), _f32(2)), ["nll_loss", "(2,)"]),
    ("loss-reduction", ValueError, lambda: F.mse_loss(_f32(2), _f32(2), reduction="avg"), ["mse_loss", "avg"]),
    ("embedding-out-of-range", IndexError, lambda: F.embedding(md.tensor([0, 5]), _f32(5, 3)),
     ["embedding", "(5, 3)", "5"]),
    ("embedding-float-indices", TypeError, lambda: F.embedding(_f32(2), _f32(5, 3)), ["embedding"]),
]


@pytest.mark.parametrize("exc,call,fragments", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_input_raises_a_clear_error(exc, call, fragments):
    raises(exc, call, *fragments)
