"""md.linalg against torch.linalg: values and gradients of norms, inverses, determinants, solves and factorizations
(batched), float64 gradchecks on hypothesis-drawn batch shapes and well-conditioned matrices, bad input refused,
and PyTorch's older top-level names (md.det, md.svd returning V...) and Tensor methods."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

SETTINGS = settings(max_examples=25, deadline=None)
batch_shapes = st.lists(st.integers(1, 3), max_size=2).map(tuple)


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _spd(shape, seed=0):
    """Symmetric positive-definite (*, n, n): M M^T + n I."""
    m = _rand(shape, seed)
    return m @ m.swapaxes(-1, -2) + shape[-1] * np.eye(shape[-1])


def _well(shape, seed=0):
    """A well-conditioned square matrix: random plus a dominant diagonal."""
    return _rand(shape, seed) + 3 * shape[-1] * np.eye(shape[-1]) if shape[-1] else _rand(shape, seed)


def _compare(md_fn, torch_fn, *arrays, atol=1e-8, weights_seed=1):
    """Outputs and gradients (of a fixed random weighting of every output) equal to PyTorch's."""
    mx = [md.tensor(a, requires_grad=True) for a in arrays]
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo, to = md_fn(*mx), torch_fn(*tx)
    mo = mo if isinstance(mo, tuple) else (mo,)
    to = to if isinstance(to, tuple) else (to,)
    assert len(mo) == len(to)
    rng = np.random.default_rng(weights_seed)
    lm = lt = 0
    for a, b in zip(mo, to):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=atol, rtol=1e-6)
        if b.dtype.is_floating_point and b.requires_grad:
            w = rng.standard_normal(tuple(b.shape))
            lm = lm + (a * md.tensor(w)).sum()
            lt = lt + (b * torch.tensor(w)).sum()
    if isinstance(lt, int):                 # nothing differentiable (ord=0 norms): no gradient flows
        return
    lm.backward()
    lt.backward()
    for a, b in zip(mx, tx):
        if b.grad is None:
            assert a.grad is None or not a.grad.numpy().any()
            continue
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol * 10, rtol=1e-5)


# --- norms -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, math.inf, -math.inf, 0])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_vector_norm_matches_torch(ord, dim, keepdim):  # noqa: A002
    x = _rand((3, 4, 5), 2)
    _compare(lambda a: md.linalg.vector_norm(a, ord, dim, keepdim), lambda a: torch.linalg.vector_norm(a, ord, dim,
                                                                                                        keepdim), x)


def test_vector_norm_gradient_is_zero_at_zero_and_split_between_ties():
    _compare(lambda a: md.linalg.vector_norm(a), lambda a: torch.linalg.vector_norm(a), np.zeros(3))
    _compare(lambda a: md.linalg.vector_norm(a, math.inf), lambda a: torch.linalg.vector_norm(a, math.inf),
             np.array([1.0, -2.0, 2.0]))


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
@pytest.mark.parametrize("dim,keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False)])
def test_matrix_norm_matches_torch(ord, dim, keepdim):  # noqa: A002
    x = _rand((3, 2, 4), 3)
    _compare(lambda a: md.linalg.matrix_norm(a, ord, dim, keepdim),
             lambda a: torch.linalg.matrix_norm(a, ord, dim, keepdim), x)


@pytest.mark.parametrize("shape,ord,dim", [((5,), None, None), ((3, 4), None, None), ((2, 3, 4), None, None),
                                           ((3, 4), "nuc", None), ((3, 4), 2, None), ((5,), 1, None),
                                           ((3, 4), 1, 1), ((2, 3, 4), "fro", (1, 2)), ((2, 3, 4), 3, (0,)),
                                           ((3, 4), math.inf, None)])
def test_norm_dispatches_as_torch(shape, ord, dim):  # noqa: A002
    _compare(lambda a: md.linalg.norm(a, ord, dim), lambda a: torch.linalg.norm(a, ord, dim), _rand(shape, 4))


def test_norm_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="linalg.norm.*shape \\(2, 3, 4\\)"):
        md.linalg.norm(md.ones(2, 3, 4), ord=2)
    with pytest.raises(ValueError, match="dim must be an int or a pair"):
        md.linalg.norm(md.ones(2, 3, 4), ord=3, dim=(0, 1, 2))
    with pytest.raises(ValueError, match="matrix_norm: ord"):
        md.linalg.matrix_norm(md.ones(2, 2), ord=3)
    with pytest.raises(TypeError, match="floating"):
        md.linalg.vector_norm(md.tensor([1, 2]))


