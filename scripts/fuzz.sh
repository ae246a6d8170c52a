#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang) into build/fuzz and runs each for a while
# from its seed corpus; fails when one finds a crash, a leak, undefined behaviour or a broken
# round trip. New inputs found along the way stay in build/fuzz/corpus/<target>.
#   scripts/fuzz.sh                 every target, FUZZ_SECONDS each (default 20), one per core
#   scripts/fuzz.sh fuzz_store_json one target
#   scripts/fuzz.sh --build-only    only build them (scripts/test.sh, beside the Asan tests)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/build/fuzz"
seconds="${FUZZ_SECONDS:-20}"
cmake -S "$root/tests/fuzz" -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$dir" -j "$(nproc)"
if [ "${1:-}" = "--build-only" ]; then exit 0; fi
mapfile -t targets < <(if [ $# -gt 0 ]; then printf '%s\n' "$@"; else
  find "$dir" -maxdepth 1 -type f -executable -name 'fuzz_*' -printf '%f\n' | sort; fi)
# One target: its report in $dir/$t.report, its exit status as the function's.
run_one() {
  local t="$1" work="$dir/corpus/$1"
  mkdir -p "$work" "$dir/artifacts/$t"
  {
    echo "=== fuzz $t (${seconds}s)"
    if ! "$dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t/" "$work" \
        "$root/tests/fuzz/corpus/$t" > "$dir/$t.log" 2>&1; then
      echo "fuzz: $t failed; the input is in $dir/artifacts/$t/"
      tail -n 60 "$dir/$t.log"
      return 1
    fi
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$dir/$t.log" | tr '\n' ' '
    echo
  } > "$dir/$t.report"
}

# As many targets at a time as there are cores (each is one busy process).
jobs="$(nproc)"
status=0
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  batch=("${targets[@]:i:jobs}")
  pids=()
  for t in "${batch[@]}"; do
    run_one "$t" &
    pids+=($!)
  done
  for n in "${!batch[@]}"; do
    if ! wait "${pids[$n]}"; then status=1; fi
    cat "$dir/${batch[$n]}.report"
  done
done
exit $status
