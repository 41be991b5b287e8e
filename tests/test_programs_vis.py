"""What the vision programs of issue 14 (pytorch/examples dcgan, super_resolution, mnist_hogwild, ...) use, the way
they use it, against PyTorch."""
import numpy as np
import pytest

import minidl as md
import vis_mp_children as children  # tests/ helper: what the child processes run

torch = pytest.importorskip("torch")


# --- nn.parallel (dcgan: `import torch.nn.parallel`, data_parallel when several GPUs) ---

def _pair():
    """The same small module in both libraries (PyTorch's weights copied in)."""
    t = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    m = md.nn.Sequential(md.nn.Linear(4, 3), md.nn.Tanh())
    m.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return t, m


def test_data_parallel_wraps_the_module_as_pytorch_on_one_device():
    t, m = _pair()
    tw, mw = torch.nn.DataParallel(t), md.nn.DataParallel(m)
    assert list(mw.state_dict()) == list(tw.state_dict()) == ["module.0.weight", "module.0.bias"]
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    tx, mx = torch.tensor(x, requires_grad=True), md.tensor(x, requires_grad=True)
    tw(tx).sum().backward()
    mw(mx).sum().backward()
    np.testing.assert_allclose(mw(mx).detach().numpy(), tw(tx).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m[0].weight.grad.numpy(), t[0].weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert mw.module is m and md.nn.parallel.DataParallel is md.nn.DataParallel


def test_functional_data_parallel_needs_a_gpu_as_pytorch():
    import minidl.nn.parallel   # noqa: F401 -- the program's import line, swapped
    t, m = _pair()
    x = np.ones((2, 4), np.float32)
    if md.cuda.is_available():
        got = md.nn.parallel.data_parallel(m.cuda(), (md.tensor(x).cuda(),), device_ids=[0], module_kwargs={})
        np.testing.assert_allclose(got.cpu().detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5)
        return
    with pytest.raises(RuntimeError, match="device type could not be determined"):
        torch.nn.parallel.data_parallel(t, torch.tensor(x))
    with pytest.raises(RuntimeError, match="data_parallel: device type could not be determined: it needs a GPU"):
        md.nn.parallel.data_parallel(m, md.tensor(x))


def test_data_parallel_refuses_several_devices_naming_the_feature():
    with pytest.raises(NotImplementedError, match="several devices.*DistributedDataParallel"):
        md.nn.DataParallel(md.nn.Linear(2, 2), device_ids=[0, 1])


# --- nn.init.orthogonal_ (super_resolution's model.py) ---

@pytest.mark.parametrize("shape", [(64, 1, 5, 5), (9, 32, 3, 3), (6, 4), (4, 6), (5, 5)])
@pytest.mark.parametrize("gain", [1.0, md.nn.init.calculate_gain("relu")])
def test_orthogonal_init_is_semi_orthogonal_as_pytorch(shape, gain):
    md.manual_seed(0)
    w = md.nn.Parameter(md.empty(*shape))
    out = md.nn.init.orthogonal_(w, gain)
    assert out is w and w.shape == shape and w.grad is None
    tw = torch.nn.init.orthogonal_(torch.empty(*shape), gain)
    for a in (w.detach().numpy().astype(np.float64), tw.numpy().astype(np.float64)):
        flat = a.reshape(shape[0], -1)
        small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(small, gain ** 2 * np.eye(len(small)), atol=1e-5)
        # same scale as PyTorch's: the norm of the whole matrix is gain * sqrt(min(rows, cols))
        np.testing.assert_allclose(np.linalg.norm(flat), gain * np.sqrt(min(flat.shape)), rtol=1e-5)


def test_orthogonal_init_is_seeded_and_refuses_what_pytorch_refuses():
    md.manual_seed(3)
    a = md.nn.init.orthogonal_(md.empty(4, 8)).numpy().copy()
    md.manual_seed(3)
    np.testing.assert_array_equal(md.nn.init.orthogonal_(md.empty(4, 8)).numpy(), a)
    with pytest.raises(ValueError, match="orthogonal_: only tensors with 2 or more dimensions"):
        md.nn.init.orthogonal_(md.empty(5))
    with pytest.raises(NotImplementedError, match="orthogonal_: generator="):
        md.nn.init.orthogonal_(md.empty(2, 2), generator=object())
    assert md.nn.init.orthogonal_(md.empty(0, 3)).shape == (0, 3)


# --- md.multiprocessing, share_memory (pytorch/examples mnist_hogwild) ---

def test_share_memory_module_trained_in_a_spawned_process_as_pytorch_in_process():
    import minidl.multiprocessing as mp
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    t = torch.nn.Linear(3, 2)
    m = md.nn.Linear(3, 2)
    m.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    assert m.share_memory() is m and all(p.is_shared() for p in m.parameters())
    assert not md.zeros(2).is_shared()
    ctx = mp.get_context("spawn")           # the program's start method: the model is pickled to the child
    p = ctx.Process(target=children.sgd_steps, args=(m, md.tensor(x), md.tensor(y), 5))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.5)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.mse_loss(t(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
    np.testing.assert_allclose(m.weight.detach().numpy(), t.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.bias.detach().numpy(), t.bias.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_shared_tensor_sent_by_handle_other_tensors_by_value():
    import pickle

    import minidl.multiprocessing as mp
    ctx = mp.get_context("fork")
    shared, private = md.zeros(4).share_memory_(), md.zeros(4)
    assert shared.share_memory_() is shared                 # already shared: a no-op
    for t, seen in ((shared, 4.0), (private, 0.0)):
        q = ctx.Queue()
        ctx.Process(target=children.add_one, args=(t, q)).start()
        assert q.get(timeout=60)[1] == 4.0                   # the child changed its tensor
        assert float(t.sum()) == seen                        # the parent sees it only through shared memory
    copied = pickle.loads(pickle.dumps(shared))             # plain pickle (and deepcopy) copy, as PyTorch
    copied.add_(1)
    assert float(shared.sum()) == 4.0 and not copied.is_shared()


def test_multiprocessing_is_pythons_and_refuses_a_graph():
    import multiprocessing

    import minidl.multiprocessing as mp
    assert mp.Process is multiprocessing.Process and mp.set_start_method is multiprocessing.set_start_method
    w = md.ones(2, requires_grad=True).share_memory_()
    assert w.requires_grad and w.is_leaf
    ctx = mp.get_context("spawn")
    with pytest.raises(RuntimeError, match="multiprocessing: cannot send a tensor that requires grad and is not"):
        ctx.Process(target=print, args=(w * 2,)).start()


# --- the older losses' deprecated size_average/reduce (yunjey VAE: binary_cross_entropy(..., size_average=False)) ---

_LEGACY = [dict(size_average=False), dict(size_average=True), dict(reduce=False), dict(size_average=False,
                                                                                      reduce=True)]


def _loss_inputs(name, rng):
    x = rng.uniform(0.05, 0.95, (4, 3))
    if name in ("nll_loss", "cross_entropy"):
        return x, rng.integers(0, 3, 4)
    return x, rng.uniform(0, 1, (4, 3))


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
                                  "nll_loss", "cross_entropy"])
@pytest.mark.parametrize("legacy", _LEGACY)
def test_functional_losses_take_size_average_and_reduce_as_pytorch(name, legacy):
    x, y = _loss_inputs(name, np.random.default_rng(0))
    tx, mx = torch.tensor(x, requires_grad=True), md.tensor(x, requires_grad=True)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        want = getattr(torch.nn.functional, name)(tx, torch.tensor(y), **legacy)
    with pytest.warns(UserWarning, match=f"{name}: size_average and reduce args will be deprecated"):
        got = getattr(md.nn.functional, name)(mx, md.tensor(y), **legacy)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10)
    want.sum().backward()
    got.sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_legacy_loss_arguments_are_keywords_and_warn_only_when_given():
    rng = np.random.default_rng(1)
    x, y, w = rng.standard_normal((5, 4)), np.array([0, 3, -1, 2, 1]), rng.uniform(0.5, 2, 4)
    for name in ("nll_loss", "cross_entropy"):
        want = getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(y), torch.tensor(w), ignore_index=-1,
                                                  size_average=False)
        with pytest.warns(UserWarning):
            got = getattr(md.nn.functional, name)(md.tensor(x), md.tensor(y), md.tensor(w), ignore_index=-1,
                                                  size_average=False)
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-10)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no legacy argument given: no warning
        md.nn.functional.mse_loss(md.ones(2), md.zeros(2), reduction="sum")
        md.nn.functional.cross_entropy(md.ones(2, 3), md.tensor([0, 1]), None, -100, "sum")


