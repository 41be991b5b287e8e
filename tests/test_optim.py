"""Optimizers and learning-rate schedulers against PyTorch, step for step."""
import copy
import math

import numpy as np
import pytest

import minidl as md
from minidl.optim import lr_scheduler as mdsched

SHAPES = [(4, 3), (3,), (2, 2, 2)]

# (name, minidl kwargs); torch takes the same kwargs under the same class name
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01, eps=1e-6)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def _make_params(torch, dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    mine = [md.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return mine, theirs


def _grads(mine, step, dtype):
    """A quadratic pull toward a target plus step-dependent noise, from minidl's current parameters."""
    rng = np.random.default_rng(1000 + step)
    return [((p.array.astype(np.float64) - 0.5) * 0.7 + 0.3 * rng.standard_normal(p.shape)).astype(dtype)
            for p in mine]


def _step_both(opt, topt, mine, theirs, step, dtype, torch):
    for p, tp, g in zip(mine, theirs, _grads(mine, step, dtype)):
        p.grad = md.tensor(g)
        tp.grad = torch.tensor(g)
    opt.step()
    topt.step()


def _assert_close(mine, theirs, dtype, msg=""):
    for i, (p, tp) in enumerate(zip(mine, theirs)):
        assert p.dtype.np == dtype
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), err_msg=f"param {i} {msg}", **TOL[dtype])


def _torch_opt(torch, name, params, kw):
    return getattr(torch.optim, name)(params, foreach=False, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_torch_20_steps(torch, name, kw, dtype):
    mine, theirs = _make_params(torch, dtype)
    opt = getattr(md.optim, name)(mine, **kw)
    topt = _torch_opt(torch, name, theirs, kw)
    for step in range(20):
        _step_both(opt, topt, mine, theirs, step, dtype, torch)
        _assert_close(mine, theirs, dtype, f"after step {step + 1}")


@pytest.mark.parametrize("name,kw", [CASES[2], CASES[8], CASES[10], CASES[15], CASES[17]],
                         ids=[IDS[2], IDS[8], IDS[10], IDS[15], IDS[17]])
def test_param_groups_and_state_dict_round_trip(torch, name, kw):
    dtype = np.float32
    mine, theirs = _make_params(torch, dtype)
    kw = dict(kw)
    lr = kw.pop("lr")
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 3}]
    opt = getattr(md.optim, name)(groups(mine), lr=lr, **kw)
    topt = _torch_opt(torch, name, groups(theirs), dict(kw, lr=lr))
    for step in range(10):
        _step_both(opt, topt, mine, theirs, step, dtype, torch)
    sd = opt.state_dict()
    tsd = topt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1] and sd["param_groups"][1]["params"] == [2]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for idx, entry in tsd["state"].items():
        assert set(sd["state"][idx]) == set(entry)
        for key, value in entry.items():
            np.testing.assert_allclose(np.asarray(sd["state"][idx][key]), value.detach().numpy(), **TOL[dtype])
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert g["lr"] == tg["lr"]
    # a fresh optimizer on copies of the parameters, loaded from the (saved) state dict, continues identically
    saved = copy.deepcopy(sd)
    clones = [md.tensor(p.numpy(), requires_grad=True) for p in mine]
    opt2 = getattr(md.optim, name)(groups(clones), lr=1.0, **kw)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == lr * 3
    for step in range(10, 20):
        grads = _grads(mine, step, dtype)
        for p, q, tp, g in zip(mine, clones, theirs, grads):
            p.grad, q.grad, tp.grad = md.tensor(g), md.tensor(g), torch.tensor(g)
        opt.step()
        opt2.step()
        topt.step()
        for p, q in zip(mine, clones):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
        _assert_close(mine, theirs, dtype, f"after step {step + 1}")
    # the saved dict was a snapshot: training on did not change it
    for idx in saved["state"]:
        for key, value in saved["state"][idx].items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(sd["state"][idx][key]))


def test_load_torch_state_dict(torch):
    mine, theirs = _make_params(torch, np.float32)
    topt = torch.optim.Adam(theirs, lr=0.01, foreach=False)
    opt = md.optim.Adam(mine, lr=0.5)
    for step in range(5):
        _step_both(opt, topt, mine, theirs, step, np.float32, torch)
    opt2 = md.optim.Adam([md.tensor(tp.detach().numpy(), requires_grad=True) for tp in theirs])
    opt2.load_state_dict(topt.state_dict())
    assert opt2.state[opt2.param_groups[0]["params"][0]]["step"] == 5.0
    assert opt2.param_groups[0]["lr"] == 0.01


