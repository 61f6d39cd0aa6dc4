#!/usr/bin/env bash
# The Ansible strategy of `make lab`, `make teardown` and the integration tests:
#   strategy.sh <python> [auto|linear|mitogen_linear]
# prints environment assignments for `env` on stdout, one line:
#   ANSIBLE_STRATEGY=mitogen_linear ANSIBLE_STRATEGY_PLUGINS=<site-packages>/ansible_mitogen/plugins/strategy
# when mitogen (tests/requirements.txt) is installed for <python> and runs with its ansible-core: a probe runs a
# one-task ping play under mitogen_linear. Otherwise ANSIBLE_STRATEGY=linear, with a one-line note on stderr.
# auto (the default) probes; linear never uses mitogen; mitogen_linear fails when the probe fails.
# The probe's answer is kept per ansible-core and mitogen version in $MESHLAB_CACHE_DIR/strategy (a second call
# costs one Python start).
set -euo pipefail

py="$1" want="${2:-auto}"
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache="${MESHLAB_CACHE_DIR:-$repo/.cache}/strategy"

linear() {
  [ -z "${1:-}" ] || echo "strategy: linear ($1)" >&2
  echo "ANSIBLE_STRATEGY=linear"
}

case "$want" in
  linear) linear; exit 0 ;;
  auto | mitogen_linear) ;;
  *) echo "strategy: '$want' is not one of auto, linear, mitogen_linear" >&2; exit 2 ;;
esac

# Versions and the strategy folder in one Python start; nothing when mitogen is not installed.
if ! found=$("$py" - 2>/dev/null <<'EOF'
import os
from importlib.metadata import version

import ansible.release
import ansible_mitogen

print(ansible.release.__version__, version("mitogen"), os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))
EOF
); then
  [ "$want" = auto ] || { echo "strategy: mitogen_linear asked, but mitogen is not installed for $py (make setup)" >&2; exit 1; }
  linear "mitogen is not installed for $py: make setup installs it"
  exit 0
fi
read -r core mitogen plugins <<<"$found"
answer="$cache/core-$core-mitogen-$mitogen"

if [ ! -f "$answer" ]; then
  mkdir -p "$cache"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  printf '%s\n' '- name: mitogen probe' '  hosts: localhost' '  gather_facts: false' '  tasks:' \
    '    - name: A module runs' '      ansible.builtin.ping:' >"$work/probe.yml"
  if ANSIBLE_STRATEGY=mitogen_linear ANSIBLE_STRATEGY_PLUGINS="$plugins" ANSIBLE_CACHE_PLUGIN=memory \
    ANSIBLE_CALLBACKS_ENABLED=ansible.builtin.default ANSIBLE_HOME="$work/home" \
    timeout 120 "$(dirname "$py")/ansible-playbook" -i localhost, -c local \
    -e ansible_python_interpreter="$py" "$work/probe.yml" >"$work/out" 2>&1 &&
    grep -Eq 'localhost +: ok=1 +changed=0 +unreachable=0 +failed=0' "$work/out"; then
    echo "mitogen_linear" >"$answer"
  else
    { echo "linear"; tail -n 3 "$work/out" | tr '\n' ' '; echo; } >"$answer"
  fi
fi

if [ "$(head -n 1 "$answer")" = mitogen_linear ]; then
  echo "ANSIBLE_STRATEGY=mitogen_linear ANSIBLE_STRATEGY_PLUGINS=$plugins"
else
  reason="mitogen $mitogen does not run with ansible-core $core: $(sed -n 2p "$answer" | cut -c1-200)"
  [ "$want" = auto ] || { echo "strategy: $reason" >&2; exit 1; }
  linear "$reason"
fi
