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
layer 10 elementwise passes for ReLU (one arccos) and, for the separable patch sum, 4 shifted adds
over both maps; CNTK-V needs only the N1 N2 P entries p = p'. The work runs in blocks of one image
against b images (3 * 2^14 entries per map, b = 12 for 8x8 images). Each of the
torch.get_num_threads() worker threads owns two buffers of both maps (1.5 MiB, so they stay in
its L2 cache) and replays the patch sum's ops, built once on those buffers. Memory beyond the
inputs and the (N1, N2) results is O(threads * 2^16), whatever N. About 50 torch calls per block
each hold Python's lock while they are dispatched, so two threads give about 1.4x, not 2x: on 2
cores, N = 500 8x8 digits at depth 3 take about 10 s (``benchmarks/bench.py``).
Results are float64 torch tensors (N1, N2) on x1's device.
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import torch
import torch.nn.functional as F

from ._validate import as_tensor, choice, count, finite, squared
from .activations import Activation, check_activation, gaussian_expectations, snap_parallel_
from .kernels import Kernels, _finite

BLOCK = 3 << 14  # entries per block and map (b = 12 images of 8x8): a thread's 4 maps, 1.5 MiB, fit its L2 cache


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


def _shift_sum(src: torch.Tensor, dst: torch.Tensor, dims: tuple, step: int, r: int, masks=None) -> list:
    """One axis of the separable patch sum, dst[p, p'] = sum over |s| <= r of src[p + s step, p' + s step], as ops.

    src and dst are views of the maps in which ``dims`` index the pixels that move together: slicing
    those dims alike shifts them all and keeps the reads contiguous. A shift off the grid falls off the
    slice, except where a flat pixel index p' (row * W + column) moves by s columns and wraps into the next
    row: ``masks[s]`` is 1 where it stays in its row and 0 where it wraps. The buffers are fixed, so the ops
    (functions with their views bound) are built once and replayed for every block.
    """
    def cut(t, lo, hi):
        return t[tuple(slice(lo, hi) if d in dims else slice(None) for d in range(t.ndim))]

    def shifted_add(base, m, add, out=None):  # base + m * add (m None: no mask)
        if out is None:
            return partial(base.add_, add) if m is None else partial(base.addcmul_, m, add)
        return partial(torch.add, base, add, out=out) if m is None else partial(torch.addcmul, base, m, add, out=out)

    ops = []
    for s in range(1, r + 1):
        k, (down, up) = s * step, (masks[-s], masks[s]) if masks else (None, None)
        if s == 1:  # dst = src + (src at p - step) where that is on the grid, src alone on the edges
            ops.append(shifted_add(cut(src, k, None), down, cut(src, None, -k), out=cut(dst, k, None)))
            for i in range(len(dims)):
                edge = [slice(None)] * src.ndim
                for d in dims[:i]:
                    edge[d] = slice(k, None)
                edge[dims[i]] = slice(0, k)
                ops.append(partial(dst[tuple(edge)].copy_, src[tuple(edge)]))
        else:
            ops.append(shifted_add(cut(dst, k, None), down, cut(src, None, -k)))
        ops.append(shifted_add(cut(dst, None, -k), up, cut(src, k, None)))
    if r == 0:
        ops.append(partial(dst.copy_, src))
    return ops


def _patch_sum_ops(a: torch.Tensor, tmp: torch.Tensor, h: int, w: int, r: int) -> list:
    """The patch sum of the maps a = (2, P, [P,] b) over (2r + 1)^2 offsets, back into a: rows into tmp, then columns.

    Rows shift the flat pixel indices by s W (off the grid is off the slice). Columns use the view
    (2, H, W, [P,] b): p's column is its own dim and is sliced; p' stays flat, with masks for its wrap.
    """
    gap = a.ndim == 4
    b = a.shape[-1]
    ops = _shift_sum(a, tmp, (1, 2) if gap else (1,), w, r)
    shape = (2, h, w) + a.shape[2:]
    masks = None
    if gap:
        col = torch.arange(h * w, device=a.device) % w
        masks = {}
        for s in range(1, r + 1):  # p' in the slice [s:] reads p' - s; [:-s] reads p' + s (empty if s >= P)
            for key, ok in ((-s, col[s:] >= s), (s, col[: max(h * w - s, 0)] < w - s)):
                masks[key] = ok[:, None].to(a.dtype).expand(len(ok), b).contiguous()
    return ops + _shift_sum(tmp.view(shape), a.view(shape), (2, 3) if gap else (2,), 1, r, masks)


