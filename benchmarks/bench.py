"""Benchmarks for ntklib (not run by the tests): median wall time and peak memory.

Usage: .venv/bin/python benchmarks/bench.py [--repeats 5]

1. Analytic NNGP + NTK (one pass, ntklib.kernels), N = 1000, 2000, 4000, d = 100, depth 3, ReLU, float64.
2. Empirical NTK of a width-512, 3-hidden-layer ntklib.MLP at N = 256, d = 100, float32 and float64,
   for each algorithm (layerwise, jacobian, ntvp).

Peak memory is the growth of the process's peak resident set size (ru_maxrss) during the
first run of each case, so run cases in increasing size (as here) for meaningful numbers.
"""
import argparse
import resource
import statistics
import time

import torch

import ntklib as nk


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(fn, repeats):
    before = peak_rss_mib()
    fn()  # warm-up; also the run whose memory we record
    grew = peak_rss_mib() - before
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), grew


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':58s} {'median s':>10s} {'peak +MiB':>10s}")
    gen = torch.Generator().manual_seed(0)
    for n in (1000, 2000, 4000):
        x = torch.randn(n, 100, generator=gen, dtype=torch.float64)
        t, mem = measure(lambda: nk.kernels(x, depth=3, weight_std=1.5, bias_std=0.1), args.repeats)
        print(f"{f'analytic NNGP+NTK, N={n}, d=100, depth 3, relu, float64':58s} {t:10.4f} {mem:10.1f}")
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        net = nk.MLP(100, 512, 3).to(dtype)
        x = torch.randn(256, 100, generator=gen).to(dtype)
        for method in ("layerwise", "ntvp", "jacobian"):
            t, mem = measure(lambda: nk.empirical_ntk(net, x, method=method), args.repeats if method == "layerwise" else 1)
            name = f"empirical NTK, MLP 512x3, N=256, d=100, {str(dtype)[6:]}, {method}"
            print(f"{name:58s} {t:10.4f} {mem:10.1f}")


if __name__ == "__main__":
    main()
