import math

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from conftest import ATOL, N_SE
import ntklib as nk
from ntklib.kernels import _recursion

floats = st.floats(-3, 3, allow_nan=False, width=64)
inputs = st.integers(1, 6).flatmap(lambda n: st.integers(1, 4).flatmap(
    lambda d: st.lists(st.lists(floats, min_size=d, max_size=d), min_size=n, max_size=n)))
hyper = st.fixed_dictionaries({
    "depth": st.integers(0, 4),
    "activation": st.sampled_from(["relu", "erf", "identity"]),
    "weight_std": st.floats(0.1, 2.5),
    "bias_std": st.floats(0.0, 1.0),
})


def test_hand_values_depth1_relu():
    # x = e1, x' = e2 in R^2, sigma_w = 1: Sigma1 = I/2; Sigma2 diag 1/4, off 1/(4 pi);
    # SigmaDot2 diag 1/2, off 1/4; Theta2 = Sigma2 + Sigma1 * SigmaDot2: diag 1/2, off 1/(4 pi)
    k = nk.kernels(torch.eye(2), depth=1)
    assert torch.allclose(k.nngp, torch.tensor([[0.25, 1 / (4 * math.pi)], [1 / (4 * math.pi), 0.25]]), atol=1e-15)
    assert torch.allclose(k.ntk, torch.tensor([[0.5, 1 / (4 * math.pi)], [1 / (4 * math.pi), 0.5]]), atol=1e-15)


def test_hand_values_erf_and_identity():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # identity, depth 2, sigma_w = 2: the kernel is w^6 x.x'/2 and Theta = 3 * Sigma
    k = nk.kernels(x, depth=2, activation="identity", weight_std=2.0)
    gram = x @ x.T / 2
    assert torch.allclose(k.nngp, 64 * gram, atol=1e-13) and torch.allclose(k.ntk, 3 * 64 * gram, atol=1e-12)
    # erf, depth 1: Sigma2 = (2/pi) arcsin(2 s12 / sqrt((1 + 2 s11)(1 + 2 s22)))
    s = gram
    expected = (2 / math.pi) * torch.asin(2 * s / torch.sqrt((1 + 2 * s.diag())[:, None] * (1 + 2 * s.diag())[None, :]))
    assert torch.allclose(nk.nngp(x, depth=1, activation="erf"), expected, atol=1e-15)


def test_relu_matches_sympy():
    a, b, c = sp.symbols("a b c", positive=True)
    e_phi, e_dphi = nk.symbolic.relu_dual_sym(a, b, c)
    x = torch.tensor([[0.3, -1.2, 0.5], [1.0, 0.4, -0.7]])
    s = x @ x.T / 3
    sub = {a: s[0, 0].item(), b: s[1, 1].item(), c: s[0, 1].item()}
    sigma2 = float(e_phi.subs(sub).evalf(30))
    theta2 = sigma2 + s[0, 1].item() * float(e_dphi.subs(sub).evalf(30))
    k = nk.kernels(x, depth=1)
    assert abs(k.nngp[0, 1].item() - sigma2) < ATOL and abs(k.ntk[0, 1].item() - theta2) < ATOL


@given(inputs, hyper)
def test_symmetric_psd_and_ntk_dominates(x, h):
    x = torch.tensor(x)
    k = nk.kernels(x, **h)
    for m in (k.nngp, k.ntk):
        assert torch.isfinite(m).all()
        assert torch.allclose(m, m.T, atol=1e-12)
        ev = torch.linalg.eigvalsh(m)
        assert ev[0] >= -1e-10 * max(ev[-1].abs().item(), 1.0)
    assert (k.ntk.diag() >= k.nngp.diag() - 1e-12).all()


@given(inputs, inputs, hyper)
def test_cross_kernel_transpose_and_fast_path(x1, x2, h):
    x1, x2 = torch.tensor(x1), torch.tensor(x2)
    if x1.shape[1] != x2.shape[1]:
        x2 = x2[:, :1].repeat(1, x1.shape[1])
    k12, k21 = nk.kernels(x1, x2, **h), nk.kernels(x2, x1, **h)
    assert torch.allclose(k12.ntk, k21.ntk.T, atol=1e-12) and torch.allclose(k12.nngp, k21.nngp.T, atol=1e-12)
    last = _recursion(x1, x2, h["depth"], h["activation"], h["weight_std"], h["bias_std"])[-1]
    assert (last.theta - k12.ntk).abs().max() < ATOL and (last.sigma - k12.nngp).abs().max() < ATOL