# --- inverse, determinant, solve ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (2, 1, 2, 2)])
def test_inv_det_slogdet_logdet_match_torch(shape):
    A = _well(shape, 5)
    _compare(md.linalg.inv, torch.linalg.inv, A)
    _compare(md.linalg.det, torch.linalg.det, _rand(shape, 6))
    _compare(lambda a: tuple(md.linalg.slogdet(a)), lambda a: tuple(torch.linalg.slogdet(a)), _rand(shape, 7))
    _compare(md.logdet, torch.logdet, _spd(shape, 8))


def test_det_gradient_of_a_singular_matrix_is_the_cofactor_matrix():
    # rank 2: the cofactor matrix is not zero (finite differences agree; PyTorch 2.13 returns zeros here)
    A = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    x = md.tensor(A, requires_grad=True)
    md.linalg.det(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[4.0, 4.0, -4.0], [-2.0, -2.0, 2.0], [0.0, 0.0, 0.0]], atol=1e-12)
    assert_gradcheck(md.linalg.det, A)


def test_logdet_is_nan_for_a_negative_determinant():
    assert math.isnan(md.logdet(md.tensor([[0.0, 1.0], [1.0, 0.0]])).item())


@pytest.mark.parametrize("a_shape,b_shape,left", [((3, 3), (3,), True), ((3, 3), (3, 2), True),
                                                  ((2, 3, 3), (2, 3), True), ((2, 3, 3), (3, 4), True),
                                                  ((3, 3), (2, 3, 1), True), ((2, 3, 3), (2, 4, 3), False)])
def test_solve_matches_torch(a_shape, b_shape, left):
    _compare(lambda a, b: md.linalg.solve(a, b, left=left), lambda a, b: torch.linalg.solve(a, b, left=left),
             _well(a_shape, 9), _rand(b_shape, 10))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -3])
def test_matrix_power_matches_torch(n):
    _compare(lambda a: md.linalg.matrix_power(a, n), lambda a: torch.linalg.matrix_power(a, n),
             _well((2, 3, 3), 11) / 9)


