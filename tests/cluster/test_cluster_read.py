"""meshlab.service_mesh.cluster_read against the simulated cluster's real kube-apiserver, run by Ansible.

One cluster_read task (ansible-playbook) reads several kinds across namespaces the test
made (objects created through the kubernetes client), a kind the server does not serve, and a Secret with and
without its data; bad kubeconfigs fail with a message that names them. With ``wait`` it waits for Deployments
that kube-controller-manager, kube-scheduler and kwok's nodes really roll out, and times out naming those that
cannot (no node matches their nodeSelector).
"""

import base64
import json
import os
import socket
import time
from pathlib import Path

import pytest
from kubernetes import client
from meshlab_testlib import REPO, run

SECRET_VALUE = "cluster-read-secret-value-0417"


def cluster_read(queries, tmp_path: Path, wait=None, **auth):
    """One ansible-playbook run of one cluster_read task; its registered result, the output, the run's wall time."""
    work = tmp_path / f"run-{time.monotonic_ns()}"
    work.mkdir()
    out = work / "result.json"
    args = {**auth, "queries": queries, **({"wait": wait} if wait is not None else {})}
    task = json.dumps(args)  # JSON is YAML: the module's arguments as written
    (work / "play.yml").write_text(
        f"""- name: One cluster_read run
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The queries are read
      meshlab.service_mesh.cluster_read: {task}
      register: cr_result
      ignore_errors: true

    - name: The result is kept for the test
      ansible.builtin.copy:
        content: "{{{{ cr_result | to_json }}}}"
        dest: {json.dumps(str(out))}
        mode: "0600"
"""
    )
    start = time.monotonic()
    proc = run(
        ["ansible-playbook", "-i", REPO / "inventory" / "localhost.yml", work / "play.yml"],
        env={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        timeout=180,
        check=False,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0 and out.is_file(), (
        f"ansible-playbook failed\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return json.loads(out.read_text()), proc.stdout + proc.stderr, elapsed


@pytest.fixture
def two_namespaces(k8s):
    """Two fresh namespaces with a ConfigMap, a Service and a Secret each; deleted afterwards."""
    core = client.CoreV1Api(k8s.api())
    names = [f"cr-{os.getpid()}-{i}-{time.monotonic_ns() % 10**6}" for i in (1, 2)]
    for ns in names:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels={"cr-test": "yes"})))
        for app in ("productpage", "reviews"):
            meta = client.V1ObjectMeta(name=app, labels={"app": app, "cr-test": "yes"})
            core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta, data={"app": app}))
            core.create_namespaced_service(
                ns,
                client.V1Service(
                    metadata=meta,
                    spec=client.V1ServiceSpec(selector={"app": app}, ports=[client.V1ServicePort(port=9080)]),
                ),
            )
        core.create_namespaced_secret(
            ns,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="creds", labels={"cr-test": "yes"}),
                data={"password": base64.b64encode(SECRET_VALUE.encode()).decode()},
            ),
        )
    yield names
    for ns in names:
        core.delete_namespace(ns)


def test_several_kinds_across_namespaces_in_one_run(k8s, two_namespaces, tmp_path):
    first, second = two_namespaces
    queries = [
        {
            "key": "configmaps",
            "api_version": "v1",
            "kind": "ConfigMap",
            "namespaces": two_namespaces,
            "label_selectors": ["cr-test=yes"],
        },
        {"key": "reviews", "api_version": "v1", "kind": "Service", "namespaces": two_namespaces, "name": "reviews"},
        {"key": "namespaces", "api_version": "v1", "kind": "Namespace", "label_selectors": ["cr-test=yes"]},
        {"key": "deployments", "api_version": "apps/v1", "kind": "Deployment", "namespace": first},
        {"key": "secrets", "api_version": "v1", "kind": "Secret", "namespace": second, "name": "creds"},
        {"key": "virtualservices", "api_version": "absent.meshlab.local/v1", "kind": "VirtualService"},
        {"key": "routes", "api_version": "v1", "kind": "Route", "namespace": first},
    ]
    result, output, elapsed = cluster_read(queries, tmp_path, kubeconfig=str(k8s.kubeconfig))
    assert not result.get("failed"), result
    assert result["changed"] is False
    resources = result["resources"]

    configmaps = {(c["metadata"]["namespace"], c["metadata"]["name"]) for c in resources["configmaps"]}
    assert configmaps == {(ns, app) for ns in two_namespaces for app in ("productpage", "reviews")}
    assert all(c["kind"] == "ConfigMap" and c["apiVersion"] == "v1" for c in resources["configmaps"])
    assert all("managedFields" not in c["metadata"] for c in resources["configmaps"])
    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in resources["reviews"]] == [
        (first, "reviews"),
        (second, "reviews"),
    ]
    assert resources["reviews"][0]["spec"]["ports"][0]["port"] == 9080
    assert {n["metadata"]["name"] for n in resources["namespaces"]} >= set(two_namespaces)
    assert resources["deployments"] == []

    # A Secret without include_data: no values, anywhere in the output.
    (secret,) = resources["secrets"]
    assert secret["metadata"]["name"] == "creds"
    assert "data" not in secret
    assert SECRET_VALUE not in json.dumps(result) and base64.b64encode(SECRET_VALUE.encode()).decode() not in output

    assert result["missing_apis"] == ["virtualservices", "routes"]
    assert resources["virtualservices"] == resources["routes"] == []
    print(f"cluster_read: 7 queries, one module run, {elapsed:.1f}s wall (ansible ad-hoc start included)")


