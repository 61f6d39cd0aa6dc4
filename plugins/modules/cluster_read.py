#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_read
short_description: Read several kinds of Kubernetes objects across namespaces in one module run
version_added: 0.1.0
description:
  - Lists the objects each query names (an API version and kind, optionally namespaces, a name and
    label selectors) and returns them by the query's key, all in one Python process with one API
    client. A role that needs several reads from the cluster makes one module run instead of one
    P(kubernetes.core.k8s_info#module) run per kind and namespace.
  - Each distinct O(queries[].api_version) is resolved once (one discovery request per group
    version, not a full discovery of the server); a kind the server does not serve is reported in
    RV(missing_apis) and its list is empty, instead of failing.
  - Reads only; never changes the cluster.
  - Also in the action group C(meshlab.service_mesh.k8s), so
    C(module_defaults) for C(group/meshlab.service_mesh.k8s) can carry the API server options.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  queries:
    description: What to read. Each query's objects are returned under its O(queries[].key).
    type: list
    elements: dict
    required: true
    suboptions:
      key:
        description: The query's name in RV(resources); unique among the queries.
        type: str
        required: true
      api_version:
        description: API group and version, for example C(v1), C(apps/v1) or C(networking.istio.io/v1).
        type: str
        required: true
      kind:
        description: Kind, for example C(Pod) or C(VirtualService) (as in the objects' C(kind)).
        type: str
        required: true
      namespace:
        description:
          - Read this namespace only. Mutually exclusive with O(queries[].namespaces).
          - Without O(queries[].namespace) and O(queries[].namespaces) every namespace is read.
          - Ignored for cluster-scoped kinds.
        type: str
      namespaces:
        description:
          - Read these namespaces (one list request each). An empty list reads no namespace, so
            the result is empty for a namespaced kind.
          - Ignored for cluster-scoped kinds.
        type: list
        elements: str
      name:
        description: Only the object of this name (a field selector on C(metadata.name)).
        type: str
      label_selectors:
        description: Label selectors, all of which must match (for example C(app=istiod)).
        type: list
        elements: str
        default: []
      include_data:
        description:
          - For Secrets (C(v1) C(Secret)) only. When false, C(data), C(stringData) and the
            C(kubectl.kubernetes.io/last-applied-configuration) annotation (which may repeat the
            data) are removed from every Secret returned.
          - When true the values are returned; set C(no_log) on the task then.
        type: bool
        default: false
  request_timeout:
    description: Seconds to wait for each answer of the API server.
    type: int
    default: 30
requirements:
  - kubernetes >= 24.2.0 (Python client)
extends_documentation_fragment:
  - meshlab.service_mesh.read_only
  - kubernetes.core.k8s_auth_options
notes:
  - Large lists are read in pages of 500 objects.
  - A namespace that does not exist reads as empty.
seealso:
  - module: kubernetes.core.k8s_info
  - name: Kubernetes API concepts (list, discovery, selectors)
    description: The requests this module makes.
    link: https://kubernetes.io/docs/reference/using-api/api-concepts/
"""

EXAMPLES = r"""
- name: What the role needs from the cluster is read (one module run)
  meshlab.service_mesh.cluster_read:
    kubeconfig: "{{ meshlab_cluster.kubeconfig }}"
    context: "{{ meshlab_cluster.context }}"
    queries:
      - key: istiod
        api_version: apps/v1
        kind: Deployment
        namespace: istio-system
        name: istiod
      - key: pods
        api_version: v1
        kind: Pod
        namespaces: [bookinfo, istio-system]
      - key: policies
        api_version: security.istio.io/v1
        kind: AuthorizationPolicy
        namespaces: [bookinfo, istio-system]
      - key: webhooks
        api_version: admissionregistration.k8s.io/v1
        kind: MutatingWebhookConfiguration
        label_selectors: [app=sidecar-injector]
  register: lab_objects

- name: The pods are counted
  ansible.builtin.debug:
    msg: "{{ lab_objects.resources.pods | length }} pods; Istio's APIs missing: {{ lab_objects.missing_apis }}"

- name: A Secret's values are read (the task hides its result)
  meshlab.service_mesh.cluster_read:
    queries:
      - key: grafana
        api_version: v1
        kind: Secret
        namespace: istio-system
        name: grafana-admin
        include_data: true
  register: grafana_secret
  no_log: true

- name: The API server options come from the action group's defaults
  module_defaults:
    group/meshlab.service_mesh.k8s:
      kubeconfig: ~/.kube/config
      context: lab
  meshlab.service_mesh.cluster_read:
    queries:
      - {key: nodes, api_version: v1, kind: Node}
"""

RETURN = r"""
resources:
  description:
    - The objects of each query, by O(queries[].key), as the API server returns them, with
      C(metadata.managedFields) removed and C(apiVersion) and C(kind) set on each object.
    - An empty list when nothing matches, the namespace does not exist, or the kind is not served.
  returned: success
  type: dict
  sample:
    istiod:
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: istiod, namespace: istio-system}
        spec: {replicas: 1}
    pods: []
missing_apis:
  description: Keys of the queries whose O(queries[].api_version) and O(queries[].kind) the server does not serve.
  returned: success
  type: list
  elements: str
  sample: [policies]
"""

import copy
import json
import os
from typing import Any
from urllib.parse import quote, urlencode

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.meshlab.service_mesh.plugins.module_utils.kube_api import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeApiError,
    client_from_auth,
    kubeconfig_path,
    raw_get,
)
from ansible_collections.meshlab.service_mesh.plugins.module_utils.service_json import auth_options

PAGE_SIZE = 500
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
QUERY_OPTIONS: dict[str, Any] = {
    "key": {"type": "str", "required": True, "no_log": False},
    "api_version": {"type": "str", "required": True},
    "kind": {"type": "str", "required": True},
    "namespace": {"type": "str"},
    "namespaces": {"type": "list", "elements": "str"},
    "name": {"type": "str"},
    "label_selectors": {"type": "list", "elements": "str", "default": []},
    "include_data": {"type": "bool", "default": False},
}


class ReadError(Exception):
    """A read the module cannot answer; the message is meant for the user."""


def group_version_path(api_version: str) -> str:
    """The discovery path of an API version: ``/api/v1`` for the core group, else ``/apis/<group>/<version>``."""
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def _message(raw: bytes) -> str:
    """The ``message`` of a Kubernetes Status answer, else the start of the body."""
    text = to_text(raw, errors="surrogate_or_replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:300]
    return str(doc.get("message") or text[:300]) if isinstance(doc, dict) else text[:300]


def _decode(raw: bytes, where: str) -> Any:
    try:
        return json.loads(to_text(raw, errors="surrogate_or_strict"))
    except ValueError as exc:
        raise ReadError(f"the API server answered {where} with something that is not JSON ({exc})") from exc


class ClusterReader:
    """Runs the queries with one API client; remembers each API version's resources (one discovery each)."""

    def __init__(self, api_client: Any, timeout: int) -> None:
        self.api = api_client
        self.timeout = timeout
        self.host = api_client.configuration.host
        self._resources: dict[str, dict[str, dict[str, Any]] | None] = {}

    def _get(self, path: str) -> tuple[int, str, bytes]:
        try:
            return raw_get(self.api, path, self.timeout)
        except KubeApiError as exc:
            raise ReadError(
                f"{exc}. Is the cluster running, and do kubeconfig/context (or host) name it? "
                f"Try: kubectl get --raw /version with the same kubeconfig and context."
            ) from exc

    def _refused(self, status: int, reason: str, raw: bytes, query: dict[str, Any], namespace: str | None) -> ReadError:
        where = f"in namespace {namespace}" if namespace else "in every namespace (or cluster-scoped)"
        what = f"query {query['key']!r}: {query['kind']} ({query['api_version']}) {where}"
        if status == 401:
            return ReadError(
                f"{what}: the API server at {self.host} refused the credentials (HTTP 401): {_message(raw)}. "
                "Check the kubeconfig's user, or api_key / client_cert."
            )
        if status == 403:
            return ReadError(
                f"{what}: forbidden (HTTP 403): {_message(raw)}. The user needs list on that kind there (RBAC)."
            )
        return ReadError(f"{what}: the API server at {self.host} answered HTTP {status} {reason}: {_message(raw)}")

    def resources_of(self, query: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
        """The API version's resources by kind (top-level resources only), or None when the server does not serve it."""
        api_version = query["api_version"]
        if api_version not in self._resources:
            path = group_version_path(api_version)
            status, reason, raw = self._get(path)
            if status == 404:
                self._resources[api_version] = None
            elif status >= 400:
                raise self._refused(status, reason, raw, query, None)
            else:
                doc = _decode(raw, path)
                self._resources[api_version] = {
                    r["kind"]: r for r in doc.get("resources") or [] if "/" not in r.get("name", "/") and r.get("kind")
                }
        return self._resources[api_version]

    def list_path(self, query: dict[str, Any], resource: dict[str, Any], namespace: str | None) -> str:
        base = group_version_path(query["api_version"])
        if namespace is not None:
            base += f"/namespaces/{quote(namespace, safe='')}"
        return f"{base}/{quote(resource['name'], safe='')}"

    def _list(self, query: dict[str, Any], resource: dict[str, Any], namespace: str | None) -> list[dict[str, Any]]:
        params: dict[str, str] = {"limit": str(PAGE_SIZE)}
        selectors = [s.strip() for s in query["label_selectors"] if s and s.strip()]
        if selectors:
            params["labelSelector"] = ",".join(selectors)
        if query["name"]:
            params["fieldSelector"] = f"metadata.name={query['name']}"
        path = self.list_path(query, resource, namespace)
        items: list[dict[str, Any]] = []
        while True:
            status, reason, raw = self._get(f"{path}?{urlencode(params)}")
            if status >= 400:
                raise self._refused(status, reason, raw, query, namespace)
            doc = _decode(raw, path)
            items.extend(doc.get("items") or [])
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    def read(self, query: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The query's objects, cleaned; None when its kind is not served."""
        kinds = self.resources_of(query)
        resource = (kinds or {}).get(query["kind"])
        if resource is None:
            return None
        if not resource.get("namespaced"):
            namespaces: list[str | None] = [None]
        elif query["namespaces"] is not None:
            namespaces = list(dict.fromkeys(n for n in query["namespaces"] if n))
        else:
            namespaces = [query["namespace"] or None]
        items = [item for namespace in namespaces for item in self._list(query, resource, namespace)]
        secret = query["api_version"] == "v1" and query["kind"] == "Secret"
        return [clean(item, query, hide_data=secret and not query["include_data"]) for item in items]


def clean(item: dict[str, Any], query: dict[str, Any], hide_data: bool) -> dict[str, Any]:
    """The object without managedFields (and a Secret's values unless asked for), with apiVersion and kind set."""
    out = copy.deepcopy(item)
    out.setdefault("apiVersion", query["api_version"])
    out.setdefault("kind", query["kind"])
    metadata = out.get("metadata") or {}
    metadata.pop("managedFields", None)
    if hide_data:
        out.pop("data", None)
        out.pop("stringData", None)
        annotations = metadata.get("annotations") or {}
        annotations.pop(LAST_APPLIED, None)
    return out


def check_queries(queries: list[dict[str, Any]]) -> str | None:
    """What is wrong with the queries as a whole (duplicate keys), or None."""
    keys = [q["key"] for q in queries]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        return f"queries: each key must be unique; repeated: {', '.join(duplicates)}"
    empty = [q["key"] for q in queries if not q["api_version"].strip() or not q["kind"].strip()]
    if empty:
        return f"queries {', '.join(empty)}: api_version and kind must not be empty"
    return None


def readable(message: str, auth: dict[str, Any]) -> str:
    """``message`` with the kubeconfig's path written so that Ansible's no_log masking leaves it readable.

    kubernetes.core's ``kubeconfig`` option is no_log (it may be a dict holding credentials), so a message
    holding the path as given would show ``********`` where the file's name should be."""
    kubeconfig = auth.get("kubeconfig")
    if not isinstance(kubeconfig, str) or not kubeconfig:
        return message
    path = kubeconfig_path(kubeconfig)
    folder, name = os.path.split(path)
    if path not in message:
        return message
    return f"{message.replace(path, name)} (kubeconfig {name} in folder {folder or '.'})"


def run_queries(reader: ClusterReader, queries: list[dict[str, Any]]) -> dict[str, Any]:
    resources: dict[str, list[dict[str, Any]]] = {}
    missing: list[str] = []
    for query in queries:
        found = reader.read(query)
        if found is None:
            missing.append(query["key"])
        resources[query["key"]] = found or []
    return {"resources": resources, "missing_apis": missing}


def main() -> None:
    argument_spec = copy.deepcopy(AUTH_ARG_SPEC)
    argument_spec.update(
        queries={
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": QUERY_OPTIONS,
            "mutually_exclusive": [("namespace", "namespaces")],
        },
        request_timeout={"type": "int", "default": 30},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    problem = check_queries(module.params["queries"])
    if problem:
        module.fail_json(msg=problem)
    auth = auth_options(module.params)
    try:
        api_client = client_from_auth(auth)
    except KubeApiError as exc:
        module.fail_json(msg=readable(str(exc), auth))
    except Exception as exc:  # the kubernetes client's loader raises YAML and type errors on a malformed file
        kubeconfig = auth.get("kubeconfig")
        where = "given as a dict" if isinstance(kubeconfig, dict) else kubeconfig_path(kubeconfig)
        module.fail_json(msg=readable(f"cannot read kubeconfig {where}: {type(exc).__name__}: {exc}", auth))
    try:
        result = run_queries(ClusterReader(api_client, module.params["request_timeout"]), module.params["queries"])
    except ReadError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
