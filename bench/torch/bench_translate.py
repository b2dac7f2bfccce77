"""PyTorch reference for bench/bench_translate.cpp: the same encoder-decoder as
examples/translate (embedding 128, LSTM encoder and LSTMCell decoder of 256, Bahdanau
attention with precomputed keys, tanh(W_c [h; context]) then the projection to 8,000
target words over all steps at once), batch 64, source and target length 20, float32,
2 threads. One training step = teacher-forced forward, masked cross-entropy, backward,
gradient clipping and an Adam step; reports target tokens (batch x target length) per
second of the best and the median step. Run with /usr/bin/python3 (Debian's python3-torch).
With --device cuda[:N] the same steps run on that GPU in strict float32 (TF32 off), each ending
with torch.cuda.synchronize(), and the peak GPU memory of the timed training steps is printed
(torch.cuda.max_memory_allocated after reset_peak_memory_stats).

    python3 bench/torch/bench_translate.py [threads=2] [steps=20] [--device cpu|cuda[:N]]
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from timing import median_of, peak_memory_mib, sorted_timings_on, strict_float32, take_device_flag


class Seq2Seq(nn.Module):
    def __init__(self, vocab, embed=128, hidden=256):
        super().__init__()
        self.src_embedding = nn.Embedding(vocab, embed, padding_idx=0)
        self.encoder = nn.LSTM(embed, hidden, batch_first=True)
        self.tgt_embedding = nn.Embedding(vocab, embed, padding_idx=0)
        self.cell = nn.LSTMCell(embed + hidden, hidden)
        self.query_proj = nn.Linear(hidden, hidden, bias=False)
        self.key_proj = nn.Linear(hidden, hidden)
        self.v = nn.Parameter(torch.empty(hidden).uniform_(-hidden ** -0.5, hidden ** -0.5))
        self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, source, mask, target_input):
        outputs, (h, c) = self.encoder(self.src_embedding(source))
        h, c = h[0], c[0]
        keys = self.key_proj(outputs)  # [B, S, A], once per batch
        embedded = self.tgt_embedding(target_input.t().contiguous())  # [T, B, E]
        features = []
        for t in range(target_input.size(1)):
            scores = torch.tanh(self.query_proj(h).unsqueeze(1) + keys) @ self.v  # [B, S]
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
            context = torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)
            h, c = self.cell(torch.cat([embedded[t], context], 1), (h, c))
            features.append(torch.cat([h, context], 1))
        return self.out(torch.tanh(self.combine(torch.stack(features, 1))))


def main():
    args = sys.argv[1:]
    device = take_device_flag(args)
    threads = int(args[0]) if len(args) > 0 else 2
    steps = int(args[1]) if len(args) > 1 else 20
    torch.set_num_threads(threads)
    gpu = device.type == "cuda"
    if gpu:
        strict_float32()
    torch.manual_seed(0)
    B, S, T, V = 64, 20, 20, 8000
    model = Seq2Seq(V).to(device)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    source = torch.randint(4, V, (B, S)).to(device)
    mask = torch.ones(B, S, dtype=torch.bool).to(device)
    target_input = torch.randint(4, V, (B, T))
    target_input[:, 0] = 1
    target_input = target_input.to(device)
    target_output = torch.randint(4, V, (B, T)).to(device)

    def train_step():
        adam.zero_grad(set_to_none=True)
        logits = model(source, mask, target_input)
        loss = F.cross_entropy(logits.reshape(-1, V), target_output.reshape(-1), ignore_index=0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        adam.step()

    train = sorted_timings_on(device, 3, steps, train_step)
    peak_mib = peak_memory_mib(device)  # of the timed training steps
    with torch.no_grad():
        forward = sorted_timings_on(device, 2, steps, lambda: model(source, mask, target_input))
    tokens = B * T
    where = str(device) if gpu else f"{threads} threads"
    print(f"torch {torch.__version__} translator (B={B}, S=T={S}, embed 128, hidden 256, vocab {V}, "
          f"bahdanau attention, float32, {where})")
    print(f"  train step: best {train[0] * 1e3:7.1f} ms  median {median_of(train) * 1e3:7.1f} ms  ->  "
          f"{tokens / train[0]:7.0f} target tokens/s (best), {tokens / median_of(train):7.0f} (median)")
    print(f"  forward only: best {forward[0] * 1e3:7.1f} ms  median {median_of(forward) * 1e3:7.1f} ms")
    if gpu:
        print(f"  peak GPU memory (train step): {peak_mib:.1f} MiB")


if __name__ == "__main__":
    main()
