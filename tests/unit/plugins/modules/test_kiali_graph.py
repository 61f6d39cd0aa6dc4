"""The kiali_graph module against a local HTTP server that answers like Kiali's graph API.

The server is a test double: it checks what the module asks (path, query, bearer token behind
the service proxy) and answers the documented JSON shape, so these tests say nothing about a
real Kiali beyond that shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.meshlab.service_mesh.plugins.modules import kiali_graph
from module_harness import as_module, module_args

PROXY = "/api/v1/namespaces/istio-system/services/kiali:20001/proxy"
TOKEN = "kiali-proxy-test-token"
GRAPH = {
    "elements": {
        "nodes": [
            {"data": {"id": "p", "nodeType": "app", "namespace": "bookinfo", "app": "productpage", "version": "v1"}},
            {"data": {"id": "r", "nodeType": "app", "namespace": "bookinfo", "app": "reviews", "version": "v3"}},
        ],
        "edges": [{"data": {"source": "p", "target": "r", "traffic": {"protocol": "http", "rates": {"http": "0.4"}}}}],
    }
}


@dataclass
class FakeKiali:
    prefix: str = ""
    status: int = 200
    body: bytes | None = None
    seen: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def kiali() -> Iterator[FakeKiali]:
    fake = FakeKiali()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.seen.append((parts.path, parse_qs(parts.query), self.headers.get("Authorization", "")))
            if fake.status != 200 or fake.body is not None:
                status, body = fake.status, fake.body or b""
            elif parts.path == fake.prefix + "/kiali/api/namespaces/graph":
                status, body = 200, json.dumps(GRAPH).encode()
            else:
                status, body = 404, b"404 page not found"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def kubeconfig(tmp_path: Path, kiali: FakeKiali) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": kiali.url}}],
                "users": [{"name": "admin", "user": {"token": TOKEN}}],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
                "current-context": "lab",
            }
        )
    )
    return path


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., dict[str, Any]]:
    def _run(args: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
        as_module(monkeypatch)
        with module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit):
            kiali_graph.main()
        out = capsys.readouterr().out
        result: dict[str, Any] = json.loads(out)
        result["_stdout"] = out
        return result

    return _run


def test_through_the_service_proxy(kiali: FakeKiali, kubeconfig: Path, run: Callable[..., dict[str, Any]]) -> None:
    kiali.prefix = PROXY
    result = run({"kubeconfig": str(kubeconfig), "namespaces": ["bookinfo"]}, check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] is False
    path, query, auth = kiali.seen[0]
    assert path == PROXY + "/kiali/api/namespaces/graph"
    assert query["namespaces"] == ["bookinfo"] and query["graphType"] == ["app"] and query["duration"] == ["600s"]
    assert auth == f"Bearer {TOKEN}"
    assert result["edges"] == [
        {
            "source": "bookinfo/productpage",
            "target": "bookinfo/reviews",
            "protocol": "http",
            "rate": 0.4,
            "evidence": ["kiali"],
        }
    ]
    assert result["edge_count"] == 1 and result["url"].startswith(kiali.url + PROXY)
    assert TOKEN not in result["_stdout"]


def test_directly_at_a_url(kiali: FakeKiali, run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": kiali.url + "/", "namespaces": ["bookinfo"], "graph_type": "versionedApp", "duration": 60})
    assert not result.get("failed"), result
    assert kiali.seen[0][1]["graphType"] == ["versionedApp"] and kiali.seen[0][1]["duration"] == ["60s"]
    assert [n["id"] for n in result["nodes"]] == ["bookinfo/productpage", "bookinfo/reviews"]


def test_kiali_missing_behind_the_proxy_is_explained(
    kiali: FakeKiali, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    kiali.status = 503
    kiali.body = b'{"message":"no endpoints available for service \\"kiali\\""}'
    result = run({"kubeconfig": str(kubeconfig), "namespaces": ["bookinfo"]})
    assert result["failed"]
    assert "HTTP 503" in result["msg"] and "no endpoints available" in result["msg"]
    assert "kubectl -n istio-system get pods,endpoints kiali" in result["msg"]


def test_not_json_and_wrong_shape(kiali: FakeKiali, run: Callable[..., dict[str, Any]]) -> None:
    kiali.body = b"<html>login</html>"
    result = run({"url": kiali.url, "namespaces": ["bookinfo"]})
    assert result["failed"] and "did not answer with JSON" in result["msg"]
    kiali.body = b'{"nodes": []}'
    result = run({"url": kiali.url, "namespaces": ["bookinfo"]})
    assert result["failed"] and result["msg"].startswith("Kiali's answer does not look like its graph API")


def test_bad_requests_fail_before_asking(kiali: FakeKiali, run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": kiali.url, "namespaces": ["bookinfo"], "duration": 0})
    assert result["failed"] and "duration must be a positive number" in result["msg"]
    result = run({"url": kiali.url, "namespaces": [""]})
    assert result["failed"] and "name at least one namespace" in result["msg"]
    assert kiali.seen == []


def test_nothing_listening(run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": "http://127.0.0.1:9", "namespaces": ["bookinfo"], "request_timeout": 2})
    assert result["failed"] and result["msg"].startswith("Kiali at http://127.0.0.1:9/kiali/api/namespaces/graph")
