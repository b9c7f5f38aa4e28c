r"""Monte Carlo estimates of the NNGP kernel over random networks (to check the analytic kernels).

For S independent random networks :math:`f_s` of width n (NTK parameterization, as :class:`ntklib.MLP`),
the estimate :math:`\hat K(x, x') = \frac{1}{S}\sum_s f_s(x) f_s(x')` converges to the NNGP
:math:`\Sigma^{(L+1)}(x, x')` as :math:`n \to \infty` (bias :math:`O(1/n)`), with standard error
:math:`\operatorname{sd}_s(f_s(x) f_s(x'))/\sqrt{S}`. The S networks run as one batched computation.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ._validate import count, nonneg, pair
from .activations import Activation, phi


class MonteCarlo(NamedTuple):
    """Sample mean of f(x1) f(x2) over random networks (N1, N2), and its standard error (N1, N2)."""

    nngp: torch.Tensor
    nngp_se: torch.Tensor


def monte_carlo_kernels(x1, x2=None, *, depth: int, width: int, n_samples: int, activation: Activation = "relu",
                        weight_std: float = 1.0, bias_std: float = 0.0, seed: int = 0, chunk: int = 256) -> MonteCarlo:
    r"""Average :math:`f(x_1) f(x_2)^T` over ``n_samples`` random networks of finite ``width`` (float64, seeded).

    Args: as :func:`ntklib.nngp`, plus ``width`` (n >= 1), ``n_samples`` (S >= 2), ``seed`` and
    ``chunk`` (networks per batch, bounding memory at chunk * width^2 numbers).

    >>> mc = monte_carlo_kernels(torch.eye(2), depth=1, width=512, n_samples=4000)
    >>> bool(((mc.nngp - torch.tensor([[0.25, 0.0796], [0.0796, 0.25]])).abs() < 5 * mc.nngp_se + 5e-3).all())
    True
    """
    depth, width = count(depth, "depth"), count(width, "width", minimum=1)
    n_samples = count(n_samples, "n_samples", minimum=2)
    w, b = nonneg(weight_std, "weight_std"), nonneg(bias_std, "bias_std")
    same = x2 is None
    x1, x2 = pair(x1, x2)
    x = (x1 if same else torch.cat([x1, x2])).to(torch.float64)
    act = phi(activation)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(x.device)

    total, total_sq = 0.0, 0.0
    for start in range(0, n_samples, chunk):
        s = min(chunk, n_samples - start)
        h = x.expand(s, -1, -1)
        for _ in range(depth):
            c = w / math.sqrt(h.shape[2])
            h = act(c * h @ randn(s, h.shape[2], width) + b * randn(s, 1, width))
        c = w / math.sqrt(h.shape[2])  # the readout: f is (s, N)
        f = (c * h @ randn(s, h.shape[2], 1) + b * randn(s, 1, 1))[:, :, 0]
        prod = f[:, : x1.shape[0], None] * (f if same else f[:, x1.shape[0] :])[:, None, :]
        total, total_sq = total + prod.sum(0), total_sq + (prod * prod).sum(0)
    mean = total / n_samples
    var = (total_sq / n_samples - mean * mean).clamp_min(0) * n_samples / (n_samples - 1)
    return MonteCarlo(mean, (var / n_samples).sqrt())