def test_mlp_training_matches_torch(torch):
    """Both frameworks' autograd and Adam on the same tiny MLP: the losses agree over 20 steps."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    init = [rng.standard_normal(s).astype(np.float32) * 0.5 for s in [(4, 8), (8,), (8, 1), (1,)]]
    mine = [md.tensor(a, requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt = md.optim.Adam(mine, lr=0.01, weight_decay=1e-3)
    topt = torch.optim.Adam(theirs, lr=0.01, weight_decay=1e-3, foreach=False)

    def run(lib, ps, xx, yy):
        h = (xx @ ps[0] + ps[1]).tanh()
        return ((h @ ps[2] + ps[3] - yy) ** 2).mean()

    for _ in range(20):
        opt.zero_grad()
        topt.zero_grad()
        loss = run(md, mine, md.tensor(x), md.tensor(y))
        tloss = run(torch, theirs, torch.tensor(x), torch.tensor(y))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        assert abs(loss.item() - tloss.item()) <= 1e-5 * max(1.0, abs(tloss.item()))
    for p, tp in zip(mine, theirs):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_closure_zero_grad_and_no_graph():
    w = md.tensor([1.0, -2.0], requires_grad=True)
    opt = md.optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with md.no_grad():                     # the closure still records a graph
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(w.numpy(), [0.8, -1.6], rtol=1e-6)
    assert w.is_leaf and w.requires_grad
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None
    opt.step()                              # no gradient: nothing changes
    np.testing.assert_allclose(w.numpy(), [0.8, -1.6], rtol=1e-6)


def test_step_invalidates_saved_graphs():
    w = md.tensor([1.0, 2.0], requires_grad=True)
    opt = md.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    loss = (w * w).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="modified|version"):
        loss.backward()


def test_add_param_group_and_errors():
    a, b = md.zeros(2, requires_grad=True), md.zeros(3, requires_grad=True)
    opt = md.optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "betas": (0.5, 0.6)})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["betas"] == (0.5, 0.6)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        md.optim.SGD([a], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        md.optim.Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
        md.optim.AdamW([a], betas=(-0.1, 0.9))
    with pytest.raises(ValueError, match="Invalid epsilon"):
        md.optim.RMSprop([a], eps=-1)
    with pytest.raises(ValueError, match="Invalid momentum"):
        md.optim.SGD([a], momentum=-0.5)
    with pytest.raises(ValueError, match="Nesterov"):
        md.optim.SGD([a], momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid weight_decay"):
        md.optim.Adagrad([a], weight_decay=-1)
    with pytest.raises(ValueError, match="Invalid lr_decay"):
        md.optim.Adagrad([a], lr_decay=-1)
    with pytest.raises(ValueError, match="Invalid alpha"):
        md.optim.RMSprop([a], alpha=-0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        md.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        md.optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="floating point.*int64"):
        md.optim.SGD([md.tensor([1, 2])], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        md.optim.SGD(a, lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        md.optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0], "lr": 1.0}]})
    with pytest.warns(UserWarning, match="duplicate"):
        md.optim.SGD([a, a], lr=0.1)


# --- schedulers -------------------------------------------------------------------------------------------
SCHEDS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
]


@pytest.mark.parametrize("name,kw", SCHEDS, ids=[f"{n}-{kw}" for n, kw in SCHEDS])
def test_schedulers_match_torch(torch, name, kw):
    mine, theirs = _make_params(torch, np.float32)
    opt = md.optim.SGD([{"params": mine[:1]}, {"params": mine[1:], "lr": 0.3}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.3}], lr=0.1, momentum=0.9)
    sched = getattr(mdsched, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert sched.get_last_lr() == tsched.get_last_lr()
    for step in range(20):
        _step_both(opt, topt, mine, theirs, step, np.float32, torch)
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-14, abs=1e-16), step
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
    _assert_close(mine, theirs, np.float32)
    assert sched.state_dict()["last_epoch"] == tsched.state_dict()["last_epoch"] == 20
    assert sched.state_dict()["base_lrs"] == [0.1, 0.3]


def test_scheduler_closed_form_and_resume():
    w = md.zeros(2, requires_grad=True)
    opt = md.optim.SGD([w], lr=1.0)
    sched = mdsched.StepLR(opt, step_size=2, gamma=0.5)
    sched.step(7)                            # jump: closed form
    assert sched.get_last_lr() == [0.125]
    cos = mdsched.CosineAnnealingLR(md.optim.SGD([md.zeros(1, requires_grad=True)], lr=2.0), T_max=4)
    for _ in range(4):
        cos.step()
    assert cos.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(KeyError, match="initial_lr"):
        mdsched.ExponentialLR(md.optim.SGD([md.zeros(1, requires_grad=True)], lr=1.0), gamma=0.5, last_epoch=3)
    with pytest.raises(ValueError, match="step_size"):
        mdsched.StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="not an Optimizer"):
        mdsched.StepLR(object(), step_size=1)
    # resume: a new scheduler on the same optimizer state continues where the first left off
    exp = mdsched.ExponentialLR(md.optim.SGD([md.zeros(1, requires_grad=True)], lr=1.0), gamma=0.5)
    exp.step()
    exp.step()
    resumed = mdsched.ExponentialLR(exp.optimizer, gamma=0.5, last_epoch=exp.last_epoch)
    assert resumed.get_last_lr() == [0.25]
    resumed.step()
    assert resumed.get_last_lr() == [0.125]


PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=1, threshold=0.1, threshold_mode="abs"),
    dict(patience=0, cooldown=2, min_lr=[0.02, 0.05]),
    dict(mode="min", factor=0.2, patience=2, threshold=0.05, threshold_mode="rel", min_lr=1e-3, eps=1e-3),
    dict(mode="min", factor=0.5, patience=1, threshold=0.02, threshold_mode="abs"),
]


@pytest.mark.parametrize("kw", PLATEAU, ids=[str(k) for k in PLATEAU])
def test_reduce_on_plateau_matches_torch(torch, kw):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.89, 0.9, 0.91, 0.7, 0.7, 0.71, 0.72, 0.73, 0.74, 0.69, 0.69, 0.69,
               0.69, 0.8, 0.5, 0.5, 0.5, 0.5, 0.51, 0.52, 0.6, 0.6, 0.7, 0.75, 0.75, 0.76]
    metrics = metrics + [2 - m for m in metrics]
    mine, theirs = _make_params(torch, np.float32)
    opt = md.optim.Adam([{"params": mine[:1]}, {"params": mine[1:], "lr": 0.3}], lr=0.1)
    topt = torch.optim.Adam([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.3}], lr=0.1)
    sched = mdsched.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    history = []
    for m in metrics:
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == \
            (tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)
        history.append(sched.get_last_lr()[0])
    assert len(set(history)) > 1            # the scripted sequence does reduce the lr
    state = sched.state_dict()
    other = mdsched.ReduceLROnPlateau(opt, **kw)
    other.load_state_dict(state)
    assert other.best == sched.best and other.last_epoch == len(metrics)


def test_reduce_on_plateau_errors():
    opt = md.optim.SGD([md.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="factor"):
        mdsched.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        mdsched.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="threshold_mode"):
        mdsched.ReduceLROnPlateau(opt, threshold_mode="x")
    with pytest.raises(ValueError, match="min_lrs"):
        mdsched.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])
    sched = mdsched.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    sched.step(1.0)
    sched.step(math.nan)                    # NaN never counts as an improvement
    assert sched.get_last_lr() == [0.5]


@pytest.mark.parametrize("betas", [(0.4, 0.999), (0.0, 0.3)])
def test_adam_with_small_betas_matches_torch(betas, torch):
    # 1 - beta >= 0.5 takes lerp's other formula (b - (b - a) * (1 - w)), which the default betas never reach
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((3, 4))
    p = md.nn.Parameter(md.tensor(w0))
    q = torch.nn.Parameter(torch.tensor(w0))
    opt = md.optim.Adam([p], lr=0.1, betas=betas)
    topt = torch.optim.Adam([q], lr=0.1, betas=betas)
    for _ in range(4):
        g = rng.standard_normal((3, 4))
        p.grad, q.grad = md.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)
