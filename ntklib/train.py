r"""Full-batch gradient descent on the MSE loss, recording what the NTK theory predicts.

Loss :math:`L(\theta) = \frac{1}{2N}\|f(\theta, X) - Y\|^2`; step
:math:`\theta_{k+1} = \theta_k - \eta \nabla_\theta L(\theta_k)`, which on a linear model moves
the outputs by :math:`f_{k+1} = f_k - \frac{\eta}{N}\Theta(f_k - Y)`. Recorded every
``record_every`` steps (and at the end): the loss, the relative parameter change
:math:`\|\theta_k - \theta_0\|/\|\theta_0\|` and, if ``ntk_x`` is given, the relative NTK change
:math:`\|\Theta_k - \Theta_0\|_F/\|\Theta_0\|_F` on ``ntk_x`` (Lee et al. 2019, Fig. 1).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ._validate import count, finite, positive
from .empirical import empirical_ntk


class History(NamedTuple):
    """Recorded steps (K,), loss (K,), param_change (K,) and ntk_change (K,) or empty (0,) without ntk_x."""

    step: torch.Tensor
    loss: torch.Tensor
    param_change: torch.Tensor
    ntk_change: torch.Tensor


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """All trainable parameters of ``model`` as one detached 1-D tensor (a copy)."""
    params = [p.detach().reshape(-1) for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have trainable parameters")
    return torch.cat(params).clone()


def mse_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r""":math:`\frac{1}{2N}\|f - y\|^2` with N = number of rows.

    >>> mse_loss(torch.tensor([[1.0], [3.0]]), torch.zeros(2, 1))
    tensor(2.5000)
    """
    return (f - y).pow(2).sum() / (2 * f.shape[0])


def check_xy(x, y) -> None:
    """Refuse inputs and targets that are not finite tensors with the same number of rows."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("x and y must be torch.Tensors")
    finite(x, "x"), finite(y, "y")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have {x.shape[0]} rows like x, got {y.shape[0]}")


def gd_step(loss: torch.Tensor, params: list, eta: float) -> None:
    r"""One gradient-descent step :math:`\theta \leftarrow \theta - \eta \nabla L` on ``params``, in place."""
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(eta * g)


def train_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, learning_rate: float, steps: int,
              record_every: int = 1, ntk_x: torch.Tensor | None = None) -> History:
    r"""Train ``model`` in place by full-batch gradient descent on :math:`\frac{1}{2N}\|f(X) - Y\|^2`.

    Args:
        model: an ``nn.Module`` mapping (N, d) to (N, O) (or (N,)). Only parameters with
            ``requires_grad`` are trained (freeze some to train a subset).
        x: inputs (N, d). y: targets with N rows, reshaped to the model's output shape.
        learning_rate: :math:`\eta > 0`. steps: number of steps >= 0.
        record_every: record every this many steps (step 0 and the last step always).
        ntk_x: inputs on which to track the empirical NTK, or None.

    Returns:
        ``History(step, loss, param_change, ntk_change)`` (float64 tensors).

    Raises:
        TypeError/ValueError: non-tensor or non-finite inputs, mismatched rows, bad step counts;
        ValueError if the loss becomes non-finite (learning rate too large).

    >>> net = torch.nn.Linear(1, 1); x = torch.ones(4, 1); h = train_mse(net, x, 2 * x, learning_rate=0.5, steps=50)
    >>> h.loss[-1].item() < 1e-6
    True
    """
    eta, steps, every = positive(learning_rate, "learning_rate"), count(steps, "steps"), count(record_every, "record_every", minimum=1)
    check_xy(x, y)
    params = [p for p in model.parameters() if p.requires_grad]
    theta0 = flat_parameters(model)
    norm0 = theta0.norm().clamp_min(torch.finfo(theta0.dtype).tiny)
    ntk0 = empirical_ntk(model, ntk_x) if ntk_x is not None else None
    record = {"step": [], "loss": [], "param_change": [], "ntk_change": []}
    for k in range(steps + 1):
        f = model(x)
        loss = mse_loss(f, y.reshape(f.shape))
        if not torch.isfinite(loss):
            raise ValueError(f"the loss became non-finite at step {k}: learning_rate={eta} is too large")
        if k % every == 0 or k == steps:
            record["step"].append(k)
            record["loss"].append(loss.item())
            record["param_change"].append(((flat_parameters(model) - theta0).norm() / norm0).item())
            if ntk0 is not None:
                record["ntk_change"].append(((empirical_ntk(model, ntk_x) - ntk0).norm() / ntk0.norm()).item())
        if k == steps:
            break
        gd_step(loss, params, eta)
    as64 = lambda v: torch.tensor(v, dtype=torch.float64)
    return History(torch.tensor(record["step"]), as64(record["loss"]), as64(record["param_change"]), as64(record["ntk_change"]))
