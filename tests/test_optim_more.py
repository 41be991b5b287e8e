"""The optimizers and schedulers added for PyTorch parity (issue 14), against torch.optim step for step."""
import copy
import warnings

import numpy as np
import pytest

import minidl as md
from minidl.optim import lr_scheduler as mdsched

SHAPES = [(4, 3), (3,), (2, 2, 2)]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}

# (name, kwargs): torch.optim takes the same kwargs under the same class name
CASES = [
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(weight_decay=0.05, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1)),   # rho_t > 5 from step 6: both branches
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=5, weight_decay=0.01)),   # averaging starts mid-run
    # PyTorch's implementation switches, accepted with the same update
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, foreach=False)),
    ("SGD", dict(lr=0.1, momentum=0.9, foreach=False, differentiable=False, fused=None)),
    ("RMSprop", dict(lr=0.01, capturable=False, foreach=False)),
    ("Adagrad", dict(lr=0.1, foreach=False, fused=None)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES]


def _make_params(torch, dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [md.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


def _grads(params, step, dtype):
    """A pull toward 0.5 plus step-dependent noise, from minidl's current parameters (the same batches for both)."""
    rng = np.random.default_rng(1000 + step)
    return [((p.numpy().astype(np.float64) - 0.5) * 0.7 + 0.3 * rng.standard_normal(p.shape)).astype(dtype)
            for p in params]


def _step_both(opt, topt, mine, theirs, step, dtype, torch):
    for p, tp, g in zip(mine, theirs, _grads(mine, step, dtype)):
        p.grad, tp.grad = md.tensor(g), torch.tensor(g)
    opt.step()
    topt.step()


def _assert_close(mine, theirs, dtype, msg=""):
    for i, (p, tp) in enumerate(zip(mine, theirs)):
        assert p.dtype.np == dtype
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), err_msg=f"param {i} {msg}", **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_torch_20_steps(torch, name, kw, dtype):
    mine, theirs = _make_params(torch, dtype)
    opt = getattr(md.optim, name)(mine, **kw)
    topt = getattr(torch.optim, name)(theirs, **{"foreach": False, **kw})
    for step in range(20):
        _step_both(opt, topt, mine, theirs, step, dtype, torch)
        _assert_close(mine, theirs, dtype, f"after step {step + 1}")


@pytest.mark.parametrize("name,kw", [CASES[1], CASES[4], CASES[7], CASES[9], CASES[12]],
                         ids=[IDS[1], IDS[4], IDS[7], IDS[9], IDS[12]])
def test_param_groups_and_state_dict_round_trip(torch, name, kw):
    dtype = np.float64
    mine, theirs = _make_params(torch, dtype)
    kw = dict(kw)
    lr = kw.pop("lr", 0.01)
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 3}]  # noqa: E731
    opt = getattr(md.optim, name)(groups(mine), lr=lr, **kw)
    topt = getattr(torch.optim, name)(groups(theirs), foreach=False, lr=lr, **kw)
    for step in range(10):
        _step_both(opt, topt, mine, theirs, step, dtype, torch)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for idx, entry in tsd["state"].items():             # same keys and values as PyTorch's state
        assert set(sd["state"][idx]) == set(entry)
        for key, value in entry.items():
            np.testing.assert_allclose(np.asarray(sd["state"][idx][key]), value.detach().numpy(), rtol=1e-7)
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert g["lr"] == tg["lr"] and g["params"] == tg["params"]
    # a fresh optimizer on copies of the parameters, loaded from a saved copy of the dict, continues identically
    saved = copy.deepcopy(sd)
    clones = [md.tensor(p.numpy(), requires_grad=True) for p in mine]
    opt2 = getattr(md.optim, name)(groups(clones), lr=1.0, **kw)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == lr * 3
    # and one loaded from PyTorch's own state dict too
    clones3 = [md.tensor(p.numpy(), requires_grad=True) for p in mine]
    opt3 = getattr(md.optim, name)(groups(clones3), lr=1.0, **kw)
    opt3.load_state_dict(tsd)
    for step in range(10, 20):
        grads = _grads(mine, step, dtype)
        for p, q, r, tp, g in zip(mine, clones, clones3, theirs, grads):
            p.grad, q.grad, r.grad, tp.grad = md.tensor(g), md.tensor(g), md.tensor(g), torch.tensor(g)
        opt.step()
        opt2.step()
        opt3.step()
        topt.step()
        for p, q in zip(mine, clones):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
        _assert_close(mine, theirs, dtype, f"after step {step + 1}")
        _assert_close(clones3, theirs, dtype, f"loaded from torch, after step {step + 1}")


