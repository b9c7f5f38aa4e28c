r"""SymPy pieces shared by the chapters, and the bridge from SymPy to torch.

- :func:`relu_dual_sym`, :func:`erf_dual_sym`: :math:`E[\phi(u)\phi(v)]` and :math:`E[\phi'(u)\phi'(v)]` for
  :math:`(u, v) \sim N(0, [[a, c], [c, b]])` as SymPy expressions (the closed forms of
  :mod:`ntklib.activations`, written independently so the chapters can check one against the other).
- :func:`gaussian_expectation_sym`: :math:`E_{z \sim N(0, a)}[f(z)]` by symbolic integration.
- :func:`to_torch`: ``sympy.lambdify`` to torch functions (float64 in, float64 out).
"""
from __future__ import annotations

from typing import Callable, Sequence

import sympy as sp
import torch


def relu_dual_sym(a, b, c) -> tuple[sp.Expr, sp.Expr]:
    r"""ReLU: :math:`\frac{\sqrt{ab}}{2\pi}(\sin\theta + (\pi - \theta)\cos\theta)` and :math:`\frac{\pi - \theta}{2\pi}`, :math:`\theta = \arccos\frac{c}{\sqrt{ab}}`.

    Reference: Cho and Saul 2009 (``cho2009``), arc-cosine kernels of degree 1 and 0.

    >>> a = sp.Symbol("a", positive=True); relu_dual_sym(a, a, a)
    (a/2, 1/2)
    """
    theta = sp.acos(c / sp.sqrt(a * b))
    return (sp.sqrt(a * b) / (2 * sp.pi) * (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)),
            (sp.pi - theta) / (2 * sp.pi))


def erf_dual_sym(a, b, c) -> tuple[sp.Expr, sp.Expr]:
    r"""erf: :math:`\frac{2}{\pi}\arcsin\frac{2c}{\sqrt{(1+2a)(1+2b)}}` and :math:`\frac{4}{\pi}((1+2a)(1+2b) - 4c^2)^{-1/2}`.

    Reference: Williams 1997 (``williams1997``).

    >>> erf_dual_sym(0, 0, 0)
    (0, 4/pi)
    """
    return (2 / sp.pi * sp.asin(2 * c / sp.sqrt((1 + 2 * a) * (1 + 2 * b))),
            4 / sp.pi / sp.sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c**2))


def gaussian_expectation_sym(f, a) -> sp.Expr:
    r""":math:`E_{z \sim N(0, a)}[f(z)] = \int f(z) \frac{e^{-z^2/(2a)}}{\sqrt{2\pi a}} dz`, symbolically.

    ``f`` is a Python function or ``sp.Lambda`` of one SymPy symbol; ``a > 0``.

    >>> a = sp.Symbol("a", positive=True)
    >>> gaussian_expectation_sym(lambda z: sp.Max(z, 0) ** 2, a)   # E relu(z)^2 = a/2
    a/2
    """
    z = sp.Symbol("z", real=True)
    density = sp.exp(-z**2 / (2 * a)) / sp.sqrt(2 * sp.pi * a)
    expr = sp.piecewise_fold(sp.sympify(f(z)))
    return sp.simplify(sp.integrate(expr * density, (z, -sp.oo, sp.oo)))


def to_torch(expr, symbols: Sequence[sp.Symbol]) -> Callable[..., torch.Tensor]:
    """Compile a SymPy expression of ``symbols`` into a function of float64 torch tensors.

    A SymPy ``Matrix`` compiles entry by entry into a (rows, cols, *batch) tensor that
    autograd and ``torch.func`` differentiate (``lambdify`` alone would build it with
    ``torch.tensor``, which cuts the graph and gives zero derivatives).

    >>> x = sp.Symbol("x"); f = to_torch(sp.acos(x) + x**2, [x]); round(float(f(torch.tensor(0.5))), 10)
    1.2971975512
    """
    if isinstance(symbols, sp.Symbol):
        symbols = [symbols]
    if isinstance(expr, sp.MatrixBase):
        entries = [to_torch(e, symbols) for e in expr]

        def call_matrix(*args):
            values = torch.broadcast_tensors(*(g(*args) for g in entries))
            return torch.stack(values).reshape(*expr.shape, *values[0].shape)

        return call_matrix
    fn = sp.lambdify(list(symbols), expr, modules="torch")

    def call(*args):
        out = fn(*(torch.as_tensor(v, dtype=torch.float64) for v in args))
        return torch.as_tensor(out, dtype=torch.float64)

    return call