# --- generator= on the random creation functions (as synthetic-data code in programs draws) ---

@pytest.mark.parametrize("call", [lambda lib, g: lib.rand(2, 3, generator=g), lambda lib, g: lib.randn((4,), generator=g),
                                  lambda lib, g: lib.randint(0, 10, (5,), generator=g),
                                  lambda lib, g: lib.randperm(6, generator=g)])
def test_random_creation_draws_from_the_generator_as_pytorch(call):
    for lib in (torch, md):
        g = lib.Generator().manual_seed(7)
        first = call(lib, g).numpy().copy()
        second = call(lib, g).numpy()           # the generator's state advanced
        g.manual_seed(7)
        np.testing.assert_array_equal(call(lib, g).numpy(), first)
        assert first.shape == second.shape and (first.shape == (6,) or not np.array_equal(first, second))
        lib.manual_seed(3)
        a = lib.rand(3).numpy()
        lib.manual_seed(3)
        call(lib, g)                            # does not touch the global stream
        np.testing.assert_array_equal(lib.rand(3).numpy(), a)
    assert md.randint(0, 10, (5,), generator=md.Generator().manual_seed(1)).dtype == md.int64


def test_random_creation_refuses_a_non_generator():
    with pytest.raises(TypeError):
        torch.rand(2, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="generator must be a minidl.Generator, got Generator"):
        md.rand(2, generator=np.random.default_rng(0))


