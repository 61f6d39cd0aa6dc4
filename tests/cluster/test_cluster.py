"""The simulated clusters are real: a kube-apiserver v1.35.4 with etcd, controllers and a scheduler, kwok nodes.

Order matters only for the last test (it kills and re-creates the kubernetes cluster); the fixtures in conftest.py
start the clusters once per session.
"""

import hashlib
import io
import os
import re
import signal
import socket
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from meshlab_testlib import CACHE_DIR, CLUSTER_DIR, NODES, VERSIONS, bin_path, cluster_sh, run, wait_for

K8S_VERSION = VERSIONS["KUBERNETES_VERSION"]
ISTIO_VERSION = VERSIONS["ISTIO_VERSION"]


def kwok_nodes(api) -> set[str]:
    nodes = client.CoreV1Api(api).list_node().items
    return {n.metadata.name for n in nodes if (n.metadata.annotations or {}).get("kwok.x-k8s.io/node") == "fake"}


def running_ready(pod) -> bool:
    conditions = {c.type: c.status for c in (pod.status.conditions or [])}
    return pod.status.phase == "Running" and conditions.get("Ready") == "True"


def pods_running(api, namespace, selector, count):
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    ready = [p for p in pods if running_ready(p)]
    return ready if len(ready) == count and len(pods) == count else None


def labels(app):
    return client.V1ObjectMeta(labels={"app": app})


def pod_template(app):
    return client.V1PodTemplateSpec(
        metadata=labels(app),
        spec=client.V1PodSpec(containers=[client.V1Container(name=app, image="registry.invalid/meshlab/none:1")]),
    )


# --- the kubernetes flavor -------------------------------------------------------------------------------------


def test_up_is_fast_and_kubeconfig_path_is_fixed(k8s):
    assert k8s.kubeconfig == CACHE_DIR / "cluster" / "kubernetes" / "kubeconfig"
    assert k8s.up_seconds < 120, f"cluster.sh up took {k8s.up_seconds:.0f}s"


def test_api_server_reports_pinned_version(k8s):
    info = client.VersionApi(k8s.api()).get_code()
    assert info.git_version == K8S_VERSION
    assert (info.major, info.minor) == tuple(K8S_VERSION.lstrip("v").split(".")[:2])
    out = k8s.kubectl("version", "-o", "json").stdout
    assert f'"gitVersion": "{K8S_VERSION}"' in out  # client and server


def test_nodes_are_kwok_nodes_and_ready(k8s):
    api = k8s.api()
    nodes = client.CoreV1Api(api).list_node().items
    assert len(nodes) == NODES
    assert kwok_nodes(api) == {n.metadata.name for n in nodes}
    for node in nodes:
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", node.metadata.name


def test_control_plane_listens_on_loopback_only(k8s):
    """Every TCP socket the cluster's processes listen on is bound to 127.0.0.1."""
    pids = [int(p.read_text()) for p in (k8s.state_dir / "pids").glob("*.pid")]
    assert len(pids) == 5  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                listening.append(fields[1])
    assert len(listening) >= 5
    assert all(addr.startswith("0100007F:") for addr in listening), listening  # 127.0.0.1 in /proc's byte order


def test_deployment_gets_three_running_ready_pods_on_kwok_nodes(k8s, namespace):
    api = k8s.api()
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=3, selector=client.V1LabelSelector(match_labels={"app": "web"}), template=pod_template("web")
            ),
        ),
    )
    pods = wait_for(lambda: pods_running(api, namespace, "app=web", 3), 120, "3 Running/Ready pods of deployment web")
    assert {p.spec.node_name for p in pods} <= kwok_nodes(api)
    assert all(p.status.pod_ip for p in pods)
    deployment = wait_for(
        lambda: (
            (d := client.AppsV1Api(api).read_namespaced_deployment("web", namespace)).status.ready_replicas == 3 and d
        ),
        60,
        "deployment web readyReplicas=3",
    )
    assert deployment.status.available_replicas == 3


