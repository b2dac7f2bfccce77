#!/usr/bin/python3
"""PyTorch reference for bench/bench_tensor.cpp: the same measurements, timed
the same way (median of repeated runs after warm-up), printed as Markdown.

    /usr/bin/python3 bench/torch/bench_tensor.py [--threads N] [--quick]

Reference only: PyTorch is never a build or test dependency of focus.
"""
import argparse
import statistics
import time

import torch


def seconds_of(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def reps_for(one_run, budget):
    return max(budget["min_reps"], min(budget["max_reps"], int(budget["seconds"] / max(one_run, 1e-7))))


def median_seconds(f, budget):
    warm = 0.0
    for _ in range(budget["warmup"]):
        warm = seconds_of(f)
    return statistics.median(seconds_of(f) for _ in range(reps_for(warm, budget)))


def cpu_model():
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def bench_matmul(budget):
    print("\n### matmul, float32, n×n @ n×n\n")
    print("| n | torch.matmul GFLOP/s |")
    print("|---:|---:|")
    for n in (128, 256, 512, 1024):
        gen = torch.Generator().manual_seed(42)
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        t = median_seconds(lambda: torch.matmul(a, b), budget)
        print(f"| {n} | {2.0 * n ** 3 / t * 1e-9:.1f} |")


def bench_elementwise(budget):
    print("\n### elementwise, float32 (bytes = 2 reads + 1 write per element)\n")
    print("| op | elements | GB/s | time (ms) |")
    print("|---|---:|---:|---:|")
    for n in (1 << 20, 1 << 24):
        gen = torch.Generator().manual_seed(7)
        x = torch.randn(n, generator=gen)
        y = torch.randn(n, generator=gen)
        for name, op in (("add", torch.add), ("mul", torch.mul)):
            t = median_seconds(lambda: op(x, y), budget)
            print(f"| {name} | {n >> 20}M | {3.0 * n * 4 / t * 1e-9:.1f} | {t * 1e3:.3f} |")


def bench_softmax(budget):
    print("\n### softmax along the last dim, float32\n")
    print("| shape | rows/s | time (ms) |")
    print("|---|---:|---:|")
    for rows, cols in ((4096, 128), (256, 4096)):
        gen = torch.Generator().manual_seed(9)
        x = torch.randn(rows, cols, generator=gen)
        t = median_seconds(lambda: torch.softmax(x, -1), budget)
        print(f"| [{rows}, {cols}] | {rows / t:.3g} | {t * 1e3:.3f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    budget = {"seconds": 0.5, "min_reps": 7, "max_reps": 500, "warmup": 3}
    if args.quick:
        budget.update(seconds=0.1, min_reps=3)
    torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__} tensor benchmark — CPU: {cpu_model()}, threads: {torch.get_num_threads()}")
    with torch.no_grad():
        bench_matmul(budget)
        bench_elementwise(budget)
        bench_softmax(budget)


if __name__ == "__main__":
    main()
