"""``md.nn.Module`` mechanics (registration, traversal, modes, state dicts, devices and dtypes, repr),
``md.nn.init`` distributions (statistical bounds), and ``md.nn.utils`` (penalties, clip_grad_norm_ vs PyTorch)."""
import math
import pickle

import numpy as np
import pytest

import minidl as md
from minidl import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(md.ones(1))
        self.register_buffer("steps", md.zeros(1))
        self.register_buffer("cache", md.zeros(2), persistent=False)
        self.plain = [1, 2]       # an ordinary attribute: not registered

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.ReLU()])
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(4, 2))
        self.tied = self.layers[0]           # the same module twice: its parameters count once

    def forward(self, x):
        x = self.block(x)
        for m in self.layers:
            x = m(x)
        return self.head(x)


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "block.bn.weight", "block.bn.bias",
                     "layers.0.weight", "layers.0.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.cache", "block.bn.running_mean",
                                                   "block.bn.running_var", "block.bn.num_batches_tracked"]
    # as PyTorch: a module reachable twice is a child under both names but is visited once by named_modules
    assert [n for n, _ in net.named_children()] == ["block", "layers", "head", "tied"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.bn", "layers", "layers.0",
                                                   "layers.1", "head", "head.0", "head.1"]
    assert len(list(net.parameters())) == 9 and len(list(net.buffers())) == 5
    assert net.num_parameters() == 1 + 12 + 4 + 4 + 4 + 16 + 4 + 8 + 2
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert net.block.plain == [1, 2] and "plain" not in dict(net.block.named_parameters())
    assert net(md.randn(5, 3)).shape == (5, 2)


def test_assignment_rules():
    m = Block()
    m.fc = None                              # a submodule may be cleared
    assert "fc" not in dict(m.named_children())
    with pytest.raises(TypeError, match="cannot assign Tensor to parameter 'scale'"):
        m.scale = md.ones(1)
    m.steps = md.ones(1)                     # a buffer may be replaced by a Tensor
    assert m.steps.item() == 1.0 and m.state_dict()["steps"].item() == 1.0
    del m.steps
    assert "steps" not in m.state_dict()
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", md.zeros(1))

    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Forgot()
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'nope'"):
        _ = m.nope


def test_train_eval_zero_grad_apply():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    net(md.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.numpy()) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 4     # as PyTorch, apply follows children(): tied twice
    net.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert not np.any(net.head[1].weight.numpy())


def test_state_dict_values_are_detached_shared_tensors():
    m = Block()
    sd = m.state_dict()
    assert list(sd) == ["scale", "steps", "fc.weight", "fc.bias", "bn.weight", "bn.bias", "bn.running_mean",
                        "bn.running_var", "bn.num_batches_tracked"]
    assert all(isinstance(v, md.Tensor) and not v.requires_grad for v in sd.values())
    assert "cache" not in sd                  # non-persistent buffer
    sd["fc.bias"].numpy()[0] = 42.0           # shares memory, as PyTorch's
    assert m.fc.bias.numpy()[0] == 42.0
    assert m.state_dict(keep_vars=True)["fc.bias"] is m.fc.bias


def test_load_state_dict_round_trip_from_arrays_and_tensors():
    a, b = Net(), Net()
    b.load_state_dict({k: v.numpy().copy() for k, v in a.state_dict().items()})
    assert list(a.state_dict()) == list(b.state_dict())
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=k)
    c = Net()
    c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(c.head[1].weight.numpy(), a.head[1].weight.numpy())
    assert c.block.bn.num_batches_tracked.dtype == md.int64
    w = c.head[1].weight
    c.load_state_dict(Net().state_dict())
    assert c.head[1].weight is w, "loading copies in place: optimizers holding the parameters keep working"


