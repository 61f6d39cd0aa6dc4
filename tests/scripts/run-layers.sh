#!/usr/bin/env bash
# Runs the test layers of `make test` one after the other (fast ones first), keeps going
# after a failure so one run shows every broken layer, prints how long each took, and
# exits non-zero when any layer failed.
set -uo pipefail

names=() results=() times=()
failed=0
for layer in "$@"; do
  printf '\n===== make %s =====\n' "$layer"
  start=$SECONDS
  if make --no-print-directory "$layer"; then
    results+=(passed)
  else
    results+=(FAILED)
    failed=$((failed + 1))
  fi
  names+=("$layer")
  times+=($((SECONDS - start)))
done

printf '\n===== test layers =====\n'
for i in "${!names[@]}"; do
  printf '  %-16s %-7s %5ss\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
printf 'layers: %d passed, %d failed\n' "$(($# - failed))" "$failed"
[ "$failed" -eq 0 ]
