"""md.utils.data and md.nn.utils.rnn used as PyTorch programs use torch.utils.data, checked against PyTorch."""
import os
import signal
import time
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
import minidl.utils.data
from minidl.nn.utils.rnn import pad_sequence
from minidl.testing import assert_gradcheck
from minidl.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                               SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                               default_collate, get_worker_info, random_split)

SMALL = settings(max_examples=30, deadline=None)


class Range(Dataset):
    """Sample i is (i as a float vector, i as a label)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(2, i, dtype=np.float32), i


class Faulty(Range):
    def __getitem__(self, i):
        if i == 7:
            raise KeyError(f"no sample {i}")
        return super().__getitem__(i)


class Killed(Range):
    def __getitem__(self, i):
        if i == 7 and get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


class WhoLoads(Range):
    """Sample i says which process and worker loaded it, and what worker_init_fn left there."""

    def __getitem__(self, i):
        info = get_worker_info()
        return i, os.getpid(), -1 if info is None else info.id, _INIT_MARK.get("worker", -1)


_INIT_MARK = {}


def _mark_init(worker_id):
    _INIT_MARK["worker"] = worker_id * 10 + get_worker_info().num_workers


class Stream(IterableDataset):
    """0..n-1, each worker taking every num_workers-th item, as PyTorch's docs advise."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def _labels(loader):
    return [b[1].tolist() for b in loader]


# --- namespaces ---------------------------------------------------------------------------------------------------

def test_namespaces_resolve_as_pytorchs():
    assert md.utils.data.DataLoader is DataLoader is md.data.DataLoader
    assert minidl.utils.data.random_split is random_split
    from minidl.utils.data.dataloader import default_collate as dc
    from minidl.utils.data.dataset import Subset as S
    from minidl.utils.data.sampler import BatchSampler as B
    assert (dc, S, B) == (default_collate, Subset, BatchSampler)
    assert md.nn.utils.rnn.pad_sequence is pad_sequence
    assert callable(md.nn.utils.clip_grad_norm_) and callable(md.nn.utils.clip_grad.clip_grad_value_)
    assert get_worker_info() is None                        # in the main process


# --- random_split, Subset, ConcatDataset ----------------------------------------------------------------------------

@SMALL
@given(n=st.integers(0, 60), weights=st.lists(st.integers(1, 9), min_size=1, max_size=5))
def test_random_split_fraction_lengths_match_torch(n, weights):
    fractions = [w / sum(weights) for w in weights]
    if not (np.isclose(sum(fractions), 1) and sum(fractions) <= 1):
        fractions[-1] = 1 - sum(fractions[:-1])
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours = random_split(Range(n), fractions, generator=md.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        theirs = tud.random_split(range(n), fractions, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert len(ours_warned) == len(theirs_warned)                           # one warning per empty split
    assert sorted(i for s in ours for i in s.indices) == list(range(n))       # disjoint and complete


def test_random_split_as_programs_use_it():
    ds = TensorDataset(np.arange(100, dtype=np.float32).reshape(50, 2), np.arange(50))
    train_set, val_set = random_split(ds, [0.8, 0.2], generator=md.Generator().manual_seed(0))
    assert (len(train_set), len(val_set)) == (40, 10)
    again, _ = random_split(ds, [0.8, 0.2], generator=md.Generator().manual_seed(0))
    assert again.indices == train_set.indices                 # a seeded generator gives the same split
    g = md.Generator().manual_seed(1)
    state = g.get_state()
    first = random_split(ds, [25, 25], generator=g)[0].indices
    assert random_split(ds, [25, 25], generator=g.set_state(state))[0].indices == first
    a, b, c = random_split(ds, [30, 15, 5])
    assert (len(a), len(b), len(c)) == (30, 15, 5)
    x, y = train_set[3]
    assert y.item() == train_set.indices[3] and x.tolist() == [2.0 * y.item(), 2.0 * y.item() + 1]
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [30, 10])
    with pytest.raises(ValueError, match="fraction at index 0"):
        random_split(ds, [1.5, -0.5])


def test_subset_indexing_matches_torch():
    data = np.arange(20) * 3
    idx = [5, 0, 19, 7, 7, 2]
    ours = Subset(TensorDataset(data), idx)
    theirs = tud.Subset(tud.TensorDataset(torch.tensor(data)), idx)
    assert len(ours) == len(theirs)
    for i in range(-len(idx), len(idx)):
        assert ours[i][0].item() == theirs[i][0].item()
    assert ours[[0, 2, 4]][0].tolist() == theirs[[0, 2, 4]][0].tolist() == [15, 57, 21]


def test_concat_dataset_indexing_matches_torch():
    parts = [list(range(0, 3)), [], list(range(100, 105)), [7]]
    ours, theirs = ConcatDataset(parts), tud.ConcatDataset(parts)
    assert len(ours) == len(theirs) == 9 and ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i] for i in range(-9, 9)] == [theirs[i] for i in range(-9, 9)]
    both = Range(3) + Range(2)
    assert isinstance(both, ConcatDataset) and both[4][1] == 1
    with pytest.raises(IndexError):
        ours[9]
    with pytest.raises(ValueError, match="should not exceed"):
        ours[-10]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Stream(3)])


