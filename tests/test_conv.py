"""Tests of ntklib.conv (the CNTK recursion) and ntklib.cnn (the network whose limit it is)."""
import math

import numpy as np
import pytest
import torch

from conftest import ATOL
import ntklib as nk
import ntklib.conv as conv


def _relu(s11, s12, s22):
    if s11 == 0 or s22 == 0:
        return 0.0, 0.0
    c = max(-1.0, min(1.0, s12 / math.sqrt(s11 * s22)))
    t = math.acos(c)
    return math.sqrt(s11 * s22) * (math.sin(t) + (math.pi - t) * c) / (2 * math.pi), (math.pi - t) / (2 * math.pi)


def _erf(s11, s12, s22):
    a, b = 1 + 2 * s11, 1 + 2 * s22
    return 2 / math.pi * math.asin(2 * s12 / math.sqrt(a * b)), 4 / math.pi / math.sqrt(a * b - 4 * s12 * s12)


def direct(x, depth, q, activation, sw, sb, readout):
    """The CNTK by explicit loops over image pairs, pixel pairs (p, p') and patch offsets delta.

    Independent of ntklib: its own Gaussian expectations, zero padding by an `inside` test,
    maps for every pair of images (the variances are read off the x = x' maps).
    """
    x = np.asarray(x, dtype=float)
    n, c, h, w = x.shape
    pos, r = [(i, j) for i in range(h) for j in range(w)], q // 2
    offsets = [(di, dj) for di in range(-r, r + 1) for dj in range(-r, r + 1)]
    expect = _relu if activation == "relu" else _erf

    def patch_mean(m):
        out = np.zeros_like(m)
        for k, (i, j) in enumerate(pos):
            for l, (i2, j2) in enumerate(pos):
                for di, dj in offsets:
                    if 0 <= i + di < h and 0 <= j + dj < w and 0 <= i2 + di < h and 0 <= j2 + dj < w:
                        out[:, :, k, l] += m[:, :, (i + di) * w + j + dj, (i2 + di) * w + j2 + dj] / q**2
        return out

    xs = x.reshape(n, c, h * w)
    a = np.einsum("acp,bcr->abpr", xs, xs) * sw**2 / c  # the pixels: layer 0
    b = a.copy()
    for _ in range(depth):
        s, t = patch_mean(a) + sb**2, patch_mean(b) + sb**2
        for i1, i2, p1, p2 in np.ndindex(s.shape):
            e, ed = expect(s[i1, i1, p1, p1], s[i1, i2, p1, p2], s[i2, i2, p2, p2])
            a[i1, i2, p1, p2], b[i1, i2, p1, p2] = sw**2 * e, sw**2 * (e + t[i1, i2, p1, p2] * ed)
    if readout == "gap":
        return a.mean((2, 3)) + sb**2, b.mean((2, 3)) + sb**2
    d = np.arange(h * w)
    return a[:, :, d, d].mean(2) + sb**2, b[:, :, d, d].mean(2) + sb**2


@pytest.mark.parametrize("activation, depths", [("relu", (0, 1, 3)), ("erf", (0, 1, 3)), ("identity", (2,)),
                                               (torch.tanh, (1,))])
