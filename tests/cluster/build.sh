#!/usr/bin/env bash
# Build the simulated cluster's binaries from pinned Go modules into the cache:
#   $MESHLAB_CACHE_DIR/bin/<name>-<version>/<name>
# Usage: tests/cluster/build.sh [name...]   (default: everything in ALL below)
# "openshift-crds" copies the Route, SCC and ClusterVersion CRDs of github.com/openshift/api
# from the module cache to $MESHLAB_CACHE_DIR/crds/openshift-api-<version>/.
# A binary already built with the same inputs is skipped. Builds run one at a time
# (linking a Kubernetes binary takes several GB); `go build` itself uses every core.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl istioctl openshift-crds)
# Seconds allowed for fetching a wrapper module's dependencies from the module proxy.
DOWNLOAD_TIMEOUT="${MESHLAB_GO_DOWNLOAD_TIMEOUT:-900}"
# Seconds allowed for one `go build` (a cold kube-apiserver build takes ~15 min on 2 cores).
BUILD_TIMEOUT="${MESHLAB_GO_BUILD_TIMEOUT:-3600}"
MIN_GO_MINOR=26 # etcd v3.6.16 and kwok v0.8.0 declare `go 1.26.0`

find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    echo /usr/local/go/bin/go
  else
    die "go not found: install Go ≥1.${MIN_GO_MINOR} (https://go.dev/dl/) and put it on PATH"
  fi
}
GO="$(find_go)"
go_version="$("${GO}" env GOVERSION)"
if [[ "${go_version}" =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] < MIN_GO_MINOR)); then
  die "${GO} is ${go_version}: install Go ≥1.${MIN_GO_MINOR} (the pinned etcd and kwok modules need it)"
fi

export CGO_ENABLED=0
# buildDate of the Kubernetes binaries: the release tag's time, so builds are reproducible.
KUBERNETES_BUILD_DATE=""
k8s_build_date() {
  [[ -n "${KUBERNETES_BUILD_DATE}" ]] && return 0
  local out rc=0
  out="$(cd "${CLUSTER_DIR}/modules/kubernetes" && timeout "${DOWNLOAD_TIMEOUT}" "${GO}" list -m \
    -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>&1)" || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "${out}" | tail -n 3 >&2
    die "cannot resolve k8s.io/kubernetes ${KUBERNETES_VERSION} (tests/cluster/modules/kubernetes/go.mod) from $("${GO}" env GOPROXY)$( ((rc == 124)) && echo ": timed out after ${DOWNLOAD_TIMEOUT}s")"
  fi
  KUBERNETES_BUILD_DATE="${out:-1970-01-01T00:00:00Z}"
}
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

# spec NAME -> sets: MOD (wrapper module dir), MODPATH (pinned module), MODVER, PKG, TAGS, LDFLAGS
spec() { # (not in a subshell: k8s_build_date caches its answer)
  TAGS=""
  if [[ "$1" == openshift-crds ]]; then
    MOD=openshift MODPATH=github.com/openshift/api MODVER="${OPENSHIFT_API_VERSION}" PKG="" LDFLAGS=""
    return 0
  fi
  local k8s_ld="-s -w"
  case "$1" in kube-* | kubectl) k8s_build_date ;; esac
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ld+=" -X ${p}.gitVersion=${KUBERNETES_VERSION}"
    k8s_ld+=" -X ${p}.gitMajor=$(cut -d. -f1 <<<"${KUBERNETES_VERSION#v}")"
    k8s_ld+=" -X ${p}.gitMinor=$(cut -d. -f2 <<<"${KUBERNETES_VERSION#v}")"
    k8s_ld+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=${KUBERNETES_BUILD_DATE}"
  done
  case "$1" in
  kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
    MOD=kubernetes MODPATH=k8s.io/kubernetes MODVER="${KUBERNETES_VERSION}"
    PKG="k8s.io/kubernetes/cmd/$1" LDFLAGS="${k8s_ld}"
    ;;
  etcd)
    MOD=etcd MODPATH=go.etcd.io/etcd/server/v3 MODVER="${ETCD_VERSION}"
    PKG=go.etcd.io/etcd/server/v3 LDFLAGS="-s -w"
    ;;
  kwok | kwokctl)
    MOD=kwok MODPATH=sigs.k8s.io/kwok MODVER="${KWOK_VERSION}"
    PKG="sigs.k8s.io/kwok/cmd/$1"
    LDFLAGS="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBERNETES_VERSION#v}"
    ;;
  istioctl)
    MOD=istio MODPATH=istio.io/istio MODVER="${ISTIO_MODULE_VERSION}"
    PKG=istio.io/istio/istioctl/cmd/istioctl TAGS=vtprotobuf,disable_pgv
    local rev="${ISTIO_MODULE_VERSION##*-}" v=istio.io/istio/pkg/version
    LDFLAGS="-s -w -X ${v}.buildVersion=${ISTIO_VERSION} -X ${v}.buildGitRevision=${rev}"
    LDFLAGS+=" -X ${v}.buildStatus=Clean -X ${v}.buildTag=${ISTIO_VERSION} -X ${v}.buildHub=${ISTIO_HUB}"
    ;;
  *) die "unknown binary '$1' (known: ${ALL[*]})" ;;
  esac
}

