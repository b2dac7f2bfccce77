"""PyTorch reference for bench/bench_cifar.cpp: the two networks of examples/cifar10_attention
(SeedNet, and AttentionNet, the fast recipe's net: fixed patch-whitening 2x2 convolution, three
dirac-initialised ConvGroups with shift-only batch norm and GELU, squeeze-and-excitation after the
last two, attention pooling over the 7x7 positions, a bias-free scaled classifier; widths 32/128/128
as the recipe presets), layer for layer, in train mode; one step = zero_grad (grads set to None,
as focus does) + forward + cross-entropy + backward + AdamW step (torch defaults: lr 1e-3, weight
decay 0.01) over the parameters that train (focus's optim::groups_of skips the frozen whitening
filters and batch-norm scales too), on random images [B, 3, 32, 32] and labels, batch 32 and 128,
float32, 2 threads by default. Median and best step of `iterations` timed steps after 3 warm-up
ones, in images/s; the params column counts every parameter, frozen ones included, as focus's
num_parameters does.
With --device cuda[:N] the same steps run on that GPU in strict float32 (TF32 off), each ending
with torch.cuda.synchronize(), and a last column gives the peak GPU memory of the timed steps
(torch.cuda.max_memory_allocated after reset_peak_memory_stats).
With --channels-last the model and images use torch.channels_last (NHWC), PyTorch's faster CPU
layout for CNNs; the better of the two layouts is the peer.
Training the same net on CIFAR-10 by the C++ recipe: bench/torch/cifar_recipe.py.
Usage: ~/torch-venv/bin/python bench/torch/bench_cifar.py [threads] [iterations] [--device cpu|cuda[:N]]
[--channels-last] (the newest torch from PyPI in a virtual environment)."""
import math
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


# models.h's AttentionNet::kLogitScale: the classifier's logits are multiplied by it (attention
# pooling averages positions, so its features vary little at the start). Keep the two in step.
LOGIT_SCALE = 3.0


def recipe_batch_norm(channels):
    """models.cpp's recipe_batch_norm: eps 1e-12, momentum 0.4 (running statistics follow the last
    few batches), and a fixed scale of 1 (the weight does not train; only the shift does)."""
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    norm.weight.requires_grad_(False)
    return norm


class ConvGroup(nn.Module):
    """models.cpp's ConvGroup: Conv 3x3 (no bias) -> max-pool 2 (if `pool`) -> BatchNorm -> GELU ->
    Conv 3x3 -> BatchNorm -> GELU. Both convolutions start as identities (init::dirac_): conv1 on its
    first min(in, out) filters (the others keep the default init), conv2 on all of them."""

    def __init__(self, cin, cout, pool):
        super().__init__()
        self.pool = pool
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm1 = recipe_batch_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = recipe_batch_norm(cout)
        with torch.no_grad():
            nn.init.dirac_(self.conv1.weight[:min(cin, cout)])
            nn.init.dirac_(self.conv2.weight)

    def forward(self, x):
        y = self.conv1(x)
        if self.pool:
            y = F.max_pool2d(y, 2)
        y = F.gelu(self.norm1(y))
        return F.gelu(self.norm2(self.conv2(y)))


class AttentionPooling(nn.Module):
    """nn/layers/attention_pooling.cpp without a mask: x [N, L, D] -> scores x @ w + b [N, L] ->
    softmax over the L positions -> the weighted sum of the positions [N, D]. w and b start
    uniform in +-1/sqrt(D), like a Linear(D, 1)."""

    def __init__(self, dim):
        super().__init__()
        bound = 1.0 / math.sqrt(dim)
        self.score_weight = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.score_bias = nn.Parameter(torch.empty(1).uniform_(-bound, bound))

    def forward(self, x):
        weights = torch.softmax(x @ self.score_weight + self.score_bias, dim=1)  # [N, L]
        return (weights.unsqueeze(1) @ x).squeeze(1)  # [N, 1, L] @ [N, L, D] -> [N, D]


class AttentionNet(nn.Module):
    """models.cpp's AttentionNet, after the fast CIFAR-10 recipes (airbench):
      whiten: Conv 2x2 (3 -> 24, bias fixed at 0; its weight does not train: cifar_recipe.py sets it
              from the training images' patches, as AttentionNet::whiten_from) + GELU  [N, 24, 31, 31]
      stage1: ConvGroup(24, w1) with pooling                                       [N, w1, 15, 15]
      stage2: ConvGroup(w1, w2) with pooling, then ChannelAttention(w2, 8)         [N, w2, 7, 7]
      stage3: ConvGroup(w2, w3) without pooling, then ChannelAttention(w3, 8)      [N, w3, 7, 7]
      pool:   AttentionPooling(w3) over the 49 positions                           [N, w3]
      classifier: Linear(w3 -> 10, no bias), times `logit_scale` (not a parameter).
    Widths 32/128/128 (the recipe presets'): 506,713 parameters, the frozen ones included, as the
    C++ model counts them."""

    def __init__(self, widths=(32, 128, 128), logit_scale=LOGIT_SCALE):
        super().__init__()
        w1, w2, w3 = widths
        self.logit_scale = logit_scale
        self.whiten = nn.Conv2d(3, 24, 2)
        self.whiten.weight.requires_grad_(False)
        self.whiten.bias.requires_grad_(False)
        with torch.no_grad():
            self.whiten.bias.zero_()
        self.stage1 = ConvGroup(24, w1, True)
        self.stage2 = ConvGroup(w1, w2, True)
        self.channel2 = ChannelAttention(w2, 8)
        self.stage3 = ConvGroup(w2, w3, False)
        self.channel3 = ChannelAttention(w3, 8)
        self.pool = AttentionPooling(w3)
        self.classifier = nn.Linear(w3, 10, bias=False)

    def forward(self, images):
        x = F.gelu(self.whiten(images))                       # [N, 24, 31, 31]
        x = self.channel2(self.stage2(self.stage1(x)))        # [N, w2, 7, 7]
        x = self.channel3(self.stage3(x))                     # [N, w3, 7, 7]
        positions = x.flatten(2).transpose(1, 2)              # [N, 49, w3]: one row per position
        return self.classifier(self.pool(positions)) * self.logit_scale


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
            # Only what trains: the whitening filters and batch-norm scales are fixed, as
            # focus's optim::groups_of leaves them out.
            optimizer = torch.optim.AdamW(p for p in model.parameters() if p.requires_grad)
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
