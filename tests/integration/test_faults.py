"""Issue 8, runtime faults: the API server lost while `istio` converges, and `weave_scope` interrupted (Ctrl-C)
mid-converge. Each run fails in bounded time with a clear message; a re-run converges without duplicating
anything; the run after that changes nothing.

Everything is real: ansible-playbook runs the roles against a simulated cluster of this suite (tests/cluster), the
kube-apiserver process of that cluster is killed with SIGKILL and started again by kwokctl (etcd keeps running
and keeps its data), and Ctrl-C is a SIGINT to ansible-playbook's process group, as a terminal sends it.
"""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from collections import Counter

import pytest
from meshlab_testlib import (
    ISTIO_VERSION,
    KEEP,
    Cluster,
    PlaybookProcess,
    ansible_playbook,
    free_ports,
    start_cluster,
)

# What the roles' own timeouts allow, here lowered as molecule/istio does; the bounds below derive from them.
ISTIO_WAIT = 120
ISTIO_READINESS = 120
# A lost API server must end the run within the longest wait it can be in (a k8s wait or istioctl's readiness
# wait, each bounded by the numbers above; connection errors end a k8s module at once), plus the rescue's
# probe (10 s) and Ansible's own pace on a busy 2-core machine.
API_LOST_BOUND = max(ISTIO_WAIT, ISTIO_READINESS) + 120
# Ctrl-C: Ansible stops the running task and exits; no wait of the role is awaited.
SIGINT_BOUND = 60

ISTIO_PLAY = """
- name: Converge Istio as molecule/istio does
  hosts: localhost
  gather_facts: true
  tasks:
    - name: The cluster is described as the minishift role would publish it
      meshlab.service_mesh.cluster_facts:
        kubeconfig: "{{ test_kubeconfig }}"
      register: test_cluster

    - name: Meshlab_cluster tells the role where the cluster is
      ansible.builtin.set_fact:
        meshlab_cluster: "{{ test_cluster.cluster }}"

    - name: Istio, the addons and BookInfo
      ansible.builtin.include_role:
        name: meshlab.service_mesh.istio
"""

SCOPE_PLAY = """
- name: Converge Weave Scope as molecule/weave_scope does
  hosts: localhost
  gather_facts: true
  tasks:
    - name: The cluster is described as the minishift role would publish it
      meshlab.service_mesh.cluster_facts:
        kubeconfig: "{{ test_kubeconfig }}"
      register: test_cluster

    - name: Meshlab_cluster tells the role where the cluster is
      ansible.builtin.set_fact:
        meshlab_cluster: "{{ test_cluster.cluster }}"

    - name: Weave Scope
      ansible.builtin.include_role:
        name: meshlab.service_mesh.weave_scope
"""


def fail_text(output: str) -> str:
    """The messages of the run's failed tasks (`fatal: ... => msg`), one per line."""
    return "\n".join(m.strip() for m in re.findall(r"^\[ERROR\]: (.*)$", output, re.M))


@pytest.fixture
def apilost() -> Cluster:
    """A fresh cluster of this test alone. Its API server, controller-manager and scheduler listen on ports
    outside kwokctl's range: while they are down, a cluster created meanwhile (another test, another clone)
    cannot take their ports, so kwokctl can start them again where they were."""
    api, kcm, sched = free_ports(3)
    env = {
        "MESHLAB_APISERVER_PORT": str(api),
        "KWOK_KUBE_CONTROLLER_MANAGER_PORT": str(kcm),
        "KWOK_KUBE_SCHEDULER_PORT": str(sched),
    }
    cluster = start_cluster("kubernetes", "-apilost", env=env)
    # A cluster left by an earlier session may hold Istio already: start from an empty one.
    if cluster.kubectl("get", "namespace", "istio-system", check=False).returncode == 0:
        cluster.sh("down", timeout=180)
        cluster.sh("up")
    yield cluster
    if not KEEP:
        cluster.sh("down", timeout=180)


