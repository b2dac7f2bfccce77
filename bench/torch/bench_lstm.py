"""PyTorch reference for bench/bench_lstm.cpp: torch.nn.LSTM, one layer, batch 64,
input 256, hidden 256, sequence length 20, float32, 2 threads. Forward + backward
(input and all parameters need gradients) and inference-only forward, in tokens
(time steps x batch) per second. Run with /usr/bin/python3 (Debian's python3-torch)."""
import sys

import torch

from timing import median_of, sorted_timings


def median_seconds(warmup, iterations, f):
    return median_of(sorted_timings(warmup, iterations, f))


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    torch.set_num_threads(threads)
    T, B, I, H = 20, 64, 256, 256
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H)
    x = torch.randn(T, B, I, requires_grad=True)
    grad_output = torch.randn(T, B, H)

    def train():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        output, _ = lstm(x)
        output.backward(grad_output)

    def inference():
        with torch.no_grad():
            lstm(x)

    t_train = median_seconds(5, iterations, train)
    t_infer = median_seconds(5, iterations, inference)
    tokens = T * B
    print(f"torch {torch.__version__} nn.LSTM (T={T}, B={B}, I={I}, H={H}, 1 layer, float32, {threads} threads)")
    print(f"  forward+backward: {t_train * 1e3:7.2f} ms/iter  {tokens / t_train:9.0f} tokens/s")
    print(f"  forward (no grad): {t_infer * 1e3:6.2f} ms/iter  {tokens / t_infer:9.0f} tokens/s")


if __name__ == "__main__":
    main()
