#!/usr/bin/env bash
# Makes sure a Docker daemon answers. Starts Debian's dockerd in the background when
# none runs (this machine has no init system), waits for its socket, fails clearly.
set -euo pipefail

timeout_s="${MESHLAB_DOCKER_TIMEOUT:-60}"
log_dir="${MESHLAB_CACHE_DIR:-$(pwd)/.cache}/docker"

say() { printf 'ensure-docker: %s\n' "$*" >&2; }

if ! command -v docker >/dev/null 2>&1; then
  say "no docker client found. On Debian/Ubuntu: apt-get install docker.io"
  exit 1
fi

if docker info >/dev/null 2>&1; then
  say "Docker daemon answers ($(docker info --format '{{.ServerVersion}}'))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "no Docker daemon answers and dockerd is not installed."
  say "Install it with: apt-get install docker.io   (or start your Docker service)"
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  say "no Docker daemon answers and starting dockerd needs root."
  say "Start it with: sudo systemctl start docker   (or sudo dockerd &), or add yourself to the docker group."
  exit 1
fi

mkdir -p "$log_dir"
say "no Docker daemon answers: starting dockerd in the background (log: $log_dir/dockerd.log)"
# The daemon outlives this script: it must not keep the caller's open files (a lock a wrapper
# holds on fd 9 while it runs Molecule would stay held as long as dockerd runs). Every
# descriptor above 2 is closed before dockerd starts, in its own session.
# shellcheck disable=SC2016 # expanded by the inner bash, on purpose
nohup setsid bash -c 'for fd in /proc/self/fd/*; do n=${fd##*/}; if ((n > 2)); then eval "exec ${n}>&-" 2>/dev/null || true; fi; done; exec dockerd' \
  >"$log_dir/dockerd.log" 2>&1 &
pid=$!

deadline=$((SECONDS + timeout_s))
while ! docker info >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then
    say "dockerd exited before answering; last lines of its log:"
    tail -n 20 "$log_dir/dockerd.log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "dockerd did not answer within ${timeout_s}s; last lines of its log:"
    tail -n 20 "$log_dir/dockerd.log" >&2
    exit 1
  fi
  sleep 1
done
say "Docker daemon answers after $((SECONDS))s ($(docker info --format '{{.ServerVersion}}'))"