def uid(cluster: Cluster, *ref: str) -> str:
    return cluster.kubectl("get", *ref, "-o", "jsonpath={.metadata.uid}").stdout.strip()


def items(cluster: Cluster, kinds: str, *args: str) -> list[dict]:
    return json.loads(cluster.kubectl("get", kinds, *args, "-o", "json").stdout)["items"]


def assert_nothing_duplicated(cluster: Cluster, namespaces: list[str]) -> dict[str, int]:
    """Per Deployment: one active ReplicaSet, as many pods as replicas (no second rollout, no orphan pod); no object
    the roles named with generateName; each webhook configuration and each webhook in it once. Returns counts."""
    counts: Counter[str] = Counter()
    for ns in namespaces:
        deployments = items(cluster, "deployments", "-n", ns)
        replicasets = items(cluster, "replicasets", "-n", ns)
        pods = items(cluster, "pods", "-n", ns)
        assert deployments, f"no Deployment in {ns}"
        for dep in deployments:
            name = dep["metadata"]["name"]
            owned = [
                rs
                for rs in replicasets
                if any(o["uid"] == dep["metadata"]["uid"] for o in rs["metadata"].get("ownerReferences", []))
            ]
            active = [rs for rs in owned if rs["spec"].get("replicas", 0) > 0]
            assert len(active) == 1, (
                f"{ns}/{name}: {len(active)} active ReplicaSets: {[rs['metadata']['name'] for rs in active]}"
            )
            rs_uids = {rs["metadata"]["uid"] for rs in owned}
            its_pods = [p for p in pods if any(o["uid"] in rs_uids for o in p["metadata"].get("ownerReferences", []))]
            assert len(its_pods) == dep["spec"]["replicas"], (
                f"{ns}/{name}: {len(its_pods)} pods for {dep['spec']['replicas']} replicas"
            )
            counts["deployments"] += 1
            counts["pods"] += len(its_pods)
        orphans = [p["metadata"]["name"] for p in pods if not p["metadata"].get("ownerReferences")]
        assert not orphans, f"pods in {ns} that no controller owns: {orphans}"
        # generateName on an object no controller owns would mean a role creates a new one on every run.
        generated = cluster.kubectl(
            "get",
            "all,configmaps,secrets,serviceaccounts,roles,rolebindings",
            "-n",
            ns,
            "-o",
            "json",
        ).stdout
        stray = [
            f"{o['kind']}/{o['metadata']['name']}"
            for o in json.loads(generated)["items"]
            if o["metadata"].get("generateName") and not o["metadata"].get("ownerReferences")
        ]
        assert not stray, f"objects in {ns} named by generateName that no controller owns: {stray}"
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        configs = [c for c in items(cluster, kind) if c["metadata"]["name"].startswith("istio")]
        names = Counter(c["metadata"]["name"] for c in configs)
        assert configs and max(names.values()) == 1, f"{kind}: {names}"
        for conf in configs:
            hooks = Counter(w["name"] for w in conf.get("webhooks", []))
            assert hooks and max(hooks.values()) == 1, f"{kind}/{conf['metadata']['name']} webhooks: {hooks}"
        counts[kind] = len(configs)
    return dict(counts)


