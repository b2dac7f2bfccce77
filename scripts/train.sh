#!/usr/bin/env bash
# The main job: installs what is missing, builds Release, finds CIFAR-10 and trains
# the attention CNN (examples/cifar10_attention) with a progress bar.
# Extra arguments go to the program (see --help), e.g. scripts/train.sh --epochs 5
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target cifar10_attention

# CIFAR-10: $FOCUS_DATA/cifar-10-batches-bin, else data/cifar-10-batches-bin, else download it.
data_args=()
if [ -n "${FOCUS_DATA:-}" ] && [ -f "$FOCUS_DATA/cifar-10-batches-bin/data_batch_1.bin" ]; then
  data_args=(--data "$FOCUS_DATA/cifar-10-batches-bin")
elif [ -f data/cifar-10-batches-bin/data_batch_1.bin ]; then
  data_args=(--data data/cifar-10-batches-bin)
else
  echo "CIFAR-10 not found in \$FOCUS_DATA or data/: downloading it (about 170 MB)"
  scripts/download-cifar10.sh data
  data_args=(--data data/cifar-10-batches-bin)
fi
exec "$build_dir/examples/cifar10_attention" "${data_args[@]}" "$@"
