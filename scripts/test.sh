#!/usr/bin/env bash
# The whole test suite: installs dependencies, checks the formatting, then builds and runs
# every test twice, once as Release and once under AddressSanitizer +
# UndefinedBehaviorSanitizer, and runs every libFuzzer target for a while (scripts/fuzz.sh).
# Each next build runs beside the previous test run, at the lowest CPU priority.
# Network tests need root (network namespaces, iptables).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/lint.sh"

status=0
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_tests() {
  echo "=== test $1"
  if ! ctest --test-dir "$root/build/$1" --output-on-failure -j 2 --timeout 600; then
    status=1
  fi
}
# Builds beside test runs take only idle CPU (nice 19): the tests mostly wait on sockets and
# child processes (about 40 % of two cores busy), so the next build overlaps them (CI time).
# Its output follows once the tests are done.
background() {  # sets bg_pid
  local log="$root/build/$1.log"
  shift
  nice -n 19 "$@" > "$log" 2>&1 &
  bg_pid=$!
}
finish() {
  local pid="$1" log="$root/build/$2.log"
  if ! wait "$pid"; then
    cat "$log"
    echo "=== $2 failed"
    exit 1
  fi
  tail -n 3 "$log"
}

echo "=== build Release"
"$root/scripts/build.sh" Release
mkdir -p "$root/build"
echo "=== build Asan (beside the Release tests)"
background asan-build "$root/scripts/build.sh" Asan
run_tests release
finish "$bg_pid" asan-build
echo "=== build fuzz targets (beside the Asan tests)"
background fuzz-build "$root/scripts/fuzz.sh" --build-only
run_tests asan
finish "$bg_pid" fuzz-build
echo "=== fuzz"
if ! "$root/scripts/fuzz.sh"; then
  status=1
fi
exit $status
