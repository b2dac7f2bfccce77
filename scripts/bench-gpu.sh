#!/usr/bin/env bash
# Training throughput on a GPU, focus against PyTorch on the same models and batch sizes:
# builds Release with CUDA, runs bench_cifar and bench_translate with --device cuda and the
# PyTorch references bench/torch/bench_cifar.py and bench_translate.py likewise (strict
# float32: TF32 off), then prints one table: images/s of both CIFAR-10 networks at batch 32
# and 128, target tokens/s of the translator (median steps), and each side's peak GPU memory
# held by tensors during the timed steps.
#
# Usage: scripts/bench-gpu.sh [iterations=30]
#   BUILD_DIR (build-gpu), DEVICE (cuda, or cuda:N), PYTHON (python3: one whose torch has CUDA),
#   JOBS (nproc). A PyTorch run that fails (no CUDA torch) leaves "-" in its columns.
set -euo pipefail
cd "$(dirname "$0")/.."

iterations=${1:-30}
build_dir=${BUILD_DIR:-build-gpu}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOCUS_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DFOCUS_BUILD_EXAMPLES=ON -DFOCUS_BUILD_BENCH=ON >/dev/null
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" --target bench_cifar bench_translate

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build_dir/bench/bench_cifar" 2 "$iterations" --device "$device" | tee "$out/focus_cifar.txt"
"$build_dir/bench/bench_translate" 2 "$iterations" bahdanau --device "$device" | tee "$out/focus_translate.txt"
"$python" bench/torch/bench_cifar.py 2 "$iterations" --device "$device" | tee "$out/torch_cifar.txt" ||
  echo "(PyTorch CIFAR-10 benchmark failed)"
"$python" bench/torch/bench_translate.py 2 "$iterations" --device "$device" | tee "$out/torch_translate.txt" ||
  echo "(PyTorch translator benchmark failed)"

# Table rows "model batch params ms img/s(med) img/s(best) peakMiB" -> "model/batch img/s peak".
cifar_rows() { [ -f "$1" ] && awk '$1 ~ /Net$/ && NF >= 7 { print $1 "/" $2, $5, $7 }' "$1"; }
# "train step: ... -> A target tokens/s (best), B (median)" and "peak GPU memory (train step): N MiB".
translate_row() {
  [ -f "$1" ] && awk '/train step:/ { for (i = 1; i < NF; ++i) if ($(i + 1) == "(median)") speed = $i }
                      /peak GPU memory/ { peak = $(NF - 1) }
                      END { if (speed != "") print "Seq2Seq/64", speed, peak }' "$1"
}
{ cifar_rows "$out/focus_cifar.txt"; translate_row "$out/focus_translate.txt"; } >"$out/focus.rows" || true
{ cifar_rows "$out/torch_cifar.txt"; translate_row "$out/torch_translate.txt"; } >"$out/torch.rows" || true

echo
echo "GPU training step, float32, median of $iterations steps, $device"
awk 'FILENAME == ARGV[1] { torch_speed[$1] = $2; torch_peak[$1] = $3; next }
     FNR == 1 { printf "%-22s %-12s %12s %12s %8s %11s %11s\n", "model/batch", "unit", "focus", "torch",
                       "ratio", "focus MiB", "torch MiB" }
     { unit = $1 ~ /^Seq2Seq/ ? "tokens/s" : "images/s"
       t = ($1 in torch_speed) ? torch_speed[$1] : "-"
       ratio = (t != "-" && t > 0) ? sprintf("%.2f", $2 / t) : "-"
       printf "%-22s %-12s %12.0f %12s %8s %11.1f %11s\n", $1, unit, $2, t, ratio, $3,
              ($1 in torch_peak) ? torch_peak[$1] : "-" }' "$out/torch.rows" "$out/focus.rows"
echo "(ratio = focus / torch: above 1, focus is faster)"
