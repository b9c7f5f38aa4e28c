import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import torch

from conftest import ATOL
import ntklib as nk
from ntklib import spectral


def test_circle_eigenvalues_of_exp_are_bessel_functions():
    # e^{cos g} = I_0(1) + 2 sum_k I_k(1) cos(k g): mu_k = I_k(1)
    mu = spectral.sphere_eigenvalues(torch.exp, list(range(10)), d=2)
    assert np.abs(mu.numpy() - scipy.special.iv(np.arange(10), 1.0)).max() < ATOL


def test_sphere_eigenvalues_of_exp_are_spherical_bessel_functions():
    # (1/2) int e^t P_k(t) dt = i_k(1), the modified spherical Bessel function
    mu = spectral.sphere_eigenvalues(torch.exp, list(range(10)), d=3)
    assert np.abs(mu.numpy() - scipy.special.spherical_in(np.arange(10), 1.0)).max() < ATOL


@pytest.mark.parametrize("d", [2, 3, 5])
def test_mercer_trace_identity(d):
    # kappa(1) = sum_k N(d, k) mu_k (the addition theorem at x = x')
    mu = spectral.sphere_eigenvalues(torch.exp, list(range(40)), d=d)
    total = sum(spectral.harmonic_multiplicity(k, d) * m for k, m in enumerate(mu.tolist()))
    assert abs(total - math.e) < 1e-10


def test_relu_ntk_circle_eigenvalues_against_scipy_quad_and_odd_harmonics():
    # one hidden ReLU layer, no bias, d = 2: Theta(g) = (sin g + 2 (pi - g) cos g) / (4 pi)
    theta = lambda g: (math.sin(g) + 2 * (math.pi - g) * math.cos(g)) / (4 * math.pi)
    ks = list(range(8))
    expected = [scipy.integrate.quad(lambda g: theta(g) * math.cos(k * g), 0, math.pi,
                                     epsabs=1e-13)[0] / math.pi for k in ks]
    mu = spectral.sphere_eigenvalues(lambda t: spectral.ntk_profile(t, d=2, depth=1), ks, d=2)
    assert np.abs(mu.numpy() - np.array(expected)).max() < 1e-12
    assert mu[3].abs() < 1e-14 and mu[5].abs() < 1e-14 and mu[7].abs() < 1e-14
    with_bias = lambda t: spectral.ntk_profile(t, d=2, depth=1, bias_std=0.5)
    assert spectral.sphere_eigenvalues(with_bias, [3], d=2)[0] > 1e-3


def test_gram_eigenvalues_on_the_circle_are_n_times_aliased_mu():
    n = 9
    mu = spectral.sphere_eigenvalues(torch.exp, list(range(60)), d=2).numpy()
    aliased = [n * sum(mu[abs(k + m * n)] for m in range(-6, 7) if abs(k + m * n) < 60)
               for k in range(n)]
    x = nk.data.circle(n)
    gram = torch.exp(x @ x.T)
    assert np.abs(np.sort(aliased) - torch.linalg.eigvalsh(gram).numpy()).max() < 1e-10


def test_ntk_profile_matches_ntk_on_points():
    t = torch.tensor([-1.0, -0.3, 0.2, 0.9, 1.0])
    x = nk.data.sphere(1, 3, seed=1)
    # a unit vector orthogonal to x
    e = torch.tensor([[1.0, 0.0, 0.0]]) - (x[0, 0] * x)
    e = e / e.norm()
    others = t[:, None] * x + (1 - t[:, None] ** 2).clamp_min(0).sqrt() * e
    expected = nk.ntk(x, others, depth=2, bias_std=0.3)[0]
    assert (spectral.ntk_profile(t, d=3, depth=2, bias_std=0.3) - expected).abs().max() < ATOL


def test_harmonic_multiplicity():
    assert [spectral.harmonic_multiplicity(k, 2) for k in range(4)] == [1, 2, 2, 2]
    assert [spectral.harmonic_multiplicity(k, 3) for k in range(4)] == [1, 3, 5, 7]
    assert [spectral.harmonic_multiplicity(k, 4) for k in range(4)] == [1, 4, 9, 16]


def test_frequency_norms_parseval_and_pure_modes():
    n = 11
    g = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    v = torch.randn(n)
    assert abs(spectral.frequency_norms(v).square().sum() - v.square().sum()) < ATOL
    pure = spectral.frequency_norms(2 * torch.sin(3 * g + 0.4)[:, None])
    assert abs(pure[3] - 2 * math.sqrt(n / 2)) < ATOL and pure[torch.arange(6) != 3].abs().max() < ATOL


