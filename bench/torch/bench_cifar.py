"""PyTorch reference for bench/bench_cifar.cpp: the two networks of examples/cifar10_attention
(SeedNet, AttentionNet), layer for layer, in train mode; one step = zero_grad (grads set to None,
as focus does) + forward + cross-entropy + backward + AdamW step (torch defaults: lr 1e-3, weight
decay 0.01), on random images [B, 3, 32, 32] and labels, batch 32 and 128, float32, 2 threads by
default. Median and best step of `iterations` timed steps after 3 warm-up ones, in images/s.
With --device cuda[:N] the same steps run on that GPU in strict float32 (TF32 off), each ending
with torch.cuda.synchronize(), and a last column gives the peak GPU memory of the timed steps
(torch.cuda.max_memory_allocated after reset_peak_memory_stats).
With --channels-last the model and images use torch.channels_last (NHWC), PyTorch's faster CPU
layout for CNNs; the better of the two layouts is the peer.
Usage: ~/torch-venv/bin/python bench/torch/bench_cifar.py [threads] [iterations] [--device cpu|cuda[:N]]
[--channels-last] (the newest torch from PyPI in a virtual environment)."""
import sys

import torch
from torch import nn
import torch.nn.functional as F

from timing import median_of, peak_memory_mib, sorted_timings_on, strict_float32, take_device_flag


class SeedNet(nn.Module):
    """Conv(3->32, 3x3 same)+ReLU, MaxPool 2, Conv(32->64)+ReLU, MaxPool 2, global average pool,
    sigmoid gate x*sigmoid(x), Linear(64->128)+ReLU, Linear(128->10): models.cpp's SeedNet."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding="same")
        self.conv2 = nn.Conv2d(32, 64, 3, padding="same")
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, images):
        x = F.max_pool2d(F.relu(self.conv1(images)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        pooled = x.mean(dim=(2, 3))
        return self.fc2(F.relu(self.fc1(pooled * torch.sigmoid(pooled))))


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation as nn/layers/channel_attention.cpp: x * sigmoid(fc2(relu(fc1(mean_hw x))))."""

    def __init__(self, channels, reduction):
        super().__init__()
        hidden = max(1, channels // max(reduction, 1))
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x):
        weights = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * weights.reshape(x.shape[0], x.shape[1], 1, 1)


class SpatialAttention(nn.Module):
    """CBAM's spatial half as nn/layers/spatial_attention.cpp: x * sigmoid(conv7x7([mean_c x; max_c x]))."""

    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        average = x.mean(dim=1, keepdim=True)
        strongest = x.amax(dim=1, keepdim=True)
        return x * torch.sigmoid(self.conv(torch.cat([average, strongest], dim=1)))


def conv_block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class AttentionNet(nn.Module):
    """models.cpp's AttentionNet: three stages of two Conv-BN-ReLU (32, 64, 128 channels), max-pool
    after stages 1 and 2, SE after stages 2 and 3 (reduction 8), CBAM spatial attention (7x7) on
    the 8x8 map, global average pool, dropout 0.2, Linear(128->10)."""

    def __init__(self, dropout=0.2):
        super().__init__()
        self.stage1 = nn.Sequential(*conv_block(3, 32), *conv_block(32, 32))
        self.stage2 = nn.Sequential(*conv_block(32, 64), *conv_block(64, 64))
        self.channel2 = ChannelAttention(64, 8)
        self.stage3 = nn.Sequential(*conv_block(64, 128), *conv_block(128, 128))
        self.channel3 = ChannelAttention(128, 8)
        self.spatial = SpatialAttention(7)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(128, 10)

    def forward(self, images):
        x = F.max_pool2d(self.stage1(images), 2)
        x = F.max_pool2d(self.channel2(self.stage2(x)), 2)
        x = self.spatial(self.channel3(self.stage3(x)))
        return self.classifier(self.dropout(x.mean(dim=(2, 3))))


def main():
    args = sys.argv[1:]
    device = take_device_flag(args)
    channels_last = "--channels-last" in args
    args = [a for a in args if a != "--channels-last"]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    threads = int(args[0]) if len(args) > 0 else 2
    iterations = int(args[1]) if len(args) > 1 else 20
    torch.set_num_threads(threads)
    gpu = device.type == "cuda"
    if gpu:
        strict_float32()
    where = str(device) if gpu else f"{threads} threads"
    print(f"torch {torch.__version__} CIFAR-10 training step (zero_grad + forward + cross-entropy + backward + "
          f"AdamW), float32, {where}, {iterations} timed steps, {'channels_last' if channels_last else 'NCHW'}")
    print(f"{'model':<14} {'batch':>5} {'params':>9} {'ms/step (med)':>14} {'img/s (med)':>13} {'img/s (best)':>12}"
          + (f" {'peak MiB':>9}" if gpu else ""))
    for make in (SeedNet, AttentionNet):
        for batch in (32, 128):
            torch.manual_seed(0)
            model = make().to(device, memory_format=layout)
            model.train()
            optimizer = torch.optim.AdamW(model.parameters())
            images = torch.randn(batch, 3, 32, 32).to(device).contiguous(memory_format=layout)
            labels = torch.randint(0, 10, (batch,)).to(device)

            def step():
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(images), labels).backward()
                optimizer.step()

            times = sorted_timings_on(device, 3, iterations, step)
            median, best = median_of(times), times[0]
            params = sum(p.numel() for p in model.parameters())
            print(f"{make.__name__:<14} {batch:>5} {params:>9} {median * 1e3:>14.1f} {batch / median:>13.0f} "
                  f"{batch / best:>12.0f}" + (f" {peak_memory_mib(device):>9.1f}" if gpu else ""))


if __name__ == "__main__":
    main()
