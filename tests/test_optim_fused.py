"""The fused optimizer steps (native ``*_step`` kernels) against the per-parameter reference and torch.optim."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.backends import provider_kernel, reference

DTYPES = [np.float32, np.float64]
# zero-size, one-element, odd and vector-width-crossing sizes in one group
SHAPES = [(7, 5), (0,), (1,), (33,), (2, 0, 3), (4, 4, 4), (129,)]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}

native = pytest.mark.skipif(provider_kernel("native", "adam_step") is None,
                            reason=f"native provider unusable here: {md.backends.available()['native']}")


# --- option spaces: the optimizer kwargs of every combination of the flags, drawn by hypothesis -------------------

def _sgd_kw(draw):
    momentum = draw(st.sampled_from([0.0, 0.9, 0.5]))
    nesterov = momentum > 0 and draw(st.booleans())
    return "SGD", dict(lr=draw(st.sampled_from([0.1, 0.01])), momentum=momentum,
                       dampening=0.0 if nesterov else draw(st.sampled_from([0.0, 0.3])),
                       weight_decay=draw(st.sampled_from([0.0, 0.05])), nesterov=nesterov,
                       maximize=draw(st.booleans()))


def _adam_kw(draw):
    name = draw(st.sampled_from(["Adam", "AdamW"]))
    return name, dict(lr=draw(st.sampled_from([0.01, 0.001])),
                      betas=draw(st.sampled_from([(0.9, 0.999), (0.3, 0.6), (0.0, 0.99)])),
                      eps=draw(st.sampled_from([1e-8, 1e-3])), weight_decay=draw(st.sampled_from([0.0, 0.1])),
                      amsgrad=draw(st.booleans()), maximize=draw(st.booleans()))


def _rmsprop_kw(draw):
    return "RMSprop", dict(lr=draw(st.sampled_from([0.01, 0.001])), alpha=draw(st.sampled_from([0.99, 0.3])),
                           eps=draw(st.sampled_from([1e-8, 1e-4])), weight_decay=draw(st.sampled_from([0.0, 0.1])),
                           momentum=draw(st.sampled_from([0.0, 0.9])), centered=draw(st.booleans()),
                           maximize=draw(st.booleans()))


def _adagrad_kw(draw):
    return "Adagrad", dict(lr=draw(st.sampled_from([0.1, 0.01])), lr_decay=draw(st.sampled_from([0.0, 0.01])),
                           weight_decay=draw(st.sampled_from([0.0, 0.1])),
                           initial_accumulator_value=draw(st.sampled_from([0.0, 0.5])),
                           eps=draw(st.sampled_from([1e-10, 1e-4])), maximize=draw(st.booleans()))


@st.composite
def optimizer_cases(draw):
    return draw(st.sampled_from([_sgd_kw, _adam_kw, _rmsprop_kw, _adagrad_kw]))(draw)


# --- helpers --------------------------------------------------------------------------------------------------------

def _params(dtype, shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [md.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _grad(p, step, i):
    rng = np.random.default_rng(1000 * step + i)
    return ((p.array.astype(np.float64) - 0.5) * 0.7 + 0.3 * rng.standard_normal(p.shape)).astype(p.array.dtype)


def _run(name, kw, dtype, steps=4, provider=None, skip=(), shapes=SHAPES):
    """Parameters and state after ``steps`` steps; parameters at indices ``skip`` never get a gradient."""
    params = _params(dtype, shapes)
    opt = getattr(md.optim, name)(params, **kw)
    for step in range(steps):
        for i, p in enumerate(params):
            p.grad = None if i in skip else md.tensor(_grad(p, step, i))
        if provider is None:
            opt.step()
        else:
            with md.backends.use(provider):
                opt.step()
    return params, opt


def _assert_identical(a, b):
    """Bit for bit (NaN where the other has NaN)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b, strict=True)


def _assert_same_state(opt_a, opt_b):
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for idx in sa["state"]:
        ea, eb = sa["state"][idx], sb["state"][idx]
        assert ea.keys() == eb.keys(), idx
        for k in ea:
            if hasattr(ea[k], "shape"):
                _assert_identical(ea[k].numpy(), eb[k].numpy())
            else:
                assert ea[k] == eb[k] and type(ea[k]) is type(eb[k]), (idx, k)


# --- the native kernels against the reference, bit for bit ------------------------------------------------------------

@native
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@settings(max_examples=30, deadline=None)
@given(case=optimizer_cases())
def test_fused_step_equals_per_parameter_reference(dtype, case):
    name, kw = case
    fused, opt_fused = _run(name, kw, dtype, skip={2})
    ref, opt_ref = _run(name, kw, dtype, skip={2}, provider="numpy")
    for a, b in zip(fused, ref):
        _assert_identical(a.numpy(), b.numpy())
    _assert_same_state(opt_fused, opt_ref)
    assert 2 not in opt_fused.state_dict()["state"]     # a parameter without a gradient has no state


