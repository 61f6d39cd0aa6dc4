"""Issue 12, ownership on a shared cluster: the lab removes exactly what it made.

1. A cluster already holds other people's objects: a ConfigMap in istio-system (so istio-system existed before the
   lab), a BookInfo namespace with its own ConfigMap and Deployment, a MutatingWebhookConfiguration whose name starts
   with `istio` (istio-foreign-injector), a ClusterRole and a CRD in an istio.io group. playbooks/site.yml (provider
   existing) then playbooks/teardown.yml (cluster kept): every one of them is still there with the same uid, the
   namespaces that existed keep their labels (BookInfo's istio-injection label goes again), nothing labelled by the
   lab is left, no webhook configuration the lab's install created is left. A second teardown with
   istio_remove_crds removes the Istio CRDs the lab's install created, and only those.
2. A foreign Istio (an istiod Deployment in istio-system, operator.istio.io/version 1.27.0, istio.io/rev default,
   with Istio's CRDs and injector configs) is refused before any change (changed=0, not one object more), the
   message naming version, revision, namespace and istio_existing_control_plane. With
   istio_existing_control_plane=adopt the role deploys BookInfo on it and never touches it; state absent then leaves
   it, its CRDs and its configs exactly as they were.

Both run on a simulated cluster of this module alone (one after the other: the first leaves only foreign objects).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from meshlab_testlib import (
    ISTIO_VERSION,
    KEEP,
    LAB_SELECTOR,
    REPO,
    Cluster,
    ansible_playbook,
    run,
    start_cluster,
)
from teardown_check import KEPT_CRDS, snapshot, strip_uid

SELECTORS = (LAB_SELECTOR, "meshlab.io/role", "app.kubernetes.io/name=weave-scope")
CREATED_BY = "meshlab.io/created-by"
FOREIGN_CRD = "customresourcedefinition.apiextensions.k8s.io/meshpolicies.foreign.istio.io"
FOREIGN_WEBHOOK = "mutatingwebhookconfiguration.admissionregistration.k8s.io/istio-foreign-injector"

# What other people run on the cluster before the lab comes. Names that look like the lab's on purpose.
FOREIGN = """
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: istio-system, labels: {team: platform}}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: platform-settings, namespace: istio-system, labels: {team: platform}}
    data: {owner: platform}
  - apiVersion: v1
    kind: Namespace
    metadata: {name: bookinfo, labels: {team: books}}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: books-settings, namespace: bookinfo, labels: {team: books}}
    data: {owner: books}
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: books-api, namespace: bookinfo, labels: {team: books}}
    spec:
      replicas: 1
      selector: {matchLabels: {app: books-api}}
      template:
        metadata: {labels: {app: books-api}}
        spec:
          containers: [{name: api, image: registry.example.com/books/api:1.0}]
  - apiVersion: admissionregistration.k8s.io/v1
    kind: MutatingWebhookConfiguration
    metadata: {name: istio-foreign-injector, labels: {team: platform}}
    webhooks:
      - name: inject.foreign.example.com
        admissionReviewVersions: [v1]
        sideEffects: None
        failurePolicy: Ignore
        clientConfig: {service: {name: no-such-service, namespace: istio-system, path: /inject}}
        namespaceSelector: {matchLabels: {foreign-injection-that-nothing-has: "true"}}
        rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: {name: istio-foreign-reader, labels: {team: platform}}
    rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
  - apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: meshpolicies.foreign.istio.io}
    spec:
      group: foreign.istio.io
      scope: Namespaced
      names: {plural: meshpolicies, singular: meshpolicy, kind: MeshPolicy}
      versions:
        - name: v1
          served: true
          storage: true
          schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
FOREIGN_KEYS = {
    "Namespace/istio-system",
    "ConfigMap/istio-system/platform-settings",
    "Namespace/bookinfo",
    "ConfigMap/bookinfo/books-settings",
    "Deployment/bookinfo/books-api",
    "MutatingWebhookConfiguration/istio-foreign-injector",
    "ClusterRole/istio-foreign-reader",
    "CustomResourceDefinition/meshpolicies.foreign.istio.io",
}

# An Istio control plane the lab did not install, as istioctl of another version would leave it.
FOREIGN_ISTIOD = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: istio-system
  labels: {app: istiod, istio.io/rev: default, operator.istio.io/version: 1.27.0, team: platform}
