import math

import pytest
import torch

import ntklib as nk


def test_ntk_and_standard_parameterizations_compute_the_same_function():
    torch.manual_seed(3)
    a = nk.MLP(4, 32, 2, weight_std=1.5, bias_std=0.2, parameterization="ntk")
    torch.manual_seed(3)
    b = nk.MLP(4, 32, 2, weight_std=1.5, bias_std=0.2, parameterization="standard")
    x = torch.randn(6, 4)
    assert torch.allclose(a(x), b(x), atol=1e-12)


def test_dense_formula():
    layer = nk.Dense(3, 2, weight_std=2.0, bias_std=0.5)
    h = torch.randn(4, 3)
    expected = (2.0 / math.sqrt(3)) * h @ layer.weight.T + 0.5 * layer.bias
    assert torch.allclose(layer(h), expected, atol=1e-14)


def test_shapes_depth_zero_and_preactivations():
    net = nk.MLP(5, 16, 3, out_features=2, activation="erf")
    x = torch.randn(7, 5)
    assert net(x).shape == (7, 2) and len(net.layers) == 4
    z = net.preactivations(x)
    assert len(z) == 3 and all(t.shape == (7, 16) for t in z)
    linear = nk.MLP(5, 16, 0)
    assert len(linear.layers) == 1 and linear(x).shape == (7, 1)


def test_init_is_standard_normal_in_ntk_parameterization():
    net = nk.MLP(100, 1000, 2)  # layers[1] is the 1000 x 1000 hidden layer
    w = net.layers[1].weight.detach()
    assert abs(w.mean().item()) < 0.01 and abs(w.std().item() - 1) < 0.01


def test_callable_activation():
    net = nk.MLP(2, 8, 1, activation=torch.tanh)
    x = torch.randn(3, 2)
    assert torch.allclose(net.preactivations(x)[0].tanh() @ net.layers[1].weight.T * net.layers[1].weight_scale
                          + net.layers[1].bias * net.layers[1].bias_scale, net(x))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"in_features": 2, "width": 0, "depth": 1}, ValueError, "width"),
    ({"in_features": 2, "width": 4, "depth": -1}, ValueError, "depth"),
    ({"in_features": 0, "width": 4, "depth": 1}, ValueError, "in_features"),
    ({"in_features": 2, "width": 4, "depth": 1, "weight_std": -1.0}, ValueError, "weight_std"),
    ({"in_features": 2, "width": 4, "depth": 1, "bias_std": float("nan")}, ValueError, "bias_std"),
    ({"in_features": 2, "width": 4, "depth": 1, "activation": "gelu"}, ValueError, "activation"),
    ({"in_features": 2, "width": 4, "depth": 1, "parameterization": "mup"}, ValueError, "parameterization"),
    ({"in_features": 2, "width": 4.0, "depth": 1}, TypeError, "width"),
])
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        nk.MLP(**kwargs)


def test_forward_input_errors():
    net = nk.MLP(3, 4, 1)
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.ones(2, 4))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        net([[1.0, 2.0, 3.0]])


def test_dtype_mismatch_is_a_clear_error():
    import ntklib as nk

    net = nk.MLP(3, 8, 1)
    with pytest.raises(ValueError, match="x has dtype torch.float32"):
        net(torch.ones(2, 3, dtype=torch.float32))
