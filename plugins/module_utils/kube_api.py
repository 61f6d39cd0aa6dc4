# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""One way for the collection's modules to reach the Kubernetes API with a kubeconfig.

Resolves the kubeconfig and context the way kubectl does (explicit path, else ``KUBECONFIG``'s
first entry, else ``~/.kube/config``; explicit context, else the current one), builds an API
client from it, and makes raw GETs (paths that have no generated API class, such as
``/version/openshift`` or a Service behind the API server's proxy) with the kubeconfig's
credentials. :func:`client_from_auth` builds the client from kubernetes.core's auth options instead
(``host``, ``api_key``, impersonation, ...; see module_utils/service_json.py). TLS is verified as the
kubeconfig or ``validate_certs`` says; nothing here adds a way around it.
Errors are :class:`KubeApiError` with a message meant for the user.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

try:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException
    from urllib3._collections import HTTPHeaderDict
    from urllib3.util import make_headers

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
    return os.path.expanduser(chosen) if chosen else str(Path.home() / ".kube" / "config")


def _chosen_context(path: str, context: str | None) -> str:
    """The context of ``path`` that will be used (``context``, else the current one); refused when absent."""
    if not os.path.isfile(path):
        raise KubeApiError(f"kubeconfig {path} does not exist")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except config.ConfigException as exc:
        raise KubeApiError(f"cannot read kubeconfig {path}: {exc}") from exc
    names = [c["name"] for c in contexts or []]
    chosen = context or (active or {}).get("name")
    if not chosen or chosen not in names:
        raise KubeApiError(f"context {chosen!r} is not in {path}; contexts there: {', '.join(names) or 'none'}")
    return chosen


def new_api_client(kubeconfig: str | None, context: str | None) -> tuple[Any, str, str]:
    """``(api_client, kubeconfig, context)`` for the kubeconfig's ``context`` (default: its current one)."""
    path = kubeconfig_path(kubeconfig)
    chosen = _chosen_context(path, context)
    try:
        api_client = config.new_client_from_config(config_file=path, context=chosen, persist_config=False)
    except config.ConfigException as exc:
        raise KubeApiError(f"cannot read kubeconfig {path}: {exc}") from exc
    return api_client, path, chosen


# kubernetes.core's auth option -> the kubernetes client Configuration attribute it sets (its AUTH_ARG_MAP).
_CONFIGURATION_ATTRIBUTES = {
    "host": "host",
    "username": "username",
    "password": "password",
    "validate_certs": "verify_ssl",
    "ca_cert": "ssl_ca_cert",
    "client_cert": "cert_file",
    "client_key": "key_file",
    "proxy": "proxy",
    "no_proxy": "no_proxy",
}


def client_from_auth(auth: dict[str, Any]) -> Any:
    """An API client from kubernetes.core's auth options (``kubeconfig``, ``context``, ``host``, ``api_key``, ...).

    As kubernetes.core's modules do: ``host`` with ``api_key``, ``username``+``password`` or
    ``client_cert``+``client_key`` needs no kubeconfig; otherwise the kubeconfig (a path, kubectl's
    default, or a dict) is loaded and the options given override it. Impersonation becomes headers."""
    host = auth.get("host")
    complete = host and (
        auth.get("api_key")
        or (auth.get("username") and auth.get("password"))
        or (auth.get("client_cert") and auth.get("client_key"))
    )
    configuration = client.Configuration()
    if not complete:
        kubeconfig, context = auth.get("kubeconfig"), auth.get("context")
        persist = bool(auth.get("persist_config"))
        try:
            if isinstance(kubeconfig, dict):
                config.load_kube_config_from_dict(
                    kubeconfig, context=context, client_configuration=configuration, persist_config=False
                )
            else:
                path = kubeconfig_path(kubeconfig)
                config.load_kube_config(
                    config_file=path,
                    context=_chosen_context(path, context),
                    client_configuration=configuration,
                    persist_config=persist,
                )
        except config.ConfigException as exc:
            raise KubeApiError(f"cannot read the kubeconfig: {exc}") from exc
    for option, attribute in _CONFIGURATION_ATTRIBUTES.items():
        if auth.get(option) is not None:
            setattr(configuration, attribute, auth[option].rstrip("/") if option == "host" else auth[option])
    if auth.get("api_key"):
        configuration.api_key = {"authorization": f"Bearer {auth['api_key']}"}
        # The kubeconfig loader's hook would put the kubeconfig's token back on every request.
        configuration.refresh_api_key_hook = None
    if auth.get("proxy_headers"):
        configuration.proxy_headers = make_headers(**{k: v for k, v in auth["proxy_headers"].items() if v is not None})
    api_client = client.ApiClient(configuration)
    if auth.get("impersonate_user"):
        api_client.default_headers["Impersonate-User"] = auth["impersonate_user"]
    if auth.get("impersonate_groups"):
        # One header per group (the API server reads each); auth_headers() expands the list.
        api_client.default_headers["Impersonate-Group"] = list(auth["impersonate_groups"])
    return api_client


def auth_headers(api_client: Any) -> Any:
    """The header credentials for a raw request: bearer token (else basic auth) and impersonation.

    Client certificates need no header."""
    headers = HTTPHeaderDict({"Accept": "application/json"})
    for setting in api_client.configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"]] = setting["value"]
    conf = api_client.configuration
    if "authorization" not in headers and conf.username and conf.password:
        headers["Authorization"] = conf.get_basic_auth_token()
    for name, value in (getattr(api_client, "default_headers", None) or {}).items():
        if name.lower().startswith("impersonate-"):
            for one in value if isinstance(value, list) else [value]:
                headers.add(name, one)
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
