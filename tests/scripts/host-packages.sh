#!/usr/bin/env bash
# Debian packages the tests need on the host: Docker Engine (Molecule), debootstrap
# (the Molecule base image), shellcheck (ansible-test sanity). Installs what is missing
# when run as root on Debian/Ubuntu; otherwise names what to install and fails.
set -euo pipefail

declare -A wanted=([docker.io]=dockerd [debootstrap]=debootstrap [shellcheck]=shellcheck)
missing=()
for pkg in "${!wanted[@]}"; do
  command -v "${wanted[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && { echo "host-packages: docker.io, debootstrap, shellcheck present"; exit 0; }

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "host-packages: missing ${missing[*]}; install them with your package manager (Debian: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "host-packages: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "host-packages: installed ${missing[*]}"
