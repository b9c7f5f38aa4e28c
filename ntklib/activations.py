r"""Gaussian expectations of an activation, the only non-linear step of the kernel recursion.

For a zero-mean Gaussian pair :math:`(u, v)` with covariance
:math:`\begin{pmatrix} s_{11} & s_{12} \\ s_{12} & s_{22} \end{pmatrix}` and
:math:`\cos\theta = s_{12}/\sqrt{s_{11} s_{22}}`:

- ReLU (arc-cosine kernels of Cho and Saul 2009):
  :math:`E[\phi(u)\phi(v)] = \frac{\sqrt{s_{11}s_{22}}}{2\pi}(\sin\theta + (\pi-\theta)\cos\theta)`,
  :math:`E[\phi'(u)\phi'(v)] = \frac{\pi-\theta}{2\pi}`.
- The piecewise-linear family :math:`\phi(z) = a z` for :math:`z > 0`, :math:`b z` otherwise
  (leaky ReLU: a = 1, b = slope; abs: a = 1, b = -1). With :math:`\phi = (a-b)\,\mathrm{relu} + b\,z`:
  :math:`E[\phi\phi] = (a-b)^2 E[\mathrm{relu}\,\mathrm{relu}] + ab\,s_{12}`,
  :math:`E[\phi'\phi'] = ab + (a-b)^2 \frac{\pi-\theta}{2\pi}`.
- erf (Williams 1997), with :math:`D = 1 + 2(s_{11}+s_{22}) + 4(s_{11}s_{22} - s_{12}^2)
  = (1+2s_{11})(1+2s_{22}) - 4s_{12}^2` written without cancellation:
  :math:`E[\phi(u)\phi(v)] = \frac{2}{\pi}\arcsin\frac{2 s_{12}}{\sqrt{(1+2s_{11})(1+2s_{22})}}
  = \frac{2}{\pi}\operatorname{atan2}(2s_{12}, \sqrt{D})`, :math:`E[\phi'(u)\phi'(v)] = \frac{4}{\pi} D^{-1/2}`.
- identity: :math:`s_{12}` and :math:`1`.
- any other elementwise torch callable: Gauss-Hermite quadrature (see below).

Activation spellings: ``"relu"``, ``"erf"``, ``"identity"``, ``"abs"``, ``"leaky_relu"``
(torch's default slope 0.01) and ``"leaky_relu:<slope>"`` (e.g. ``"leaky_relu:0.2"``, any real
slope). The callables ``torch.relu``, ``torch.nn.functional.relu``, ``torch.nn.ReLU()``,
``torch.erf``, ``torch.special.erf``, ``torch.abs``, ``torch.nn.functional.leaky_relu``,
``torch.nn.LeakyReLU(slope)`` and ``torch.nn.Identity()`` are recognized and use the closed forms.

Accuracy contract. The closed forms are exact to float64 round-off (a few ulps; tests check
1e-13 relative for erf at input variances from 1e-16 to 1e16). Any other callable goes through
a 256 x 256-point Gauss-Hermite rule (512 x 512 where that one misses the tolerance) over
:math:`u = \sqrt{s_{11}} z_1`, :math:`v = \sqrt{s_{22}}(\rho z_1 + \sqrt{1-\rho^2} z_2)`, with
:math:`\phi'` from autograd. For smooth activations (tanh, sin, gelu, softplus, a Gaussian bump)
at variances up to 4 it is within 1e-10 relative. Every call estimates its own error twice:
the rule against one of twice the points on the entries where it is least accurate (largest
variances, largest correlations, and a spread of the rest), and, on those variances
:math:`s_{11}, s_{22}`, the 256-point rule against a composite Gauss-Legendre rule in
:math:`u` that resolves features of width 0.1 near zero at any variance (a saturating
activation at huge variance, whose nodes never see the transition). Either error above 1e-9,
relative to the Cauchy-Schwarz scale :math:`\sqrt{E[\phi(u)^2] E[\phi(v)^2]}` (and likewise for
:math:`\phi'`), raises a ``RuntimeWarning`` naming it: kinks (use a closed form), large
variances, or oscillating activations.

The ReLU angle is clamped (:math:`\cos\theta \in [-1, 1]`, and snapped to exactly 0 or
:math:`\pi` within 4 ulps of :math:`\pm 1`). A zero-variance input (:math:`u \equiv 0`) uses
torch's derivative at 0 (relu and abs: 0; leaky ReLU: the slope): nothing is NaN.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Callable, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Activation = Union[str, Callable[[torch.Tensor], torch.Tensor]]
CLOSED_FORMS = ("relu", "erf", "identity", "abs", "leaky_relu")
LEAKY_SLOPE = 0.01  # torch's default negative slope, used by the plain name "leaky_relu"
QUADRATURE_POINTS = 256  # points per axis of the rule; twice as many estimate its error
TOLERANCE = 1e-9  # estimated relative error above which a RuntimeWarning is raised
_CALLABLES = {torch.relu: "relu", F.relu: "relu", torch.erf: "erf", torch.special.erf: "erf", torch.abs: "abs",
              F.leaky_relu: f"leaky_relu:{LEAKY_SLOPE!r}"}  # the canonical names check_activation returns


def check_activation(activation: Activation) -> Activation:
    """The canonical form of ``activation``: a closed-form name, or the callable itself.

    Names are returned as spelled, except ``"leaky_relu"`` -> ``"leaky_relu:0.01"``; the
    recognized callables (module docstring) are returned as their names.

    >>> check_activation(torch.nn.LeakyReLU(0.2)), check_activation(torch.relu)
    ('leaky_relu:0.2', 'relu')
    """
    if isinstance(activation, str):
        name, colon, slope = activation.partition(":")
        if name == "leaky_relu":
            return f"leaky_relu:{_slope(slope, activation) if colon else LEAKY_SLOPE!r}"
        if name not in CLOSED_FORMS or colon:
            raise ValueError(f"activation must be one of {CLOSED_FORMS}, 'leaky_relu:<slope>' or an elementwise torch "
                             f"callable, got {activation!r}")
        return activation
    if isinstance(activation, nn.ReLU):
        return "relu"
    if isinstance(activation, nn.LeakyReLU):
        return f"leaky_relu:{float(activation.negative_slope)!r}"
    if isinstance(activation, nn.Identity):
        return "identity"
    if not callable(activation):
        raise TypeError(f"activation must be a string or a callable, got {type(activation).__name__}")
    try:
        return _CALLABLES.get(activation, activation)
    except TypeError:  # an unhashable callable
        return activation


def _slope(text: str, activation: str) -> float:
    try:
        slope = float(text)
    except ValueError:
        raise ValueError(f"activation 'leaky_relu:<slope>' needs a real slope, got {activation!r}") from None
    if not math.isfinite(slope):
        raise ValueError(f"activation 'leaky_relu:<slope>' needs a finite slope, got {activation!r}")
    return slope


def slopes(activation: str) -> tuple[float, float, float]:
    """``(a, b, phi'(0))`` of a piecewise-linear name: phi(z) = a z for z > 0, b z otherwise."""
    if activation == "relu":
        return 1.0, 0.0, 0.0
    if activation == "abs":
        return 1.0, -1.0, 0.0
    slope = float(activation.partition(":")[2])
    return 1.0, slope, slope


def phi(activation: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation as a torch function (``"relu"`` -> ``torch.relu``, ...)."""
    activation = check_activation(activation)
    if activation in ("relu", "erf", "abs"):
        return {"relu": torch.relu, "erf": torch.erf, "abs": torch.abs}[activation]
    if activation == "identity":
        return lambda z: z
    if isinstance(activation, str):  # leaky_relu:<slope>
        slope = slopes(activation)[1]
        return lambda z: torch.where(z > 0, z, slope * z)
    return activation


def dphi(activation: Activation) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""The derivative :math:`\phi'` (torch's value at 0: relu and abs 0, leaky ReLU its slope; autograd for callables)."""
    activation = check_activation(activation)
    if activation == "relu":
        return lambda z: (z > 0).to(z.dtype)
    if activation == "erf":
        return lambda z: (2 / math.sqrt(math.pi)) * torch.exp(-z * z)
    if activation == "identity":
        return torch.ones_like
    if activation == "abs":
        return torch.sign
    if isinstance(activation, str):
        slope = slopes(activation)[1]
        return lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, slope))

    def derivative(z: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(activation(z).sum(), z)
        return g

    return derivative


def gaussian_expectations(activation: Activation, s11, s12, s22) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Return :math:`(E[\phi(u)\phi(v)], E[\phi'(u)\phi'(v)])` for :math:`(u,v) \sim \mathcal N(0, [[s_{11}, s_{12}], [s_{12}, s_{22}]])`.

    Args:
        activation: a name of the module docstring or an elementwise torch callable.
        s11, s12, s22: variances and covariance, tensors broadcastable to one shape
            (e.g. ``(N1, 1)``, ``(N1, N2)``, ``(1, N2)``), with ``s12**2 <= s11 * s22``.

    Returns:
        Two float64 tensors of the broadcast shape. Closed forms are exact to round-off;
        quadrature follows the accuracy contract of the module docstring.

    Raises:
        ValueError: negative or non-finite variances; TypeError/ValueError for an unknown activation.

    Warns:
        RuntimeWarning: quadrature whose estimated relative error exceeds 1e-9.

    References: Cho and Saul 2009 (``cho2009``); Williams 1997 (``williams1997``).

    >>> e, ed = gaussian_expectations("relu", torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1.0))
    >>> round(e.item(), 12), round(ed.item(), 12)   # E relu(u)^2 = s/2, P(u > 0) = 1/2
    (0.5, 0.5)
    """
    activation = check_activation(activation)
    s11, s12, s22 = (torch.as_tensor(s, dtype=torch.float64) for s in (s11, s12, s22))
    for name, s in (("s11", s11), ("s12", s12), ("s22", s22)):
        if not bool(torch.isfinite(s).all()):
            raise ValueError(f"{name} must be finite (found NaN or inf)")
    if bool((s11 < 0).any()) or bool((s22 < 0).any()):
        raise ValueError("s11 and s22 must be variances (>= 0)")
    s11, s12, s22 = torch.broadcast_tensors(s11, s12, s22)
    if activation == "relu":
        return relu_expectations(s11, s12, s22)
    if activation == "erf":
        return erf_expectations(s11, s12, s22)
    if activation == "identity":
        return s12.clone(), torch.ones_like(s12)
    if isinstance(activation, str):
        return piecewise_expectations(*slopes(activation), s11, s12, s22)
    return _quadrature(activation, s11, s12, s22)


def erf_expectations(s11: torch.Tensor, s12: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """erf closed forms through D = 1 + 2(s11 + s22) + 4 det, scaled by max(s11, s22, 1): no cancellation, no overflow."""
    scale = torch.maximum(torch.maximum(s11, s22), torch.ones_like(s11))
    a, b, c = s11 / scale, s22 / scale, s12 / scale
    det = (a * b - c * c).clamp_min_(0.0)
    root = torch.sqrt((1 / scale + 2 * (a + b)) / scale + 4 * det)  # sqrt(D) / scale
    return (2 / math.pi) * torch.atan2(2 * c, root), (4 / math.pi) / (root * scale)


def piecewise_expectations(a: float, b: float, d0: float, s11, s12, s22) -> tuple[torch.Tensor, torch.Tensor]:
    """phi(z) = a z (z > 0), b z (z <= 0), phi'(0) = d0: through phi = (a - b) relu + b z."""
    k, p = relu_expectations(s11, s12, s22)
    e_phi, e_dphi = k.mul_((a - b) ** 2).add_(s12, alpha=a * b), p.mul_((a - b) ** 2).add_(a * b)
    zero1, zero2 = s11 == 0, s22 == 0
    if bool((zero1 | zero2).any()):  # u = 0 exactly: phi'(u) = d0, so E[phi'(u) phi'(v)] = d0 E[phi'(v)]
        mean1 = torch.where(zero1, d0, (a + b) / 2)
        mean2 = torch.where(zero2, d0, (a + b) / 2)
        e_dphi = torch.where(zero1 | zero2, mean1 * mean2, e_dphi)
    return e_phi, e_dphi


