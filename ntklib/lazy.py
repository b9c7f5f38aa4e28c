r"""Lazy-training diagnostics (Chizat, Oyallon and Bach 2019; Du et al. 2019).

- :func:`relative_change` :math:`\|a - b\| / \|b\|` of tensors or of all parameters of two modules.
- :class:`Scaled`: the output scale :math:`\alpha`, :math:`h_\alpha(\theta, x) = \alpha(f(\theta, x) - f(\theta_0, x))`,
  so that :math:`h_\alpha(\theta_0) = 0`; train it on :math:`\frac{1}{2\alpha^2 N}\|h_\alpha - Y\|^2`
  (learning rate :math:`\eta/\alpha^2` on the usual loss) and training gets lazier as :math:`\alpha` grows.
- :func:`laziness_ratio`: Chizat's relative change of the Jacobian at :math:`\theta_0`,
  :math:`\kappa = \|f(\theta_0) - y\|\, \|D^2 f(\theta_0)\| / \|D f(\theta_0)\|^2`, with operator norms:
  :math:`\|Df\| = \sigma_{max}(J)` and :math:`\|D^2 f\| = \sup_{\|u\| = \|v\| = \|w\| = 1} \langle w, D^2 f[u, v]\rangle`
  (the operator norm of the symmetric bilinear map :math:`D^2 f`).
- :func:`activation_flips`: the fraction of hidden ReLU units whose sign pattern changed (Du et al. 2019).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vjp

from ._validate import count, finite, positive
from .empirical import _as_matrix, check_model, empirical_ntk, jvp
from .networks import MLP
from .train import flat_parameters


def relative_change(new, old) -> float:
    r""":math:`\|new - old\| / \|old\|` (Frobenius / Euclidean) for tensors, or for all trainable parameters of two modules.

    >>> relative_change(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 0.0]))
    1.3333333333333333
    """
    if isinstance(new, nn.Module) and isinstance(old, nn.Module):
        new, old = flat_parameters(new), flat_parameters(old)
    if not isinstance(new, torch.Tensor) or not isinstance(old, torch.Tensor):
        raise TypeError(f"new and old must both be tensors or both nn.Modules, got {type(new).__name__} and {type(old).__name__}")
    if new.shape != old.shape:
        raise ValueError(f"new and old must have the same shape, got {tuple(new.shape)} and {tuple(old.shape)}")
    new, old = new.detach().double(), old.detach().double()
    norm = old.norm()
    if norm == 0:
        raise ValueError("old must be non-zero (the relative change of a zero tensor is undefined)")
    return float((new - old).norm() / norm)


class Scaled(nn.Module):
    r"""The model :math:`\alpha (f(\theta, x) - f(\theta_0, x))`: zero at initialization, output scale :math:`\alpha`.

    ``model`` is trained in place through this wrapper; :math:`\theta_0` is a frozen copy (buffers).

    >>> net = torch.nn.Linear(2, 1); h = Scaled(net, 10.0); float(h(torch.ones(3, 2)).detach().abs().max())
    0.0
    """

    def __init__(self, model: nn.Module, alpha: float):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model, self.alpha = model, positive(alpha, "alpha")
        self.names = [n for n, _ in model.named_parameters()]
        for i, (_, p) in enumerate(model.named_parameters()):
            self.register_buffer(f"theta0_{i}", p.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta0 = {n: getattr(self, f"theta0_{i}") for i, n in enumerate(self.names)}
        return self.alpha * (self.model(x) - functional_call(self.model, theta0, (x,)))


def laziness_ratio(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                   iterations: int = 50, seed: int = 0) -> float:
    r"""Chizat's laziness ratio :math:`\kappa` at the current (trainable) parameters.

    :math:`\kappa = \|f(\theta_0) - y\| \|D^2 f(\theta_0)\| / \|D f(\theta_0)\|^2`, with
    :math:`\|Df\|^2 = \lambda_{max}(J J^T)` (the NTK's largest eigenvalue) and
    :math:`\|D^2 f\| = \sup \langle w, D^2 f[u, v]\rangle` over unit u, v, w, found by
    alternating maximisation over u, v (Hessian-vector products) and w, ``iterations``
    rounds from a seeded random start: a lower bound, tight at convergence. (A Rayleigh
    quotient :math:`\langle w, D^2 f[u, u]\rangle` with power iteration on u does not
    converge when the Hessian has eigenvalues :math:`\pm\lambda`, as a two-layer ReLU
    net's does.) :math:`\kappa \ll 1` means lazy training.

    Raises:
        TypeError/ValueError: non-tensor or non-finite inputs, y unlike the outputs.

    Reference: Chizat, Oyallon and Bach 2019 (``chizat2019``), Section 2.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("x and y must be torch.Tensors")
    finite(x, "x"), finite(y, "y")
    iterations = count(iterations, "iterations", minimum=1)
    params = {n: p.detach() for n, p in check_model(model).items()}  # trainable only
    f = lambda p: functional_call(model, p, (x,)).reshape(-1)
    f0 = f(params).detach()
    if y.numel() != f0.numel():
        raise ValueError(f"y must have {f0.numel()} entries, got {y.numel()}")
    residual = (f0 - y.reshape(-1).to(f0)).norm()
    theta = _as_matrix(empirical_ntk(model, x))  # (N O, N O), sample-major
    jac_norm2 = torch.linalg.eigvalsh(theta)[-1]
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def unit(z):
        norm = torch.sqrt(sum((t * t).sum() for t in z.values()))
        return {n: t / norm for n, t in z.items()}

    def draw():
        return {n: torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
                for n, p in params.items()}

    u, v = draw(), draw()
    u, v = unit(u), unit(v)
    directional = lambda p, t: jvp(f, (p,), (t,))[1]  # D f(p)[t]
    hess_norm = torch.zeros(())
    for _ in range(iterations):
        second = jvp(lambda p: directional(p, v), (params,), (u,))[1]  # D^2 f[u, v]
        hess_norm = second.norm()
        w = second / hess_norm.clamp_min(torch.finfo(second.dtype).tiny)
        _, pullback = vjp(lambda p: directional(p, v), params)
        (hv,) = pullback(w)  # H_w v = grad <w, D f[v]>: maximises <w, D^2 f[., v]>
        u, v = v, unit(hv)
    return float(residual * hess_norm / jac_norm2)


def activation_flips(model_a: MLP, model_b: MLP, x: torch.Tensor) -> float:
    r"""Fraction of hidden pre-activations :math:`z^{(l)}_i(x)` whose sign differs between two ``ntklib.MLP``\ s.

    >>> net = MLP(2, 8, 1); activation_flips(net, net, torch.randn(4, 2))
    0.0
    """
    if not isinstance(model_a, MLP) or not isinstance(model_b, MLP):
        raise TypeError("model_a and model_b must be ntklib.MLP")
    with torch.no_grad():
        za, zb = model_a.preactivations(x), model_b.preactivations(x)
    if not za:
        raise ValueError("the models must have depth >= 1 (hidden layers)")
    flips = sum(((a > 0) != (b > 0)).sum().item() for a, b in zip(za, zb))
    return flips / sum(a.numel() for a in za)
