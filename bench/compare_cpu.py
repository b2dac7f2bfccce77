#!/usr/bin/env python3
"""focus against the newest PyTorch on this CPU: runs each focus benchmark (build/bench/*) and its
PyTorch twin (bench/torch/*.py) alternately for several rounds, and prints one table of medians
over the rounds and their ratios. For CNNs PyTorch runs in NCHW and in channels_last; for attention
as matmul-softmax-matmul and as F.scaled_dot_product_attention; the better of each is the peer.

Usage: bench/compare_cpu.py --build build --python ~/torch-venv/bin/python [--rounds 3] [--threads 2]
(scripts/bench-cpu.sh sets it all up). Run it on a quiet machine: a background job halves the numbers.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def cifar_rows(text):
    """{(model, batch): median img/s} from bench_cifar's table (focus and torch print the same)."""
    rows = {}
    for m in re.finditer(r"^(SeedNet|AttentionNet)[ \t]+(\d+)[ \t]+\d+[ \t]+[\d.]+[ \t]+(\d+)[ \t]+\d+", text, re.M):
        rows[(m.group(1), int(m.group(2)))] = float(m.group(3))
    return rows


def conv_rows(text):
    """{shape: forward+backward GFLOP/s} and {shape: sgemm GFLOP/s} (focus only) from bench_conv."""
    fb, gemm = {}, {}
    for m in re.finditer(r"^(\d+->\d+ \d+x\d+ batch \d+)[ \t]+[\d.]+[ \t]+[\d.]+[ \t]+[\d.]+[ \t]+([\d.]+)(?:[ \t]+([\d.]+))?",
                         text, re.M):
        fb[m.group(1)] = float(m.group(2))
        if m.group(3):
            gemm[m.group(1)] = float(m.group(3))
    return fb, gemm


def number(pattern, text):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"could not find /{pattern}/ in:\n{text}")
    return float(m.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--python", default=os.path.expanduser("~/torch-venv/bin/python"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated: cifar,translate,lstm,attention,conv")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    threads = str(args.threads)
    bench = os.path.join(args.build, "bench")
    torch_dir = os.path.join(HERE, "torch")
    py = lambda name, *rest: [args.python, os.path.join(torch_dir, name), threads, *rest]
    env = dict(os.environ, OMP_NUM_THREADS=threads)

    # name -> list of (focus value, peer value, higher_is_better, unit) samples, one per round
    samples = {}
    extra = {}

    def add(name, ours, peer, higher, unit):
        samples.setdefault(name, []).append((ours, peer, higher, unit))

    for round_index in range(args.rounds):
        print(f"round {round_index + 1} of {args.rounds}", file=sys.stderr)
        if not only or "cifar" in only:
            ours = cifar_rows(run([os.path.join(bench, "bench_cifar"), threads, "20"], env))
            nchw = cifar_rows(run(py("bench_cifar.py", "20"), env))
            cl = cifar_rows(run(py("bench_cifar.py", "20", "--channels-last"), env))
            for key in sorted(ours):
                add(f"{key[0]} train step, batch {key[1]}", ours[key], max(nchw[key], cl[key]), True, "img/s")
                extra.setdefault(f"{key[0]} b{key[1]} torch NCHW / channels_last", []).append((nchw[key], cl[key]))
        if not only or "translate" in only:
            ours = run([os.path.join(bench, "bench_translate"), threads, "20"], env)
            peer = run(py("bench_translate.py", "20"), env)
            pattern = r"train step:.*\(best\),\s+(\d+) \(median\)"
            add("translator train step", number(pattern, ours), number(pattern, peer), True, "target tokens/s")
        if not only or "lstm" in only:
            ours = run([os.path.join(bench, "bench_lstm"), threads], env)
            peer = run(py("bench_lstm.py"), env)
            pattern = r"forward\+backward:\s+([\d.]+) ms"
            add("LSTM T=20 B=64 H=256 forward+backward", number(pattern, ours), number(pattern, peer), False, "ms")
        if not only or "attention" in only:
            ours = run([os.path.join(bench, "bench_attention"), threads], env)
            peer = run(py("bench_attention.py"), env)
            mine = number(r"^\s+forward\+backward\s+([\d.]+)\s", ours)
            composed = number(r"^\s+forward\+backward\s+([\d.]+) ms", peer)
            fused = re.search(r"^\s+sdpa forward\+backward\s+([\d.]+) ms", peer, re.M)
            best = min(composed, float(fused.group(1))) if fused else composed
            add("attention B=32 H=8 L=128 d=32 forward+backward", mine, best, False, "ms")
        if not only or "conv" in only:
            ours, gemm = conv_rows(run([os.path.join(bench, "bench_conv"), threads], env))
            nchw, _ = conv_rows(run(py("bench_conv.py"), env))
            cl, _ = conv_rows(run(py("bench_conv.py", "--channels-last"), env))
            for shape in ours:
                add(f"Conv2d {shape} forward+backward", ours[shape], max(nchw[shape], cl[shape]), True, "GFLOP/s")
                extra.setdefault(f"Conv2d {shape}: focus f+b / sgemm GFLOP/s", []).append((ours[shape], gemm[shape]))

    print(f"\n| workload ({threads} threads, medians of {args.rounds} alternating rounds) | unit | focus | "
          f"PyTorch (better layout) | focus ÷ PyTorch |")
    print("|---|---|---:|---:|---:|")
    for name, rows in samples.items():
        ours = statistics.median(r[0] for r in rows)
        peer = statistics.median(r[1] for r in rows)
        higher, unit = rows[0][2], rows[0][3]
        ratio = ours / peer if higher else peer / ours
        print(f"| {name} | {unit} | {ours:,.1f} | {peer:,.1f} | **{ratio:.2f}×** |")
    if extra:
        print("\n| detail | medians |\n|---|---|")
        for name, rows in extra.items():
            a = statistics.median(r[0] for r in rows)
            b = statistics.median(r[1] for r in rows)
            print(f"| {name} | {a:,.1f} / {b:,.1f} ({a / b:.2f}) |")


if __name__ == "__main__":
    main()
