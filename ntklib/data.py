r"""Data for the chapters: synthetic inputs on circles and spheres, and scikit-learn's bundled digits.

Everything is generated locally (no downloads) and seeded, in float64.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ._validate import count, positive


def circle(n: int, *, radius: float = 1.0) -> torch.Tensor:
    r"""n points :math:`r(\cos\gamma_k, \sin\gamma_k)`, :math:`\gamma_k = 2\pi k/n`, shape (n, 2).

    With even n >= 6 the points contain antipodal pairs :math:`x, -x`, and the Gram matrix of the
    bias-free one-hidden-layer ReLU NTK is exactly singular: n/2 - 2 zero eigenvalues (m pairs in
    :math:`R^d` leave m - d), since :math:`\Theta(x, x') - \Theta(x, -x')` is linear in x'. Use an
    odd n, a bias or a second hidden layer (Jacot et al. 2018, Proposition 2; chapter 7).

    >>> circle(4)[1]
    tensor([0., 1.], dtype=torch.float64)
    """
    n, radius = count(n, "n", minimum=1), positive(radius, "radius")
    gamma = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    out = radius * torch.stack([torch.cos(gamma), torch.sin(gamma)], dim=1)
    return torch.where(out.abs() < 1e-15, torch.zeros_like(out), out)


def sphere(n: int, d: int, *, seed: int = 0) -> torch.Tensor:
    """n points uniform on the unit sphere in R^d (normalised Gaussians), shape (n, d), seeded.

    >>> bool(torch.allclose(sphere(5, 3).norm(dim=1), torch.ones(5, dtype=torch.float64)))
    True
    """
    n, d = count(n, "n", minimum=1), count(d, "d", minimum=1)
    g = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return g / g.norm(dim=1, keepdim=True)


class Dataset(NamedTuple):
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    label_train: torch.Tensor
    label_test: torch.Tensor


def digits(n_train: int, n_test: int, *, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images), split at random (seeded) into train and test.

    Inputs: each image minus the training mean image, scaled to unit norm (64 features).
    Targets: one-hot minus 0.1 (values 0.9 and -0.1, zero mean over classes, as in Lee et al. 2018).

    >>> data = digits(100, 50); data.x_train.shape, data.y_train.shape, data.label_test.shape
    (torch.Size([100, 64]), torch.Size([100, 10]), torch.Size([50]))
    """
    from sklearn.datasets import load_digits

    n_train, n_test = count(n_train, "n_train", minimum=1), count(n_test, "n_test", minimum=1)
    x, labels = load_digits(return_X_y=True)
    if n_train + n_test > len(x):
        raise ValueError(f"n_train + n_test must be <= {len(x)}, got {n_train + n_test}")
    order = np.random.default_rng(seed).permutation(len(x))
    tr, te = order[:n_train], order[n_train : n_train + n_test]
    x = torch.as_tensor(x, dtype=torch.float64)
    x = x - x[tr].mean(0)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    y = torch.nn.functional.one_hot(torch.as_tensor(labels), 10).to(torch.float64) - 0.1
    lab = torch.as_tensor(labels)
    return Dataset(x[tr], y[tr], x[te], y[te], lab[tr], lab[te])
