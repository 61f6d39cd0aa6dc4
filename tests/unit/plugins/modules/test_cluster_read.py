"""meshlab.service_mesh.cluster_read end to end over HTTP, against a stand-in for the Kubernetes API server.

A local HTTP server answers discovery (``/api/v1``, ``/apis/<group>/<version>``) and list requests the way
kube-apiserver does (APIResourceList, List with ``metadata.continue``, Status on errors) from objects the test
puts in it, and records every request. It is a test double: tests/cluster/test_cluster.py runs the module
against the real kube-apiserver of the simulated cluster.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from ansible_collections.meshlab.service_mesh.plugins.modules import cluster_read
from module_harness import as_module, module_args

TOKEN = "t0k3n-for-cluster-read"
SECRET_VALUE = "c2VjcmV0LXZhbHVlLTEyMw=="
REPO = Path(__file__).resolve().parents[4]

DISCOVERY = {
    "/api/v1": [
        {"name": "pods", "namespaced": True, "kind": "Pod"},
        {"name": "pods/log", "namespaced": True, "kind": "Pod"},
        {"name": "services", "namespaced": True, "kind": "Service"},
        {"name": "secrets", "namespaced": True, "kind": "Secret"},
        {"name": "namespaces", "namespaced": False, "kind": "Namespace"},
    ],
    "/apis/apps/v1": [
        {"name": "deployments", "namespaced": True, "kind": "Deployment"},
        {"name": "daemonsets", "namespaced": True, "kind": "DaemonSet"},
        {"name": "statefulsets", "namespaced": True, "kind": "StatefulSet"},
    ],
}


def obj(kind: str, name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}, "managedFields": [{"manager": "kubectl"}]}
    if namespace:
        metadata["namespace"] = namespace
    return {"metadata": metadata, "spec": {"kind-was": kind}}


@dataclass
class FakeApiServer:
    """Objects by (list path without query); answers discovery from DISCOVERY; 403 for namespaces in ``forbidden``."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Objects that change from one list request to the next: the n-th request to a path gets the n-th list
    # (the last one from then on). Takes the place of ``objects`` for these paths.
    timeline: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    seen: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def paths(self) -> list[str]:
        return [path for path, _query in self.seen]

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path in DISCOVERY:
            return 200, {
                "kind": "APIResourceList",
                "groupVersion": path.split("/", 2)[-1],
                "resources": DISCOVERY[path],
            }
        parts = path.split("/")
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-1] else None
        if namespace in self.forbidden:
            message = f'pods is forbidden: User "dev" cannot list resource "pods" in the namespace "{namespace}"'
            return 403, {"kind": "Status", "status": "Failure", "message": message, "reason": "Forbidden", "code": 403}
        if not any(path.startswith(p + "/") for p in DISCOVERY):
            return 404, {"kind": "Status", "status": "Failure", "message": "the server could not find it", "code": 404}
        if path in self.timeline:
            versions = self.timeline[path]
            index = self.paths().count(path) - 1  # this request is already recorded
            items = list(versions[min(index, len(versions) - 1)])
        else:
            items = list(self.objects.get(path, []))
        for selector in query.get("labelSelector", [""])[0].split(","):
            if selector:
                key, _eq, value = selector.partition("=")
                items = [i for i in items if i["metadata"]["labels"].get(key) == value]
        if "fieldSelector" in query:
            name = query["fieldSelector"][0].removeprefix("metadata.name=")
            items = [i for i in items if i["metadata"]["name"] == name]
        start = int(query.get("continue", ["0"])[0])
        limit = int(query.get("limit", ["0"])[0]) or len(items)
        page = items[start : start + limit]
        metadata = {"continue": str(start + limit)} if start + limit < len(items) else {}
        return 200, {"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page}


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    fake = FakeApiServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            fake.seen.append((parts.path, query))
            fake.headers.append({k.lower(): v for k, v in self.headers.items()})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, {"kind": "Status", "message": "Unauthorized", "code": 401}
            else:
                status, body = fake.answer(parts.path, query)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()


def write_kubeconfig(path: Path, server_url: str, token: str = TOKEN) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": server_url}}],
                "users": [{"name": "admin", "user": {"token": token}}],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
                "current-context": "lab",
            }
        )
    )
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path, server: FakeApiServer) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", server.url)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., dict[str, Any]]:
    for name in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    def _run(args: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
        as_module(monkeypatch)
        with module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit):
            cluster_read.main()
        out = capsys.readouterr().out
        result: dict[str, Any] = json.loads(out)
        result["_stdout"] = out
        return result

    return _run


