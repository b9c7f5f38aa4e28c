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


# --- issue 11: closed forms everywhere they exist, quadrature that knows its error -------------

import warnings

import mpmath
import numpy as np
import scipy.special as sps

import ntklib as nk


def _erf_ntk_exact(x: float, y: float, angle: float) -> float:
    """Depth-1 erf NTK of inputs |x| e_0 and |y| (cos a, sin a) in d = 2, at 50 digits."""
    mpmath.mp.dps = 50
    x, y, c = mpmath.mpf(x), mpmath.mpf(y), mpmath.cos(mpmath.mpf(angle))
    s11, s22, s12 = x * x / 2, y * y / 2, x * y * c / 2
    a, b = 1 + 2 * s11, 1 + 2 * s22
    e = 2 / mpmath.pi * mpmath.asin(2 * s12 / mpmath.sqrt(a * b))
    ed = 4 / mpmath.pi / mpmath.sqrt(a * b - 4 * s12 * s12)
    return float(e + s12 * ed)


@pytest.mark.parametrize("norm", [1e-8, 1e-4, 1.0, 1e4, 1e6, 1e8])
@pytest.mark.parametrize("angle", [0.0, 0.3, 2.0])
def test_erf_without_cancellation(norm, angle):
    x = torch.tensor([[norm, 0.0], [2 * norm * math.cos(angle), 2 * norm * math.sin(angle)]])
    theta = nk.ntk(x, depth=1, activation="erf")
    assert bool(torch.isfinite(theta).all())
    for (i, j), (a, b, g) in {(0, 0): (norm, norm, 0.0), (0, 1): (norm, 2 * norm, angle)}.items():
        exact = _erf_ntk_exact(a, b, g)
        assert abs(theta[i, j].item() - exact) <= 1e-13 * abs(exact)


def test_erf_issue_reproduction():
    value = nk.ntk(torch.tensor([[1e8]]), depth=1, activation="erf").item()
    assert value == pytest.approx(6.3661977e7, rel=1e-7)
    e, ed = gaussian_expectations("erf", t(1e16), t(1e16), t(1e16))
    assert e.item() == pytest.approx(1.0) and math.isfinite(ed.item()) and ed.item() > 0


@pytest.mark.parametrize("name, a, b", [("abs", 1.0, -1.0), ("leaky_relu:0.2", 1.0, 0.2),
                                        ("leaky_relu:-0.5", 1.0, -0.5), ("leaky_relu", 1.0, 0.01)])
def test_piecewise_linear_closed_forms_match_monte_carlo(name, a, b):
    gen = torch.Generator().manual_seed(2)
    s11, s12, s22 = 1.2, -0.5, 0.9
    z = torch.randn(400_000, 2, generator=gen) @ torch.linalg.cholesky(t([[s11, s12], [s12, s22]])).T
    f = lambda u: torch.where(u > 0, a * u, b * u)
    df = lambda u: torch.where(u > 0, a, b)
    for sample, closed in zip((f(z[:, 0]) * f(z[:, 1]), df(z[:, 0]) * df(z[:, 1])),
                              gaussian_expectations(name, t(s11), t(s12), t(s22))):
        assert abs(sample.mean() - closed) < N_SE * sample.std() / math.sqrt(len(sample))


def test_abs_hand_value_and_recognized_callables():
    assert gaussian_expectations(torch.abs, 1.0, 0.5, 1.0)[1].item() == pytest.approx(1 / 3, abs=1e-15)
    x = t([[1.0, 0.0], [0.6, 0.8]])
    assert nk.ntk(x, depth=1, activation=torch.abs)[0, 1].item() == pytest.approx(0.5004472, abs=1e-7)
    s = (t([0.7, 2.0]), t([0.3, -1.1]), t([1.5, 0.9]))
    for fn, name in [(torch.relu, "relu"), (torch.nn.ReLU(), "relu"), (torch.nn.functional.relu, "relu"),
                     (torch.erf, "erf"), (torch.abs, "abs"), (torch.nn.LeakyReLU(0.3), "leaky_relu:0.3")]:
        for got, want in zip(gaussian_expectations(fn, *s), gaussian_expectations(name, *s)):
            assert torch.equal(got, want), fn
    assert nk.activations.check_activation("leaky_relu") == "leaky_relu:0.01"


