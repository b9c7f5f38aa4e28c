import pytest
import torch

from conftest import ATOL
import ntklib as nk


def test_equal_at_theta0_and_first_order_in_delta():
    net = nk.MLP(3, 64, 2, activation="erf", bias_std=0.2)
    lin, x = nk.linearize(net), torch.randn(5, 3)
    assert torch.allclose(lin(x), net(x), atol=ATOL)
    with torch.no_grad():
        for p in lin.params:
            p.add_(1e-3 * torch.randn_like(p))
    delta = torch.cat([(p - q).reshape(-1) for p, q in zip(lin.params, net.parameters())])
    expected = net(x).reshape(-1) + nk.jacobian(net, x) @ delta
    assert (lin(x).reshape(-1) - expected).abs().max() < ATOL


def test_gd_on_linearized_model_equals_matrix_power():
    net = nk.MLP(2, 128, 2, bias_std=0.1)
    x, lin = nk.data.circle(7), nk.linearize(net)
    y = (x[:, 0] * x[:, 1])[:, None]
    k, f0 = nk.empirical_ntk(net, x), net(x).detach()
    nk.train_mse(lin, x, y, learning_rate=0.5, steps=30, record_every=30)
    assert (lin(x).detach() - nk.gd_matrix_power(k, y, learning_rate=0.5, steps=30, f0_train=f0)).abs().max() < ATOL


def test_linearized_ntk_is_constant_and_copy_is_independent():
    net = nk.MLP(2, 32, 1)
    lin, x = nk.linearize(net), torch.randn(4, 2)
    k0 = nk.empirical_ntk(lin, x)
    with torch.no_grad():
        for p in lin.params:
            p.mul_(1.5)
        for p in net.parameters():
            p.zero_()
    assert (nk.empirical_ntk(lin, x) - k0).abs().max() < ATOL


def test_errors():
    with pytest.raises(TypeError, match="model"):
        nk.linearize(lambda x: x)