spec:
  replicas: 1
  selector: {matchLabels: {app: istiod}}
  template:
    metadata: {labels: {app: istiod, istio.io/rev: default}}
    spec:
      containers: [{name: discovery, image: docker.io/istio/pilot:1.27.0}]
"""

ISTIO_ONLY = """
- name: Istio alone
  hosts: localhost
  gather_facts: false
  roles:
    - role: meshlab.service_mesh.istio
"""


@pytest.fixture(scope="module")
def shared_cluster() -> Cluster:
    cluster = start_cluster("kubernetes", "-shared")
    if cluster.kubectl("get", "namespace", "istio-system", "weave", "bookinfo", check=False).stdout.strip():
        # A cluster kept by an earlier session (MESHLAB_KEEP_CLUSTER=1): start from an empty one.
        cluster.sh("down", timeout=180)
        cluster.sh("up")
    yield cluster
    if not KEEP:
        cluster.sh("down", timeout=180)


@pytest.fixture(scope="module")
def istio_dirs(tmp_path_factory) -> dict[str, str]:
    """Istio's download cache and istioctl folder, shared by both tests (one download)."""
    base = tmp_path_factory.mktemp("istio")
    return {"istio_cache_dir": str(base / "cache"), "istio_bin_dir": str(base / "bin")}


def lab_vars(cluster: Cluster, istio_base_url: str, istio_dirs: dict[str, str], tmp_path) -> dict:
    return {
        "minishift_provider": "existing",
        "minishift_kubeconfig": str(cluster.kubeconfig),
        "istio_version": ISTIO_VERSION,
        "istio_download_base_url": istio_base_url,
        "istio_download_allow_http": True,  # the local artifact server is plain http on 127.0.0.1
        **istio_dirs,
        "istio_wait_timeout": 180,
        "istio_readiness_timeout": 180,
        "weave_scope_wait_timeout": 180,
        # absent deletes this file: never the user's own (~/.config/meshlab/...).
        "weave_scope_basic_auth_file": str(tmp_path / "weave-scope.credentials"),
    }


def settled_snapshot(cluster: Cluster, before: set[str], timeout: float = 120) -> set[str]:
    """The cluster's objects once the garbage collector is done: what depends on deleted objects (a ReplicaSet's
    pods, a Service's EndpointSlices) goes asynchronously, within seconds, after the deletion returned."""
    dependents = re.compile(r"^(Pod|ReplicaSet|EndpointSlice|Endpoints)/")
    deadline = time.monotonic() + timeout
    while True:
        now = snapshot(cluster)
        if not any(dependents.match(k) for k in now - before) or time.monotonic() > deadline:
            return now
        time.sleep(2)


def get_json(cluster: Cluster, *args: str) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def foreign_state(cluster: Cluster) -> dict[str, dict]:
    """What the foreign objects hold that the lab must not change (uid, labels, annotations, data, spec)."""
    out = {}
    for args in (
        ("namespace", "istio-system"),
        ("namespace", "bookinfo"),
        ("-n", "istio-system", "configmap", "platform-settings"),
        ("-n", "bookinfo", "configmap", "books-settings"),
        ("-n", "bookinfo", "deployment", "books-api"),
        ("mutatingwebhookconfiguration", "istio-foreign-injector"),
        ("clusterrole", "istio-foreign-reader"),
        ("crd", "meshpolicies.foreign.istio.io"),
    ):
        obj = get_json(cluster, *args)
        meta = obj["metadata"]
        out[" ".join(args)] = {
            "uid": meta["uid"],
            "labels": meta.get("labels", {}),
            "annotations": {k: v for k, v in meta.get("annotations", {}).items() if "last-applied" not in k},
            "body": {k: obj.get(k) for k in ("data", "webhooks", "rules")},
            "spec": obj.get("spec") if obj["kind"] != "Deployment" else obj["spec"]["template"],
        }
    return out