def lab_objects(server: FakeApiServer) -> None:
    server.objects = {
        "/api/v1/namespaces/bookinfo/pods": [
            obj("Pod", "productpage-v1-1", "bookinfo", {"app": "productpage"}),
            obj("Pod", "reviews-v1-1", "bookinfo", {"app": "reviews", "version": "v1"}),
        ],
        "/api/v1/namespaces/istio-system/pods": [obj("Pod", "istiod-1", "istio-system", {"app": "istiod"})],
        "/api/v1/namespaces/bookinfo/services": [obj("Service", "productpage", "bookinfo")],
        "/apis/apps/v1/namespaces/istio-system/deployments": [
            obj("Deployment", "istiod", "istio-system", {"app": "istiod"}),
            obj("Deployment", "istio-ingressgateway", "istio-system", {"app": "istio-ingressgateway"}),
        ],
        "/api/v1/namespaces": [obj("Namespace", "bookinfo"), obj("Namespace", "istio-system")],
    }


def test_several_kinds_across_namespaces_in_one_run(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    lab_objects(server)
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "queries": [
                {"key": "pods", "api_version": "v1", "kind": "Pod", "namespaces": ["bookinfo", "istio-system"]},
                {"key": "services", "api_version": "v1", "kind": "Service", "namespace": "bookinfo"},
                {
                    "key": "istiod",
                    "api_version": "apps/v1",
                    "kind": "Deployment",
                    "namespace": "istio-system",
                    "name": "istiod",
                },
                {"key": "namespaces", "api_version": "v1", "kind": "Namespace", "namespace": "ignored"},
            ],
        }
    )
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["missing_apis"] == []
    pods = result["resources"]["pods"]
    assert [p["metadata"]["name"] for p in pods] == ["productpage-v1-1", "reviews-v1-1", "istiod-1"]
    assert all(p["apiVersion"] == "v1" and p["kind"] == "Pod" for p in pods)
    assert all("managedFields" not in p["metadata"] for p in pods)
    assert [s["metadata"]["name"] for s in result["resources"]["services"]] == ["productpage"]
    assert [d["metadata"]["name"] for d in result["resources"]["istiod"]] == ["istiod"]
    assert result["resources"]["istiod"][0]["kind"] == "Deployment"
    assert [n["metadata"]["name"] for n in result["resources"]["namespaces"]] == ["bookinfo", "istio-system"]
    # One discovery per API version, however many queries use it; then one list per namespace.
    assert server.paths().count("/api/v1") == 1
    assert server.paths().count("/apis/apps/v1") == 1
    assert len(server.seen) == 2 + 2 + 1 + 1 + 1
    assert "/api/v1/namespaces" in server.paths()  # cluster-scoped: the namespace option is ignored
    deployments = [q for p, q in server.seen if p.endswith("/deployments")]
    assert deployments == [{"limit": ["500"], "fieldSelector": ["metadata.name=istiod"]}]


def test_kinds_the_server_does_not_serve_are_missing_apis(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    lab_objects(server)
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "queries": [
                {"key": "vs", "api_version": "networking.istio.io/v1", "kind": "VirtualService"},
                {"key": "gw", "api_version": "networking.istio.io/v1", "kind": "Gateway", "namespace": "bookinfo"},
                {"key": "routes", "api_version": "v1", "kind": "Route"},
                {"key": "pods", "api_version": "v1", "kind": "Pod", "namespace": "istio-system"},
            ],
        }
    )
    assert not result.get("failed"), result
    assert result["missing_apis"] == ["vs", "gw", "routes"]
    assert result["resources"]["vs"] == result["resources"]["gw"] == result["resources"]["routes"] == []
    assert [p["metadata"]["name"] for p in result["resources"]["pods"]] == ["istiod-1"]
    assert server.paths().count("/apis/networking.istio.io/v1") == 1


