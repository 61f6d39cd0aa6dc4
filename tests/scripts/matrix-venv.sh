#!/usr/bin/env bash
# One venv of the ansible-core version matrix: matrix-venv.sh <core> <python X.Y> <dir> <project venv>.
# <dir>/bin: ansible-core <core> (tests/matrix/core-<core>.txt) on Python X.Y (tests/scripts/find-python.sh).
# <dir>/collections/ansible_collections: this checkout as meshlab.service_mesh and, when the venv's
# own packages do not carry it (only the `ansible` package does), kubernetes.core from the project
# venv's `ansible` package (the version `make setup` installs, the low end of requirements.yml).
set -euo pipefail

core="$1" want="$2" dir="$3" project_venv="$4"
repo=$(cd "$(dirname "$0")/../.." && pwd)
reqs="$repo/tests/matrix/core-$core.txt"
[ -f "$reqs" ] || { echo "matrix: no $reqs (one requirements file per ansible-core of the matrix)" >&2; exit 2; }
py=$("$repo/tests/scripts/find-python.sh" "$want" "ansible-core $core in the version matrix")

start=$SECONDS
if [ ! -x "$dir/bin/python" ] || [ "$("$dir/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$want" ]; then
  rm -rf "$dir"
  "$py" -m venv "$dir"
fi
"$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"

colls="$dir/collections/ansible_collections"
rm -rf "$dir/collections"
mkdir -p "$colls/meshlab"
ln -s "$repo" "$colls/meshlab/service_mesh"
own=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections/kubernetes/core
if [ -d "$own" ]; then
  k8s_from="the ansible package in this venv"
else
  own=$(find "$project_venv"/lib/python3*/site-packages/ansible_collections/kubernetes -maxdepth 1 -name core | head -n 1)
  [ -n "$own" ] || { echo "matrix: no kubernetes.core in $project_venv (make setup installs the ansible package)" >&2; exit 1; }
  mkdir -p "$colls/kubernetes"
  ln -s "$own" "$colls/kubernetes/core"
  k8s_from="the project venv's ansible package"
fi
k8s=$(sed -nE 's/^ *"version": "([^"]+)".*/\1/p' "$own/MANIFEST.json" | head -n 1)
echo "matrix: $("$dir/bin/ansible" --version | sed -n 1p) on Python $want ($py), kubernetes.core $k8s from $k8s_from; $dir in $((SECONDS - start))s"
