"""train_mse and the lazy-training helpers relative_change, Scaled, activation_flips."""
import pytest
import torch

import ntklib as nk


def test_train_mse_records_and_loss_convention():
    net = nk.MLP(2, 64, 1, bias_std=0.1)
    x = nk.data.circle(5)
    y = x[:, :1]
    loss0 = ((net(x) - y) ** 2).sum().item() / (2 * 5)
    h = nk.train_mse(net, x, y, learning_rate=0.5, steps=20, record_every=5, ntk_x=x)
    assert h.step.tolist() == [0, 5, 10, 15, 20]
    assert h.loss[0].item() == pytest.approx(loss0, rel=1e-12) and h.loss[-1] < h.loss[0]
    assert h.param_change[0] == 0 and h.param_change[-1] > 0 and h.ntk_change.shape == (5,)


def test_train_mse_partial_training_and_errors():
    net = nk.MLP(2, 16, 1)
    net.layers[0].weight.requires_grad_(False)
    w0 = net.layers[0].weight.clone()
    nk.train_mse(net, torch.randn(4, 2), torch.randn(4), learning_rate=0.1, steps=3)
    assert torch.equal(net.layers[0].weight, w0)
    with pytest.raises(ValueError, match="learning_rate"):
        nk.train_mse(net, torch.randn(4, 2), torch.randn(4), learning_rate=-1.0, steps=3)
    with pytest.raises(ValueError, match="y must have 4 rows"):
        nk.train_mse(net, torch.randn(4, 2), torch.randn(3), learning_rate=0.1, steps=3)
    with pytest.raises(ValueError, match="non-finite"):
        nk.train_mse(nk.MLP(2, 16, 1), torch.randn(4, 2), torch.randn(4), learning_rate=1e6, steps=50)


def test_relative_change():
    a = nk.MLP(2, 8, 1)
    b = nk.MLP(2, 8, 1)
    assert nk.relative_change(a, a) == 0.0 and nk.relative_change(b, a) > 0
    with pytest.raises(ValueError, match="old"):
        nk.relative_change(torch.ones(2), torch.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        nk.relative_change(torch.ones(2), torch.ones(3))
    with pytest.raises(TypeError, match="new and old"):
        nk.relative_change([1.0], torch.ones(1))


def test_scaled_is_zero_at_init_and_scales_the_ntk():
    net = nk.MLP(2, 32, 1)
    h, x = nk.Scaled(net, 4.0), torch.randn(5, 2)
    assert h(x).abs().max() == 0
    assert torch.allclose(nk.empirical_ntk(h, x), 16 * nk.empirical_ntk(net, x), atol=1e-10)
    with pytest.raises(ValueError, match="alpha"):
        nk.Scaled(net, 0.0)


def test_activation_flips():
    a = nk.MLP(2, 64, 2)
    x = torch.randn(10, 2)
    assert nk.activation_flips(a, a, x) == 0.0
    b = nk.MLP(2, 64, 2)
    assert 0.3 < nk.activation_flips(a, b, x) < 0.7  # independent nets: about half the signs differ
    with pytest.raises(TypeError, match="ntklib.MLP"):
        nk.activation_flips(a, torch.nn.Linear(2, 1), x)
