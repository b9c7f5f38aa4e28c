r"""Infinite-width NNGP and NTK of a fully-connected network, by the layer recursion.

NTK parameterization, ``depth`` = L hidden layers, then a dense readout
(Jacot et al. 2018, Theorem 1; Lee et al. 2018):

.. math::

    \Sigma^{(1)}(x, x') = \sigma_w^2 \frac{x \cdot x'}{n_0} + \sigma_b^2, \qquad \Theta^{(1)} = \Sigma^{(1)},

    \Sigma^{(l+1)} = \sigma_w^2 E[\phi(u)\phi(v)] + \sigma_b^2, \qquad
    \dot\Sigma^{(l+1)} = \sigma_w^2 E[\phi'(u)\phi'(v)],

    \Theta^{(l+1)} = \Sigma^{(l+1)} + \Theta^{(l)} \dot\Sigma^{(l+1)},

with :math:`(u, v) \sim N(0, \Sigma^{(l)}|_{x,x'})`. The network's output has
NNGP :math:`\Sigma^{(L+1)}` and NTK :math:`\Theta^{(L+1)}`.

Conventions: ``x1`` is (N1, d), ``x2`` is (N2, d) or None (then x1); NumPy or torch inputs
(real; detached: the kernels carry no autograd graph back to x); results are float64 torch
tensors (N1, N2) on x1's device. ``weight_std`` is :math:`\sigma_w`, ``bias_std`` is
:math:`\sigma_b`; the first layer divides by :math:`n_0 = d`.

Cost and memory: the ReLU path is one arccos per entry and layer on cache-sized blocks of rows;
with x2 = None only the upper triangle is computed. ``nngp`` and ``ntk`` hold one (N1, N2)
result (8 N1 N2 bytes) plus a block; ``kernels`` holds two. Inputs of any finite size are
rescaled when needed, so nothing overflows unless the kernel itself exceeds float64 (then a
``ValueError`` says so).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from ._validate import all_finite, count, pair, squared
from .activations import Activation, check_activation, gaussian_expectations, snap_parallel_


class Kernels(NamedTuple):
    """The NNGP :math:`\\Sigma^{(L+1)}` and NTK :math:`\\Theta^{(L+1)}` of the network's output."""

    nngp: torch.Tensor
    ntk: torch.Tensor


class Layer(NamedTuple):
    """One layer of the recursion: :math:`\\Sigma^{(l)}`, :math:`\\dot\\Sigma^{(l)}` (None for l = 1), :math:`\\Theta^{(l)}`."""

    sigma: torch.Tensor
    sigma_dot: Optional[torch.Tensor]
    theta: torch.Tensor


def _check(x1, x2, depth, activation, weight_std, bias_std):
    depth = count(depth, "depth")
    activation = check_activation(activation)
    w2, b2 = squared(weight_std, "weight_std"), squared(bias_std, "bias_std")
    same = x2 is None
    x1, x2 = pair(x1, x2)
    x1 = x1.to(torch.float64)
    return x1, (x1 if same else x2.to(torch.float64)), same, depth, activation, w2, b2


def _first_layer(x1, x2, w2, b2):
    """Sigma^(1) = w^2 x.x'/n0 + b^2 and its two diagonals; huge inputs are scaled by a power of 2 first."""
    n0, big = x1.shape[1], max(x1.abs().max().item(), x2.abs().max().item())
    c = 2.0 ** math.frexp(big)[1] if big > 1e100 else 1.0  # exact scaling: x.x' may overflow where Sigma does not
    a, b = (x1 / c, x2 / c) if c != 1.0 else (x1, x2)
    sigma = (a @ b.T).mul_(w2 / n0).mul_(c).mul_(c).add_(b2)  # (w^2 / n0) c^2 would overflow by itself
    d1 = (a * a).sum(1).mul_(w2 / n0).mul_(c).mul_(c).add_(b2)
    d2 = d1 if x2 is x1 else (b * b).sum(1).mul_(w2 / n0).mul_(c).mul_(c).add_(b2)
    return sigma, d1, d2