def test_a_secrets_data_only_when_asked(k8s, two_namespaces, tmp_path):
    query = {"key": "s", "api_version": "v1", "kind": "Secret", "namespace": two_namespaces[0], "name": "creds"}
    result, _output, _elapsed = cluster_read([dict(query, include_data=True)], tmp_path, kubeconfig=str(k8s.kubeconfig))
    assert not result.get("failed"), result
    assert base64.b64decode(result["resources"]["s"][0]["data"]["password"]).decode() == SECRET_VALUE


def test_a_missing_kubeconfig_is_named(tmp_path):
    path = tmp_path / "gone" / "lab-kubeconfig.yaml"
    result, _output, _elapsed = cluster_read(
        [{"key": "p", "api_version": "v1", "kind": "Pod"}], tmp_path, kubeconfig=str(path)
    )
    assert result["failed"]
    assert "lab-kubeconfig.yaml" in result["msg"] and str(path.parent) in result["msg"]
    assert "does not exist" in result["msg"]


def test_a_kubeconfig_of_a_stopped_cluster_says_what_to_do(k8s, tmp_path):
    """The cluster's own kubeconfig (its certificates and credentials), pointed at a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    doc = k8s.kubeconfig.read_text()
    server = k8s.api().configuration.host
    assert server in doc
    stale = tmp_path / "stale-kubeconfig"
    stale.write_text(doc.replace(server, f"https://127.0.0.1:{port}"))
    assert f"127.0.0.1:{port}" in stale.read_text()
    result, _output, elapsed = cluster_read(
        [{"key": "p", "api_version": "v1", "kind": "Pod"}], tmp_path, kubeconfig=str(stale), request_timeout=5
    )
    assert result["failed"]
    assert f"127.0.0.1:{port}" in result["msg"]
    assert "Is the cluster running" in result["msg"]
    assert elapsed < 60


def deployment(name: str, replicas: int, node_selector: dict | None = None):
    labels = {"app": name, "cr-test": "yes"}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name=name, image="registry.invalid/meshlab/none:1")],
                    node_selector=node_selector,
                ),
            ),
        ),
    )


def test_wait_for_deployments_rolled_out_and_the_timeout_names_those_that_are_not(k8s, namespace, tmp_path):
    apps = client.AppsV1Api(k8s.api())
    core = client.CoreV1Api(k8s.api())
    for name in ("web", "api"):
        apps.create_namespaced_deployment(namespace, deployment(name, 2))
    queries = [
        {
            "key": "apps",
            "api_version": "apps/v1",
            "kind": "Deployment",
            "namespace": namespace,
            "label_selectors": ["cr-test=yes"],
        },
        {"key": "cm", "api_version": "v1", "kind": "ConfigMap", "namespace": namespace, "name": "late"},
    ]
    # A named object of a kind that is ready when present.
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="late")))
    result, _output, elapsed = cluster_read(
        queries, tmp_path, kubeconfig=str(k8s.kubeconfig), wait={"timeout": 120, "sleep": 0.5}
    )
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["not_ready"] == []
    assert isinstance(result["waited"], float) and 0 <= result["waited"] < 120
    ready = {d["metadata"]["name"]: d["status"] for d in result["resources"]["apps"]}
    assert set(ready) == {"web", "api"}
    assert all(s["availableReplicas"] == s["updatedReplicas"] == 2 for s in ready.values()), ready
    assert [c["metadata"]["name"] for c in result["resources"]["cm"]] == ["late"]
    print(f"cluster_read wait: 2 Deployments of 2 replicas ready, waited {result['waited']}s, {elapsed:.1f}s wall")

    # No node has this label: the scheduler leaves the pods Pending, so the wait times out naming the Deployment.
    apps.create_namespaced_deployment(namespace, deployment("stuck", 1, node_selector={"meshlab.test/none": "x"}))
    failed, _output, elapsed = cluster_read(
        [*queries, {"key": "gone", "api_version": "v1", "kind": "Service", "namespace": namespace, "name": "nope"}],
        tmp_path,
        kubeconfig=str(k8s.kubeconfig),
        wait={"timeout": 3, "sleep": 0.5, "keys": ["apps", "gone"]},
    )
    assert failed["failed"]
    assert failed["changed"] is False
    msg = failed["msg"]
    assert "2 object(s) not ready after 3 s" in msg, msg
    assert f"Deployment {namespace}/stuck: 0/1 available" in msg, msg
    assert f"Service {namespace}/nope: Service (v1) not found yet" in msg, msg
    assert "web" not in msg and "api" not in msg
    assert {(e["key"], e["name"]) for e in failed["not_ready"]} == {("apps", "stuck"), ("gone", "nope")}
    assert 3 <= failed["waited"] < 30
    assert elapsed < 90
