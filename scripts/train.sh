#!/usr/bin/env bash
# The main job: installs what is missing, builds Release, and trains.
# Until the CIFAR-10 example lands this runs the MLP demo (tensors + autograd).
# Extra arguments go to the training program.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOCUS_BUILD_TESTS=OFF -DFOCUS_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target mlp_demo
"$build_dir/examples/mlp_demo" "$@"
