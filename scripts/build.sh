#!/usr/bin/env bash
# Configures and builds one build type into build/<type> (Release by default, or Asan);
# every target, or only those named after the type.
#   scripts/build.sh Release straitctl strait-controller
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
type="${1:-Release}"
shift || true
dir="$root/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$dir" -j "$(nproc)" --target "$@"
else
  cmake --build "$dir" -j "$(nproc)"
fi
