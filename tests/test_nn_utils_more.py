"""md.nn.utils as PyTorch programs use it: total norms and clipping in two steps, parameters as one vector,
weight_norm and spectral_norm reparameterizations (values, gradients and state_dict keys against PyTorch)."""
import numpy as np
import pytest

import minidl as md

torch = pytest.importorskip("torch")


def _twin_linear(n_in, n_out, seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.Linear(n_in, n_out).double()
    mine = md.nn.Linear(n_in, n_out, dtype=md.float64)
    mine.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    return mine, theirs


def test_total_norm_and_two_step_clipping_match_pytorch():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    for norm_type in (2.0, 1.0, float("inf")):
        mine = [md.tensor(g) for g in grads]
        theirs = [torch.tensor(g) for g in grads]
        tm = md.nn.utils.get_total_norm(mine, norm_type)
        tt = torch.nn.utils.get_total_norm(theirs, norm_type)
        np.testing.assert_allclose(tm.item(), tt.item(), rtol=1e-12)
        pm = [md.nn.Parameter(md.zeros(g.shape, dtype=md.float64)) for g in grads]
        pt = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
        for p, g in zip(pm, mine):
            p.grad = g
        for p, g in zip(pt, theirs):
            p.grad = g
        md.nn.utils.clip_grads_with_norm_(pm, 0.5, tm)
        torch.nn.utils.clip_grads_with_norm_(pt, 0.5, tt)
        for a, b in zip(pm, pt):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        md.nn.utils.clip_grad_norm(pm, 1.0)


def test_parameters_to_vector_and_back():
    mine, theirs = _twin_linear(4, 3)
    vm = md.nn.utils.parameters_to_vector(mine.parameters())
    vt = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(vm.detach().numpy(), vt.detach().numpy())
    version = mine.weight._version
    md.nn.utils.vector_to_parameters(md.arange(15.0, dtype=md.float64), mine.parameters())
    assert mine.weight.tolist()[1] == [4.0, 5.0, 6.0, 7.0] and mine.bias.tolist() == [12.0, 13.0, 14.0]
    assert mine.weight._version > version
    with pytest.raises(ValueError, match="the vector has 3 elements, the parameters 15"):
        md.nn.utils.vector_to_parameters(md.ones(3), mine.parameters())


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_pytorch(dim):
    mine, theirs = _twin_linear(4, 3)
    md.nn.utils.weight_norm(mine, dim=dim)
    torch.nn.utils.weight_norm(theirs, dim=dim)
    assert sorted(mine.state_dict()) == sorted(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(mine.state_dict()[k].numpy(), v.numpy(), rtol=1e-12)
    x = np.random.default_rng(1).standard_normal((5, 4))
    ym, yt = mine(md.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    (ym ** 2).sum().backward()
    (yt ** 2).sum().backward()
    for name in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(getattr(mine, name).grad.numpy(), getattr(theirs, name).grad.numpy(), rtol=1e-10)
    md.nn.utils.remove_weight_norm(mine)
    assert sorted(mine.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(mine(md.tensor(x)).detach().numpy(), yt.detach().numpy(), rtol=1e-12)


def test_spectral_norm_matches_pytorch_with_the_same_power_iteration_vectors():
    mine, theirs = _twin_linear(6, 4)
    md.nn.utils.spectral_norm(mine, n_power_iterations=2)
    torch.nn.utils.spectral_norm(theirs, n_power_iterations=2)
    assert sorted(mine.state_dict()) == sorted(theirs.state_dict())
    mine.weight_u.copy_(md.tensor(theirs.weight_u.numpy()))
    mine.weight_v.copy_(md.tensor(theirs.weight_v.numpy()))
    x = np.random.default_rng(2).standard_normal((5, 6))
    for _ in range(3):                  # training forwards: each runs the power iteration
        ym, yt = mine(md.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-10)
    (ym ** 2).sum().backward()
    (yt ** 2).sum().backward()
    np.testing.assert_allclose(mine.weight_orig.grad.numpy(), theirs.weight_orig.grad.numpy(), rtol=1e-8)
    np.testing.assert_allclose(mine.weight_u.numpy(), theirs.weight_u.numpy(), rtol=1e-10)
    w = mine.weight.detach().numpy()
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False)[0], 1.0, rtol=1e-2)   # 6 iterations so far
    mine.eval()
    theirs.eval()
    u = mine.weight_u.numpy().copy()
    np.testing.assert_allclose(mine(md.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10)
    np.testing.assert_array_equal(mine.weight_u.numpy(), u)      # no iteration in evaluation


def test_reparameterizing_twice_or_a_missing_weight_is_refused():
    m = md.nn.utils.weight_norm(md.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="already has weight_norm"):
        md.nn.utils.weight_norm(m)
    with pytest.raises(ValueError, match="has no parameter 'kernel'"):
        md.nn.utils.spectral_norm(md.nn.Linear(2, 2), name="kernel")
    with pytest.raises(ValueError, match="remove_spectral_norm: spectral_norm of 'weight' not found"):
        md.nn.utils.remove_spectral_norm(m)
