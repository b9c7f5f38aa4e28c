r"""Gaussian expectations of an activation, the only non-linear step of the kernel recursion.

For a zero-mean Gaussian pair :math:`(u, v)` with covariance
:math:`\begin{pmatrix} s_{11} & s_{12} \\ s_{12} & s_{22} \end{pmatrix}` and
:math:`\cos\theta = s_{12}/\sqrt{s_{11} s_{22}}`:

- ReLU (arc-cosine kernels of Cho and Saul 2009):
  :math:`E[\phi(u)\phi(v)] = \frac{\sqrt{s_{11}s_{22}}}{2\pi}(\sin\theta + (\pi-\theta)\cos\theta)`,
  :math:`E[\phi'(u)\phi'(v)] = \frac{\pi-\theta}{2\pi}`.
- erf (Williams 1997):
  :math:`E[\phi(u)\phi(v)] = \frac{2}{\pi}\arcsin\frac{2 s_{12}}{\sqrt{(1+2s_{11})(1+2s_{22})}}`,
  :math:`E[\phi'(u)\phi'(v)] = \frac{4}{\pi}\left((1+2s_{11})(1+2s_{22}) - 4s_{12}^2\right)^{-1/2}`.
- identity: :math:`s_{12}` and :math:`1`.
- any other elementwise torch callable: Gauss-Hermite quadrature over
  :math:`u = \sqrt{s_{11}} z_1`, :math:`v = \sqrt{s_{22}}(\rho z_1 + \sqrt{1-\rho^2} z_2)`,
  with :math:`\phi'` from autograd.

The ReLU angle is clamped (:math:`\cos\theta \in [-1, 1]`, and snapped to exactly 0 or
:math:`\pi` within 4 ulps of :math:`\pm 1`), and a zero-variance input
(:math:`u \equiv 0`) gives :math:`E[\phi(u)\phi(v)] = E[\phi'(u)\phi'(v)] = 0`, matching
``torch.relu``'s derivative 0 at 0: nothing is NaN.
"""
from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np
import torch

Activation = Union[str, Callable[[torch.Tensor], torch.Tensor]]
CLOSED_FORMS = ("relu", "erf", "identity")
QUADRATURE_POINTS = 128  # tanh to 1e-8 and erf to 1e-13 for variances up to ~3


def check_activation(activation: Activation) -> Activation:
    """Return ``activation`` if it is a known name or a callable, else raise naming the argument."""
    if isinstance(activation, str):
        if activation not in CLOSED_FORMS:
            raise ValueError(f"activation must be one of {CLOSED_FORMS} or an elementwise torch callable, got {activation!r}")
        return activation
    if not callable(activation):
        raise TypeError(f"activation must be a string or a callable, got {type(activation).__name__}")
    return activation


