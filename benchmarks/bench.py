"""Benchmarks for ntklib (not run by the tests): median wall time and peak memory.

Usage: .venv/bin/python benchmarks/bench.py [--repeats 7]

1. Analytic NNGP + NTK (one pass, ntklib.kernels), N = 1000, 2000, 4000, d = 100, depth 3, ReLU, float64;
   the NTK alone (ntklib.ntk) at N = 4000 and at N = 20000 (d = 10), whose result is 3 GiB.
2. Empirical NTK of a width-512, 3-hidden-layer ntklib.MLP at N = 256, d = 100, float32 and float64,
   for each algorithm (layerwise, jacobian, ntvp).
3. Convolutional NTK (ntklib.conv_kernels, CNTK-GAP and CNTK-V) of N = 500 8x8 digits, depth 3, float64;
   empirical NTK of an ntklib.CNN (512 channels, depth 2) on 16 digits: layerwise (CNN.layerwise_ntk,
   no Jacobian) against the Jacobian contraction.

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

CASES = [("analytic", n, "float64", "") for n in (1000, 2000, 4000)] + [("ntk", 4000, "float64", ""),
    ("ntk", 20000, "float64", "")] + [
    ("empirical", 256, dtype, method) for dtype in ("float32", "float64") for method in ("layerwise", "jacobian", "ntvp")]
CASES += [("cntk", 500, "float64", readout) for readout in ("gap", "flatten")] + [  # issue 15
    ("cnn", 16, "float64", method) for method in ("layerwise", "jacobian")]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(index: int, repeats: int) -> str:
    kind, n, dtype, method = CASES[index]
    gen = torch.Generator().manual_seed(0)
    dt = getattr(torch, dtype)
    x = torch.randn(n, 100 if n < 20000 else 10, generator=gen, dtype=torch.float64).to(dt)
    if kind in ("cntk", "cnn"):  # scikit-learn's 8x8 digits as (N, 1, 8, 8) images, unit norm
        from sklearn.datasets import load_digits

        x = torch.tensor(load_digits().data[:n]).reshape(n, 1, 8, 8)
        x = 8 * x / x.flatten(1).norm(dim=1)[:, None, None, None]
    if kind == "cntk":
        fn, name = (lambda: nk.conv_kernels(x, depth=3, readout=method)), f"CNTK ({method}), N={n} 8x8 digits, depth 3, float64"
    elif kind == "cnn":
        torch.manual_seed(0)
        net = nk.CNN(1, 512, 2).double()
        run = (lambda: net.layerwise_ntk(x)) if method == "layerwise" else (lambda: nk.empirical_ntk(net, x, method="jacobian"))
        fn, name, repeats = run, f"empirical NTK, CNN 512 ch x 2, N={n} 8x8 digits, {method}", 2
    elif kind == "ntk":  # the NTK alone holds one (N, N) result (issue 11)
        fn, name = (lambda: nk.ntk(x, depth=3, weight_std=1.5, bias_std=0.1)), f"analytic NTK alone, N={n}, d={x.shape[1]}, depth 3, relu"
        repeats = repeats if n < 20000 else 1
    elif kind == "analytic":
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