def _finite(k: Kernels) -> Kernels:
    for name, m in zip(k._fields, k):
        if m is not None and not all_finite(m):
            raise ValueError(f"the {name.upper()} overflows float64 (entries beyond 1.8e308): reduce weight_std, "
                             f"bias_std, depth or the scale of the inputs")
    return k


def _recursion(x1, x2, depth, activation, weight_std, bias_std, keep: bool = True):
    """The recursion on whole (N1, N2) matrices, keeping every layer (or only the last: ``keep=False``)."""
    x1, x2, same, depth, activation, w2, b2 = _check(x1, x2, depth, activation, weight_std, bias_std)
    sigma, d1, d2 = _first_layer(x1, x2, w2, b2)
    if same:  # exactly Sigma(x, x) on the diagonal, so the angle there is exactly 0
        sigma.diagonal().copy_(d1)
    layers = [Layer(sigma, None, sigma.clone())]
    diagonals = lambda *d: [_finite(Kernels(v, None)).nngp for v in d]  # an overflow shows here first, O(N)
    d1, d2 = diagonals(d1, d2)
    for _ in range(depth):
        e_phi, e_dphi = gaussian_expectations(activation, d1[:, None], layers[-1].sigma, d2[None, :])
        d1 = w2 * gaussian_expectations(activation, d1, d1, d1)[0] + b2
        d2 = d1 if same else w2 * gaussian_expectations(activation, d2, d2, d2)[0] + b2
        d1, d2 = diagonals(d1, d2)
        sigma, sigma_dot = e_phi * w2 + b2, e_dphi * w2
        if same:
            sigma.diagonal().copy_(d1)
        layers.append(Layer(sigma, sigma_dot, sigma + layers[-1].theta * sigma_dot))
        if not keep:
            del layers[0]
    return layers


def _relu_diagonals(d: torch.Tensor, depth: int, w2: float, b2: float) -> list[torch.Tensor]:
    out = [d]
    for _ in range(depth):
        out.append(out[-1] * (w2 / 2) + b2)  # E relu(u)^2 = s / 2
    return out


def _bounds_finite(diag: list[torch.Tensor], depth: int, w2: float, want) -> None:
    r"""Raise if a ReLU kernel would overflow: by Cauchy-Schwarz every entry is bounded by its diagonals.

    :math:`|K(x, x')| \le \sqrt{K(x, x) K(x', x')}` for the PSD NNGP and NTK, and every
    intermediate of the fast path is bounded the same way, so finite diagonals (Sigma^(l)(x, x)
    and Theta^(l)(x, x) = Sigma^(l)(x, x) + Theta^(l-1)(x, x) w^2/2) mean a finite result: no
    pass over the (N1, N2) matrices is needed.
    """
    theta = diag[0]
    for d in diag[1:]:
        theta = d + theta * (w2 / 2)
    for name, values in (("NNGP", diag[-1]), ("NTK", theta)):
        if (name.lower() in want or name == "NNGP") and not all_finite(values):
            raise ValueError(f"the {name} overflows float64 (entries beyond 1.8e308): reduce weight_std, "
                             f"bias_std, depth or the scale of the inputs")


