#!/usr/bin/env bash
# Data-parallel training on one machine: the same global batch as 1 process x 2 threads and as
# 2 processes x 1 thread (mpirun), overlap of the gradient all-reduce with backward on and off, for
# the CIFAR-10 attention network (global batch 128) and the en-fr translator (global batch 64).
# Each line: step time, global throughput, and the all-reduce alone (bench/bench_distributed.cpp).
# Run it on a quiet machine; results go to bench/RESULTS.md by hand, with `lscpu`'s model name.
#
# Usage: scripts/bench-distributed.sh [steps=20] [rounds=2]     BUILD_DIR (build)
set -euo pipefail
cd "$(dirname "$0")/.."

steps=${1:-20}
rounds=${2:-2}
bench=${BUILD_DIR:-build}/bench/bench_distributed
[ -x "$bench" ] || { echo "build $bench first (cmake --build ${BUILD_DIR:-build} --target bench_distributed)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mpirun=(mpirun -np 2 --oversubscribe --bind-to none)

lscpu | grep -E "Model name" | sed 's/  */ /g'
# The rounds alternate the set-ups, so a slow spell of the machine shows up as disagreement
# between rounds instead of as a difference between set-ups.
for round in $(seq 1 "$rounds"); do
  echo "--- round $round"
  for model in cifar translate; do
    batch=$([ "$model" = cifar ] && echo 128 || echo 64)
    OMP_NUM_THREADS=2 "$bench" "$model" "$batch" "$steps" --threads 2
    OMP_NUM_THREADS=1 "${mpirun[@]}" "$bench" "$model" "$batch" "$steps" --threads 1
    OMP_NUM_THREADS=1 "${mpirun[@]}" "$bench" "$model" "$batch" "$steps" --threads 1 --no-overlap
  done
done
