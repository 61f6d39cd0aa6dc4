# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Shared helpers for tests/cluster/*.sh. Sourced, not executed.

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${CLUSTER_DIR}/../.." && pwd)"
MESHLAB_CACHE_DIR="${MESHLAB_CACHE_DIR:-${REPO_ROOT}/.cache}"
export MESHLAB_CACHE_DIR

# shellcheck source=versions.env
. "${CLUSTER_DIR}/versions.env"

BIN_CACHE="${MESHLAB_CACHE_DIR}/bin"

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# bin_path NAME -> path of the cached binary NAME at its pinned version.
bin_version() {
  case "$1" in
  kube-apiserver | kube-controller-manager | kube-scheduler | kubectl) echo "${KUBERNETES_VERSION}" ;;
  etcd) echo "${ETCD_VERSION}" ;;
  kwok | kwokctl) echo "${KWOK_VERSION}" ;;
  istioctl) echo "${ISTIO_VERSION}" ;;
  *) die "unknown binary '$1'" ;;
  esac
}
bin_path() { echo "${BIN_CACHE}/$1-$(bin_version "$1")/$1"; }

# require_bins NAME... : every cached binary exists, or a clear error naming `make cluster-build`.
require_bins() {
  local name missing=()
  for name in "$@"; do
    [[ -x "$(bin_path "${name}")" ]] || missing+=("${name}")
  done
  if ((${#missing[@]})); then
    die "not built: ${missing[*]} (expected under ${BIN_CACHE}); run 'make cluster-build' (tests/cluster/build.sh) first"
  fi
}

# port_in_use PORT : something listens on 127.0.0.1:PORT (or the wildcard address).
port_in_use() {
  python3 - "$1" <<'EOF'
import socket, sys
port = int(sys.argv[1])
for host in ("127.0.0.1", "0.0.0.0"):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        sys.exit(0)
    finally:
        s.close()
sys.exit(1)
EOF
}
