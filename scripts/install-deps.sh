#!/usr/bin/env bash
# Installs the Debian packages focus builds with, only those that are missing.
# Usage: scripts/install-deps.sh [--fuzz]
#   --fuzz: also clang, its OpenMP and its libFuzzer runtime, for the fuzz targets (tests/fuzz).
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          libopenblas-dev libopenblas0-openmp catch2 libfmt-dev libstb-dev libcli11-dev
          libopenmpi-dev openmpi-bin
          libpng-dev libjpeg-dev  # PNG and JPEG decoding of untrusted files (datasets/image_decode.cpp)
          fonts-dejavu-core)  # DejaVu Sans: UTF-8 labels in pictures (datasets/pictures/font.h)
fuzz=false
if [ "${1:-}" = "--fuzz" ]; then
  fuzz=true
  packages+=(clang libomp-dev)
fi

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
updated=false
install() {
  echo "install-deps: installing $*"
  if ! $updated; then "${sudo_cmd[@]}" apt-get update -qq; updated=true; fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then install "${missing[@]}"; fi

# libFuzzer is in clang's runtime package, only recommended by clang itself.
if $fuzz && ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
                clang++ -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  install "libclang-rt-$(clang++ -dumpversion | cut -d. -f1)-dev"
fi
echo "install-deps: all packages present"