def test_gd_trajectory_phases_of_the_linear_network():
    x, y = torch.linspace(-1, 1, 6)[:, None], torch.zeros(6, 1)
    runs = {}
    for r in (1.0, 3.0, 5.0):
        torch.manual_seed(0)
        net = nk.MLP(1, 512, depth=1, activation="identity")
        eta = r * 6 / torch.linalg.eigvalsh(nk.empirical_ntk(net, x))[-1].item()
        runs[r] = eta, spectral.gd_trajectory(net, x, y, learning_rate=eta, steps=200)
    eta, lazy = runs[1.0]
    assert not lazy.diverged and abs(lazy.lambda_max[-1] / lazy.lambda_max[0] - 1) < 0.02
    eta, cat = runs[3.0]
    assert not cat.diverged and cat.loss.max() > 10 * cat.loss[0] and cat.loss[-1] < 1e-8
    assert eta * cat.lambda_max[-1] / 6 < 2
    assert runs[5.0][1].diverged and math.isnan(runs[5.0][1].lambda_max[-1])


def test_gd_trajectory_matches_train_mse_and_records_outputs():
    x, y = nk.data.circle(5), torch.randn(5, 1)
    torch.manual_seed(3)
    a = nk.MLP(2, 32, depth=1)
    b = nk.MLP(2, 32, depth=1)
    b.load_state_dict(a.state_dict())
    run = spectral.gd_trajectory(a, x, y, learning_rate=0.7, steps=7, ntk_every=3)
    hist = nk.train_mse(b, x, y, learning_rate=0.7, steps=7)
    assert (run.loss - hist.loss).abs().max() < ATOL
    with torch.no_grad():
        assert (run.outputs[-1] - b(x)[:, 0]).abs().max() < ATOL
    recorded = run.lambda_max.isfinite().tolist()
    assert recorded == [True, False, False, True, False, False, True, False]


def test_errors_name_the_argument():
    x, y = torch.ones(3, 1), torch.zeros(3, 1)
    net = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="learning_rate"):
        spectral.gd_trajectory(net, x, y, learning_rate=0.0, steps=1)
    with pytest.raises(ValueError, match="steps"):
        spectral.gd_trajectory(net, x, y, learning_rate=0.1, steps=-1)
    with pytest.raises(ValueError, match="ntk_every"):
        spectral.gd_trajectory(net, x, y, learning_rate=0.1, steps=1, ntk_every=-2)
    with pytest.raises(ValueError, match="blowup"):
        spectral.gd_trajectory(net, x, y, learning_rate=0.1, steps=1, blowup=1.0)
    with pytest.raises(ValueError, match="rows"):
        spectral.gd_trajectory(net, x, torch.zeros(2, 1), learning_rate=0.1, steps=1)
    with pytest.raises(TypeError, match="x and y"):
        spectral.gd_trajectory(net, [[1.0]], y, learning_rate=0.1, steps=1)
    with pytest.raises(TypeError, match="kernel"):
        spectral.sphere_eigenvalues(3.0, [0], d=2)
    with pytest.raises(TypeError, match="degrees"):
        spectral.sphere_eigenvalues(torch.exp, [0.5], d=2)
    with pytest.raises(ValueError, match="degrees"):
        spectral.sphere_eigenvalues(torch.exp, [-1], d=2)
    with pytest.raises(ValueError, match="d must"):
        spectral.sphere_eigenvalues(torch.exp, [0], d=1)
    with pytest.raises(ValueError, match="nodes"):
        spectral.sphere_eigenvalues(torch.exp, [0], d=2, nodes=1)
    with pytest.raises(ValueError, match="kernel must return"):
        spectral.sphere_eigenvalues(lambda t: t[:3], [0], d=2)
    with pytest.raises(ValueError, match="t must"):
        spectral.ntk_profile([1.5], d=2, depth=1)
    with pytest.raises(ValueError, match="values"):
        spectral.frequency_norms(torch.ones(3, 2))
    with pytest.raises(ValueError, match="k must"):
        spectral.harmonic_multiplicity(-1, 3)


def test_gd_trajectory_records_the_top_eigenvalue_of_a_multi_output_ntk():
    torch.manual_seed(0)
    net, x = nk.MLP(2, 8, 1, out_features=2), torch.randn(4, 2)
    theta = nk.empirical_ntk(net, x)  # (4, 4, 2, 2): the (8, 8) NTK of all outputs
    top = torch.linalg.eigvalsh(theta.permute(0, 2, 1, 3).reshape(8, 8))[-1]
    run = spectral.gd_trajectory(net, x, torch.randn(4, 2), learning_rate=0.01, steps=1)  # was a RuntimeError
    assert abs(run.lambda_max[0].item() - top.item()) < 1e-10 * top.item()