# check_pin: the wrapper module pins the version versions.env names.
declare -A CHECKED=()
check_pin() {
  [[ -n "${CHECKED[${MOD}]:-}" ]] && return 0
  local have rc=0
  have="$(cd "${CLUSTER_DIR}/modules/${MOD}" && timeout "${DOWNLOAD_TIMEOUT}" "${GO}" list -m -f '{{.Version}}' "${MODPATH}" 2>&1)" || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "${have}" | tail -n 3 >&2
    die "cannot resolve ${MODPATH} ${MODVER} (tests/cluster/modules/${MOD}/go.mod) from $("${GO}" env GOPROXY)$( ((rc == 124)) && echo ": timed out after ${DOWNLOAD_TIMEOUT}s")"
  fi
  [[ "${have}" == "${MODVER}" ]] ||
    die "tests/cluster/modules/${MOD}/go.mod pins ${MODPATH} ${have} but versions.env says ${MODVER}; update one of them (then 'go mod tidy' in that folder)"
  CHECKED[${MOD}]=1
}

# fetch: download what PKG needs, bounded, naming the module that failed.
fetch() {
  local out rc=0
  out="$(cd "${CLUSTER_DIR}/modules/${MOD}" &&
    timeout "${DOWNLOAD_TIMEOUT}" "${GO}" list -deps ${TAGS:+-tags="${TAGS}"} "${PKG}" 2>&1 >/dev/null)" || rc=$?
  if ((rc == 124)); then
    die "module download for ${PKG} (${MODPATH} ${MODVER}) timed out after ${DOWNLOAD_TIMEOUT}s: is the module proxy ($("${GO}" env GOPROXY)) answering?"
  elif ((rc != 0)); then
    local failed
    failed="$(grep -oE '[A-Za-z0-9.-]+\.[a-z]+/[^ :@]+@v[^ :]+' <<<"${out}" | head -n 1)"
    printf '%s\n' "${out}" | tail -n 20 >&2
    die "cannot download the modules ${PKG} needs${failed:+ (first failure: ${failed})} from $("${GO}" env GOPROXY); pinned by tests/cluster/modules/${MOD}/go.mod"
  fi
}

