#!/usr/bin/env bash
# Local artifact server for tests: serves $MESHLAB_CACHE_DIR/artifacts on 127.0.0.1 only,
# laid out like GitHub release downloads so roles can point their base URL at it:
#   http://127.0.0.1:<port>/istio/<v>/istio-<v>-linux-amd64.tar.gz       (+ .sha256)
#   http://127.0.0.1:<port>/istio/<v>/istioctl-<v>-linux-amd64.tar.gz    (+ .sha256)
# i.e. istio_download_base_url: http://127.0.0.1:18080/istio, with istio_download_allow_http: true
# (plain http is refused without it)
#
# Usage: tests/cluster/artifacts.sh build|up|down|url
#   MESHLAB_ARTIFACTS_PORT=<port>: serve there, or fail if it is taken. Unset: ARTIFACTS_PORT
#   from versions.env (18080), or the next free port up to +19 if that one is taken.
#   `url` prints the base URL of the running server (its port is recorded at `up`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="${MESHLAB_CACHE_DIR}/artifacts"
RUN="${MESHLAB_CACHE_DIR}/artifacts-server" # pid/port/log: outside the served folder
PORT="${MESHLAB_ARTIFACTS_PORT:-${ARTIFACTS_PORT}}"
V="${ISTIO_VERSION}"
OS_ARCH=linux-amd64
DEST="${ROOT}/istio/${V}"
TARBALL="${DEST}/istio-${V}-${OS_ARCH}.tar.gz"
CTL_TARBALL="${DEST}/istioctl-${V}-${OS_ARCH}.tar.gz"

usage() {
  echo "usage: ${0##*/} build|up|down|url" >&2
  exit 2
}

# Reproducible tar.gz of DIR's entries NAMES... (sorted, fixed owner and mtime, no gzip timestamp).
repro_tar() {
  local out="$1" dir="$2" epoch="$3"
  shift 3
  tar -C "${dir}" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${epoch}" \
    --mode='u+rwX,go+rX,go-w' --format=gnu -cf - "$@" | gzip -n -9 >"${out}.tmp.$$"
  mv -f "${out}.tmp.$$" "${out}"
  # Istio's format: "<sha256> <file name>", one space.
  echo "$(sha256sum "${out}" | cut -d' ' -f1) $(basename "${out}")" >"${out}.sha256"
}

STAGE=""
cmd_build() {
  require_bins istioctl
  local ctl go moddir stamp want epoch
  # One build at a time (make targets may run it concurrently).
  mkdir -p "${RUN}"
  exec 8>"${RUN}/.build.lock"
  flock -w 600 8 || die "another artifacts.sh build held ${RUN}/.build.lock for 600s; giving up"
  ctl="$(bin_path istioctl)"
  stamp="${DEST}/.inputs"
  want="$(printf '%s\n' "istioctl=$(sha256sum "${ctl}" | cut -d' ' -f1)" "module=${ISTIO_MODULE_VERSION}" \
    "script=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)")"
  if [[ -s "${TARBALL}" && -s "${CTL_TARBALL}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    log "istio ${V}: ${TARBALL} is up to date (istioctl unchanged); not rebuilt"
    return 0
  fi
  go="$(command -v go || echo /usr/local/go/bin/go)"
  [[ -x "${go}" ]] || die "go not found: needed to locate istio.io/istio ${ISTIO_MODULE_VERSION} (manifests/, samples/)"
  moddir="$(cd "${CLUSTER_DIR}/modules/istio" &&
    timeout 600 "${go}" mod download -json "istio.io/istio@${ISTIO_MODULE_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" ||
    die "cannot download istio.io/istio@${ISTIO_MODULE_VERSION} from the module proxy"
  # mtime of every entry: the commit time in the pseudo-version (yyyymmddhhmmss).
  local ts="${ISTIO_MODULE_VERSION#v0.0.0-}"
  ts="${ts%%-*}"
  epoch="$(date -u -d "${ts:0:8} ${ts:8:2}:${ts:10:2}:${ts:12:2}" +%s)"

  STAGE="$(mktemp -d)"
  trap 'rm -rf "${STAGE}"' EXIT
  local top="${STAGE}/istio-${V}"
  mkdir -p "${top}/bin"
  cp "${ctl}" "${top}/bin/istioctl"
  cp -r "${moddir}/manifests" "${moddir}/samples" "${top}/"
  cp "${moddir}/LICENSE" "${moddir}/README.md" "${top}/"
  printf 'version: %s\ndocker: %s\n' "${V}" "${ISTIO_HUB}" >"${top}/manifest.yaml"
  chmod -R u+w "${STAGE}"
  mkdir -p "${DEST}"
  repro_tar "${TARBALL}" "${STAGE}" "${epoch}" "istio-${V}"
  repro_tar "${CTL_TARBALL}" "${top}/bin" "${epoch}" istioctl
  rm -rf "${STAGE}"
  trap - EXIT
  printf '%s\n' "${want}" >"${stamp}"
  log "istio ${V}: built ${TARBALL} ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "${TARBALL}")")) and ${CTL_TARBALL##*/}"
}

