#!/usr/bin/env bash
# focus against the newest PyTorch on this CPU, side by side: installs torch from PyPI into a
# virtual environment (~/torch-venv, once), builds focus's benchmarks (Release), prints the machine
# and both configurations, then bench/compare_cpu.py runs each benchmark and its PyTorch twin
# alternately (3 rounds) and prints one table of medians and ratios.
#
#   scripts/bench-cpu.sh [--rounds N] [--only cifar,translate,lstm,attention,conv]
#
# Run it on a quiet machine: anything else running halves 2-thread timings. On a CPU with AVX-512,
# BENCH_CAPABILITY=avx2 runs both sides on their AVX2 code for the second comparison the targets
# ask for: focus's kernels (FOCUS_CPU_CAPABILITY) and its OpenBLAS core (OPENBLAS_CORETYPE=Haswell);
# PyTorch's own kernels (ATEN_CPU_CAPABILITY), and oneDNN's convolutions and MKL's GEMMs, which
# pick their instruction set themselves (ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS): with
# ATEN_CPU_CAPABILITY alone PyTorch's convolutions still run AVX-512 code.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
venv=${TORCH_VENV:-$HOME/torch-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; }
  python3 -m venv "$venv" || { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --upgrade torch numpy
fi

build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target bench_config bench_cifar bench_translate bench_lstm \
  bench_attention bench_conv

export OMP_NUM_THREADS=${THREADS:-2}
if [ -n "${BENCH_CAPABILITY:-}" ]; then
  export FOCUS_CPU_CAPABILITY=$BENCH_CAPABILITY ATEN_CPU_CAPABILITY=$BENCH_CAPABILITY
  case $BENCH_CAPABILITY in
    avx2) export OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ;;
    default) export OPENBLAS_CORETYPE=Nehalem ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 ;;
  esac
fi
echo "## $(date -u +%F) on $(lscpu | sed -n 's/^Model name: *//p')"
echo
echo "lscpu flags: $(lscpu | sed -n 's/^Flags: *//p' | tr ' ' '\n' | grep -E '^(avx|fma|f16c|amx)' | tr '\n' ' ')"
echo
if [ -n "${BENCH_CAPABILITY:-}" ]; then
  echo "forced: $(env | grep -E '^(FOCUS_CPU_CAPABILITY|ATEN_CPU_CAPABILITY|OPENBLAS_CORETYPE|ONEDNN_MAX_CPU_ISA|MKL_ENABLE_INSTRUCTIONS)=' | sort | tr '\n' ' ')"
  echo
fi
echo '```'
"$build_dir/bench/bench_config" "$OMP_NUM_THREADS"
"$venv/bin/python" - <<'PY'
import torch
print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
      f"{torch.get_num_threads()} threads by default")
PY
echo '```'
bench/compare_cpu.py --build "$build_dir" --python "$venv/bin/python" --threads "$OMP_NUM_THREADS" "$@"
