"""Tests for ntklib.symbolic."""
import math

import sympy as sp
import torch

from ntklib.symbolic import to_torch


def test_to_torch_matrix_is_differentiable():
    # regression: lambdify builds a Matrix with torch.tensor(...), which cut autograd (zero Jacobian)
    t = sp.symbols("t1:3")
    f = to_torch(sp.Matrix([sp.sin(t[0] * t[1]), t[0] + t[1] ** 2, 1]), list(t))
    theta = torch.tensor([0.3, -1.2], dtype=torch.float64)
    assert f(*theta).shape == (3, 1)
    jac = torch.func.jacrev(lambda v: f(*v).reshape(-1))(theta)
    c = math.cos(0.3 * -1.2)
    expected = torch.tensor([[-1.2 * c, 0.3 * c], [1.0, -2.4], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(jac, expected, rtol=0, atol=1e-12)


def test_to_torch_matrix_batches():
    x = sp.Symbol("x")
    out = to_torch(sp.Matrix([[x, x**2]]), [x])(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert out.shape == (1, 2, 3)
    torch.testing.assert_close(out[0, 1], torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))
