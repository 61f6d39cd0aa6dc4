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
    "/apis/apps/v1": [{"name": "deployments", "namespaced": True, "kind": "Deployment"}],
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
