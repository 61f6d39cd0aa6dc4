#!/usr/bin/env bash
# ansible-test sanity on this collection. ansible-test insists on running from
# .../ansible_collections/<namespace>/<name>, so the files git knows (tracked, or new and
# not ignored) are copied there first. Sanity's own tools go into ansible-test's venvs
# from PyPI; the get-pip bootstrap ansible-test would download comes from
# tests/scripts/get_pip_offline.py (see there why).
#
# MESHLAB_SANITY_VENV=<venv> runs the ansible-test of that venv (the version matrix,
# tests/matrix) in a copy of its own (<cache>/sanity-<venv name>); default: the one on PATH.
# MESHLAB_SANITY_COLLECTIONS=<folder holding ansible_collections>: where the dependencies are
# looked for before that Python's own packages.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache="${MESHLAB_CACHE_DIR:-$repo/.cache}"
copy="$cache/sanity"
if [ -n "${MESHLAB_SANITY_VENV:-}" ]; then
  [ -x "$MESHLAB_SANITY_VENV/bin/ansible-test" ] || {
    echo "sanity: no ansible-test in MESHLAB_SANITY_VENV=$MESHLAB_SANITY_VENV" >&2
    exit 2
  }
  export PATH="$MESHLAB_SANITY_VENV/bin:$PATH"
  copy="$cache/sanity-$(basename "$MESHLAB_SANITY_VENV")"
fi
python_version="${MESHLAB_SANITY_PYTHON:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}"
dest="$copy/ansible_collections/meshlab/service_mesh"
echo "sanity: $(ansible-test --version) on Python $python_version ($(command -v ansible-test))"

# The pip version ansible-test bootstraps into its venvs (python_requirements.py: pip='X').
pip_version=$(python3 - <<'PY'
import pathlib, re, ansible_test
src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
m = re.search(r"pip='([0-9.]+)'", src)
print(m.group(1) if m else "")
PY
)
if [ -n "$pip_version" ]; then
  shim="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  if ! cmp -s "$repo/tests/scripts/get_pip_offline.py" "$shim"; then
    mkdir -p "$(dirname "$shim")"
    cp "$repo/tests/scripts/get_pip_offline.py" "$shim"
    echo "sanity: pip $pip_version bootstrap for ansible-test: $shim (ensurepip + PyPI)"
  fi
fi

rm -rf "$dest"
mkdir -p "$dest"
cd "$repo"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
  xargs -0 --no-run-if-empty cp --parents -t "$dest"
# ansible-test sees only this ansible_collections tree: put the collections this one depends on
# (galaxy.yml: kubernetes.core, whose auth options and doc fragment the modules use) beside it.
dep="$copy/ansible_collections/kubernetes/core"
src=$(PYTHONPATH="${MESHLAB_SANITY_COLLECTIONS:-}" python3 -c "import ansible_collections.kubernetes.core as m; print(list(m.__path__)[0])")
rm -rf "$dep"
mkdir -p "$dep"
cp -r "$src/." "$dep/"
# ansible-test lists files through git when it finds a repository: give the copy its own.
git -C "$dest" init -q
git -C "$dest" add -A
cd "$dest"
ansible-test sanity --color no --python "$python_version" --venv --requirements "$@"