def test_load_state_dict_from_torch_numpy(torch):
    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(2 * 3 * 3, 4))
    mnet = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    result = mnet.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(mnet.eval()(md.tensor(x)).numpy(), tnet.eval()(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_load_state_dict_errors_name_keys_and_shapes():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    bad = dict(sd)
    del bad["0.bias"]
    bad["extra.weight"] = np.zeros((5,))
    bad["0.weight"] = np.zeros((3, 3))
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(bad)
    msg = str(e.value)
    assert "0.weight: checkpoint shape (3, 3), model shape (2, 3)" in msg
    assert "missing key 0.bias (model shape (2,))" in msg
    assert "unexpected key extra.weight (shape (5,))" in msg
    relaxed = dict(sd)
    del relaxed["1.running_var"]
    relaxed["junk"] = np.zeros(1)
    result = m.load_state_dict(relaxed, strict=False)
    assert result.missing_keys == ["1.running_var"] and result.unexpected_keys == ["junk"]
    with pytest.raises(RuntimeError, match=r"0.weight: checkpoint shape \(3, 3\)"):
        m.load_state_dict({"0.weight": np.zeros((3, 3))}, strict=False)   # shapes are checked even when not strict


def test_to_float_double_and_devices():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    m.double()
    assert all(p.dtype == md.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == md.float64 and m[1].num_batches_tracked.dtype == md.int64
    assert m(md.randn(4, 3, dtype=md.float64)).dtype == md.float64
    p = m[0].weight
    assert m.float() is m and p.dtype == md.float32 and m[0].weight is p
    assert m.to("cpu") is m and m.cpu() is m and p.device == md.device("cpu")
    with pytest.raises(TypeError, match="only floating dtypes"):
        m.to(md.int64)


def test_repr_nested():
    r = repr(Net())
    assert r.startswith("Net(\n  (block): Block(\n    (fc): Linear(in_features=3, out_features=4, bias=True)\n")
    assert "  (layers): ModuleList(\n    (0): Linear(in_features=4, out_features=4, bias=True)\n    (1): ReLU()\n" in r
    assert repr(nn.ReLU()) == "ReLU()"


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1:], nn.Sequential)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        seq[3]
    del seq[1]
    assert list(seq._modules) == ["0", "1"]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert named.enc is named[0]
    ml = nn.ModuleList()
    ml.append(nn.Linear(1, 1)).extend([nn.ReLU()])
    ml.insert(0, nn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Tanh", "Linear", "ReLU"]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]


def test_parameter_basics_and_pickle():
    p = nn.Parameter(md.ones(2, 3))
    assert p.requires_grad and p.is_leaf and isinstance(p, md.Tensor)
    assert not nn.Parameter(md.ones(2), requires_grad=False).requires_grad
    q = pickle.loads(pickle.dumps(p))
    assert isinstance(q, nn.Parameter) and q.requires_grad and q.tolist() == p.tolist()
    assert isinstance(pickle.loads(pickle.dumps(nn.Linear(2, 2))).weight, nn.Parameter)


def test_default_inits_have_pytorch_bounds():
    md.manual_seed(0)
    lin = nn.Linear(400, 300)
    conv = nn.Conv2d(8, 16, 3, groups=2)
    tconv = nn.ConvTranspose2d(8, 6, 3, groups=2)
    for w, b, fan_in in ((lin.weight, lin.bias, 400), (conv.weight, conv.bias, 4 * 9), (tconv.weight, tconv.bias,
                                                                                          3 * 9)):
        bound = 1 / math.sqrt(fan_in)
        for t in (w, b):
            v = t.numpy()
            assert v.min() >= -bound and v.max() <= bound
        v = w.numpy()
        assert abs(v.std() - bound / math.sqrt(3)) < 0.1 * bound, "weights should fill U(-bound, bound)"
    emb = nn.Embedding(1000, 50).weight.numpy()
    assert abs(emb.mean()) < 0.02 and abs(emb.std() - 1) < 0.02
    assert nn.Linear(3, 4, dtype=md.float64).weight.dtype == md.float64


@pytest.mark.parametrize("fn,args,mean,std", [
    ("uniform_", (-2.0, 4.0), 1.0, 6 / math.sqrt(12)),
    ("normal_", (0.5, 2.0), 0.5, 2.0),
    ("xavier_uniform_", (), 0.0, math.sqrt(2 / (200 + 300))),
    ("xavier_normal_", (), 0.0, math.sqrt(2 / (200 + 300))),
    ("kaiming_uniform_", (), 0.0, math.sqrt(2 / (1 + 0.0)) / math.sqrt(200)),
    ("kaiming_normal_", (0, "fan_out", "relu"), 0.0, math.sqrt(2) / math.sqrt(300)),
])
def test_init_distributions(fn, args, mean, std):
    t = md.empty(300, 200)
    md.manual_seed(0)
    assert getattr(nn.init, fn)(t, *args) is t
    v = t.numpy()
    n = v.size
    assert abs(v.mean() - mean) < 5 * std / math.sqrt(n), f"{fn}: mean {v.mean()}"
    assert abs(v.std() - std) < 0.03 * std, f"{fn}: std {v.std()} vs {std}"
    if "uniform" in fn:
        half = std * math.sqrt(3)
        assert v.min() >= mean - half - 1e-6 and v.max() <= mean + half + 1e-6


def test_init_misc():
    t = md.empty(3, 4)
    assert nn.init.constant_(t, 2.5).tolist() == [[2.5] * 4] * 3
    assert not np.any(nn.init.zeros_(t).numpy()) and np.all(nn.init.ones_(t).numpy() == 1)
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("tanh") == 5 / 3
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match=r"at least 2 dims, got shape \(5,\)"):
        nn.init.xavier_uniform_(md.empty(5))
    md.manual_seed(3)
    a = nn.init.normal_(md.empty(4)).tolist()
    md.manual_seed(3)
    assert nn.init.normal_(md.empty(4)).tolist() == a, "init draws from md's seeded generator"
    w = nn.Parameter(md.zeros(2, 2))
    nn.init.uniform_(w)                     # in place on a Parameter that requires grad: allowed (no autograd)
    assert w.requires_grad and w.is_leaf


def test_penalties():
    a = nn.Parameter(md.tensor([1.0, -2.0]))
    b = nn.Parameter(md.tensor([[3.0]]))
    assert nn.utils.l1_penalty([a, b]).item() == 6.0
    l2 = nn.utils.l2_penalty(iter([a, b]))
    assert l2.item() == 14.0                 # sum of squares, no 1/2
    l2.backward()
    assert a.grad.tolist() == [2.0, -4.0] and b.grad.tolist() == [[6.0]]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in ((3, 4), (5,), (2, 2, 2))]
    mp = [nn.Parameter(md.zeros(*g.shape, dtype=md.float64)) for g in grads]
    tp = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(mp, tp, grads):
        p.grad = md.tensor(g)
        q.grad = torch.tensor(g)
    extra = nn.Parameter(md.zeros(2))        # no gradient: skipped
    total = nn.utils.clip_grad_norm_(mp + [extra], max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    assert isinstance(total, md.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), want.item(), rtol=1e-12)
    for p, q in zip(mp, tp):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_nonfinite():
    p = nn.Parameter(md.zeros(2))
    p.grad = md.tensor([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(md.zeros(1))], 1.0).item() == 0.0
