#!/usr/bin/env bash
# bench_smoke: runs bench/run --smoke against this build and checks its results.json.
#   tests/bench/smoke.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$1"
build="$2"
if [ "$(id -u)" -ne 0 ]; then
  echo "bench_smoke: skipped (needs root: network namespaces and iptables)"
  exit 77
fi
out="$(mktemp -d /tmp/strait-bench-smoke-XXXXXX)"
trap 'rm -rf "$out"' EXIT
# Leaks are the unit tests' business; a sanitizer build must not fail the run on exit.
export ASAN_OPTIONS="detect_leaks=0"
python3 "$src/bench/run" --smoke --build "$build" --out "$out" > "$out/stdout.txt"
python3 "$src/tests/bench/check_results.py" "$out"
