r"""Finite-width (empirical) NTK :math:`\Theta(x_1, x_2) = J(x_1) J(x_2)^T` with torch.func.

Convention: :math:`J = \partial f / \partial\theta` has shape (N*O, P) (:func:`jacobian`);
for a model with O outputs, ``empirical_ntk`` returns (N1, N2, O, O) with
:math:`\Theta[a, b, o, o'] = \partial_\theta f_o(x_a) \cdot \partial_\theta f_{o'}(x_b)`,
squeezed to (N1, N2) for one output, or summed over o = o' with ``trace=True``.

Three algorithms (Novak et al. 2022), equal to float64 round-off:

- ``"jacobian"``: Jacobian contraction, cost N O [FP] + N^2 O^2 P, memory N O P per block.
- ``"ntvp"``: NTK-vector products (a VJP then a JVP per column), cost N^2 O [FP].
- ``"layerwise"`` (``ntklib.MLP`` only, never forms J): per dense layer,
  :math:`\Theta \mathrel{+}= (c_w^2\, h h'^T + c_b^2) \odot (\delta \delta'^T)` with h the
  layer's input, :math:`\delta = \partial f / \partial z` back-propagated, and
  :math:`c_w, c_b` the layer's weight and bias scales; cost N^2 (sum of widths) per layer.

Inputs are processed in blocks of ``block_size`` rows so memory stays bounded. Only the
trainable parameters (``requires_grad=True``) count, as in :func:`ntklib.train_mse`: freezing a
layer removes its term from the kernel. A model may provide its own structured path as a
method ``layerwise_ntk(x1, x2)`` returning (N1, N2, O, O); ``method="layerwise"`` then uses it.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn
import warnings

from torch.func import functional_call, jacrev, vjp, vmap

from ._validate import as_tensor, choice, count, finite
from .networks import MLP

Method = Literal["auto", "jacobian", "ntvp", "layerwise"]


def jvp(func, primals, tangents):
    """``torch.func.jvp`` without the DeprecationWarning torch 2.13 raises on its first forward-mode call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
        return torch.func.jvp(func, primals, tangents)


