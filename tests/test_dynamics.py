import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from conftest import ATOL
import ntklib as nk


@pytest.fixture
def problem():
    x, xt = nk.data.circle(7), nk.data.sphere(3, 2, seed=5)
    k, kx = nk.ntk(x, depth=2, bias_std=0.1), nk.ntk(xt, x, depth=2, bias_std=0.1)
    y = torch.stack([x[:, 0] * x[:, 1], x[:, 0]], dim=1)
    return k, kx, y, 0.3 * torch.randn(7, 2), 0.3 * torch.randn(3, 2)


def test_closed_form_matches_expm(problem):
    k, kx, y, f0, f0x = problem
    eta, t = 0.7, 3.1
    pred = nk.mse_predictor(k, y, learning_rate=eta, k_test_train=kx, f0_train=f0, f0_test=f0x)(t)
    e = torch.tensor(expm(-(eta * t / 7) * k.numpy()))
    assert (pred.train - (y + e @ (f0 - y))).abs().max() < ATOL
    expected = f0x - kx @ torch.linalg.solve(k, (torch.eye(7) - e) @ (f0 - y))
    assert (pred.test - expected).abs().max() < ATOL


def test_closed_form_matches_integrating_the_ode(problem):
    k, kx, y, f0, f0x = problem
    eta, n = 1.3, 7

    def rhs(_, state):  # d/dt (f_train, f_test) = -(eta/N) Theta(., X) (f_train - Y)
        ftr = state[: n * 2].reshape(n, 2)
        g = (eta / n) * (ftr - y.numpy())
        return np.concatenate([-(k.numpy() @ g).ravel(), -(kx.numpy() @ g).ravel()])

    sol = solve_ivp(rhs, (0, 5.0), np.concatenate([f0.numpy().ravel(), f0x.numpy().ravel()]),
                    method="DOP853", rtol=1e-13, atol=1e-14)
    pred = nk.mse_predictor(k, y, learning_rate=eta, k_test_train=kx, f0_train=f0, f0_test=f0x)(5.0)
    assert np.abs(sol.y[: n * 2, -1] - pred.train.numpy().ravel()).max() < ATOL
    assert np.abs(sol.y[n * 2 :, -1] - pred.test.numpy().ravel()).max() < ATOL


def test_infinite_time_is_kernel_regression_and_time_arrays(problem):
    k, kx, y, f0, f0x = problem
    predict = nk.mse_predictor(k, y, k_test_train=kx, f0_train=f0, f0_test=f0x)
    inf = predict(math.inf)
    assert (inf.train - y).abs().max() < 1e-9
    assert (inf.test - (f0x + kx @ torch.linalg.solve(k, y - f0))).abs().max() < 1e-9
    many = predict(torch.tensor([0.0, 2.0, math.inf]))
    assert many.train.shape == (3, 7, 2) and torch.allclose(many.train[0], f0) and torch.allclose(many.test[1], predict(2.0).test)


def test_singular_kernel_finite_time_and_error_at_infinity():
    x = nk.data.circle(4)  # antipodal pairs
    k = nk.ntk(x, depth=0)  # rank 2
    predict = nk.mse_predictor(k, torch.ones(4), k_test_train=k[:1])
    assert torch.isfinite(predict(10.0).test).all()
    with pytest.raises(ValueError, match="singular"):
        predict(math.inf)


def test_gd_matrix_power_equals_gd_and_divergence(problem):
    k, _, y, f0, _ = problem
    eta = 0.9 * nk.max_learning_rate(k)
    f = f0.clone()
    for _ in range(40):
        f = f - (eta / 7) * k @ (f - y)
    assert (nk.gd_matrix_power(k, y, learning_rate=eta, steps=40, f0_train=f0) - f).abs().max() < ATOL
    far = nk.gd_matrix_power(k, y, learning_rate=1.1 * nk.max_learning_rate(k), steps=200, f0_train=f0)
    assert (far - y).abs().max() > 1e3


def test_max_learning_rate():
    assert nk.max_learning_rate(torch.diag(torch.tensor([1.0, 4.0]))) == pytest.approx(1.0)


def test_wide_trained_network_matches_closed_form():
    torch.manual_seed(0)
    x = nk.data.circle(5)
    y = (x[:, 0] * x[:, 1] + 0.5 * x[:, 0])[:, None]
    net = nk.MLP(2, 2048, 1, bias_std=0.1)
    k, f0 = nk.empirical_ntk(net, x), net(x).detach()
    eta, steps = 0.2, 100
    nk.train_mse(net, x, y, learning_rate=eta, steps=steps, record_every=steps)
    trained = net(x).detach()
    # discrete GD on the linearized model (exact) and gradient flow at t = steps (step size 1 in time)
    assert (trained - nk.gd_matrix_power(k, y, learning_rate=eta, steps=steps, f0_train=f0)).abs().max() < 5e-3
    flow = nk.mse_predictor(k, y, learning_rate=eta, f0_train=f0)(float(steps)).train
    assert (trained - flow).abs().max() < 0.02


