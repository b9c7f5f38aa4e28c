r"""Notebook set-up and the checks every chapter prints.

``setup`` makes a notebook deterministic and readable; ``agree`` is the cell that proves
the SymPy derivation and the ntklib code compute the same thing; ``claim`` prints the
one-line record of a published result re-run at CPU scale (the closing chapter collects
these lines from every notebook); ``loglog_slope`` fits the exponent of a power law.
"""
from __future__ import annotations

import random
import textwrap

import numpy as np
import torch

from ._validate import as_float64, finite



def setup(seed: int = 0, *, threads: int = 1) -> None:
    """Seed everything, use float64, round printed numbers, and apply the book's style.

    Sets torch's default dtype to float64, seeds ``random``, NumPy and torch, prints
    4 significant digits, makes SymPy print MathJax (no PNG formulas) and applies
    :func:`ntklib.style.use`. The chapters' tensors are small, so one intra-op thread
    (``threads``) is as fast as several and keeps two notebooks run side by side
    (``nbval -n 2`` on 2 cores) from oversubscribing the CPU.
    """
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(threads)
    reseed(seed)
    torch.set_printoptions(precision=4, sci_mode=False)
    np.set_printoptions(precision=4, suppress=True)
    import sympy

    sympy.init_printing(use_latex="mathjax")
    from . import style

    style.use()


def reseed(seed: int) -> None:
    """Seed ``random``, NumPy and torch with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def agree(sym, code, *, atol: float = 1e-10, rtol: float = 0.0, what: str = "SymPy and ntklib") -> None:
    r"""Assert that two computations of the same quantity agree, and say so.

    ``sym`` and ``code`` are numbers, arrays, tensors or SymPy matrices of the same shape.
    Raises ``AssertionError`` if :math:`|sym - code| > atol + rtol |code|` anywhere;
    otherwise prints a fixed sentence naming the tolerance (never the raw error, which
    varies from machine to machine).

    >>> agree(1.0, 1.0 + 1e-13)
    SymPy and ntklib agree to within atol=1e-10 (1 value compared).
    """
    a, b = as_float64(sym, "sym"), as_float64(code, "code")
    if a.shape != b.shape:
        raise ValueError(f"sym and code must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    finite(a, "sym")
    finite(b, "code")
    err = (a - b).abs()
    bound = atol + rtol * b.abs()
    if not bool((err <= bound).all()):
        raise AssertionError(f"{what} disagree: max |difference| = {err.max().item():.3e} > atol={atol:g}, rtol={rtol:g}")
    tol = f"atol={atol:g}" + (f", rtol={rtol:g}" if rtol else "")
    n = a.numel()
    print(f"{what} agree to within {tol} ({n} value{'s' if n != 1 else ''} compared).")


KINDS = {"reproduced": "Reproduced", "checked": "Checked"}
WIDTH = 88  # the code column of the book: no printed line is wider


def claim(source: str, statement: str, *, paper: str, measured: str, scale: str,
          kind: str = "reproduced") -> None:
    """Print the record of a published claim re-run at CPU scale (or of a checked fact).

    Call it after the cell's ``assert`` on the claim. ``kind="reproduced"`` is for an
    empirical claim the cited paper makes at the cited place; an identity, a textbook fact
    or the book's own derivation is ``kind="checked"``. ``paper`` is what the paper reports
    (its number, figure or statement), ``measured`` what this notebook found (rounded to
    4 significant digits), ``scale`` ours against theirs. Lines are wrapped at 88
    characters; the closing chapter reads the records back with :func:`read_claims`.

    >>> claim("Jacot et al. 2018, Fig. 1", "the NTK spread shrinks with width",
    ...       paper="visibly smaller at n = 10000 than at n = 500", measured="0.3 -> 0.05",
    ...       scale="ours n = 50, 500; theirs n = 500, 10000")
    Reproduced: Jacot et al. 2018, Fig. 1
        claim: the NTK spread shrinks with width
        paper: visibly smaller at n = 10000 than at n = 500
        this book: 0.3 -> 0.05
        scale: ours n = 50, 500; theirs n = 500, 10000
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    fields = (("source", source), ("claim", statement), ("paper", paper), ("this book", measured),
              ("scale", scale))
    for name, value in fields:
        if not isinstance(value, str) or not value.strip() or "|" in value or "\n" in value:
            raise ValueError(f"{name} must be a non-empty one-line string without '|', got {value!r}")
    print(textwrap.fill(source, WIDTH, initial_indent=f"{KINDS[kind]}: ", subsequent_indent=" " * 8))
    for name, value in fields[1:]:
        print(textwrap.fill(value, WIDTH, initial_indent=f"    {name}: ", subsequent_indent=" " * 8))


def read_claims(paths) -> list[dict]:
    """The records printed by :func:`claim` in the stored outputs of the notebooks ``paths``.

    Returns one dict per record with keys ``chapter`` (the notebook's file stem), ``kind``,
    ``source``, ``claim``, ``paper``, ``this book`` and ``scale``, in notebook order.
    """
    import json
    from pathlib import Path

    heads = {f"{label}: ": kind for kind, label in KINDS.items()}
    records = []
    for path in map(Path, paths):
        for cell in json.loads(path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                record, key = None, None
                for line in "".join(out.get("text", "")).splitlines():
                    head = next((h for h in heads if line.startswith(h)), None)
                    if head:
                        record = {"chapter": path.stem, "kind": heads[head], "source": line[len(head):]}
                        key = "source"
                        records.append(record)
                    elif record is not None and line.startswith("    ") and not line.startswith(" " * 8):
                        key, _, value = line.strip().partition(": ")
                        record[key] = value
                    elif record is not None and line.startswith(" " * 8):
                        record[key] += " " + line.strip()
                    else:
                        record = None
    return records


def loglog_slope(x, y) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x` (the exponent of a power law).

    >>> round(loglog_slope([1, 10, 100], [2, 0.2, 0.02]), 6)
    -1.0
    """
    lx, ly = as_float64(x, "x").log(), as_float64(y, "y").log()
    if lx.ndim != 1 or lx.shape != ly.shape or lx.numel() < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2, got {tuple(lx.shape)} and {tuple(ly.shape)}")
    finite(lx, "log x (x must be positive)")
    finite(ly, "log y (y must be positive)")
    lx = lx - lx.mean()
    return float((lx * (ly - ly.mean())).sum() / (lx * lx).sum())


def sig(value, digits: int = 4) -> str:
    """Format a number with ``digits`` significant digits (``'0.1235'``, ``'1.235e-05'``).

    >>> sig(0.123456), sig(1234567.0), sig(1.23456e-5)
    ('0.1235', '1.235e+06', '1.235e-05')
    """
    return f"{float(value):.{digits}g}"