@native
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                     ("AdamW", dict(lr=0.01, amsgrad=True)),
                                     ("RMSprop", dict(momentum=0.9, centered=True, weight_decay=0.1)),
                                     ("Adagrad", dict(lr_decay=0.1, weight_decay=0.1))])
@pytest.mark.parametrize("parallel", [True, False], ids=["threads", "one-thread"])
def test_large_group_split_across_threads_equals_reference(name, kw, dtype, parallel):
    # the threads' split lands inside parameters of very different sizes; the cut-over is forced either way
    from minidl import _C
    shapes = [(301, 257), (5,), (0,), (1,), (70001,), (3, 1111), (2,)]
    saved = _C.optim_tuning()
    _C.optim_tuning(fork_ns=0.0 if parallel else 1e30)
    try:
        fused, _ = _run(name, kw, dtype, steps=2, shapes=shapes)
    finally:
        _C.optim_tuning(fork_ns=saved["fork_ns"])
    ref, _ = _run(name, kw, dtype, steps=2, shapes=shapes, provider="numpy")
    for a, b in zip(fused, ref):
        _assert_identical(a.numpy(), b.numpy())


@native
@pytest.mark.parametrize("name,kw", [("Adam", dict(amsgrad=True)), ("RMSprop", dict(centered=True)),
                                     ("Adagrad", {}), ("SGD", dict(momentum=0.9))])
def test_nan_and_inf_gradients_propagate_like_the_reference(name, kw):
    def run(provider):
        params = _params(np.float32, [(40,)])
        opt = getattr(md.optim, name)(params, **kw)
        g = _grad(params[0], 0, 0)
        g[[3, 17]], g[9] = np.nan, np.inf
        params[0].grad = md.tensor(g)
        with md.backends.use(provider), np.errstate(invalid="ignore"):
            opt.step()
        return params[0].numpy()
    _assert_identical(run("native"), run("numpy"))


@native
def test_one_native_call_per_group_and_per_parameter_fallbacks():
    w32, b32 = _params(np.float32, [(6, 4), (4,)])
    (w64,) = _params(np.float64, [(3,)])
    opt = md.optim.Adam([{"params": [w32, b32]}, {"params": [w64]}], lr=0.01)
    for p in (w32, b32, w64):
        p.grad = md.tensor(_grad(p, 0, 0))
    with md.backends.trace() as log:
        opt.step()
    assert [(r.kernel, r.provider) for r in log] == [("adam_step", "native"), ("adam_step", "native")]
    # a group of mixed dtypes goes through the per-parameter reference: no kernel call is dispatched
    mixed = md.optim.Adam([w32, w64], lr=0.01)
    with md.backends.trace() as log:
        mixed.step()
    assert not log


def test_mixed_dtypes_and_strided_arrays_take_the_per_parameter_path():
    # the same arithmetic as one parameter at a time: compare with single-parameter optimizers
    def run(split):
        w32, b64 = _params(np.float32, [(5, 3)])[0], _params(np.float64, [(4,)])[0]
        params = [w32, b64]
        opts = [md.optim.RMSprop([p], momentum=0.9, centered=True) for p in params] if split else \
            [md.optim.RMSprop(params, momentum=0.9, centered=True)]
        for step in range(3):
            for i, p in enumerate(params):
                g = np.asfortranarray(_grad(p, step, i))   # a strided gradient for the 2-D one
                p.grad = md.tensor(g)
            for o in opts:
                o.step()
        return [p.numpy() for p in params]
    for a, b in zip(run(split=False), run(split=True)):
        _assert_identical(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@settings(max_examples=15, deadline=None)
@given(case=optimizer_cases())
def test_forced_numpy_provider_equals_the_reference_functions(dtype, case):
    # the per-parameter path: md.backends.use("numpy") runs reference.*_step; so does a provider without the kernel
    name, kw = case
    a, _ = _run(name, kw, dtype, provider="numpy")
    b, _ = _run(name, kw, dtype, provider="numba") if "numba" in md.backends.usable() else (a, None)
    for x, y in zip(a, b):
        _assert_identical(x.numpy(), y.numpy())


# --- against PyTorch --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@settings(max_examples=25, deadline=None)
@given(case=optimizer_cases())
def test_matches_torch_optim(torch, dtype, case):
    name, kw = case
    shapes = [s for s in SHAPES if 0 not in s] + [(0,), (1,)]
    params = _params(dtype, shapes)
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in params]
    opt = getattr(md.optim, name)(params, **kw)
    topt = getattr(torch.optim, name)(theirs, foreach=False, **kw)
    for step in range(5):
        for i, (p, tp) in enumerate(zip(params, theirs)):
            if i == 1:
                continue                    # never a gradient: skipped by both
            g = _grad(p, step, i)
            p.grad, tp.grad = md.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(params, theirs)):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), err_msg=f"{name} {kw} step {step} param {i}",
                                       **TOL[dtype])
    mine_sd, torch_sd = opt.state_dict()["state"], topt.state_dict()["state"]
    for idx, entry in mine_sd.items():          # the same state keys (minidl keeps {} where torch keeps nothing)
        assert set(entry) == {k for k, v in torch_sd.get(idx, {}).items() if v is not None}