def test_api_server_lost_while_istio_converges(apilost: Cluster, istio_base_url, tmp_path):
    extra = {
        "test_kubeconfig": str(apilost.kubeconfig),
        "istio_version": ISTIO_VERSION,
        "istio_download_base_url": istio_base_url,
        "istio_download_allow_http": True,  # the local artifact server is plain http on 127.0.0.1
        "istio_cache_dir": str(tmp_path / "istio-cache"),
        "istio_bin_dir": str(tmp_path / "bin"),
        "istio_wait_timeout": ISTIO_WAIT,
        "istio_readiness_timeout": ISTIO_READINESS,
    }
    etcd_pid = apilost.pid("etcd")
    kube_system = uid(apilost, "namespace", "kube-system")
    run = PlaybookProcess(ISTIO_PLAY, tmp_path, extra)
    # Mid-converge: istioctl install and the addons are done, BookInfo is being applied and rolled out.
    at = run.wait_for(r"^TASK \[meshlab\.service_mesh\.istio : BookInfo is applied and rolled out", timeout=900)
    istio_system = uid(apilost, "namespace", "istio-system")
    time.sleep(1)
    apiserver_pid = apilost.kill_component("kube-apiserver")
    killed = time.monotonic() - run.start
    failed = run.wait(timeout=API_LOST_BOUND)
    took = failed.seconds - killed
    print(
        f"\nAPI server (pid {apiserver_pid}) killed {killed:.0f}s into the run ({at:.0f}s: BookInfo task); "
        f"the run failed {took:.0f}s later (bound {API_LOST_BOUND}s), rc {failed.rc}, recap {failed.recap}"
    )
    assert failed.rc != 0 and failed.failed == 1, failed.output[-4000:]
    assert took < API_LOST_BOUND
    errors = fail_text(failed.output)
    assert re.search(
        r"The Kubernetes API server https://127\.0\.0\.1:\d+ stopped answering during \"BookInfo is applied", errors
    ), failed.output[-4000:]
    assert "Start it again and re-run" in errors
    assert "PLAY RECAP" in failed.output and failed.recap.get("rescued") == 1

    # Start what died, never recreating the cluster: etcd is the same process, the namespaces the same objects.
    # Without the API server, the controller-manager and the scheduler exit once their leader lease is lost
    # (10-15 s): wait for that, so that kwokctl starts them with the API server rather than find them running.
    start = time.monotonic()
    lease_lost = apilost.wait_exited(["kube-controller-manager", "kube-scheduler"], timeout=60)
    print(f"controller-manager and scheduler exited: {lease_lost} ({time.monotonic() - start:.0f}s after the failure)")
    start = time.monotonic()
    apilost.start_stopped()
    restart = time.monotonic() - start
    assert apilost.pid("kube-apiserver") not in (None, apiserver_pid)
    assert apilost.pid("etcd") == etcd_pid, "etcd was restarted: the cluster must keep its data"
    assert uid(apilost, "namespace", "kube-system") == kube_system
    assert uid(apilost, "namespace", "istio-system") == istio_system

    rerun = ansible_playbook(ISTIO_PLAY, tmp_path, extra, timeout=900)
    assert rerun.rc == 0 and rerun.failed == 0, rerun.output[-6000:]
    counts = assert_nothing_duplicated(apilost, ["istio-system", "bookinfo"])
    noop = ansible_playbook(ISTIO_PLAY, tmp_path, extra, timeout=900)
    assert noop.rc == 0 and noop.changed == 0, noop.output[-6000:]
    print(
        f"restarted in {restart:.0f}s; re-run converged in {rerun.seconds:.0f}s (changed={rerun.changed}), "
        f"no-op run {noop.seconds:.0f}s (changed=0); nothing duplicated: {counts}"
    )


def scope_vars(cluster: Cluster, tmp_path, namespace: str) -> dict:
    return {
        "test_kubeconfig": str(cluster.kubeconfig),
        "weave_scope_namespace": namespace,
        "weave_scope_wait_timeout": 120,
        "weave_scope_basic_auth_file": str(tmp_path / f"{namespace}.credentials"),
    }


