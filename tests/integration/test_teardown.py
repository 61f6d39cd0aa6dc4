"""Issue 8, teardown completeness: after playbooks/teardown.yml (cluster kept) no object carrying the lab's labels
is left, namespaced or cluster-scoped, no Istio or Scope webhook configuration, and no Istio CRD unless kept on
purpose (istio_remove_crds: false, the role's default, keeps them; true removes them). What was in the cluster
before the lab is untouched: state absent removes exactly what the roles made, nothing else.

The whole lab (playbooks/site.yml, provider existing) runs on a simulated cluster of this test alone.
"""

from __future__ import annotations

import json
import re

import pytest
from meshlab_testlib import (
    ISTIO_VERSION,
    KEEP,
    LAB_SELECTOR,
    REPO,
    Cluster,
    ansible_playbook,
    start_cluster,
)

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


@pytest.fixture(scope="module")
def lab_cluster() -> Cluster:
    cluster = start_cluster("kubernetes", "-teardown")
    if cluster.kubectl("get", "namespace", "istio-system", "weave", "team-a", check=False).stdout.strip():
        # A cluster kept by an earlier session (MESHLAB_KEEP_CLUSTER=1): start from an empty one.
        cluster.sh("down", timeout=180)
        cluster.sh("up")
    yield cluster
    if not KEEP:
        cluster.sh("down", timeout=180)


def test_teardown_leaves_nothing_of_the_lab_and_all_else(lab_cluster: Cluster, istio_base_url, tmp_path):
    cluster = lab_cluster
    (tmp_path / "before-lab.yaml").write_text(BEFORE_LAB)
    cluster.kubectl("apply", "-f", tmp_path / "before-lab.yaml")
    before = snapshot(cluster)
    settings = cluster.kubectl("-n", "team-a", "get", "configmap", "settings", "-o", "json").stdout
    lab_vars = {
        "minishift_provider": "existing",
        "minishift_kubeconfig": str(cluster.kubeconfig),
        "istio_version": ISTIO_VERSION,
        "istio_download_base_url": istio_base_url,
        "istio_download_allow_http": True,  # the local artifact server is plain http on 127.0.0.1
        "istio_cache_dir": str(tmp_path / "istio-cache"),
        "istio_bin_dir": str(tmp_path / "bin"),
        "istio_wait_timeout": 180,
        "istio_readiness_timeout": 180,
        "weave_scope_wait_timeout": 180,
        # absent deletes this file: never the user's own (~/.config/meshlab/...).
        "weave_scope_basic_auth_file": str(tmp_path / "weave-scope.credentials"),
    }

    site = ansible_playbook(REPO / "playbooks" / "site.yml", tmp_path, lab_vars, timeout=1200)
    assert site.rc == 0 and site.failed == 0, site.output[-6000:]
    # The lab was really there: each label finds objects, Istio's webhooks and CRDs exist.
    made = {sel: cluster.lab_objects(sel) for sel in SELECTORS}
    assert all(made.values()), {sel: len(objs) for sel, objs in made.items()}
    assert {w for w in cluster.webhooks() if LAB_WEBHOOK.search(w)}, cluster.webhooks()
    istio_crds = cluster.crds(r"istio\.io$")
    assert istio_crds

    down = ansible_playbook(
        REPO / "playbooks" / "teardown.yml", tmp_path, {**lab_vars, "teardown_keep_cluster": True}, timeout=900
    )
    assert down.rc == 0 and down.failed == 0, down.output[-6000:]
    for sel in SELECTORS:
        assert cluster.lab_objects(sel) == set(), f"left with {sel}: {cluster.lab_objects(sel)}"
    assert not {w for w in cluster.webhooks() if LAB_WEBHOOK.search(w)}, cluster.webhooks()
    # istio_remove_crds is false by default: Istio's CRDs are kept on purpose (they hold no object now).
    assert cluster.crds(r"istio\.io$") == istio_crds
    after = snapshot(cluster)
    assert before - after == set(), f"teardown removed or recreated what was there before the lab: {before - after}"
    assert {k for k in strip_uid(after - before) if not KEPT_CRDS.match(k)} == set(), after - before
    for crd in istio_crds:
        kind_list = crd.split("/", 1)[1]
        assert cluster.kubectl("get", kind_list, "-A", "-o", "name").stdout.strip() == "", (
            f"{kind_list} still has objects"
        )
    assert json.loads(
        cluster.kubectl("-n", "team-a", "get", "configmap", "settings", "-o", "json").stdout
    ) == json.loads(settings)

    # Removing the CRDs on purpose: a second teardown with istio_remove_crds (the CRDs the lab's install created).
    purge = ansible_playbook(
        REPO / "playbooks" / "teardown.yml",
        tmp_path,
        {**lab_vars, "teardown_keep_cluster": True, "istio_remove_crds": True},
        timeout=900,
    )
    assert purge.rc == 0 and purge.failed == 0, purge.output[-6000:]
    assert cluster.crds(r"istio\.io$") == set()
    final = snapshot(cluster)
    assert final == before, f"gone: {before - final}; left: {final - before}"
    print(
        f"\nsite.yml {site.seconds:.0f}s ({sum(len(o) for o in made.values())} labelled objects by "
        f"{len(SELECTORS)} selectors, {len(istio_crds)} Istio CRDs); teardown {down.seconds:.0f}s (CRDs kept); "
        f"teardown with istio_remove_crds {purge.seconds:.0f}s; {len(before)} objects of before the lab unchanged"
    )
