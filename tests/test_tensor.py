"""Tensor creation, dtypes, devices, conversion and the small API around them."""
import numpy as np
import pytest

import minidl as md


def test_tensor_defaults_follow_pytorch():
    assert md.tensor([[1.0, 2.0]]).dtype == md.float32
    assert md.tensor([1, 2]).dtype == md.int64
    assert md.tensor([True]).dtype == md.bool
    assert md.tensor(np.zeros(2)).dtype == md.float64          # arrays keep their dtype
    assert md.tensor([1, 2], dtype=md.float64).dtype == md.float64
    assert md.tensor(3.5).shape == () and md.tensor(3.5).item() == 3.5


def test_tensor_copies_and_from_numpy_shares():
    a = np.zeros(3)
    t, s = md.tensor(a), md.from_numpy(a)
    a[0] = 7.0
    assert t[0].item() == 0.0 and s[0].item() == 7.0


@pytest.mark.parametrize("make", [md.zeros, md.ones, md.empty, md.rand, md.randn])
def test_creation_functions_take_size_forms_dtype_and_requires_grad(make):
    assert make(2, 3).shape == (2, 3) == make((2, 3)).shape == make([2, 3]).shape
    t = make(4, dtype=md.float64, requires_grad=True)
    assert t.dtype == md.float64 and t.requires_grad and t.is_leaf and t.device == "cpu"


def test_full_arange_eye_linspace():
    assert md.full((2, 2), 7.0).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert md.full((2,), 3).dtype == md.int64
    assert md.arange(5).tolist() == [0, 1, 2, 3, 4] and md.arange(5).dtype == md.int64
    assert md.arange(0, 1, 0.25).dtype == md.float32
    np.testing.assert_array_equal(md.eye(3).numpy(), np.eye(3))
    np.testing.assert_allclose(md.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])


def test_manual_seed_makes_every_random_function_repeatable():
    md.manual_seed(123)
    a = (md.rand(3).numpy(), md.randn(3).numpy(), md.randint(0, 10, (3,)).numpy(), md.randperm(5).numpy())
    md.manual_seed(123)
    b = (md.rand(3).numpy(), md.randn(3).numpy(), md.randint(0, 10, (3,)).numpy(), md.randperm(5).numpy())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_rand_range_and_randn_moments():
    md.manual_seed(0)
    u, n = md.rand(20000).numpy(), md.randn(20000).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03


def test_attributes_and_conversions():
    t = md.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.size() == (2, 2) and t.size(1) == 2 and t.numel() == 4
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert t.long().dtype == md.int64 and t.long().tolist() == [[1, 2], [3, 4]]
    assert t.double().dtype == md.float64 and t.float().dtype == md.float32
    assert t.astype(md.float64).dtype == md.float64 and t.astype("int64").dtype == md.int64
    assert float(t[0, 0]) == 1.5 and int(t[1, 1]) == 4
    assert isinstance(t.numpy(), np.ndarray)


def test_repr_shows_values_dtype_and_grad():
    assert repr(md.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    r = repr(md.tensor([1.0], dtype=md.float64, requires_grad=True))
    assert "dtype=minidl.float64" in r and "requires_grad=True" in r
    assert "grad_fn=<MulBackward>" in repr(md.ones(1, requires_grad=True) * 2)


def test_requires_grad_only_for_floats():
    with pytest.raises(RuntimeError, match="floating point"):
        md.tensor([1, 2], requires_grad=True)
    t = md.zeros(2).requires_grad_()
    assert t.requires_grad


def test_zero_and_setitem_are_in_place_and_bump_version():
    t = md.ones(2, 3)
    v = t._version
    t.zero_()
    t[0, 1] = 5.0
    t[1] = md.tensor([1.0, 2.0, 3.0])
    assert t.tolist() == [[0.0, 5.0, 0.0], [1.0, 2.0, 3.0]] and t._version == v + 3


def test_device_attribute_and_cuda_availability():
    t = md.ones(2)
    assert t.device == "cpu" and str(t.device) == "cpu" and t.cpu() is t
    assert md.cuda.is_available() in (True, False)
    if not md.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            t.to("cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            md.zeros(2, device="cuda")
    with pytest.raises(ValueError, match="device"):
        md.ones(2, device="tpu")


def test_bool_of_multi_element_tensor_is_ambiguous():
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(md.ones(2))
    assert bool(md.ones(1))


def test_comparisons_return_bool_without_grad():
    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in (x == 2, x != 2, x < 2, x <= 2, x > 2, x >= 2, 2 < x):
        assert r.dtype == md.bool and not r.requires_grad
    assert (x > 1.5).tolist() == [False, True, True]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]


def test_scalar_promotion_as_pytorch():
    assert (md.tensor([1, 2]) * 2.5).dtype == md.float32
    assert (md.tensor([1, 2]) / 2).dtype == md.float32
    assert (md.tensor([1.0], dtype=md.float64) + 1).dtype == md.float64
    assert (md.ones(2) + md.ones(2, dtype=md.float64)).dtype == md.float64
    assert (md.tensor([True]) + 1).dtype == md.int64


def test_numpy_operands_on_either_side():
    a = np.array([1.0, 2.0], dtype=np.float32)
    assert isinstance(a + md.ones(2), md.Tensor) and (a * md.ones(2)).tolist() == [1.0, 2.0]


def test_hash_by_identity_so_tensors_can_key_dicts():
    a, b = md.ones(1), md.ones(1)
    assert len({a: 1, b: 2}) == 2


def test_max_min_named_pair_and_full_reduction():
    t = md.tensor([[1.0, 5.0], [7.0, 2.0]])
    values, indices = t.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert t.max(1).values.tolist() == [5.0, 7.0] and t.min(dim=0).indices.tolist() == [0, 1]
    assert t.max().shape == () and t.max().item() == 7.0


def test_axis_and_keepdims_aliases():
    t = md.ones(2, 3)
    assert t.sum(axis=1, keepdims=True).shape == (2, 1) == t.sum(dim=1, keepdim=True).shape
    assert md.mean(t, 0).shape == (3,)


def test_var_std_unbiased_default_and_population():
    t = md.tensor([1.0, 2.0, 3.0, 4.0])
    assert t.var().item() == pytest.approx(np.var([1, 2, 3, 4], ddof=1))
    assert t.var(unbiased=False).item() == pytest.approx(np.var([1, 2, 3, 4]))
    assert t.std(correction=0).item() == pytest.approx(np.std([1, 2, 3, 4]))


def test_split_chunk_as_pytorch():
    t = md.arange(7)
    assert [p.tolist() for p in t.split(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [p.tolist() for p in t.split([2, 5])] == [[0, 1], [2, 3, 4, 5, 6]]
    assert [p.shape[0] for p in t.chunk(3)] == [3, 3, 1]
    assert [p.shape[0] for p in md.arange(6).chunk(4)] == [2, 2, 2]


def test_transpose_permute_T():
    t = md.zeros(2, 3, 4)
    assert t.transpose(0, 2).shape == (4, 3, 2) and t.permute(1, 2, 0).shape == (3, 4, 2) and t.T.shape == (4, 3, 2)


def test_operations_never_change_the_users_array():
    a = np.arange(6.0).reshape(2, 3)
    keep = a.copy()
    t = md.from_numpy(a)
    _ = (t * 2, t.exp(), t[0], t.reshape(3, 2) + 1, md.cat([t, t]), t.clamp(0, 1), t.T @ t, t.softmax(0))
    np.testing.assert_array_equal(a, keep)