# --- samplers -----------------------------------------------------------------------------------------------------

@SMALL
@given(n=st.integers(0, 40), batch_size=st.integers(1, 9), drop_last=st.booleans())
def test_batch_sampler_matches_torch(n, batch_size, drop_last):
    ours = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_random_samplers():
    g = md.Generator().manual_seed(3)
    perm = list(RandomSampler(range(10), generator=g))
    assert sorted(perm) == list(range(10)) and perm != list(RandomSampler(range(10), generator=g))
    long = list(RandomSampler(range(4), num_samples=10))                     # whole permutations, one cut short
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3]
    with_repl = RandomSampler(range(3), replacement=True, num_samples=50)
    assert len(with_repl) == 50 and set(with_repl) <= {0, 1, 2}
    assert sorted(SubsetRandomSampler([4, 8, 15, 16])) == [4, 8, 15, 16]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=200, generator=md.Generator().manual_seed(0)))
    assert 0 not in weighted and weighted.count(2) > weighted.count(1)
    assert sorted(WeightedRandomSampler([1, 1, 0, 1], 3, replacement=False)) == [0, 1, 3]
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0, 2.0], num_samples=0)
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], num_samples=2, replacement=False)
    with pytest.raises(TypeError, match="generator"):
        list(RandomSampler(range(3), generator=42))


# --- pad_sequence ---------------------------------------------------------------------------------------------------

@SMALL
@given(lengths=st.lists(st.integers(0, 5), min_size=1, max_size=4), batch_first=st.booleans(),
       side=st.sampled_from(["right", "left"]), value=st.sampled_from([0.0, -1.5]))
def test_pad_sequence_matches_torch(lengths, batch_first, side, value):
    rng = np.random.default_rng(len(lengths))
    arrays = [rng.standard_normal((n, 3)) for n in lengths]
    ours = pad_sequence([md.tensor(a, requires_grad=True) for a in arrays], batch_first=batch_first,
                        padding_value=value, padding_side=side)
    theirs = torch.nn.utils.rnn.pad_sequence([torch.tensor(a) for a in arrays], batch_first=batch_first,
                                             padding_value=value, padding_side=side)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == md.float64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_pad_sequence_gradients_and_errors():
    a, b = np.arange(6.0).reshape(3, 2), np.ones((1, 2))
    assert_gradcheck(lambda x, y: pad_sequence([x, y], batch_first=True, padding_side="left") ** 2, a, b)
    tokens = pad_sequence([md.tensor([5, 6, 7]), md.tensor([8])], batch_first=True)
    assert tokens.dtype == md.int64 and tokens.tolist() == [[5, 6, 7], [8, 0, 0]]
    with pytest.raises(ValueError, match="trailing dimensions"):
        pad_sequence([md.zeros(2, 3), md.zeros(2, 4)])
    with pytest.raises(ValueError, match="padding_side"):
        pad_sequence([md.zeros(2)], padding_side="middle")
    with pytest.raises(ValueError, match="empty"):
        pad_sequence([])


