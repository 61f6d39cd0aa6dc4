"""Issue 15 item 2: the success paths of scope_topology and kiali_graph through the real kube-apiserver's service proxy,
then the mesh report drawing solid, seen edges on a simulated cluster, and expect_edges failing on a missing edge.

The simulated cluster's pods run nothing, so Weave Scope and Kiali cannot run in it. Their HTTP APIs are answered by
tests/integration/fixtures/addon_stub.py (the documented JSON shapes the collection's parsers read), run in a network
namespace this test creates: the API server refuses loopback endpoint addresses, so the stub listens on the netns end
of a veth pair in a private /30 (10.213.<n>.0/30; the host end, which the kube-apiserver process routes through,
holds .1). The Services weave/weave-scope-app and istio-system/kiali have no selector; their Endpoints and
EndpointSlices name the stub's address, with a targetRef to a Pod holding it, since the API server's proxy dials
only addresses that are a Pod's IP: hostNetwork pods on a kwok fake node whose InternalIP is the stub's address.
Everything from the modules to the stub goes through the API server:
kubeconfig -> kube-apiserver -> /api/v1/namespaces/<ns>/services/<svc>:<port>/proxy -> stub.

What this proves: the modules' requests, the proxy path, the parsing of the answers and the report's use of them.
What it does not: a real Scope's or Kiali's answers (only their documented shapes) or real traffic.
The netns, the veth pair and the stub are removed after the tests, also when they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from meshlab_testlib import KEEP, PREFIX, REPO, Cluster, ansible_playbook, run, start_cluster

STUB = Path(__file__).resolve().parent / "fixtures" / "addon_stub.py"
BOOKINFO = ["productpage", "details", "reviews", "ratings"]
EDGES = [["productpage", "details"], ["productpage", "reviews"], ["reviews", "ratings"]]
SCOPE_PORT, KIALI_PORT = 4040, 20001
# A /30 of 10.213.0.0/16 chosen by the test prefix, so engineers' runs do not collide.
SUBNET = zlib.crc32(PREFIX.encode()) % 250
HOST_IP, STUB_IP = f"10.213.{SUBNET}.1", f"10.213.{SUBNET}.2"
NETNS = f"meshlab-{PREFIX}-addons"
NODE = f"meshlab-{PREFIX}-addons"
VETH_HOST, VETH_NS = f"ml{PREFIX[:8]}a0", f"ml{PREFIX[:8]}a1"


@dataclass
class Addons:
    cluster: Cluster
    graph_file: Path
    log_file: Path

    def set_edges(self, edges: list[list[str]]) -> None:
        self.graph_file.write_text(json.dumps({"namespace": "bookinfo", "apps": BOOKINFO, "edges": edges}))

    def requests(self) -> list[dict]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["ip", *args], timeout=30, check=check)


def _remove_network() -> None:
    _ip("netns", "del", NETNS, check=False)
    _ip("link", "del", VETH_HOST, check=False)


def _manifest() -> str:
    # The API server proxies only to endpoint addresses that are a Pod's IP (isValidAddress in its service
    # storage). So Scope's and Kiali's pods run, for kwok, on a node of their own whose address is the stub's:
    # kwok gives a hostNetwork pod its node's address, as a kubelet would.
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "labels": {"kubernetes.io/hostname": NODE, "meshlab.io/test": "report-live-shapes"},
            # A kwok fake node like the cluster's others (kwokctl scale annotates them so): the cluster stays simulated.
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {"unschedulable": True},
        "status": {"addresses": [{"type": "InternalIP", "address": STUB_IP}, {"type": "Hostname", "address": NODE}]},
    }
    docs: list[dict] = [node]
    docs += [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
        for n in ("weave", "istio-system", "bookinfo")
    ]
    for ns, name, port, target, port_name in (
        ("weave", "weave-scope-app", 80, SCOPE_PORT, "http"),
        ("istio-system", "kiali", 20001, KIALI_PORT, "http-kiali"),
    ):
        meta = {"name": name, "namespace": ns, "labels": {"meshlab.io/test": "report-live-shapes"}}
        pod = f"{name}-stub"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "namespace": ns, "labels": {"meshlab.io/test": "report-live-shapes"}},
                "spec": {
                    "nodeName": NODE,
                    "hostNetwork": True,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {"name": name, "image": "registry.invalid/addon-stub:0", "ports": [{"containerPort": target}]}
                    ],
                },
            }
        )
        ref = {"kind": "Pod", "namespace": ns, "name": pod}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {"ports": [{"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}]},
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": meta,
                "subsets": [
                    {"addresses": [{"ip": STUB_IP, "targetRef": ref}], "ports": [{"name": port_name, "port": target}]}
                ],
            }
        )
        docs.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{name}-stub",
                    "namespace": ns,
                    "labels": {
                        "kubernetes.io/service-name": name,
                        "endpointslice.kubernetes.io/managed-by": "meshlab-tests",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [
                    {"addresses": [STUB_IP], "conditions": {"ready": True}, "nodeName": NODE, "targetRef": ref}
                ],
                "ports": [{"name": port_name, "port": target, "protocol": "TCP"}],
            }
        )
    # BookInfo's workloads as the report reads them (app label, application container plus the Envoy sidecar).
    for app in BOOKINFO:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"{app}-v1", "namespace": "bookinfo", "labels": {"app": app, "version": "v1"}},
                "spec": {
                    "containers": [
                        {"name": app, "image": f"docker.io/istio/examples-bookinfo-{app}-v1:1.20.2"},
                        {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"},
                    ]
                },
            }
        )
    return "\n---\n".join(json.dumps(d) for d in docs) + "\n"


def _create_network() -> None:
    """The netns with the stub's end of the veth pair (STUB_IP) and the host's end (HOST_IP), both up."""
    _ip("netns", "add", NETNS)
    _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
    _ip("link", "set", VETH_NS, "netns", NETNS)
    _ip("addr", "add", f"{HOST_IP}/30", "dev", VETH_HOST)
    _ip("link", "set", VETH_HOST, "up")
    _ip("netns", "exec", NETNS, "ip", "addr", "add", f"{STUB_IP}/30", "dev", VETH_NS)
    _ip("netns", "exec", NETNS, "ip", "link", "set", VETH_NS, "up")
    _ip("netns", "exec", NETNS, "ip", "link", "set", "lo", "up")


def _start_stub(addons: Addons) -> subprocess.Popen:
    ports = [a for p in (SCOPE_PORT, KIALI_PORT) for a in ("--port", str(p))]
    stub = subprocess.Popen(
        [
            *("ip", "netns", "exec", NETNS, sys.executable, str(STUB), "--bind", STUB_IP, *ports),
            *("--graph", str(addons.graph_file), "--log", str(addons.log_file)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = stub.stdout.readline() if stub.stdout else ""
    assert "listening" in line, f"the stub did not start: {line}"
    # The host (where the kube-apiserver process runs) reaches the stub through the veth pair.
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://{STUB_IP}:{SCOPE_PORT}/api/topology/services", timeout=3) as resp:
                assert resp.status == 200
            return stub
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _stop(stub: subprocess.Popen) -> None:
    stub.terminate()
    try:
        stub.wait(timeout=10)
    except subprocess.TimeoutExpired:
        stub.kill()
        stub.wait(timeout=10)


def _apply_objects(k8s: Cluster, work: Path) -> None:
    manifest = work / "objects.json"
    manifest.write_text(_manifest())
    k8s.kubectl("apply", "-f", manifest, timeout=120)
    for ns, pod in (("weave", "weave-scope-app-stub"), ("istio-system", "kiali-stub")):
        deadline = time.monotonic() + 60
        while k8s.kubectl("-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.podIP}").stdout != STUB_IP:
            assert time.monotonic() < deadline, f"kwok gave {ns}/{pod} no address {STUB_IP}"
            time.sleep(1)


@pytest.fixture(scope="module")
def k8s() -> Iterator[Cluster]:
    """A cluster of this module alone: the report draws whatever else the cluster holds (a lab another test
    converged on the suite's shared cluster adds its policy edges), and this test asserts the whole graph."""
    cluster = start_cluster("kubernetes", "-addons")
    yield cluster
    if not KEEP:
        cluster.sh("down", timeout=180)


@pytest.fixture(scope="module")
def addons(k8s: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Addons]:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip(
            "needs root and iproute2 to create a network namespace for the stub "
            "(the API server refuses loopback endpoint addresses)"
        )
    work = tmp_path_factory.mktemp("addons")
    addons = Addons(cluster=k8s, graph_file=work / "graph.json", log_file=work / "requests.jsonl")
    addons.set_edges(EDGES)
    _remove_network()  # a run killed before its finalizer left them behind: they are this test's by name
    taken = _ip("-o", "addr", "show").stdout
    assert f" {HOST_IP}/" not in taken, f"{HOST_IP} is taken on this host:\n{taken}"
    stub = None
    try:
        _create_network()
        stub = _start_stub(addons)
        _apply_objects(k8s, work)
        addons.log_file.unlink(missing_ok=True)
        yield addons
    finally:
        if stub is not None:
            _stop(stub)
        k8s.kubectl("delete", "node", NODE, "--ignore-not-found", "--wait=false", check=False)
        _remove_network()
        assert NETNS not in _ip("netns", "list").stdout.split(), f"netns {NETNS} is still there"


MODULES_PLAY = """
- name: The modules read Scope and Kiali through the API server's service proxy
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Scope's services topology is read
      meshlab.service_mesh.scope_topology:
        kubeconfig: "{{ kc }}"
        topology: services
        namespaces: [bookinfo]
      register: scope
    - name: Kiali's graph is read
      meshlab.service_mesh.kiali_graph:
        kubeconfig: "{{ kc }}"
        namespaces: [bookinfo]
        duration: 300
      register: kiali
    - name: The results are kept for the test
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'scope': scope, 'kiali': kiali} | to_json }}"
        mode: "0600"
"""


def _pairs(edges: list[dict]) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in edges}