def phi(activation: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation as a torch function (``"relu"`` -> ``torch.relu``, ...)."""
    activation = check_activation(activation)
    if activation == "relu":
        return torch.relu
    if activation == "erf":
        return torch.erf
    if activation == "identity":
        return lambda z: z
    return activation


def dphi(activation: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""The derivative :math:`\phi'` (``relu'(0) = 0`` as in torch; autograd for callables)."""
    activation = check_activation(activation)
    if activation == "relu":
        return lambda z: (z > 0).to(z.dtype)
    if activation == "erf":
        return lambda z: (2 / math.sqrt(math.pi)) * torch.exp(-z * z)
    if activation == "identity":
        return torch.ones_like

    def derivative(z: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(activation(z).sum(), z)
        return g

    return derivative


def gaussian_expectations(activation: Activation, s11, s12, s22) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Return :math:`(E[\phi(u)\phi(v)], E[\phi'(u)\phi'(v)])` for :math:`(u,v) \sim N(0, [[s_{11}, s_{12}], [s_{12}, s_{22}]])`.

    Args:
        activation: ``"relu"``, ``"erf"``, ``"identity"`` or an elementwise torch callable.
        s11, s12, s22: variances and covariance, tensors broadcastable to one shape
            (e.g. ``(N1, 1)``, ``(N1, N2)``, ``(1, N2)``), with ``s12**2 <= s11 * s22``.

    Returns:
        Two float64 tensors of the broadcast shape.

    Raises:
        ValueError: negative variances; TypeError/ValueError for an unknown activation.

    References: Cho and Saul 2009 (``cho2009``); Williams 1997 (``williams1997``).

    >>> e, ed = gaussian_expectations("relu", torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1.0))
    >>> round(e.item(), 12), round(ed.item(), 12)   # E relu(u)^2 = s/2, P(u > 0) = 1/2
    (0.5, 0.5)
    """
    activation = check_activation(activation)
    s11, s12, s22 = (torch.as_tensor(s, dtype=torch.float64) for s in (s11, s12, s22))
    if bool((s11 < 0).any()) or bool((s22 < 0).any()):
        raise ValueError("s11 and s22 must be variances (>= 0)")
    s11, s12, s22 = torch.broadcast_tensors(s11, s12, s22)
    if activation == "relu":
        return relu_expectations(s11, s12, s22)
    if activation == "erf":
        a, b = 1 + 2 * s11, 1 + 2 * s22
        arg = (2 * s12 / torch.sqrt(a * b)).clamp(-1, 1)
        return (2 / math.pi) * torch.asin(arg), (4 / math.pi) / torch.sqrt(a * b - 4 * s12 * s12)
    if activation == "identity":
        return s12.clone(), torch.ones_like(s12)
    return _quadrature(activation, s11, s12, s22)


def relu_expectations(s11: torch.Tensor, s12: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU closed forms (arc-cosine kernels of degree 1 and 0), written to make few passes over memory."""
    norm = torch.sqrt(s11 * s22)
    zero = norm == 0
    cos = s12 / torch.where(zero, torch.ones_like(norm), norm)
    snap_parallel_(cos)
    theta = torch.arccos(cos)
    e_phi = torch.sin(theta)
    theta.neg_().add_(math.pi)  # pi - theta
    e_phi.addcmul_(theta, cos).mul_(norm).div_(2 * math.pi)
    e_dphi = theta.div_(2 * math.pi)
    if bool(zero.any()):
        e_dphi = e_dphi.masked_fill_(zero, 0.0)
    return e_phi, e_dphi


def snap_parallel_(cos: torch.Tensor) -> torch.Tensor:
    """Clamp cosines to [-1, 1] and set those within 4 ulps of +-1 to +-1, in place.

    arccos has infinite slope at +-1, so a round-off of eps in cos becomes sqrt(2 eps) ~ 2e-8 in
    the angle; cosines that close to +-1 are parallel inputs up to round-off, and snapping them
    makes K(a x, b x) exact.
    """
    eps4 = 4 * torch.finfo(cos.dtype).eps
    return cos.clamp_(-1.0, 1.0).masked_fill_(cos > 1 - eps4, 1.0).masked_fill_(cos < eps4 - 1, -1.0)


def _quadrature(f: Callable, s11, s12, s22, points: int = QUADRATURE_POINTS, chunk: int = 2048):
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)  # weight exp(-z^2/2)
    z = torch.as_tensor(nodes, dtype=torch.float64, device=s12.device)
    w = torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=torch.float64, device=s12.device)
    z1, z2, ww = z.view(1, -1, 1), z.view(1, 1, -1), w.view(1, -1, 1) * w.view(1, 1, -1)
    df = dphi(f)
    a, b, c = (s.reshape(-1, 1, 1) for s in (s11, s22, s12))
    e_phi = torch.empty(a.shape[0], dtype=torch.float64, device=s12.device)
    e_dphi = torch.empty_like(e_phi)
    for i in range(0, a.shape[0], chunk):  # bounded memory: chunk * points^2 values at a time
        sa, sb, cc = a[i : i + chunk].sqrt(), b[i : i + chunk].sqrt(), c[i : i + chunk]
        norm = sa * sb
        rho = (cc / torch.where(norm > 0, norm, torch.ones_like(norm))).clamp(-1, 1)
        u = sa * z1
        v = sb * (rho * z1 + torch.sqrt(1 - rho * rho) * z2)
        fu, fv = f(u).to(torch.float64), f(v).to(torch.float64)
        e_phi[i : i + chunk] = (fu * fv * ww).sum((1, 2))
        e_dphi[i : i + chunk] = (df(u) * df(v) * ww).sum((1, 2))
    return e_phi.reshape(s12.shape), e_dphi.reshape(s12.shape)
