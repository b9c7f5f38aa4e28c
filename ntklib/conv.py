r"""Infinite-width NNGP and NTK of a convolutional network (the CNTK of Arora et al. 2019).

The network: ``depth`` = L convolutional layers with ``kernel_size`` q (odd), stride 1 and
zero padding (q - 1)/2, so every layer keeps the H x W grid of P = HW pixels, each followed by
the activation; then a dense readout of one output after global average pooling
(``readout="gap"``, CNTK-GAP) or after flattening (``readout="flatten"``, CNTK-V). NTK
parameterization: layer l computes
:math:`z_{c,p} = \frac{\sigma_w}{\sqrt{C_{l-1} q^2}} \sum_{c', \delta} W_{c c' \delta} h_{c', p+\delta} + \sigma_b b_c`
with :math:`W, b \sim N(0, 1)` and :math:`h = 0` outside the grid (the padding); the readout
divides by the square root of its fan-in, C (gap) or C P (flatten).

For images x, x' the recursion runs on (P, P) maps between pixel positions p, p'. With
:math:`\langle\cdot\rangle_\delta` the mean over the q^2 offsets of a patch, zero outside the grid:

.. math::

    \Sigma^{(1)}_{pp'} = \frac{\sigma_w^2}{C_0} \Big\langle \sum_c x_{c,p+\delta} x'_{c,p'+\delta} \Big\rangle_\delta + \sigma_b^2,
    \qquad \Theta^{(1)} = \Sigma^{(1)},

    A^{(l)} = \sigma_w^2 E[\phi(u)\phi(v)], \qquad
    B^{(l)} = A^{(l)} + \sigma_w^2 \Theta^{(l)} E[\phi'(u)\phi'(v)], \qquad
    (u, v) \sim N\Big(0, \begin{pmatrix} \Sigma^{(l)}_{pp}(x, x) & \Sigma^{(l)}_{pp'} \\
    \Sigma^{(l)}_{pp'} & \Sigma^{(l)}_{p'p'}(x', x') \end{pmatrix}\Big),

    \Sigma^{(l+1)}_{pp'} = \langle A^{(l)}_{p+\delta, p'+\delta} \rangle_\delta + \sigma_b^2, \qquad
    \Theta^{(l+1)}_{pp'} = \langle B^{(l)}_{p+\delta, p'+\delta} \rangle_\delta + \sigma_b^2,

and the output has NNGP :math:`\mathrm{mean}(A^{(L)}) + \sigma_b^2` and NTK :math:`\mathrm{mean}(B^{(L)}) + \sigma_b^2`,
the mean over all P^2 pairs (p, p') for GAP and over the P pairs p = p' for flatten (depth 0:
the readout of the pixels, ``A = B = sigma_w^2 x_p . x'_p' / C_0``). Every step keeps p' - p,
so CNTK-V only needs the P "diagonal" entries. With q = 1 on 1 x 1 images this is exactly
:func:`ntklib.kernels` of the dense network of the same depth.

Cost: CNTK-GAP evaluates :math:`N_1 N_2 P^2` entries per layer (with x2 = None only the pairs
i <= j, then mirrored): C_0 q^2 multiply-adds each at layer 1 (one matmul per block), then per
layer about 20 elementwise passes (one arccos for ReLU) and 4 shifted adds for the separable patch
mean; CNTK-V needs only the N1 N2 P entries p = p'. The work runs in blocks of one image against
b images (about 2^15 entries per map, so a thread's buffers stay in its cache), one thread per
torch thread; memory beyond the inputs and the (N1, N2) results is O(threads * 2^15), whatever N.
Results are float64 torch tensors (N1, N2) on x1's device.
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F

from ._validate import as_tensor, choice, count, finite, squared
from .activations import Activation, check_activation, gaussian_expectations
from .kernels import Kernels

BLOCK = 1 << 15  # entries per block and map: the working set of a thread stays in its L2 cache
PARALLEL = -1.0 + 4 * torch.finfo(torch.float64).eps


def _images(x, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """A finite float64 (N, C, H, W) batch, N, C, H, W >= 1."""
    t = as_tensor(x, name, like=like).to(torch.float64)
    if t.ndim != 4 or 0 in t.shape:
        raise ValueError(f"{name} must be images of shape (N, C, H, W), all >= 1, got shape {tuple(t.shape)}")
    return finite(t, name)


def _kernel_size(q) -> int:
    q = count(q, "kernel_size", minimum=1)
    if q % 2 == 0:
        raise ValueError(f"kernel_size must be odd (the padding (q - 1)/2 keeps H x W), got {q}")
    return q


def _patch_sum(a: torch.Tensor, dims, q: int, out: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """Sum over the q^2 offsets delta of a[..., p + delta, ..., p' + delta, ...], zero off the grid.

    ``dims`` = (the dims the vertical offset shifts, the dims the horizontal one shifts): p and p'
    move together, ((1, 3), (2, 4)) for (2, H, W, H, W, b) maps and ((1,), (2,)) for diagonals.
    """
    src, nd = a, a.ndim
    for d, dst in zip(dims, (tmp, out)):
        r = q // 2
        if r == 0:
            dst.copy_(src)
        for s in range(1, r + 1):
            lo, hi, edge = [slice(None)] * nd, [slice(None)] * nd, [slice(None)] * nd
            for k in d:
                lo[k], hi[k] = slice(s, None), slice(None, -s)
            if s == 1:  # dst = src + src shifted by +1 on the interior, src alone where that is off the grid
                torch.add(src[tuple(lo)], src[tuple(hi)], out=dst[tuple(lo)])
                for k in d:  # the first row/column along each shifted dim, minus what lo covered
                    edge[k] = slice(0, 1)
                    dst[tuple(edge)].copy_(src[tuple(edge)])
                    edge[k] = slice(1, None)
            else:
                dst[tuple(lo)].add_(src[tuple(hi)])
            dst[tuple(hi)].add_(src[tuple(lo)])
        src = dst
    return out


def _relu_step(s, t, fa, fb, self_pair, c, buf):
    """A, B of the recursion for ReLU, in place (s -> A, t -> B): arc-cosine kernels, few passes."""
    (_, ia, ra, la, alive_a), (_, ib, rb, lb, alive_b) = fa, fb
    co, an = buf
    torch.mul(s, ia, out=co).mul_(ib).clamp_(-1.0, 1.0)  # -cos(theta) (ia = -1/sqrt(s11))
    co.masked_fill_(co < PARALLEL, -1.0)  # parallel up to 4 ulps: theta = 0 (arccos' slope is infinite there)
    if self_pair is not None:
        self_pair(co).fill_(-1.0)  # p = p' of x = x': theta is exactly 0
    torch.arccos(co, out=an)  # pi - theta
    torch.addcmul(torch.ones((), dtype=s.dtype, device=s.device), co, co, value=-1.0, out=s).sqrt_()
    s.addcmul_(an, co, value=-1.0).mul_(ra).mul_(rb)  # sqrt(s11 s22) (sin + (pi - theta) cos) w^2 / (2 pi)
    if not (alive_a and alive_b):  # a zero-variance unit: E[phi' phi'] = 0
        an.mul_(la).mul_(lb)
    torch.addcmul(s, t, an, value=c, out=t)  # A + Theta w^2 (pi - theta) / (2 pi)


def _general_step(activation, s, t, va, vb, scale, buf):
    """A, B of the recursion for any activation, through :func:`ntklib.gaussian_expectations`."""
    e_phi, e_dphi = gaussian_expectations(activation, va, s, vb)
    torch.mul(e_phi, scale, out=s)
    t.mul_(e_dphi).mul_(scale).add_(s)


def _variances(x, depth, q, activation, w2, b2) -> list[torch.Tensor]:
    """Sigma^(l)_pp(x, x) for l = 1..L, each (N, P): the chain of the entries p = p', x = x' needs only itself."""
    n, c, h, w = x.shape
    v = [F.avg_pool2d(x * x, q, 1, q // 2, count_include_pad=True).sum(1).mul_(w2 / c).add_(b2)]
    for _ in range(depth - 1):
        e = w2 * gaussian_expectations(activation, v[-1], v[-1], v[-1])[0]
        v.append(F.avg_pool2d(e[:, None], q, 1, q // 2, count_include_pad=True)[:, 0].add_(b2))
    return [t.reshape(n, h * w) for t in v]


def _factors(v: torch.Tensor, scale: float, sign: float) -> list:
    """What a ReLU step needs of one side: variances, sign / sqrt, scale * sqrt, alive mask, and whether all alive."""
    root = v.sqrt()
    inv = torch.where(root > 0, sign / root, torch.zeros_like(root))
    return [v, inv, root * scale, (v > 0).to(v.dtype), bool((v > 0).all())]


def conv_kernels(x1, x2=None, *, depth: int, kernel_size: int = 3, activation: Activation = "relu",
                 weight_std: float = 1.0, bias_std: float = 0.0, readout: str = "gap") -> Kernels:
    r"""NNGP and NTK of a convolutional network's output: CNTK-GAP (``readout="gap"``) or CNTK-V (``"flatten"``).

    The recursion, parameterization and cost are in the module docstring: q x q patches, zero
    padding, fan-in :math:`C_{l-1} q^2`, one readout after global average pooling or flattening.

    Args:
        x1: images (N1, C, H, W), NumPy or torch. x2: images (N2, C, H, W), or None for x1.
        depth: number L >= 0 of convolutional layers (each followed by the activation).
        kernel_size: odd patch size q >= 1 (stride 1, padding (q - 1)/2).
        activation: any activation :func:`ntklib.ntk` accepts.
        weight_std, bias_std: :math:`\sigma_w, \sigma_b \ge 0`.
        readout: ``"gap"`` or ``"flatten"``.

    Returns:
        ``Kernels(nngp, ntk)``, float64 tensors (N1, N2) on x1's device.

    Raises:
        ValueError: inputs not 4-D or non-finite, x2's (C, H, W) not x1's, even kernel_size,
            depth < 0, negative stds, unknown readout or activation. TypeError: non-numeric inputs.

    Reference: Arora et al. 2019, Section 4 and Appendix (``arora2019``).

    >>> from ntklib import ntk
    >>> x = torch.ones(2, 3, 1, 1); x[1, 0] = -1.0   # kernel_size 1 on 1 x 1 images: the dense ReLU net
    >>> bool(torch.allclose(conv_kernels(x, depth=2, kernel_size=1).ntk, ntk(x.flatten(1), depth=2), atol=1e-15))
    True
    """
    q, depth = _kernel_size(kernel_size), count(depth, "depth")
    activation, readout = check_activation(activation), choice(readout, "readout", ("gap", "flatten"))
    w2, b2 = squared(weight_std, "weight_std"), squared(bias_std, "bias_std")
    same = x2 is None
    x1 = _images(x1, "x1")
    x2 = x1 if same else _images(x2, "x2", like=x1)
    if x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must have the same (C, H, W) = {tuple(x1.shape[1:])} as x1, got {tuple(x2.shape[1:])}")
    (n1, c, h, w), n2, p = x1.shape, x2.shape[0], x1.shape[2] * x1.shape[3]
    gap = readout == "gap"
    if depth == 0:  # the readout of the pixels
        f1, f2 = (x.mean((2, 3)) if gap else x.flatten(1) / math.sqrt(p) for x in (x1, x2))
        k = (f1 @ f2.T).mul_(w2 / c).add_(b2)
        return Kernels(k, k.clone())
    shape, dims = ((p, p), ((1, 3), (2, 4))) if gap else ((p,), ((1,), (2,)))
    b = max(1, min(n2, BLOCK // math.prod(shape)))  # columns per block
    nb = -(-n2 // b)
    x2p = torch.cat([x2, x2.new_zeros(nb * b - n2, c, h, w)])  # whole blocks (zero images pad the last)
    u1 = F.unfold(x1, q, padding=q // 2)  # (N1, C q^2, P)
    u2 = F.unfold(x2p, q, padding=q // 2).view(nb, b, c * q * q, p).permute(0, 2, 3, 1).contiguous()
    v1, v2 = _variances(x1, depth, q, activation, w2, b2), _variances(x2p, depth, q, activation, w2, b2)
    scales = [w2 / (q * q)] * (depth - 1) + [w2]  # the patch sums' 1 / q^2 is folded in
    lead = (1,) * (len(shape) - 1)
    f1 = [_factors(v, s / (2 * math.pi), -1.0) for v, s in zip(v1, scales)]  # ReLU: co = -cos(theta)
    f2 = [[_factors(t.view(nb, b, p)[k].T.contiguous().view(*lead, p, b), 1.0, 1.0) for k in range(nb)] for t in v2]
    nngp, ntk = x1.new_zeros(n1, nb * b), x1.new_zeros(n1, nb * b)
    local = threading.local()

    def row(i):  # pairs (i, j) for j >= i (x2 = None) or all j, b columns at a time
        if not hasattr(local, "buf"):  # one set of buffers per thread
            e = math.prod(shape) * b
            local.buf = [x1.new_empty(2 * e) for _ in range(3)] + [x1.new_empty(e).view(*shape, b) for _ in range(2)]
        maps, tmp, buf = local.buf[:2], local.buf[2].view((2,) + (h, w) * len(shape) + (b,)), local.buf[3:]
        rows = [[f[i].view(-1, *lead, 1) if torch.is_tensor(f) else f for f in f1[l]] for l in range(depth)]
        for k in range(i // b if same else 0, nb):
            s = maps[0].view(2, *shape, b)
            if gap:  # Sigma^(1) = sigma_w^2 / (C q^2) <patch_p(x), patch_p'(x')> + sigma_b^2
                torch.mm(u1[i].T, u2[k].view(-1, p * b), out=s[0].view(p, p * b))
            else:
                torch.sum(u1[i][:, :, None] * u2[k], 0, out=s[0])
            s[0].mul_(w2 / (c * q * q)).add_(b2)
            s[1].copy_(s[0])
            self_pair = None
            if same and k == i // b:
                col = i - k * b
                self_pair = (lambda t: t[:, :, col].diagonal()) if gap else (lambda t: t[:, col])
            for l, fa in enumerate(rows):
                if activation == "relu":
                    _relu_step(s[0], s[1], fa, f2[l][k], self_pair, scales[l] / (2 * math.pi), buf)
                else:
                    _general_step(activation, s[0], s[1], fa[0], f2[l][k][0], scales[l], buf)
                if l < depth - 1:
                    o = maps[(l + 1) % 2].view(s.shape)
                    s = _patch_sum(s.view(tmp.shape), dims, q, o.view(tmp.shape), tmp).add_(b2).view(o.shape)
            nngp[i, k * b : (k + 1) * b] = s[0].reshape(-1, b).mean(0) + b2
            ntk[i, k * b : (k + 1) * b] = s[1].reshape(-1, b).mean(0) + b2

    workers = torch.get_num_threads() if x1.device.type == "cpu" else 1
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(row, range(n1)))
    nngp, ntk = nngp[:, :n2], ntk[:, :n2]
    if same:  # mirror the upper triangle: exactly symmetric
        for k in (nngp, ntk):
            k.copy_(torch.triu(k) + torch.triu(k, 1).T)
    return Kernels(nngp, ntk)
