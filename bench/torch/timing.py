"""How the PyTorch references time a call: the same as bench/timing.h for the focus benchmarks."""
import resource
import time


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
