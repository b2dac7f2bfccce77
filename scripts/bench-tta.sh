#!/usr/bin/env bash
# Time to accuracy on CIFAR-10, focus against the newest PyTorch on this CPU: the attention model
# trained by the same recipe, examples/cifar10_attention and its twin bench/torch/cifar_recipe.py in
# NCHW and in channels_last, one after the other (never at once) for each preset and seed. Installs torch from PyPI into a
# virtual environment (~/torch-venv, once), builds the example (Release), then prints the machine
# and one markdown table: minutes to 80, 85 and 90 % test accuracy (summed epoch times, training
# and evaluation, as the programs' time_to_accuracy), the final test-time-augmented accuracy and the
# wall minutes of each run.
#
#   scripts/bench-tta.sh [--preset quick|default|both] [--seeds 0,1] [--layouts nchw,channels_last]
#                        [--data DIR] [-- ARGS...]
#
# --layouts picks PyTorch's layouts (default both; channels_last alone when the better one is known and
# a run is long, as the default preset's 40 minutes are).
# Default: the quick preset, seed 0. ARGS go to both programs, e.g. `-- --epochs 1 --limit 2048
# --test-limit 1000` for a smoke run. CIFAR-10: --data DIR/cifar-10-batches-bin, else
# $FOCUS_DATA/cifar-10-batches-bin. THREADS (2), BUILD_DIR (build), TORCH_VENV (~/torch-venv) and
# OUT (runs/bench-tta: focus's run folders and both programs' logs) as in the other scripts.
# Run it on a quiet machine: anything else running slows 2-thread training.
set -euo pipefail
cd "$(dirname "$0")/.."

presets=quick
seeds=0
layouts=nchw,channels_last
data=
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) presets=${2:?--preset needs quick, default or both}; shift 2 ;;
    --preset=*) presets=${1#*=}; shift ;;
    --seeds) seeds=${2:?--seeds needs a list such as 0,1}; shift 2 ;;
    --seeds=*) seeds=${1#*=}; shift ;;
    --layouts) layouts=${2:?--layouts needs a list such as nchw,channels_last}; shift 2 ;;
    --layouts=*) layouts=${1#*=}; shift ;;
    --data) data=${2:?--data needs a folder}; shift 2 ;;
    --data=*) data=${1#*=}; shift ;;
    --) shift; break ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-tta.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
extra=("$@")
case "$presets" in
  both) presets="quick default" ;;
  quick | default) ;;
  *) echo "bench-tta.sh: --preset must be quick, default or both, not '$presets'" >&2; exit 2 ;;
esac
IFS=, read -r -a layout_list <<<"$layouts"
for layout in "${layout_list[@]}"; do
  [ "$layout" = nchw ] || [ "$layout" = channels_last ] || {
    echo "bench-tta.sh: --layouts wants nchw and/or channels_last separated by commas, not '$layouts'" >&2
    exit 2
  }
done
IFS=, read -r -a seed_list <<<"$seeds"
for seed in "${seed_list[@]}"; do
  [[ "$seed" =~ ^[0-9]+$ ]] || {
    echo "bench-tta.sh: --seeds wants numbers separated by commas, not '$seeds'" >&2
    exit 2
  }
done
if [ -z "$data" ]; then
  [ -n "${FOCUS_DATA:-}" ] || {
    echo "bench-tta.sh: set FOCUS_DATA to the folder holding cifar-10-batches-bin/, or pass --data DIR" >&2
    exit 2
  }
  data=$FOCUS_DATA/cifar-10-batches-bin
fi
[ -f "$data/data_batch_1.bin" ] || {
  echo "bench-tta.sh: no CIFAR-10 in $data (scripts/download-cifar10.sh DIR fetches it)" >&2
  exit 2
}

scripts/install-deps.sh
venv=${TORCH_VENV:-$HOME/torch-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; }
  python3 -m venv "$venv" || { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --upgrade torch
fi

build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target cifar10_attention

threads=${THREADS:-2}
export OMP_NUM_THREADS=$threads
out=${OUT:-runs/bench-tta}
mkdir -p "$out"
runs="$out/runs.txt"  # one line per run: preset seed framework summary.json
: >"$runs"
for preset in $presets; do
  for seed in "${seed_list[@]}"; do
    name=$preset-seed$seed
    echo "== focus, preset $preset, seed $seed"
    "$build_dir/examples/cifar10_attention" --preset "$preset" --seed "$seed" --threads "$threads" --data "$data" \
      --out "$out/focus-$name" --overwrite "${extra[@]}" 2>&1 | tee "$out/focus-$name.log"
    echo "$preset $seed focus $out/focus-$name/summary.json" >>"$runs"
    # The twin trains the epochs focus trained (summary.json; the default preset's come from its time budget).
    epochs=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("epochs", ""))' \
      "$out/focus-$name/summary.json")
    # PyTorch in both layouts unless told: the better of the two is the peer (channels_last is oneDNN's own).
    for layout in "${layout_list[@]}"; do
      flags=()
      [ -n "$epochs" ] && flags=(--epochs "$epochs")
      [ "$layout" = channels_last ] && flags+=(--channels-last)
      echo "== torch ($layout), preset $preset, seed $seed"
      "$venv/bin/python" bench/torch/cifar_recipe.py --preset "$preset" --seed "$seed" --threads "$threads" \
        --data "$data" "${flags[@]}" "${extra[@]}" 2>&1 | tee "$out/torch-$layout-$name.log"
      grep '^{' "$out/torch-$layout-$name.log" | tail -n 1 >"$out/torch-$layout-$name.json"
      echo "$preset $seed torch-$layout $out/torch-$layout-$name.json" >>"$runs"
    done
  done
done

{
  echo
  echo "## $(date -u +%F) on $(lscpu | sed -n 's/^Model name: *//p')"
  echo
  echo "lscpu flags: $(lscpu | sed -n 's/^Flags: *//p' | tr ' ' '\n' | grep -E '^(avx|fma|f16c|amx)' | tr '\n' ' ')"
  echo
  "$venv/bin/python" -c 'import torch; print(f"torch {torch.__version__}, CPU capability "
                                             f"{torch.backends.cpu.get_cpu_capability()}")'
  echo "$threads threads each, one run at a time; extra arguments: ${extra[*]:-none}"
  echo
  python3 - "$runs" <<'PY'
import json
import sys

def minutes(value):
    return f"{value:.2f}" if isinstance(value, (int, float)) else str(value)

print("| preset | seed | framework | min to 80 % | min to 85 % | min to 90 % | final accuracy | wall min |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    preset, seed, framework, path = line.split(maxsplit=3)
    with open(path.strip()) as f:
        summary = json.load(f)
    cells = [minutes(summary.get(f"minutes_to_{t}", "-")) for t in (80, 85, 90)]
    accuracy = summary.get("test_accuracy")
    wall = summary.get("wall_seconds")
    cells.append(f"{100 * float(accuracy):.2f} %" if accuracy is not None else "-")
    cells.append(f"{float(wall) / 60:.1f}" if wall is not None else "-")
    print(f"| {preset} | {seed} | {framework} | " + " | ".join(cells) + " |")
PY
  echo
  echo "(minutes to X %: the summed epoch times, training and per-epoch evaluation, up to the first epoch whose"
  echo "test accuracy reached X; final accuracy: with test-time augmentation unless --no-tta)"
} | tee "$out/report.md"
