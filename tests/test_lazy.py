"""Tests for ntklib.lazy."""
import pytest
import torch
from torch.func import functional_call, hessian

import ntklib as nk
from conftest import ATOL

# torch.func.hessian's forward mode triggers torch 2.13's torch.jit.script deprecation notice
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:DeprecationWarning")


def _flat_hessian(model, x):
    """Full Hessian of the scalar output f(theta, x) (one input) over all parameters, and the gradient."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    names, shapes = list(params), [p.shape for p in params.values()]
    sizes = [p.numel() for p in params.values()]

    def f(theta):
        parts = dict(zip(names, (t.reshape(s) for t, s in zip(torch.split(theta, sizes), shapes))))
        return functional_call(model, parts, (x,)).reshape(())

    theta = torch.cat([p.reshape(-1) for p in params.values()])
    return hessian(f)(theta), torch.func.jacrev(f)(theta)


def test_laziness_ratio_two_layer_relu_symmetric_spectrum():
    # regression: a Rayleigh-quotient power iteration never converged here (the Hessian's eigenvalues come
    # in pairs +-c), underestimating ||D^2 f|| by orders of magnitude at width 64
    x, y = torch.tensor([[1.5]]), torch.tensor([[1.0]])
    for width in (4, 64):
        h = nk.Scaled(nk.MLP(1, width, 1), 2.0)
        hess, grad = _flat_hessian(h, x)
        expected = y.norm() * torch.linalg.eigvalsh(hess).abs().max() / (grad @ grad)
        assert abs(nk.laziness_ratio(h, x, y) - expected.item()) < ATOL


def test_laziness_ratio_tanh_matches_full_hessian():
    x, y = torch.tensor([[0.3, -1.2]]), torch.tensor([[0.5]])
    net = nk.MLP(2, 8, 2, activation=torch.tanh, bias_std=0.5)
    hess, grad = _flat_hessian(net, x)
    expected = (net(x) - y).norm() * torch.linalg.eigvalsh(hess).abs().max() / (grad @ grad)
    assert abs(nk.laziness_ratio(net, x, y, iterations=300) - expected.item()) < 1e-8


def test_laziness_ratio_scales_as_one_over_alpha():
    x, y = torch.randn(5, 3), torch.randn(5, 1)
    net = nk.MLP(3, 16, 1)
    k1, k10 = nk.laziness_ratio(nk.Scaled(net, 1.0), x, y), nk.laziness_ratio(nk.Scaled(net, 10.0), x, y)
    assert abs(k1 / k10 - 10.0) < 1e-8
