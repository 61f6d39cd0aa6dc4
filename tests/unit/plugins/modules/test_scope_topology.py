"""meshlab.service_mesh.scope_topology end to end over HTTP, against a stand-in for Scope.

A local HTTP server answers with the recorded Scope 1.13.2 shapes of
tests/unit/plugins/module_utils/test_scope.py, either at Scope's own paths (``url``: a
port-forward or a Route, optionally with basic auth) or behind the API server's service
proxy path (a kubeconfig pointing at the same server with a bearer token). It checks what
the module asks for (paths, query, headers) and what it returns; the server is a test
double, so this says nothing about a real Scope beyond the documented JSON shapes.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.meshlab.service_mesh.plugins.modules import scope_topology
from module_harness import as_module, module_args


def _load_fixtures() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "module_utils" / "test_scope.py"
    spec = importlib.util.spec_from_file_location("scope_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


F = _load_fixtures()
PROXY = "/api/v1/namespaces/weave/services/weave-scope-app:80/proxy"
TOKEN = "t0k3n-for-tests"
PASSWORD = "s3cret-Basic-Auth-Pass"


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeScope:
    """Answers GET <prefix>/api/topology/<id> with the fixtures; records every request."""

    prefix: str = ""
    basic_auth: tuple[str, str] | None = None
    bearer: str | None = None
    status: int = 200
    body: bytes | None = None
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str) -> tuple[int, bytes]:
        if self.status != 200 or self.body is not None:
            return self.status, self.body or b""
        docs = {
            "pods": F.PODS_TOPOLOGY,
            "services": F.SERVICES_TOPOLOGY,
            "containers": F.CONTAINERS_TOPOLOGY,
            "hosts": F.HOSTS_TOPOLOGY,
            "kube-controllers": F.CONTROLLERS_TOPOLOGY,
        }
        if not path.startswith(self.prefix + "/api/topology/"):
            return 404, b'{"kind":"Status","code":404}'
        topology = path[len(self.prefix + "/api/topology/") :]
        if topology not in docs:
            return 404, b"404 page not found"
        return 200, json.dumps(docs[topology]).encode()


@pytest.fixture
def scope() -> Iterator[FakeScope]:
    fake = FakeScope()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.seen.append(Seen(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}))
            auth = self.headers.get("Authorization", "")
            if fake.basic_auth:
                expected = "Basic " + base64.b64encode(":".join(fake.basic_auth).encode()).decode()
                if auth != expected:
                    self._send(401, b"Unauthorized\n", {"WWW-Authenticate": 'Basic realm="Restricted"'})
                    return
            if fake.bearer and auth != f"Bearer {fake.bearer}":
                self._send(401, b'{"kind":"Status","code":401}')
                return
            status, body = fake.answer(parts.path)
            self._send(status, body)

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def kubeconfig(tmp_path: Path, scope: FakeScope) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": scope.url}}],
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
            scope_topology.main()
        out = capsys.readouterr().out
        result: dict[str, Any] = json.loads(out)
        result["_stdout"] = out
        return result

    return _run


def test_pods_through_a_port_forward_url(scope: FakeScope, run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": scope.url + "/", "topology": "pods", "namespaces": ["bookinfo"]})
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert [s.path for s in scope.seen] == ["/api/topology/pods"]
    assert scope.seen[0].query == {"namespace": ["bookinfo"], "pseudo": ["hide"]}
    assert scope.seen[0].headers["accept"] == "application/json"
    assert result["url"] == scope.url + "/api/topology/pods?namespace=bookinfo&pseudo=hide"
    assert result["names"] == [
        "bookinfo/details-v1-5498c86cf5-kqm8w",
        "bookinfo/productpage-v1-6b746f74dc-9stvs",
        "bookinfo/ratings-v1-b6994bb9-8j5vn",
        "bookinfo/reviews-v1-5fd6d4f8f8-66j45",
        "bookinfo/reviews-v2-6f9b55c5db-c94m2",
    ]
    assert result["namespaces"] == ["bookinfo"]
    assert result["node_count"] == 5
    assert ("bookinfo/reviews-v2-6f9b55c5db-c94m2", "bookinfo/ratings-v1-b6994bb9-8j5vn") in {
        (e["source"], e["target"]) for e in result["edges"]
    }
    assert result["edge_count"] == 4


def test_check_mode_reads_the_same(scope: FakeScope, run: Callable[..., dict[str, Any]]) -> None:
    normal = run({"url": scope.url, "topology": "services"})
    checked = run({"url": scope.url, "topology": "services"}, check_mode=True)
    assert checked["names"] == normal["names"]
    assert checked["changed"] is False
    assert "weave/weave-scope-app" in checked["names"]


def test_pseudo_nodes_on_request(scope: FakeScope, run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": scope.url, "include_pseudo": True})
    assert scope.seen[0].query["pseudo"] == ["show"]
    assert any(n["pseudo"] for n in result["nodes"])
    assert "in-theinternet" not in result["names"]


def test_containers_are_placed_in_namespaces_through_the_pods(
    scope: FakeScope, run: Callable[..., dict[str, Any]]
) -> None:
    result = run({"url": scope.url, "topology": "containers", "namespace": "weave"})
    assert [s.path for s in scope.seen] == ["/api/topology/containers", "/api/topology/pods"]
    assert result["names"] == ["weave-scope-app-7bbd849c6f-x6h7x/app"]
    assert result["nodes"][0]["namespace"] == "weave"


def test_basic_auth_behind_the_route(scope: FakeScope, run: Callable[..., dict[str, Any]]) -> None:
    scope.basic_auth = ("scope", PASSWORD)
    result = run({"url": scope.url, "url_username": "scope", "url_password": PASSWORD, "topology": "hosts"})
    assert not result.get("failed"), result
    assert result["names"] == ["minishift", "node-1.lab.example"]
    assert PASSWORD not in result["_stdout"]


def test_wrong_credentials_are_named(scope: FakeScope, run: Callable[..., dict[str, Any]]) -> None:
    scope.basic_auth = ("scope", PASSWORD)
    result = run({"url": scope.url, "url_username": "scope", "url_password": "not-it-at-all"})
    assert result["failed"]
    assert "401" in result["msg"]
    assert "url_username/url_password" in result["msg"]
    assert "not-it-at-all" not in result["_stdout"]


def test_through_the_api_servers_service_proxy(
    scope: FakeScope, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    scope.prefix = PROXY
    scope.bearer = TOKEN
    result = run({"kubeconfig": str(kubeconfig), "topology": "kube-controllers", "namespaces": ["weave"]})
    assert not result.get("failed"), result
    assert [s.path for s in scope.seen] == [PROXY + "/api/topology/kube-controllers"]
    assert scope.seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert result["names"] == ["weave/weave-scope-agent"]
    assert result["url"] == scope.url + PROXY + "/api/topology/kube-controllers?namespace=weave&pseudo=hide"
    assert TOKEN not in result["_stdout"]


def test_service_proxy_honours_namespace_service_and_port(
    scope: FakeScope, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    scope.prefix = "/api/v1/namespaces/lab-scope/services/scope:http/proxy"
    result = run(
        {
            "kubeconfig": str(kubeconfig),
            "context": "lab",
            "scope_namespace": "lab-scope",
            "service": "scope",
            "service_port": "http",
        }
    )
    assert not result.get("failed"), result
    assert result["node_count"] == 7


def test_scope_not_answering_behind_the_proxy_is_reported(
    scope: FakeScope, kubeconfig: Path, run: Callable[..., dict[str, Any]]
) -> None:
    scope.status = 503
    scope.body = b'{"kind":"Status","message":"no endpoints available for service \\"weave-scope-app\\"","code":503}'
    result = run({"kubeconfig": str(kubeconfig)})
    assert result["failed"]
    assert result["msg"].startswith("Scope did not answer through the API server's service proxy")
    assert "HTTP 503" in result["msg"]
    assert "no endpoints available" in result["msg"]
    assert "kubectl -n weave get pods,endpoints" in result["msg"]


def test_an_answer_that_is_not_json(scope: FakeScope, run: Callable[..., dict[str, Any]]) -> None:
    scope.body = b"<html>Weave Scope</html>"
    result = run({"url": scope.url})
    assert result["failed"]
    assert "did not answer with JSON" in result["msg"]


def test_an_answer_of_the_wrong_shape(scope: FakeScope, run: Callable[..., dict[str, Any]]) -> None:
    scope.body = json.dumps([{"name": "Pods", "url": "/api/topology/pods"}]).encode()
    result = run({"url": scope.url})
    assert result["failed"]
    assert "does not look like a Scope 1.13 topology" in result["msg"]


def test_nothing_listening(run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": "http://127.0.0.1:9", "request_timeout": 2})
    assert result["failed"]
    assert result["msg"].startswith("Scope at http://127.0.0.1:9/api/topology/pods")


def test_missing_kubeconfig(tmp_path: Path, run: Callable[..., dict[str, Any]]) -> None:
    result = run({"kubeconfig": str(tmp_path / "nope")})
    assert result["failed"]
    # kubernetes.core before 6.6 makes its kubeconfig option no_log (it may be an inline dict with secrets), and
    # Ansible masks the path; from 6.6 on it is not secret, and the path shows.
    shown = "********" if AUTH_ARG_SPEC["kubeconfig"].get("no_log") else str(tmp_path / "nope")
    assert result["msg"] == f"kubeconfig {shown} does not exist"


def test_kubernetes_core_environment_is_honoured(
    scope: FakeScope, kubeconfig: Path, run: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No option given: K8S_AUTH_KUBECONFIG and K8S_AUTH_CONTEXT choose the API server, as for kubernetes.core.k8s."""
    scope.prefix = PROXY
    scope.bearer = TOKEN
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "lab")
    monkeypatch.setenv("KUBECONFIG", "/nowhere/config")
    result = run({"topology": "hosts"})
    assert not result.get("failed"), result
    assert result["names"] == ["minishift", "node-1.lab.example"]