def test_label_selectors_are_anded_and_sent_to_the_server(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    lab_objects(server)
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "queries": [
                {
                    "key": "r",
                    "api_version": "v1",
                    "kind": "Pod",
                    "namespace": "bookinfo",
                    "label_selectors": ["app=reviews", "version=v1"],
                },
                {
                    "key": "none",
                    "api_version": "v1",
                    "kind": "Pod",
                    "namespace": "bookinfo",
                    "label_selectors": ["app=reviews", "version=v9"],
                },
            ],
        }
    )
    assert [p["metadata"]["name"] for p in result["resources"]["r"]] == ["reviews-v1-1"]
    assert result["resources"]["none"] == []
    lists = [q for p, q in server.seen if p.endswith("/pods")]
    assert lists[0]["labelSelector"] == ["app=reviews,version=v1"]


def test_secrets_carry_no_values_unless_asked(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    secret = obj("Secret", "grafana-admin", "istio-system")
    secret["data"] = {"password": SECRET_VALUE}
    secret["stringData"] = {"user": "admin-plain-value"}
    secret["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": {"password": SECRET_VALUE}}),
        "meshlab.io/created-by": "istio",
    }
    server.objects = {"/api/v1/namespaces/istio-system/secrets": [secret]}
    query = {"key": "s", "api_version": "v1", "kind": "Secret", "namespace": "istio-system"}
    hidden = run({"kubeconfig": str(kubeconfig), "queries": [query]})
    assert not hidden.get("failed"), hidden
    (got,) = hidden["resources"]["s"]
    assert "data" not in got and "stringData" not in got
    assert got["metadata"]["annotations"] == {"meshlab.io/created-by": "istio"}
    assert SECRET_VALUE not in hidden["_stdout"] and "admin-plain-value" not in hidden["_stdout"]

    shown = run({"kubeconfig": str(kubeconfig), "queries": [dict(query, include_data=True)]})
    assert shown["resources"]["s"][0]["data"] == {"password": SECRET_VALUE}


def test_metadata_only_returns_kind_and_metadata_alone(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    deploy = obj("Deployment", "istiod", "istio-system", labels={"app": "istiod"})
    deploy["spec"] = {"template": {"big": "x" * 1000}}
    deploy["status"] = {"replicas": 1}
    deploy["metadata"].update(
        uid="u-1",
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}", "meshlab.io/created-by": "istio"},
    )
    server.objects = {"/apis/apps/v1/namespaces/istio-system/deployments": [deploy]}
    query = {"key": "d", "api_version": "apps/v1", "kind": "Deployment", "namespace": "istio-system"}
    slim = run({"kubeconfig": str(kubeconfig), "queries": [dict(query, metadata_only=True)]})
    assert not slim.get("failed"), slim
    (got,) = slim["resources"]["d"]
    assert set(got) == {"apiVersion", "kind", "metadata"}, got
    assert got["kind"] == "Deployment" and got["apiVersion"] == "apps/v1"
    assert got["metadata"]["uid"] == "u-1" and got["metadata"]["labels"] == {"app": "istiod"}
    assert got["metadata"]["annotations"] == {"meshlab.io/created-by": "istio"}
    assert "managedFields" not in got["metadata"]
    full = run({"kubeconfig": str(kubeconfig), "queries": [query]})
    assert full["resources"]["d"][0]["spec"] == {"template": {"big": "x" * 1000}}


def test_long_lists_are_read_page_by_page(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_read, "PAGE_SIZE", 2)
    server.objects = {"/api/v1/namespaces/big/pods": [obj("Pod", f"p{i}", "big") for i in range(5)]}
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "queries": [{"key": "p", "api_version": "v1", "kind": "Pod", "namespace": "big"}],
        }
    )
    assert [p["metadata"]["name"] for p in result["resources"]["p"]] == ["p0", "p1", "p2", "p3", "p4"]
    continues = [q.get("continue") for p, q in server.seen if p.endswith("/pods")]
    assert continues == [None, ["2"], ["4"]]