def test_mlp_training_matches_torch(torch):
    """An nn.Sequential MLP trained by each new optimizer through model.parameters(): the same losses as PyTorch."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 1))
    for name in ("Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"):
        torch.manual_seed(0)
        tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
        model = md.nn.Sequential(md.nn.Linear(4, 8), md.nn.Tanh(), md.nn.Linear(8, 1)).double()
        model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
        opt = getattr(md.optim, name)(model.parameters(), lr=0.05)
        topt = getattr(torch.optim, name)(tmodel.parameters(), lr=0.05)
        for _ in range(20):
            opt.zero_grad()
            topt.zero_grad()
            loss = md.nn.functional.mse_loss(model(md.tensor(x)), md.tensor(y))
            tloss = torch.nn.functional.mse_loss(tmodel(torch.tensor(x)), torch.tensor(y))
            loss.backward()
            tloss.backward()
            opt.step()
            topt.step()
            assert loss.item() == pytest.approx(tloss.item(), rel=1e-10), name
        for p, tp in zip(model.parameters(), tmodel.parameters()):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-12)


# --- LBFGS ---------------------------------------------------------------------------------------------------
def _rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _convex(x, lib):
    """A smooth convex function, well enough conditioned that rounding differences do not grow."""
    scale = lib.tensor(np.linspace(1.0, 6.0, 6))
    return (0.5 * scale * (x - 1) ** 2 + 0.05 * x ** 4).sum()


# (objective, kwargs): Rosenbrock only with the line search (plain steps on it blow up, which amplifies ULPs)
LBFGS_CASES = [("rosenbrock", dict(line_search_fn="strong_wolfe")),
               ("rosenbrock", dict(max_iter=4, history_size=2, line_search_fn="strong_wolfe", lr=0.5)),
               ("convex", dict()),
               ("convex", dict(lr=0.3, max_iter=3, history_size=2)),
               ("convex", dict(max_iter=5, max_eval=4, tolerance_change=1e-12, line_search_fn="strong_wolfe"))]


@pytest.mark.parametrize("objective,kw", LBFGS_CASES, ids=[f"{o}-{k}" for o, k in LBFGS_CASES])
def test_lbfgs_matches_torch(torch, objective, kw):
    """float64, 20 steps of up to max_iter iterations each: the iterates, the returned loss and the evaluation
    counts equal PyTorch's."""
    x0 = np.array([-1.2, 1.0, 0.8, -0.5, 1.5]) if objective == "rosenbrock" else np.linspace(-2.0, 3.0, 6)
    x, tx = md.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    opt, topt = md.optim.LBFGS([x], **kw), torch.optim.LBFGS([tx], **kw)
    f = _rosenbrock if objective == "rosenbrock" else (lambda v: _convex(v, md))
    tf = _rosenbrock if objective == "rosenbrock" else (lambda v: _convex(v, torch))

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = tf(tx)
        loss.backward()
        return loss

    start = f(x).item()
    for step in range(20):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert isinstance(loss, md.Tensor)              # the first closure value, as PyTorch returns it
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-10, abs=1e-14), step
        np.testing.assert_allclose(x.numpy(), tx.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=f"step {step}")
        state, tstate = opt.state[x], topt.state[tx]
        assert (state["func_evals"], state["n_iter"]) == (tstate["func_evals"], tstate["n_iter"]), step
        assert len(state["old_dirs"]) == len(tstate["old_dirs"]) <= opt.defaults["history_size"]
    assert f(x).item() < start / 5