def test_daemonset_gets_one_pod_per_node(k8s, namespace):
    api = k8s.api()
    client.AppsV1Api(api).create_namespaced_daemon_set(
        namespace,
        client.V1DaemonSet(
            metadata=client.V1ObjectMeta(name="agent"),
            spec=client.V1DaemonSetSpec(
                selector=client.V1LabelSelector(match_labels={"app": "agent"}), template=pod_template("agent")
            ),
        ),
    )
    pods = wait_for(lambda: pods_running(api, namespace, "app=agent", NODES), 120, f"{NODES} daemonset pods")
    assert sorted(p.spec.node_name for p in pods) == sorted(kwok_nodes(api))


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.meshlab.local"},
    "spec": {
        "group": "test.meshlab.local",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                    "color": {"type": "string", "enum": ["red", "blue"]},
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_crd_is_served_and_schema_rejects_bad_objects(k8s, namespace):
    api = k8s.api()
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(WIDGET_CRD)
    except ApiException as exc:
        if exc.status != 409:  # left by an earlier run with MESHLAB_KEEP_CLUSTER=1
            raise
    custom = client.CustomObjectsApi(api)
    args = ("test.meshlab.local", "v1", namespace, "widgets")

    def widget(name, spec):
        return {"apiVersion": "test.meshlab.local/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}

    wait_for(lambda: custom.list_namespaced_custom_object(*args) is not None, 60, "widgets to be served")
    custom.create_namespaced_custom_object(*args, widget("good", {"size": 3, "color": "red", "unknown": 1}))
    got = custom.get_namespaced_custom_object(*args, "good")
    assert got["spec"] == {"size": 3, "color": "red"}  # unknown fields are pruned, as on a real cluster
    for bad, message in (
        ({"size": 11}, "spec.size"),
        ({"size": "big"}, "spec.size"),
        ({"color": "red"}, "spec.size: Required value"),
        ({"size": 2, "color": "green"}, "spec.color"),
    ):
        with pytest.raises(ApiException) as err:
            custom.create_namespaced_custom_object(*args, widget("bad", bad))
        assert err.value.status == 422, bad
        assert message in err.value.body, err.value.body
    ext.delete_custom_resource_definition("widgets.test.meshlab.local")


def test_up_again_is_a_quick_no_op(k8s):
    proc = cluster_sh("up", "kubernetes", timeout=120)
    assert "already up and healthy" in proc.stderr
    assert "creating cluster" not in proc.stderr
    assert proc.elapsed < 30
    status = cluster_sh("status", "kubernetes", timeout=60)
    assert "up and healthy" in status.stdout


# --- the openshift flavor (runs at the same time as the kubernetes one) -----------------------------------------


def test_both_flavors_run_side_by_side(k8s, openshift):
    servers = set()
    for cluster in (k8s, openshift):
        api = cluster.api()
        assert client.VersionApi(api).get_code().git_version == K8S_VERSION
        servers.add(api.configuration.host)
    assert len(servers) == 2, servers
    assert openshift.kubeconfig == CACHE_DIR / "cluster" / "openshift" / "kubeconfig"


def test_openshift_clusterversion_reports_its_version(openshift):
    cv = client.CustomObjectsApi(openshift.api()).get_cluster_custom_object(
        "config.openshift.io", "v1", "clusterversions", "version"
    )
    want = VERSIONS["OPENSHIFT_CLUSTER_VERSION"]
    assert cv["status"]["desired"]["version"] == want
    assert cv["status"]["history"][0]["version"] == want
    assert cv["status"]["history"][0]["state"] == "Completed"
    # What `oc get clusterversion` shows comes from the CRD's printer columns.
    out = openshift.kubectl("get", "clusterversion", "version").stdout
    assert re.search(rf"^version\s+{re.escape(want)}\s+True\s+False", out, re.MULTILINE), out


def test_openshift_default_sccs_exist(openshift):
    sccs = client.CustomObjectsApi(openshift.api()).list_cluster_custom_object(
        "security.openshift.io", "v1", "securitycontextconstraints"
    )
    by_name = {s["metadata"]["name"]: s for s in sccs["items"]}
    assert {"restricted", "restricted-v2", "anyuid", "privileged"} <= set(by_name)
    assert by_name["anyuid"]["runAsUser"]["type"] == "RunAsAny"
    assert by_name["privileged"]["allowPrivilegedContainer"] is True
    assert by_name["restricted-v2"]["runAsUser"]["type"] == "MustRunAsRange"


def test_openshift_route_and_scc_round_trip(openshift):
    api = openshift.api()
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    ns = f"route-{time.monotonic_ns() % 10**9}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        route = {
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": {"name": "productpage"},
            "spec": {
                "host": "productpage.apps.example.test",
                "to": {"kind": "Service", "name": "productpage", "weight": 100},
                "port": {"targetPort": "http"},
            },
        }
        custom.create_namespaced_custom_object("route.openshift.io", "v1", ns, "routes", route)
        got = custom.get_namespaced_custom_object("route.openshift.io", "v1", ns, "routes", "productpage")
        assert got["spec"]["to"]["name"] == "productpage"
        assert got["spec"]["host"] == "productpage.apps.example.test"
        # The real Route schema is enforced, CEL rules included.
        bad = {**route, "metadata": {"name": "bad"}}
        bad["spec"] = {**route["spec"], "tls": {"termination": "passthrough"}, "httpHeaders": {"actions": {}}}
        with pytest.raises(ApiException) as err:
            custom.create_namespaced_custom_object("route.openshift.io", "v1", ns, "routes", bad)
        assert err.value.status == 422
        assert "header actions are not permitted when tls termination is passthrough" in err.value.body
    finally:
        core.delete_namespace(ns)

    scc = {
        "apiVersion": "security.openshift.io/v1",
        "kind": "SecurityContextConstraints",
        "metadata": {"name": f"meshlab-test-{time.monotonic_ns() % 10**9}"},
        "allowHostDirVolumePlugin": False,
        "allowHostIPC": False,
        "allowHostNetwork": False,
        "allowHostPID": False,
        "allowHostPorts": False,
        "allowPrivilegedContainer": False,
        "allowedCapabilities": None,
        "defaultAddCapabilities": None,
        "priority": None,
        "readOnlyRootFilesystem": False,
        "requiredDropCapabilities": ["ALL"],
        "runAsUser": {"type": "MustRunAsNonRoot"},
        "seLinuxContext": {"type": "MustRunAs"},
        "users": ["system:serviceaccount:istio-system:istiod"],
        "volumes": ["configMap", "secret"],
    }
    args = ("security.openshift.io", "v1", "securitycontextconstraints")
    custom.create_cluster_custom_object(*args, scc)
    got = custom.get_cluster_custom_object(*args, scc["metadata"]["name"])
    assert got["users"] == ["system:serviceaccount:istio-system:istiod"]
    assert got["runAsUser"] == {"type": "MustRunAsNonRoot"}
    custom.delete_cluster_custom_object(*args, scc["metadata"]["name"])


# --- the artifact server and istioctl ----------------------------------------------------------------------------


def test_artifact_server_serves_istio_release_with_matching_sha256(artifacts, tmp_path):
    assert artifacts.startswith("http://127.0.0.1:")
    name = f"istio-{ISTIO_VERSION}-linux-amd64.tar.gz"
    url = f"{artifacts}/{ISTIO_VERSION}/{name}"
    with urllib.request.urlopen(url, timeout=60) as resp:
        data = resp.read()
    with urllib.request.urlopen(url + ".sha256", timeout=30) as resp:
        sha_line = resp.read().decode()
    assert re.fullmatch(rf"[0-9a-f]{{64}} {re.escape(name)}\n", sha_line), repr(sha_line)
    assert sha_line.split()[0] == hashlib.sha256(data).hexdigest()

    top = f"istio-{ISTIO_VERSION}"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
        for member in (f"{top}/bin/istioctl", f"{top}/LICENSE", f"{top}/README.md"):
            assert member in names
        assert any(n.startswith(f"{top}/manifests/charts/") for n in names)
        assert any(n.startswith(f"{top}/samples/bookinfo/") for n in names)
        assert {n.split("/")[0] for n in names} == {top}
        tar.extract(f"{top}/bin/istioctl", tmp_path, filter="data")
    # The istioctl inside the tarball prints the stamped version.
    out = run([tmp_path / top / "bin" / "istioctl", "version", "--remote=false"], timeout=60).stdout
    assert ISTIO_VERSION in out


def test_istioctl_prints_stamped_version():
    out = run([bin_path("istioctl"), "version", "--remote=false"], timeout=60).stdout
    assert out.strip() == f"client version: {ISTIO_VERSION}"


# --- build.sh ----------------------------------------------------------------------------------------------------


def test_second_build_builds_nothing():
    proc = run([CLUSTER_DIR / "build.sh"], timeout=300)
    assert "nothing to build" in proc.stderr, proc.stderr
    assert "building" not in proc.stderr


def test_build_names_the_module_when_the_proxy_fails(tmp_path):
    env = {
        "MESHLAB_CACHE_DIR": str(tmp_path / "cache"),
        "GOMODCACHE": str(tmp_path / "modcache"),  # empty: everything must come from the proxy
        "GOPROXY": "http://127.0.0.1:9",  # nothing listens on the discard port
        "GOFLAGS": "-modcacherw",
    }
    proc = run([CLUSTER_DIR / "build.sh", "etcd"], env=env, timeout=120, check=False)
    assert proc.returncode != 0
    assert f"cannot resolve go.etcd.io/etcd/server/v3 {VERSIONS['ETCD_VERSION']}" in proc.stderr, proc.stderr
    assert not list((tmp_path / "cache").glob("bin/etcd-*/etcd"))


# --- bad cases ---------------------------------------------------------------------------------------------------


def test_bogus_flavor_fails_clearly():
    proc = cluster_sh("up", "bogus", timeout=30, check=False)
    assert proc.returncode != 0
    assert "FLAVOR='bogus' is not supported: use FLAVOR=kubernetes or FLAVOR=openshift" in proc.stderr
    assert not (CACHE_DIR / "cluster" / "bogus").exists()


def test_unknown_command_prints_usage():
    proc = run([CLUSTER_DIR / "cluster.sh", "sideways"], timeout=30, check=False)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


@pytest.fixture
def scratch_cache(tmp_path):
    """An empty cache dir that shares the built binaries (no cluster state)."""
    (tmp_path / "bin").symlink_to(CACHE_DIR / "bin")
    return tmp_path


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_down_when_absent_is_a_no_op(scratch_cache):
    proc = cluster_sh("down", "kubernetes", timeout=60, env={"MESHLAB_CACHE_DIR": str(scratch_cache)})
    assert "not present; nothing to do" in proc.stderr
    status = cluster_sh("status", "kubernetes", timeout=60, check=False, env={"MESHLAB_CACHE_DIR": str(scratch_cache)})
    assert status.returncode == 3
    assert "not present" in status.stdout


def test_taken_api_server_port_fails_fast(scratch_cache):
    with listener() as sock:
        port = sock.getsockname()[1]
        env = {"MESHLAB_CACHE_DIR": str(scratch_cache), "MESHLAB_APISERVER_PORT": str(port)}
        proc = cluster_sh("up", "kubernetes", timeout=60, check=False, env=env)
    assert proc.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert proc.elapsed < 30
    assert not (scratch_cache / "kwok" / "clusters" / "meshlab-kubernetes").exists()


def test_taken_artifact_server_port_fails_fast(scratch_cache):
    with listener() as sock:
        port = sock.getsockname()[1]
        env = {"MESHLAB_CACHE_DIR": str(scratch_cache), "MESHLAB_ARTIFACTS_PORT": str(port)}
        proc = run([CLUSTER_DIR / "artifacts.sh", "up"], env=env, timeout=30, check=False)
    assert proc.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert not (scratch_cache / "artifacts-server" / "pid").exists()


def test_taken_default_artifact_port_falls_back_to_a_free_one(scratch_cache):
    default = int(VERSIONS["ARTIFACTS_PORT"])
    env = {"MESHLAB_CACHE_DIR": str(scratch_cache), "MESHLAB_ARTIFACTS_PORT": ""}  # "": use the default port
    squatter = socket.socket()
    try:
        try:  # make sure the default port is taken (it may already be: by the session's own server)
            squatter.bind(("127.0.0.1", default))
            squatter.listen()
        except OSError:
            pass
        proc = run([CLUSTER_DIR / "artifacts.sh", "up"], env=env, timeout=30)
        assert f"port {default} on 127.0.0.1 is in use" in proc.stderr
        url = run([CLUSTER_DIR / "artifacts.sh", "url"], env=env, timeout=30).stdout.strip()
        port = int(url.split(":")[2].split("/")[0])
        assert port != default
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.status == 200
    finally:
        squatter.close()
        run([CLUSTER_DIR / "artifacts.sh", "down"], env=env, timeout=30)


def test_stale_cluster_is_detected_and_recreated_even_if_its_port_was_taken(k8s):
    """kill -9 the API server: `status` says stale; `up` cleans up and re-creates, on another port if needed."""
    api = k8s.api()
    old_server = api.configuration.host
    old_port = int(old_server.rsplit(":", 1)[1])
    apiserver_pid = int((k8s.state_dir / "pids" / "kube-apiserver.pid").read_text())
    etcd_pid = int((k8s.state_dir / "pids" / "etcd.pid").read_text())
    os.kill(apiserver_pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{apiserver_pid}").exists(), 30, "the API server to die")

    status = cluster_sh("status", "kubernetes", timeout=60, check=False)
    assert status.returncode == 1
    assert "stale" in status.stdout

    # Something else grabs the dead API server's port meanwhile.
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        proc = cluster_sh("up", "kubernetes")
        assert "stale cluster meshlab-kubernetes" in proc.stderr
        assert "kube-apiserver (pid" in proc.stderr
        assert not Path(f"/proc/{etcd_pid}").exists(), "the old etcd was left running"
        api = k8s.api()
        assert api.configuration.host != old_server
        assert client.VersionApi(api).get_code().git_version == K8S_VERSION
        assert len(kwok_nodes(api)) == NODES
    assert cluster_sh("status", "kubernetes", timeout=60).returncode == 0
