#!/usr/bin/env bash
# The simulated Kubernetes/OpenShift cluster for tests: a real kube-apiserver, etcd,
# kube-controller-manager and kube-scheduler (built by build.sh) plus kwok's fake nodes,
# started by kwokctl's "binary" runtime, everything bound to 127.0.0.1.
#
# Usage: tests/cluster/cluster.sh up|down|kubeconfig|status
#   FLAVOR=kubernetes|openshift (default kubernetes); NODES=<fake nodes> (default 2)
#   MESHLAB_APISERVER_PORT=<port>  fix the API server port (default: kwokctl picks a free one)
#   MESHLAB_CLUSTER_TIMEOUT=<s>    bound for creating the control plane (default 180)
#   MESHLAB_CLUSTER_NAME=meshlab-<x> another cluster of that flavor, for tests that break or
#                                  watch their own (default meshlab-<flavor>)
# The kubeconfig is written to $MESHLAB_CACHE_DIR/cluster/<x>/kubeconfig (<x>: the flavor by default).
# `status` exits 0 when up and healthy, 1 when stale (state left but not healthy), 3 when absent.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat >&2 <<EOF
usage: ${0##*/} up|down|kubeconfig|status
  env FLAVOR=kubernetes|openshift (default kubernetes), NODES=<n> (default 2)
EOF
  exit 2
}

FLAVOR="${FLAVOR:-kubernetes}"
NODES="${NODES:-2}"
case "${FLAVOR}" in
kubernetes | openshift) ;;
*) die "FLAVOR='${FLAVOR}' is not supported: use FLAVOR=kubernetes or FLAVOR=openshift" ;;
esac
if ! [[ "${NODES}" =~ ^[0-9]+$ ]] || ((NODES < 1 || NODES > 200)); then
  die "NODES='${NODES}' is not a number of nodes between 1 and 200"
fi

NAME="${MESHLAB_CLUSTER_NAME:-meshlab-${FLAVOR}}"
[[ "${NAME}" =~ ^meshlab-[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$ ]] ||
  die "MESHLAB_CLUSTER_NAME='${NAME}' must be meshlab-<lowercase letters, digits, dashes>"
export KWOK_WORKDIR="${MESHLAB_CACHE_DIR}/kwok"
STATE="${KWOK_WORKDIR}/clusters/${NAME}"
OUT="${MESHLAB_CACHE_DIR}/cluster/${NAME#meshlab-}"
KUBECONFIG_PATH="${OUT}/kubeconfig"
UP_TIMEOUT="${MESHLAB_CLUSTER_TIMEOUT:-180}"
KWOKCTL="$(bin_path kwokctl)"
KUBECTL="$(bin_path kubectl)"
CRD_DIR="${MESHLAB_CACHE_DIR}/crds/openshift-api-${OPENSHIFT_API_VERSION}"
CONTROL_PLANE=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)

# kwokctl for this cluster, bounded by TIMEOUT seconds. The lock's fd 9 is closed for it:
# the control-plane processes it starts would otherwise inherit it and hold the lock forever.
kw() {
  local limit="$1"
  shift
  # kwokctl runs the first kubectl on PATH for its health checks: make that ours.
  PATH="$(dirname "${KUBECTL}"):${PATH}" timeout -k 5 "${limit}" "${KWOKCTL}" --name "${NAME}" "$@" 9>&-
}

kctl() { timeout -k 5 90 "${KUBECTL}" --kubeconfig "${KUBECONFIG_PATH}" --request-timeout=30s "$@"; }

lock() {
  mkdir -p "${MESHLAB_CACHE_DIR}/cluster"
  exec 9>"${MESHLAB_CACHE_DIR}/cluster/.lock"
  flock -w 600 9 || die "another cluster.sh up/down held ${MESHLAB_CACHE_DIR}/cluster/.lock for 600s; giving up"
}

