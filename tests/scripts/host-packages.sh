#!/usr/bin/env bash
# Debian packages the tests need on the host: Docker Engine (Molecule), debootstrap
# (the Molecule base image), shellcheck (ansible-test sanity). Installs what is missing
# when run as root on Debian/Ubuntu; otherwise names what to install and fails.
# Graphviz (the mesh report's SVG) is optional: installed along when root can, never a failure.
set -euo pipefail

declare -A wanted=([docker.io]=dockerd [debootstrap]=debootstrap [shellcheck]=shellcheck)
declare -A optional=([graphviz]=dot)
missing=() extra=()
for pkg in "${!wanted[@]}"; do
  command -v "${wanted[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
for pkg in "${!optional[@]}"; do
  command -v "${optional[$pkg]}" >/dev/null 2>&1 || extra+=("$pkg")
done
can_install=false
[ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 && can_install=true

if [ ${#missing[@]} -eq 0 ]; then
  echo "host-packages: docker.io, debootstrap, shellcheck present"
  [ ${#extra[@]} -eq 0 ] && exit 0
  if [ "$can_install" = false ]; then
    echo "host-packages: optional ${extra[*]} missing (the mesh report has no SVG without it; Debian: sudo apt-get install ${extra[*]})"
    exit 0
  fi
fi

if [ "$can_install" = false ]; then
  echo "host-packages: missing ${missing[*]}; install them with your package manager (Debian: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "host-packages: installing ${missing[*]} ${extra[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#missing[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ ${#extra[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null ||
    echo "host-packages: optional ${extra[*]} could not be installed (the mesh report has no SVG without it)"
fi
echo "host-packages: installed ${missing[*]} ${extra[*]}"