def test_an_empty_namespaces_list_reads_nothing(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    lab_objects(server)
    result = run(
        {"kubeconfig": str(kubeconfig), "queries": [{"key": "p", "api_version": "v1", "kind": "Pod", "namespaces": []}]}
    )
    assert result["resources"]["p"] == []
    assert server.paths() == ["/api/v1"]


def test_check_mode_reads_the_same(server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]) -> None:
    lab_objects(server)
    args = {"kubeconfig": str(kubeconfig), "queries": [{"key": "p", "api_version": "v1", "kind": "Pod"}]}
    normal, checked = run(args), run(args, check_mode=True)
    assert checked["changed"] is False
    assert checked["resources"] == normal["resources"]
    assert server.seen[-1][0] == "/api/v1/pods"  # neither namespace nor namespaces: every namespace


def test_forbidden_names_the_key_kind_and_namespace(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    server.forbidden = {"locked"}
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "queries": [
                {"key": "ok", "api_version": "v1", "kind": "Pod", "namespace": "open"},
                {"key": "theirs", "api_version": "v1", "kind": "Pod", "namespaces": ["open", "locked"]},
            ],
        }
    )
    assert result["failed"]
    assert "'theirs'" in result["msg"] and "Pod" in result["msg"] and "namespace locked" in result["msg"]
    assert "403" in result["msg"] and "cannot list" in result["msg"]


def test_wrong_credentials_are_named(server: FakeApiServer, tmp_path: Path, run: Callable[..., dict[str, Any]]) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kc", server.url, token="not-the-token-at-all")
    result = run({"kubeconfig": str(kubeconfig), "queries": [{"key": "p", "api_version": "v1", "kind": "Pod"}]})
    assert result["failed"]
    assert "401" in result["msg"] and server.url in result["msg"] and "'p'" in result["msg"]
    assert "not-the-token-at-all" not in result["_stdout"]


def test_host_and_api_key_need_no_kubeconfig(server: FakeApiServer, run: Callable[..., dict[str, Any]]) -> None:
    lab_objects(server)
    result = run(
        {"host": server.url, "api_key": TOKEN, "queries": [{"key": "ns", "api_version": "v1", "kind": "Namespace"}]}
    )
    assert not result.get("failed"), result
    assert len(result["resources"]["ns"]) == 2
    assert TOKEN not in result["_stdout"]


def test_impersonation_becomes_headers(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    run(
        {
            "kubeconfig": str(kubeconfig),
            "impersonate_user": "viewer",
            "impersonate_groups": ["g1"],
            "queries": [{"key": "ns", "api_version": "v1", "kind": "Namespace"}],
        }
    )
    assert server.headers and all(h.get("impersonate-user") == "viewer" for h in server.headers)
    assert all(h.get("impersonate-group") == "g1" for h in server.headers)


def test_an_unreachable_server_is_named_with_what_to_do(tmp_path: Path, run: Callable[..., dict[str, Any]]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}")
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "request_timeout": 5,
            "queries": [{"key": "p", "api_version": "v1", "kind": "Pod"}],
        }
    )
    assert result["failed"]
    assert f"127.0.0.1:{port}" in result["msg"]
    assert "Is the cluster running" in result["msg"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "does not exist"), ("garbage: [", "cannot read kubeconfig"), ("{}", "cannot read kubeconfig")],
)
def test_a_bad_kubeconfig_is_named_readably(
    tmp_path: Path, run: Callable[..., dict[str, Any]], content: str | None, expected: str
) -> None:
    path = tmp_path / "lab-kubeconfig.yaml"
    if content is not None:
        path.write_text(content)
    result = run({"kubeconfig": str(path), "queries": [{"key": "p", "api_version": "v1", "kind": "Pod"}]})
    assert result["failed"]
    assert expected in result["msg"]
    # kubeconfig is no_log in kubernetes.core's options: the path is written so that masking leaves it readable.
    assert "lab-kubeconfig.yaml" in result["msg"] and str(tmp_path) in result["msg"]
    assert "Traceback" not in result["_stdout"]


def test_duplicate_keys_are_refused_before_any_request(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "queries": [
                {"key": "p", "api_version": "v1", "kind": "Pod"},
                {"key": "p", "api_version": "v1", "kind": "Service"},
            ],
        }
    )
    assert result["failed"]
    assert "repeated: p" in result["msg"]
    assert server.seen == []


def test_namespace_and_namespaces_exclude_each_other(kubeconfig: Path, run: Callable[..., dict[str, Any]]) -> None:
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "queries": [{"key": "p", "api_version": "v1", "kind": "Pod", "namespace": "a", "namespaces": ["b"]}],
        }
    )
    assert result["failed"]
    assert "namespace" in result["msg"] and "mutually exclusive" in result["msg"]