# --- DataLoader ---------------------------------------------------------------------------------------------------

def test_default_collate_values_match_torch():
    samples = [{"x": np.full(3, i, np.float32), "y": i, "name": f"s{i}"} for i in range(4)]
    ours, theirs = default_collate(samples), tud.default_collate(samples)
    np.testing.assert_array_equal(ours["x"].numpy(), theirs["x"].numpy())
    assert ours["y"].tolist() == theirs["y"].tolist() and ours["y"].dtype == md.int64
    assert ours["name"] == theirs["name"]


def test_loader_batches_match_torch_without_shuffle():
    x, y = np.arange(26, dtype=np.float32).reshape(13, 2), np.arange(13)
    ours = list(DataLoader(Subset(TensorDataset(x, y), list(range(1, 12))), batch_size=4, drop_last=True))
    theirs = list(tud.DataLoader(tud.Subset(tud.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                            list(range(1, 12))), batch_size=4, drop_last=True))
    assert len(ours) == len(theirs) == 2
    for (ox, oy), (tx, ty) in zip(ours, theirs):
        np.testing.assert_array_equal(ox.numpy(), tx.numpy())
        assert oy.tolist() == ty.tolist()


@pytest.mark.parametrize("dataset", [Range(37), TensorDataset(np.zeros((37, 2), np.float32), np.arange(37))])
def test_workers_give_the_order_of_num_workers_0(dataset):
    def epochs(num_workers):
        loader = DataLoader(Subset(dataset, list(range(2, 37))), batch_size=4, shuffle=True, num_workers=num_workers,
                            generator=md.Generator().manual_seed(5))
        return [_labels(loader) for _ in range(3)]
    here, there = epochs(0), epochs(2)
    assert len(here) == 3 and [len(e) for e in here] == [9, 9, 9]
    assert here == there and here[0] != here[1]
    assert sorted(sum(here[0], [])) == list(range(2, 37))


def test_workers_with_batch_sampler_batch_size_none_and_in_order_false():
    sampler = BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False)
    assert _labels(DataLoader(Range(10), batch_sampler=sampler, num_workers=2)) == _labels(
        DataLoader(Range(10), batch_sampler=sampler))
    singles = list(DataLoader(Range(5), batch_size=None, num_workers=2))
    assert [s[1] for s in singles] == [0, 1, 2, 3, 4] and isinstance(singles[0][0], md.Tensor)
    unordered = DataLoader(Range(20), batch_size=2, num_workers=2, in_order=False, prefetch_factor=3, pin_memory=True)
    assert sorted(sum(_labels(unordered), [])) == list(range(20))


def test_iterable_dataset_workers_each_iterate_their_copy():
    assert sum((b.tolist() for b in DataLoader(Stream(11), batch_size=3)), []) == list(range(11))
    split = [b.tolist() for b in DataLoader(Stream(11), batch_size=3, num_workers=2)]
    assert split == [[0, 2, 4], [1, 3, 5], [6, 8, 10], [7, 9]]    # round-robin over the workers, as PyTorch
    theirs = [b.tolist() for b in tud.DataLoader(_TorchStream(11), batch_size=3, num_workers=2)]
    assert split == theirs

    class Unsplit(IterableDataset):
        def __iter__(self):
            return iter(range(4))
    dup = sum((b.tolist() for b in DataLoader(Unsplit(), batch_size=2, num_workers=2)), [])
    assert sorted(dup) == [0, 0, 1, 1, 2, 2, 3, 3]                 # each worker yields its own copy
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(TypeError, match="without a length"):
        len(DataLoader(Stream(3), batch_size=2))