def test_host_and_api_key_without_kubeconfig_and_impersonation(
    scope: FakeScope, run: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    scope.prefix = PROXY
    scope.bearer = "key-from-the-option"
    monkeypatch.setenv("KUBECONFIG", "/nowhere/config")
    result = run(
        {
            "host": scope.url + "/",
            "api_key": "key-from-the-option",
            "impersonate_user": "system:serviceaccount:weave:reader",
            "impersonate_groups": ["readers", "viewers"],
            "topology": "services",
        }
    )
    assert not result.get("failed"), result
    assert result["url"].startswith(scope.url + PROXY + "/api/topology/services")
    assert scope.seen[0].headers["impersonate-user"] == "system:serviceaccount:weave:reader"
    assert "key-from-the-option" not in result["_stdout"]


def test_url_excludes_every_api_server_option(run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": "http://127.0.0.1:4040", "api_key": "a-key-of-some-length"})
    assert result["failed"] and "mutually exclusive: url|api_key" in result["msg"]


def test_unknown_context(kubeconfig: Path, run: Callable[..., dict[str, Any]]) -> None:
    result = run({"kubeconfig": str(kubeconfig), "context": "prod"})
    assert result["failed"]
    assert "context 'prod' is not in" in result["msg"]
    assert "contexts there: lab" in result["msg"]


def test_url_and_kubeconfig_exclude_each_other(kubeconfig: Path, run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": "http://127.0.0.1:4040", "kubeconfig": str(kubeconfig)})
    assert result["failed"]
    assert "mutually exclusive" in result["msg"]


def test_unknown_topology(run: Callable[..., dict[str, Any]]) -> None:
    result = run({"url": "http://127.0.0.1:4040", "topology": "processes"})
    assert result["failed"]
    assert "topology" in result["msg"]