@given(inputs, hyper, st.integers(0, 1000))
def test_rotation_invariance(x, h, seed):
    x = torch.tensor(x)
    q, _ = torch.linalg.qr(torch.randn(x.shape[1], x.shape[1], generator=torch.Generator().manual_seed(seed)))
    assert torch.allclose(nk.ntk(x @ q, **h), nk.ntk(x, **h), atol=1e-10)


@given(inputs, st.integers(0, 4), st.floats(0.1, 3.0), st.floats(0.1, 3.0))
def test_bias_free_relu_is_homogeneous(x, depth, a, b):
    x = torch.tensor(x)
    k = nk.ntk(a * x, b * x, depth=depth, weight_std=1.3)
    assert torch.allclose(k, a * b * nk.ntk(x, depth=depth, weight_std=1.3), atol=1e-10, rtol=1e-10)


def test_numpy_input_and_float64_output():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    k = nk.ntk(x, depth=2)
    assert k.dtype == torch.float64 and k.shape == (4, 4)


def test_diagonal_angle_exactly_zero():
    x = torch.randn(50, 7)
    layers = nk.kernel_layers(x, depth=3, bias_std=0.2)
    for k in (nk.kernels(x, depth=3, bias_std=0.2).ntk, layers[-1].theta):
        # on the diagonal SigmaDot = w^2 / 2 exactly, so Theta follows the scalar recursion
        d = (x * x).sum(1) / 7 + 0.04
        th = d.clone()
        for _ in range(3):
            d = d / 2 + 0.04
            th = d + th / 2
        assert (k.diag() - th).abs().max() < 1e-13


def test_zero_inputs_and_depth_50_are_finite():
    x = torch.cat([torch.zeros(2, 3), torch.randn(3, 3)])
    for activation in ("relu", "erf"):
        k = nk.kernels(x, depth=50, activation=activation, bias_std=0.0)
        assert torch.isfinite(k.ntk).all() and torch.isfinite(k.nngp).all()
    assert (nk.ntk(x, depth=3)[:2] == 0).all()


def test_monte_carlo_agreement():
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.5]])
    for activation in ("relu", "erf"):
        mc = nk.monte_carlo_kernels(x, depth=2, width=128, n_samples=2000, activation=activation, weight_std=1.4, bias_std=0.3)
        exact = nk.nngp(x, depth=2, activation=activation, weight_std=1.4, bias_std=0.3)
        assert ((mc.nngp - exact).abs() < N_SE * mc.nngp_se + 2 / 128).all()  # sampling error + O(1/width) bias


def test_callable_activation_matches_closed_form():
    x = nk.data.sphere(5, 3)
    closed = nk.kernels(x, depth=2, activation="erf", weight_std=1.2, bias_std=0.1)
    quad = nk.kernels(x, depth=2, activation=lambda z: torch.erf(z), weight_std=1.2, bias_std=0.1)
    assert (closed.ntk - quad.ntk).abs().max() < 1e-10


@pytest.mark.parametrize("kwargs, match", [
    ({"x1": torch.ones(3), "depth": 1}, "x1"),
    ({"x1": torch.ones(3, 2), "x2": torch.ones(3, 4), "depth": 1}, "x2"),
    ({"x1": torch.tensor([[float("nan"), 1.0]]), "depth": 1}, "x1"),
    ({"x1": torch.ones(2, 2), "x2": torch.tensor([[1.0, float("inf")]]), "depth": 1}, "x2"),
    ({"x1": torch.ones(2, 2), "depth": -1}, "depth"),
    ({"x1": torch.ones(2, 2), "depth": 1, "weight_std": -1.0}, "weight_std"),
    ({"x1": torch.ones(2, 2), "depth": 1, "bias_std": -0.1}, "bias_std"),
    ({"x1": torch.ones(2, 2), "depth": 1, "activation": "softplus"}, "activation"),
])
def test_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nk.ntk(**kwargs)


def test_type_errors():
    with pytest.raises(TypeError, match="x1"):
        nk.nngp("abc", depth=1)
    with pytest.raises(TypeError, match="depth"):
        nk.nngp(torch.ones(2, 2), depth=1.5)
    with pytest.raises(TypeError, match="activation"):
        nk.nngp(torch.ones(2, 2), depth=1, activation=1)


