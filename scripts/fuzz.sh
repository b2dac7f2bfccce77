#!/usr/bin/env bash
# Fuzzes focus's loaders with libFuzzer, AddressSanitizer and UBSan (tests/fuzz).
# Usage: scripts/fuzz.sh [seconds per target, default 600] [target ...]
#   targets: tests/fuzz/fuzz_<target>.cpp (safetensors json checkpoint ...); all by default.
# Builds build-fuzz with clang, then runs the targets two at a time, each from its committed seeds
# plus what earlier runs found (build-fuzz/tests/fuzz/corpus/<target>, kept between runs). Prints
# executions, coverage and corpus size per target; inputs that crash are saved as
# build-fuzz/tests/fuzz/findings/<target>-crash-<hash> (replay one: build-fuzz/tests/fuzz/fuzz_<target> FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
scripts/install-deps.sh
if ! command -v clang++ >/dev/null; then
  echo "fuzz: installing clang (libFuzzer comes with it)"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null || \
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends clang
fi

# BUILD_DIR may name an existing FOCUS_FUZZ build (CI's build-sanitize is one); it is used as it is.
build_dir=${BUILD_DIR:-build-fuzz}
if [ -f "$build_dir/CMakeCache.txt" ]; then
  grep -q '^FOCUS_FUZZ:BOOL=ON' "$build_dir/CMakeCache.txt" ||
    { echo "fuzz: $build_dir is not a FOCUS_FUZZ build; pick another BUILD_DIR" >&2; exit 2; }
else
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DFOCUS_SANITIZE=ON -DFOCUS_FUZZ=ON \
    -DFOCUS_BUILD_TESTS=ON -DFOCUS_BUILD_EXAMPLES=ON -DFOCUS_BUILD_BENCH=OFF -DFOCUS_CUDA=OFF \
    -DFOCUS_CPU_DISPATCH=OFF -DFOCUS_DIST=OFF >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in tests/fuzz/fuzz_*.cpp; do name=${source#tests/fuzz/fuzz_}; targets+=("${name%.cpp}"); done
fi
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

fuzz_dir="$build_dir/tests/fuzz"
mkdir -p "$fuzz_dir/findings" "$fuzz_dir/logs"
run_one() {
  local name=$1
  mkdir -p "$fuzz_dir/corpus/$name"
  OMP_NUM_THREADS=1 "$fuzz_dir/fuzz_$name" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 \
    -print_final_stats=1 -artifact_prefix="$fuzz_dir/findings/$name-" \
    "$fuzz_dir/corpus/$name" "tests/fuzz/corpus/$name" >"$fuzz_dir/logs/$name.log" 2>&1 || true
}
echo "fuzz: ${#targets[@]} targets, $seconds s each, $(nproc) at a time; logs in $fuzz_dir/logs"
for name in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 1; done
  run_one "$name" &
done
wait

printf '%-16s %12s %10s %8s %8s %s\n' target executions exec/s cov ft result
status=0
for name in "${targets[@]}"; do
  log="$fuzz_dir/logs/$name.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  features=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  result=clean
  if grep -q -E 'ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error:|fuzz finding:' "$log"; then
    result="FINDING (see $log)"; status=1
  fi
  printf '%-16s %12s %10s %8s %8s %s\n' "$name" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${features:-?}" "$result"
done
exit $status
