#!/usr/bin/env bash
# Runs the test layers of `make test` one after the other (fast ones first), keeps going
# after a failure so one run shows every broken layer, prints how long each took and what
# each ran, and exits non-zero when any layer failed.
#
# An argument is a group of layers: `a` runs alone; `a+b` runs a and b at the same time (lanes);
# `a,b+c` runs the lane a-then-b at the same time as c. The next group starts when every lane of
# this one has ended; each layer is still recorded (result, seconds, count) on its own.
#
# A run cannot pass empty: no layer named is a failure, and so is a layer that exits 0
# without showing that it checked something. What counts, per layer kind (from its output):
#   pytest layers (unit, test-cluster, integration, any layer printing pytest's summary)
#                 at least 1 passed in pytest's last summary line (a run of skips only fails)
#   molecule-all  at least 1 scenario passed in its "molecule-all:" summary
#   lint          ansible-lint's "N files processed", N >= 1
#   sanity        ansible-test's 'Running sanity test "..."' lines, >= 1
#   syntax        ansible-playbook's "playbook: ..." lines, >= 1
#   docs-check    the roles named in role_docs.py's "match the argument specs (...)", >= 1
#   build         the entries of the built tarball, >= 1, and "galaxy-importer passed"
#   ee            the checks the ee target ran (its echoed test/grep/cmp lines), >= 1
#   task-coverage the role task files the tests were seen executing (check_task_files.py), >= 1
#   matrix-<core> ansible-test sanity and pytest tests/unit with that ansible-core: >= 1 of each
# A layer none of these fits fails with a message saying so: add its rule below.
set -uo pipefail

if [ "$#" -eq 0 ]; then
  echo "run-layers: no test layer named (TEST_LAYERS is empty): nothing would be tested, so this run fails" >&2
  exit 2
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/meshlab-layers.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

# The last pytest summary line's "N passed" (0 when there is none).
pytest_passed() {
  local line
  line=$(grep -E '(^|= )(no tests ran|[0-9]+ (passed|failed|skipped|deselected|errors?|xfailed|xpassed|warnings?))\b.* in [0-9.]+s' "$1" | tail -n 1)
  [ -n "$line" ] || { echo -1; return; }
  sed -nE 's/.*\b([0-9]+) passed\b.*/\1/p' <<<"$line" | grep . || echo 0
}

# Prints "<count> <what>" for the layer's log; count < 1 means it ran nothing; -1: no rule fits.
ran() {
  local layer=$1 log=$2 n
  case "$layer" in
    molecule-all)
      n=$(sed -nE 's/^molecule-all: ([0-9]+) passed, [0-9]+ failed.*/\1/p' "$log" | tail -n 1)
      echo "${n:-0} scenarios passed" ;;
    lint)
      n=$(sed -nE 's/.* in ([0-9]+) files processed.*/\1/p' "$log" | tail -n 1)
      echo "${n:-0} files linted" ;;
    sanity)
      echo "$(grep -cE "^Running sanity test [\"']" "$log") sanity tests" ;;
    syntax)
      echo "$(grep -c '^playbook: ' "$log") playbooks" ;;
    docs-check)
      n=$(sed -nE 's/.*match the argument specs \((.*)\)$/\1/p' "$log" | tail -n 1 | tr ',' '\n' | grep -c '[a-z]')
      echo "${n:-0} roles' tables" ;;
    build)
      n=$(sed -nE 's/^build: .* \(([0-9]+) bytes, ([0-9]+) entries\)$/\2/p' "$log" | tail -n 1)
      grep -q '^build: galaxy-importer passed' "$log" || n=0
      echo "${n:-0} tarball entries imported" ;;
    ee)
      echo "$(grep -cE '^(test -s|grep -q|cmp) ' "$log") build-context checks" ;;
    task-coverage)
      n=$(sed -nE 's/^task-coverage: ([0-9]+) of [0-9]+ task files executed.*/\1/p' "$log" | tail -n 1)
      echo "${n:-0} role task files seen executed" ;;
    matrix-[0-9]*)
      # ansible-test sanity and the unit tests with one ansible-core: both must have run.
      local s u
      s=$(grep -cE "^Running sanity test [\"']" "$log")
      u=$(pytest_passed "$log")
      n=$s; [ "$u" -lt "$n" ] && n=$u
      echo "$n (the fewer of: $s sanity tests, $u unit tests passed)" ;;
    *)
      n=$(pytest_passed "$log")
      if [ "$n" -ge 0 ]; then
        echo "$n tests passed"
      else
        echo "-1 (no rule in tests/scripts/run-layers.sh tells what this layer ran; add one)"
      fi ;;
  esac
}

