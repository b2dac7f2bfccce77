"""The PyTorch twin of bench/bench_distributed.cpp for the CIFAR-10 AttentionNet: the same global batch
of 128 on 1 process x 2 threads and on 2 processes x 1 thread (DistributedDataParallel over gloo, on
this machine), median of `steps` steps after 3 warm-up ones, each started at a barrier.

Usage: python bench/torch/bench_distributed.py [steps=15]
"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bench_cifar import AttentionNet  # noqa: E402

GLOBAL_BATCH = 128


def run(rank, world, steps, result):
    torch.set_num_threads(2 // world)
    torch.manual_seed(0)
    model = AttentionNet()
    if world > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29533")
        dist.init_process_group("gloo", rank=rank, world_size=world)
        model = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters())
    per_rank = GLOBAL_BATCH // world
    images, labels = torch.randn(per_rank, 3, 32, 32), torch.randint(0, 10, (per_rank,))
    times = []
    for step in range(3 + steps):
        if world > 1:
            dist.barrier()
        start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        elapsed = torch.tensor(time.perf_counter() - start)
        if world > 1:
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        if step >= 3:
            times.append(elapsed.item())
    if rank == 0:
        times.sort()
        result.put(times[len(times) // 2])
    if world > 1:
        dist.destroy_process_group()


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    for world in (1, 2):
        result = mp.get_context("spawn").SimpleQueue()
        mp.spawn(run, args=(world, steps, result), nprocs=world)
        step = result.get()
        print(f"torch {torch.__version__} AttentionNet | {world} x {2 // world} threads | global batch {GLOBAL_BATCH} | "
              f"step {step * 1e3:.1f} ms | {GLOBAL_BATCH / step:.0f} img/s")


if __name__ == "__main__":
    main()