def relu_expectations(s11: torch.Tensor, s12: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU closed forms (arc-cosine kernels of degree 1 and 0), written to make few passes over memory."""
    norm = torch.sqrt(s11) * torch.sqrt(s22)  # no overflow of s11 * s22
    zero = norm == 0
    cos = s12 / torch.where(zero, torch.ones_like(norm), norm)
    snap_parallel_(cos)
    theta = torch.arccos(cos)
    e_phi = torch.sin(theta)
    theta.neg_().add_(math.pi)  # pi - theta
    e_phi.addcmul_(theta, cos).mul_(norm / (2 * math.pi))  # divided first: no overflow near 1e308
    e_dphi = theta.div_(2 * math.pi)
    if bool(zero.any()):
        e_dphi = e_dphi.masked_fill_(zero, 0.0)
    return e_phi, e_dphi


def snap_parallel_(cos: torch.Tensor, *, upper: bool = True) -> torch.Tensor:
    """Clamp cosines to [-1, 1] and set those within 4 ulps of +-1 to +-1, in place.

    arccos has infinite slope at +-1, so a round-off of eps in cos becomes sqrt(2 eps) ~ 2e-8 in
    the angle; cosines that close to +-1 are parallel inputs up to round-off, and snapping them
    makes K(a x, b x) exact. ``upper=False`` snaps and clamps only the side of -1, for cosines known
    to be <= 0. One ``F.threshold_`` per side (``x <= t ? -1 : x``, NaN kept), a fifth of the cost of
    a comparison and a masked fill.
    """
    t = _snap_threshold(cos.dtype)
    if upper:
        F.threshold_(cos.neg_(), t, -1.0).neg_()
    return F.threshold_(cos, t, -1.0)


@functools.lru_cache(maxsize=4)
def _snap_threshold(dtype: torch.dtype) -> float:
    """The largest value below -1 + 4 ulps: ``F.threshold`` maps it and everything below to -1."""
    lo = torch.tensor(-1.0 + 4 * torch.finfo(dtype).eps, dtype=dtype)
    return torch.nextafter(lo, torch.tensor(-2.0, dtype=dtype)).item()


@functools.lru_cache(maxsize=4)
def _hermite(points: int) -> tuple[torch.Tensor, torch.Tensor]:
    if points <= 256:  # numpy's Golub-Welsch rule; its weights overflow beyond ~300 points
        nodes, weights = np.polynomial.hermite_e.hermegauss(points)  # weight exp(-z^2/2)
    else:
        from scipy.special import roots_hermitenorm

        nodes, weights = roots_hermitenorm(points)
    return torch.as_tensor(nodes), torch.as_tensor(weights / math.sqrt(2 * math.pi))


def _rule(f, df, a, b, c, points: int, chunk_elements: int = 1 << 21):
    """The points x points Gauss-Hermite rule for E[f f] and E[f' f'] on flat variances a, b and covariance c."""
    z, w = (t.to(c.device) for t in _hermite(points))
    z1, z2, ww = z.view(1, -1, 1), z.view(1, 1, -1), w.view(1, -1, 1) * w.view(1, 1, -1)
    e_phi, e_dphi = torch.empty_like(c), torch.empty_like(c)
    chunk = max(1, chunk_elements // points**2)
    for i in range(0, c.numel(), chunk):  # bounded memory: chunk * points^2 values at a time
        sa, sb, cc = (s[i : i + chunk].view(-1, 1, 1) for s in (a.sqrt(), b.sqrt(), c))
        norm = sa * sb
        rho = (cc / torch.where(norm > 0, norm, torch.ones_like(norm))).clamp(-1, 1)
        u, v = sa * z1, sb * (rho * z1 + torch.sqrt(1 - rho * rho) * z2)
        e_phi[i : i + chunk] = (f(u).to(torch.float64) * f(v).to(torch.float64) * ww).sum((1, 2))
        e_dphi[i : i + chunk] = (df(u).to(torch.float64) * df(v).to(torch.float64) * ww).sum((1, 2))
    return e_phi, e_dphi


def _panels(variance: float, panel_points: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Gauss-Legendre nodes and weights (density included) for E[g(u)], u ~ N(0, variance).

    Panels grow geometrically from min(0.05, sd/4) at zero up to 13 sd, never wider than one sd:
    features of width 0.1 near zero are resolved at any variance.
    """
    sd = math.sqrt(variance)
    edges, width = [0.0], min(0.05, sd / 4)
    while edges[-1] < 13 * sd:
        edges.append(edges[-1] + width)
        width = min(2 * width, sd)
    x, w = np.polynomial.legendre.leggauss(panel_points)
    lo, hi = np.array(edges[:-1])[:, None], np.array(edges[1:])[:, None]
    u = ((hi - lo) / 2 * x + (hi + lo) / 2).ravel()
    wu = ((hi - lo) / 2 * w).ravel() * np.exp(-u * u / (2 * variance)) / math.sqrt(2 * math.pi * variance)
    return torch.as_tensor(np.concatenate([-u[::-1], u])), torch.as_tensor(np.concatenate([wu[::-1], wu]))


def _moments_hermite(f, df, s: torch.Tensor, points: int) -> torch.Tensor:
    """E[f(u)^2] and E[f'(u)^2] for u ~ N(0, s) by the 1-D Gauss-Hermite rule, (2, len(s))."""
    z, w = (t.to(s.device) for t in _hermite(points))
    u = s.sqrt()[:, None] * z
    return torch.stack([(f(u).to(torch.float64) ** 2 * w).sum(1), (df(u).to(torch.float64) ** 2 * w).sum(1)])


def _moments_panels(f, df, s: torch.Tensor) -> torch.Tensor:
    """The same second moments by Gauss-Legendre panels in u (:func:`_panels`), the reference."""
    out = _moments_hermite(f, df, s, 16)  # kept where s = 0 (u = 0 exactly)
    for k, variance in enumerate(s.tolist()):
        if variance > 0:
            nodes, weights = (t.to(s.device) for t in _panels(variance))
            out[0, k] = (f(nodes).to(torch.float64) ** 2 * weights).sum()
            out[1, k] = (df(nodes).to(torch.float64) ** 2 * weights).sum()
    return out


def _probe(a, b, c, k: int = 8) -> torch.Tensor:
    """Indices of the entries where the rule is least accurate: largest variance, largest |rho|, spread."""
    n = c.numel()
    if n <= 3 * k:
        return torch.arange(n, device=c.device)
    rho = c.abs() / (a.sqrt() * b.sqrt()).clamp_min(torch.finfo(c.dtype).tiny)
    spread = torch.linspace(0, n - 1, k, device=c.device).long()
    return torch.unique(torch.cat([torch.topk(torch.maximum(a, b), k).indices, torch.topk(rho, k).indices, spread]))


def _quadrature(f: Callable, s11, s12, s22):
    """Gauss-Hermite expectations, 256 points per axis or 512 where needed, with the error estimates of the module docstring."""
    df = dphi(f)
    a, b, c = (s.reshape(-1).contiguous() for s in (s11, s22, s12))
    probe = _probe(a, b, c)
    m, tiny = probe.numel(), torch.finfo(torch.float64).tiny
    variances, index = torch.unique(torch.cat([a[probe], b[probe]]), return_inverse=True)
    panel = _moments_panels(f, df, variances)
    scale = (panel[:, index[:m]] * panel[:, index[m:]]).sqrt().clamp_min(tiny)  # Cauchy-Schwarz bound
    for points in (QUADRATURE_POINTS, 2 * QUADRATURE_POINTS):
        e_phi, e_dphi = _rule(f, df, a, b, c, points)
        fine = _rule(f, df, a[probe], b[probe], c[probe], 2 * points)
        entry = torch.stack([(e_phi[probe] - fine[0]).abs(), (e_dphi[probe] - fine[1]).abs()]) / scale
        hermite = _moments_hermite(f, df, variances, points)
        moment = (hermite - panel).abs() / torch.maximum(hermite.abs(), panel.abs()).clamp_min(tiny)
        error = max(entry.max().item(), moment.max().item())
        if error <= TOLERANCE:
            break
    if error > TOLERANCE:
        name = getattr(f, "__name__", type(f).__name__)
        warnings.warn(f"Gaussian expectations of activation {name!r} by quadrature: estimated relative error "
                      f"{error:.1e} > {TOLERANCE:g} (largest variance {variances.max().item():.3g}). Kinks and "
                      f"large variances defeat the rule; piecewise-linear activations have closed forms "
                      f"('relu', 'abs', 'leaky_relu:<slope>').", RuntimeWarning, stacklevel=3)
    return e_phi.reshape(s12.shape), e_dphi.reshape(s12.shape)