server_pid() { # pid of our running server, or nothing
  local pid
  [[ -f "${RUN}/pid" ]] || return 1
  pid="$(<"${RUN}/pid")"
  [[ -r "/proc/${pid}/cmdline" ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -qF -- "--directory ${ROOT}" || return 1
  echo "${pid}"
}

running_port() { if [[ -f "${RUN}/port" ]]; then cat "${RUN}/port"; else echo "${PORT}"; fi; }

answers() { curl -fsS --max-time 3 -o /dev/null "http://127.0.0.1:$1/"; }

cmd_up() {
  local pid
  if pid="$(server_pid)"; then
    log "artifact server already up (pid ${pid}): $(cmd_url)"
    return 0
  fi
  [[ "${PORT}" =~ ^[0-9]+$ ]] || die "MESHLAB_ARTIFACTS_PORT='${PORT}' is not a TCP port"
  if port_in_use "${PORT}"; then
    if [[ -n "${MESHLAB_ARTIFACTS_PORT:-}" ]]; then
      die "port ${PORT} on 127.0.0.1 is already in use by another program; set MESHLAB_ARTIFACTS_PORT to a free port"
    fi
    local p
    for ((p = PORT + 1; p < PORT + 20; p++)); do
      port_in_use "${p}" || break
    done
    port_in_use "${p}" && die "ports ${PORT}-${p} on 127.0.0.1 are all in use; set MESHLAB_ARTIFACTS_PORT to a free port"
    log "port ${PORT} on 127.0.0.1 is in use by another program; using ${p} instead"
    PORT="${p}"
  fi
  [[ -s "${TARBALL}" ]] || log "note: ${TARBALL} is not built yet ('${0} build')"
  mkdir -p "${RUN}" "${ROOT}"
  setsid python3 -m http.server "${PORT}" --bind 127.0.0.1 --directory "${ROOT}" \
    >"${RUN}/server.log" 2>&1 </dev/null &
  echo $! >"${RUN}/pid"
  echo "${PORT}" >"${RUN}/port"
  local i
  for ((i = 0; i < 50; i++)); do
    answers "${PORT}" 2>/dev/null && break
    server_pid >/dev/null || { tail -n 5 "${RUN}/server.log" >&2; die "the artifact server exited at start"; }
    sleep 0.2
  done
  answers "${PORT}" || die "the artifact server does not answer on 127.0.0.1:${PORT} after 10s"
  log "artifact server up (pid $(<"${RUN}/pid")), serving ${ROOT}: $(cmd_url)"
}

cmd_down() {
  local pid i
  if ! pid="$(server_pid)"; then
    rm -f "${RUN}/pid" "${RUN}/port"
    log "artifact server is not running; nothing to do"
    return 0
  fi
  kill -TERM "${pid}"
  for ((i = 0; i < 50; i++)); do
    server_pid >/dev/null || break
    sleep 0.2
  done
  if server_pid >/dev/null; then kill -KILL "${pid}"; fi
  rm -f "${RUN}/pid" "${RUN}/port"
  log "artifact server stopped"
}

cmd_url() { echo "http://127.0.0.1:$(running_port)/istio"; }

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
url) cmd_url ;;
*) usage ;;
esac