# The CRDs cluster.sh applies for FLAVOR=openshift, copied from the pinned module.
OPENSHIFT_CRDS=(
  "routes.crd.yaml=route/v1/zz_generated.crd-manifests/routes.crd.yaml"
  "securitycontextconstraints.crd.yaml=security/v1/zz_generated.crd-manifests/0000_03_config-operator_01_securitycontextconstraints.crd.yaml"
  "clusterversions.crd.yaml=config/v1/zz_generated.crd-manifests/0000_00_cluster-version-operator_01_clusterversions-Default.crd.yaml"
)
copy_crds() {
  local dest="${MESHLAB_CACHE_DIR}/crds/openshift-api-${OPENSHIFT_API_VERSION}" entry dir out rc=0 n=0
  for entry in "${OPENSHIFT_CRDS[@]}"; do [[ -s "${dest}/${entry%%=*}" ]] && n=$((n + 1)); done
  if ((n == ${#OPENSHIFT_CRDS[@]})); then
    log "openshift-crds ${OPENSHIFT_API_VERSION}: up to date, not copied again (${dest})"
    return 0
  fi
  out="$(cd "${CLUSTER_DIR}/modules/kubernetes" && timeout "${DOWNLOAD_TIMEOUT}" "${GO}" mod download -json \
    "github.com/openshift/api@${OPENSHIFT_API_VERSION}" 2>&1)" || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "${out}" | tail -n 5 >&2
    die "cannot download github.com/openshift/api@${OPENSHIFT_API_VERSION} from $("${GO}" env GOPROXY)"
  fi
  dir="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"${out}")"
  mkdir -p "${dest}"
  for entry in "${OPENSHIFT_CRDS[@]}"; do
    [[ -s "${dir}/${entry#*=}" ]] || die "github.com/openshift/api@${OPENSHIFT_API_VERSION} has no ${entry#*=}"
    install -m 0644 "${dir}/${entry#*=}" "${dest}/${entry%%=*}"
  done
  log "openshift-crds ${OPENSHIFT_API_VERSION}: Route, SCC and ClusterVersion CRDs copied to ${dest}"
  BUILT+=(openshift-crds)
}

human_size() { numfmt --to=iec-i --suffix=B "$1"; }

build_one() {
  local name="$1" dest stamp want tmp start secs size
  if [[ "${name}" == openshift-crds ]]; then
    copy_crds
    return 0
  fi
  spec "${name}"
  dest="$(bin_path "${name}")"
  stamp="${dest}.buildinfo"
  want="$(printf '%s\n' "go=${go_version}" "module=${MODPATH}@${MODVER}" "pkg=${PKG}" "tags=${TAGS}" "ldflags=${LDFLAGS}" \
    "gosum=$(sha256sum "${CLUSTER_DIR}/modules/${MOD}/go.sum" | cut -d' ' -f1)")"
  if [[ -x "${dest}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    log "${name} $(bin_version "${name}"): up to date, not rebuilt (${dest})"
    return 0
  fi
  check_pin
  log "${name} $(bin_version "${name}"): building ${PKG} (${MODPATH} ${MODVER}) ..."
  start=${SECONDS}
  fetch
  mkdir -p "$(dirname "${dest}")"
  tmp="${dest}.tmp.$$"
  trap 'rm -f "${tmp}"' EXIT
  if ! (cd "${CLUSTER_DIR}/modules/${MOD}" &&
    timeout "${BUILD_TIMEOUT}" "${GO}" build -trimpath ${TAGS:+-tags="${TAGS}"} -ldflags "${LDFLAGS}" -o "${tmp}" "${PKG}"); then
    die "go build ${PKG} failed (or exceeded ${BUILD_TIMEOUT}s)"
  fi
  mv -f "${tmp}" "${dest}"
  trap - EXIT
  printf '%s\n' "${want}" >"${stamp}"
  secs=$((SECONDS - start))
  size="$(stat -c %s "${dest}")"
  log "${name} $(bin_version "${name}"): built in ${secs}s, $(human_size "${size}") -> ${dest}"
  printf '%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "${name}" "${secs}" "${size}" >>"${BIN_CACHE}/build-times.tsv"
  BUILT+=("${name}")
}

names=("$@")
((${#names[@]})) || names=("${ALL[@]}")
for n in "${names[@]}"; do spec "${n}"; done # validate names before building anything

mkdir -p "${BIN_CACHE}"
# One build.sh at a time per cache (two parallel Kubernetes links need several GB each);
# a second caller waits, then finds the binaries built and skips them.
exec 9>"${BIN_CACHE}/.build.lock"
if ! flock -n 9; then
  log "another build.sh is running on ${BIN_CACHE}; waiting for it (up to ${BUILD_TIMEOUT}s)"
  flock -w "${BUILD_TIMEOUT}" 9 || die "another build.sh held ${BIN_CACHE}/.build.lock for ${BUILD_TIMEOUT}s"
fi
BUILT=()
total_start=${SECONDS}
for n in "${names[@]}"; do build_one "${n}"; done
if ((${#BUILT[@]})); then
  log "built ${#BUILT[@]} (${BUILT[*]}) in $((SECONDS - total_start))s"
else
  log "nothing to build: all ${#names[@]} are up to date under ${MESHLAB_CACHE_DIR}"
fi