def _relu_step(s, t, fa, fb, self_pair, c, buf, signed):
    """A, B of the recursion for ReLU, in place (s -> A, t -> B): arc-cosine kernels in 10 passes.

    A unit of zero variance (ia = ra = 0) needs no mask: its cosine is 0, so A = 0, and its Theta row
    is exactly 0 when bias_std = 0 (the only case with such units), so B = 0.
    """
    (ia, ra), (ib, rb) = fa, fb
    co, an, one = buf
    torch.mul(s, ia, out=co).mul_(ib)  # -cos(theta) (ia = -1/sqrt(s11))
    # Parallel up to 4 ulps is theta = 0. Anti-parallel needs Sigma < 0, which happens only at layer 1
    # with negative pixels (ReLU outputs are >= 0): otherwise -cos(theta) <= 0 and one side suffices.
    snap_parallel_(co, upper=signed)
    if self_pair is not None:
        self_pair(co).fill_(-1.0)  # p = p' of x = x': theta is exactly 0
    torch.arccos(co, out=an)  # pi - theta
    torch.addcmul(one, co, co, value=-1.0, out=s).sqrt_()
    s.addcmul_(an, co, value=-1.0).mul_(ra).mul_(rb)  # sqrt(s11 s22) (sin + (pi - theta) cos) w^2 / (2 pi)
    torch.addcmul(s, t, an, value=c, out=t)  # A + Theta w^2 (pi - theta) / (2 pi)


def _general_step(activation, s, t, va, vb, scale):
    """A, B of the recursion for any activation, through :func:`ntklib.gaussian_expectations`."""
    e_phi, e_dphi = gaussian_expectations(activation, va, s, vb)
    torch.mul(e_phi, scale, out=s)
    t.mul_(e_dphi).mul_(scale).add_(s)