@pytest.mark.parametrize("readout", ["gap", "flatten"])
def test_kernel_size_one_on_one_pixel_is_the_dense_net(activation, depths, readout):
    x = torch.randn(6 if isinstance(activation, str) else 2, 4, 1, 1)
    for depth in depths:
        k = nk.conv_kernels(x, depth=depth, kernel_size=1, activation=activation, weight_std=1.3, bias_std=0.4,
                            readout=readout)
        d = nk.kernels(x.flatten(1), depth=depth, activation=activation, weight_std=1.3, bias_std=0.4)
        assert torch.allclose(k.nngp, d.nngp, atol=1e-12, rtol=0) and torch.allclose(k.ntk, d.ntk, atol=1e-12, rtol=0)
    if activation == "relu":  # one channel: every two pixels are parallel or anti-parallel, theta = 0 or pi exactly
        x = torch.randn(40, 1, 1, 1, dtype=torch.float64)
        k = nk.conv_kernels(x, depth=3, kernel_size=1, weight_std=1.3, readout=readout)
        d = nk.kernels(x.flatten(1), depth=3, weight_std=1.3)
        assert torch.allclose(k.nngp, d.nngp, atol=1e-13, rtol=0) and torch.allclose(k.ntk, d.ntk, atol=1e-13, rtol=0)


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("readout", ["gap", "flatten"])
def test_matches_direct_loops(activation, readout):
    x = torch.randn(3, 2, 3, 4)  # H != W catches a transposed grid
    x[0, :, 0, :] = 0.0  # a zero row: with bias_std = 0 a dead (zero-variance) unit at layer 1
    for q, depth, sb in ((3, 2, 0.0), (3, 3, 0.3), (5, 2, 0.2)):
        k = nk.conv_kernels(x, depth=depth, kernel_size=q, activation=activation, weight_std=1.2, bias_std=sb,
                            readout=readout)
        s, t = direct(x.numpy(), depth, q, activation, 1.2, sb, readout)
        assert np.abs(k.nngp.numpy() - s).max() < ATOL and np.abs(k.ntk.numpy() - t).max() < ATOL


@pytest.mark.parametrize("readout", ["gap", "flatten"])
def test_thin_images_and_patches_larger_than_the_image_match_direct_loops(readout):
    # the patch sum's slices and column masks at their edge cases: one row, one column, q > H, W
    for (h, w), q in (((1, 1), 7), ((1, 5), 3), ((5, 1), 7), ((2, 1), 9), ((2, 3), 5)):
        x = torch.randn(3, 2, h, w, dtype=torch.float64)
        x[0, :, 0] = 0.0
        k = nk.conv_kernels(x, depth=2, kernel_size=q, weight_std=1.2, bias_std=0.3, readout=readout)
        nngp, ntk = direct(x, 2, q, "relu", 1.2, 0.3, readout)
        assert np.allclose(k.nngp, nngp, atol=ATOL, rtol=0) and np.allclose(k.ntk, ntk, atol=ATOL, rtol=0)


def test_cross_kernel_blocks_and_threads_agree(monkeypatch):
    x1, x2 = torch.randn(7, 2, 4, 4), torch.randn(5, 2, 4, 4)
    for readout in ("gap", "flatten"):
        full = nk.conv_kernels(torch.cat([x1, x2]), depth=2, bias_std=0.1, readout=readout)
        cross = nk.conv_kernels(x1, x2, depth=2, bias_std=0.1, readout=readout)
        assert torch.allclose(cross.ntk, full.ntk[:7, 7:], atol=1e-13, rtol=0)
        same = nk.conv_kernels(x1, x1.numpy(), depth=2, bias_std=0.1, readout=readout)  # x2 given: no mirroring
        assert torch.allclose(same.ntk, full.ntk[:7, :7], atol=1e-13, rtol=0)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one worker thread: each block is computed alike, so the bits agree
        try:
            assert torch.equal(nk.conv_kernels(x1, x2, depth=2, bias_std=0.1, readout=readout).ntk, cross.ntk)
        finally:
            torch.set_num_threads(threads)
        assert torch.get_num_threads() == threads  # conv_kernels restores torch's thread count
        monkeypatch.setattr(conv, "BLOCK", 1)  # one column per block
        assert torch.allclose(nk.conv_kernels(x1, x2, depth=2, bias_std=0.1, readout=readout).ntk, cross.ntk,
                              atol=1e-13, rtol=0)
        monkeypatch.undo()