def test_lbfgs_mlp_matches_torch_and_state_dict_resumes(torch):
    """The way public programs use it (e.g. the time-sequence example): a model, a closure, strong Wolfe."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    torch.manual_seed(1)
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).double()
    model = md.nn.Sequential(md.nn.Linear(3, 6), md.nn.Tanh(), md.nn.Linear(6, 1)).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    opt = md.optim.LBFGS(model.parameters(), lr=0.8, max_iter=6, history_size=5, line_search_fn="strong_wolfe")
    topt = torch.optim.LBFGS(tmodel.parameters(), lr=0.8, max_iter=6, history_size=5, line_search_fn="strong_wolfe")

    def make_closure(m, o, lib):
        def closure():
            o.zero_grad()
            loss = lib.nn.functional.mse_loss(m(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            return loss
        return closure

    for step in range(6):
        loss = opt.step(make_closure(model, opt, md))
        tloss = topt.step(make_closure(tmodel, topt, torch))
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-9), step
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-8, atol=1e-10)
    # resume from a saved copy of the state dict (history lists included): the same iterates
    saved = copy.deepcopy(opt.state_dict())
    clone = md.nn.Sequential(md.nn.Linear(3, 6), md.nn.Tanh(), md.nn.Linear(6, 1)).double()
    clone.load_state_dict(model.state_dict())
    opt2 = md.optim.LBFGS(clone.parameters(), lr=0.8, max_iter=6, history_size=5, line_search_fn="strong_wolfe")
    opt2.load_state_dict(saved)
    first = next(iter(clone.parameters()))
    assert len(opt2.state[first]["old_dirs"]) == len(topt.state[tmodel[0].weight]["old_dirs"])
    # PyTorch's own LBFGS state dict loads too, and its next step agrees with PyTorch's
    from_torch = md.nn.Sequential(md.nn.Linear(3, 6), md.nn.Tanh(), md.nn.Linear(6, 1)).double()
    from_torch.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    opt3 = md.optim.LBFGS(from_torch.parameters(), lr=0.8, max_iter=6, history_size=5, line_search_fn="strong_wolfe")
    opt3.load_state_dict(copy.deepcopy(topt.state_dict()))
    tmodel_copy = copy.deepcopy(tmodel)
    topt_copy = torch.optim.LBFGS(tmodel_copy.parameters(), lr=0.8, max_iter=6, history_size=5,
                                  line_search_fn="strong_wolfe")
    topt_copy.load_state_dict(copy.deepcopy(topt.state_dict()))
    opt3.step(make_closure(from_torch, opt3, md))
    topt_copy.step(make_closure(tmodel_copy, topt_copy, torch))
    for p, tp in zip(from_torch.parameters(), tmodel_copy.parameters()):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-7, atol=1e-9)
    for _ in range(3):
        loss = opt.step(make_closure(model, opt, md))
        opt2.step(make_closure(clone, opt2, md))
        tloss = topt.step(make_closure(tmodel, topt, torch))
        for p, q in zip(model.parameters(), clone.parameters()):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
        # near the minimum the iterates amplify rounding differences; the losses still agree
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-7)


def test_lbfgs_float32_and_defaults(torch):
    w = md.tensor(np.array([1.5, -0.5], dtype=np.float32), requires_grad=True)
    tw = torch.tensor([1.5, -0.5], requires_grad=True)
    opt, topt = md.optim.LBFGS([w], max_iter=7), torch.optim.LBFGS([tw], max_iter=7)
    assert opt.defaults == {k: v for k, v in topt.defaults.items() if k in opt.defaults}
    assert opt.defaults["max_eval"] == 8 and md.optim.LBFGS([w]).defaults["max_eval"] == 25

    def closure(p, o):
        o.zero_grad()
        loss = ((p - 0.25) ** 2 * p.new_tensor([1.0, 10.0]) if hasattr(p, "new_tensor") else None).sum()
        loss.backward()
        return loss

    def mine():
        opt.zero_grad()
        loss = ((w - 0.25) ** 2 * md.tensor(np.array([1.0, 10.0], dtype=np.float32))).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(mine)
        topt.step(lambda: closure(tw, topt))
    assert w.dtype == md.float32
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.numpy(), [0.25, 0.25], atol=1e-4)


def test_lbfgs_errors():
    w = md.zeros(2, requires_grad=True)
    opt = md.optim.LBFGS([w])
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="parameter groups"):
        md.optim.LBFGS([{"params": [w]}, {"params": [md.zeros(1, requires_grad=True)], "lr": 0.1}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        md.optim.LBFGS([w], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="learning rate"):
        md.optim.LBFGS([w], lr=-1)
    calls = []

    def optimal():                              # a zero gradient: one evaluation, no update, its loss returned
        opt.zero_grad()
        loss = (w * 0).sum()
        loss.backward()
        calls.append(1)
        return loss

    assert opt.step(optimal).item() == 0.0 and len(calls) == 1


def test_optimizer_argument_errors():
    w = [md.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="rho"):
        md.optim.Adadelta(w, rho=1.5)
    with pytest.raises(ValueError, match="learning rate"):
        md.optim.Adadelta(w, lr=-0.1)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        md.optim.Adamax(w, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="momentum_decay"):
        md.optim.NAdam(w, momentum_decay=-1)
    with pytest.raises(ValueError, match="epsilon"):
        md.optim.RAdam(w, eps=-1)
    with pytest.raises(ValueError, match="weight_decay"):
        md.optim.ASGD(w, weight_decay=-1)
    assert md.optim.Adadelta(w).defaults == dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False)
    assert {"ASGD", "Adadelta", "Adamax", "LBFGS", "NAdam", "RAdam"} <= set(md.optim.__all__)


# --- schedulers ----------------------------------------------------------------------------------------------
class _Decay:
    """A callable object as lr_lambda: its attributes travel in the state dict, as PyTorch's do."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate ** epoch