def made_by_role(cluster: Cluster, namespace: str) -> tuple[dict, Counter]:
    """The objects the role made for namespace (found by its instance label), normalized so that two installs in
    different namespaces compare equal; and the counts per kind of what controllers made from them (pods, RSes)."""
    kinds = cluster.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    kinds = [k for k in kinds if k not in {"events", "events.events.k8s.io", "componentstatuses"}]
    found = json.loads(
        cluster.kubectl(
            "get", ",".join(kinds), "-A", "-l", f"app.kubernetes.io/instance={namespace}", "-o", "json"
        ).stdout
    )["items"]
    own: dict = {}
    derived: Counter = Counter()
    for obj in found:
        meta = obj["metadata"]
        # Made by controllers from the role's objects (Endpoints carry their Service's labels, no owner).
        if meta.get("ownerReferences") or obj["kind"] == "Endpoints":
            derived[obj["kind"]] += 1
            continue
        body = {k: v for k, v in obj.items() if k not in {"metadata", "status"}}
        # Addresses the API server hands out differ between any two installs.
        for field in ("clusterIP", "clusterIPs"):
            body.get("spec", {}).pop(field, None)
        body["labels"] = meta.get("labels", {})
        text = json.dumps(body, sort_keys=True).replace(namespace, "<ns>")
        own[(obj["kind"], meta.get("namespace", "") and "<ns>", meta["name"].replace(namespace, "<ns>"))] = text
    return own, derived


def test_weave_scope_interrupted_then_rerun(k8s: Cluster, tmp_path):
    # Names of this run alone: a cluster kept from an earlier session (MESHLAB_KEEP_CLUSTER=1) may hold others.
    tag = uuid.uuid4().hex[:5]
    clean_ns, ns = f"scope-clean-{tag}", f"scope-rerun-{tag}"
    try:
        clean = ansible_playbook(SCOPE_PLAY, tmp_path, scope_vars(k8s, tmp_path, clean_ns), timeout=600)
        assert clean.rc == 0, clean.output[-6000:]
        reference, reference_derived = made_by_role(k8s, clean_ns)

        run = PlaybookProcess(SCOPE_PLAY, tmp_path, scope_vars(k8s, tmp_path, ns))
        # Mid-role: Scope's objects are being applied (one module run per object), the waits are still to come.
        at = run.wait_for(r"^TASK \[meshlab\.service_mesh\.weave_scope : Scope's objects are as the templates say", 600)
        # Each object is one module run of a fraction of a second: half a second lands within the loop.
        time.sleep(0.5)
        run.signal(signal.SIGINT)
        sent = time.monotonic() - run.start
        stopped = run.wait(timeout=SIGINT_BOUND)
        partial = made_by_role(k8s, ns)[0]
        print(
            f"\nSIGINT {sent:.0f}s into the run (objects' task started at {at:.0f}s); it stopped "
            f"{stopped.seconds - sent:.1f}s later, rc {stopped.rc}; {len(partial)}/{len(reference)} objects were made"
        )
        assert stopped.rc != 0, stopped.output[-4000:]
        assert "How to open Scope" not in stopped.output and "port-forward svc/weave-scope-app" not in stopped.output

        rerun = ansible_playbook(SCOPE_PLAY, tmp_path, scope_vars(k8s, tmp_path, ns), timeout=600)
        assert rerun.rc == 0 and rerun.failed == 0, rerun.output[-6000:]
        noop = ansible_playbook(SCOPE_PLAY, tmp_path, scope_vars(k8s, tmp_path, ns), timeout=600)
        assert noop.rc == 0 and noop.changed == 0, noop.output[-6000:]
        after, after_derived = made_by_role(k8s, ns)
        assert sorted(after) == sorted(reference)
        for key, text in reference.items():
            assert after[key] == text, f"{key} differs from a clean run's"
        assert after_derived == reference_derived
        print(
            f"re-run {rerun.seconds:.0f}s (changed={rerun.changed}), no-op {noop.seconds:.0f}s (changed=0); "
            f"{len(after)} objects equal to a clean run's, controllers' objects {dict(after_derived)}"
        )
    finally:
        for name in (ns, clean_ns):
            ansible_playbook(
                SCOPE_PLAY, tmp_path, {**scope_vars(k8s, tmp_path, name), "weave_scope_state": "absent"}, timeout=600
            )