# --- the kernels' own contract ------------------------------------------------------------------------------------------

@native
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_native_kernels_equal_reference_kernels_directly(dtype):
    rng = np.random.default_rng(3)
    sizes = [(9,), (0,), (1,), (2, 17)]

    def arrays(k):
        return [[rng.standard_normal(s).astype(dtype) for s in sizes] for _ in range(k)]
    steps = np.array([1.0, 2.0, 3.0, 7.0])
    cases = [("adam_step", steps, 5, (0.01, 0.9, 0.999, 1e-8, 0.1, True, True, False)),
             ("adam_step", steps, 5, (0.01, 0.3, 0.6, 1e-3, 0.1, False, False, True)),
             ("rmsprop_step", steps, 5, (0.01, 0.9, 1e-8, 0.1, 0.9, True, True)),
             ("adagrad_step", steps, 3, (0.1, 0.01, 0.1, 1e-10, False)),
             ("sgd_step", np.array([True, False, True, False]), 3, (0.1, 0.9, 0.1, 0.01, False, True))]
    for kernel, first, k, scalars in cases:
        ref = arrays(k)
        if kernel != "sgd_step":    # squared averages are >= 0 (centered RMSprop may still take a root of < 0)
            ref[2 + (kernel == "adam_step"):] = [[np.abs(a) for a in lst] for lst in ref[2 + (kernel == "adam_step"):]]
        fused = [[a.copy() for a in lst] for lst in ref]
        with np.errstate(invalid="ignore"):
            getattr(reference, kernel)(first, *ref, *scalars)
        provider_kernel("native", kernel)(first, *fused, *scalars)
        for la, lb in zip(fused, ref):
            for a, b in zip(la, lb):
                _assert_identical(a, b)


@native
def test_native_kernels_refuse_arrays_they_cannot_update_safely():
    adam = provider_kernel("native", "adam_step")
    p = [np.zeros(4, np.float32), np.zeros(3, np.float32)]

    def call(params=p, grads=None, m=None, v=None, steps=None):
        steps = steps if steps is not None else np.ones(2)
        grads = grads if grads is not None else [np.ones(4, np.float32), np.ones(3, np.float32)]
        m = m if m is not None else [np.zeros(4, np.float32), np.zeros(3, np.float32)]
        v = v if v is not None else [np.zeros(4, np.float32), np.zeros(3, np.float32)]
        adam(steps, params, grads, m, v, [], 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)

    call()
    before = p[0].copy()
    with pytest.raises(ValueError, match="adam_step: grads\\[1\\]"):
        call(grads=[np.ones(4, np.float32), np.ones(5, np.float32)])            # too short/long
    with pytest.raises(ValueError, match="adam_step: exp_avgs\\[0\\]"):
        call(m=[np.zeros(4, np.float64), np.zeros(3, np.float32)])              # another dtype
    with pytest.raises(ValueError, match="adam_step: exp_avg_sqs\\[0\\]"):
        call(v=[np.zeros(8, np.float32)[::2], np.zeros(3, np.float32)])         # strided
    with pytest.raises(ValueError, match="adam_step: 1 exp_avgs for 2 parameters"):
        call(m=[np.zeros(4, np.float32)])
    with pytest.raises(ValueError, match="adam_step: 1 step counts"):
        call(steps=np.ones(1))
    with pytest.raises(ValueError, match="float32 or float64"):
        call(params=[np.zeros(4, np.int32), np.zeros(3, np.int32)])
    _assert_identical(p[0], before)                                             # refused calls wrote nothing


@native
def test_tuning_reports_a_measured_cut_over():
    from minidl import _C
    t = _C.optim_tuning()
    assert t["threads"] >= 1 and t["byte_ns"] > 0
    assert (t["parallel_threshold_adam_float32"] == -1) == (t["threads"] == 1)
    if t["threads"] > 1:
        assert t["fork_ns"] > 0 and t["parallel_threshold_sgd_float32"] > t["parallel_threshold_adam_float32"]
