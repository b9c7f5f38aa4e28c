r"""The first-order Taylor model of a network in its parameters (Lee et al. 2019, eq. 4).

.. math:: f^{lin}(\theta, x) = f(\theta_0, x) + J(\theta_0, x)\,(\theta - \theta_0)

computed with one forward-mode product (``torch.func.jvp``), never forming J. The model is
an ``nn.Module`` whose parameters start at :math:`\theta_0` and train like the network's;
its NTK is the network's NTK at :math:`\theta_0`, for all :math:`\theta`.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

from .empirical import check_model, jvp


class Linearized(nn.Module):
    """``f(theta0, x) + J(theta0, x)(theta - theta0)``; see :func:`linearize`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        base = copy.deepcopy(model)
        object.__setattr__(self, "base", base)  # not a submodule: its parameters are theta0, not trained
        trainable = [(name, p) for name, p in base.named_parameters() if p.requires_grad]  # frozen stay at theta0
        self.names = [name for name, _ in trainable]
        self.params = nn.ParameterList(nn.Parameter(p.detach().clone()) for _, p in trainable)
        for i, (_, p) in enumerate(trainable):
            self.register_buffer(f"theta0_{i}", p.detach().clone())

    def theta0(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, f"theta0_{i}") for i, n in enumerate(self.names)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta0 = self.theta0()
        delta = {n: p - theta0[n] for n, p in zip(self.names, self.params)}
        f0, df = jvp(lambda p: functional_call(self.base, p, (x,)), (theta0,), (delta,))
        return f0 + df


def linearize(model: nn.Module) -> Linearized:
    r"""Return the linearization :math:`f(\theta_0) + J(\theta_0)(\theta - \theta_0)` of ``model`` at its current parameters.

    The result is an ``nn.Module``: train it with any optimizer or :func:`ntklib.train_mse`.
    ``model`` is copied, so later changes to it do not change the linearization. Only the
    trainable parameters (``requires_grad=True``) become parameters of the linearization;
    frozen ones stay at their values, as they would in training.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``. ValueError: ``model`` has no trainable
            parameters, or BatchNorm/Dropout in training mode.

    Reference: Lee et al. 2019 (``lee2019``), eq. (4).

    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    >>> x = torch.randn(5, 2); lin = linearize(net)
    >>> bool(torch.allclose(lin(x), net(x)))   # equal at theta0
    True
    """
    check_model(model)
    return Linearized(model)
