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
    (C(/api/v1/namespaces/<ns>/services/weave-scope-app:80/proxy/...)) with kubernetes.core's
    API server options, so Scope never has to be exposed. With O(url), Scope is asked directly (a
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
  - meshlab.service_mesh.service_json
  - kubernetes.core.k8s_auth_options
notes:
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

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshlab.service_mesh.plugins.module_utils import service_json
from ansible_collections.meshlab.service_mesh.plugins.module_utils.scope import (
    TOPOLOGIES,
    ScopeFormatError,
    parse_topology,
    pod_namespaces,
    select_nodes,
    summarize,
    topology_path,
)


def read_topology(fetcher: service_json.ServiceJson, params: dict[str, Any]) -> dict[str, Any]:
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
    argument_spec = service_json.argument_spec(
        namespace_option="scope_namespace",
        namespace="weave",
        service="weave-scope-app",
        service_port="80",
        request_timeout=20,
    )
    argument_spec.update(
        topology=dict(type="str", default="pods", choices=list(TOPOLOGIES)),
        namespaces=dict(type="list", elements="str", default=[], aliases=["namespace"]),
        include_pseudo=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=service_json.MUTUALLY_EXCLUSIVE,
        required_by=service_json.REQUIRED_BY,
        supports_check_mode=True,
    )
    fetcher = service_json.open_service(module, "Scope", "scope_namespace")
    try:
        result = read_topology(fetcher, module.params)
    except service_json.ServiceUnreachable as exc:
        module.fail_json(msg=str(exc))
    except ScopeFormatError as exc:
        module.fail_json(msg=f"Scope's answer does not look like a Scope 1.13 topology: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
