
import pytest
import torch

from conftest import ATOL
import ntklib as nk


@pytest.fixture
def kernels():
    x, xt = nk.data.circle(5), nk.data.sphere(3, 2, seed=2)
    kw = dict(depth=2, activation="erf", weight_std=1.5, bias_std=0.05)
    return (nk.kernels(x, **kw), nk.kernels(xt, x, **kw), nk.kernels(xt, **kw), torch.sin(3 * x[:, 0]))


def test_gp_posterior_is_conditioning(kernels):
    (k, kx, kxx, y), noise = kernels, 0.01
    post = nk.gp_posterior(k.nngp, y, kx.nngp, kxx.nngp, noise=noise)
    a = k.nngp + noise * torch.eye(5)
    assert (post.mean - kx.nngp @ torch.linalg.solve(a, y)).abs().max() < ATOL
    assert (post.covariance - (kxx.nngp - kx.nngp @ torch.linalg.solve(a, kx.nngp.T))).abs().max() < ATOL


def test_gp_interpolates_without_noise(kernels):
    k, _, _, y = kernels
    post = nk.gp_posterior(k.nngp, y, k.nngp, k.nngp)
    assert (post.mean - y).abs().max() < 1e-8 and post.covariance.abs().max() < 1e-8


def test_ntk_gp_limits(kernels):
    k, kx, kxx, y = kernels
    prior = nk.ntk_gp_posterior(k.nngp, k.ntk, y, kx.nngp, kx.ntk, kxx.nngp, t=0.0)
    assert prior.mean.abs().max() < ATOL and (prior.covariance - kxx.nngp).abs().max() < ATOL
    post = nk.ntk_gp_posterior(k.nngp, k.ntk, y, kx.nngp, kx.ntk, kxx.nngp)
    a = kx.ntk @ torch.linalg.inv(k.ntk)
    cov = kxx.nngp + a @ k.nngp @ a.T - a @ kx.nngp.T - kx.nngp @ a.T
    assert (post.mean - a @ y).abs().max() < 1e-9 and (post.covariance - cov).abs().max() < 1e-9
    late = nk.ntk_gp_posterior(k.nngp, k.ntk, y, kx.nngp, kx.ntk, kxx.nngp, learning_rate=2.0, t=1e6)
    assert (late.mean - post.mean).abs().max() < 1e-8


def test_ntk_gp_mean_matches_mse_predictor(kernels):
    k, kx, _, y = kernels
    post = nk.ntk_gp_posterior(k.nngp, k.ntk, y, kx.nngp, kx.ntk, torch.eye(3), learning_rate=0.5, t=7.0)
    pred = nk.mse_predictor(k.ntk, y, learning_rate=0.5, k_test_train=kx.ntk)(7.0)
    assert (post.mean - pred.test).abs().max() < ATOL


def test_errors(kernels):
    k, kx, kxx, y = kernels
    singular = torch.ones(5, 5)
    with pytest.raises(ValueError, match="noise"):
        nk.gp_posterior(singular, y, kx.nngp, kxx.nngp)
    with pytest.raises(ValueError, match="noise"):
        nk.gp_posterior(k.nngp, y, kx.nngp, kxx.nngp, noise=-1.0)
    with pytest.raises(ValueError, match="k_test_test"):
        nk.gp_posterior(k.nngp, y, kx.nngp, torch.eye(2))
    with pytest.raises(ValueError, match="k_test_train"):
        nk.gp_posterior(k.nngp, y, torch.ones(3, 4), kxx.nngp)
    with pytest.raises(ValueError, match="ntk_train_train"):
        nk.ntk_gp_posterior(k.nngp, -k.ntk, y, kx.nngp, kx.ntk, kxx.nngp)
    with pytest.raises(ValueError, match="t must"):
        nk.ntk_gp_posterior(k.nngp, k.ntk, y, kx.nngp, kx.ntk, kxx.nngp, t=-2.0)
