r"""Width scalings of a deep network: standard, NTK and maximal-update (muP) parameterizations.

A bias-free network with L hidden layers of width n on inputs of dimension d computes

.. math:: h^{(1)} = c_1 W^{(1)} x, \quad h^{(l)} = c_l W^{(l)} \phi(h^{(l-1)}), \quad
          f(x) = c_{L+1} W^{(L+1)} \phi(h^{(L)}),

with :math:`W^{(l)}_{ij} \sim N(0, s_l^2)`, trained by gradient descent on every weight with
the one learning rate :math:`\eta\, r`. The three parameterizations (Yang and Hu 2021,
``yang2021``; Yang et al. 2021, Table 3, ``yang2021transfer``, up to a width-independent constant)::

    standard  c = (1, 1, ..., 1)                       s = (d^-1/2, n^-1/2, ..., n^-1/2)  r = 1
    ntk       c = (d^-1/2, n^-1/2, ..., n^-1/2)        s = 1                              r = 1
    mup       c = (d^-1/2, n^-1/2, ..., n^-1/2, n^-1)  s = 1                              r = n

All three compute the same kind of random function at initialization (muP's output is
smaller by n^-1/2). In NTK parameterization one step moves every hidden feature by
O(n^-1/2) (the kernel regime); in muP by O(1) (feature learning); with L = 1, muP is the
mean-field scaling of chapter 11.
"""
from __future__ import annotations

import math
from typing import Callable, Literal

import torch
from torch import nn

from ._validate import choice, count, positive
from .lazy import relative_change
from .train import check_xy, train_mse

Parameterization = Literal["standard", "ntk", "mup"]
PARAMETERIZATIONS = ("standard", "ntk", "mup")