@pytest.mark.parametrize("readout", ["gap", "flatten"])
def test_symmetric_psd_and_ntk_dominates(readout):
    x = torch.randn(12, 3, 5, 5)
    k = nk.conv_kernels(x, depth=3, bias_std=0.2, readout=readout)
    for m in k:
        assert m.dtype == torch.float64 and torch.equal(m, m.T)
        ev = torch.linalg.eigvalsh(m)
        assert ev[0] >= -1e-10 * ev[-1]
    assert bool((k.ntk.diagonal() >= k.nngp.diagonal()).all())
    k12 = nk.conv_kernels(x[:4], x[4:], depth=3, bias_std=0.2, readout=readout)
    k21 = nk.conv_kernels(x[4:], x[:4], depth=3, bias_std=0.2, readout=readout)
    assert torch.allclose(k12.ntk, k21.ntk.T, atol=1e-13, rtol=0)


def _placed(content, top, left, size=12):
    x = torch.zeros(content.shape[0], content.shape[1], size, size)
    x[:, :, top : top + content.shape[2], left : left + content.shape[3]] = content
    return x


def test_translation_gap_invariant_flatten_not():
    # ReLU without bias: a zero background is exactly the zero padding, so GAP sees only the
    # content, wherever it sits, as long as the receptive fields (radius depth * (q - 1)/2 = 2
    # around it) stay inside the grid; CNTK-V compares pixels at the same place, so it changes.
    content, other = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3)
    x, moved, y = _placed(content, 2, 2), _placed(content, 6, 5), _placed(other, 4, 4)
    for readout in ("gap", "flatten"):
        a = nk.conv_kernels(x, y, depth=2, readout=readout)
        b = nk.conv_kernels(moved, y, depth=2, readout=readout)
        for m, m_moved in zip(a, b):
            if readout == "gap":
                assert torch.allclose(m, m_moved, atol=1e-15, rtol=1e-12)
            else:
                assert (m - m_moved).abs().item() > 0.01 * m.abs().item()
    # near the border the zero padding cuts receptive fields off: no longer invariant
    gap, at_border = (nk.conv_kernels(z, y, depth=2).ntk for z in (x, _placed(content, 0, 0)))
    assert (at_border - gap).abs().item() > 1e-3 * gap.abs().item()
    # with a bias the background differs from the padding: no longer exactly invariant
    a, b = (nk.conv_kernels(z, y, depth=2, bias_std=0.5).ntk for z in (x, moved))
    assert (a - b).abs().item() > 1e-6


def test_flips_of_both_images_leave_both_kernels_unchanged_and_one_flip_does_not():
    x, y = torch.randn(2, 2, 5, 5), torch.randn(3, 2, 5, 5)
    for readout in ("gap", "flatten"):
        k = nk.conv_kernels(x, y, depth=2, bias_std=0.3, readout=readout).ntk
        for f in (lambda z: z.flip(2), lambda z: z.flip(3), lambda z: z.transpose(2, 3)):
            assert torch.allclose(nk.conv_kernels(f(x), f(y), depth=2, bias_std=0.3, readout=readout).ntk, k,
                                  atol=1e-13, rtol=0)
        one = nk.conv_kernels(x.flip(3), y, depth=2, bias_std=0.3, readout=readout).ntk
        assert (one - k).abs().max() > 1e-3 * k.abs().max()


def test_kernel_size_one_gap_sees_the_pixels_as_a_bag():
    x, y = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    perm = torch.randperm(16)
    scrambled = x.flatten(2)[:, :, perm].reshape(x.shape)  # one image's pixels permuted
    gap = [nk.conv_kernels(z, y, depth=2, kernel_size=1).ntk for z in (x, scrambled)]
    flat = [nk.conv_kernels(z, y, depth=2, kernel_size=1, readout="flatten").ntk for z in (x, scrambled)]
    assert torch.allclose(gap[0], gap[1], atol=1e-13, rtol=0)
    assert (flat[0] - flat[1]).abs().max() > 1e-3


