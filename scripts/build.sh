#!/usr/bin/env bash
# Configures and builds one build type into build/<type> (Release by default, or Asan).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
type="${1:-Release}"
dir="$root/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
cmake --build "$dir" -j "$(nproc)"
