#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: scope_topology
short_description: Read a Weave Scope topology as nodes and edges named by Kubernetes
version_added: 0.1.0
description:
  - Asks a running Weave Scope app (1.13) for one topology (C(pods), C(services), C(containers),
    C(hosts) or C(kube-controllers)) and returns its nodes and the edges between them, named the
    way Kubernetes names them (C(<namespace>/<name>) for pods, services and controllers).
  - By default Scope is reached through the API server's service proxy
    (C(/api/v1/namespaces/<ns>/services/weave-scope-app:80/proxy/...)) with the kubeconfig's
    credentials, so Scope never has to be exposed. With O(url), Scope is asked directly (a
    C(kubectl port-forward) on 127.0.0.1, or an OpenShift Route with basic auth).
  - Reads only; never changes Scope or the cluster.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  topology:
    description: Which Scope topology to read.
    type: str
    choices: [pods, services, containers, hosts, kube-controllers]
    default: pods
  namespaces:
    description:
      - Keep only nodes of these Kubernetes namespaces. Empty keeps every namespace.
      - Applied by Scope (its C(namespace) option) and again here, because Scope ignores a
        namespace it has not seen. For C(containers) the namespace is that of the parent pod
        (the pods topology is read too). C(hosts) belong to no namespace and are not filtered.
    type: list
    elements: str
    default: []
    aliases: [namespace]
  include_pseudo:
    description: Keep Scope's pseudo nodes (the Internet, unmanaged or uncontained endpoints).
    type: bool
    default: false
  url:
    description:
      - Base URL of the Scope app, for example C(http://127.0.0.1:4040) behind
        C(kubectl -n weave port-forward svc/weave-scope-app 4040:80), or the lab's Route.
      - When not given, Scope is reached through the API server's service proxy.
    type: str
  url_username:
    description: Basic-auth user for O(url) (Scope started with basic auth, as behind the lab's Route).
    type: str
  url_password:
    description: Basic-auth password for O(url).
    type: str
  validate_certs:
    description: Verify the TLS certificate of O(url).
    type: bool
    default: true
  kubeconfig:
    description:
      - Kubeconfig for the service proxy. Defaults to C(KUBECONFIG), then C(~/.kube/config).
    type: path
  context:
    description: Kubeconfig context for the service proxy. Defaults to the current context.
    type: str
  scope_namespace:
    description: Namespace of Scope's Service (service proxy only).
    type: str
    default: weave
  service:
    description: Name of Scope's Service (service proxy only).
    type: str
    default: weave-scope-app
  service_port:
    description: Port (number or name) of Scope's Service (service proxy only).
    type: str
    default: "80"
  request_timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 20
requirements:
  - kubernetes >= 24.2.0 (Python client), for the service proxy
extends_documentation_fragment:
  - meshlab.service_mesh.read_only
notes:
  - Scope behind basic auth (the lab's Route) is read with O(url), O(url_username) and
    O(url_password); the service proxy carries the kubeconfig's credentials, not Scope's.
  - The answer is what Scope's probes reported in the last seconds; a topology can be empty
    right after Scope starts.
seealso:
  - name: Weave Scope HTTP API (app/router.go)
    description: The routes and JSON shapes this module reads.
    link: https://github.com/weaveworks/scope/blob/v1.13.2/app/router.go
"""

EXAMPLES = r"""
- name: The BookInfo pods and who talks to whom are known
  meshlab.service_mesh.scope_topology:
    kubeconfig: "{{ meshlab_cluster.kubeconfig }}"
    context: "{{ meshlab_cluster.context }}"
    topology: pods
    namespaces: [bookinfo]
  register: bookinfo_pods

- name: Who talks to whom is shown
  ansible.builtin.debug:
    msg: "{{ item.source }} -> {{ item.target }}"
  loop: "{{ bookinfo_pods.edges }}"

- name: Services are read through a port-forward
  meshlab.service_mesh.scope_topology:
    url: http://127.0.0.1:4040
    topology: services

- name: Scope is read through its Route (basic auth)
  meshlab.service_mesh.scope_topology:
    url: https://weave-scope-weave.apps-crc.testing
    url_username: scope
    url_password: "{{ (lookup('ansible.builtin.file', credentials_file) | from_yaml).password }}"
    topology: hosts
  vars:
    credentials_file: ~/.config/meshlab/weave-scope-weave.credentials
  no_log: true
"""

RETURN = r"""
topology:
  description: The topology read.
  returned: success
  type: str
  sample: pods
url:
  description: Where Scope was asked (API server URL plus the proxy path, or O(url)); never carries credentials.
  returned: success
  type: str
  sample: https://127.0.0.1:6443/api/v1/namespaces/weave/services/weave-scope-app:80/proxy/api/topology/pods?pseudo=hide
nodes:
  description: The nodes kept, sorted by key.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description:
        - Scope's node id, C(<component>;<tag>) with the tag written literally.
        - C(<uid>;<pod>) for pods, C(<uid>;<service>) for services, C(<hostname>;<host>) for hosts.
      type: str
      sample: 9a8e6a3c-5f0e-4d7b-8c1a-0c2b1f3e4d5a;<pod>
    name:
      description: Kubernetes name (pods, services, controllers), container name, or host name.
      type: str
      sample: productpage-v1-7d6cfb7dfd-5mz2x
    namespace:
      description: Kubernetes namespace; null for hosts, pseudo nodes and containers without a known pod.
      type: str
      sample: bookinfo
    key:
      description: Unique name used in RV(edges) (C(<namespace>/<name>), C(<pod>/<container>), or the host name).
      type: str
      sample: bookinfo/productpage-v1-7d6cfb7dfd-5mz2x
    label:
      description: Scope's label.
      type: str
    label_minor:
      description: Scope's second label (for example the host of a container).
      type: str
    rank:
      description: Scope's rank (C(<namespace>/<name>) for pods, services and controllers).
      type: str
    shape:
      description: Scope's shape (C(heptagon) for pods, C(cloud) for the Internet).
      type: str
    pseudo:
      description: Whether it is one of Scope's pseudo nodes.
      type: bool
    adjacency:
      description: Ids of the nodes this one talks to.
      type: list
      elements: str
    parents:
      description: Parent nodes (id, label, topology), for example the pod of a container.
      type: list
      elements: dict
edges:
  description: Who talks to whom among the kept nodes, by key; adjacency to nodes left out is dropped.
  returned: success
  type: list
  elements: dict
  sample:
    - source: bookinfo/productpage-v1-7d6cfb7dfd-5mz2x
      target: bookinfo/reviews-v2-5b667bcbf8-2xq9p
      source_id: 9a8e6a3c-5f0e-4d7b-8c1a-0c2b1f3e4d5a;<pod>
      target_id: 3f1c2b4e-7a9d-4c3b-9e8f-1a2b3c4d5e6f;<pod>
names:
  description: Keys of the kept non-pseudo nodes, sorted.
  returned: success
  type: list
  elements: str
  sample: [bookinfo/details-v1-79f774bdb9-8xk2l, bookinfo/productpage-v1-7d6cfb7dfd-5mz2x]
namespaces:
  description: Namespaces of the kept nodes.
  returned: success
  type: list
  elements: str
  sample: [bookinfo]
node_count:
  description: Number of nodes kept.
  returned: success
  type: int
  sample: 7
edge_count:
  description: Number of edges kept.
  returned: success
  type: int
  sample: 6
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url
from ansible_collections.meshlab.service_mesh.plugins.module_utils.kube_api import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeApiError,
    new_api_client,
    raw_get,
    service_proxy_prefix,
)
from ansible_collections.meshlab.service_mesh.plugins.module_utils.scope import (
    TOPOLOGIES,
    ScopeFormatError,
    parse_topology,
    pod_namespaces,
    select_nodes,
    summarize,
    topology_path,
)


class ScopeUnreachable(Exception):
    """Scope did not answer (or not with JSON)."""


def _decode(raw: bytes | str, where: str) -> Any:
    try:
        return json.loads(to_text(raw, errors="surrogate_or_strict"))
    except ValueError as exc:
        snippet = to_text(raw, errors="surrogate_or_replace")[:200]
        raise ScopeUnreachable(f"{where} did not answer with JSON ({exc}): {snippet!r}") from exc


class DirectFetcher:
    """Scope at a URL (port-forward or Route), optionally behind basic auth."""

    def __init__(self, module: AnsibleModule) -> None:
        p = module.params
        self.base = p["url"].rstrip("/")
        self.username = p["url_username"]
        self.password = p["url_password"]
        self.validate_certs = p["validate_certs"]
        self.timeout = p["request_timeout"]

    def where(self, path: str) -> str:
        return self.base + path

    def get(self, path: str) -> Any:
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
            code = getattr(exc, "code", None)
            hint = " (wrong or missing url_username/url_password?)" if code == 401 else ""
            raise ScopeUnreachable(f"Scope at {url} did not answer: {exc}{hint}") from exc
        return _decode(raw, f"Scope at {url}")


class ProxyFetcher:
    """Scope behind the API server's service proxy, with the kubeconfig's credentials."""

    def __init__(self, module: AnsibleModule) -> None:
        p = module.params
        try:
            self.api, _path, _context = new_api_client(p["kubeconfig"], p["context"])
        except KubeApiError as exc:
            raise ScopeUnreachable(str(exc)) from exc
        self.prefix = service_proxy_prefix(p["scope_namespace"], p["service"], p["service_port"])
        self.scope_namespace = p["scope_namespace"]
        self.timeout = p["request_timeout"]

    def where(self, path: str) -> str:
        return self.api.configuration.host + self.prefix + path

    def get(self, path: str) -> Any:
        url = self.where(path)
        try:
            status, reason, raw = raw_get(self.api, self.prefix + path, self.timeout)
        except KubeApiError as exc:
            raise ScopeUnreachable(str(exc)) from exc
        if status >= 400:
            body = to_text(raw, errors="surrogate_or_replace")
            raise ScopeUnreachable(
                f"Scope did not answer through the API server's service proxy ({url}): HTTP {status} {reason}: "
                f"{body.strip()[:300]} (is Scope running? kubectl -n {self.scope_namespace} get pods,endpoints)"
            )
        return _decode(raw, f"Scope behind {url}")


def read_topology(fetcher: DirectFetcher | ProxyFetcher, params: dict[str, Any]) -> dict[str, Any]:
    topology = params["topology"]
    namespaces = [n for n in params["namespaces"] if n]
    path = topology_path(topology, namespaces, params["include_pseudo"])
    nodes = parse_topology(topology, fetcher.get(path))
    pods_by_id = None
    if topology == "containers":
        pods_path = topology_path("pods", namespaces, False)
        pods_by_id = pod_namespaces(parse_topology("pods", fetcher.get(pods_path)))
    kept = select_nodes(topology, nodes, namespaces, params["include_pseudo"], pods_by_id)
    result = summarize(topology, kept)
    result["url"] = fetcher.where(path)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            topology=dict(type="str", default="pods", choices=list(TOPOLOGIES)),
            namespaces=dict(type="list", elements="str", default=[], aliases=["namespace"]),
            include_pseudo=dict(type="bool", default=False),
            url=dict(type="str"),
            url_username=dict(type="str"),
            url_password=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            scope_namespace=dict(type="str", default="weave"),
            service=dict(type="str", default="weave-scope-app"),
            service_port=dict(type="str", default="80"),
            request_timeout=dict(type="int", default=20),
        ),
        mutually_exclusive=[("url", "kubeconfig"), ("url", "context")],
        required_by={"url_username": "url", "url_password": "url"},
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["url"]:
            fetcher: DirectFetcher | ProxyFetcher = DirectFetcher(module)
        else:
            if not HAS_KUBERNETES:
                module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
            fetcher = ProxyFetcher(module)
        result = read_topology(fetcher, p)
    except ScopeUnreachable as exc:
        module.fail_json(msg=str(exc))
    except ScopeFormatError as exc:
        module.fail_json(msg=f"Scope's answer does not look like a Scope 1.13 topology: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