@pytest.mark.parametrize("readout", ["gap", "flatten"])
@pytest.mark.parametrize("outputs", [1, 2])
def test_layerwise_ntk_equals_jacobian_contraction(readout, outputs):
    net = nk.CNN(2, 6, 2, out_features=outputs, activation="erf", bias_std=0.3, readout=readout, image_size=(4, 5))
    x1, x2 = torch.randn(3, 2, 4, 5), torch.randn(2, 2, 4, 5)
    for a, b in ((x1, None), (x1, x2)):
        jac = nk.empirical_ntk(net, a, b, method="jacobian")
        lw = net.layerwise_ntk(a, b)
        assert lw.shape == (a.shape[0], (a if b is None else b).shape[0], outputs, outputs)
        assert torch.allclose(lw[:, :, 0, 0] if outputs == 1 else lw, jac, atol=ATOL, rtol=0)


@pytest.mark.parametrize("frozen", ["weights.0", "biases.1", "head.weight"])
def test_frozen_cnn_parameters_leave_the_layerwise_ntk(frozen):
    torch.manual_seed(2)
    net = nk.CNN(1, 5, 2, bias_std=0.3).double()
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    full = net.layerwise_ntk(x)[:, :, 0, 0]
    net.get_parameter(frozen).requires_grad_(False)
    jac = nk.empirical_ntk(net, x, method="jacobian")  # trainable parameters only
    assert torch.allclose(nk.empirical_ntk(net, x), jac, atol=ATOL, rtol=0)  # auto: the layerwise path
    assert not torch.allclose(jac, full, atol=1e-6)


def test_cnn_mean_ntk_at_depth_one_is_exact():
    # one hidden layer: E[Theta_emp] = Theta_inf at every width, so the mean over nets is unbiased
    x = torch.randn(3, 2, 4, 4)
    k = nk.conv_kernels(x, depth=1, bias_std=0.5)
    thetas = []
    for seed in range(100):
        torch.manual_seed(seed)
        thetas.append(nk.CNN(2, 32, 1, bias_std=0.5).layerwise_ntk(x)[:, :, 0, 0])
    thetas = torch.stack(thetas)
    se = thetas.std(0) / math.sqrt(len(thetas))
    assert bool(((thetas.mean(0) - k.ntk).abs() <= 5 * se).all())
    wrong = nk.conv_kernels(x, depth=1, bias_std=0.5, readout="flatten").ntk  # the other readout is rejected
    assert bool(((thetas.mean(0) - wrong).abs() > 5 * se).any())


def test_empirical_ntk_converges_like_one_over_sqrt_channels():
    x = torch.randn(3, 2, 4, 4)
    k = nk.conv_kernels(x, depth=2, bias_std=0.2).ntk
    wrong = nk.conv_kernels(x, depth=2, bias_std=0.2, readout="flatten").ntk
    widths, err, err_wrong = [16, 32, 64, 128, 256], [], []
    for n in widths:
        e, ew = 0.0, 0.0
        for seed in range(8):
            torch.manual_seed(seed)
            theta = nk.CNN(2, n, 2, bias_std=0.2).layerwise_ntk(x)[:, :, 0, 0]
            e += ((theta - k).norm() / k.norm()).item() ** 2 / 8
            ew += ((theta - wrong).norm() / k.norm()).item() ** 2 / 8
        err.append(math.sqrt(e))
        err_wrong.append(math.sqrt(ew))
    slope = nk.notebook.loglog_slope(widths, err)
    assert abs(slope + 0.5) < 0.15, slope
    assert nk.notebook.loglog_slope(widths, err_wrong) > -0.2  # against the wrong kernel: a floor


