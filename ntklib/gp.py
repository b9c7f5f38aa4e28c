r"""Gaussian-process posteriors: Bayesian (exact conditioning) and the trained infinitely wide network.

Conditioning a joint Gaussian (Rasmussen and Williams 2006, eqs. 2.22-2.24):

.. math::

    \mu(x) = K(x, X)(K(X, X) + \sigma_n^2 I)^{-1} Y, \qquad
    \Sigma(x, x') = K(x, x') - K(x, X)(K(X, X) + \sigma_n^2 I)^{-1} K(X, x').

The outputs of an infinitely wide network trained by gradient flow on
:math:`\frac{1}{2N}\|f - Y\|^2` for time t are Gaussian (Lee et al. 2019, eqs. 15-16), with
:math:`A = \Theta(x, X)\Theta^{-1}(I - e^{-\eta\Theta t/N})`, :math:`\mathcal{K}` the NNGP kernel:

.. math::

    \mu(x) = A Y, \qquad
    \Sigma = \mathcal{K}(x, x) + A \mathcal{K}(X, X) A^T - (A \mathcal{K}(X, x) + \mathcal{K}(x, X) A^T).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ._validate import as_tensor, finite, nonneg, positive
from .dynamics import _targets, _times, spectrum


class Posterior(NamedTuple):
    """Mean (M,) or (M, k) and covariance (M, M) of the outputs at the test points."""

    mean: torch.Tensor
    covariance: torch.Tensor


def _kernel(k, name, shape, like=None):
    k = finite(as_tensor(k, name, like=like), name).to(torch.float64)
    if tuple(k.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(k.shape)}")
    return k


def gp_posterior(k_train_train, y_train, k_test_train, k_test_test, *, noise: float = 0.0) -> Posterior:
    r"""Posterior of a zero-mean GP with kernel K given :math:`Y = f(X) + \varepsilon`, :math:`\varepsilon \sim N(0, \sigma_n^2 I)`.

    Args:
        k_train_train: K(X, X), (N, N). y_train: (N,) or (N, k).
        k_test_train: K(x, X), (M, N). k_test_test: K(x, x), (M, M).
        noise: the noise variance :math:`\sigma_n^2 \ge 0`.

    Raises:
        ValueError: shapes, non-finite values, negative noise, or K(X, X) + noise I not
            positive definite (a singular kernel without noise: add noise).

    >>> post = gp_posterior(torch.eye(1), torch.tensor([2.0]), torch.tensor([[0.5]]), torch.eye(1), noise=1.0)
    >>> round(post.mean.item(), 6), round(post.covariance.item(), 6)   # 0.5 * 2 / 2, 1 - 0.25 / 2
    (0.5, 0.875)
    """
    noise = nonneg(noise, "noise")
    k = spectrum(k_train_train)
    n = k.values.shape[0]
    y = _targets(y_train, n, "y_train", k.vectors)
    kx = _kernel(k_test_train, "k_test_train", (as_tensor(k_test_train, "k_test_train").shape[0], n), k.vectors)
    kxx = _kernel(k_test_test, "k_test_test", (kx.shape[0], kx.shape[0]), k.vectors)
    shifted = k.values + noise
    if bool(shifted[0] <= n * torch.finfo(shifted.dtype).eps * shifted[-1]):
        raise ValueError("k_train_train + noise * I is singular: use noise > 0")
    proj = kx @ k.vectors  # K(x, X) V
    mean = (proj / shifted) @ (k.vectors.T @ y.reshape(n, -1))
    cov = kxx - (proj / shifted) @ proj.T
    return Posterior(mean.reshape(kx.shape[0], *y.shape[1:]), (cov + cov.T) / 2)


def ntk_gp_posterior(nngp_train_train, ntk_train_train, y_train, nngp_test_train, ntk_test_train, nngp_test_test, *,
                     learning_rate: float = 1.0, t: float = math.inf) -> Posterior:
    r"""Distribution of an infinitely wide network's test outputs after gradient flow for time t (Lee et al. 2019, eqs. 15-16).

    Args:
        nngp_train_train, ntk_train_train: :math:`\mathcal{K}(X, X)`, :math:`\Theta(X, X)` (N, N).
        y_train: (N,) or (N, k).
        nngp_test_train, ntk_test_train: :math:`\mathcal{K}(x, X)`, :math:`\Theta(x, X)` (M, N).
        nngp_test_test: :math:`\mathcal{K}(x, x)` (M, M).
        learning_rate: :math:`\eta > 0`.
        t: a time >= 0, ``math.inf``, or a 1-D sequence of times (then mean (T, M[, k]) and
            covariance (T, M, M), one entry per time).

    Raises:
        ValueError: shapes, non-finite or non-PSD kernels, t < 0, t = inf with a singular NTK.

    >>> one = torch.ones(1, 1)
    >>> post = ntk_gp_posterior(one, one, torch.tensor([3.0]), one, one, one)
    >>> round(post.mean.item(), 6), round(post.covariance.item(), 6)   # x = X: mean Y, no variance
    (3.0, 0.0)
    """
    eta = positive(learning_rate, "learning_rate")
    times, scalar = _times(t)
    theta = spectrum(ntk_train_train, "ntk_train_train")
    n = theta.values.shape[0]
    k = _kernel(nngp_train_train, "nngp_train_train", (n, n), theta.vectors)
    spectrum(k, "nngp_train_train")
    y = _targets(y_train, n, "y_train", theta.vectors)
    m = as_tensor(ntk_test_train, "ntk_test_train").shape[0]
    tx = _kernel(ntk_test_train, "ntk_test_train", (m, n), theta.vectors)
    kx = _kernel(nngp_test_train, "nngp_test_train", (m, n), theta.vectors)
    kxx = _kernel(nngp_test_test, "nngp_test_test", (m, m), theta.vectors)
    lam, v = theta.values, theta.vectors
    means, covs = [], []
    for time in times.tolist():
        if math.isinf(time):
            if bool(lam[0] <= 0):
                raise ValueError("ntk_train_train is singular: t = inf needs an invertible NTK")
            gain = 1 / lam
        else:
            safe = torch.where(lam > 0, lam, torch.ones_like(lam))
            gain = torch.where(lam > 0, -torch.expm1(-(eta * time / n) * lam) / safe, torch.full_like(lam, eta * time / n))
        a = ((tx @ v) * gain) @ v.T  # Theta(x,X) Theta^-1 (I - e^{-eta Theta t / N})
        cross = a @ kx.T
        cov = kxx + a @ k @ a.T - cross - cross.T
        means.append((a @ y.reshape(n, -1)).reshape(m, *y.shape[1:]))
        covs.append((cov + cov.T) / 2)
    if scalar:
        return Posterior(means[0], covs[0])
    return Posterior(torch.stack(means), torch.stack(covs))
