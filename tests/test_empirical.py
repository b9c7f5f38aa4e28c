import pytest
import torch

from conftest import ATOL
import ntklib as nk
from ntklib.notebook import loglog_slope


@pytest.mark.parametrize("activation", ["relu", "erf", torch.tanh])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("outputs", [1, 3])
def test_three_methods_agree(activation, parameterization, outputs):
    net = nk.MLP(4, 48, 3, out_features=outputs, activation=activation, weight_std=1.4, bias_std=0.3,
                 parameterization=parameterization)
    x1, x2 = torch.randn(7, 4), torch.randn(5, 4)
    ref = nk.empirical_ntk(net, x1, x2, method="jacobian", block_size=3)
    for method in ("ntvp", "layerwise"):
        assert (nk.empirical_ntk(net, x1, x2, method=method, block_size=2) - ref).abs().max() < ATOL
    jj = nk.jacobian(net, x1) @ nk.jacobian(net, x2).T  # (N1*O, N2*O)
    full = ref if outputs > 1 else ref[:, :, None, None]
    assert (jj.reshape(7, outputs, 5, outputs).permute(0, 2, 1, 3) - full).abs().max() < ATOL


def test_trace_and_generic_module():
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    x = torch.randn(4, 3)
    full = nk.empirical_ntk(net, x, method="ntvp")
    assert full.shape == (4, 4, 2, 2)
    assert torch.allclose(nk.empirical_ntk(net, x, trace=True), full.diagonal(dim1=2, dim2=3).sum(-1), atol=ATOL)
    assert torch.allclose(nk.empirical_ntk(net, x), full, atol=ATOL)  # auto -> jacobian
    assert nk.jacobian(net, x).shape == (8, sum(p.numel() for p in net.parameters()))


def test_converges_to_analytic_ntk_like_width_to_the_minus_half():
    x = nk.data.sphere(6, 5, seed=1)
    exact = nk.ntk(x, depth=2, bias_std=0.2)
    widths, errors = [64, 256, 1024, 4096], []
    for n in widths:
        errs = []
        for seed in range(6):
            torch.manual_seed(seed)
            theta = nk.empirical_ntk(nk.MLP(5, n, 2, bias_std=0.2), x)
            errs.append(((theta - exact).norm() / exact.norm()).item())
        errors.append(sum(errs) / len(errs))
    assert abs(loglog_slope(widths, errors) + 0.5) < 0.15


def test_float32():
    net = nk.MLP(4, 32, 2).float()
    x = torch.randn(5, 4, dtype=torch.float32)
    a, b = nk.empirical_ntk(net, x, method="layerwise"), nk.empirical_ntk(net, x, method="jacobian")
    assert a.dtype == torch.float32 and torch.allclose(a, b, rtol=1e-5, atol=1e-5)


def test_errors():
    net = nk.MLP(3, 8, 1)
    with pytest.raises(TypeError, match="model"):
        nk.empirical_ntk(lambda x: x, torch.ones(2, 3))
    with pytest.raises(TypeError, match="x1"):
        nk.empirical_ntk(net, [[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="method"):
        nk.empirical_ntk(net, torch.ones(2, 3), method="fast")
    with pytest.raises(ValueError, match="layerwise"):
        nk.empirical_ntk(torch.nn.Linear(3, 1), torch.ones(2, 3), method="layerwise")
    with pytest.raises(ValueError, match="x2"):
        nk.empirical_ntk(net, torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="x1"):
        nk.empirical_ntk(net, torch.tensor([[float("nan"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match="block_size"):
        nk.empirical_ntk(net, torch.ones(2, 3), block_size=0)


def test_jacobian_method_costs_n_o_forward_passes():
    # regression: jacrev of the whole batch cost N^2 O [FP]; per-sample Jacobians cost N O [FP] (Novak et al. 2022)
    from torch.utils.flop_counter import FlopCounterMode

    n, o = 16, 1
    model = nk.MLP(8, 64, 2, out_features=o)
    x = torch.randn(n, 8)
    forward = 2 * sum(layer.weight.numel() for layer in model.layers)  # flops of one forward pass on one input
    p = sum(q.numel() for q in model.parameters())
    with FlopCounterMode(display=False) as counter:
        theta = nk.empirical_ntk(model, x, method="jacobian")
    assert counter.get_total_flops() <= 4 * n * o * forward + 2 * n**2 * o**2 * p
    j = nk.jacobian(model, x)
    torch.testing.assert_close(theta, j @ j.T, rtol=0, atol=ATOL)


# --- issue 11: trainable parameters only; clear errors ---------------------------------------

import numpy as np

import ntklib as nk


def test_frozen_parameters_leave_the_kernel():
    torch.manual_seed(1)
    m = nk.MLP(4, 16, 2, bias_std=0.3)
    x = torch.randn(6, 4)
    full = nk.empirical_ntk(m, x)
    m.layers[0].requires_grad_(False)
    j = nk.jacobian(m, x)
    assert j.shape[1] == sum(p.numel() for p in m.parameters() if p.requires_grad)
    for method in ("layerwise", "jacobian", "ntvp"):
        frozen = nk.empirical_ntk(m, x, method=method)
        assert torch.allclose(frozen, j @ j.T, atol=1e-10) and not torch.allclose(frozen, full)
    lin = nk.linearize(m)
    assert sum(p.numel() for p in lin.parameters()) == j.shape[1]
    assert torch.allclose(nk.empirical_ntk(lin, x), j @ j.T, atol=1e-10)
    m.requires_grad_(False)
    for call in (lambda: nk.empirical_ntk(m, x), lambda: nk.jacobian(m, x), lambda: nk.linearize(m)):
        with pytest.raises(ValueError, match="no trainable parameters"):
            call()


def test_clear_errors_instead_of_torch_internals():
    torch.manual_seed(2)
    m, x = nk.MLP(4, 8, 1), torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"x1 must have shape \(N, 4\)"):
        nk.empirical_ntk(m, torch.randn(3, 5))
    with pytest.raises(ValueError, match="x2 must have the same feature shape"):
        nk.empirical_ntk(m, x, torch.randn(2, 3))
    with pytest.raises(ValueError, match="x1 has dtype torch.float32"):
        nk.empirical_ntk(m, x.float())
    bn = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    with pytest.raises(ValueError, match="BatchNorm1d in training mode"):
        nk.empirical_ntk(bn, x)
    assert nk.empirical_ntk(bn.eval(), x).shape == (3, 3)
    drop = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.1), torch.nn.Linear(8, 1))
    with pytest.raises(ValueError, match="Dropout in training mode"):
        nk.empirical_ntk(drop, x)
    with pytest.raises(ValueError, match="no parameters"):
        nk.empirical_ntk(torch.nn.ReLU(), x)
    with pytest.raises(TypeError, match="x1 must be real"):
        nk.empirical_ntk(m, x.to(torch.complex128))
    assert torch.allclose(nk.empirical_ntk(m, x.numpy()), nk.empirical_ntk(m, x))