names=() results=() times=() counts=()
failed=0

# Records one finished layer: its result from its exit code and from what its log shows it ran.
record() {
  local layer=$1 rc=$2 seconds=$3 count
  count=$(ran "$layer" "$logdir/$layer.log")
  if [ "$rc" -ne 0 ]; then
    results+=(FAILED)
    failed=$((failed + 1))
  elif [ "${count%% *}" -lt 1 ]; then
    results+=(EMPTY)
    failed=$((failed + 1))
    printf 'run-layers: make %s exited 0 but ran nothing: %s\n' "$layer" "$count" >&2
  else
    results+=(passed)
  fi
  names+=("$layer")
  times+=("$seconds")
  counts+=("$count")
}

# One layer of a lane: make <layer>, its lines to the console as they come, each prefixed by the
# layer's name; its exit code and seconds into <layer>.rc.
run_in_lane() {
  local layer=$1 s=$SECONDS mp tp rc
  : >"$logdir/$layer.log"
  make --no-print-directory "$layer" >"$logdir/$layer.log" 2>&1 &
  mp=$!
  tail -n +1 -F --pid="$mp" "$logdir/$layer.log" 2>/dev/null | sed -u "s/^/[$layer] /" &
  tp=$!
  wait "$mp"
  rc=$?
  wait "$tp"
  echo "$rc $((SECONDS - s))" >"$logdir/$layer.rc"
}

# A layer is run alone, or, written a+b, at the same time as others: layers that use clusters and
# servers of their own (integration's, Molecule's) spend most of their time waiting on them, and a
# one-process layer (sanity, a matrix core) leaves the second core idle, so two lanes at once take
# far less than one after the other. Layers sharing a lane (a,b) run one after the other in it.
total=0
for group in "$@"; do
  IFS=+ read -r -a lanes <<<"$group"
  IFS=, read -r -a layers <<<"${group//+/,}"
  printf '\n===== make %s =====\n' "${group//[+,]/ }"
  start=$SECONDS
  if [ "${#layers[@]}" -eq 1 ]; then
    layer=${layers[0]}
    make --no-print-directory "$layer" 2>&1 | tee "$logdir/$layer.log"
    record "$layer" "${PIPESTATUS[0]}" $((SECONDS - start))
  else
    pids=()
    for lane in "${lanes[@]}"; do
      IFS=, read -r -a steps <<<"$lane"
      (
        for layer in "${steps[@]}"; do
          run_in_lane "$layer"
        done
      ) &
      pids+=($!)
    done
    wait "${pids[@]}"
    for layer in "${layers[@]}"; do
      # a lane killed before its layer ended leaves no .rc: that layer failed
      rc=1 seconds=$((SECONDS - start))
      [ -s "$logdir/$layer.rc" ] && read -r rc seconds <"$logdir/$layer.rc"
      record "$layer" "$rc" "$seconds"
    done
  fi
  total=$((total + ${#layers[@]}))
done

printf '\n===== test layers =====\n'
for i in "${!names[@]}"; do
  printf '  %-16s %-7s %5ss  %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}" "${counts[$i]}"
done
printf 'wall time: %ss\n' "$SECONDS"
# The closing line (a failed count includes layers that exited 0 but ran nothing: EMPTY above).
printf 'layers: %d passed, %d failed\n' "$((total - failed))" "$failed"
[ "$failed" -eq 0 ]
