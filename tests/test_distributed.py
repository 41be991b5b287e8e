"""md.distributed: the sampler, buckets and wrappers in-process (a world of one), then real jobs under mpiexec.

The mpiexec tests need mpi4py and an MPI launcher (pip install "minidl[distributed]", part of the [test] extra);
they skip only when mpi4py itself is missing.
"""
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import types
import warnings

import numpy as np
import pytest

import fake_cupy
import minidl as md
from minidl import cli
from minidl import distributed as dist
from minidl.distributed import comm
from minidl.distributed.ddp import Bucket
from minidl.nn import functional as F

HERE = pathlib.Path(__file__).parent
WORKER = HERE / "distributed_worker.py"
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI4PY, reason='mpi4py is not installed (pip install "minidl[distributed]")')
sys.path.insert(0, str(HERE))
import child_process  # noqa: E402 -- tests/ helper: children import the same minidl
import distributed_worker as worker  # noqa: E402


# --- DistributedSampler -------------------------------------------------------------------------------------------
def shards(n, replicas, **kw):
    return [list(dist.DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n,replicas", [(10, 1), (10, 2), (11, 3), (50, 3), (5, 4), (2, 3)])
def test_sampler_pads_to_equal_shards_that_cover_the_data(n, replicas):
    parts = shards(n, replicas, shuffle=True, seed=3)
    per = -(-n // replicas)
    assert [len(p) for p in parts] == [per] * replicas
    flat = [i for p in parts for i in p]
    assert sorted(set(flat)) == list(range(n))                  # every sample somewhere
    assert len(flat) - n == per * replicas - n                  # and only the padding repeats
    order = dist.DistributedSampler(range(n), num_replicas=replicas, rank=0, shuffle=True, seed=3).global_order()
    assert order[n:].tolist() == order[:per * replicas - n].tolist()      # padding repeats the order's start
    for r in range(replicas):
        assert parts[r] == order[r::replicas].tolist()


@pytest.mark.parametrize("n,replicas", [(11, 3), (50, 3), (10, 2)])
def test_sampler_without_padding_and_with_drop_last_gives_disjoint_shards(n, replicas):
    parts = shards(n, replicas, pad=False)
    assert sorted(i for p in parts for i in p) == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    parts = shards(n, replicas, drop_last=True)
    flat = [i for p in parts for i in p]
    assert len(flat) == len(set(flat)) == n // replicas * replicas
    assert [len(p) for p in parts] == [n // replicas] * replicas


def test_sampler_is_seeded_and_changes_with_the_epoch():
    a = dist.DistributedSampler(range(20), num_replicas=2, rank=1, seed=5)
    b = dist.DistributedSampler(range(20), num_replicas=2, rank=1, seed=5)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(list(a) + list(dist.DistributedSampler(range(20), 2, 0, seed=5)))
    assert list(dist.DistributedSampler(range(20), 2, 1, seed=6)) != first
    assert list(dist.DistributedSampler(range(20), 2, 1, shuffle=False)) == list(range(1, 20, 2))


def test_sampler_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"invalid rank 3, rank should be in the interval \[0, 2\]"):
        dist.DistributedSampler(range(10), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be a positive int"):
        dist.DistributedSampler(range(10), num_replicas=0, rank=0)
    s = dist.DistributedSampler(range(50), num_replicas=3, rank=0, pad=False)
    assert s.num_batches(6) == 3
    with pytest.raises(ValueError, match=r"the ranks get \[5, 5, 4\] batches"):
        s.num_batches(4)


def test_dataloader_takes_a_sampler_and_refuses_shuffle_with_it():
    ds = md.data.TensorDataset(np.arange(10, dtype=np.float32), np.arange(10))
    sampler = dist.DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    loader = md.data.DataLoader(ds, batch_size=2, sampler=sampler)
    assert len(loader) == 3
    assert [yb.numpy().tolist() for _, yb in loader] == [[1, 3], [5, 7], [9]]
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        md.data.DataLoader(ds, batch_size=2, sampler=sampler, shuffle=True)


# --- buckets ------------------------------------------------------------------------------------------------------
def test_buckets_split_by_cap_and_dtype_and_round_trip():
    ts = [md.randn(10, 10), md.randn(5), md.randn(3, 3).double(), md.randn(100), md.randn(2)]
    buckets = dist.make_buckets(ts, cap_bytes=450)
    pos = {id(t): i for i, t in enumerate(ts)}
    # float32: 400 B + 20 B fit under 450, the next 400 B opens a new bucket; the float64 tensor goes alone
    assert [[pos[id(t)] for t in b.tensors] for b in buckets] == [[0, 1], [2], [3, 4]]
    assert all(len({t.array.dtype for t in b.tensors}) == 1 for b in buckets)
    big = dist.make_buckets(ts, cap_bytes=1 << 20)
    assert [[pos[id(t)] for t in b.tensors] for b in big] == [[0, 1, 3, 4], [2]]
    b = Bucket(ts[:2] + ts[3:], tail=2)
    flat = b.flatten([t.array for t in b.tensors[:1]] + [None] + [t.array for t in b.tensors[2:]])
    assert flat.shape == (100 + 5 + 100 + 2 + 2,)
    views = b.views()
    assert np.array_equal(views[0], ts[0].numpy()) and not views[1].any() and np.array_equal(views[3], ts[4].numpy())
    assert [v.shape for v in views] == [(10, 10), (5,), (100,), (2,)]


# --- in-process (world of one) ------------------------------------------------------------------------------------
@needs_mpi
def test_singleton_world_helpers_and_op_errors():
    dist.init()
    assert (dist.rank(), dist.world_size()) == (0, 1)
    assert (dist.local_rank(), dist.local_world_size()) == (0, 1)
    t = md.tensor([1.0, 2.0])
    assert dist.all_reduce(t, op="mean") is t and t.numpy().tolist() == [1.0, 2.0]
    assert dist.broadcast(t).numpy().tolist() == [1.0, 2.0]
    assert dist.average_metrics({"loss": 0.5, "accuracy": 1.0}, weight=7) == {"loss": 0.5, "accuracy": 1.0}
    dist.barrier()
    with pytest.raises(ValueError, match="all_reduce: op must be one of sum, mean, max, min, got 'prod'"):
        dist.all_reduce(t, op="prod")
    with pytest.raises(ValueError, match="broadcast: src 1 is not a rank of this job"):
        dist.broadcast(t, src=1)
    with pytest.raises(TypeError, match="all_reduce: expected a Tensor or an array, got list"):
        dist.all_reduce([1.0])


def test_init_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(comm._state, "comm", None)
    with pytest.raises(ImportError, match=r'pip install "minidl\[distributed\]"'):
        dist.init()
    with pytest.raises(SystemExit, match=r'minidl train --distributed: .*pip install "minidl\[distributed\]"'):
        cli.main(["train", "cnn", "--distributed", "--epochs", "1"])


def test_import_minidl_does_not_import_mpi4py():
    code = "import sys, minidl; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_timeout_setting_is_checked(monkeypatch):
    monkeypatch.setenv("MINIDL_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="MINIDL_DIST_TIMEOUT must be a number of seconds, got 'soon'"):
        comm.timeout()
    monkeypatch.setenv("MINIDL_DIST_TIMEOUT", "2.5")
    assert comm.timeout() == 2.5


@needs_mpi
def test_ddp_in_a_world_of_one_trains_exactly_like_the_bare_model():
    x, y = worker.data()
    plain = worker.net()
    md.train.fit(plain, F.cross_entropy, md.optim.SGD(plain.parameters(), lr=0.1), (x, y), epochs=2, batch_size=8,
                 shuffle=False, metrics=(), verbose=0)
    ddp = dist.DistributedDataParallel(worker.net())
    md.train.fit(ddp, F.cross_entropy, md.optim.SGD(ddp.parameters(), lr=0.1), (x, y), epochs=2, batch_size=8,
                 shuffle=False, metrics=(), verbose=0)
    got = ddp.module.state_dict()
    for k, v in plain.state_dict().items():
        assert np.array_equal(v.numpy(), got[k].numpy()), k
    assert list(ddp.state_dict())[0] == "module.0.weight"      # PyTorch's prefix


@needs_mpi
def test_ddp_sync_runs_once_per_forward_and_warns_when_forgotten():
    ddp = dist.DistributedDataParallel(worker.net())
    x = md.randn(4, worker.N_FEATURES)
    assert ddp.sync_gradients() is False                    # nothing to do yet
    ddp(x).sum().backward()
    assert ddp.sync_gradients() is True and ddp.sync_gradients() is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ddp.no_sync():
            ddp(x).sum().backward()
        ddp(x).sum().backward()                             # accumulating on purpose: no warning
        ddp.sync_gradients()
        with md.no_grad():
            ddp(x)                                          # inference: no sync needed
    ddp(x).sum().backward()
    with pytest.warns(RuntimeWarning, match="a second training forward before the gradients of the first"):
        ddp(x)


@needs_mpi
def test_distributed_optimizer_syncs_in_step_and_stays_an_optimizer():
    ddp = dist.DistributedDataParallel(worker.net())
    base = md.optim.Adam(ddp.parameters(), lr=0.01)
    opt = dist.DistributedOptimizer(base, ddp)
    assert isinstance(opt, md.optim.Adam) and opt.param_groups is base.param_groups
    md.optim.lr_scheduler.StepLR(opt, step_size=1)          # schedulers accept it
    ddp(md.randn(4, worker.N_FEATURES)).sum().backward()
    opt.step()
    assert ddp._pending is False                            # step() averaged the gradients first
    with pytest.raises(TypeError, match="model must be a DistributedDataParallel, got Sequential"):
        dist.DistributedOptimizer(base, worker.net())
    with pytest.raises(ValueError, match="average must be 'samples' or 'ranks'"):
        dist.DistributedDataParallel(worker.net(), average="mean")


def test_replica_mismatch_message_names_the_first_difference_and_every_differing_rank():
    from minidl.distributed.ddp import _mismatch, _signature

    def sig(*shapes, dtype="float32", grad=True):
        return [("parameter", f"p{i}", dtype, s, grad, "cpu") for i, s in enumerate(shapes)]

    msg = _mismatch([sig((2, 3), (4,)), sig((2, 3), (4,)), sig((2, 3), (5,)), sig((2, 3), grad=False)])
    assert ("rank 0 has parameter 'p1' float32 of shape (4,), rank 2 has parameter 'p1' float32 of shape (5,) "
            "(ranks that differ from rank 0: [2, 3])") in msg
    assert "rank 1 has no parameter or buffer #2 (it has 1)" in _mismatch([sig((1,), (1,)), sig((1,))])
    assert "requires_grad=False" in _mismatch([sig((1,)), sig((1,), grad=False)])
    bn = _signature(md.nn.BatchNorm1d(3))
    assert [(k, n) for k, n, *_ in bn] == [("parameter", "weight"), ("parameter", "bias"), ("buffer", "running_mean"),
                                          ("buffer", "running_var"), ("buffer", "num_batches_tracked")]


@needs_mpi
def test_the_excepthook_only_prints_in_a_world_of_one(monkeypatch, capsys):
    dist.init()
    monkeypatch.setattr(comm, "_abort_now", lambda code: pytest.fail("aborted a world of one"))
    seen = []
    monkeypatch.setitem(comm._state, "excepthook", lambda *exc: seen.append(exc[0]))
    comm._excepthook(ValueError, ValueError("x"), None)
    assert seen == [ValueError]
    with pytest.raises(SystemExit) as info:
        dist.abort("giving up", code=4)
    assert info.value.code == 4 and "rank 0 of 1: giving up; ending the job" in capsys.readouterr().err


# --- CUDA tensors: transport selection (fake CuPy; NCCL itself cannot run here) -----------------------------------
class FakeNcclComm:
    calls = []

    def __init__(self, ndev, uid, rank):
        FakeNcclComm.calls.append(("init", ndev, uid, rank))

    def allReduce(self, send, recv, count, dtype, op, stream):  # noqa: N802 -- CuPy's name
        FakeNcclComm.calls.append(("allReduce", send == recv, count, dtype, op))

    def bcast(self, buf, count, dtype, root, stream):
        FakeNcclComm.calls.append(("bcast", count, dtype, root))


@pytest.fixture
def cupy_module():
    mp = pytest.MonkeyPatch()
    cp = fake_cupy.install(mp)
    yield cp, mp
    fake_cupy.uninstall(mp)


@needs_mpi
def test_cuda_tensors_without_nccl_are_staged_through_the_host(cupy_module):
    cp, mp = cupy_module
    dist.init()
    t = md.tensor([1.0, 2.0]).to("cuda")
    assert dist.transport(t.array) == "mpi_host_staged" and dist.transport(np.zeros(1)) == "mpi"
    staged = []
    real = cp.asnumpy
    mp.setattr(cp, "asnumpy", lambda a, stream=None: staged.append(a.shape) or real(a))
    dist.all_reduce(t, op="mean")
    dist.broadcast(t)
    assert staged == [(2,), (2,)] and t.device.type == "cuda" and t.cpu().numpy().tolist() == [1.0, 2.0]
    ddp = dist.DistributedDataParallel(worker.net().to("cuda"))
    ddp(md.randn(4, worker.N_FEATURES).to("cuda")).sum().backward()
    assert ddp.sync_gradients()


@needs_mpi
def test_cuda_tensors_use_nccl_when_cupy_has_it(cupy_module, monkeypatch):
    cp, mp = cupy_module
    nccl = types.SimpleNamespace(available=True, get_unique_id=lambda: (7,) * 4, NcclCommunicator=FakeNcclComm,
                                 NCCL_SUM=0, NCCL_MAX=2, NCCL_MIN=3, NCCL_FLOAT32=7, NCCL_FLOAT64=8,
                                 NCCL_FLOAT16=6, NCCL_INT32=2, NCCL_INT64=4, NCCL_UINT8=1)
    mp.setattr(cp.cuda, "nccl", nccl, raising=False)
    mp.setitem(sys.modules, "cupy.cuda.nccl", nccl)
    mp.setattr(cp.cuda, "get_current_stream", lambda device=None: types.SimpleNamespace(ptr=0, done=True))
    monkeypatch.setitem(comm._state, "nccl", None)
    dist.init()
    t = md.tensor([1.0, 2.0, 3.0]).to("cuda")
    monkeypatch.setattr(comm, "_device_ptr", lambda a: 1234)     # the fake's arrays have no device address
    assert dist.transport(t.array) == "nccl"
    FakeNcclComm.calls.clear()
    dist.all_reduce(t, op="max")
    dist.broadcast(t, src=0)
    assert FakeNcclComm.calls == [("init", 1, (7,) * 4, 0), ("allReduce", True, 3, 7, 2), ("bcast", 3, 7, 0)]
    nccl.available = False                              # a CuPy built without NCCL: back to the host path
    assert dist.transport(t.array) == "mpi_host_staged"


# --- real jobs under mpiexec --------------------------------------------------------------------------------------
def _env(**extra):
    return child_process.env(**{"OMP_NUM_THREADS": "1", "MINIDL_DIST_TIMEOUT": "60", **extra})


def _mpiexec():
    for name in ("mpiexec", "mpirun"):
        found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
        if found:
            return found
    pytest.fail("mpi4py is installed but no mpiexec/mpirun was found next to python or on PATH "
                '(pip install "minidl[distributed]" installs MPICH\'s)')


def _launch(n, args, cwd, timeout=120, **env):
    """Run ``args`` on ``n`` ranks; return (returncode, output, seconds). Never hangs past ``timeout``."""
    cmd = [_mpiexec(), "-n", str(n), sys.executable, *map(str, args)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} still running after {timeout} s:\n{out}")
    return proc.returncode, out, time.monotonic() - start


def _reference(n_ranks, batch, epochs, opt_kind, pad=True):
    """One process over the same global batches: step k's batch is the union of every rank's k-th batch."""
    x, y = worker.data()
    model = worker.net()
    opt = worker.make_optimizer(opt_kind, model.parameters())
    samplers = [dist.DistributedSampler(range(len(x)), n_ranks, r, shuffle=True, seed=7, pad=pad)
                for r in range(n_ranks)]
    for epoch in range(epochs):
        for s in samplers:
            s.set_epoch(epoch)
        parts = [np.array(list(s)) for s in samplers]
        for k in range(-(-max(map(len, parts)) // batch)):
            idx = np.concatenate([p[k * batch:(k + 1) * batch] for p in parts])
            opt.zero_grad()
            F.cross_entropy(model(md.tensor(x[idx])), md.tensor(y[idx])).backward()
            opt.step()
    return {k: v.numpy() for k, v in model.state_dict().items()}


def _check_replicas(tmp_path, n, reference):
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(n)]
    init = {k: v.numpy() for k, v in worker.net().state_dict().items()}
    for k, want in reference.items():
        for r in range(1, n):
            assert ranks[r][k].tobytes() == ranks[0][k].tobytes(), f"{k}: rank {r} differs from rank 0"
        moved = np.abs(want - init[k]).max()
        assert moved > 1e-2, f"{k} barely trained ({moved}): the comparison would prove nothing"
        np.testing.assert_allclose(ranks[0][k], want, rtol=1e-4, atol=2e-6, err_msg=k)


@needs_mpi
@pytest.mark.parametrize("loop", ["distopt", "manual"])
def test_two_ranks_match_each_other_bitwise_and_one_process_over_the_same_batches(tmp_path, loop):
    rc, out, _ = _launch(2, [WORKER, "train", tmp_path, "--batch", 4, "--epochs", 2, "--loop", loop], tmp_path)
    assert rc == 0, out
    _check_replicas(tmp_path, 2, _reference(2, 4, 2, "sgd"))


@needs_mpi
def test_three_ranks_uneven_padded_shards_through_fit(tmp_path):
    # 50 samples over 3 ranks: padded to 51 (one sample seen twice per epoch, as PyTorch), per-rank batches of 4
    # then a last step of 1 per rank; the reference replays exactly that padded global order
    rc, out, _ = _launch(3, [WORKER, "train", tmp_path, "--batch", 4, "--epochs", 2, "--loop", "fit",
                             "--opt", "adam"], tmp_path)
    assert rc == 0, out
    _check_replicas(tmp_path, 3, _reference(3, 4, 2, "adam"))


@needs_mpi
def test_three_ranks_unpadded_shards_weighted_by_sample_counts_equal_one_process(tmp_path):
    # 50 samples, shards of 17/17/16, 6 per rank: the last step has 5 + 5 + 4 samples; weighting each rank's mean
    # gradient by its count gives the gradient of the 14-sample global batch's mean loss (a plain mean would not)
    rc, out, _ = _launch(3, [WORKER, "train", tmp_path, "--batch", 6, "--epochs", 2, "--loop", "manual",
                             "--no-pad"], tmp_path)
    assert rc == 0, out
    _check_replicas(tmp_path, 3, _reference(3, 6, 2, "sgd", pad=False))


@needs_mpi
def test_collective_helpers_across_three_ranks(tmp_path):
    rc, out, _ = _launch(3, [WORKER, "helpers", tmp_path], tmp_path)
    assert rc == 0, out
    assert sorted(p.name for p in tmp_path.glob("ok*")) == ["ok0", "ok1", "ok2"]


@needs_mpi
def test_a_killed_rank_ends_the_job_with_a_clear_error(tmp_path):
    rc, out, secs = _launch(2, [WORKER, "die", tmp_path], tmp_path, timeout=120)
    assert rc != 0 and secs < 60, (rc, secs, out)
    assert "rank 1: die at step 3" in out
    assert "BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES" in out     # MPICH's hydra tears the job down
    assert "finished without noticing" not in out


@needs_mpi
def test_a_stuck_rank_makes_the_others_time_out_instead_of_hanging(tmp_path):
    rc, out, secs = _launch(2, [WORKER, "stall", tmp_path], tmp_path, timeout=120, MINIDL_DIST_TIMEOUT="3")
    assert rc != 0 and secs < 60, (rc, secs, out)
    assert "minidl.distributed: rank 0 of 2: DistributedDataParallel.sync_gradients" in out
    assert "timed out after 3 s (MINIDL_DIST_TIMEOUT)" in out


# A failing rank must end the job at once: these jobs run with MINIDL_DIST_TIMEOUT=60 and are given FAST seconds,
# so a job that waits for the deadline instead fails the test through _launch's timeout.
FAST = 30


@needs_mpi
def test_an_uncaught_exception_on_one_rank_ends_the_job_at_once_naming_the_rank(tmp_path):
    rc, out, _ = _launch(2, [WORKER, "raise", tmp_path], tmp_path, timeout=FAST)
    assert rc != 0, out
    assert "Traceback" in out and "RuntimeError: boom at step 3" in out, out
    assert "minidl.distributed: rank 1 of 2: uncaught RuntimeError: boom at step 3; ending the job" in out, out
    assert "timed out" not in out and "finished without noticing" not in out, out


@needs_mpi
def test_abort_on_one_rank_ends_the_job_with_its_status(tmp_path):
    rc, out, _ = _launch(2, [WORKER, "exit", tmp_path], tmp_path, timeout=FAST)
    assert rc == 3, out
    assert "minidl.distributed: rank 1 of 2: giving up at step 3; ending the job" in out, out
    assert "timed out" not in out and "finished without noticing" not in out, out


@needs_mpi
@pytest.mark.parametrize("fail,message", [("error", "minidl train: error: a bad batch on purpose"),
                                          ("exit", "minidl train: gave up on purpose")])
def test_a_cli_error_on_one_rank_ends_the_job_at_once(tmp_path, fail, message):
    rc, out, _ = _launch(2, [WORKER, "cli", tmp_path, "--fail", fail], tmp_path, timeout=FAST)
    assert rc != 0, out
    assert f"minidl.distributed: rank 1 of 2: {message}; ending the job (MPI_Abort)" in out, out
    assert "timed out" not in out and "test accuracy" not in out, out


@needs_mpi
@pytest.mark.parametrize("kind,rank0,rank1", [
    ("shape", "parameter 'w' float32 of shape (12, 8)", "parameter 'w' float32 of shape (8, 12)"),
    ("dtype", "parameter 'w' float32 of shape (12, 8)", "parameter 'w' float64 of shape (12, 8)"),
    ("count", "no parameter or buffer #2 (it has 1)", "parameter 'extra' float32 of shape (4,)"),
])
def test_ddp_refuses_replicas_that_differ_between_ranks_on_every_rank(tmp_path, kind, rank0, rank1):
    rc, out, _ = _launch(2, [WORKER, kind, tmp_path], tmp_path, timeout=FAST)
    assert rc != 0 and "without noticing" not in out, out
    want = f"RuntimeError: DistributedDataParallel: the replicas differ between ranks: rank 0 has {rank0}, rank 1 has {rank1}"
    assert want in out, out
    assert "uncaught RuntimeError: DistributedDataParallel" in out and "timed out" not in out, out


@needs_mpi
def test_public_collectives_refuse_tensors_that_differ_between_ranks(tmp_path):
    rc, out, _ = _launch(2, [WORKER, "collective", tmp_path], tmp_path, timeout=FAST)
    assert rc == 0, out
    for r in range(2):
        assert (f"rank {r} caught: all_reduce: the ranks' calls differ: rank 0 passed float32 of shape (12, 8) "
                "(op 'sum'), rank 1 passed float32 of shape (8, 12) (op 'sum')") in out, out
        assert (f"rank {r} caught: broadcast: the ranks' calls differ: rank 0 passed float32 of shape (3,) (src 0), "
                "rank 1 passed float64 of shape (3,) (src 0)") in out, out
        assert f"rank {r}: collectives still in step" in out, out


@needs_mpi
def test_cli_trains_the_cnn_on_two_ranks_and_only_rank_0_reports(tmp_path):
    rc, out, _ = _launch(2, ["-m", "minidl.cli", "train", "cnn", "--epochs", "1", "--distributed", "--quiet",
                             "--save", "w.safetensors"], tmp_path, timeout=300)
    assert rc == 0, out
    assert out.count("test accuracy:") == 1 and out.count("saved weights to") == 1, out
    assert out.count("epoch 1/1") == 1 and "2 processes (batch 32 per process)" in out, out
    acc = float(out.split("test accuracy:")[1].split()[0])
    assert acc > 0.5, out
    weights = md.load(str(tmp_path / "w.safetensors"))
    assert "features.0.weight" in weights and not any(k.startswith("module.") for k in weights)


@needs_mpi
def test_scaling_benchmark_reports_images_per_second_and_the_communication_share(tmp_path):
    _mpiexec()
    script = HERE.parent / "bench" / "distributed.py"
    if not script.exists():
        pytest.skip("bench/distributed.py is part of the source checkout, not the installed package")
    out = subprocess.run([sys.executable, str(script), "--steps", "2", "--batch", "8", "--json", str(tmp_path / "r.json")],
                         env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    records = json.loads((tmp_path / "r.json").read_text())
    assert [r["procs"] for r in records] == [1, 2]
    assert all(r["images_per_s"] > 0 for r in records) and records[0]["comm_share"] == 0
    assert 0 < records[1]["comm_share"] < 1 and "images/s" in out.stdout
    # PyTorch DDP (gloo) ran the same step under the same mpiexec: the ratio is minidl's images/s over PyTorch's
    assert all(r["torch"]["procs"] == r["procs"] and r["torch"]["images_per_s"] > 0 for r in records)
    assert all(r["ratio_vs_torch"] == pytest.approx(r["images_per_s"] / r["torch"]["images_per_s"]) for r in records)