def check_model(model) -> dict[str, torch.Tensor]:
    """The trainable parameters of ``model``, after refusing what has no per-sample NTK."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for m in model.modules():
        if m.training and isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)):
            raise ValueError(f"model contains {type(m).__name__} in training mode, whose output depends on the batch "
                             f"or on random draws: call model.eval() first")
    if next(model.parameters(), None) is None:
        raise ValueError("model has no parameters: its NTK is zero")
    params = {k: v for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True): its NTK is zero")
    return params


def _inputs(model, x1, x2):
    params = check_model(model)
    like = next(iter(params.values()))
    out = []
    for name, x in (("x1", x1), ("x2", x2)):
        if x is None:
            out.append(None)
            continue
        if isinstance(x, np.ndarray):  # NumPy inputs take the model's dtype and device
            x = as_tensor(x, name).to(like)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
        if x.is_complex():
            raise TypeError(f"{name} must be real, got a complex tensor")
        if x.dtype != like.dtype:
            raise ValueError(f"{name} has dtype {x.dtype} but the model's parameters have dtype {like.dtype}: "
                             f"convert one of them")
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"{name} must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
        out.append(finite(x, name))
    x1, x2 = out
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must have the same feature shape as x1 {tuple(x1.shape[1:])}, got {tuple(x2.shape[1:])}")
    if isinstance(model, MLP):
        for name, x in (("x1", x1), ("x2", x2)):
            if x is not None and (x.ndim != 2 or x.shape[1] != model.in_features):
                raise ValueError(f"{name} must have shape (N, {model.in_features}) for this MLP, got {tuple(x.shape)}")
    return x1, (x1 if x2 is None else x2)


def _functional(model: nn.Module):
    """The trainable parameters (detached) and f(p, x) -> (N, O) with every other tensor held fixed."""
    params = {k: v.detach() for k, v in check_model(model).items()}
    frozen = {k: v.detach() for k, v in model.named_parameters() if not v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def f(p, x):  # outputs as (N, O)
        out = functional_call(model, (p, frozen, buffers), (x,))
        return out.reshape(x.shape[0], -1)

    return params, f


def jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    r"""The parameter Jacobian :math:`J = \partial f(x) / \partial\theta`, shape (N*O, P).

    Rows are ordered sample-major (row a*O + o is :math:`\partial f_o(x_a)`), columns follow
    the trainable (``requires_grad=True``) entries of ``model.named_parameters()``, each
    flattened. The NTK is ``J @ J.T``.

    >>> model = torch.nn.Linear(3, 2); jacobian(model, torch.ones(4, 3)).shape
    torch.Size([8, 8])
    """
    x, _ = _inputs(model, x, None)
    params, f = _functional(model)
    j = torch.cat([torch.cat(blocks, dim=2) for _, blocks in _jacobian_blocks(f, params, x, 128)], dim=0)  # (N, O, P)
    return j.reshape(-1, j.shape[2])


def _jacobian_blocks(f, params, x, block):
    # per-sample Jacobians under vmap: N O [FP]; jacrev of the whole batch would cost N^2 O [FP]
    per_sample = vmap(jacrev(lambda p, xi: f(p, xi[None])[0]), in_dims=(None, 0))
    for i in range(0, x.shape[0], block):
        jac = per_sample(params, x[i : i + block])
        yield i, [j.flatten(2) for j in jac.values()]  # each (B, O, P_k)


def _contract(j1, j2):
    return sum(torch.einsum("aop,bqp->aboq", a, b) for a, b in zip(j1, j2))


def _by_jacobian(f, params, x1, x2, block, same):
    j2 = [j for _, j in _jacobian_blocks(f, params, x2, block)]  # kept: memory N2 * O * P
    j1 = j2 if same else (j for _, j in _jacobian_blocks(f, params, x1, block))
    return torch.cat([torch.cat([_contract(a, b) for b in j2], dim=1) for a in j1], dim=0)


def _by_ntvp(f, params, x1, x2, block):
    rows = []
    for i in range(0, x1.shape[0], block):
        xa, cols = x1[i : i + block], []
        for k in range(0, x2.shape[0], block):
            xb = x2[k : k + block]
            out, pullback = vjp(lambda p: f(p, xb), params)
            n2, o = out.shape

            def column(cotangent):
                (tangent,) = pullback(cotangent)
                return jvp(lambda p: f(p, xa), (params,), (tangent,))[1]  # (B1, O)

            basis = torch.eye(n2 * o, dtype=out.dtype, device=out.device).reshape(n2 * o, n2, o)
            theta = vmap(column)(basis)  # (B2 * O, B1, O)
            cols.append(theta.reshape(n2, o, xa.shape[0], o).permute(2, 0, 3, 1))
        rows.append(torch.cat(cols, dim=1))
    return torch.cat(rows, dim=0)


def _signals(model: MLP, x: torch.Tensor):
    """Inputs h of each dense layer and back-propagated signals delta = df/dz, (N, O, width)."""
    hs, zs, h = [], [], x
    for layer in model.layers[:-1]:
        hs.append(h)
        zs.append(layer(h))
        h = model.phi(zs[-1])
    hs.append(h)
    last = model.layers[-1]
    delta = torch.eye(last.out_features, dtype=x.dtype, device=x.device).expand(x.shape[0], -1, -1)
    deltas = [delta]
    for layer, z in zip(reversed(model.layers[1:]), reversed(zs)):
        delta = (delta @ layer.weight) * (layer.weight_scale * model.dphi(z)).unsqueeze(1)
        deltas.append(delta)
    return hs, deltas[::-1]


def _by_layers(model: MLP, x1, x2, same):
    with torch.no_grad():
        h1, d1 = _signals(model, x1)
        h2, d2 = (h1, d1) if same else _signals(model, x2)
        o = model.layers[-1].out_features
        theta = x1.new_zeros(x1.shape[0], x2.shape[0], o, o)
        for layer, a, b, da, db in zip(model.layers, h1, h2, d1, d2):
            # a frozen weight or bias adds no term
            cw = layer.weight_scale**2 if layer.weight.requires_grad else 0.0
            cb = layer.bias_scale**2 if layer.bias.requires_grad else 0.0
            if cw == 0.0 and cb == 0.0:
                continue
            gram = (a @ b.T).mul_(cw).add_(cb)
            if o == 1:
                theta[:, :, 0, 0] += gram * (da[:, 0] @ db[:, 0].T)
            else:
                theta += gram[:, :, None, None] * torch.einsum("aoi,bqi->aboq", da, db)
    return theta


def _as_matrix(theta: torch.Tensor) -> torch.Tensor:
    """An empirical NTK as one (N1 O, N2 O) matrix, sample-major: (N1, N2, O, O) is permuted, (N1, N2) kept."""
    if theta.ndim == 4:
        n1, n2, o, _ = theta.shape
        theta = theta.permute(0, 2, 1, 3).reshape(n1 * o, n2 * o)
    return theta


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *, method: Method = "auto",
                  trace: bool = False, block_size: int = 128) -> torch.Tensor:
    r"""Finite-width NTK :math:`\Theta(x_1, x_2) = J(x_1) J(x_2)^T` of any ``nn.Module`` at its current parameters.

    Args:
        model: maps (N, ...) inputs to (N,) or (N, O) outputs.
        x1: inputs (N1, ...); x2: inputs (N2, ...) or None for x1. Same dtype and device as the model.
        method: ``"jacobian"``, ``"ntvp"``, ``"layerwise"`` (``ntklib.MLP`` only) or ``"auto"``
            (``"layerwise"`` for ``ntklib.MLP``, else ``"jacobian"``).
        trace: with O > 1 outputs, return :math:`\sum_o \Theta[:, :, o, o]` (N1, N2).
        block_size: inputs per block: ``"ntvp"`` holds block_size * O * P numbers at a time,
            ``"jacobian"`` keeps the Jacobian of x2 (N2 * O * P) and one block of x1.

    Returns:
        (N1, N2) for one output or with ``trace=True``, else (N1, N2, O, O).

    Raises:
        TypeError: model not an nn.Module, inputs not tensors or NumPy arrays, complex inputs.
        ValueError: unknown method, ``"layerwise"`` on a model without a structured path,
            mismatched shapes, dtypes or feature counts, non-finite inputs, a model with no
            trainable parameters, BatchNorm or Dropout in training mode.

    Reference: Novak et al. 2022 (``novak2022``); Jacot et al. 2018 (``jacot2018``).

    >>> model = MLP(2, 64, 1); x = torch.randn(3, 2)
    >>> bool(torch.allclose(empirical_ntk(model, x, method="jacobian"), empirical_ntk(model, x, method="ntvp")))
    True
    """
    choice(method, "method", ("auto", "jacobian", "ntvp", "layerwise"))
    block = count(block_size, "block_size", minimum=1)
    same = x2 is None
    x1, x2 = _inputs(model, x1, x2)
    structured = isinstance(model, MLP) or callable(getattr(model, "layerwise_ntk", None))
    if method == "auto":
        method = "layerwise" if structured else "jacobian"
    if method == "layerwise":
        if not structured:
            raise ValueError(f"method='layerwise' needs an ntklib.MLP or a model with a layerwise_ntk method, "
                             f"got {type(model).__name__}")
        if isinstance(model, MLP):
            theta = _by_layers(model, x1, x2, same)
        else:
            with torch.no_grad():
                theta = model.layerwise_ntk(x1, None if same else x2)
    else:
        params, f = _functional(model)
        with torch.no_grad():
            theta = _by_jacobian(f, params, x1, x2, block, same) if method == "jacobian" else _by_ntvp(f, params, x1, x2, block)
        if same and method == "ntvp":  # JVP/VJP round-off is not symmetric: symmetrise
            theta = (theta + theta.permute(1, 0, 3, 2)) / 2
    if theta.shape[2] == 1:
        return theta[:, :, 0, 0]
    return torch.diagonal(theta, dim1=2, dim2=3).sum(-1) if trace else theta
