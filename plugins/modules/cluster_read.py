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
      metadata_only:
        description:
          - Return only C(apiVersion), C(kind) and C(metadata) of each object (without the
            C(kubectl.kubernetes.io/last-applied-configuration) annotation), for a query that needs
            names, uids, labels or annotations only. A CRD's schema or a ConfigMap's data is then
            not carried into the play's variables.
        type: bool
        default: false
  request_timeout:
    description: Seconds to wait for each answer of the API server.
    type: int
    default: 30
  wait:
    description:
      - Wait until the objects of the queries named in O(wait.keys) are ready, polling in the same
        module run (one Python process, one API client; API discovery is not repeated per poll).
      - Without O(wait) the queries are read once.
      - Ready means, for a C(Deployment), C(status.observedGeneration) >= C(metadata.generation),
        C(status.updatedReplicas) == C(status.availableReplicas) == C(spec.replicas) (default 1; 0 replicas
        is ready) and no old replicas left (C(status.replicas) == C(status.updatedReplicas));
        for a C(DaemonSet), C(status.observedGeneration) >= C(metadata.generation) and
        C(status.updatedNumberScheduled) == C(status.numberAvailable) == C(status.desiredNumberScheduled);
        for a C(StatefulSet), C(status.observedGeneration) >= C(metadata.generation) and
        C(status.readyReplicas) == C(status.updatedReplicas) == C(spec.replicas) (default 1);
        for a C(Pod), its C(Ready) condition is C(True); any other kind is ready when it is present.
      - A waited-for query that lists nothing is ready (there is nothing to wait for), unless it has
        O(queries[].name); then the module waits for that object to appear.
      - When O(wait.timeout) passes with objects not ready the module fails, naming each object not
        ready (kind, namespace, name) and why.
      - Only the waited-for queries are read again on each poll; the others are read once.
    type: dict
    suboptions:
      timeout:
        description: Seconds to wait at most, more than 0.
        type: float
        required: true
      sleep:
        description: Seconds between two polls, more than 0.
        type: float
        default: 0.5
      keys:
        description:
          - Keys (O(queries[].key)) of the queries whose objects must be ready.
          - Default every query.
        type: list
        elements: str
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

- name: The lab's workloads are rolled out (one module run; polls every 0.5 s, at most 300 s)
  meshlab.service_mesh.cluster_read:
    queries:
      - key: bookinfo
        api_version: apps/v1
        kind: Deployment
        namespace: bookinfo
        label_selectors: [app.kubernetes.io/part-of=meshlab]
      - key: gateway
        api_version: networking.istio.io/v1
        kind: Gateway
        namespace: bookinfo
        name: bookinfo-gateway
    wait:
      timeout: 300
      keys: [bookinfo]
  register: rollout

- name: How long the rollout took is shown
  ansible.builtin.debug:
    msg: "{{ rollout.resources.bookinfo | length }} Deployments ready after {{ rollout.waited }} s"

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
waited:
  description: Seconds spent waiting (0 when the objects were ready at the first read).
  returned: when O(wait) is given
  type: float
  sample: 1.52
not_ready:
  description:
    - The objects not ready at the last poll, each with the query's key, the object's kind, namespace and
      name, and why it is not ready. Empty on success.
  returned: when O(wait) is given
  type: list
  elements: dict
  sample:
    - key: bookinfo
      kind: Deployment
      namespace: bookinfo
      name: reviews-v1
      reason: 2/3 available, 3/3 updated