# Our process: alive and started for this cluster (its command line names the state dir).
# Guards against pids recycled by unrelated processes after a crash or reboot.
ours() {
  local pid="$1"
  [[ -r "/proc/${pid}/cmdline" ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -qF "${STATE}"
}

# check_health: 0 healthy, 1 stale (HEALTH_REASON says why), 3 absent.
check_health() {
  HEALTH_REASON=""
  if [[ ! -f "${STATE}/kwok.yaml" ]]; then
    HEALTH_REASON="no cluster state in ${STATE}"
    return 3
  fi
  local pidfile pid n=0
  for pidfile in "${STATE}"/pids/*.pid; do
    [[ -e "${pidfile}" ]] || continue
    n=$((n + 1))
    pid="$(<"${pidfile}")"
    if ! ours "${pid}"; then
      HEALTH_REASON="$(basename "${pidfile}" .pid) (pid ${pid}) is not running"
      return 1
    fi
  done
  if ((n == 0)); then
    HEALTH_REASON="no control-plane process is recorded in ${STATE}/pids"
    return 1
  fi
  if [[ ! -s "${KUBECONFIG_PATH}" ]]; then
    HEALTH_REASON="kubeconfig ${KUBECONFIG_PATH} is missing"
    return 1
  fi
  if [[ ! -f "${OUT}/up-seconds" ]]; then
    HEALTH_REASON="its set-up did not complete"
    return 1
  fi
  local ready
  if ready="$(timeout -k 2 15 "${KUBECTL}" --kubeconfig "${KUBECONFIG_PATH}" --request-timeout=10s get --raw /readyz 2>&1)" &&
    [[ "${ready}" == "ok" ]]; then
    return 0
  fi
  HEALTH_REASON="the API server does not answer /readyz ($(head -c 200 <<<"${ready}"))"
  return 1
}

server_url() { kctl config view --minify -o jsonpath='{.clusters[0].cluster.server}'; }

# Kill what is left of this cluster's processes (only ours) and forget pid files of others.
reap() {
  local pidfile pid i
  for pidfile in "${STATE}"/pids/*.pid; do
    [[ -e "${pidfile}" ]] || continue
    pid="$(<"${pidfile}")"
    # kill can fail only if the process exited meanwhile, which is the goal anyway.
    if ours "${pid}" && kill -TERM "${pid}" 2>/dev/null; then
      for ((i = 0; i < 20; i++)); do
        ours "${pid}" || break
        sleep 0.5
      done
      if ours "${pid}" && ! kill -KILL "${pid}" 2>/dev/null && ours "${pid}"; then
        die "cannot stop ${pidfile##*/} (pid ${pid})"
      fi
    fi
    rm -f "${pidfile}"
  done
}

destroy() {
  if [[ -d "${STATE}" ]]; then
    # Drop pid files that do not point at our processes so kwokctl kills nothing else.
    local pidfile
    for pidfile in "${STATE}"/pids/*.pid; do
      [[ -e "${pidfile}" ]] || continue
      ours "$(<"${pidfile}")" || rm -f "${pidfile}"
    done
    if [[ -x "${KWOKCTL}" && -f "${STATE}/kwok.yaml" ]]; then
      mkdir -p "${OUT}"
      if ! kw 120 delete cluster --kubeconfig "${KUBECONFIG_PATH}" \
        >"${OUT}/kwokctl-delete.log" 2>&1; then
        log "kwokctl delete cluster failed (see below); stopping the processes directly"
        tail -n 5 "${OUT}/kwokctl-delete.log" >&2
      fi
    fi
    reap
    rm -rf "${STATE}"
  fi
  rm -rf "${OUT}"
}

write_kwokctl_config() {
  local cfg="$1"
  {
    echo "# Written by tests/cluster/cluster.sh for cluster ${NAME}."
    echo "apiVersion: config.kwok.x-k8s.io/v1alpha1"
    echo "kind: KwokctlConfiguration"
    echo "options:"
    echo "  runtime: binary"
    echo "  bindAddress: 127.0.0.1"
    if [[ -n "${MESHLAB_APISERVER_PORT:-}" ]]; then
      echo "  kubeApiserverPort: ${MESHLAB_APISERVER_PORT}"
    fi
    echo "  kubeApiserverBinary: $(bin_path kube-apiserver)"
    echo "  kubeControllerManagerBinary: $(bin_path kube-controller-manager)"
    echo "  kubeSchedulerBinary: $(bin_path kube-scheduler)"
    echo "  kubectlBinary: $(bin_path kubectl)"
    echo "  etcdBinary: $(bin_path etcd)"
    echo "  kwokControllerBinary: $(bin_path kwok)"
  } >"${cfg}"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND... : poll until COMMAND succeeds
  local limit="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${limit}s waiting for ${what}"
    sleep 1
  done
}

readyz_ok() { [[ "$(kctl get --raw /readyz 2>/dev/null)" == "ok" ]]; }
default_sa() { kctl -n default get serviceaccount default; }
node_count() { kctl get nodes -o name | wc -l; }
nodes_match() { [[ "$(node_count)" -eq "${NODES}" ]]; }

ensure_nodes() {
  local have
  have="$(node_count)"
  if ((have != NODES)); then
    log "scaling fake nodes ${have} -> ${NODES}"
    kw 120 scale node --replicas "${NODES}" >>"${OUT}/kwokctl-scale.log" 2>&1 ||
      die "kwokctl scale node --replicas ${NODES} failed (log: ${OUT}/kwokctl-scale.log)"
  fi
  wait_for 60 "${NODES} nodes" nodes_match
  kctl wait --for=condition=Ready node --all --timeout=90s >/dev/null ||
    die "fake nodes did not become Ready within 90s"
}

subst() { # subst FILE : fill the @PLACEHOLDERS@ of an openshift/ template
  local now channel cluster_id
  now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  channel="stable-$(cut -d. -f1,2 <<<"${OPENSHIFT_CLUSTER_VERSION}")"
  cluster_id="$(cat /proc/sys/kernel/random/uuid)"
  sed -e "s/@OPENSHIFT_CLUSTER_VERSION@/${OPENSHIFT_CLUSTER_VERSION}/g" -e "s/@CHANNEL@/${channel}/g" \
    -e "s/@CLUSTER_ID@/${cluster_id}/g" -e "s/@NOW@/${now}/g" "$1"
}

openshift_apis() {
  local crds=(
    "${CRD_DIR}/routes.crd.yaml"
    "${CRD_DIR}/securitycontextconstraints.crd.yaml"
    "${CRD_DIR}/clusterversions.crd.yaml"
  )
  local f
  for f in "${crds[@]}"; do
    [[ -s "${f}" ]] || die "missing ${f}: run 'make cluster-build' (tests/cluster/build.sh openshift-crds)"
  done
  log "openshift: Route, SecurityContextConstraints and ClusterVersion CRDs (openshift/api ${OPENSHIFT_API_VERSION})"
  kctl apply --server-side --field-manager=meshlab -f "${crds[0]}" -f "${crds[1]}" -f "${crds[2]}" >/dev/null
  kctl wait --for=condition=Established --timeout=60s \
    crd/routes.route.openshift.io crd/securitycontextconstraints.security.openshift.io \
    crd/clusterversions.config.openshift.io >/dev/null
  # Discovery of the new groups can lag a moment behind "Established".
  wait_for 60 "the OpenShift API groups to be served" kctl get routes.route.openshift.io -A
  log "openshift: SCCs restricted, restricted-v2, anyuid, privileged; ClusterVersion ${OPENSHIFT_CLUSTER_VERSION}"
  kctl create -f "${CLUSTER_DIR}/openshift/scc-restricted.yaml" -f "${CLUSTER_DIR}/openshift/scc-restricted-v2.yaml" \
    -f "${CLUSTER_DIR}/openshift/scc-anyuid.yaml" -f "${CLUSTER_DIR}/openshift/scc-privileged.yaml" >/dev/null
  subst "${CLUSTER_DIR}/openshift/clusterversion.yaml" | kctl create -f - >/dev/null
  kctl patch clusterversion version --subresource=status --type=json \
    -p "$(subst "${CLUSTER_DIR}/openshift/clusterversion-status.json")" >/dev/null
}

create() {
  local cfg="${OUT}/kwokctl.yaml" start="${SECONDS}"
  mkdir -p "${OUT}" "${KWOK_WORKDIR}"
  # Private: the work folder holds every test cluster's PKI (CA and admin keys) and etcd's data.
  chmod 700 "${KWOK_WORKDIR}"
  if [[ -n "${MESHLAB_APISERVER_PORT:-}" ]]; then
    if ! [[ "${MESHLAB_APISERVER_PORT}" =~ ^[0-9]+$ ]] || ((MESHLAB_APISERVER_PORT < 1 || MESHLAB_APISERVER_PORT > 65535)); then
      die "MESHLAB_APISERVER_PORT='${MESHLAB_APISERVER_PORT}' is not a TCP port"
    fi
    if port_in_use "${MESHLAB_APISERVER_PORT}"; then
      rm -rf "${OUT}"
      die "port ${MESHLAB_APISERVER_PORT} on 127.0.0.1 is already in use by another program; free it, pick another MESHLAB_APISERVER_PORT, or unset it to let kwokctl choose a free port"
    fi
  fi
  # kwokctl picks free ports, then starts etcd and the control plane on them. Another cluster starting
  # at the same moment outside this script's lock (the role's kwok provider under Molecule, a bench)
  # can take one of those ports in between: etcd then dies on "address already in use" and the API
  # server with it. That one cause is retried once, on new ports; any other failure is not.
  local attempt
  for attempt in 1 2; do
    write_kwokctl_config "${cfg}"
    log "creating cluster ${NAME} (Kubernetes ${KUBERNETES_VERSION}, etcd ${ETCD_VERSION}, kwok ${KWOK_VERSION}) in ${STATE}"
    # --kubeconfig "": leave ~/.kube/config alone; ours is written below.
    if kw "${UP_TIMEOUT}" --config "${cfg}" create cluster \
      --runtime binary \
      --kube-apiserver-binary "$(bin_path kube-apiserver)" \
      --kube-controller-manager-binary "$(bin_path kube-controller-manager)" \
      --kube-scheduler-binary "$(bin_path kube-scheduler)" \
      --etcd-binary "$(bin_path etcd)" \
      --kwok-controller-binary "$(bin_path kwok)" \
      --kubeconfig "" --wait 120s --timeout "$((UP_TIMEOUT - 20))s" >"${OUT}/kwokctl-create.log" 2>&1; then
      break
    fi
    if ((attempt == 1)) && grep -qs 'address already in use' "${STATE}"/logs/*.log; then
      log "attempt 1: a port kwokctl chose for ${NAME} was taken by another process before it bound it:"
      grep -hs 'address already in use' "${STATE}"/logs/*.log | head -n 2 | cut -c1-300 >&2
      log "the cluster is deleted and created once more, on new ports"
      destroy
      mkdir -p "${OUT}" "${KWOK_WORKDIR}"
      continue
    fi
    tail -n 15 "${OUT}/kwokctl-create.log" >&2
    local f failed="${MESHLAB_CACHE_DIR}/cluster/${NAME#meshlab-}-failed"
    rm -rf "${failed}"
    cp -r "${OUT}" "${failed}"
    if [[ -d "${STATE}/logs" ]]; then
      cp -r "${STATE}/logs" "${failed}/logs"
      for f in "${failed}"/logs/*.log; do
        [[ -e "${f}" ]] || continue
        log "--- last lines of ${f}:"
        tail -n 5 "${f}" >&2
      done
    fi
    destroy
    die "kwokctl create cluster ${NAME} failed or exceeded ${UP_TIMEOUT}s (logs kept in ${failed})"
  done
  kw 30 get kubeconfig >"${KUBECONFIG_PATH}.tmp"
  chmod 600 "${KUBECONFIG_PATH}.tmp"
  mv -f "${KUBECONFIG_PATH}.tmp" "${KUBECONFIG_PATH}"
  wait_for 60 "the API server's /readyz" readyz_ok
  ensure_nodes
  # Pods can only be created once the ServiceAccount admission finds "default".
  wait_for 60 "the default ServiceAccount" default_sa
  if [[ "${FLAVOR}" == openshift ]]; then openshift_apis; fi
  local took=$((SECONDS - start)) extra=""
  echo "${took}" >"${OUT}/up-seconds"
  if [[ "${FLAVOR}" == openshift ]]; then extra=", OpenShift APIs (ClusterVersion ${OPENSHIFT_CLUSTER_VERSION})"; fi
  log "cluster ${NAME} is up in ${took}s: $(server_url), ${NODES} nodes, Kubernetes ${KUBERNETES_VERSION}${extra}"
  log "kubeconfig: ${KUBECONFIG_PATH}"
}

cmd_up() {
  require_bins "${CONTROL_PLANE[@]}"
  lock
  local rc=0
  check_health || rc=$?
  case "${rc}" in
  0)
    ensure_nodes
    log "cluster ${NAME} is already up and healthy ($(server_url), ${NODES} nodes); nothing to do"
    log "kubeconfig: ${KUBECONFIG_PATH}"
    return 0
    ;;
  1)
    log "stale cluster ${NAME}: ${HEALTH_REASON}; deleting it and creating a new one"
    destroy
    ;;
  *) rm -rf "${OUT}" ;;
  esac
  create
}

cmd_down() {
  lock
  if [[ ! -d "${STATE}" && ! -d "${OUT}" ]]; then
    log "cluster ${NAME} is not present; nothing to do"
    return 0
  fi
  log "deleting cluster ${NAME}"
  destroy
  log "cluster ${NAME} deleted"
}

cmd_status() {
  local rc=0
  check_health || rc=$?
  case "${rc}" in
  0) echo "${NAME}: up and healthy; $(server_url); $(node_count) nodes; kubeconfig ${KUBECONFIG_PATH}" ;;
  1) echo "${NAME}: stale (${HEALTH_REASON}); 'up' recreates it, 'down' removes it" ;;
  *) echo "${NAME}: not present" ;;
  esac
  return "${rc}"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kubeconfig)
  [[ -s "${KUBECONFIG_PATH}" ]] || log "note: cluster ${NAME} is not up (FLAVOR=${FLAVOR} ${0} up)"
  echo "${KUBECONFIG_PATH}"
  ;;
*) usage ;;
esac
