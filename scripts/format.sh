#!/usr/bin/env bash
# clang-format keeps one style: `format.sh` rewrites the tree's C files,
# `format.sh --check` lists the files that differ and fails.
set -euo pipefail
case ${1:-} in
"" | --check) ;;
*)
  echo "usage: format.sh [--check]" >&2
  exit 2
  ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build' || true)
[[ ${#files[@]} -gt 0 ]] || exit 0
if [[ ${1:-} == --check ]]; then
  bad=0
  for f in "${files[@]}"; do
    [[ -f $f ]] || continue
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then
      echo "not formatted: $f (run scripts/format.sh)" >&2
      bad=1
    fi
  done
  exit $bad
fi
clang-format --style=file -i "${files[@]}"