"""

import copy
import json
import os
import time
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
    "metadata_only": {"type": "bool", "default": False},
}
WAIT_OPTIONS: dict[str, Any] = {
    "timeout": {"type": "float", "required": True},
    "sleep": {"type": "float", "default": 0.5},
    "keys": {"type": "list", "elements": "str", "no_log": False},
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

    def forget(self, api_version: str) -> None:
        """Discover this API version again at its next read, if the server did not serve it or the kind."""
        self._resources.pop(api_version, None)

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
    """The object without managedFields (and a Secret's values unless asked for), with apiVersion and kind set;
    with metadata_only, apiVersion, kind and metadata alone (no last-applied annotation)."""
    if query.get("metadata_only"):
        metadata = copy.deepcopy(item.get("metadata") or {})
        metadata.pop("managedFields", None)
        (metadata.get("annotations") or {}).pop(LAST_APPLIED, None)
        return {
            "apiVersion": item.get("apiVersion") or query["api_version"],
            "kind": item.get("kind") or query["kind"],
            "metadata": metadata,
        }
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


def check_wait(wait: dict[str, Any] | None, queries: list[dict[str, Any]]) -> str | None:
    """What is wrong with the wait option (timeout, sleep, keys), or None."""
    if wait is None:
        return None
    if not wait["timeout"] > 0:
        return f"wait.timeout must be more than 0 seconds; got {wait['timeout']}"
    if not wait["sleep"] > 0:
        return f"wait.sleep must be more than 0 seconds; got {wait['sleep']}"
    known = [q["key"] for q in queries]
    unknown = [k for k in wait["keys"] or [] if k not in known]
    if unknown:
        return (
            f"wait.keys: {', '.join(unknown)} {'is not the key' if len(unknown) == 1 else 'are not keys'} "
            f"of any query; the queries' keys are: {', '.join(known)}"
        )
    return None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _pod_reason(status: dict[str, Any]) -> str | None:
    conditions = status.get("conditions") or []
    ready = [c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"]
    if ready and str(ready[0].get("status")) == "True":
        return None
    phase = status.get("phase") or "no phase yet"
    why = f"Ready is {ready[0].get('status')}" if ready else "no Ready condition yet"
    detail = ready[0].get("reason") if ready else None
    return f"{why} (phase {phase}{', ' + str(detail) if detail else ''})"


def _counts_reason(kind: str, spec: dict[str, Any], status: dict[str, Any]) -> str | None:
    """A Deployment's, DaemonSet's or StatefulSet's replica counts against what it wants (observed already)."""
    if kind == "DaemonSet":
        want = _int(status.get("desiredNumberScheduled"))
        done, updated = _int(status.get("numberAvailable")), _int(status.get("updatedNumberScheduled"))
        word, extra = "available", ""
    elif kind == "StatefulSet":
        want = _int(spec.get("replicas"), 1)
        done, updated = _int(status.get("readyReplicas")), _int(status.get("updatedReplicas"))
        word, extra = "ready", ""
    else:
        want = _int(spec.get("replicas"), 1)
        done, updated = _int(status.get("availableReplicas")), _int(status.get("updatedReplicas"))
        old = _int(status.get("replicas")) - updated
        word, extra = "available", (f", {old} old replicas pending termination" if old > 0 else "")
    if done == updated == want and not extra:
        return None
    return f"{done}/{want} {word}, {updated}/{want} updated{extra}"


def not_ready_reason(item: dict[str, Any]) -> str | None:
    """Why the object is not ready (see the wait option's documentation), or None when it is ready."""
    kind = item.get("kind")
    if kind not in ("Deployment", "DaemonSet", "StatefulSet", "Pod"):
        return None
    status = item.get("status") or {}
    if kind == "Pod":
        return _pod_reason(status)
    generation = _int((item.get("metadata") or {}).get("generation"), 0)
    observed = status.get("observedGeneration")
    if observed is None or _int(observed) < generation:
        seen = "nothing" if observed is None else f"generation {observed}"
        return f"not observed yet (generation {generation}, the controller has seen {seen})"
    return _counts_reason(kind, item.get("spec") or {}, status)


def not_ready_of(query: dict[str, Any], found: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The query's objects that are not ready, each with its key, kind, namespace, name and reason."""
    if not found:
        if not query["name"]:
            return []  # nothing listed, nothing to wait for
        why = "not served by the API server yet" if found is None else "not found yet"
        namespace = query["namespace"] if query["namespaces"] is None else ",".join(query["namespaces"]) or None
        return [
            {
                "key": query["key"],
                "kind": query["kind"],
                "namespace": namespace,
                "name": query["name"],
                "reason": f"{query['kind']} ({query['api_version']}) {why}",
            }
        ]
    out = []
    for item in found:
        reason = not_ready_reason(item)
        if reason is not None:
            metadata = item.get("metadata") or {}
            out.append(
                {
                    "key": query["key"],
                    "kind": item.get("kind") or query["kind"],
                    "namespace": metadata.get("namespace"),
                    "name": metadata.get("name"),
                    "reason": reason,
                }
            )
    return out


def describe(entry: dict[str, Any]) -> str:
    where = f"{entry['namespace']}/{entry['name']}" if entry.get("namespace") else str(entry["name"])
    return f"{entry['kind']} {where}: {entry['reason']}"


def wait_for(
    reader: ClusterReader,
    queries: list[dict[str, Any]],
    result: dict[str, Any],
    wait: dict[str, Any],
    *,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> str | None:
    """Poll the waited-for queries until their objects are ready; fill waited/not_ready. A message on timeout."""
    keys = set(wait["keys"]) if wait["keys"] is not None else {q["key"] for q in queries}
    waited_queries = [q for q in queries if q["key"] in keys]
    start = clock()
    deadline = start + wait["timeout"]
    found: dict[str, list[dict[str, Any]] | None] = {
        q["key"]: (None if q["key"] in result["missing_apis"] else result["resources"][q["key"]])
        for q in waited_queries
    }
    while True:
        not_ready = [entry for q in waited_queries for entry in not_ready_of(q, found[q["key"]])]
        now = clock()
        result["waited"] = round(now - start, 3)
        result["not_ready"] = not_ready
        if not not_ready:
            return None
        if now >= deadline:
            listed = "; ".join(describe(entry) for entry in not_ready)
            return f"wait: {len(not_ready)} object(s) not ready after {wait['timeout']:g} s (wait.timeout): {listed}"
        sleep(max(0.0, min(wait["sleep"], deadline - now)))
        for query in waited_queries:
            if found[query["key"]] is None and query["name"]:
                reader.forget(query["api_version"])  # its API may be served by now (a CRD just applied)
            found[query["key"]] = reader.read(query)
            result["resources"][query["key"]] = found[query["key"]] or []
        missing = result["missing_apis"]
        result["missing_apis"] = [
            q["key"] for q in queries if (found[q["key"]] is None if q["key"] in found else q["key"] in missing)
        ]


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
        wait={"type": "dict", "options": WAIT_OPTIONS},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    problem = check_queries(module.params["queries"]) or check_wait(module.params["wait"], module.params["queries"])
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
    reader = ClusterReader(api_client, module.params["request_timeout"])
    try:
        result = run_queries(reader, module.params["queries"])
        timed_out = None
        if module.params["wait"] is not None:
            timed_out = wait_for(reader, module.params["queries"], result, module.params["wait"])
    except ReadError as exc:
        module.fail_json(msg=str(exc))
    if timed_out:
        module.fail_json(msg=timed_out, changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
