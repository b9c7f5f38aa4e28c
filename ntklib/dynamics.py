r"""Closed-form gradient flow and gradient descent for the MSE loss of a linear(ized) model.

Loss :math:`L = \frac{1}{2N}\|f(X) - Y\|^2`, kernel :math:`\Theta = \Theta(X, X)`, learning
rate :math:`\eta`. Gradient flow :math:`\dot f = -\frac{\eta}{N}\Theta(f - Y)` gives (Lee et al. 2019, eqs. 8-9)

.. math::

    f_t(X) = Y + e^{-\eta\Theta t/N}(f_0(X) - Y),

    f_t(x) = f_0(x) - \Theta(x, X)\,\Theta^{-1}(I - e^{-\eta\Theta t/N})(f_0(X) - Y),

and at :math:`t = \infty` kernel regression :math:`f_\infty(x) = f_0(x) + \Theta(x,X)\Theta^{-1}(Y - f_0(X))`.
Gradient descent with step :math:`\eta`: :math:`f_k = Y + (I - \eta\Theta/N)^k (f_0 - Y)`, stable iff
:math:`\eta < 2N/\lambda_{max}`.

Everything goes through one eigen-decomposition :math:`\Theta = V \operatorname{diag}(\lambda) V^T`; the
factor :math:`\Theta^{-1}(I - e^{-\eta\Theta t/N})` is :math:`V \operatorname{diag}(-\operatorname{expm1}(-\eta\lambda t/N)/\lambda) V^T`,
finite for every t < inf even when :math:`\Theta` is singular (its limit at :math:`\lambda = 0` is :math:`\eta t/N`).
Inputs may be NumPy arrays or tensors; everything is computed and returned in float64.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import numpy as np
import torch

from ._validate import as_tensor, count, finite, positive


class Prediction(NamedTuple):
    """Outputs on the training points (N, k) and test points (M, k) (None without test kernels)."""

    train: torch.Tensor
    test: Optional[torch.Tensor]


class Spectrum(NamedTuple):
    values: torch.Tensor
    vectors: torch.Tensor


def tolerance(k: torch.Tensor) -> float:
    """Relative round-off allowed in a kernel matrix: 1e-8, or 64 sqrt(N) eps of its dtype if larger (float32)."""
    return max(1e-8, 64 * math.sqrt(k.shape[0]) * torch.finfo(k.dtype).eps)


def spectrum(k: torch.Tensor, name: str = "k_train_train") -> Spectrum:
    """Eigen-decomposition of a symmetric PSD kernel matrix; refuses non-symmetric or non-PSD input.

    The tolerances follow the dtype of ``k`` (:func:`tolerance`); ``k`` is symmetrised and
    decomposed in float64. Eigenvalues below N eps lambda_max are round-off of a null space and
    are set to exactly 0, so those modes never move (also at very large t).
    """
    k = finite(as_tensor(k, name), name)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        raise ValueError(f"{name} must be a square (N, N) matrix, got shape {tuple(k.shape)}")
    tol, k = tolerance(k), k.to(torch.float64)
    scale = k.abs().max().clamp_min(torch.finfo(k.dtype).tiny)
    if bool(((k - k.T).abs() > tol * scale).any()):
        raise ValueError(f"{name} must be symmetric (to {tol:.1e} relative)")
    values, vectors = torch.linalg.eigh((k + k.T) / 2)
    if values[0] < -tol * values[-1].abs().clamp_min(torch.finfo(k.dtype).tiny):
        raise ValueError(f"{name} must be positive semi-definite, smallest eigenvalue {values[0].item():.3e}")
    null = values <= k.shape[0] * torch.finfo(k.dtype).eps * values[-1]
    return Spectrum(values.masked_fill(null, 0.0), vectors)


def _targets(y, n: int, name: str, like: torch.Tensor) -> torch.Tensor:
    y = finite(as_tensor(y, name, like=like), name).to(torch.float64)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k), got {tuple(y.shape)}")
    return y


def _times(t) -> tuple[torch.Tensor, bool]:
    """Times as a 1-D float64 tensor, and whether ``t`` was one number (a float, 0-d array or tensor)."""
    if isinstance(t, torch.Tensor):
        times = t.detach().to("cpu", torch.float64)
    else:
        try:
            times = torch.as_tensor(np.asarray(t, dtype=np.float64))
        except (TypeError, ValueError):
            raise TypeError(f"t must be a number or a 1-D sequence of numbers, got {type(t).__name__}") from None
    if times.ndim > 1:
        raise ValueError(f"t must be a number or a 1-D sequence of times, got shape {tuple(times.shape)}")
    if times.numel() == 0 and times.ndim == 1:
        raise ValueError("t must hold at least one time")
    if bool(torch.isnan(times).any()) or bool((times < 0).any()):
        raise ValueError(f"t must be >= 0 (math.inf allowed), got {t}")
    return times.reshape(-1), times.ndim == 0


def mse_predictor(k_train_train, y_train, *, learning_rate: float = 1.0, k_test_train=None, f0_train=None,
                  f0_test=None) -> Callable[..., Prediction]:
    r"""Return ``predict(t)``: the exact gradient-flow outputs at time t for :math:`L = \frac{1}{2N}\|f - Y\|^2`.

    Args:
        k_train_train: :math:`\Theta(X, X)`, (N, N), symmetric PSD.
        y_train: targets (N,) or (N, k).
        learning_rate: :math:`\eta > 0`.
        k_test_train: :math:`\Theta(x, X)`, (M, N), or None.
        f0_train, f0_test: outputs at initialization, shaped like the targets (default 0).

    Returns:
        ``predict(t)`` with t >= 0 a float, ``math.inf`` (kernel regression), or a 1-D sequence
        of times (list, range, NumPy array, tensor: outputs then get a leading time axis, one
        entry per time); it returns ``Prediction(train, test)``. Time t counts gradient-flow
        time in units of the step: :math:`e^{-\eta\Theta t/N}` (neural-tangents writes the same
        flow with the loss normalised by N k for k outputs, so its time differs by that factor).

    Raises:
        ValueError: shapes, non-finite values, non-symmetric or non-PSD kernel, learning_rate <= 0,
            t < 0, and t = inf with a singular kernel.

    Reference: Lee et al. 2019 (``lee2019``), eqs. (8)-(9); Jacot et al. 2018 (``jacot2018``).

    >>> predict = mse_predictor(torch.eye(2), torch.tensor([1.0, -1.0]), learning_rate=2.0)
    >>> predict(1.0).train   # Y (1 - exp(-eta t / N))
    tensor([ 0.6321, -0.6321], dtype=torch.float64)
    """
    eta = positive(learning_rate, "learning_rate")
    values, vectors = spectrum(k_train_train)
    n = values.shape[0]
    y = _targets(y_train, n, "y_train", vectors)
    r0 = (_targets(f0_train, n, "f0_train", vectors) if f0_train is not None else torch.zeros_like(y)) - y
    if r0.shape != y.shape:
        raise ValueError(f"f0_train must have the shape of y_train {tuple(y.shape)}, got {tuple(r0.shape)}")
    coeff = vectors.T @ r0.reshape(n, -1)  # residual in the eigenbasis, (N, k)
    kx = None
    if k_test_train is not None:
        kx = finite(as_tensor(k_test_train, "k_test_train", like=vectors), "k_test_train").to(torch.float64)
        if kx.ndim != 2 or kx.shape[1] != n:
            raise ValueError(f"k_test_train must have shape (M, {n}), got {tuple(kx.shape)}")
        f0x = torch.zeros(kx.shape[0], *y.shape[1:], dtype=y.dtype, device=y.device) if f0_test is None else \
            _targets(f0_test, kx.shape[0], "f0_test", vectors)
        kxv = kx @ vectors
    singular = bool(values[0] <= n * torch.finfo(values.dtype).eps * values[-1])

    def predict(t) -> Prediction:
        times, scalar = _times(t)
        if singular and bool(torch.isinf(times).any()):
            raise ValueError("k_train_train is singular: t = inf (kernel regression) needs an invertible kernel")
        rate = (eta / n) * times[:, None].to(values) * values[None, :]  # (T, N)
        decay = torch.where(torch.isinf(rate), torch.zeros_like(rate), torch.exp(-rate))
        train = y + (vectors @ (decay[:, :, None] * coeff)).reshape(-1, *y.shape)
        test = None
        if kx is not None:  # Theta^-1 (I - e^{-eta Theta t/N}) in the eigenbasis, finite at lambda = 0
            safe = torch.where(values > 0, values, torch.ones_like(values))
            gain = torch.where(values > 0, -torch.expm1(-rate) / safe, (eta / n) * times[:, None].to(values).expand_as(rate))
            test = f0x - (kxv @ (gain[:, :, None] * coeff)).reshape(-1, *f0x.shape)
        if scalar:
            return Prediction(train[0], None if test is None else test[0])
        return Prediction(train, test)

    return predict


def gd_matrix_power(k_train_train, y_train, *, learning_rate: float, steps: int, f0_train=None) -> torch.Tensor:
    r"""Training outputs after ``steps`` steps of gradient descent on the linear model: :math:`Y + (I - \eta\Theta/N)^k (f_0 - Y)`.

    >>> gd_matrix_power(torch.eye(2), torch.tensor([1.0, 1.0]), learning_rate=1.0, steps=3)   # 1 - (1/2)^3
    tensor([0.8750, 0.8750], dtype=torch.float64)
    """
    eta, steps = positive(learning_rate, "learning_rate"), count(steps, "steps")
    k = spectrum(k_train_train)  # validates
    n = k.values.shape[0]
    kk = as_tensor(k_train_train, "k_train_train").to(k.vectors)  # float64
    y = _targets(y_train, n, "y_train", k.vectors)
    f0 = _targets(f0_train, n, "f0_train", k.vectors) if f0_train is not None else torch.zeros_like(y)
    step = torch.eye(n, dtype=kk.dtype, device=kk.device) - (eta / n) * kk
    return y + (torch.linalg.matrix_power(step, steps) @ (f0 - y).reshape(n, -1)).reshape(y.shape)


def max_learning_rate(k_train_train) -> float:
    r"""The largest stable gradient-descent step :math:`2N/\lambda_{max}(\Theta)` for :math:`L = \frac{1}{2N}\|f-Y\|^2`.

    >>> max_learning_rate(torch.eye(4))
    8.0
    """
    values = spectrum(k_train_train).values
    if values[-1] <= 0:
        raise ValueError("k_train_train must have a positive eigenvalue")
    return float(2 * values.shape[0] / values[-1])
