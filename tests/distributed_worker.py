"""One rank of the MPI tests in test_distributed.py: ``mpiexec -n N python distributed_worker.py MODE OUTDIR ...``.

Modes:
  train    train a small net on its DistributedSampler shard, write this rank's parameters to OUTDIR/rank{r}.npz
  helpers  check all_reduce / broadcast / average_metrics / all_gather_object / barrier across ranks
  die      rank 1 SIGKILLs itself at step 3 while the others keep averaging gradients
  stall    rank 1 stops calling collectives at step 3 (sleeps), the others must time out, not hang
  raise    rank 1 raises an uncaught RuntimeError at step 3: the job must end at once, naming rank 1
  exit     rank 1 calls md.distributed.abort() at step 3 (what a script does instead of sys.exit(1) on one rank)
  shape / count / dtype
           rank 1 wraps a replica whose parameter is transposed (12x8 vs 8x12), has one parameter more, or is
           float64 (rank 0: float32): DistributedDataParallel must refuse it on every rank, naming the parameter
  collective
           rank 1 passes all_reduce a tensor of another shape, then broadcast one of another dtype
  cli      `minidl train cnn --distributed` whose loss raises a ValueError (--fail exit: a SystemExit) on rank 1 at
           the third batch
"""
import argparse
import os
import signal
import sys
import time

import numpy as np

import minidl as md
from minidl import distributed as dist
from minidl.nn import functional as F

N_SAMPLES, N_FEATURES, N_CLASSES = 50, 8, 3