def test_it_is_in_the_k8s_action_group() -> None:
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert "cluster_read" in runtime["action_groups"]["k8s"]


# --- wait: the queries' objects are polled until ready, in the same module run ---------------------------------

DEPLOYMENTS = "/apis/apps/v1/namespaces/bookinfo/deployments"


def workload(
    kind: str, name: str, status: dict[str, Any] | None, replicas: int | None = 1, generation: int = 1
) -> dict[str, Any]:
    item = obj(kind, name, "bookinfo", {"app": name})
    item["metadata"]["generation"] = generation
    item["spec"] = {} if replicas is None else {"replicas": replicas}
    if status is not None:
        item["status"] = status
    return item


def deployment(name: str, available: int, replicas: int | None = 1, **status: Any) -> dict[str, Any]:
    want = 1 if replicas is None else replicas
    return workload(
        "Deployment",
        name,
        {"observedGeneration": 1, "replicas": want, "updatedReplicas": want, "availableReplicas": available, **status},
        replicas,
    )


def wait_args(kubeconfig: Path, queries: list[dict[str, Any]], **wait: Any) -> dict[str, Any]:
    return {"kubeconfig": str(kubeconfig), "queries": queries, "wait": {"timeout": 5, "sleep": 0.02, **wait}}


DEPLOYMENT_QUERY = {"key": "apps", "api_version": "apps/v1", "kind": "Deployment", "namespace": "bookinfo"}


