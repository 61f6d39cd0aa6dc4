# shellcheck shell=sh
# Provider kwok: what the role needs to know of its simulated cluster, in one run, as one JSON
# object on stdout (roles/minishift/tasks/kwok/main.yml). Reads only; changes nothing.
# Arguments: bin_dir cluster_name kubeconfig kubeconfig_dir work_dir kwokctl_config binary...
# Environment: KWOK_WORKDIR (kwokctl's), MESHLAB_KWOK_CONFIG (the kwokctl configuration the role writes).
bin=$1 name=$2 kubeconfig=$3 kubeconfig_dir=$4 workdir=$5 config=$6
shift 6

# A JSON string: quotes, backslashes and control characters dropped (messages and paths only).
str() { printf '"%s"' "$(printf '%s' "$1" | tr -d '"\134' | tr '\n\t\r' '   ')"; }
# Permission bits of a path (GNU, then BSD stat), or "none" when it does not exist.
mode() { [ -e "$1" ] || { echo none; return; }; stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1" 2>/dev/null || echo unknown; }

missing=""
for b in "$@"; do
  [ -e "$bin/$b" ] || missing="$missing${missing:+,}$(str "$b")"
done

exists=false ready=false ready_error="" clusters_error="" nodes=-1 nodes_ready=-1
api_url="" git_version="" openshift_api=false
if [ -z "$missing" ]; then
  if clusters=$("$bin/kwokctl" get clusters 2>&1); then
    printf '%s\n' "$clusters" | grep -qx -- "$name" && exists=true
  else
    clusters_error=$clusters
  fi
  if [ "$exists" = true ]; then
    if out=$("$bin/kubectl" --kubeconfig "$kubeconfig" --request-timeout=5s get --raw /readyz 2>&1); then
      ready=true
      # The fake nodes and how many of them are Ready ("True" per Ready node).
      if conds=$("$bin/kubectl" --kubeconfig "$kubeconfig" --request-timeout=10s get nodes -l type=kwok \
          -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"/"}{end}' 2>&1); then
        nodes=$(printf '%s' "$conds" | tr -cd '/' | wc -c | tr -d ' ')
        nodes_ready=$(printf '%s' "$conds" | tr '/' '\n' | grep -c '^True$')
      fi
      # What the role compares with the cached meshlab_cluster (so that a cluster as it was
      # described last time needs no cluster_facts run): the API's URL, its version, and whether
      # it serves an OpenShift API group (then the role always describes it again).
      api_url=$("$bin/kubectl" --kubeconfig "$kubeconfig" config view --minify -o 'jsonpath={.clusters[0].cluster.server}' 2>/dev/null)
      git_version=$("$bin/kubectl" --kubeconfig "$kubeconfig" --request-timeout=5s get --raw /version 2>/dev/null \
        | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n 1)
      if "$bin/kubectl" --kubeconfig "$kubeconfig" --request-timeout=5s get --raw /apis 2>/dev/null \
          | grep -Eq '"name": *"(route|security|config|project|apps)\.openshift\.io"'; then
        openshift_api=true
      fi
    else
      ready_error=$out
    fi
  fi
fi

config_ok=false
if [ -f "$config" ] && [ "$(cat "$config")" = "$MESHLAB_KWOK_CONFIG" ] && [ "$(mode "$config")" = 644 ]; then
  config_ok=true
fi

printf '{"missing": [%s], "exists": %s, "clusters_error": %s, "ready": %s, "ready_error": %s, ' \
  "$missing" "$exists" "$(str "$clusters_error")" "$ready" "$(str "$ready_error")"
printf '"nodes": %s, "nodes_ready": %s, "kubeconfig_mode": %s, "kubeconfig_dir_mode": %s, "workdir_mode": %s, "config_ok": %s, ' \
  "$nodes" "$nodes_ready" "$(str "$(mode "$kubeconfig")")" "$(str "$(mode "$kubeconfig_dir")")" "$(str "$(mode "$workdir")")" "$config_ok"
printf '"api_url": %s, "git_version": %s, "openshift_api": %s}\n' "$(str "$api_url")" "$(str "$git_version")" "$openshift_api"
