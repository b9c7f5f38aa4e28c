import math

import pytest
import torch
from scipy import integrate

from conftest import N_SE
from ntklib.activations import dphi, gaussian_expectations, phi

t = lambda v: torch.tensor(v, dtype=torch.float64)


def test_relu_hand_values():
    # theta = 0: E relu(u)^2 = s/2, P(u>0) = 1/2; theta = pi/2: 1/(2 pi) sqrt(ab), 1/4; theta = pi: 0, 0
    e, ed = gaussian_expectations("relu", t(2.0), t(2.0), t(2.0))
    assert (e.item(), ed.item()) == pytest.approx((1.0, 0.5), abs=1e-15)
    e, ed = gaussian_expectations("relu", t(1.0), t(0.0), t(4.0))
    assert (e.item(), ed.item()) == pytest.approx((2 / (2 * math.pi), 0.25), abs=1e-15)
    e, ed = gaussian_expectations("relu", t(1.0), t(-1.0), t(1.0))
    assert (e.item(), ed.item()) == pytest.approx((0.0, 0.0), abs=1e-15)


def test_erf_hand_values():
    e, ed = gaussian_expectations("erf", t(0.5), t(0.0), t(0.5))
    assert e.item() == 0.0 and ed.item() == pytest.approx(4 / math.pi / 2, abs=1e-15)
    e, _ = gaussian_expectations("erf", t(0.5), t(0.5), t(0.5))  # (2/pi) arcsin(1/2) = 1/3
    assert e.item() == pytest.approx(1 / 3, abs=1e-15)


def test_identity():
    e, ed = gaussian_expectations("identity", t(2.0), t(0.3), t(1.0))
    assert e.item() == 0.3 and ed.item() == 1.0


def test_quadrature_matches_closed_form_erf():
    s11, s12, s22 = t([0.3, 1.0, 2.5]), t([0.1, -0.8, 2.0]), t([0.4, 1.0, 1.7])  # up to rho = 0.97
    closed = gaussian_expectations("erf", s11, s12, s22)
    quad = gaussian_expectations(lambda z: torch.erf(z), s11, s12, s22)
    for a, b in zip(closed, quad):
        assert (a - b).abs().max() < 1e-12


def test_tanh_quadrature_against_scipy():
    a, b, c = 1.3, 0.7, 0.5
    density = lambda v, u: math.exp(-(b * u * u - 2 * c * u * v + a * v * v) / (2 * (a * b - c * c)))
    norm = 2 * math.pi * math.sqrt(a * b - c * c)
    ref, err = integrate.dblquad(lambda v, u: math.tanh(u) * math.tanh(v) * density(v, u) / norm,
                                 -12, 12, -12, 12, epsabs=1e-13, epsrel=1e-13)
    e, _ = gaussian_expectations(torch.tanh, t(a), t(c), t(b))
    assert abs(e.item() - ref) < 1e-8


@pytest.mark.parametrize("activation", ["relu", "erf", torch.tanh])
def test_monte_carlo(activation):
    gen = torch.Generator().manual_seed(1)
    a, b, c = 1.5, 0.8, 0.6
    chol = torch.linalg.cholesky(t([[a, c], [c, b]]))
    z = torch.randn(400_000, 2, generator=gen, dtype=torch.float64) @ chol.T
    f, df = phi(activation), dphi(activation)
    for sample, closed in zip((f(z[:, 0]) * f(z[:, 1]), df(z[:, 0]) * df(z[:, 1])),
                              gaussian_expectations(activation, t(a), t(c), t(b))):
        se = sample.std() / math.sqrt(len(sample))
        assert abs(sample.mean() - closed) < N_SE * se


def test_zero_variance_is_zero_not_nan():
    e, ed = gaussian_expectations("relu", t(0.0), t(0.0), t(1.0))
    assert e.item() == 0.0 and ed.item() == 0.0


def test_angle_clamped():
    e, ed = gaussian_expectations("relu", t(1.0), t(1.0 + 1e-12), t(1.0))  # |cos| > 1 by round-off
    assert torch.isfinite(e) and torch.isfinite(ed)


def test_errors():
    with pytest.raises(ValueError, match="activation"):
        gaussian_expectations("sigmoid", t(1.0), t(0.0), t(1.0))
    with pytest.raises(TypeError, match="activation"):
        gaussian_expectations(3, t(1.0), t(0.0), t(1.0))
    with pytest.raises(ValueError, match="s11 and s22"):
        gaussian_expectations("relu", t(-1.0), t(0.0), t(1.0))