class ScaledMLP(nn.Module):
    r"""Bias-free MLP with ``depth`` hidden layers of ``width`` units in one of three scalings.

    The layer multipliers :math:`c_l`, initial standard deviations :math:`s_l` and the
    learning-rate factor :math:`r` are those of the module docstring; train it with
    ``learning_rate = eta * model.learning_rate_scale``. Output shape (N, 1).

    Args:
        in_features: input dimension d >= 1. width: hidden width n >= 1.
        depth: number of hidden layers L >= 1 (``depth=2`` is a three-layer net).
        parameterization: ``"standard"``, ``"ntk"`` or ``"mup"``.
        activation: an elementwise torch callable (default ``torch.relu``).
        centred: if True, the last hidden layer's units come in pairs with equal incoming
            weights and opposite readout weights, so that :math:`f(\theta_0) = 0` up to
            round-off (Chizat et al. 2019's symmetric initialization; needs an even width).

    Raises:
        ValueError: a count below 1, an unknown ``parameterization``, or an odd width with
            ``centred``.
        TypeError: ``activation`` not callable.

    Reference: Yang and Hu 2021 (``yang2021``), the abc-parameterizations and muP.

    >>> net = ScaledMLP(3, 16, depth=2, parameterization="mup")
    >>> net(torch.ones(5, 3)).shape, net.learning_rate_scale
    (torch.Size([5, 1]), 16)
    """

    def __init__(self, in_features: int, width: int, depth: int = 2, *,
                 parameterization: Parameterization = "mup",
                 activation: Callable[[torch.Tensor], torch.Tensor] = torch.relu,
                 centred: bool = False):
        super().__init__()
        d, n = count(in_features, "in_features", minimum=1), count(width, "width", minimum=1)
        depth = count(depth, "depth", minimum=1)
        choice(parameterization, "parameterization", PARAMETERIZATIONS)
        if not callable(activation):
            raise TypeError(f"activation must be callable, got {type(activation).__name__}")
        fan_in = [d] + [n] * depth
        sizes = list(zip([n] * depth + [1], fan_in))
        if parameterization == "standard":
            self.multipliers = [1.0] * (depth + 1)
            stds = [1 / math.sqrt(k) for k in fan_in]
        else:
            self.multipliers = [1 / math.sqrt(k) for k in fan_in]
            stds = [1.0] * (depth + 1)
            if parameterization == "mup":
                self.multipliers[-1] = 1.0 / n
        if centred and n % 2:
            raise ValueError(f"width must be even when centred=True, got {n}")
        draws = [torch.randn(*size) * std for size, std in zip(sizes, stds)]
        if centred:  # pair unit i with unit i + n/2: same input weights, opposite readout
            draws[-2][n // 2:] = draws[-2][: n // 2]
            draws[-1][:, n // 2:] = -draws[-1][:, : n // 2]
        self.weights = nn.ParameterList(nn.Parameter(w) for w in draws)
        self.learning_rate_scale = n if parameterization == "mup" else 1
        self.phi, self.width, self.depth = activation, n, depth
        self.in_features, self.parameterization = d, parameterization

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        r"""Hidden pre-activations :math:`h^{(1)}, \dots, h^{(L)}`, each (N, width)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {tuple(x.shape)}")
        out, h = [], x
        for layer in range(self.depth):  # index, never slice, the ParameterList: torch.func
            out.append(self.multipliers[layer] * h @ self.weights[layer].T)  # swaps entries
            h = self.phi(out[-1])
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.phi(self.features(x)[-1])
        return self.multipliers[self.depth] * h @ self.weights[self.depth].T


def feature_change(model: ScaledMLP, reference: ScaledMLP, x: torch.Tensor) -> torch.Tensor:
    r"""Relative change of each hidden layer's features, :math:`\|h^{(l)} - h^{(l)}_0\|_F / \|h^{(l)}_0\|_F`.

    ``reference`` is the model before training (a ``copy.deepcopy``). Returns a (depth,)
    tensor, one entry per hidden layer.

    Raises:
        ValueError: the two models have different depths or widths, or a reference layer is all zero.

    >>> net = ScaledMLP(2, 8); feature_change(net, net, torch.ones(3, 2))
    tensor([0., 0.])
    """
    if (model.depth, model.width) != (reference.depth, reference.width):
        raise ValueError("model and reference must have the same depth and width, got "
                         f"{(model.depth, model.width)} and {(reference.depth, reference.width)}")
    with torch.no_grad():
        pairs = zip(model.features(x), reference.features(x))
        return torch.tensor([relative_change(h, h0) for h, h0 in pairs], dtype=x.dtype)


def final_losses(parameterization: Parameterization, width: int, x: torch.Tensor, y: torch.Tensor,
                 *, learning_rate: float, steps: int, seeds, depth: int = 2,
                 activation: Callable[[torch.Tensor], torch.Tensor] = torch.relu) -> torch.Tensor:
    r"""Training loss :math:`\frac{1}{2N}\|f(X) - Y\|^2` after ``steps`` of gradient descent, one per seed.

    Each seed builds a fresh :class:`ScaledMLP` (``torch.manual_seed(seed)``) and trains it
    with the learning rate ``learning_rate * model.learning_rate_scale``. A run whose loss
    becomes non-finite (or exceeds 1e6, diverging) counts as ``inf``.

    Returns:
        A (len(seeds),) float64 tensor.

    Raises:
        ValueError: ``learning_rate`` not positive, ``steps`` negative, no seeds, x and y with
            different rows or non-finite entries. TypeError: x or y not tensors.

    >>> x = torch.randn(8, 2); final_losses("ntk", 16, x, x[:, :1], learning_rate=0.1,
    ...                                     steps=3, seeds=[0, 1]).shape
    torch.Size([2])
    """
    eta, steps, seeds = positive(learning_rate, "learning_rate"), count(steps, "steps"), list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, got an empty sequence")
    check_xy(x, y)  # bad inputs raise here, not as a "diverged" run below
    losses = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = ScaledMLP(x.shape[1], width, depth, parameterization=parameterization,
                        activation=activation)
        try:
            loss = train_mse(net, x, y, learning_rate=eta * net.learning_rate_scale,
                             steps=steps, record_every=max(steps, 1)).loss[-1].item()
        except ValueError:  # the loss became non-finite: diverged
            loss = math.inf
        losses.append(loss if loss < 1e6 else math.inf)
    return torch.tensor(losses, dtype=torch.float64)