def _build(lib, name, opt):
    sched = lib.optim.lr_scheduler
    return {
        "LambdaLR": lambda: sched.LambdaLR(opt, lambda e: 0.9 ** e),
        "LambdaLR-list": lambda: sched.LambdaLR(opt, [lambda e: 0.9 ** e, lambda e: 1 / (e + 1)]),
        "MultiplicativeLR": lambda: sched.MultiplicativeLR(opt, lambda e: 0.95 if e % 3 else 0.8),
        "LinearLR": lambda: sched.LinearLR(opt),
        "LinearLR-down": lambda: sched.LinearLR(opt, start_factor=0.5, end_factor=0.1, total_iters=12),
        "ConstantLR": lambda: sched.ConstantLR(opt),
        "ConstantLR-7": lambda: sched.ConstantLR(opt, factor=0.5, total_iters=7),
        "PolynomialLR": lambda: sched.PolynomialLR(opt, total_iters=20, power=2.0),
        "OneCycleLR": lambda: sched.OneCycleLR(opt, max_lr=[0.5, 1.0], total_steps=35),
        "OneCycleLR-linear-3phase": lambda: sched.OneCycleLR(opt, max_lr=0.5, epochs=5, steps_per_epoch=7,
                                                             anneal_strategy="linear", three_phase=True,
                                                             pct_start=0.25, div_factor=10.0),
        "CosineAnnealingWarmRestarts": lambda: sched.CosineAnnealingWarmRestarts(opt, T_0=5),
        "CosineAnnealingWarmRestarts-mult": lambda: sched.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2,
                                                                                      eta_min=0.01),
        "SequentialLR": lambda: sched.SequentialLR(
            opt, [sched.LinearLR(opt, start_factor=0.1, total_iters=5), sched.CosineAnnealingLR(opt, T_max=15),
                  sched.ExponentialLR(opt, gamma=0.9)], milestones=[5, 20]),
        "ChainedScheduler": lambda: sched.ChainedScheduler(
            [sched.ConstantLR(opt, factor=0.1, total_iters=3), sched.ExponentialLR(opt, gamma=0.9)]),
        "CyclicLR": lambda: sched.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6),
        "CyclicLR-triangular2": lambda: sched.CyclicLR(opt, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=3,
                                                       mode="triangular2"),
        "CyclicLR-exp_range": lambda: sched.CyclicLR(opt, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                                                     mode="exp_range", gamma=0.95, base_momentum=0.7),
    }[name]()