def test_piecewise_names_in_networks_and_kernels():
    torch.manual_seed(3)
    x = torch.randn(6, 3)
    for name in ("abs", "leaky_relu:0.2"):
        net = nk.MLP(3, 4096, 1, activation=name, bias_std=0.1)
        z = torch.linspace(-2, 2, 9)
        assert torch.allclose(net.phi(z), torch.where(z > 0, z, (-1.0 if name == "abs" else 0.2) * z))
        theta = nk.ntk(x, depth=1, activation=name, bias_std=0.1)
        emp = nk.empirical_ntk(net, x)
        assert ((emp - theta).norm() / theta.norm()).item() < 0.05  # O(n^-1/2) = 0.016 at n = 4096
        layers = nk.kernel_layers(x, depth=1, activation=name, bias_std=0.1)
        assert torch.allclose(layers[-1].theta, theta, atol=1e-12)


def _reference(f, s11, s12, s22, panels=60, points=20):
    """E[f(u) f(v)] by composite Gauss-Legendre in (z1, z2) on [-12, 12]^2 (independent of ntklib)."""
    x, w = np.polynomial.legendre.leggauss(points)
    edges = np.linspace(-12, 12, panels + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    z = ((hi - lo) / 2 * x + (hi + lo) / 2).ravel()
    wz = ((hi - lo) / 2 * w).ravel() * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    rho = s12 / math.sqrt(s11 * s22)
    u = math.sqrt(s11) * z[:, None]
    v = math.sqrt(s22) * (rho * z[:, None] + math.sqrt(1 - rho * rho) * z[None, :])
    return float((f(u) * f(v) * wz[:, None] * wz[None, :]).sum())


SMOOTH = {
    "tanh": (torch.tanh, np.tanh, lambda z: 1 / np.cosh(z) ** 2),
    "sin": (torch.sin, np.sin, np.cos),
    "softplus": (torch.nn.functional.softplus, lambda z: np.logaddexp(0, z), sps.expit),
    "gelu": (torch.nn.functional.gelu, lambda z: z * sps.ndtr(z), lambda z: sps.ndtr(z) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)),
    "bump": (lambda z: torch.exp(-z * z), lambda z: np.exp(-z * z), lambda z: -2 * z * np.exp(-z * z)),
}


@pytest.mark.parametrize("name", SMOOTH)
def test_quadrature_within_1e10_for_variances_up_to_4(name):
    fn, f, df = SMOOTH[name]
    for s11, s22, rho in [(0.5, 1.0, 0.3), (4.0, 4.0, 0.95), (4.0, 2.0, -0.6)]:
        s12 = rho * math.sqrt(s11 * s22)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # in range: no warning either
            e, ed = gaussian_expectations(fn, t(s11), t(s12), t(s22))
        for got, g in ((e, f), (ed, df)):
            scale = math.sqrt(_reference(g, s11, s11, s11) * _reference(g, s22, s22, s22))
            assert abs(got.item() - _reference(g, s11, s12, s22)) <= 1e-10 * scale, (name, s11, s22, rho)


def test_quadrature_warns_instead_of_lying():
    kinked = lambda z: torch.where(z > 0, z, -z)  # abs, not recognized: quadrature
    with pytest.warns(RuntimeWarning, match="estimated relative error"):
        gaussian_expectations(kinked, t(1.0), t(0.5), t(1.0))
    x = 1e8 * t([[0.6, 0.8], [0.8, 0.6]])  # tanh at norm 1e8: no node sees tanh'
    with pytest.warns(RuntimeWarning, match="largest variance 5e\\+15"):
        nk.ntk(x, depth=1, activation=torch.tanh)
    for s in (8.0, 20.0, 50.0):  # beyond the contract: either accurate to 1e-9 or a warning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            e, ed = gaussian_expectations(torch.tanh, t(s), t(0.8 * s), t(s))
        for got, g in ((e, np.tanh), (ed, SMOOTH["tanh"][2])):
            error = abs(got.item() - _reference(g, s, 0.8 * s, s, panels=200)) / _reference(g, s, s, s, panels=200)
            assert caught or error <= 1e-9, (s, error)


def test_activation_spelling_errors():
    for bad in ("leaky_relu:x", "relu:1", "leaky_relu:inf"):
        with pytest.raises(ValueError, match="activation"):
            gaussian_expectations(bad, t(1.0), t(0.0), t(1.0))
    with pytest.raises(ValueError, match="s12"):
        gaussian_expectations("relu", t(1.0), t(math.nan), t(1.0))