def test_site_then_teardown_leave_foreign_objects_alone(shared_cluster: Cluster, istio_base_url, istio_dirs, tmp_path):
    cluster = shared_cluster
    (tmp_path / "foreign.yaml").write_text(FOREIGN)
    cluster.kubectl("apply", "-f", tmp_path / "foreign.yaml")
    cluster.kubectl("wait", "--for=condition=Established", "crd/meshpolicies.foreign.istio.io", "--timeout=60s")
    cluster.kubectl("-n", "bookinfo", "rollout", "status", "deployment/books-api", "--timeout=120s", timeout=150)
    before = snapshot(cluster)
    assert strip_uid(before) >= FOREIGN_KEYS, FOREIGN_KEYS - strip_uid(before)
    foreign = foreign_state(cluster)
    variables = lab_vars(cluster, istio_base_url, istio_dirs, tmp_path)

    site = ansible_playbook(REPO / "playbooks" / "site.yml", tmp_path, variables, timeout=1200)
    assert site.rc == 0 and site.failed == 0, site.output[-6000:]
    # The lab was really there, in the namespaces that existed before it.
    made = {sel: cluster.lab_objects(sel) for sel in SELECTORS}
    assert all(made.values()), {sel: len(objs) for sel, objs in made.items()}
    in_bookinfo = {o for o in made["meshlab.io/role"] if o[1] == "bookinfo"}
    assert {("Deployment", "bookinfo", "productpage-v1"), ("Gateway", "bookinfo", "bookinfo-gateway")} <= in_bookinfo
    record = get_json(cluster, "-n", "istio-system", "configmap", "meshlab-istio")["data"]
    # Neither namespace was created by the lab: not recorded, not annotated, not given the lab's labels.
    assert json.loads(record["namespaces.json"]) == [], record["namespaces.json"]
    assert json.loads(record["injection-label.json"]) == {"namespace": "bookinfo", "before": None}
    created = json.loads(record["created.json"])["objects"]
    assert {o["kind"] for o in created} >= {"CustomResourceDefinition", "MutatingWebhookConfiguration"}, created
    assert "istio-foreign-injector" not in {o["name"] for o in created}
    for name in ("istio-system", "bookinfo"):
        meta = get_json(cluster, "namespace", name)["metadata"]
        assert CREATED_BY not in meta.get("annotations", {}), meta
        assert "app.kubernetes.io/part-of" not in meta.get("labels", {}), meta
    # BookInfo's namespace got only the injection label it needs (disabled: sidecars injected manually here).
    assert get_json(cluster, "namespace", "bookinfo")["metadata"]["labels"] == {
        **foreign["namespace bookinfo"]["labels"],
        "istio-injection": "disabled",
    }
    # Weave Scope's namespace is the lab's: created, so annotated.
    assert get_json(cluster, "namespace", "weave")["metadata"]["annotations"][CREATED_BY] == "weave_scope"
    assert cluster.crds(r"istio\.io$") - {FOREIGN_CRD}, "the install created no Istio CRD"

    down = ansible_playbook(
        REPO / "playbooks" / "teardown.yml", tmp_path, {**variables, "teardown_keep_cluster": True}, timeout=900
    )
    assert down.rc == 0 and down.failed == 0, down.output[-6000:]
    for sel in SELECTORS:
        assert cluster.lab_objects(sel) == set(), f"left with {sel}: {cluster.lab_objects(sel)}"
    after = settled_snapshot(cluster, before)
    assert before - after == set(), f"teardown removed or recreated what was there before the lab: {before - after}"
    # Only the Istio CRDs the lab's install created are left on purpose (istio_remove_crds is false).
    assert {k for k in strip_uid(after - before) if not KEPT_CRDS.match(k)} == set(), after - before
    assert foreign_state(cluster) == foreign
    assert get_json(cluster, "-n", "istio-system", "configmap", "platform-settings")["data"] == {"owner": "platform"}
    # No webhook configuration the lab's install created is left; the foreign one named istio* is.
    webhooks = cluster.webhooks()
    assert webhooks == {FOREIGN_WEBHOOK}, webhooks

    purge = ansible_playbook(
        REPO / "playbooks" / "teardown.yml",
        tmp_path,
        {**variables, "teardown_keep_cluster": True, "istio_remove_crds": True},
        timeout=900,
    )
    assert purge.rc == 0 and purge.failed == 0, purge.output[-6000:]
    # The lab's Istio CRDs are gone, the foreign istio.io CRD stays.
    assert cluster.crds(r"istio\.io$") == {FOREIGN_CRD}
    final = settled_snapshot(cluster, before)
    assert final == before, f"gone: {before - final}; left: {final - before}"
    assert foreign_state(cluster) == foreign
    print(
        f"\nshared cluster: site.yml {site.seconds:.0f}s ({len(in_bookinfo)} lab objects in the pre-existing bookinfo, "
        f"{len(created)} install-created objects recorded); teardown {down.seconds:.0f}s; with istio_remove_crds "
        f"{purge.seconds:.0f}s; {len(before)} objects of before the lab unchanged, "
        f"{len(FOREIGN_KEYS)} foreign ones compared field by field"
    )