class _TorchStream(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = tud.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def test_worker_exception_surfaces_with_type_message_and_worker():
    loader = DataLoader(Faulty(12), batch_size=2, num_workers=2)
    with pytest.raises(KeyError, match=r"(?s)Caught KeyError in DataLoader worker process 1.*no sample 7"):
        list(loader)
    assert _labels(DataLoader(Faulty(6), batch_size=2, num_workers=2)) == [[0, 1], [2, 3], [4, 5]]


def test_killed_worker_fails_clearly():
    with pytest.raises(RuntimeError, match=r"DataLoader worker 1 \(pid \d+\) exited unexpectedly.*signal 9"):
        list(DataLoader(Killed(12), batch_size=2, num_workers=2))


class Slow(Range):
    def __getitem__(self, i):
        if i == 3:
            time.sleep(30)
        return super().__getitem__(i)


def test_timeout_raises_instead_of_waiting():
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        list(DataLoader(Slow(6), batch_size=2, num_workers=2, timeout=0.5))


def _tensor_collate(samples):
    return md.tensor(np.stack([s[0] for s in samples])), md.tensor([s[1] for s in samples])


def test_custom_collate_fn_runs_in_workers_and_its_tensors_feed_kernels():
    batches = list(DataLoader(Range(6), batch_size=3, num_workers=2, collate_fn=_tensor_collate))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5]]
    layer = md.nn.Linear(2, 1)
    assert layer(batches[0][0]).shape == (3, 1)        # float32 arrays unpickled from a worker reach the kernels


def test_worker_init_fn_runs_once_in_each_worker():
    loader = DataLoader(WhoLoads(8), batch_size=None, num_workers=2, worker_init_fn=_mark_init)
    rows = list(loader)
    assert [r[0] for r in rows] == list(range(8))
    assert {(r[2], r[3]) for r in rows} == {(0, 2), (1, 12)}        # init saw its own id and the worker count
    assert len({r[1] for r in rows}) == 2 and os.getpid() not in {r[1] for r in rows}


def test_persistent_workers_are_reused_across_epochs():
    def pids(loader):
        return [{r[1] for r in loader} for _ in range(3)]
    kept = pids(DataLoader(WhoLoads(6), batch_size=None, num_workers=2, persistent_workers=True))
    assert kept[0] == kept[1] == kept[2] and len(kept[0]) == 2
    fresh = pids(DataLoader(WhoLoads(6), batch_size=None, num_workers=2))
    assert fresh[0].isdisjoint(fresh[1])
    loader = DataLoader(Range(40), batch_size=2, num_workers=2, persistent_workers=True)
    assert next(iter(loader))[1].tolist() == [0, 1] and next(iter(loader))[1].tolist() == [0, 1]   # left early
    old = iter(loader)
    next(old)
    assert sum(len(b[1]) for b in loader) == 40
    with pytest.raises(RuntimeError, match="superseded"):
        next(old)
    assert _labels(loader)[-1] == [38, 39]              # the workers still serve the loader


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(Range(3), num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(Range(3), prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(Range(3), persistent_workers=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(Range(3), batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(Range(3), timeout=-1)


def test_model_trains_through_a_two_worker_loader():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    train_set, _ = random_split(TensorDataset(x, y), [0.75, 0.25], generator=md.Generator().manual_seed(0))
    loader = DataLoader(train_set, batch_size=32, shuffle=True, num_workers=2)
    md.manual_seed(0)
    model = md.nn.Sequential(md.nn.Linear(4, 16), md.nn.ReLU(), md.nn.Linear(16, 2))
    opt = md.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = md.nn.CrossEntropyLoss()
    losses = []
    for _ in range(8):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        losses.append(total / len(train_set))
    assert losses[-1] < 0.5 * losses[0]
