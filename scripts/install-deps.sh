#!/usr/bin/env bash
# Installs the Debian packages focus builds with, only those that are missing.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          libopenblas-dev libopenblas0-openmp catch2 libfmt-dev libstb-dev libcli11-dev
          libopenmpi-dev openmpi-bin
          fonts-dejavu-core)  # DejaVu Sans: UTF-8 labels in pictures (datasets/pictures/font.h)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