def foreign_istio(cluster: Cluster, istioctl: str, tmp_path) -> None:
    """Another team's Istio: Istio's CRDs and injector configs (from istioctl manifest generate) and an istiod
    Deployment that says it runs 1.27.0."""
    manifest = run(
        [istioctl, "manifest", "generate", "--set", "profile=minimal"],
        env={"KUBECONFIG": str(cluster.kubeconfig)},
        timeout=120,
    ).stdout
    (tmp_path / "istio-generated.yaml").write_text(manifest)
    keep = run(
        [
            REPO / ".venv" / "bin" / "python",
            "-c",
            "import sys, yaml; docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and "
            "(d['kind'] == 'CustomResourceDefinition' or (d['kind'] == 'ConfigMap' and "
            "d['metadata']['name'] in ('istio', 'istio-sidecar-injector')))]; "
            "print(yaml.safe_dump_all(docs))",
            tmp_path / "istio-generated.yaml",
        ]
    ).stdout
    (tmp_path / "foreign-istio.yaml").write_text(keep + "\n---\n" + FOREIGN_ISTIOD)
    cluster.kubectl("apply", "--server-side", "-f", tmp_path / "foreign-istio.yaml", timeout=120)
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    # Its pod is there before the snapshot (the pods of a rollout are not the lab's doing).
    cluster.kubectl("-n", "istio-system", "rollout", "status", "deployment/istiod", "--timeout=120s", timeout=150)


def test_foreign_istio_refused_before_any_change_then_adopted(
    shared_cluster: Cluster, istio_base_url, istio_dirs, tmp_path
):
    cluster = shared_cluster
    variables = {
        **lab_vars(cluster, istio_base_url, istio_dirs, tmp_path),
        "istio_kubeconfig": str(cluster.kubeconfig),
    }
    # The first test leaves only foreign objects; a lab left behind (it failed before its teardown) would be
    # taken for the foreign Istio's neighbour and spoil this test.
    assert not cluster.kubectl("-n", "istio-system", "get", "configmap", "meshlab-istio", "--ignore-not-found").stdout
    lab_crds = [
        c["metadata"]["name"]
        for c in get_json(cluster, "crd")["items"]
        if c["metadata"].get("annotations", {}).get(CREATED_BY) == "istio"
    ]
    assert lab_crds == [], f"CRDs an earlier lab install left (the first test stopped before its purge): {lab_crds}"
    istioctl = Path(istio_dirs["istio_bin_dir"]) / f"istioctl-{ISTIO_VERSION}"
    if not istioctl.exists():
        # Run alone (the first test downloads it): state absent on a cluster without the lab fetches the
        # release and istioctl, and has nothing to remove.
        prep = ansible_playbook(ISTIO_ONLY, tmp_path, {**variables, "istio_state": "absent"}, timeout=600)
        assert prep.rc == 0 and prep.failed == 0, prep.output[-4000:]
    foreign_istio(cluster, str(istioctl), tmp_path)
    istiod = get_json(cluster, "-n", "istio-system", "deployment", "istiod")
    before = snapshot(cluster)

    refused = ansible_playbook(ISTIO_ONLY, tmp_path, variables, timeout=600)
    assert refused.rc != 0 and refused.failed == 1, refused.output[-6000:]
    assert refused.changed == 0, refused.output[-6000:]
    message = " ".join(refused.output.split())
    for words in (
        "Found an Istio control plane this lab did not install",
        "istiod Deployment istiod in namespace istio-system, Istio 1.27.0, revision default",
        "istio_existing_control_plane: adopt",
        "allowed: refuse, adopt",
    ):
        assert words in message, (words, refused.output[-4000:])
    assert snapshot(cluster) == before, "the refused run changed the cluster"

    adopt = {**variables, "istio_existing_control_plane": "adopt"}
    adopted = ansible_playbook(ISTIO_ONLY, tmp_path, adopt, timeout=900)
    assert adopted.rc == 0 and adopted.failed == 0, adopted.output[-6000:]
    # The lab used the foreign control plane as it runs: not upgraded, not reinstalled, no webhook of the lab's.
    now = get_json(cluster, "-n", "istio-system", "deployment", "istiod")
    assert now["metadata"]["uid"] == istiod["metadata"]["uid"]
    assert now["metadata"]["labels"] == istiod["metadata"]["labels"]
    assert now["spec"]["template"] == istiod["spec"]["template"]
    assert cluster.webhooks() == {FOREIGN_WEBHOOK}
    record = get_json(cluster, "-n", "istio-system", "configmap", "meshlab-istio")["data"]
    assert record["control_plane"] == "adopted" and record["version"] == "1.27.0", record
    assert json.loads(record["created.json"]) == {}, record["created.json"]
    assert ("Gateway", "bookinfo", "bookinfo-gateway") in cluster.lab_objects("meshlab.io/role")

    again = ansible_playbook(ISTIO_ONLY, tmp_path, adopt, timeout=900)
    assert again.rc == 0 and again.changed == 0, again.output[-6000:]

    down = ansible_playbook(
        REPO / "playbooks" / "teardown.yml",
        tmp_path,
        {**variables, "teardown_keep_cluster": True, "istio_remove_crds": True},
        timeout=900,
    )
    assert down.rc == 0 and down.failed == 0, down.output[-6000:]
    assert cluster.lab_objects(LAB_SELECTOR) == set()
    # The foreign control plane, its CRDs and configs are exactly as before (even with istio_remove_crds).
    after = settled_snapshot(cluster, before)
    assert before - after == set(), f"removed or recreated: {before - after}"
    assert after - before == set(), f"left: {after - before}"
    now = get_json(cluster, "-n", "istio-system", "deployment", "istiod")
    assert now["metadata"]["uid"] == istiod["metadata"]["uid"]
    assert now["spec"]["template"] == istiod["spec"]["template"]
    print(
        f"\nforeign Istio: refused in {refused.seconds:.0f}s (changed=0, {len(before)} objects unchanged); "
        f"adopted {adopted.seconds:.0f}s, re-run changed={again.changed}; "
        f"teardown {down.seconds:.0f}s left it as it was"
    )


