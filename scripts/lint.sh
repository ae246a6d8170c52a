#!/usr/bin/env bash
# Style and static checks with the project's own configs (.clang-format, .clang-tidy).
#   scripts/lint.sh           clang-format check of every C++ file (fails on a difference)
#   scripts/lint.sh --fix     reformat in place
#   scripts/lint.sh --tidy    also clang-tidy on every source file (needs build/release)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode="${1:-check}"
mapfile -t files < <(git ls-files '*.h' '*.cc' | grep -v '^build')

if [ "$mode" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi

echo "lint: clang-format (${#files[@]} files)"
clang-format --dry-run -Werror "${files[@]}"

if [ "$mode" = "--tidy" ]; then
  db="$root/build/release"
  [ -f "$db/compile_commands.json" ] || { echo "lint: build first (scripts/build.sh Release)"; exit 1; }
  mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cc$' | grep -v '^tests/')
  echo "lint: clang-tidy (${#sources[@]} files)"
  printf '%s\n' "${sources[@]}" |
    xargs -P "$(nproc)" -n 4 clang-tidy -p "$db" --quiet --warnings-as-errors='*' \
      --extra-arg=-Wno-unknown-warning-option
fi
echo "lint: clean"
