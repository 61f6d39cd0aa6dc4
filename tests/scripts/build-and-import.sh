#!/usr/bin/env bash
# Builds the collection tarball and runs Galaxy's own importer on it (offline: it runs
# ansible-doc, content discovery and ansible-lint). Fails on any importer error.
# The importer runs from MESHLAB_IMPORTER_VENV (its own venv, tests/importer/requirements.txt),
# with that venv's ansible-doc and ansible-lint first on PATH; unset: the python on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out="${MESHLAB_CACHE_DIR:-$repo/.cache}/dist"
rm -rf "$out"
mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" "$repo"
tarball=$(find "$out" -maxdepth 1 -name 'meshlab-service_mesh-*.tar.gz' -print -quit)
[ -n "$tarball" ] || { echo "build: no tarball in $out" >&2; exit 1; }
echo "build: $(basename "$tarball") ($(stat -c %s "$tarball") bytes, $(tar -tzf "$tarball" | wc -l) entries)"

log="$out/galaxy-importer.log"
cfg="$out/galaxy-importer.cfg"
# Run ansible-lint inside the importer like Galaxy does; no container engine, no network.
printf '[galaxy-importer]\nRUN_ANSIBLE_LINT = True\nRUN_ANSIBLE_DOC = True\nCHECK_CHANGELOG = True\nLOG_LEVEL_MAIN = INFO\n' >"$cfg"
# Its ansible-lint copies the collection into ~/.ansible/collections, where the stale copy would
# shadow the working tree for later runs: give it a home of its own.
mkdir -p "$out/home"
importer_path="$PATH"
[ -z "${MESHLAB_IMPORTER_VENV:-}" ] || importer_path="$MESHLAB_IMPORTER_VENV/bin:$PATH"
(cd "$out" && PATH="$importer_path" HOME="$out/home" GALAXY_IMPORTER_CONFIG="$cfg" python -m galaxy_importer.main "$tarball") >"$log" 2>&1 || {
  echo "build: galaxy-importer failed on $(basename "$tarball"):" >&2
  tail -n 40 "$log" >&2
  exit 1
}
if grep -E '^(ERROR|CRITICAL)|ERROR:' "$log" >&2; then
  echo "build: galaxy-importer reported errors (full log: $log)" >&2
  exit 1
fi
awk '/WARNING/ {print; n++} END {printf "build: galaxy-importer passed (%d warnings; log: %s)\n", n, FILENAME}' "$log"
