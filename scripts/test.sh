#!/usr/bin/env bash
# The whole test suite: installs dependencies, checks the formatting, then builds and runs
# every test twice, once as Release and once under AddressSanitizer +
# UndefinedBehaviorSanitizer, and runs every libFuzzer target for a while (scripts/fuzz.sh).
# Network tests need root (network namespaces, iptables).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/lint.sh"

status=0
for type in Release Asan; do
  echo "=== build $type"
  "$root/scripts/build.sh" "$type"
  dir="$root/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
  echo "=== test $type"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
  export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  if ! ctest --test-dir "$dir" --output-on-failure -j 2 --timeout 600; then
    status=1
  fi
done
echo "=== fuzz"
if ! "$root/scripts/fuzz.sh"; then
  status=1
fi
exit $status
