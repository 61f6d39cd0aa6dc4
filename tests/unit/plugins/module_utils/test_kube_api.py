"""kubeconfig resolution, client errors and raw GETs of module_utils/kube_api.py.

A local HTTP server stands in for the API server (it checks the bearer token the kubeconfig carries)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.meshlab.service_mesh.plugins.module_utils import kube_api

TOKEN = "kube-api-test-token"


@pytest.fixture
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, b'{"kind":"Status","code":401}'
            elif self.path == "/version/openshift":
                status, body = 404, b"404 page not found"
            else:
                status, body = 200, json.dumps({"path": self.path}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def write_kubeconfig(path: Path, server: str, token: str = TOKEN) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": server}}],
                "users": [{"name": "admin", "user": {"token": token}}],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
                "current-context": "lab",
            }
        )
    )
    return path


def test_kubeconfig_path_follows_kubectl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", "/first/config:/second/config")
    assert kube_api.kubeconfig_path("/given") == "/given"
    assert kube_api.kubeconfig_path(None) == "/first/config"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kube_api.kubeconfig_path(None) == str(tmp_path / ".kube" / "config")


def test_raw_get_carries_the_token_and_returns_errors(server: str, tmp_path: Path) -> None:
    api, path, context = kube_api.new_api_client(str(write_kubeconfig(tmp_path / "kc", server)), None)
    assert (path, context) == (str(tmp_path / "kc"), "lab")
    status, _reason, body = kube_api.raw_get(api, "/api/v1/namespaces", 5)
    assert status == 200 and json.loads(body) == {"path": "/api/v1/namespaces"}
    status, _reason, body = kube_api.raw_get(api, "/version/openshift", 5)
    assert status == 404 and b"not found" in body


def test_wrong_token_is_an_http_error_not_an_exception(server: str, tmp_path: Path) -> None:
    api, _path, _context = kube_api.new_api_client(str(write_kubeconfig(tmp_path / "kc", server, "wrong")), "lab")
    status, _reason, _body = kube_api.raw_get(api, "/api", 5)
    assert status == 401


def test_unreachable_server_is_named(tmp_path: Path) -> None:
    api, _path, _context = kube_api.new_api_client(str(write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9")), None)
    with pytest.raises(kube_api.KubeApiError, match=r"cannot reach the API server for http://127.0.0.1:9/api"):
        kube_api.raw_get(api, "/api", 2)


def test_missing_file_and_unknown_context(server: str, tmp_path: Path) -> None:
    with pytest.raises(kube_api.KubeApiError, match="does not exist"):
        kube_api.new_api_client(str(tmp_path / "nothing"), None)
    kc = str(write_kubeconfig(tmp_path / "kc", server))
    with pytest.raises(kube_api.KubeApiError, match=r"context 'other' is not in .*; contexts there: lab"):
        kube_api.new_api_client(kc, "other")


def test_service_proxy_prefix() -> None:
    assert kube_api.service_proxy_prefix("weave", "weave-scope-app", 80) == (
        "/api/v1/namespaces/weave/services/weave-scope-app:80/proxy"
    )
    assert kube_api.service_proxy_prefix("lab scope", "app", "http").startswith("/api/v1/namespaces/lab%20scope/")


def test_client_from_auth_options(server: str, tmp_path: Path) -> None:
    """kubernetes.core's auth options: the kubeconfig's context, then the options given override it."""
    kc = str(write_kubeconfig(tmp_path / "kc", server))
    api = kube_api.client_from_auth({"kubeconfig": kc, "context": "lab"})
    status, _reason, body = kube_api.raw_get(api, "/api", 5)
    assert status == 200 and json.loads(body) == {"path": "/api"}
    api = kube_api.client_from_auth({"kubeconfig": kc, "api_key": "another-token"})
    assert kube_api.raw_get(api, "/api", 5)[0] == 401
    api = kube_api.client_from_auth(
        {"host": server + "/", "api_key": TOKEN, "impersonate_user": "u", "impersonate_groups": ["g1", "g2"]}
    )
    assert api.configuration.host == server
    headers = kube_api.auth_headers(api)
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers.getlist("Impersonate-Group") == ["g1", "g2"] and headers["Impersonate-User"] == "u"
    api = kube_api.client_from_auth({"host": server, "username": "admin", "password": "pw"})
    assert kube_api.auth_headers(api)["Authorization"].startswith("Basic ")
    with pytest.raises(kube_api.KubeApiError, match=r"context 'other' is not in"):
        kube_api.client_from_auth({"kubeconfig": kc, "context": "other"})
