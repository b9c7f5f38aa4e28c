r"""Spectra of dot-product kernels on the circle and the sphere, and the top NTK eigenvalue during training.

On the unit sphere :math:`S^{d-1}` an analytic NTK (or NNGP) without a special direction is a
dot-product kernel :math:`\kappa(x \cdot x')`. Its integral operator
:math:`(T g)(x) = \int \kappa(x \cdot x') g(x')\, d\sigma(x')` against the uniform *probability*
measure :math:`\sigma` has the spherical harmonics of degree k as eigenfunctions (Fourier modes
:math:`\cos k\gamma, \sin k\gamma` on the circle), with the eigenvalue given by the Funk-Hecke formula

.. math::

    \mu_k = \frac{\omega_{d-2}}{\omega_{d-1}} \int_0^\pi \kappa(\cos\gamma)\,
            P_k^{(d)}(\cos\gamma) \sin^{d-2}\gamma \, d\gamma,
    \qquad \omega_{m} = \frac{2\pi^{(m+1)/2}}{\Gamma((m+1)/2)},

with :math:`P_k^{(d)}` the Gegenbauer polynomial normalized to :math:`P_k^{(d)}(1) = 1`
(:math:`\cos k\gamma` for d = 2, Legendre for d = 3). A Gram matrix on N points of the sphere has
eigenvalues near :math:`N\mu_k`, not :math:`\mu_k` (exactly :math:`N\sum_m \mu_{|k + mN|}` for N
equispaced points of the circle).

Training: with the loss :math:`\frac{1}{2N}\|f - Y\|^2` and step :math:`\eta`, gradient descent
on a model whose kernel stays :math:`\Theta` is stable iff :math:`\eta < 2N/\lambda_{max}(\Theta)`;
:func:`gd_trajectory` records :math:`\lambda_{max}(\Theta_t)` of the empirical NTK
at every step, to watch it move when that condition fails (Lewkowycz et al. 2020).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from ._validate import count, finite, positive
from .empirical import _as_matrix, empirical_ntk
from .kernels import ntk
from .train import check_xy, gd_step, mse_loss


def _dimension(d) -> int:
    return count(d, "d", minimum=2)


def ntk_profile(t, *, d: int, depth: int, activation="relu", weight_std: float = 1.0,
                bias_std: float = 0.0) -> torch.Tensor:
    r"""The analytic NTK :math:`\kappa(t) = \Theta(x, x')` of unit vectors of :math:`\mathbb{R}^d` with :math:`x \cdot x' = t`.

    Conventions: the kernel is :func:`ntklib.ntk` (NTK parameterization, first layer divided
    by d), evaluated between :math:`e_1` and :math:`t e_1 + \sqrt{1 - t^2} e_2`.

    Args:
        t: 1-D array of M cosines in [-1, 1]. d: input dimension >= 2. depth, activation,
            weight_std, bias_std: as in :func:`ntklib.ntk`.

    Returns:
        float64 tensor (M,) of :math:`\kappa(t)`.

    Raises:
        ValueError: d < 2, t not 1-D or outside [-1, 1]; and whatever :func:`ntklib.ntk` raises.

    >>> round(ntk_profile([1.0], d=2, depth=1).item(), 10)   # Theta(x, x) = 1/4 + 1/4 with |x| = 1, d = 2
    0.5
    """
    d = _dimension(d)
    t = finite(torch.as_tensor(t, dtype=torch.float64), "t")
    if t.ndim != 1 or t.numel() == 0 or bool((t.abs() > 1).any()):
        raise ValueError(f"t must be a non-empty 1-D array of cosines in [-1, 1], got shape {tuple(t.shape)}")
    x = torch.zeros(1, d, dtype=torch.float64)
    x[0, 0] = 1.0
    other = torch.zeros(t.numel(), d, dtype=torch.float64)
    other[:, 0], other[:, 1] = t, (1 - t * t).clamp_min(0).sqrt()
    return ntk(x, other, depth=depth, activation=activation, weight_std=weight_std, bias_std=bias_std)[0]


def harmonic_multiplicity(k: int, d: int) -> int:
    r"""Number :math:`N(d, k)` of linearly independent spherical harmonics of degree k on :math:`S^{d-1}`.

    :math:`N(d, 0) = 1`, :math:`N(d, k) = \frac{2k + d - 2}{k}\binom{k + d - 3}{d - 2}`: 2 on the
    circle, 2k + 1 on :math:`S^2`. Raises ValueError for k < 0 or d < 2 (TypeError if not ints).
    Reference: Atkinson and Han 2012, *Spherical Harmonics and Approximations on the Unit Sphere*.

    >>> [harmonic_multiplicity(k, 3) for k in range(4)], harmonic_multiplicity(5, 2)
    ([1, 3, 5, 7], 2)
    """
    k, d = count(k, "k"), _dimension(d)
    return 1 if k == 0 else (2 * k + d - 2) * math.comb(k + d - 3, d - 2) // k


def sphere_eigenvalues(kernel: Callable[[torch.Tensor], torch.Tensor], degrees, *, d: int,
                       nodes: int = 256) -> torch.Tensor:
    r"""Eigenvalues :math:`\mu_k` of a dot-product kernel on :math:`S^{d-1}` by the Funk-Hecke formula.

    Each :math:`\mu_k` (module docstring) is computed by Gauss-Legendre quadrature in the angle
    :math:`\gamma \in [0, \pi]` with ``nodes`` nodes; exact to round-off for a kernel smooth
    in :math:`\gamma`, such as the ReLU NTK of one hidden layer.

    Args:
        kernel: maps a 1-D float64 tensor of cosines t to :math:`\kappa(t)` of the same shape
            (e.g. ``lambda t: ntk_profile(t, d=3, depth=1)``).
        degrees: non-negative integer degrees k (a list or 1-D array).
        d: ambient dimension >= 2 (the circle is d = 2). nodes: quadrature nodes >= 2.

    Returns:
        float64 tensor of :math:`\mu_k`, one per degree, each with multiplicity
        :func:`harmonic_multiplicity` (k, d).

    Raises:
        TypeError: kernel not callable, non-integer degrees. ValueError: negative degrees, d < 2,
            nodes < 2, kernel output of the wrong shape or not finite.

    Reference: Bietti and Mairal 2019 (``bietti2019``), Sec. 3; Basri et al. 2019 (``basri2019``).

    >>> mu = sphere_eigenvalues(torch.exp, [0, 1, 2], d=2)   # e^{cos g} = I_0(1) + 2 sum I_k(1) cos kg
    >>> [round(v, 6) for v in mu.tolist()]
    [1.266066, 0.565159, 0.135748]
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be callable, got {type(kernel).__name__}")
    d, nodes = _dimension(d), count(nodes, "nodes", minimum=2)
    ks = np.asarray(degrees)
    if ks.ndim != 1 or ks.size == 0 or not np.issubdtype(ks.dtype, np.integer):
        raise TypeError(f"degrees must be a non-empty 1-D list of ints, got {degrees!r}")
    if (ks < 0).any():
        raise ValueError(f"degrees must be >= 0, got {ks.tolist()}")
    from scipy.special import eval_jacobi, gammaln

    z, w = np.polynomial.legendre.leggauss(nodes)
    gamma, w = (z + 1) * math.pi / 2, w * math.pi / 2
    t = np.cos(gamma)
    values = kernel(torch.as_tensor(t, dtype=torch.float64))
    if not isinstance(values, torch.Tensor) or values.shape != (nodes,):
        raise ValueError(f"kernel must return a tensor of shape ({nodes},), got {getattr(values, 'shape', type(values))}")
    values = finite(values.detach().to(torch.float64), "kernel(t)").numpy()
    a = (d - 3) / 2  # Jacobi P^(a, a) is proportional to the Gegenbauer polynomial of S^{d-1}
    poly = eval_jacobi(ks[:, None], a, a, t[None, :]) / eval_jacobi(ks, a, a, 1.0)[:, None]
    log_ratio = gammaln((d - 1) / 2 + 0.5) - gammaln((d - 1) / 2) - 0.5 * math.log(math.pi)  # omega_{d-2}/omega_{d-1}
    mu = math.exp(log_ratio) * (poly * (values * np.sin(gamma) ** (d - 2) * w)[None, :]).sum(1)
    return torch.as_tensor(mu, dtype=torch.float64)


