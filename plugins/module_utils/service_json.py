# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""JSON from an app's HTTP API behind a Kubernetes Service: at a URL, or through the API server's service proxy.

The one place the read-only modules that ask an addon (``scope_topology``: Weave Scope,
``kiali_graph``: Kiali) fetch and decode its answer. Options:

- ``url`` (with ``url_username``/``url_password`` for basic auth, ``validate_certs``): the app
  is asked directly, for example behind ``kubectl port-forward`` or a Route.
- otherwise the Service ``<namespace option>/<service>:<service_port>`` is asked through
  ``/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy`` with the API server credentials of
  kubernetes.core's auth options (``kubeconfig``, ``context``, ``host``, ``api_key``, ...,
  documented by the ``kubernetes.core.k8s_auth_options`` fragment, each falling back to its
  ``K8S_AUTH_*`` environment variable), the way community.okd's modules take them.

``validate_certs`` verifies whichever is asked: the URL's certificate, or the API server's.
Errors are :class:`ServiceUnreachable` with a message naming the app, the URL and what to check.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.meshlab.service_mesh.plugins.module_utils.kube_api import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeApiError,
    client_from_auth,
    raw_get,
    service_proxy_prefix,
)

# kubernetes.core's options that only make sense for the API server: not together with url.
API_SERVER_ONLY = tuple(name for name in AUTH_ARG_SPEC if name != "validate_certs")
MUTUALLY_EXCLUSIVE = [("url", name) for name in API_SERVER_ONLY]
REQUIRED_BY = {"url_username": "url", "url_password": "url"}


class ServiceUnreachable(Exception):
    """The app did not answer (or not with JSON), directly or behind the service proxy."""


def argument_spec(
    *, namespace_option: str, namespace: str, service: str, service_port: str, request_timeout: int
) -> dict[str, Any]:
    """kubernetes.core's auth options plus how to find the app: ``url``, or its Service behind the proxy."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        {
            "url": {"type": "str"},
            "url_username": {"type": "str"},
            "url_password": {"type": "str", "no_log": True},
            namespace_option: {"type": "str", "default": namespace},
            "service": {"type": "str", "default": service},
            "service_port": {"type": "str", "default": service_port},
            "request_timeout": {"type": "int", "default": request_timeout},
        }
    )
    return spec


def auth_options(params: dict[str, Any]) -> dict[str, Any]:
    """Each kubernetes.core auth option from the module's arguments, else its ``K8S_AUTH_<OPTION>`` variable."""
    auth: dict[str, Any] = {}
    env_names = {"validate_certs": ("VALIDATE_CERTS", "VERIFY_SSL"), "ca_cert": ("CA_CERT", "SSL_CA_CERT")}
    env_names.update({"client_cert": ("CLIENT_CERT", "CERT_FILE"), "client_key": ("CLIENT_KEY", "KEY_FILE")})
    for name, spec in AUTH_ARG_SPEC.items():
        value = params.get(name)
        if value is None and spec.get("type") != "dict":
            names = [f"K8S_AUTH_{n}" for n in env_names.get(name, (name.upper(),))]
            found = [os.environ[n] for n in names if n in os.environ]
            raw = found[0] if found else None
            if raw is not None and spec.get("type") == "bool":
                value = raw.lower() not in ("0", "false", "no")
            elif raw is not None and spec.get("type") == "list":
                value = [one for one in raw.split(",") if one]
            else:
                value = raw
        if value is not None:
            auth[name] = value
    return auth


def _decode(raw: bytes, where: str) -> Any:
    try:
        return json.loads(to_text(raw, errors="surrogate_or_strict"))
    except ValueError as exc:
        snippet = to_text(raw, errors="surrogate_or_replace")[:200]
        raise ServiceUnreachable(f"{where} did not answer with JSON ({exc}): {snippet!r}") from exc


class ServiceJson:
    """``get(path)``: the app's JSON answer at ``path``; ``where(path)``: the URL asked (never with credentials)."""

    def __init__(self, params: dict[str, Any], app: str, namespace_option: str) -> None:
        self.app = app
        self.timeout = params["request_timeout"]
        self.url = params["url"].rstrip("/") if params["url"] else None
        if self.url:
            self.username, self.password = params["url_username"], params["url_password"]
            self.validate_certs = params["validate_certs"] is not False
            return
        self.namespace, self.service = params[namespace_option], params["service"]
        self.prefix = service_proxy_prefix(self.namespace, self.service, params["service_port"])
        try:
            self.api = client_from_auth(auth_options(params))
        except KubeApiError as exc:
            raise ServiceUnreachable(str(exc)) from exc

    def where(self, path: str) -> str:
        return (self.url or self.api.configuration.host + self.prefix) + path

    def get(self, path: str) -> Any:
        return self._direct(path) if self.url else self._proxied(path)

    def _direct(self, path: str) -> Any:
        url = self.where(path)
        try:
            resp = open_url(
                url,
                method="GET",
                headers={"Accept": "application/json"},
                url_username=self.username,
                url_password=self.password,
                force_basic_auth=bool(self.username),
                validate_certs=self.validate_certs,
                timeout=self.timeout,
            )
            raw = resp.read()
        except Exception as exc:  # HTTPError, URLError, socket and TLS errors alike
            hint = " (wrong or missing url_username/url_password?)" if getattr(exc, "code", None) == 401 else ""
            raise ServiceUnreachable(f"{self.app} at {url} did not answer: {exc}{hint}") from exc
        return _decode(raw, f"{self.app} at {url}")

    def _proxied(self, path: str) -> Any:
        url = self.where(path)
        try:
            status, reason, raw = raw_get(self.api, self.prefix + path, self.timeout)
        except KubeApiError as exc:
            raise ServiceUnreachable(str(exc)) from exc
        if status >= 400:
            body = to_text(raw, errors="surrogate_or_replace").strip()[:300]
            raise ServiceUnreachable(
                f"{self.app} did not answer through the API server's service proxy ({url}): HTTP {status} {reason}: "
                f"{body} (is {self.app} running? kubectl -n {self.namespace} get pods,endpoints {self.service})"
            )
        return _decode(raw, f"{self.app} behind {url}")


def open_service(module: AnsibleModule, app: str, namespace_option: str) -> ServiceJson:
    """The module's :class:`ServiceJson`; fails the module when the proxy is asked for without the kubernetes client."""
    if not module.params["url"] and not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    try:
        return ServiceJson(module.params, app, namespace_option)
    except ServiceUnreachable as exc:
        module.fail_json(msg=str(exc))
        raise  # not reached: fail_json exits