# --- md.multiprocessing.spawn (torch.multiprocessing.spawn, as DDP-style programs start their ranks) ---

def test_spawn_runs_fn_with_the_rank_in_each_process():
    import minidl.multiprocessing as mp
    t = md.zeros(3).share_memory_()
    assert mp.spawn(children.write_rank, args=(t, 10.0), nprocs=3) is None       # start_method "spawn"
    np.testing.assert_array_equal(t.numpy(), [10.0, 20.0, 30.0])
    ctx = mp.spawn(children.write_rank, args=(t, 1.0), nprocs=2, join=False, start_method="fork")
    assert len(ctx.pids()) == 2
    while not ctx.join():
        pass
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 30.0])


def test_spawn_reraises_a_child_error_as_pytorch():
    import minidl.multiprocessing as mp
    import torch.multiprocessing as tmp
    errors = []
    for lib in (tmp, mp):
        with pytest.raises(lib.ProcessRaisedException) as info:
            lib.spawn(children.fail_on_rank_one, nprocs=2, start_method="fork")
        errors.append(info.value)
    want, got = errors
    assert got.error_index == want.error_index == 1
    assert str(got).startswith("\n\n-- Process 1 terminated with the following error:\nTraceback")
    assert str(want).startswith("\n\n-- Process 1 terminated with the following error:\nTraceback")
    assert "ValueError: rank 1 failed" in str(got) and "ValueError: rank 1 failed" in str(want)
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with exit code 3") as info:
        mp.spawn(children.exit_three, nprocs=1, start_method="fork")
    assert info.value.exit_code == 3 and isinstance(info.value, mp.ProcessException)


def test_sharing_strategies_as_pytorch_names():
    import minidl.multiprocessing as mp
    import torch.multiprocessing as tmp
    assert mp.get_all_sharing_strategies() == tmp.get_all_sharing_strategies()
    assert mp.get_sharing_strategy() == tmp.get_sharing_strategy()
    mp.set_sharing_strategy("file_system")
    assert mp.get_sharing_strategy() == "file_system"
    mp.set_sharing_strategy("file_descriptor")
    with pytest.raises(ValueError, match="set_sharing_strategy: invalid sharing strategy 'x'"):
        mp.set_sharing_strategy("x")