def data():
    """The fixed data set every rank and the single-process reference use."""
    rng = np.random.default_rng(123)
    x = rng.standard_normal((N_SAMPLES, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


def net():
    md.manual_seed(0)
    return md.nn.Sequential(md.nn.Linear(N_FEATURES, 16), md.nn.Tanh(), md.nn.Linear(16, N_CLASSES))


def make_optimizer(kind, params):
    return md.optim.SGD(params, lr=0.1, momentum=0.9) if kind == "sgd" else md.optim.Adam(params, lr=0.01)


def train(args):
    x, y = data()
    md.manual_seed(100 + dist.rank())                       # different on purpose: the broadcast must fix it
    model = dist.DistributedDataParallel(net() if dist.rank() == 0 else md.nn.Sequential(
        md.nn.Linear(N_FEATURES, 16), md.nn.Tanh(), md.nn.Linear(16, N_CLASSES)), bucket_cap_mb=args.bucket_mb)
    ds = md.data.TensorDataset(x, y)
    sampler = dist.DistributedSampler(ds, shuffle=True, seed=7, pad=not args.no_pad)
    loader = md.data.DataLoader(ds, batch_size=args.batch, sampler=sampler)
    opt = make_optimizer(args.opt, model.parameters())
    if args.loop == "fit":
        md.train.fit(model, F.cross_entropy, opt, loader, epochs=args.epochs, metrics=(), verbose=0)
    else:
        opt = dist.DistributedOptimizer(opt, model) if args.loop == "distopt" else opt
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            for xb, yb in loader:
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                if args.loop == "manual":
                    model.sync_gradients()
                opt.step()
    np.savez(os.path.join(args.outdir, f"rank{dist.rank()}.npz"),
             **{k: v.numpy() for k, v in model.module.state_dict().items()})


def helpers(args):
    r, n = dist.rank(), dist.world_size()
    t = md.tensor([float(r), 1.0])
    dist.all_reduce(t)
    assert t.numpy().tolist() == [n * (n - 1) / 2, n], t
    t = md.tensor([float(r)])
    dist.all_reduce(t, op="max")
    assert t.item() == n - 1
    t = md.tensor([[float(r)] * 3] * 2).T          # non-contiguous: reduced through a copy
    dist.all_reduce(t, op="mean")
    assert np.allclose(t.numpy(), (n - 1) / 2)
    b = md.tensor(np.full((2, 3), r, dtype=np.float32))
    dist.broadcast(b, src=n - 1)
    assert (b.numpy() == n - 1).all()
    assert dist.all_gather_object({"r": r}) == [{"r": i} for i in range(n)]
    assert (dist.local_rank(), dist.local_world_size()) == (r, n)       # one machine: local = global
    # rank i has (i + 1) samples with accuracy i: the weighted mean is sum(i * (i + 1)) / sum(i + 1)
    avg = dist.average_metrics({"accuracy": float(r), "loss": 1.0}, weight=r + 1)
    want = sum(i * (i + 1) for i in range(n)) / sum(i + 1 for i in range(n))
    assert abs(avg["accuracy"] - want) < 1e-12 and avg["loss"] == 1.0 and list(avg) == ["accuracy", "loss"], avg
    dist.barrier()
    with open(os.path.join(args.outdir, f"ok{r}"), "w") as f:
        f.write("ok")


def fault(args):
    x, y = data()
    model = dist.DistributedDataParallel(net())
    opt = make_optimizer("sgd", model.parameters())
    for step in range(10_000):
        if dist.rank() == 1 and step == 3:
            print(f"rank 1: {args.mode} at step {step}", flush=True)
            if args.mode == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            if args.mode == "raise":
                raise RuntimeError(f"boom at step {step}")
            if args.mode == "exit":
                dist.abort(f"giving up at step {step}", code=3)
            time.sleep(600)
        opt.zero_grad()
        F.cross_entropy(model(md.tensor(x)), md.tensor(y)).backward()
        model.sync_gradients()
        opt.step()
    print(f"rank {dist.rank()}: finished without noticing the fault", flush=True)


class Replica(md.nn.Module):
    """One weight of ``shape`` and ``dtype`` (plus a second parameter with ``extra``); the loss is its squared sum."""

    def __init__(self, shape, dtype, extra):
        super().__init__()
        self.w = md.nn.Parameter(md.randn(*shape).to(dtype))
        self.extra = md.nn.Parameter(md.zeros(4)) if extra else None

    def forward(self, x):
        return (self.w * self.w).sum() * x.sum()


def mismatch(args):
    odd = dist.rank() == 1
    shape = (8, 12) if odd and args.mode == "shape" else (12, 8)
    dtype = md.float64 if odd and args.mode == "dtype" else md.float32
    model = dist.DistributedDataParallel(Replica(shape, dtype, extra=odd and args.mode == "count"))
    opt = md.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(5):
        opt.zero_grad()
        model(md.ones(2)).backward()
        model.sync_gradients()
        opt.step()
    print(f"rank {dist.rank()}: trained the mismatched replicas without noticing", flush=True)


def collective(args):
    r = dist.rank()
    t = md.zeros(12, 8) if r == 0 else md.zeros(8, 12)
    try:
        dist.all_reduce(t)
    except RuntimeError as e:
        print(f"rank {r} caught: {e}", flush=True)
    b = md.zeros(3) if r == 0 else md.zeros(3).double()
    try:
        dist.broadcast(b)
    except RuntimeError as e:
        print(f"rank {r} caught: {e}", flush=True)
    t = md.tensor([1.0])
    dist.all_reduce(t)                              # the ranks still agree on what comes next
    assert t.item() == dist.world_size()
    print(f"rank {r}: collectives still in step", flush=True)


def cli(args):
    from minidl import cli as command  # noqa: PLC0415

    if dist.rank() == 1:
        real, calls = F.cross_entropy, []

        def flaky(*a, **k):
            calls.append(1)
            if len(calls) == 3 and args.fail == "exit":
                raise SystemExit("minidl train: gave up on purpose")
            if len(calls) == 3:
                raise ValueError("a bad batch on purpose")
            return real(*a, **k)

        md.nn.functional.cross_entropy = flaky
    return command.main(["train", "cnn", "--epochs", "1", "--distributed", "--quiet"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("train", "helpers", "die", "stall", "raise", "exit", "shape", "count", "dtype",
                                    "collective", "cli"))
    p.add_argument("outdir")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--loop", choices=("manual", "distopt", "fit"), default="distopt")
    p.add_argument("--opt", choices=("sgd", "adam"), default="sgd")
    p.add_argument("--no-pad", action="store_true")
    p.add_argument("--fail", choices=("error", "exit"), default="error")
    p.add_argument("--bucket-mb", type=float, default=0.0005)     # ~500 bytes: several buckets even for this net
    args = p.parse_args()
    dist.init()
    modes = {"train": train, "helpers": helpers, "collective": collective, "cli": cli}
    modes.update(dict.fromkeys(("die", "stall", "raise", "exit"), fault))
    modes.update(dict.fromkeys(("shape", "count", "dtype"), mismatch))
    return modes[args.mode](args) or 0


if __name__ == "__main__":
    sys.exit(main())