def _variances(x, depth, q, activation, w2, b2) -> list[torch.Tensor]:
    """Sigma^(l)_pp(x, x) for l = 1..L, each (N, P): the chain of the entries p = p', x = x' needs only itself."""
    n, c, h, w = x.shape
    checked = lambda d: _finite(Kernels(d, None)).nngp  # the NNGP's diagonal: where an overflow shows first
    v = [checked(F.avg_pool2d(x * x, q, 1, q // 2, count_include_pad=True).sum(1).mul_(w2 / c).add_(b2))]
    for _ in range(depth - 1):
        e = w2 * gaussian_expectations(activation, v[-1], v[-1], v[-1])[0]
        v.append(checked(F.avg_pool2d(e[:, None], q, 1, q // 2, count_include_pad=True)[:, 0].add_(b2)))
    return [t.reshape(n, h * w) for t in v]


def _factors(v: torch.Tensor, scale: float, sign: float) -> tuple:
    """What a ReLU step needs of one side: sign / sqrt(variance) (0 where it is 0) and scale * sqrt(variance)."""
    root = v.sqrt()
    return torch.where(root > 0, sign / root, torch.zeros_like(root)), root * scale


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
    pix = (p, p) if gap else (p,)  # the pixel dims of a map: all pairs (p, p') for GAP, p = p' for flatten
    b = max(1, min(n2, BLOCK // math.prod(pix)))  # columns per block
    nb = -(-n2 // b)
    x2p = torch.cat([x2, x2.new_zeros(nb * b - n2, c, h, w)])  # whole blocks (zero images pad the last)
    u1 = F.unfold(x1, q, padding=q // 2).mul_(w2 / (c * q * q))  # (N1, C q^2, P), the layer-1 scale folded in
    u2 = F.unfold(x2p, q, padding=q // 2).view(nb, b, c * q * q, p).permute(0, 2, 3, 1).contiguous()
    v1, v2 = _variances(x1, depth, q, activation, w2, b2), _variances(x2p, depth, q, activation, w2, b2)
    v2 = [t.view(nb, b, p).transpose(1, 2).contiguous() for t in v2]  # (blocks, P, b)
    scales = [w2 / (q * q)] * (depth - 1) + [w2]  # the patch sums' 1 / q^2 is folded in
    lead = (1,) * (len(pix) - 1)
    relu = activation == "relu"
    if relu:  # ReLU: co = -cos(theta), so the factors of x1 carry the sign and the scale
        f1 = [_factors(v, s / (2 * math.pi), -1.0) for v, s in zip(v1, scales)]
        f2 = [[(inv[k].view(*lead, p, b), root[k].view(*lead, p, b)) for k in range(nb)]
              for inv, root in (_factors(v, 1.0, 1.0) for v in v2)]
    sums = x1.new_zeros(2, n1, nb * b)  # the sums over the readout's pixel pairs of A and B
    signed = bool((x1 < 0).any() or (x2 < 0).any())  # Sigma^(1) < 0 is possible

    u2 = [u.view(-1, p * b) for u in u2] if gap else list(u2)
    local = threading.local()

    def row(i):  # pairs (i, j) for j >= i (x2 = None) or all j, b columns at a time
        if not hasattr(local, "a"):  # per thread: the maps a = (Sigma, Theta), a buffer, the patch sum's ops
            local.a, tmp = x1.new_empty(2, *pix, b), x1.new_empty(2, *pix, b)
            local.buf = (tmp[0], tmp[1], x1.new_ones(()))  # the ReLU step's scratch is the patch sum's buffer
            local.patch = _patch_sum_ops(local.a, tmp, h, w, q // 2)
            local.row = x1.new_empty(2, nb * b)  # one row of sums, then copied into sums at once
            local.cols = [local.row[:, k * b : (k + 1) * b] for k in range(nb)]
            local.views = local.a[0].view(p, -1), local.a.view(2, -1, b)  # Sigma as the matmul's out, the sums' in
        a, buf, patch, cols, (mm_out, flat) = local.a, local.buf, local.patch, local.cols, local.views
        s, t = a[0], a[1]
        ui = u1[i].T if gap else u1[i][:, :, None]
        if relu:
            rows = [[f[i].view(-1, *lead, 1) for f in fl] for fl in f1]
        start = i // b if same else 0
        for k in range(start, nb):
            if gap:  # Sigma^(1) = sigma_w^2 / (C q^2) <patch_p(x), patch_p'(x')> + sigma_b^2
                torch.mm(ui, u2[k], out=mm_out)
            else:
                torch.sum(ui * u2[k], 0, out=s)
            if b2:
                s.add_(b2)
            t.copy_(s)
            self_pair = None
            if same and k == i // b:
                col = i - k * b
                self_pair = (lambda m: m[:, :, col].diagonal()) if gap else (lambda m: m[:, col])
            for l in range(depth):
                if relu:
                    _relu_step(s, t, rows[l], f2[l][k], self_pair, scales[l] / (2 * math.pi), buf, signed and l == 0)
                else:
                    _general_step(activation, s, t, v1[l][i].view(-1, *lead, 1), v2[l][k].view(*lead, p, b),
                                  scales[l])
                if l < depth - 1:  # the patch sum, rows then columns, back into a
                    for op in patch:
                        op()
                    if b2:
                        a.add_(b2)
            torch.sum(flat, 1, out=cols[k])
        sums[:, i, start * b :] = local.row[:, start * b :]

    threads = torch.get_num_threads()
    workers = threads if x1.device.type == "cpu" else 1
    torch.set_num_threads(1)  # new threads start with one: each worker runs its blocks alone, no nested pool
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(pool.map(row, range(n1)))
    finally:
        torch.set_num_threads(threads)
    nngp, ntk = sums[:, :, :n2].div(math.prod(pix)).add_(b2)  # the readout's mean, plus its bias
    if same:  # mirror the upper triangle: exactly symmetric
        for k in (nngp, ntk):
            k.copy_(torch.triu(k) + torch.triu(k, 1).T)
    return _finite(Kernels(nngp, ntk))
