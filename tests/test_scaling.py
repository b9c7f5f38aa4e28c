"""Tests of ntklib.scaling: the three parameterizations, feature change, learning-rate sweeps."""
import copy
import math

import pytest
import torch

import ntklib as nk
from ntklib.scaling import ScaledMLP, feature_change, final_losses

from conftest import ATOL


def test_ntk_parameterization_is_ntklib_mlp():
    mlp = nk.MLP(3, 12, 2, parameterization="ntk")  # bias_std = 0: the biases do not enter
    net = ScaledMLP(3, 12, depth=2, parameterization="ntk")
    with torch.no_grad():
        for w, layer in zip(net.weights, mlp.layers):
            w.copy_(layer.weight)
    x = torch.randn(7, 3)
    assert torch.allclose(net(x), mlp(x), atol=ATOL, rtol=0)


def test_empirical_ntk_sees_every_layer():
    """torch.func swaps the parameters: the NTK must equal the one of the same nk.MLP."""
    mlp = nk.MLP(3, 12, 2, parameterization="ntk")
    net = ScaledMLP(3, 12, depth=2, parameterization="ntk")
    with torch.no_grad():
        for w, layer in zip(net.weights, mlp.layers):
            w.copy_(layer.weight)
    x = torch.randn(5, 3)
    expected = nk.empirical_ntk(mlp, x)  # the biases have scale 0: no contribution
    assert torch.allclose(nk.empirical_ntk(net, x), expected, atol=ATOL, rtol=0)


def test_standard_and_ntk_compute_the_same_function_at_initialization():
    x = torch.randn(5, 4)
    outs = []
    for p in ("standard", "ntk"):
        torch.manual_seed(3)
        outs.append(ScaledMLP(4, 32, depth=3, parameterization=p)(x))
    assert torch.allclose(outs[0], outs[1], atol=ATOL, rtol=0)


def test_mup_with_one_hidden_layer_is_the_mean_field_network():
    n, d = 50, 3
    net = ScaledMLP(d, n, depth=1, parameterization="mup")
    w, a = net.weights[0].detach(), net.weights[1].detach()[0]
    x = torch.randn(6, d)
    by_hand = (torch.relu(x @ w.T / math.sqrt(d)) * a).sum(1, keepdim=True) / n
    assert torch.allclose(net(x), by_hand, atol=ATOL, rtol=0)
    assert net.learning_rate_scale == n and ScaledMLP(d, n, parameterization="ntk").learning_rate_scale == 1


def test_initial_weight_scales():
    torch.manual_seed(0)
    sp_net = ScaledMLP(16, 400, depth=2, parameterization="standard")
    mup = ScaledMLP(16, 400, depth=2, parameterization="mup")
    assert abs(sp_net.weights[1].std().item() - 400 ** -0.5) < 0.01 * 400 ** -0.5
    assert abs(sp_net.weights[0].std().item() - 0.25) < 0.02
    assert abs(mup.weights[1].std().item() - 1) < 0.01 and mup.multipliers[-1] == 1 / 400


def test_one_mup_step_moves_the_first_features_as_derived():
    """Linear three-layer net, one input x: ||dh1|| / ||h1|| = eta |r| x ||W^T v|| / (sqrt(n) ||w||)."""
    n, x0, y0, eta = 64, 1.5, 1.0, 0.3
    net = ScaledMLP(1, n, depth=2, parameterization="mup", activation=lambda z: z)
    w, W, v = (p.detach().clone() for p in net.weights)
    x, y = torch.tensor([[x0]]), torch.tensor([[y0]])
    r = (net(x) - y).item()
    net0 = copy.deepcopy(net)
    nk.train_mse(net, x, y, learning_rate=eta * net.learning_rate_scale, steps=1)
    predicted = eta * abs(r) * x0 * (W.T @ v[0]).norm() / w.norm() / math.sqrt(n)
    assert abs(feature_change(net, net0, x)[0].item() - predicted.item()) < 1e-12


@pytest.mark.parametrize("depth", [1, 2])
def test_centred_networks_start_at_zero(depth):
    net = ScaledMLP(3, 10, depth=depth, parameterization="ntk", centred=True)
    assert net(torch.randn(6, 3)).abs().max().item() < 1e-14  # zero up to round-off
    with pytest.raises(ValueError, match="width"):
        ScaledMLP(3, 9, depth=depth, centred=True)


def test_feature_change_zero_then_positive():
    net = ScaledMLP(2, 16, depth=2)
    x = torch.randn(8, 2)
    assert torch.equal(feature_change(net, net, x), torch.zeros(2))
    net0 = copy.deepcopy(net)
    nk.train_mse(net, x, x[:, :1], learning_rate=0.5 * net.learning_rate_scale, steps=2)
    assert bool((feature_change(net, net0, x) > 0).all())
    with pytest.raises(ValueError, match="reference"):
        feature_change(net, ScaledMLP(2, 8, depth=2), x)


def test_final_losses_finite_and_diverged():
    x = torch.randn(10, 3)
    y = x[:, :1]
    ok = final_losses("mup", 16, x, y, learning_rate=0.1, steps=5, seeds=[0, 1, 2])
    assert ok.shape == (3,) and bool(torch.isfinite(ok).all())
    bad = final_losses("standard", 64, x, y, learning_rate=1e3, steps=20, seeds=[0])
    assert bad.item() == math.inf


@pytest.mark.parametrize("kwargs, match", [
    (dict(parameterization="muP"), "parameterization"),
    (dict(width=0), "width"),
    (dict(depth=0), "depth"),
    (dict(in_features=0), "in_features"),
    (dict(activation="relu"), "activation"),
])
def test_bad_arguments(kwargs, match):
    args = dict(in_features=2, width=8, depth=2)
    args.update(kwargs)
    error = TypeError if match == "activation" else ValueError
    with pytest.raises(error, match=match):
        ScaledMLP(args.pop("in_features"), args.pop("width"), args.pop("depth"), **args)


def test_bad_inputs():
    net = ScaledMLP(2, 8)
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.ones(3, 5))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        net.features([[1.0, 2.0]])
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="learning_rate"):
        final_losses("ntk", 8, x, x[:, :1], learning_rate=0.0, steps=1, seeds=[0])
    with pytest.raises(ValueError, match="seeds"):
        final_losses("ntk", 8, x, x[:, :1], learning_rate=0.1, steps=1, seeds=[])


def test_bad_inputs_are_errors_not_diverged_runs():
    x = torch.randn(8, 2)
    with pytest.raises(ValueError, match="rows"):  # was a loss of inf, as if training had diverged
        final_losses("ntk", 16, x, x[:7, :1], learning_rate=0.1, steps=3, seeds=[0])
    with pytest.raises(ValueError, match="y"):
        final_losses("ntk", 16, x, torch.full((8, 1), math.nan), learning_rate=0.1, steps=3, seeds=[0])
    net = ScaledMLP(2, 8)
    with pytest.raises(ValueError, match="non-zero"):  # a zero reference feature: was NaN
        feature_change(net, net, torch.zeros(3, 2))