EXPECTED = {(f"bookinfo/{s}", f"bookinfo/{t}") for s, t in EDGES}


def test_modules_through_the_service_proxy(addons: Addons, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = ansible_playbook(MODULES_PLAY, tmp_path, {"kc": str(addons.cluster.kubeconfig), "out": str(out)})
    assert result.rc == 0, result.output[-4000:]
    got = json.loads(out.read_text())
    scope, kiali = got["scope"], got["kiali"]
    server = json.loads(addons.cluster.kubectl("config", "view", "--minify", "-o", "json").stdout)["clusters"][0][
        "cluster"
    ]["server"]

    assert scope["url"] == (
        f"{server}/api/v1/namespaces/weave/services/weave-scope-app:80/proxy/api/topology/services?namespace=bookinfo&pseudo=hide"
    )
    assert scope["names"] == ["bookinfo/details", "bookinfo/productpage", "bookinfo/ratings", "bookinfo/reviews"]
    assert _pairs(scope["edges"]) == EXPECTED and scope["edge_count"] == 3
    assert kiali["url"].startswith(
        f"{server}/api/v1/namespaces/istio-system/services/kiali:20001/proxy/kiali/api/namespaces/graph?"
    )
    assert _pairs(kiali["edges"]) == EXPECTED
    assert all(e["rate"] == 1.5 and e["protocol"] == "http" and e["evidence"] == ["kiali"] for e in kiali["edges"])
    assert [n["id"] for n in kiali["nodes"]] == sorted(f"bookinfo/{a}" for a in BOOKINFO)

    # What reached the stub came from the host end of the veth pair, i.e. from the kube-apiserver's proxy.
    seen = addons.requests()
    assert {(r["port"], r["path"], r["client"]) for r in seen} == {
        (SCOPE_PORT, "/api/topology/services", HOST_IP),
        (KIALI_PORT, "/kiali/api/namespaces/graph", HOST_IP),
    }, seen
    kiali_query = next(r["query"] for r in seen if r["port"] == KIALI_PORT)
    assert kiali_query["namespaces"] == ["bookinfo"] and kiali_query["duration"] == ["300s"]


def _report(addons: Addons, tmp_path: Path, extra: dict | None = None):
    return ansible_playbook(
        REPO / "playbooks" / "explore.yml",
        tmp_path,
        {
            "mesh_report_kubeconfig": str(addons.cluster.kubeconfig),
            "mesh_report_query_addons": "always",
            **(extra or {}),
        },
    )


def test_report_draws_seen_edges_and_expect_edges_fails_on_a_missing_one(addons: Addons, tmp_path: Path) -> None:
    addons.set_edges(EDGES)
    report = _report(addons, tmp_path)
    assert report.rc == 0 and report.failed == 0, report.output[-5000:]
    assert "Solid edges carried traffic: 3 seen by Weave Scope, 3 by Kiali" in report.output
    graph = json.loads((tmp_path / "report" / "mesh.json").read_text())
    assert {(e["source"], e["target"]): e["evidence"] for e in graph["edges"]} == {
        pair: ["kiali", "scope"] for pair in EXPECTED
    }
    assert {n["id"] for n in graph["nodes"] if n.get("sidecar")} >= {f"bookinfo/{a}" for a in BOOKINFO}
    mermaid = (tmp_path / "report" / "mesh.mmd").read_text()
    solid = [line for line in mermaid.splitlines() if "-->|kiali, scope|" in line]
    assert len(solid) == 3 and "-.->" not in mermaid, mermaid
    dot = (tmp_path / "report" / "mesh.dot").read_text()
    assert dot.count("style=solid") == 3 and "style=dashed]" not in dot, dot

    # reviews no longer calls ratings: neither Scope nor Kiali sees it, and the expected call fails the report.
    addons.set_edges([e for e in EDGES if e != ["reviews", "ratings"]])
    missing = tmp_path / "missing"
    missing.mkdir()
    report = _report(addons, missing)
    assert report.rc != 0 and report.failed == 1, report.output[-5000:]
    assert "expected calls neither Weave Scope nor Kiali saw: reviews->ratings" in report.output
    assert "The mesh really carries the expected calls" in report.output
    graph = json.loads((missing / "report" / "mesh.json").read_text())
    assert _pairs(graph["edges"]) == EXPECTED - {("bookinfo/reviews", "bookinfo/ratings")}

    # Without the override, a simulated cluster's addons are not asked (nothing runs in its pods).
    default = tmp_path / "default"
    default.mkdir()
    before = len(addons.requests())
    report = ansible_playbook(
        REPO / "playbooks" / "explore.yml", default, {"mesh_report_kubeconfig": str(addons.cluster.kubeconfig)}
    )
    assert report.rc == 0, report.output[-4000:]
    assert "Simulated cluster: no container runs" in report.output
    assert len(addons.requests()) == before