def test_singular_and_non_square_inputs_raise_naming_the_op_and_shape():
    with pytest.raises(md.linalg.LinAlgError, match="linalg.inv.*\\(2, 2\\).*singular"):
        md.linalg.inv(md.tensor([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(md.linalg.LinAlgError, match="linalg.solve.*singular"):
        md.linalg.solve(md.zeros(3, 3), md.ones(3))
    with pytest.raises(ValueError, match="linalg.det: expected square matrices, got shape \\(2, 3\\)"):
        md.linalg.det(md.ones(2, 3))
    with pytest.raises(ValueError, match="linalg.inv.*at least 2 dims.*\\(3,\\)"):
        md.linalg.inv(md.ones(3))
    with pytest.raises(ValueError, match="linalg.solve: B must be.*\\(4, 2\\)"):
        md.linalg.solve(md.eye(3), md.ones(4, 2))
    with pytest.raises(md.linalg.LinAlgError, match="cholesky.*not positive-definite"):
        md.linalg.cholesky(-md.eye(2))
    with pytest.raises(TypeError, match="linalg.inv: expected a floating point tensor, got int64"):
        md.linalg.inv(md.tensor([[1, 0], [0, 1]]))
    assert issubclass(md.linalg.LinAlgError, RuntimeError)


def test_inv_ex_reports_singular_matrices():
    A = md.tensor(np.stack([np.eye(2), [[1.0, 2.0], [2.0, 4.0]]]))
    out, info = md.linalg.inv_ex(A)
    assert info.tolist() == [0, 1]
    np.testing.assert_allclose(out[0].numpy(), np.eye(2))


# --- factorizations ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_matches_torch(upper):
    A = _spd((2, 4, 4), 12)
    # through a symmetric input, as the gradient (like PyTorch's) is the symmetric one
    _compare(lambda m: md.linalg.cholesky(m + m.mT, upper=upper),
             lambda m: torch.linalg.cholesky(m + m.mT, upper=upper), A / 2)


@pytest.mark.parametrize("shape,mode", [((4, 3), "reduced"), ((2, 3, 3), "reduced"), ((3, 3), "complete"),
                                        ((5, 2), "reduced")])
def test_qr_matches_torch(shape, mode):
    _compare(lambda a: tuple(md.linalg.qr(a, mode)), lambda a: tuple(torch.linalg.qr(a, mode)), _rand(shape, 13))


def test_qr_shapes_for_wide_and_complete_and_r_modes():
    A = md.tensor(_rand((2, 5), 14))
    Q, R = md.linalg.qr(A)
    assert Q.shape == (2, 2) and R.shape == (2, 5)
    np.testing.assert_allclose((Q @ R).numpy(), A.numpy(), atol=1e-12)
    Q, R = md.linalg.qr(md.tensor(_rand((5, 2), 14)), mode="complete")
    assert Q.shape == (5, 5) and R.shape == (5, 2)
    assert md.linalg.qr(A, mode="r").Q.numel() == 0


def test_eigh_matches_torch_up_to_eigenvector_signs():
    A = _spd((2, 4, 4), 15)

    def loss(lib):
        def f(m):
            w, v = lib.linalg.eigh(m + m.mT)
            return w, v * v, v[..., 0:1, :] * v           # squares and column products: sign-invariant
        return f
    _compare(loss(md), loss(torch), A, atol=1e-7)
    # on the matrix itself (a leaf): the gradient is the symmetric one, as PyTorch's
    _compare(lambda m: md.linalg.eigh(m).eigenvectors ** 2, lambda m: torch.linalg.eigh(m).eigenvectors ** 2, A,
             atol=1e-7)
    _compare(md.linalg.cholesky, torch.linalg.cholesky, A)
    _compare(lambda m: md.linalg.eigvalsh(m), lambda m: torch.linalg.eigvalsh(m), A)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_matches_torch_up_to_signs(shape, full):
    def f(lib):
        def g(a):
            U, S, Vh = lib.linalg.svd(a, full_matrices=full)
            k = S.shape[-1]
            return S, U[..., :, :k] * Vh[..., :k, :].mT[..., :1, :], (U * U)[..., :, :k]
        return g
    _compare(f(md), f(torch), _rand(shape, 16), atol=1e-7)
    _compare(md.linalg.svdvals, torch.linalg.svdvals, _rand(shape, 17))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
def test_pinv_and_lstsq_match_torch(shape):
    _compare(md.linalg.pinv, torch.linalg.pinv, _rand(shape, 18), atol=1e-7)
    A, B = _rand((5, 3), 19), _rand((5, 2), 20)
    _compare(lambda a, b: md.linalg.lstsq(a, b).solution,
             lambda a, b: torch.linalg.lstsq(a, b, driver="gelsd").solution, A, B, atol=1e-7)
    res = md.linalg.lstsq(md.tensor(A), md.tensor(B), driver="gelsd")
    ref = torch.linalg.lstsq(torch.tensor(A), torch.tensor(B), driver="gelsd")
    np.testing.assert_allclose(res.residuals.numpy(), ref.residuals.numpy(), atol=1e-10)
    assert res.rank.item() == ref.rank.item() == 3


def test_pinv_of_a_rank_deficient_matrix():
    A = np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(md.linalg.pinv(md.tensor(A)).numpy(), torch.linalg.pinv(torch.tensor(A)).numpy(),
                               atol=1e-12)
    assert md.linalg.matrix_rank(md.tensor(A)).item() == 1


# --- gradchecks on drawn batch shapes ------------------------------------------------------------------------------------

@SETTINGS
@given(batch=batch_shapes, n=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_gradcheck_inverse_determinant_solve(batch, n, seed):
    A, B = _well(batch + (n, n), seed), _rand(batch + (n, 2), seed + 1)
    assert_gradcheck(md.linalg.inv, A)
    assert_gradcheck(md.linalg.det, A)
    assert_gradcheck(lambda a: md.linalg.slogdet(a).logabsdet, A)
    assert_gradcheck(md.linalg.solve, A, B)
    assert_gradcheck(lambda a: md.linalg.matrix_power(a, -2), A)


@SETTINGS
@given(batch=batch_shapes, n=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_gradcheck_cholesky_and_eigh_on_spd_matrices(batch, n, seed):
    M = _rand(batch + (n, n), seed)

    def spd(m):
        return m @ m.mT + n * md.eye(n, dtype=md.float64)
    assert_gradcheck(lambda m: md.linalg.cholesky(spd(m)), M)
    # distinct eigenvalues: spread them with a diagonal ramp
    ramp = md.tensor(np.diag(np.arange(n) * 3.0))
    assert_gradcheck(lambda m: md.linalg.eigh(spd(m) + ramp).eigenvalues, M)
    assert_gradcheck(lambda m: md.linalg.eigh(spd(m) + ramp).eigenvectors ** 2, M)


@SETTINGS
@given(batch=batch_shapes, m=st.integers(1, 4), n=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_gradcheck_qr_svd_pinv_norms(batch, m, n, seed):
    # distinct singular values, away from 0: a small random part on a diagonal 2, 4, 6...
    A = 0.1 * _rand(batch + (m, n), seed) + np.eye(m, n) * (2.0 * np.arange(1, m + 1))[:, None]
    if m >= n:
        assert_gradcheck(lambda a: md.linalg.qr(a), A)
    assert_gradcheck(md.linalg.svdvals, A)
    assert_gradcheck(lambda a: (lambda u, s, vh: (u @ (s.unsqueeze(-1) * vh), u * u, vh * vh))(*md.linalg.svd(a, False)),
                     A)
    assert_gradcheck(md.linalg.pinv, A)
    assert_gradcheck(lambda a: md.linalg.matrix_norm(a, "nuc"), A)
    assert_gradcheck(lambda a: md.linalg.vector_norm(a, 3, dim=-1), A)


# --- top-level names and methods ------------------------------------------------------------------------------------------

def test_top_level_aliases_and_methods_match_torch():
    A = _well((2, 3, 3), 21)
    _compare(md.det, torch.det, A)
    _compare(md.inverse, torch.inverse, A)
    _compare(lambda a: a.det(), lambda a: a.det(), A)
    _compare(lambda a: a.inverse(), lambda a: a.inverse(), A)
    _compare(lambda a: a.matrix_power(3), lambda a: a.matrix_power(3), A / 9)
    _compare(lambda a: md.cholesky(a @ a.mT), lambda a: torch.linalg.cholesky(a @ a.mT), A)
    _compare(lambda a: a.pinverse(), lambda a: a.pinverse(), A[0])
    _compare(lambda a: tuple(md.slogdet(a)), lambda a: tuple(torch.slogdet(a)), A)
    _compare(lambda a: a.logdet(), lambda a: a.logdet(), A)


def test_old_svd_returns_v_not_its_transpose():
    A = md.tensor(_rand((4, 3), 22))
    U, S, V = md.svd(A)
    assert U.shape == (4, 3) and V.shape == (3, 3)
    np.testing.assert_allclose((U @ md.diag(S) @ V.mT).numpy() if hasattr(md, "diag") else
                               ((U * S) @ V.mT).numpy(), A.numpy(), atol=1e-12)
    U, S, V = md.svd(A, some=False)
    assert U.shape == (4, 4)
    U, S, V = md.svd(A, compute_uv=False)
    ref = torch.svd(torch.tensor(A.numpy()), compute_uv=False)
    assert U.shape == tuple(ref.U.shape) == (4, 4) and V.shape == tuple(ref.V.shape) and not U.numpy().any()
    np.testing.assert_allclose(S.numpy(), ref.S.numpy(), atol=1e-12)
    Q, R = md.qr(A)
    assert Q.shape == (4, 3) and R.shape == (3, 3)


def test_linalg_is_importable_as_a_module_and_offers_its_names():
    import minidl.linalg as L
    assert L is md.linalg
    assert set(L.__all__) <= set(dir(L))
    _compare(lambda a, b: md.linalg.multi_dot([a, b, a]), lambda a, b: torch.linalg.multi_dot([a, b, a]),
             _rand((3, 3), 23), _rand((3, 3), 24))
    _compare(lambda a, b: md.linalg.vecdot(a, b), lambda a, b: torch.linalg.vecdot(a, b), _rand((2, 3), 25),
             _rand((3,), 26))



@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular_reads_one_triangle_as_torch(upper, left, unitriangular):
    A = _rand((2, 3, 3), 40) + 3 * np.eye(3)               # both triangles filled: only one may be read
    B = _rand((2, 3, 4) if left else (2, 4, 3), 41)
    _compare(lambda a, b: md.linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unitriangular),
             lambda a, b: torch.linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unitriangular),
             A, B)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_cholesky_ex_match_torch(upper):
    L = np.tril(_rand((3, 3), 42)) + 3 * np.eye(3)
    F = L.T if upper else L
    _compare(lambda b, f: md.cholesky_solve(b, f, upper), lambda b, f: torch.cholesky_solve(b, f, upper),
             _rand((3, 2), 43), F)
    A = md.tensor(np.stack([_spd((3, 3), 44), np.diag([1.0, -1.0, 1.0]), np.diag([1.0, 1.0, -1.0])]))
    out = md.linalg.cholesky_ex(A)
    ref = torch.linalg.cholesky_ex(torch.tensor(A.numpy()))
    assert out.info.tolist() == ref.info.tolist() == [0, 2, 3]
    np.testing.assert_allclose(out.L[0].numpy(), ref.L[0].numpy(), atol=1e-12)
    with pytest.raises(md.linalg.LinAlgError, match="cholesky_ex.*\\(3, 3, 3\\)"):
        md.linalg.cholesky_ex(A, check_errors=True)


def test_float32_inputs_give_float32_values_and_gradients():
    A = md.tensor(_spd((2, 3, 3), 45), dtype=md.float32, requires_grad=True)
    ops = [md.linalg.inv, md.linalg.det, lambda a: md.linalg.slogdet(a).logabsdet, md.linalg.cholesky,
           lambda a: md.linalg.qr(a).R, lambda a: md.linalg.eigh(a).eigenvectors ** 2, md.linalg.svdvals,
           md.linalg.pinv, lambda a: md.linalg.matrix_norm(a, "nuc"), lambda a: md.linalg.vector_norm(a, math.inf),
           lambda a: md.linalg.solve(a, a[..., :1])]
    for op in ops:
        A.grad = None
        out = op(A)
        assert out.dtype == md.float32
        out.sum().backward()
        assert A.grad.dtype == md.float32 and np.isfinite(A.grad.numpy()).all()


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "solve", "matrix_power"])
def test_second_derivatives_match_torch(name):
    A, B = _well((2, 3, 3), 60) / 3, _rand((2, 3, 2), 61)
    fns = {"inv": lambda lib, a, b: lib.linalg.inv(a).sum(),
           "det": lambda lib, a, b: lib.linalg.det(a).sum(),
           "slogdet": lambda lib, a, b: lib.linalg.slogdet(a).logabsdet.sum(),
           "solve": lambda lib, a, b: (lib.linalg.solve(a, b) ** 2).sum(),
           "matrix_power": lambda lib, a, b: lib.linalg.matrix_power(a, -2).sum()}
    fn = fns[name]
    # a gradient penalty: the squared norm of d fn / dA, differentiated again
    am, bm = md.tensor(A, requires_grad=True), md.tensor(B, requires_grad=True)
    at, bt = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    (gm,) = md.autograd.grad(fn(md, am, bm), am, create_graph=True)
    (gt,) = torch.autograd.grad(fn(torch, at, bt), at, create_graph=True)
    _close_pair(gm, gt)
    (gm ** 2).sum().backward()
    (gt ** 2).sum().backward()
    _close_pair(am.grad, at.grad)
    if name == "solve":
        _close_pair(bm.grad, bt.grad)
    assert_gradcheck(lambda a: md.autograd.grad(fn(md, a, md.tensor(B)), a, create_graph=True)[0], A)


def _close_pair(a, b):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-8, rtol=1e-6)