def frequency_norms(values) -> torch.Tensor:
    r"""Norms :math:`\|P_k v\|` of the projections of samples :math:`v_j = v(2\pi j/N)` on each frequency k.

    :math:`P_k` projects on the span of :math:`\cos k\gamma_j, \sin k\gamma_j` (the eigenspaces of
    any circulant Gram matrix on the N equispaced points of :func:`ntklib.data.circle`), for
    k = 0, ..., N // 2; so :math:`\sum_k \|P_k v\|^2 = \|v\|^2`. ``values`` is (N,) or (N, 1).

    Returns:
        float64 tensor (N // 2 + 1,) of :math:`\|P_k v\|` (from ``torch.fft.rfft``).

    Raises:
        ValueError: values not of shape (N,) or (N, 1) with N >= 1, or not finite.

    Reference: Basri et al. 2019 (``basri2019``) measure the residual in these modes.

    >>> g = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    >>> [round(v, 6) for v in frequency_norms(3 * torch.cos(2 * g)).tolist()]   # ||3 cos 2g|| = 3 sqrt(N/2)
    [0.0, 0.0, 6.0, 0.0, 0.0]
    """
    v = finite(torch.as_tensor(values, dtype=torch.float64), "values")
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1 or v.numel() == 0:
        raise ValueError(f"values must have shape (N,) or (N, 1), got {tuple(v.shape)}")
    n = v.numel()
    power = torch.fft.rfft(v).abs() ** 2 / n
    power[1 : (n + 1) // 2] *= 2  # cos and sin of 0 < k < N/2 share one coefficient
    return power.sqrt()


class Trajectory(NamedTuple):
    """Per step k = 0..K: loss (K+1,), outputs f_k(X) (K+1, N), lambda_max(Theta_k) (K+1,), and a divergence flag."""

    loss: torch.Tensor
    outputs: torch.Tensor
    lambda_max: torch.Tensor
    diverged: bool


def gd_trajectory(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, learning_rate: float, steps: int,
                  ntk_every: int = 1, blowup: float = 1e12) -> Trajectory:
    r"""Full-batch gradient descent on :math:`\frac{1}{2N}\|f(X) - Y\|^2`, recording outputs and :math:`\lambda_{max}(\Theta_k)`.

    Trains ``model`` in place with :math:`\theta_{k+1} = \theta_k - \eta\nabla L(\theta_k)`. Before
    each step it records the loss, the outputs on ``x`` and, every ``ntk_every`` steps (never
    if 0), the top eigenvalue of the empirical NTK :math:`\Theta_k = J J^T` (N, N) on ``x``
    (NaN in between). Stops early, with ``diverged=True``, once the loss exceeds ``blowup``
    times its initial value or is not finite. With a constant kernel the step is stable iff
    :math:`\eta < 2N/\lambda_{max}`.

    Args:
        model: a one-output ``nn.Module`` on (N, d) inputs. x: (N, d). y: N targets.
        learning_rate: :math:`\eta > 0`. steps: number of steps >= 0.
        ntk_every: record :math:`\lambda_{max}` every this many steps (0: never). blowup: > 1.

    Returns:
        ``Trajectory(loss, outputs, lambda_max, diverged)``, float64, over the recorded steps.

    Raises:
        TypeError: x or y not tensors. ValueError: mismatched rows, non-finite inputs,
            learning_rate <= 0, steps or ntk_every < 0, blowup <= 1.

    Reference: Lewkowycz et al. 2020 (``lewkowycz2020``); Cohen et al. 2021 (``cohen2021``).

    >>> net = torch.nn.Linear(1, 1, bias=False); x = torch.ones(2, 1)
    >>> run = gd_trajectory(net, x, 0 * x, learning_rate=0.5, steps=3)
    >>> [round(v, 6) for v in run.lambda_max.tolist()], run.diverged   # Theta = x x^T: lambda = 2
    ([2.0, 2.0, 2.0, 2.0], False)
    """
    eta, steps, blowup = positive(learning_rate, "learning_rate"), count(steps, "steps"), positive(blowup, "blowup")
    every = count(ntk_every, "ntk_every")
    if blowup <= 1:
        raise ValueError(f"blowup must be > 1, got {blowup}")
    check_xy(x, y)
    params = [p for p in model.parameters() if p.requires_grad]
    losses, outputs, tops, diverged = [], [], [], False
    for k in range(steps + 1):
        f = model(x)
        loss = mse_loss(f, y.reshape(f.shape))
        losses.append(loss.item())
        outputs.append(f.detach().reshape(-1))
        if not math.isfinite(losses[-1]) or losses[-1] > blowup * max(losses[0], 1e-300):
            diverged = True
            tops.append(math.nan)
            break
        record = every > 0 and k % every == 0
        tops.append(torch.linalg.eigvalsh(_as_matrix(empirical_ntk(model, x)))[-1].item() if record else math.nan)
        if k == steps:
            break
        gd_step(loss, params, eta)
    as64 = lambda v: torch.tensor(v, dtype=torch.float64)
    return Trajectory(as64(losses), torch.stack(outputs).to(torch.float64), as64(tops), diverged)
