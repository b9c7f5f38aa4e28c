r"""A convolutional network in NTK parameterization whose infinite-width kernels are :func:`ntklib.conv_kernels`.

Layer l (l = 1..L) computes, with :math:`W^{(l)} \in R^{C_l \times C_{l-1} \times q \times q}` and
:math:`b^{(l)} \in R^{C_l}` drawn N(0, 1) and zero padding (q - 1)/2,

.. math:: z^{(l)} = \frac{\sigma_w}{\sqrt{C_{l-1} q^2}}\, W^{(l)} * h^{(l-1)} + \sigma_b b^{(l)}, \qquad h^{(l)} = \phi(z^{(l)}),

with :math:`h^{(0)} = x` (N, C_0, H, W) and :math:`C_1 = \dots = C_L` = ``channels``. The readout is
an :class:`ntklib.Dense` layer on the pooled features :math:`\frac{1}{HW}\sum_p h^{(L)}_{:,p}`
(``"gap"``, fan-in C_L) or on the flattened :math:`h^{(L)}` (``"flatten"``, fan-in C_L H W, which
fixes the image size). Output (N, out_features).

The empirical NTK without the Jacobian (:meth:`CNN.layerwise_ntk`): for a layer with input h,
patches :math:`U = \mathrm{unfold}(h)` and back-propagated signals
:math:`\delta = \partial f / \partial z` (C_l, P), the weight and bias gradients are
:math:`c_w \delta U^\top` and :math:`c_b \delta 1`, so

.. math:: \Theta_l(x, x') = \sum_{p, p'} (\delta^\top \delta')_{pp'}\, \big(c_w^2 (U^\top U')_{pp'} + c_b^2\big),

with :math:`c_w = \sigma_w / \sqrt{C_{l-1} q^2}`, :math:`c_b = \sigma_b`: cost
N1 N2 P^2 (C_{l-1} q^2 + C_l) per layer, against N P_l for the Jacobian's rows and N1 N2 P_l to
contract them, P_l = C_l C_{l-1} q^2 parameters, and memory N1 N2 P^2 against the Jacobian's
N P_l: the layerwise path wins for few, small images and many channels (the infinite-width checks).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import choice, count, nonneg
from .activations import Activation, check_activation, phi
from .conv import _kernel_size
from .networks import Dense


class CNN(nn.Module):
    r"""``depth`` convolutional layers of ``channels`` channels, then a dense readout after pooling or flattening.

    Its infinite-width kernels (``channels`` to infinity) are :func:`ntklib.conv_kernels` with
    the same ``depth``, ``kernel_size``, ``activation``, ``weight_std``, ``bias_std``, ``readout``.

    Args:
        in_channels: C_0. channels: C_1 = ... = C_L. depth: L >= 0. kernel_size: odd q.
        out_features: O. activation: as for :class:`ntklib.MLP`.
        weight_std, bias_std: :math:`\sigma_w, \sigma_b \ge 0`. readout: ``"gap"`` or ``"flatten"``.
        image_size: (H, W), needed by ``readout="flatten"`` (its fan-in is C_L H W).

    Raises:
        ValueError/TypeError naming the argument (also for inputs that are not (N, C_0, H, W)).

    Parameters are created with torch's default dtype and random generator (seed it).

    >>> CNN(1, 8, 2)(torch.ones(5, 1, 6, 6)).shape
    torch.Size([5, 1])
    """

    def __init__(self, in_channels: int, channels: int, depth: int, kernel_size: int = 3, out_features: int = 1,
                 activation: Activation = "relu", weight_std: float = 1.0, bias_std: float = 0.0, readout: str = "gap",
                 *, image_size: tuple[int, int] | None = None):
        super().__init__()
        sizes = [count(in_channels, "in_channels", minimum=1)] + [count(channels, "channels", minimum=1)] * count(depth, "depth")
        self.kernel_size, self.readout = _kernel_size(kernel_size), choice(readout, "readout", ("gap", "flatten"))
        self.activation, self.phi = check_activation(activation), phi(activation)
        self.weight_std, self.bias_std = nonneg(weight_std, "weight_std"), nonneg(bias_std, "bias_std")
        q = self.kernel_size
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(b, a, q, q)) for a, b in zip(sizes[:-1], sizes[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.randn(b)) for b in sizes[1:])
        self.weight_scales = [self.weight_std / math.sqrt(a * q * q) for a in sizes[:-1]]
        features = sizes[-1]
        if self.readout == "flatten":
            if image_size is None or len(image_size) != 2:
                raise ValueError(f"image_size must be (H, W) for readout='flatten', got {image_size!r}")
            features *= count(image_size[0], "image_size[0]", minimum=1) * count(image_size[1], "image_size[1]", minimum=1)
        self.image_size = None if image_size is None else tuple(image_size)
        self.head = Dense(features, count(out_features, "out_features", minimum=1), weight_std=weight_std, bias_std=bias_std)
        self.in_channels, self.channels, self.depth, self.out_features = sizes[0], channels, len(sizes) - 1, out_features

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != self.in_channels or (self.readout == "flatten" and tuple(x.shape[2:]) != self.image_size):
            want = "(N, C, H, W)" if self.readout == "gap" else f"(N, C, {self.image_size[0]}, {self.image_size[1]})"
            raise ValueError(f"x must have shape {want.replace('C', str(self.in_channels))}, got {tuple(x.shape)}")
        dtype = self.head.weight.dtype
        if x.dtype != dtype:
            raise ValueError(f"x has dtype {x.dtype} but the CNN's parameters have dtype {dtype}: convert one of them")
        return x

    def hidden(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Layer inputs :math:`h^{(0)}, \\dots, h^{(L)}` and pre-activations :math:`z^{(1)}, \\dots, z^{(L)}`."""
        hs, zs = [self._check(x)], []
        for w, b, c in zip(self.weights, self.biases, self.weight_scales):
            zs.append(F.conv2d(hs[-1], w * c, b * self.bias_std, padding=self.kernel_size // 2))
            hs.append(self.phi(zs[-1]))
        return hs, zs

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        return h.mean((2, 3)) if self.readout == "gap" else h.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._features(self.hidden(x)[0][-1]))

    def layerwise_ntk(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        r"""Empirical NTK (N1, N2, O, O), the sum over layers of the formula above; never forms the Jacobian.

        Equal to ``ntklib.empirical_ntk(model, x1, x2, method="jacobian")`` (before its squeeze)
        up to round-off; only trainable parameters (``requires_grad``) count, as there. Memory
        N1 N2 O^2 P^2 per layer.
        """
        h1, d1 = self._signals(x1)
        h2, d2 = (h1, d1) if x2 is None else self._signals(x2)
        o = self.out_features
        eye = torch.eye(o, dtype=h1[0].dtype, device=h1[0].device)
        square = lambda scale, p: scale**2 if p.requires_grad else 0.0  # a frozen parameter adds no term
        f1, f2 = self._features(h1[-1]), self._features(h2[-1])
        head = self.head
        theta = ((f1 @ f2.T) * square(head.weight_scale, head.weight)
                 + square(head.bias_scale, head.bias))[:, :, None, None] * eye
        q = self.kernel_size
        for a, b, da, db, c, w, bias in zip(h1, h2, d1, d2, self.weight_scales, self.weights, self.biases):
            ua, ub = (F.unfold(t, q, padding=q // 2) for t in (a, b))  # (N, C q^2, P)
            gram = torch.einsum("akp,bkr->abpr", ua, ub).mul_(square(c, w)).add_(square(self.bias_std, bias))
            signal = torch.einsum("aocp,bvcr->abovpr", da.flatten(3), db.flatten(3))  # (delta^T delta')_pp'
            theta += signal.mul_(gram[:, :, None, None]).sum((4, 5))
        return theta

    def _signals(self, x: torch.Tensor):
        """Layer inputs h and delta = d f_o / d z^(l) for each output o, each (N, O, C_l, H, W)."""
        with torch.enable_grad():
            hs, zs = self.hidden(x.detach().requires_grad_(True))
            out = self.head(self._features(hs[-1]))
            deltas = [torch.stack(g, 1) for g in zip(*(torch.autograd.grad(out[:, k].sum(), zs, retain_graph=True)
                                                       for k in range(self.out_features)))] if zs else []
        return [h.detach() for h in hs], deltas