SCHEDS = ["LambdaLR", "LambdaLR-list", "MultiplicativeLR", "LinearLR", "LinearLR-down", "ConstantLR", "ConstantLR-7",
          "PolynomialLR", "OneCycleLR", "OneCycleLR-linear-3phase", "CosineAnnealingWarmRestarts",
          "CosineAnnealingWarmRestarts-mult", "SequentialLR", "ChainedScheduler", "CyclicLR", "CyclicLR-triangular2",
          "CyclicLR-exp_range"]
STEPS = 34                  # the OneCycleLR cases have 35 steps in all


def _optimizers(torch, opt_name, dtype=np.float32):
    mine, theirs = _make_params(torch, dtype)
    groups = lambda ps: [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.3}]  # noqa: E731
    if opt_name == "SGD":
        return (md.optim.SGD(groups(mine), lr=0.1, momentum=0.9), torch.optim.SGD(groups(theirs), lr=0.1,
                momentum=0.9, foreach=False), mine, theirs)
    return (md.optim.Adam(groups(mine), lr=0.1), torch.optim.Adam(groups(theirs), lr=0.1, foreach=False), mine,
            theirs)


def _momenta(opt):
    return [g["momentum"] if "momentum" in g else g["betas"][0] for g in opt.param_groups]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("name", SCHEDS)
def test_scheduler_matches_torch(torch, name, opt_name):
    """The lr (and the momentum or beta1 the cyclic schedules move) each step, and the parameters trained with them."""
    opt, topt, mine, theirs = _optimizers(torch, opt_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # torch's warnings about step order
        sched, tsched = _build(md, name, opt), _build(torch, name, topt)
        for step in range(STEPS):
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-14, abs=1e-16), step
            assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
            assert _momenta(opt) == pytest.approx(_momenta(topt), rel=1e-14), step
            _step_both(opt, topt, mine, theirs, step, np.float32, torch)
            sched.step()
            tsched.step()
    _assert_close(mine, theirs, np.float32)
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-14, abs=1e-16)


@pytest.mark.parametrize("name", SCHEDS)
def test_scheduler_state_dict_round_trip(torch, name):
    """A scheduler and optimizer rebuilt mid-run from saved state dicts continue with the same lrs."""
    opt, _, _, _ = _optimizers(torch, "SGD")
    sched = _build(md, name, opt)
    for _ in range(12):
        opt.step()
        sched.step()
    saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    opt2, _, _, _ = _optimizers(torch, "SGD")
    sched2 = _build(md, name, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for _ in range(STEPS - 13):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
        assert _momenta(opt2) == _momenta(opt)


def test_lambda_state_dict_keeps_callable_objects_state(torch):
    w = md.zeros(2, requires_grad=True)
    sched = mdsched.LambdaLR(md.optim.SGD([w], lr=1.0), _Decay(0.5))
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.5}]
    other = mdsched.LambdaLR(md.optim.SGD([md.zeros(1, requires_grad=True)], lr=1.0), _Decay(0.9))
    other.load_state_dict(sd)
    other.step()
    assert other.get_last_lr() == [0.5]
    plain = mdsched.LambdaLR(md.optim.SGD([w], lr=1.0), lambda e: 1.0).state_dict()
    assert plain["lr_lambdas"] == [None]