def _relu_kernels(x1, x2, same, depth, w2, b2, want=("nngp", "ntk"), block_elements: int = 1 << 18) -> Kernels:
    """ReLU fast path: all layers on a block of rows while it is in cache, in preallocated buffers.

    Per element and layer: one arccos, one sqrt and a few fused multiply-adds. With x2 = x1 only
    the upper triangle is computed and then mirrored. Only the kernels in ``want`` are kept
    (the NNGP of a block lives in a block buffer otherwise; the NTK is skipped). Same formulas
    as :func:`_recursion` (the tests check 1e-10).
    """
    n0, (n1, n2) = x1.shape[1], (x1.shape[0], x2.shape[0])
    big = max(x1.abs().max().item(), x2.abs().max().item())
    c_in = 2.0 ** math.frexp(big)[1] if big > 1e100 else 1.0  # see _first_layer
    if c_in != 1.0:
        x1, x2 = x1 / c_in, (x1 / c_in if same else x2 / c_in)
    f1 = w2 / n0
    diag1 = _relu_diagonals((x1 * x1).sum(1).mul_(f1).mul_(c_in).mul_(c_in).add_(b2), depth, w2, b2)
    diag2 = diag1 if same else _relu_diagonals((x2 * x2).sum(1).mul_(f1).mul_(c_in).mul_(c_in).add_(b2), depth, w2, b2)
    _bounds_finite(diag1, depth, w2, want)
    if not same:
        _bounds_finite(diag2, depth, w2, want)
    root1, root2 = [d.sqrt() for d in diag1], [d.sqrt() for d in diag2]
    inv1 = [torch.where(r > 0, 1 / r, torch.zeros_like(r)) for r in root1]
    inv2 = [torch.where(r > 0, 1 / r, torch.zeros_like(r)) for r in root2]
    live1, live2 = [(d > 0).to(x1.dtype) for d in diag1], [(d > 0).to(x1.dtype) for d in diag2]
    dead = [not bool(d1.all()) or not bool(d2.all()) for d1, d2 in zip(diag1, diag2)]
    rows = max(1, min(n1, block_elements // n2))
    want_ntk = "ntk" in want
    nngp = x1.new_empty(n1, n2) if "nngp" in want else None
    ntk = x1.new_empty(n1, n2) if want_ntk else None
    cos_buf, angle_buf = x1.new_empty(rows * n2), x1.new_empty(rows * n2)
    sig_buf = None if nngp is not None else x1.new_empty(rows * n2)
    x2t, c = x2.T.contiguous(), w2 / (2 * math.pi)
    for i in range(0, n1, rows):
        j = min(i + rows, n1)
        k = i if same else 0  # first column computed: the diagonal block onwards when symmetric
        shape = (j - i, n2 - k)
        sig = nngp[i:j, k:] if nngp is not None else sig_buf[: shape[0] * shape[1]].view(shape)
        th = ntk[i:j, k:] if want_ntk else None
        co, an = cos_buf[: sig.numel()].view(sig.shape), angle_buf[: sig.numel()].view(sig.shape)
        torch.mm(x1[i:j], x2t[:, k:], out=co)
        sig.copy_(co).mul_(f1)
        if c_in != 1.0:
            sig.mul_(c_in).mul_(c_in)
        sig.add_(b2)
        if want_ntk:
            th.copy_(sig)
        for l in range(depth):
            snap_parallel_(torch.mul(sig, inv1[l][i:j, None], out=co).mul_(inv2[l][k:]))
            if same:
                co[:, : j - i].diagonal().fill_(1.0)  # x = x': the angle is exactly 0
            torch.arccos(co, out=an)
            torch.mul(co, co, out=sig).neg_().add_(1.0).sqrt_()  # sin(theta)
            sig.addcmul_(an, co, value=-1.0).add_(co, alpha=math.pi)  # sin + (pi - theta) cos
            sig.mul_(root1[l][i:j, None] * c).mul_(root2[l][k:]).add_(b2)
            if not want_ntk:
                continue
            an.mul_(-c).add_(w2 / 2)  # SigmaDot = w^2 (pi - theta) / (2 pi)
            if dead[l]:  # a zero-variance input: E[step(u) step(v)] = 0
                an.mul_(live1[l][i:j, None]).mul_(live2[l][k:])
            th.mul_(an).add_(sig)
        if same:  # mirror into the lower triangle, so the result is exactly symmetric
            for m in (x for x in (nngp, ntk) if x is not None):
                block = m[i:j, i:j]
                block.copy_(torch.triu(block) + torch.triu(block, 1).T)
                m[j:, i:j].copy_(m[i:j, j:].T)
    return Kernels(nngp, ntk)


def kernels(x1, x2=None, *, depth: int, activation: Activation = "relu", weight_std: float = 1.0, bias_std: float = 0.0) -> Kernels:
    r"""NNGP and NTK of the output in one pass of the recursion :math:`\Theta^{(l+1)} = \Sigma^{(l+1)} + \Theta^{(l)}\dot\Sigma^{(l+1)}`.

    Args:
        x1: inputs (N1, d). x2: inputs (N2, d), or None for x1.
        depth: number of hidden layers L >= 0 (L + 1 affine maps; depth 0 is a linear model).
        activation: ``"relu"``, ``"erf"``, ``"identity"``, ``"abs"``, ``"leaky_relu"`` or
            ``"leaky_relu:<slope>"`` (closed forms; ``torch.relu``, ``torch.nn.ReLU()``,
            ``torch.erf``, ``torch.abs`` and ``torch.nn.LeakyReLU(slope)`` are recognized), or
            any elementwise torch callable (Gauss-Hermite quadrature with an error estimate:
            see :mod:`ntklib.activations` for the accuracy contract).
        weight_std, bias_std: :math:`\sigma_w, \sigma_b \ge 0` of the NTK parameterization
            (real numbers: Python, NumPy or 0-d tensors).

    Returns:
        ``Kernels(nngp, ntk)``, float64 tensors (N1, N2).

    Raises:
        ValueError: wrong shapes or feature dimensions, non-finite inputs, depth < 0,
            negative stds, unknown activation, a kernel that overflows float64.
        TypeError: non-numeric or complex arguments.

    Warns:
        RuntimeWarning: a quadrature activation whose estimated relative error exceeds 1e-9.

    Reference: Jacot et al. 2018, Theorem 1 (``jacot2018``); Lee et al. 2018 (``lee2018``).

    >>> k = kernels(torch.eye(2), depth=1)
    >>> [round(v, 6) for v in k.nngp.flatten().tolist()]   # Sigma1 = I/2: then 1/4 on the diagonal, 1/(4 pi) off it
    [0.25, 0.079577, 0.079577, 0.25]
    """
    return _kernels(x1, x2, depth, activation, weight_std, bias_std, ("nngp", "ntk"))


def _kernels(x1, x2, depth, activation, weight_std, bias_std, want) -> Kernels:
    x1, x2, same, depth, activation, w2, b2 = _check(x1, x2, depth, activation, weight_std, bias_std)
    if activation == "relu":  # finiteness follows from the diagonals (_bounds_finite)
        return _relu_kernels(x1, x2, same, depth, w2, b2, want)
    last = _recursion(x1, None if same else x2, depth, activation, weight_std, bias_std, keep=False)[-1]
    return _finite(Kernels(last.sigma if "nngp" in want else None, last.theta if "ntk" in want else None))


def nngp(x1, x2=None, *, depth: int, activation: Activation = "relu", weight_std: float = 1.0, bias_std: float = 0.0) -> torch.Tensor:
    r"""NNGP kernel :math:`\Sigma^{(L+1)}(x_1, x_2)` of the output (see :func:`kernels`).

    >>> round(nngp(torch.ones(1, 3), depth=2, weight_std=2.0).item(), 10)   # 4 * (4 * (4 * 1 / 2) / 2)
    16.0
    """
    return _kernels(x1, x2, depth, activation, weight_std, bias_std, ("nngp",)).nngp


def ntk(x1, x2=None, *, depth: int, activation: Activation = "relu", weight_std: float = 1.0, bias_std: float = 0.0) -> torch.Tensor:
    r"""Neural tangent kernel :math:`\Theta^{(L+1)}(x_1, x_2)` of the output (see :func:`kernels`).

    >>> round(ntk(torch.ones(1, 3), depth=1).item(), 10)   # Sigma2 + Theta1 * SigmaDot2 = 1/2 + 1 * 1/2
    1.0
    """
    return _kernels(x1, x2, depth, activation, weight_std, bias_std, ("ntk",)).ntk


def kernel_layers(x1, x2=None, *, depth: int, activation: Activation = "relu", weight_std: float = 1.0, bias_std: float = 0.0) -> list[Layer]:
    r"""Every layer of the recursion: ``[Layer(sigma, sigma_dot, theta)]`` for l = 1 .. L+1 (``sigma_dot`` is None at l = 1).

    >>> [round(layer.theta.item(), 10) for layer in kernel_layers(torch.ones(1, 2), depth=2)]
    [1.0, 1.0, 0.75]
    """
    layers = _recursion(x1, x2, depth, activation, weight_std, bias_std)
    for layer in layers:
        _finite(Kernels(layer.sigma, layer.theta))
    return layers
