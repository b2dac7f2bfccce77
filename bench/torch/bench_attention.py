#!/usr/bin/python3
"""PyTorch reference for bench/bench_attention.cpp: scaled dot-product attention forward + backward
(and forward only) at batch 32, 8 heads, length 128, head dim 32, float32, CPU, 2 threads.

Run with the newest torch:  ~/torch-venv/bin/python bench/torch/bench_attention.py [threads]
Two versions: the explicit matmul-softmax-matmul (it returns the weights, as focus's attention does)
and, where torch has it (2.0 on), F.scaled_dot_product_attention, PyTorch's fused kernel (output only).
The better of the two is the peer.
"""
import math
import sys
import time

import torch
import torch.nn.functional as F


def median_seconds(fn, min_time=1.0, min_reps=10):
    fn()
    fn()  # warm up (allocator)
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def attention(q, k, v, causal):
    scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        L, S = scores.shape[-2:]
        blocked = torch.ones(L, S, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(blocked, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    B, H, L, D = 32, 8, 128, 32
    q = torch.randn(B, H, L, D, requires_grad=True)
    k = torch.randn(B, H, L, D, requires_grad=True)
    v = torch.randn(B, H, L, D, requires_grad=True)
    grad_output = torch.randn(B, H, L, D)

    def train(causal):
        for t in (q, k, v):
            t.grad = None
        output, _ = attention(q, k, v, causal)
        output.backward(grad_output)

    def train_fused(causal):
        for t in (q, k, v):
            t.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(grad_output)

    def inference():
        with torch.no_grad():
            attention(q, k, v, False)

    print(f"torch {torch.__version__} matmul-softmax-matmul attention "
          f"(B={B}, H={H}, L=S={L}, head dim {D}, float32, {threads} threads)")
    for causal in (False, True):
        name = "forward+backward, causal" if causal else "forward+backward"
        print(f"  {name:28s} {median_seconds(lambda: train(causal)) * 1e3:8.2f} ms")
        if hasattr(F, "scaled_dot_product_attention"):
            print(f"  {'sdpa ' + name:28s} {median_seconds(lambda: train_fused(causal)) * 1e3:8.2f} ms")
    print(f"  {'forward (no grad)':28s} {median_seconds(inference) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