FOREIGN_PROMETHEUS_ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: prometheus, labels: {team: monitoring}}
rules: [{apiGroups: [""], resources: [nodes, services, endpoints, pods], verbs: [get, list, watch]}]
"""


def test_addon_object_of_someone_else_refused_before_any_change(
    shared_cluster: Cluster, istio_base_url, istio_dirs, tmp_path
):
    """A ClusterRole named as Istio's Prometheus sample names its own (`prometheus`), made by another team: the
    istio role would patch, label and later delete it. It stops before any change instead, naming the object and
    the variable that turns the addon off; with Prometheus off the object is never touched."""
    cluster = shared_cluster
    variables = {
        **lab_vars(cluster, istio_base_url, istio_dirs, tmp_path),
        "istio_kubeconfig": str(cluster.kubeconfig),
        # The foreign control plane of the test before may still be there: this test is about the addons.
        "istio_existing_control_plane": "adopt",
    }
    if not (Path(istio_dirs["istio_bin_dir"]) / f"istioctl-{ISTIO_VERSION}").exists():
        # Run alone: the release is downloaded first (a download is a change on the host).
        prep = ansible_playbook(ISTIO_ONLY, tmp_path, {**variables, "istio_state": "absent"}, timeout=600)
        assert prep.rc == 0 and prep.failed == 0, prep.output[-4000:]
    (tmp_path / "foreign-prometheus.yaml").write_text(FOREIGN_PROMETHEUS_ROLE)
    cluster.kubectl("apply", "--server-side", "-f", tmp_path / "foreign-prometheus.yaml")
    try:
        role = get_json(cluster, "clusterrole", "prometheus")
        before = snapshot(cluster)
        refused = ansible_playbook(ISTIO_ONLY, tmp_path, variables, timeout=600)
        assert refused.rc != 0 and refused.failed == 1, refused.output[-6000:]
        assert refused.changed == 0, refused.output[-6000:]
        message = " ".join(refused.output.split())
        for words in ("ClusterRole prometheus exist(s) and the lab did not create them", "istio_addon_prometheus"):
            assert words in message, (words, refused.output[-4000:])
        assert snapshot(cluster) == before, "the refused run changed the cluster"
        now = get_json(cluster, "clusterrole", "prometheus")
        assert now["metadata"]["uid"] == role["metadata"]["uid"]
        assert now["metadata"].get("labels") == role["metadata"].get("labels")
        assert now["rules"] == role["rules"]
    finally:
        cluster.kubectl("delete", "clusterrole", "prometheus", "--ignore-not-found")
