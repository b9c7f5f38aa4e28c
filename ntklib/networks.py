r"""Fully-connected networks in NTK (or standard) parameterization.

A dense layer in NTK parameterization (Jacot et al. 2018; neural-tangents' default) computes

.. math:: z = \frac{\sigma_w}{\sqrt{n_{in}}} W h + \sigma_b b, \qquad W_{ij}, b_i \sim N(0, 1),

and in standard parameterization :math:`z = W h + b` with :math:`W_{ij} \sim N(0, \sigma_w^2/n_{in})`,
:math:`b_i \sim N(0, \sigma_b^2)`. Both have the same function at initialization, hence the same
NNGP (:func:`ntklib.nngp`); the NTK differs (the gradients scale differently), and the
infinite-width NTK of :func:`ntklib.ntk` is that of the NTK parameterization.

``MLP(d, n, L)`` has L hidden layers (dense + activation) of width n and a dense readout:
L + 1 dense layers, output shape (N, out_features).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ._validate import choice, count, nonneg
from .activations import Activation, check_activation, dphi, phi

Parameterization = Literal["ntk", "standard"]


class Dense(nn.Module):
    r"""Affine layer :math:`z = \frac{\sigma_w}{\sqrt{n_{in}}} W h + \sigma_b b` (NTK) or :math:`z = W h + b` (standard).

    ``weight`` is (out_features, in_features). ``weight_scale`` and ``bias_scale`` are the
    constants multiplying W and b in the forward pass (1 in standard parameterization).

    >>> layer = Dense(3, 2, weight_std=2.0); layer.weight_scale == 2 / 3 ** 0.5
    True
    """

    def __init__(self, in_features: int, out_features: int, *, weight_std: float = 1.0, bias_std: float = 0.0,
                 parameterization: Parameterization = "ntk"):
        super().__init__()
        in_features, out_features = count(in_features, "in_features", minimum=1), count(out_features, "out_features", minimum=1)
        weight_std, bias_std = nonneg(weight_std, "weight_std"), nonneg(bias_std, "bias_std")
        choice(parameterization, "parameterization", ("ntk", "standard"))
        weight, bias = torch.randn(out_features, in_features), torch.randn(out_features)
        if parameterization == "ntk":
            self.weight_scale, self.bias_scale = weight_std / math.sqrt(in_features), bias_std
        else:
            weight, bias = weight * (weight_std / math.sqrt(in_features)), bias * bias_std
            self.weight_scale, self.bias_scale = 1.0, 1.0
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)
        self.in_features, self.out_features, self.parameterization = in_features, out_features, parameterization

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias * self.bias_scale, h, self.weight.T, alpha=self.weight_scale)


class MLP(nn.Module):
    r"""Fully-connected network with ``depth`` hidden layers of ``width`` units and a dense readout.

    Its infinite-width kernels are :func:`ntklib.nngp` and (NTK parameterization)
    :func:`ntklib.ntk` with the same ``depth``, ``activation``, ``weight_std``, ``bias_std``.

    Args:
        in_features: input dimension :math:`n_0 = d`.
        width: hidden width n. depth: number of hidden layers L >= 0.
        out_features: output dimension O.
        activation: ``"relu"``, ``"erf"``, ``"identity"`` or an elementwise torch callable.
        weight_std, bias_std: :math:`\sigma_w, \sigma_b \ge 0`.
        parameterization: ``"ntk"`` or ``"standard"``.

    Parameters are created with torch's default dtype and random generator (seed it).

    >>> MLP(3, 16, 2)(torch.ones(5, 3)).shape
    torch.Size([5, 1])
    """

    def __init__(self, in_features: int, width: int, depth: int, out_features: int = 1, activation: Activation = "relu",
                 weight_std: float = 1.0, bias_std: float = 0.0, parameterization: Parameterization = "ntk"):
        super().__init__()
        depth, width = count(depth, "depth"), count(width, "width", minimum=1)
        self.activation = check_activation(activation)
        self.phi, self.dphi = phi(activation), dphi(activation)
        sizes = [in_features] + [width] * depth + [out_features]
        kw = dict(weight_std=weight_std, bias_std=bias_std, parameterization=parameterization)
        self.layers = nn.ModuleList(Dense(a, b, **kw) for a, b in zip(sizes[:-1], sizes[1:]))
        self.in_features, self.width, self.depth, self.out_features = in_features, width, depth, out_features
        self.weight_std, self.bias_std, self.parameterization = weight_std, bias_std, parameterization

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {tuple(x.shape)}")
        dtype = self.layers[0].weight.dtype
        if x.dtype != dtype:
            raise ValueError(f"x has dtype {x.dtype} but the MLP's parameters have dtype {dtype}: convert one of them")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._check(x)
        for layer in self.layers[:-1]:
            h = self.phi(layer(h))
        return self.layers[-1](h)

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Hidden pre-activations :math:`z^{(1)}, \\dots, z^{(L)}`, each (N, width)."""
        h, out = self._check(x), []
        for layer in self.layers[:-1]:
            out.append(layer(h))
            h = self.phi(out[-1])
        return out
