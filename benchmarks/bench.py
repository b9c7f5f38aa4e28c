"""Benchmarks for ntklib (not run by the tests): median wall time and peak memory.

Usage: .venv/bin/python benchmarks/bench.py [--repeats 7]

1. Analytic NNGP + NTK (one pass, ntklib.kernels), N = 1000, 2000, 4000, d = 100, depth 3, ReLU, float64.
2. Empirical NTK of a width-512, 3-hidden-layer ntklib.MLP at N = 256, d = 100, float32 and float64,
   for each algorithm (layerwise, jacobian, ntvp).

Each case runs in a fresh process: peak memory is that process's peak resident set size during
the first call minus its size just before it (inputs and model already built). Times are the
median of the repeats after that first call. torch uses its default number of threads.
"""
import argparse
import resource
import statistics
import subprocess
import sys
import time

import torch

import ntklib as nk

CASES = [("analytic", n, "float64", "") for n in (1000, 2000, 4000)] + [
    ("empirical", 256, dtype, method) for dtype in ("float32", "float64") for method in ("layerwise", "jacobian", "ntvp")]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(index: int, repeats: int) -> str:
    kind, n, dtype, method = CASES[index]
    gen = torch.Generator().manual_seed(0)
    dt = getattr(torch, dtype)
    x = torch.randn(n, 100, generator=gen, dtype=torch.float64).to(dt)
    if kind == "analytic":
        fn, name = (lambda: nk.kernels(x, depth=3, weight_std=1.5, bias_std=0.1)), f"analytic NNGP+NTK, N={n}, d=100, depth 3, relu, {dtype}"
    else:
        torch.manual_seed(0)
        net = nk.MLP(100, 512, 3).to(dt)
        fn, name = (lambda: nk.empirical_ntk(net, x, method=method)), f"empirical NTK, MLP 512x3, N={n}, d=100, {dtype}, {method}"
        repeats = repeats if method == "layerwise" else 2
    before = rss_mib()
    fn()
    peak = rss_mib() - before
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return f"{name:62s} {statistics.median(times):10.4f} {peak:10.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(run_case(args.case, args.repeats), flush=True)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':62s} {'median s':>10s} {'peak MiB':>10s}", flush=True)
    for i in range(len(CASES)):
        subprocess.run([sys.executable, __file__, "--case", str(i), "--repeats", str(args.repeats)], check=True)


if __name__ == "__main__":
    main()
