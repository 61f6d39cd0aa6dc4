#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kiali_graph
short_description: Read which services talked to which from Kiali's graph API
version_added: 0.1.0
description:
  - Asks Kiali (the Istio addon) for the traffic graph of some namespaces over a recent duration
    and returns its edges named C(<namespace>/<app>), the way the mesh report names workloads.
  - By default Kiali is reached through the API server's service proxy
    (C(/api/v1/namespaces/istio-system/services/kiali:20001/proxy/kiali/api/namespaces/graph)) with
    kubernetes.core's API server options, so Kiali never has to be exposed. With O(url), Kiali is asked
    directly (for example behind C(kubectl -n istio-system port-forward svc/kiali 20001)).
  - Kiali builds the graph from Istio's telemetry in Prometheus; an edge means requests really
    flowed in the last O(duration) seconds.
  - Reads only; never changes Kiali or the cluster.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  namespaces:
    description: Namespaces whose graph is drawn. Edges are kept when one end is in them.
    type: list
    elements: str
    required: true
  graph_type:
    description: Kiali's graph type; versions of an app are merged into one node in any case.
    type: str
    choices: [app, versionedApp, workload, service]
    default: app
  duration:
    description: Seconds of telemetry the graph covers.
    type: int
    default: 600
  include_idle:
    description: Keep edges that carried no traffic in O(duration).
    type: bool
    default: false
  kiali_namespace:
    description: Namespace of Kiali's Service (service proxy only).
    type: str
    default: istio-system
  service:
    description: Name of Kiali's Service (service proxy only).
    type: str
    default: kiali
  service_port:
    description: Port (number or name) of Kiali's Service (service proxy only).
    type: str
    default: "20001"
  web_root:
    description: Kiali's web root (C(server.web_root) in its configuration).
    type: str
    default: /kiali
  request_timeout:
    description: Seconds to wait for the answer.
    type: int
    default: 30
requirements:
  - kubernetes >= 24.2.0 (Python client), for the service proxy
extends_documentation_fragment:
  - meshlab.service_mesh.read_only
  - meshlab.service_mesh.service_json
  - kubernetes.core.k8s_auth_options
notes:
  - Kiali's C(anonymous) strategy (the Istio sample addon) needs no login. Other strategies need a
    token; reach Kiali through O(url) behind a proxy that adds it.
seealso:
  - name: Kiali graph API
    description: The graph endpoint and its parameters.
    link: https://kiali.io/docs/configuration/
"""

EXAMPLES = r"""
- name: Which BookInfo services talked in the last 10 minutes is known
  meshlab.service_mesh.kiali_graph:
    kubeconfig: "{{ meshlab_cluster.kubeconfig }}"
    context: "{{ meshlab_cluster.context }}"
    namespaces: [bookinfo]
  register: bookinfo_traffic

- name: Who talks to whom is shown
  ansible.builtin.debug:
    msg: "{{ item.source }} -> {{ item.target }} ({{ item.protocol }}, {{ item.rate }}/s)"
  loop: "{{ bookinfo_traffic.edges }}"
"""

RETURN = r"""
edges:
  description: Calls Kiali saw, one per caller and callee app.
  returned: success
  type: list
  elements: dict
  sample: [{"source": "bookinfo/productpage", "target": "bookinfo/reviews", "protocol": "http",
            "rate": 0.8, "evidence": ["kiali"]}]
nodes:
  description: Apps (and C(unknown) callers) in the graph, with the versions Kiali saw.
  returned: success
  type: list
  elements: dict
  sample: [{"id": "bookinfo/reviews", "namespace": "bookinfo", "node_type": "app", "versions": ["v1", "v2"]}]
edge_count:
  description: Number of edges returned.
  returned: success
  type: int
  sample: 4
url:
  description: The URL that was asked (the service proxy's, or below O(url)).
  returned: success
  type: str
  sample: https://127.0.0.1:6443/api/v1/namespaces/istio-system/services/kiali:20001/proxy/kiali/api/namespaces/graph
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshlab.service_mesh.plugins.module_utils import service_json
from ansible_collections.meshlab.service_mesh.plugins.module_utils.kiali import (
    GRAPH_TYPES,
    KialiFormatError,
    graph_path,
    parse_graph,
)


def main() -> None:
    argument_spec = service_json.argument_spec(
        namespace_option="kiali_namespace",
        namespace="istio-system",
        service="kiali",
        service_port="20001",
        request_timeout=30,
    )
    argument_spec.update(
        namespaces=dict(type="list", elements="str", required=True),
        graph_type=dict(type="str", default="app", choices=list(GRAPH_TYPES)),
        duration=dict(type="int", default=600),
        include_idle=dict(type="bool", default=False),
        web_root=dict(type="str", default="/kiali"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=service_json.MUTUALLY_EXCLUSIVE,
        required_by=service_json.REQUIRED_BY,
        supports_check_mode=True,
    )
    p = module.params
    namespaces = [n for n in p["namespaces"] if n]
    try:
        path = graph_path(namespaces, p["graph_type"], p["duration"], p["web_root"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    kiali = service_json.open_service(module, "Kiali", "kiali_namespace")
    try:
        graph = parse_graph(kiali.get(path), namespaces, p["include_idle"])
    except service_json.ServiceUnreachable as exc:
        module.fail_json(msg=str(exc))
    except KialiFormatError as exc:
        module.fail_json(msg=f"Kiali's answer does not look like its graph API: {exc}")
    module.exit_json(changed=False, url=kiali.where(path), edge_count=len(graph["edges"]), **graph)


if __name__ == "__main__":
    main()
