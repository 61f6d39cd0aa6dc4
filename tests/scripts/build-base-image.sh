#!/usr/bin/env bash
# Builds the Molecule base image (Debian 12 with python3 and sudo) without any registry:
# debootstrap into a folder, then `docker import`. The host's apt sources go inside, so
# packages install in containers the same way they do on the host. Built once per machine:
# the image carries a label with the hash of this recipe and is rebuilt only when it changes.
set -euo pipefail

image="${MESHLAB_BASE_IMAGE:-meshlab/debian-molecule:12}"
suite="${MESHLAB_BASE_SUITE:-bookworm}"
cache_dir="${MESHLAB_CACHE_DIR:-$(pwd)/.cache}"

say() { printf 'base-image: %s\n' "$*" >&2; }

recipe_hash=$( { cat "$0"; printf '%s\n' "$suite"; } | sha256sum | cut -c1-16)
current=$(docker image inspect --format '{{ index .Config.Labels "org.meshlab.recipe" }}' "$image" 2>/dev/null || printf none)
if [ "$current" = "$recipe_hash" ]; then
  say "$image is up to date (recipe $recipe_hash): nothing to build"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  say "debootstrap is missing. On Debian/Ubuntu: apt-get install debootstrap"
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  say "debootstrap needs root to build $image; run this script with sudo."
  exit 1
fi

# The mirror the host itself uses (deb822 or one-line format), else Debian's default.
mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
mirror="${mirror:-http://deb.debian.org/debian}"

root="$cache_dir/base-image/rootfs"
rm -rf "$root"
mkdir -p "$root"
trap 'rm -rf "$root"' EXIT

say "building $image from $suite ($mirror) with debootstrap"
start=$SECONDS
debootstrap --variant=minbase --include=python3,python3-apt,sudo,ca-certificates \
  "$suite" "$root" "$mirror" >"$cache_dir/base-image/debootstrap.log" 2>&1 || {
  say "debootstrap failed; last lines of $cache_dir/base-image/debootstrap.log:"
  tail -n 20 "$cache_dir/base-image/debootstrap.log" >&2
  exit 1
}

# The host's apt sources, without third-party lists that are disabled or unreachable.
rm -f "$root/etc/apt/sources.list"
mkdir -p "$root/etc/apt/sources.list.d"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
elif [ -f /etc/apt/sources.list ]; then
  sed -n '/^deb /p' /etc/apt/sources.list >"$root/etc/apt/sources.list"
fi
# Keep images small and containers quiet.
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$root/etc/apt/apt.conf.d/90meshlab"
rm -rf "$root"/var/cache/apt/archives/*.deb

tar -C "$root" -c . | docker import \
  --change 'CMD ["sleep", "infinity"]' \
  --change "LABEL org.meshlab.recipe=$recipe_hash" \
  --change 'ENV container=docker' \
  - "$image" >/dev/null
say "built $image in $((SECONDS - start))s ($(docker image inspect --format '{{.Size}}' "$image") bytes)"
