"""How the PyTorch references time a call: the same as bench/timing.h for the focus benchmarks,
on the CPU or on a GPU (--device cuda)."""
import resource
import time

import torch


def sorted_timings(warmup, iterations, f):
    """Seconds of each of `iterations` calls of f after `warmup` untimed ones, fastest first."""
    for _ in range(warmup):
        f()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return sorted(times)


def sorted_timings_on(device, warmup, iterations, f):
    """As sorted_timings for work that f queues on `device` (a torch.device). A GPU runs kernels
    after their launch returns, so each call ends with torch.cuda.synchronize() inside the timed
    span. After the warm-up the peak memory counter is reset: peak_memory_mib(device) afterwards
    is the peak of the timed calls."""
    def call_and_wait():
        f()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        call_and_wait()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return sorted_timings(0, iterations, call_and_wait)


def peak_memory_mib(device):
    """Most GPU memory held by tensors since the last reset, in MiB (0 on the CPU)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0


def take_device_flag(args):
    """Removes "--device NAME" or "--device=NAME" from args (a list, without the program name) and
    returns the torch.device (cpu when absent), so the other arguments keep their positions."""
    name = "cpu"
    for i, arg in enumerate(args):
        if arg == "--device" and i + 1 < len(args):
            name = args[i + 1]
            del args[i:i + 2]
            break
        if arg.startswith("--device="):
            name = arg[len("--device="):]
            del args[i]
            break
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: this PyTorch sees no CUDA GPU")
    return device


def strict_float32():
    """Turns off TF32 (on by default for cuDNN convolutions on Ampere and later), so a GPU computes
    in float32 as focus does, and the comparison is of equal arithmetic."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def median_of(sorted_times):
    """The median of timings sorted fastest first (the upper one of an even count, as in C++)."""
    return sorted_times[len(sorted_times) // 2]


def preemptions():
    """Involuntary context switches of this process so far (all threads)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def best_seconds(fn, min_time=1.0, min_reps=10):
    """The fastest of at least min_reps calls and min_time seconds, after a warm-up call,
    counting only calls during which no thread was preempted (if there were any). The
    minimum, not the median: on a shared machine other processes only ever add time."""
    fn()
    clean, every = [], []
    start = time.perf_counter()
    while len(every) < min_reps or time.perf_counter() - start < min_time:
        switches = preemptions()
        t0 = time.perf_counter()
        fn()
        every.append(time.perf_counter() - t0)
        if preemptions() == switches:
            clean.append(every[-1])
    return min(clean or every)