@pytest.mark.parametrize("call, match", [
    (lambda: nk.mse_predictor(torch.ones(2, 3), torch.ones(2)), "k_train_train"),
    (lambda: nk.mse_predictor(torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.ones(2)), "symmetric"),
    (lambda: nk.mse_predictor(torch.tensor([[1.0, 2.0], [2.0, 1.0]]), torch.ones(2)), "positive semi-definite"),
    (lambda: nk.mse_predictor(torch.eye(2), torch.ones(3)), "y_train"),
    (lambda: nk.mse_predictor(torch.eye(2), torch.ones(2), learning_rate=0.0), "learning_rate"),
    (lambda: nk.mse_predictor(torch.eye(2), torch.ones(2))(-1.0), "t must be"),
    (lambda: nk.mse_predictor(torch.eye(2), torch.ones(2), k_test_train=torch.ones(3, 4)), "k_test_train"),
    (lambda: nk.mse_predictor(torch.eye(2), torch.ones(2), f0_train=torch.ones(3)), "f0_train"),
    (lambda: nk.mse_predictor(torch.tensor([[float("nan")]]), torch.ones(1)), "k_train_train"),
    (lambda: nk.gd_matrix_power(torch.eye(2), torch.ones(2), learning_rate=1.0, steps=-1), "steps"),
    (lambda: nk.max_learning_rate(torch.zeros(2, 2)), "k_train_train"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- issue 11: sequences of times, float32 kernels, singular kernels at huge t ---------------

import math as _math

import numpy as np

import ntklib as nk


def test_sequences_of_times_give_one_output_per_time():
    predict = nk.mse_predictor(torch.eye(3) + 0.1, torch.ones(3), k_test_train=torch.ones(2, 3))
    ref = predict(torch.tensor([0.0, 1.0, _math.inf]))
    for times in ([0.0, 1.0, _math.inf], (0.0, 1.0, _math.inf), np.array([0.0, 1.0, _math.inf])):
        out = predict(times)
        assert out.train.shape == (3, 3) and torch.equal(out.train, ref.train) and torch.equal(out.test, ref.test)
    assert predict(range(4)).train.shape == (4, 3)
    assert predict(np.float64(1.0)).train.shape == (3,) and predict(torch.tensor(1.0)).train.shape == (3,)
    with pytest.raises(ValueError, match="1-D"):
        predict([[0.0, 1.0]])
    with pytest.raises(ValueError, match="at least one"):
        predict([])


def test_ntk_gp_posterior_sequences_of_times():
    k = torch.tensor([[1.0, 0.3], [0.3, 1.0]])
    args = (k, k + 0.2 * torch.eye(2), torch.tensor([1.0, -1.0]), k[:1], k[:1] + 0.1, torch.ones(1, 1))
    many = nk.ntk_gp_posterior(*args, t=[0.5, 3.0, _math.inf])
    assert many.mean.shape == (3, 1) and many.covariance.shape == (3, 1, 1)
    for i, time in enumerate([0.5, 3.0, _math.inf]):
        one = nk.ntk_gp_posterior(*args, t=time)
        assert torch.allclose(many.mean[i], one.mean) and torch.allclose(many.covariance[i], one.covariance)


def test_float32_ntvp_kernel_is_accepted():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        torch.manual_seed(0)
        net = nk.MLP(2, 64, 2, bias_std=0.1)
        x = torch.randn(40, 2)
        theta = nk.empirical_ntk(net, x, method="ntvp")
        assert torch.equal(theta, theta.T)  # symmetrised
        nk.mse_predictor(theta, torch.zeros(40))
        nk.mse_predictor(theta + 3e-7 * theta.abs().max() * torch.triu(torch.ones(40, 40), 1), torch.zeros(40))
    finally:
        torch.set_default_dtype(old)
    with pytest.raises(ValueError, match="symmetric"):  # float64 keeps its tight tolerance
        nk.mse_predictor(torch.eye(3) + 1e-6 * torch.triu(torch.ones(3, 3), 1), torch.zeros(3))


def test_singular_kernel_stays_put_at_huge_finite_t():
    x = nk.data.circle(16)  # bias-free ReLU NTK of 16 equispaced points: exactly singular
    theta = nk.ntk(x, depth=1)
    y = x[:, :1] * x[:, 1:]
    predict = nk.mse_predictor(theta, y, k_test_train=theta[:3])
    limit = theta @ torch.linalg.pinv(theta, hermitian=True) @ y  # projection onto the range
    for time in (1e3, 1e12, 1e16, 1e20):
        assert (predict(time).train - limit).abs().max().item() < 1e-8, time
