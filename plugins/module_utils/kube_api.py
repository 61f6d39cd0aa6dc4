# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""One way for the collection's modules to reach the Kubernetes API with a kubeconfig.

Resolves the kubeconfig and context the way kubectl does (explicit path, else ``KUBECONFIG``'s
first entry, else ``~/.kube/config``; explicit context, else the current one), builds an API
client from it, and makes raw GETs (paths that have no generated API class, such as
``/version/openshift`` or a Service behind the API server's proxy) with the kubeconfig's
credentials. TLS is verified as the kubeconfig says; nothing here adds a way around it.
Errors are :class:`KubeApiError` with a message meant for the user.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

try:
    from kubernetes import config
    from kubernetes.client.rest import ApiException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()


class KubeApiError(Exception):
    """The API server (or a Service behind its proxy) could not be reached or read."""


def kubeconfig_path(path: str | None) -> str:
    """The kubeconfig kubectl would read: ``path``, else ``KUBECONFIG``'s first entry, else ``~/.kube/config``."""
    chosen = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return chosen or str(Path.home() / ".kube" / "config")


def new_api_client(kubeconfig: str | None, context: str | None) -> tuple[Any, str, str]:
    """``(api_client, kubeconfig, context)`` for the kubeconfig's ``context`` (default: its current one)."""
    path = kubeconfig_path(kubeconfig)
    if not os.path.isfile(path):
        raise KubeApiError(f"kubeconfig {path} does not exist")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
        names = [c["name"] for c in contexts or []]
        chosen = context or (active or {}).get("name")
        if not chosen or chosen not in names:
            raise KubeApiError(f"context {chosen!r} is not in {path}; contexts there: {', '.join(names) or 'none'}")
        api_client = config.new_client_from_config(config_file=path, context=chosen, persist_config=False)
    except config.ConfigException as exc:
        raise KubeApiError(f"cannot read kubeconfig {path}: {exc}") from exc
    return api_client, path, chosen


def auth_headers(api_client: Any) -> dict[str, str]:
    """The kubeconfig's header credentials (bearer token) for a raw request; client certificates need none."""
    headers = {"Accept": "application/json"}
    for setting in api_client.configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"]] = setting["value"]
    return headers


def raw_get(api_client: Any, path: str, timeout: float) -> tuple[int, str, bytes]:
    """GET ``path`` (below the API server's URL): ``(status, reason, body)``; HTTP errors are returned, not raised.

    Raises :class:`KubeApiError` only when the API server itself cannot be reached."""
    url = api_client.configuration.host + path
    try:
        resp = api_client.rest_client.request("GET", url, headers=auth_headers(api_client), _request_timeout=timeout)
        # Older clients preload .data and raise on HTTP errors; newer ones (37) do neither.
        raw = resp.data if getattr(resp, "data", None) is not None else resp.read()
        return int(getattr(resp, "status", 200)), str(getattr(resp, "reason", "") or ""), raw or b""
    except ApiException as exc:
        if not exc.status:
            raise KubeApiError(f"cannot reach the API server for {url}: {exc.reason}") from exc
        body = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
        return int(exc.status), str(exc.reason or ""), body
    except Exception as exc:  # connection, TLS and timeout errors of the API server itself
        raise KubeApiError(f"cannot reach the API server for {url}: {exc}") from exc


def service_proxy_prefix(namespace: str, service: str, port: int | str) -> str:
    """The API server's service proxy path in front of a Service's port (no exposure of the Service needed)."""
    return (
        f"/api/v1/namespaces/{quote(namespace, safe='')}/services/{quote(service, safe='')}:{quote(str(port), safe='')}"
        "/proxy"
    )