def test_cnn_forward_shapes_and_parameterization():
    net = nk.CNN(3, 5, 2, kernel_size=5, out_features=4, weight_std=2.0, bias_std=0.5)
    assert net(torch.randn(7, 3, 6, 9)).shape == (7, 4)  # gap: any image size
    assert net.weight_scales == [2.0 / math.sqrt(3 * 25), 2.0 / math.sqrt(5 * 25)]
    flat = nk.CNN(3, 5, 1, readout="flatten", image_size=(6, 9))
    assert flat.head.in_features == 5 * 54 and flat(torch.randn(2, 3, 6, 9)).shape == (2, 1)
    assert nk.CNN(3, 5, 0)(torch.randn(2, 3, 4, 4)).shape == (2, 1)


def test_bad_inputs_raise_naming_the_argument():
    x = torch.randn(2, 1, 4, 4)
    with pytest.raises(ValueError, match="x1"):
        nk.conv_kernels(torch.randn(2, 16), depth=1)
    with pytest.raises(ValueError, match="x2"):
        nk.conv_kernels(x, torch.randn(2, 3, 4, 4), depth=1)
    with pytest.raises(ValueError, match="x2"):
        nk.conv_kernels(x, torch.randn(2, 1, 4), depth=1)
    with pytest.raises(ValueError, match="kernel_size"):
        nk.conv_kernels(x, depth=1, kernel_size=2)
    with pytest.raises(ValueError, match="readout"):
        nk.conv_kernels(x, depth=1, readout="max")
    with pytest.raises(ValueError, match="depth"):
        nk.conv_kernels(x, depth=-1)
    with pytest.raises(TypeError, match="depth"):
        nk.conv_kernels(x, depth=1.5)
    with pytest.raises(ValueError, match="activation"):
        nk.conv_kernels(x, depth=1, activation="sigmoid")
    with pytest.raises(ValueError, match="weight_std"):
        nk.conv_kernels(x, depth=1, weight_std=-1.0)
    with pytest.raises(ValueError, match="x1"):
        nk.conv_kernels(x * math.inf, depth=1)
    with pytest.raises(TypeError, match="x1"):
        nk.conv_kernels("images", depth=1)
    with pytest.raises(ValueError, match="kernel_size"):
        nk.CNN(1, 4, 2, kernel_size=4)
    with pytest.raises(ValueError, match="readout"):
        nk.CNN(1, 4, 2, readout="max")
    with pytest.raises(ValueError, match="image_size"):
        nk.CNN(1, 4, 2, readout="flatten")
    with pytest.raises(ValueError, match="channels"):
        nk.CNN(1, 0, 2)
    with pytest.raises(ValueError, match="x must have shape"):
        nk.CNN(1, 4, 2)(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="x must have shape"):
        nk.CNN(1, 4, 2, readout="flatten", image_size=(4, 4))(torch.randn(2, 1, 5, 4))
    with pytest.raises(TypeError, match="x must be"):
        nk.CNN(1, 4, 2)(np.zeros((2, 1, 4, 4)))
    with pytest.raises(ValueError, match="dtype"):  # was torch's RuntimeError from conv2d
        nk.CNN(1, 4, 2)(torch.zeros(2, 1, 4, 4, dtype=torch.float32))  # parameters float64 here


def test_huge_std_is_a_clear_error_not_overflow():
    with pytest.raises(ValueError, match="bias_std"):
        nk.conv_kernels(torch.ones(2, 1, 3, 3), depth=1, bias_std=1e160)
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    for readout in ("gap", "flatten"):  # overflow inside the recursion (was NaN), or in the inputs' squares
        for kwargs in ({"weight_std": 1e60}, {"weight_std": 1e100}):
            with pytest.raises(ValueError, match="overflows float64"):
                nk.conv_kernels(x, depth=3, readout=readout, **kwargs)
        with pytest.raises(ValueError, match="overflows float64"):
            nk.conv_kernels(x * 1e155, depth=2, readout=readout)
    big = nk.conv_kernels(x * 1e150, depth=2).ntk  # large but representable: exactly homogeneous of degree 2
    assert torch.allclose(big / 1e300, nk.conv_kernels(x, depth=2).ntk, rtol=1e-13, atol=0)
