#!/usr/bin/env bash
# Downloads CIFAR-10 (binary version) into DIR/cifar-10-batches-bin.
#
#   scripts/download-cifar10.sh [DIR]     (DIR defaults to data/)
#
# Then point focus at it: FOCUS_DATA=DIR, or --data DIR in the examples.
# Does nothing when the batches are already there with the right sizes.
set -euo pipefail

readonly URL="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
readonly MD5="c32a1d4ab5d03f1284b67883e8d87530"
readonly RECORD_FILE_BYTES=30730000  # 10,000 records of 1 label byte + 3,072 pixel bytes
readonly FILES=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)

if [[ $# -gt 1 || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,7s/^# \{0,1\}//p' "$0"
  exit 2
fi
dir="${1:-data}"
target="$dir/cifar-10-batches-bin"

file_size() { stat -L -c %s "$1" 2>/dev/null || echo 0; }

already_present() {
  local name
  for name in "${FILES[@]}"; do
    [[ "$(file_size "$target/$name")" == "$RECORD_FILE_BYTES" ]] || return 1
  done
  [[ -s "$target/batches.meta.txt" ]]
}

if already_present; then
  echo "CIFAR-10 is already in $target (6 batch files of $RECORD_FILE_BYTES bytes): nothing to do."
  exit 0
fi

manual_instructions() {
  cat >&2 <<MSG

Could not download CIFAR-10 automatically. To install it by hand:
  1. On a machine with internet access, download
       $URL
     (162 MB, md5 $MD5).
  2. Copy it here and unpack it so that the batches end up in
       $target/
     e.g.  mkdir -p "$dir" && tar -xzf cifar-10-binary.tar.gz -C "$dir"
     which creates $target/data_batch_1.bin ... data_batch_5.bin, test_batch.bin
     and batches.meta.txt.
  3. Run this script again to check the files, then set FOCUS_DATA=$dir.
MSG
}

mkdir -p "$dir"
archive="$dir/cifar-10-binary.tar.gz"
partial="$archive.part"
trap 'rm -f "$partial"' EXIT

if [[ ! -f "$archive" ]]; then
  echo "Downloading $URL"
  downloaded=0
  if command -v curl >/dev/null 2>&1; then
    curl --fail --location --connect-timeout 20 --retry 2 --output "$partial" "$URL" && downloaded=1
  elif command -v wget >/dev/null 2>&1; then
    wget --timeout=20 --tries=2 --output-document="$partial" "$URL" && downloaded=1
  else
    echo "error: neither curl nor wget is installed." >&2
  fi
  if [[ "$downloaded" != 1 ]]; then
    echo "error: the download failed (no network?)." >&2
    manual_instructions
    exit 1
  fi
  mv "$partial" "$archive"
else
  echo "Using the archive already at $archive"
fi

actual_md5="$(md5sum "$archive" | cut -d' ' -f1)"
if [[ "$actual_md5" != "$MD5" ]]; then
  echo "error: $archive has md5 $actual_md5, expected $MD5 (corrupt or incomplete download)." >&2
  echo "Delete it and run this script again." >&2
  exit 1
fi

tar -xzf "$archive" -C "$dir"
if ! already_present; then
  echo "error: unpacking $archive did not produce the expected files in $target." >&2
  exit 1
fi
rm -f "$archive"
echo "CIFAR-10 is ready in $target. Use it with: export FOCUS_DATA=$dir"