def test_cosine_warm_restarts_float_epochs(torch):
    """Stepping with fractional epochs within an epoch (the documented batch-wise use) and jumping back."""
    opt, topt, _, _ = _optimizers(torch, "SGD")
    sched = mdsched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3, eta_min=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=3, eta_min=0.001)
        epochs = [e + i / 4 for e in range(12) for i in range(4)] + [0.5, 7, 1.25, 30.0]
        for epoch in epochs:
            sched.step(epoch)
            tsched.step(epoch)
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13), epoch
            assert sched.T_i == tsched.T_i and sched.last_epoch == tsched.last_epoch
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.step(-1)


def test_onecycle_stepped_past_total_steps_raises_like_torch(torch):
    opt, topt, _, _ = _optimizers(torch, "Adam")
    sched = mdsched.OneCycleLR(opt, max_lr=0.1, total_steps=5)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            sched.step()
            tsched.step()
        with pytest.raises(ValueError):
            tsched.step()
    with pytest.raises(ValueError, match="tried to step 6 times.*total steps is 5"):
        sched.step()


def test_scheduler_argument_errors():
    w = md.zeros(2, requires_grad=True)
    sgd = md.optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="total_steps OR"):
        mdsched.OneCycleLR(sgd, max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        mdsched.OneCycleLR(sgd, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="pct_start"):
        mdsched.OneCycleLR(sgd, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="momentum or beta1"):
        mdsched.OneCycleLR(md.optim.Adagrad([w]), max_lr=0.1, total_steps=10)
    mdsched.OneCycleLR(md.optim.Adagrad([w]), max_lr=0.1, total_steps=10, cycle_momentum=False)
    with pytest.raises(ValueError, match="one value per param group"):
        mdsched.OneCycleLR(sgd, max_lr=[0.1, 0.2], total_steps=10)
    with pytest.raises(ValueError, match="T_0"):
        mdsched.CosineAnnealingWarmRestarts(sgd, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        mdsched.CosineAnnealingWarmRestarts(sgd, T_0=2, T_mult=1.5)
    with pytest.raises(ValueError, match="start_factor"):
        mdsched.LinearLR(sgd, start_factor=0)
    with pytest.raises(ValueError, match="factor"):
        mdsched.ConstantLR(sgd, factor=2.0)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas"):
        mdsched.LambdaLR(sgd, [lambda e: 1.0, lambda e: 2.0])
    with pytest.raises(TypeError, match="should be a function"):
        mdsched.MultiplicativeLR(sgd, 0.9)
    with pytest.raises(ValueError, match="mode"):
        mdsched.CyclicLR(sgd, base_lr=0.01, max_lr=0.1, mode="sawtooth")
    s1 = mdsched.ExponentialLR(sgd, gamma=0.9)
    other = mdsched.ExponentialLR(md.optim.SGD([md.zeros(1, requires_grad=True)], lr=0.1), gamma=0.9)
    with pytest.raises(ValueError, match="same optimizer"):
        mdsched.SequentialLR(sgd, [s1, other], milestones=[3])
    with pytest.raises(ValueError, match="one milestone fewer"):
        mdsched.SequentialLR(sgd, [s1], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        mdsched.ChainedScheduler([s1, mdsched.ReduceLROnPlateau(sgd)])
    with pytest.raises(ValueError, match="at least one"):
        mdsched.ChainedScheduler([])
    assert {"LambdaLR", "OneCycleLR", "LinearLR", "CosineAnnealingWarmRestarts", "SequentialLR", "ChainedScheduler",
            "PolynomialLR", "CyclicLR", "MultiplicativeLR", "ConstantLR"} <= set(mdsched.__all__)
    assert md.optim.lr_scheduler.OneCycleLR is mdsched.OneCycleLR


def test_autograd_through_the_optimizer_step_is_refused_by_name():
    w = md.nn.Parameter(md.ones(2))
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "NAdam"):
        with pytest.raises(NotImplementedError, match=f"{name}: differentiable=True"):
            getattr(md.optim, name)([w], lr=0.1, differentiable=True)
