#!/usr/bin/env bash
# Prints the path of a Python X.Y interpreter (the version matrix, tests/matrix), or fails saying
# where it looked and how to get one. Looked at, in this order: MESHLAB_PYTHON_X_Y (e.g.
# MESHLAB_PYTHON_3_12=/opt/py/bin/python3.12), pythonX.Y on PATH, pyenv's versions
# (${PYENV_ROOT:-~/.pyenv}/versions/X.Y.*, newest patch first), /usr/local/bin, /usr/bin.
# A candidate counts only when it runs, is X.Y and can make a venv.
set -euo pipefail

want="${1:?usage: find-python.sh X.Y [what needs it]}"
what="${2:-}"
override_var="MESHLAB_PYTHON_${want//./_}"
candidates=()
[ -n "${!override_var:-}" ] && candidates+=("${!override_var}")
if p=$(command -v "python$want" 2>/dev/null); then candidates+=("$p"); fi
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
while IFS= read -r d; do
  candidates+=("$d/bin/python$want")
done < <(find "$pyenv_root/versions" -maxdepth 1 -name "$want.*" 2>/dev/null | sort -rV)
candidates+=("/usr/local/bin/python$want" "/usr/bin/python$want")

for c in "${candidates[@]}"; do
  [ -x "$c" ] || continue
  got=$("$c" -c 'import sys, venv; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
  if [ "$got" = "$want" ]; then
    "$c" -c 'import sys; print(getattr(sys, "_base_executable", "") or sys.executable)'  # a venv's: its base Python
    exit 0
  fi
done
{
  echo "find-python: no Python $want${what:+ (needed by $what)}; looked at: ${candidates[*]}"
  echo "find-python: install it (e.g. pyenv install $want) or set $override_var=/path/to/python$want"
} >&2
exit 1