def test_wait_ready_at_once_reads_once(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    server.objects = {DEPLOYMENTS: [deployment("reviews", 3, replicas=3), deployment("ratings", 1)]}
    result = run(wait_args(kubeconfig, [DEPLOYMENT_QUERY]))
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["not_ready"] == []
    assert 0 <= result["waited"] < 0.5
    assert [d["metadata"]["name"] for d in result["resources"]["apps"]] == ["reviews", "ratings"]
    assert server.paths() == ["/apis/apps/v1", DEPLOYMENTS]


def test_wait_polls_until_ready_with_one_discovery(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    server.objects = {"/api/v1/namespaces/bookinfo/services": [obj("Service", "productpage", "bookinfo")]}
    server.timeline = {
        DEPLOYMENTS: [
            [workload("Deployment", "reviews", None, replicas=2)],  # just created: no status yet
            [deployment("reviews", 0, replicas=2)],
            [deployment("reviews", 1, replicas=2)],
            [deployment("reviews", 2, replicas=2)],
        ]
    }
    services = {"key": "svc", "api_version": "v1", "kind": "Service", "namespace": "bookinfo"}
    result = run(wait_args(kubeconfig, [DEPLOYMENT_QUERY, services], sleep=0.05, keys=["apps"]))
    assert not result.get("failed"), result
    assert result["not_ready"] == []
    assert result["resources"]["apps"][0]["status"]["availableReplicas"] == 2  # the last poll
    assert [s["metadata"]["name"] for s in result["resources"]["svc"]] == ["productpage"]
    # 4 reads of the waited query, 3 sleeps of 0.05 s in between; the other query and discovery once each.
    assert server.paths().count(DEPLOYMENTS) == 4
    assert server.paths().count("/api/v1/namespaces/bookinfo/services") == 1
    assert server.paths().count("/apis/apps/v1") == 1 and server.paths().count("/api/v1") == 1
    assert 0.15 <= result["waited"] < 3


def test_wait_timeout_names_each_object_not_ready_and_why(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    lagging = deployment("details", 1)
    lagging["metadata"]["generation"] = 2  # changed, the controller has not seen it yet
    server.objects = {
        DEPLOYMENTS: [deployment("reviews", 2, replicas=3), deployment("ratings", 1), lagging],
        "/api/v1/namespaces/bookinfo/pods": [
            workload("Pod", "web-1", {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}),
        ],
    }
    pods = {"key": "pods", "api_version": "v1", "kind": "Pod", "namespace": "bookinfo"}
    result = run(wait_args(kubeconfig, [DEPLOYMENT_QUERY, pods], timeout=0.3, sleep=0.05))
    assert result["failed"]
    assert result["changed"] is False
    msg = result["msg"]
    assert "3 object(s) not ready after 0.3 s" in msg, msg
    assert "Deployment bookinfo/reviews: 2/3 available" in msg
    assert "Deployment bookinfo/details: not observed yet (generation 2, the controller has seen generation 1)" in msg
    assert "Pod bookinfo/web-1: Ready is False (phase Pending)" in msg
    assert "ratings" not in msg
    assert {(e["key"], e["name"]) for e in result["not_ready"]} == {
        ("apps", "reviews"),
        ("apps", "details"),
        ("pods", "web-1"),
    }
    assert 0.3 <= result["waited"] < 3
    assert server.paths().count(DEPLOYMENTS) >= 3  # it polled until the timeout, not once


def test_wait_zero_replicas_is_ready_but_an_unobserved_one_is_not(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    server.objects = {
        DEPLOYMENTS: [
            workload("Deployment", "scaled-down", {"observedGeneration": 1}, replicas=0),
            workload("Deployment", "no-status", None, replicas=0),
            workload("Deployment", "default-one", {"observedGeneration": 1}, replicas=None),
        ]
    }
    result = run(wait_args(kubeconfig, [DEPLOYMENT_QUERY], timeout=0.1))
    assert result["failed"]
    reasons = {e["name"]: e["reason"] for e in result["not_ready"]}
    assert set(reasons) == {"no-status", "default-one"}  # 0 replicas observed: ready
    assert reasons["no-status"] == "not observed yet (generation 1, the controller has seen nothing)"
    assert reasons["default-one"] == "0/1 available, 0/1 updated"  # spec.replicas defaults to 1


def test_wait_old_replicas_left_are_not_ready(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    server.objects = {DEPLOYMENTS: [deployment("reviews", 2, replicas=2)]}
    server.objects[DEPLOYMENTS][0]["status"]["replicas"] = 3  # a surge pod of the old version still runs
    result = run(wait_args(kubeconfig, [DEPLOYMENT_QUERY], timeout=0.1))
    assert result["failed"]
    assert result["not_ready"][0]["reason"] == "2/2 available, 2/2 updated, 1 old replicas pending termination"


def test_wait_daemonset_and_statefulset(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    ds_path = "/apis/apps/v1/namespaces/bookinfo/daemonsets"
    sts_path = "/apis/apps/v1/namespaces/bookinfo/statefulsets"
    ds = {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3}
    sts = {"observedGeneration": 1, "updatedReplicas": 2}
    server.timeline = {
        ds_path: [
            [workload("DaemonSet", "agent", dict(ds, numberAvailable=2), replicas=None)],
            [workload("DaemonSet", "agent", dict(ds, numberAvailable=3), replicas=None)],
        ],
        sts_path: [
            [workload("StatefulSet", "db", dict(sts, readyReplicas=1), replicas=2)],
            [workload("StatefulSet", "db", dict(sts, readyReplicas=1), replicas=2)],
            [workload("StatefulSet", "db", dict(sts, readyReplicas=2), replicas=2)],
        ],
    }
    queries = [
        {"key": "ds", "api_version": "apps/v1", "kind": "DaemonSet", "namespace": "bookinfo"},
        {"key": "sts", "api_version": "apps/v1", "kind": "StatefulSet", "namespace": "bookinfo"},
    ]
    result = run(wait_args(kubeconfig, queries))
    assert not result.get("failed"), result
    assert server.paths().count(ds_path) == 3 and server.paths().count(sts_path) == 3

    server.seen.clear()
    server.timeline = {ds_path: [[workload("DaemonSet", "agent", dict(ds, numberAvailable=2), replicas=None)]]}
    server.objects = {sts_path: [workload("StatefulSet", "db", dict(sts, readyReplicas=1), replicas=2)]}
    failed = run(wait_args(kubeconfig, queries, timeout=0.1))
    assert failed["failed"]
    assert "DaemonSet bookinfo/agent: 2/3 available, 3/3 updated" in failed["msg"]
    assert "StatefulSet bookinfo/db: 1/2 ready, 2/2 updated" in failed["msg"]


def test_wait_other_kinds_are_ready_when_present_and_a_named_one_is_waited_for(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    services = "/api/v1/namespaces/bookinfo/services"
    server.timeline = {services: [[], [], [obj("Service", "productpage", "bookinfo")]]}
    named = {"key": "svc", "api_version": "v1", "kind": "Service", "namespace": "bookinfo", "name": "productpage"}
    result = run(wait_args(kubeconfig, [named]))
    assert not result.get("failed"), result
    assert [s["metadata"]["name"] for s in result["resources"]["svc"]] == ["productpage"]
    assert server.paths().count(services) == 3

    missing = run(wait_args(kubeconfig, [dict(named, name="nope")], timeout=0.1))
    assert missing["failed"]
    assert "Service bookinfo/nope: Service (v1) not found yet" in missing["msg"]


def test_wait_an_empty_unnamed_query_is_ready(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    result = run(wait_args(kubeconfig, [DEPLOYMENT_QUERY]))
    assert not result.get("failed"), result
    assert result["resources"]["apps"] == [] and result["not_ready"] == []
    assert server.paths().count(DEPLOYMENTS) == 1


def test_wait_for_a_kind_not_served_yet_with_a_name(
    server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    query = {"key": "gw", "api_version": "networking.istio.io/v1", "kind": "Gateway", "name": "gw", "namespace": "b"}
    result = run(wait_args(kubeconfig, [query], timeout=0.1))
    assert result["failed"]
    assert "Gateway b/gw: Gateway (networking.istio.io/v1) not served by the API server yet" in result["msg"]
    assert result["missing_apis"] == ["gw"]
    # Its discovery is asked again on each poll (a CRD may just have been applied); unnamed, it is not waited for.
    assert server.paths().count("/apis/networking.istio.io/v1") >= 2
    server.seen.clear()
    unnamed = run(wait_args(kubeconfig, [dict(query, name=None)], timeout=0.1))
    assert not unnamed.get("failed"), unnamed
    assert server.paths() == ["/apis/networking.istio.io/v1"]


def test_wait_check_mode_waits_too(server: FakeApiServer, kubeconfig: Path, run: Callable[..., dict[str, Any]]) -> None:
    server.timeline = {DEPLOYMENTS: [[deployment("reviews", 0)], [deployment("reviews", 1)]]}
    result = run(wait_args(kubeconfig, [DEPLOYMENT_QUERY]), check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] is False and result["not_ready"] == []
    assert server.paths().count(DEPLOYMENTS) == 2


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        ({"timeout": 0}, "wait.timeout must be more than 0 seconds; got 0"),
        ({"timeout": -3}, "wait.timeout must be more than 0 seconds; got -3"),
        ({"timeout": 5, "sleep": 0}, "wait.sleep must be more than 0 seconds; got 0"),
        (
            {"timeout": 5, "keys": ["apps", "typo"]},
            "wait.keys: typo is not the key of any query; the queries' keys are: apps, svc",
        ),
        ({"sleep": 1}, "missing required arguments: timeout found in wait"),
        ({"timeout": "soon"}, "timeout"),
    ],
)
def test_wait_bad_input_is_refused_before_any_request(
    server: FakeApiServer,
    kubeconfig: Path,
    run: Callable[..., dict[str, Any]],
    wait: dict[str, Any],
    expected: str,
) -> None:
    services = {"key": "svc", "api_version": "v1", "kind": "Service", "namespace": "bookinfo"}
    result = run({"kubeconfig": str(kubeconfig), "queries": [DEPLOYMENT_QUERY, services], "wait": wait})
    assert result["failed"]
    assert expected in result["msg"], result["msg"]
    assert server.seen == []


def test_wait_readiness_rules_directly() -> None:
    pod_ready = {"kind": "Pod", "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert cluster_read.not_ready_reason(pod_ready) is None
    assert cluster_read.not_ready_reason({"kind": "Pod"}) == "no Ready condition yet (phase no phase yet)"
    assert cluster_read.not_ready_reason({"kind": "ConfigMap"}) is None
    behind = {"kind": "StatefulSet", "metadata": {"generation": 3}, "status": {"observedGeneration": 2}}
    assert "not observed yet" in (cluster_read.not_ready_reason(behind) or "")
    empty_ds = {"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1}}
    assert cluster_read.not_ready_reason(empty_ds) is None  # no node to schedule on: nothing to wait for
