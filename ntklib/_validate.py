"""Private argument checks shared by the public functions (clear errors, never NaN)."""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def _real_array(x, name: str) -> np.ndarray:
    """A contiguous float64 NumPy copy of an array-like (negative strides are fine); complex is refused."""
    a = np.asarray(x)
    if np.iscomplexobj(a):
        raise TypeError(f"{name} must be real, got a complex array")
    return np.array(a, dtype=np.float64, order="C")  # a C-contiguous copy; 0-d stays 0-d


def as_float64(x, name: str) -> torch.Tensor:
    """Convert numbers, lists, NumPy arrays, SymPy matrices or tensors to a float64 tensor."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must be real, got a complex tensor")
        return x.detach().to(torch.float64)
    if hasattr(x, "tolist") and type(x).__module__.startswith("sympy"):
        x = x.tolist()
    try:
        return torch.as_tensor(_real_array(x, name))
    except (ValueError, TypeError) as e:
        if "complex" in str(e):
            raise
        raise TypeError(f"{name} must be numeric (a number, array or tensor), got {type(x).__name__}") from e


def as_tensor(x, name: str, *, like: torch.Tensor | None = None) -> torch.Tensor:
    """A floating tensor from a tensor or array-like; keeps a tensor's device, float64 otherwise."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must be real, got a complex tensor")
        t = x.detach()
        if not t.is_floating_point():
            t = t.to(torch.float64)
    elif isinstance(x, (np.ndarray, list, tuple)):
        try:
            t = torch.as_tensor(_real_array(x, name))
        except ValueError as e:
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from e
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if like is not None:
        t = t.to(device=like.device)
    return t


def all_finite(t: torch.Tensor) -> bool:
    """Whether every entry is finite, in chunks (``torch.isfinite`` of a whole matrix allocates a copy of it)."""
    flat = t.reshape(-1) if t.is_contiguous() else t.contiguous().reshape(-1)
    return all(bool(torch.isfinite(c).all()) for c in flat.split(1 << 20))


def finite(t: torch.Tensor, name: str) -> torch.Tensor:
    if not all_finite(t):
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


def real(value, name: str) -> float:
    """A real number: Python, NumPy (``np.float32`` too) or a 0-d real tensor; never bool or complex."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_complex() and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def nonneg(value, name: str) -> float:
    value = real(value, name)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def squared(value, name: str) -> float:
    """value**2 for a std, refusing one whose square overflows float64."""
    v = nonneg(value, name)
    if not math.isfinite(v * v):
        raise ValueError(f"{name}**2 overflows float64 ({name} = {v:g}; at most 1.3e154)")
    return v * v


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
