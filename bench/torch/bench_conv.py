#!/usr/bin/python3
"""PyTorch reference for bench/bench_conv.cpp: Conv2d forward and forward+backward
GFLOP/s on the CIFAR-10 example's shapes, CPU, 2 threads.

Run with the newest torch:  ~/torch-venv/bin/python bench/torch/bench_conv.py [threads] [IN,OUT,SIZE,BATCH ...] [--channels-last]
The first layer's input (images) needs no gradient, the second's does, as in training.
--channels-last runs the layer and its input in torch.channels_last (NHWC).
"""
import sys

import torch

from timing import best_seconds

channels_last = "--channels-last" in sys.argv
args = [a for a in sys.argv[1:] if a != "--channels-last"]
layout = torch.channels_last if channels_last else torch.contiguous_format
torch.set_num_threads(int(args[0]) if args else 2)
torch.manual_seed(0)

# (in_channels, out_channels, size, batch); 3x3 kernels, stride 1, 'same' padding.
# Further arguments IN,OUT,SIZE,BATCH name the shapes to run instead, as for bench_conv.
# By default: SeedNet's shapes, then the default AttentionNet's 3x3 convolutions at batch 128.
CASES = [tuple(int(v) for v in a.split(",")) for a in args[1:]] or [
    (cin, cout, hw, n) for (cin, cout) in [(3, 32), (32, 64)] for hw in (32, 16) for n in (32, 128)] + [
    (24, 32, 31, 128), (32, 32, 15, 128), (32, 128, 15, 128), (128, 128, 7, 128)]


print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.is_available()}, "
      f"{'channels_last' if channels_last else 'NCHW'}")
print(f"{'shape':34s} {'fwd ms':>8s} {'fwd GF/s':>9s} {'f+b ms':>8s} {'f+b GF/s':>9s}")
for cin, cout, hw, n in CASES:
    conv = torch.nn.Conv2d(cin, cout, 3, padding=1).to(memory_format=layout)
    x = torch.randn(n, cin, hw, hw).contiguous(memory_format=layout)
    x.requires_grad_(cin != 3)
    macs = n * cout * hw * hw * cin * 9
    fwd_flops = 2 * macs
    # backward: dW always, dX when the input needs it (db is negligible)
    fb_flops = fwd_flops * (3 if x.requires_grad else 2)

    def fwd():
        with torch.no_grad():
            conv(x)

    def fwd_bwd():
        y = conv(x)
        y.backward(torch.ones_like(y))

    t_f = best_seconds(fwd)
    t_fb = best_seconds(fwd_bwd)
    name = f"{cin}->{cout} {hw}x{hw} batch {n}"
    print(f"{name:34s} {t_f * 1e3:8.2f} {fwd_flops / t_f / 1e9:9.1f} {t_fb * 1e3:8.2f} {fb_flops / t_fb / 1e9:9.1f}")