# --- issue 11: no NaN, inf or OverflowError; one result in memory ------------------------------

import subprocess
import sys

import numpy as np


@pytest.mark.parametrize("activation", ["relu", "erf", "abs"])
def test_huge_inputs_are_exact_not_nan(activation):
    torch.manual_seed(5)
    x = torch.randn(5, 3)
    x = x / x.norm(dim=1, keepdim=True)  # Sigma^(1) = 3.3e307 on the diagonal, the NTK up to 1e308: they fit
    big = nk.kernels(x * 1e154, depth=2, activation=activation)
    assert all(bool(torch.isfinite(m).all()) for m in big)
    if activation != "erf":  # bias-free piecewise-linear nets are homogeneous of degree 2
        small = nk.kernels(x, depth=2, activation=activation)
        for b, s in zip(big, small):
            assert torch.allclose(b / 1e308, s, rtol=1e-12, atol=1e-300)
    assert bool(torch.isfinite(nk.ntk(1e150 * torch.randn(4, 3), depth=2, activation="erf")).all())


@pytest.mark.parametrize("kwargs", [dict(weight_std=1e100, depth=3), dict(weight_std=2.0, depth=1100),
                                    dict(bias_std=1e154, depth=1), dict(weight_std=1e200, depth=1)])
@pytest.mark.parametrize("activation", ["relu", "abs", "leaky_relu", "identity"])  # erf is bounded
def test_overflow_is_a_clear_error(kwargs, activation):
    with pytest.raises(ValueError, match="overflows float64"):  # was "s11 must be finite" except for relu
        nk.ntk(torch.ones(2, 2), activation=activation, **kwargs)


def test_torch_leaky_relu_is_the_closed_form_everywhere():
    x = torch.randn(5, 3)
    assert nk.activations.check_activation(F.leaky_relu) == "leaky_relu:0.01"
    assert torch.equal(nk.ntk(x, depth=2, activation=F.leaky_relu), nk.ntk(x, depth=2, activation="leaky_relu"))
    net = nk.MLP(3, 4, 1, activation=F.leaky_relu)  # crashed in the slope parser
    assert net(x).shape == (5, 1)


def test_std_types_strides_and_complex():
    x = np.random.default_rng(0).normal(size=(5, 3))
    ref = nk.ntk(x, depth=2, weight_std=1.3, bias_std=0.2)
    for w, b in [(np.float32(1.3), np.float64(0.2)), (torch.tensor(1.3), torch.tensor(0.2))]:
        assert torch.allclose(nk.ntk(x, depth=2, weight_std=w, bias_std=b), ref, rtol=1e-6)
    assert torch.allclose(nk.ntk(x[::-1], depth=2, weight_std=1.3, bias_std=0.2), ref.flip(0, 1), rtol=1e-13)
    with pytest.raises(TypeError, match="x1 must be real"):
        nk.ntk(x + 1j, depth=1)
    with pytest.raises(TypeError, match="x1 must be real"):
        nk.ntk(torch.tensor(x, dtype=torch.complex128), depth=1)
    with pytest.raises(TypeError, match="weight_std"):
        nk.ntk(x, depth=1, weight_std=True)


def test_nngp_and_ntk_alone_equal_kernels():
    x = torch.randn(300, 4)
    both = nk.kernels(x, depth=3, bias_std=0.1)
    assert torch.equal(nk.nngp(x, depth=3, bias_std=0.1), both.nngp)
    assert torch.equal(nk.ntk(x, depth=3, bias_std=0.1), both.ntk)
    assert torch.allclose(nk.ntk(x, x[:7], depth=3, bias_std=0.1), both.ntk[:, :7], rtol=1e-13, atol=0)


@pytest.mark.parametrize("call", ["ntk", "nngp"])
def test_one_result_in_memory(call):
    """Peak memory growth of nk.ntk(x) (or nngp) at N = 4000 is about one (N, N) result, not two."""
    code = (f"import resource, torch, ntklib as nk; torch.manual_seed(0); x = torch.randn(4000, 10, dtype=torch.float64)\n"
            f"nk.{call}(x[:1000], depth=3)\nbase = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            f"k = nk.{call}(x, depth=3)\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    growth_mib, result_mib = int(out.stdout) / 1024, 4000 * 4000 * 8 / 2**20
    assert growth_mib < 1.4 * result_mib, growth_mib
