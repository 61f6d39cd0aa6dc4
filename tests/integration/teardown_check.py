"""Issue 8, teardown completeness: after playbooks/teardown.yml (cluster kept) no object carrying the lab's labels
is left, namespaced or cluster-scoped, no Istio or Scope webhook configuration, and no Istio CRD unless kept on
purpose (istio_remove_crds: false, the role's default, keeps them; true removes them). What was in the cluster
before the lab is untouched: state absent removes exactly what the roles made, nothing else.

Here: what the cluster holds before the lab (BEFORE_LAB) and the helpers that compare. The test is
test_strategies.py::test_teardown_leaves_nothing_of_the_lab_and_all_else: it takes down the whole lab (site.yml,
provider existing) that test_strategies.py converged on a simulated cluster of its own, BEFORE_LAB applied first,
after that lab's drift was repaired (a site.yml on one more cluster would only converge the same lab again).
test_shared_cluster.py uses the helpers too.
"""

from __future__ import annotations

import re

from meshlab_testlib import LAB_SELECTOR, Cluster

SELECTORS = (LAB_SELECTOR, "meshlab.io/role", "app.kubernetes.io/name=weave-scope")
# Heartbeats and records of what happened are not objects anyone made.
VOLATILE = {"events", "events.events.k8s.io", "componentstatuses", "leases.coordination.k8s.io"}
# Kept on purpose with istio_remove_crds: false: Istio's CRDs and the APIServices the API server registers for
# their groups (removed by the API server with the CRDs).
KEPT_CRDS = re.compile(r"^(CustomResourceDefinition|APIService)/.*\.istio\.io$")
LAB_WEBHOOK = re.compile(r"istio|scope|weave|meshlab")

# What was in the cluster before the lab, looking like the lab's neighbours: also managed by Ansible.
BEFORE_LAB = """
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: team-a
      labels: {app.kubernetes.io/managed-by: ansible, app.kubernetes.io/part-of: team-a}
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
      namespace: team-a
      labels: {app.kubernetes.io/managed-by: ansible, app.kubernetes.io/part-of: team-a}
    data: {owner: team-a}
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata:
      name: team-a-reader
      labels: {app.kubernetes.io/managed-by: ansible, app.kubernetes.io/part-of: team-a}
    rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
"""


def snapshot(cluster: Cluster) -> set[str]:
    """Every object of every listable kind, namespaced and cluster-scoped: kind/namespace/name/uid (a deleted and
    recreated object shows as a different one)."""
    kinds = [
        k for k in cluster.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split() if k not in VOLATILE
    ]
    out = cluster.kubectl(
        "get",
        ",".join(kinds),
        "-A",
        "--no-headers",
        "-o",
        "custom-columns=K:.kind,NS:.metadata.namespace,N:.metadata.name,U:.metadata.uid",
        timeout=120,
    ).stdout
    found = set()
    for line in out.splitlines():
        kind, ns, name, uid = line.split()
        found.add(f"{kind}/{name}#{uid}" if ns == "<none>" else f"{kind}/{ns}/{name}#{uid}")
    return found


def strip_uid(keys: set[str]) -> set[str]:
    return {k.split("#")[0] for k in keys}
