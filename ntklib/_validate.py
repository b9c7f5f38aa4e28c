"""Private argument checks shared by the public functions (clear errors, never NaN)."""
from __future__ import annotations

import math

import numpy as np
import torch


def as_float64(x, name: str) -> torch.Tensor:
    """Convert numbers, lists, NumPy arrays, SymPy matrices or tensors to a float64 tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64)
    if hasattr(x, "tolist") and type(x).__module__.startswith("sympy"):
        x = x.tolist()
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be numeric (a number, array or tensor), got {type(x).__name__}") from e


def as_tensor(x, name: str, *, like: torch.Tensor | None = None) -> torch.Tensor:
    """A floating tensor from a tensor or array-like; keeps a tensor's device, float64 otherwise."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if not t.is_floating_point():
            t = t.to(torch.float64)
    elif isinstance(x, (np.ndarray, list, tuple)):
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if like is not None:
        t = t.to(device=like.device)
    return t


def finite(t: torch.Tensor, name: str) -> torch.Tensor:
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return t


def matrix(x, name: str, *, like: torch.Tensor | None = None) -> torch.Tensor:
    """A finite 2-D (N, d) input batch."""
    t = as_tensor(x, name, like=like)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, d) with N, d >= 1, got shape {tuple(t.shape)}")
    return finite(t, name)


def pair(x1, x2, name1: str = "x1", name2: str = "x2") -> tuple[torch.Tensor, torch.Tensor]:
    a = matrix(x1, name1)
    b = a if x2 is None else matrix(x2, name2, like=a)
    if b.shape[1] != a.shape[1]:
        raise ValueError(f"{name2} must have the same feature dimension as {name1} ({a.shape[1]}), got {b.shape[1]}")
    return a, b


def nonneg(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def positive(value, name: str) -> float:
    v = nonneg(value, name)
    if v == 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return v


def count(value, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def choice(value, name: str, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value
