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
    the kubeconfig's credentials, so Kiali never has to be exposed. With O(url), Kiali is asked
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
  url:
    description:
      - Base URL of Kiali, for example C(http://127.0.0.1:20001). Without it, the service proxy is used.
    type: str
  validate_certs:
    description: Verify the TLS certificate of O(url).
    type: bool
    default: true
  kubeconfig:
    description: Kubeconfig for the service proxy. Defaults to C(KUBECONFIG), then C(~/.kube/config).
    type: path
  context:
    description: Kubeconfig context for the service proxy. Defaults to the current context.
    type: str
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

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url
from ansible_collections.meshlab.service_mesh.plugins.module_utils.kiali import (
    GRAPH_TYPES,
    KialiFormatError,
    graph_path,
    parse_graph,
)
from ansible_collections.meshlab.service_mesh.plugins.module_utils.kube_api import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeApiError,
    new_api_client,
    raw_get,
    service_proxy_prefix,
)


def _decode(raw: bytes, where: str) -> Any:
    try:
        return json.loads(to_text(raw, errors="surrogate_or_strict"))
    except ValueError as exc:
        snippet = to_text(raw, errors="surrogate_or_replace")[:200]
        raise KubeApiError(f"Kiali at {where} did not answer with JSON ({exc}): {snippet!r}") from exc


def fetch_direct(params: dict[str, Any], path: str) -> tuple[str, Any]:
    url = params["url"].rstrip("/") + path
    try:
        resp = open_url(
            url,
            method="GET",
            headers={"Accept": "application/json"},
            validate_certs=params["validate_certs"],
            timeout=params["request_timeout"],
        )
        raw = resp.read()
    except Exception as exc:  # HTTPError, URLError, socket and TLS errors alike
        raise KubeApiError(f"Kiali at {url} did not answer: {exc}") from exc
    return url, _decode(raw, url)


def fetch_through_proxy(params: dict[str, Any], path: str) -> tuple[str, Any]:
    api, _kubeconfig, _context = new_api_client(params["kubeconfig"], params["context"])
    proxied = service_proxy_prefix(params["kiali_namespace"], params["service"], params["service_port"]) + path
    url = api.configuration.host + proxied
    status, reason, raw = raw_get(api, proxied, params["request_timeout"])
    if status >= 400:
        body = to_text(raw, errors="surrogate_or_replace").strip()[:300]
        raise KubeApiError(
            f"Kiali did not answer through the API server's service proxy ({url}): HTTP {status} {reason}: {body} "
            f"(is Kiali running? kubectl -n {params['kiali_namespace']} get pods,endpoints {params['service']})"
        )
    return url, _decode(raw, url)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            namespaces=dict(type="list", elements="str", required=True),
            graph_type=dict(type="str", default="app", choices=list(GRAPH_TYPES)),
            duration=dict(type="int", default=600),
            include_idle=dict(type="bool", default=False),
            url=dict(type="str"),
            validate_certs=dict(type="bool", default=True),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            kiali_namespace=dict(type="str", default="istio-system"),
            service=dict(type="str", default="kiali"),
            service_port=dict(type="str", default="20001"),
            web_root=dict(type="str", default="/kiali"),
            request_timeout=dict(type="int", default=30),
        ),
        mutually_exclusive=[("url", "kubeconfig"), ("url", "context")],
        supports_check_mode=True,
    )
    p = module.params
    namespaces = [n for n in p["namespaces"] if n]
    try:
        path = graph_path(namespaces, p["graph_type"], p["duration"], p["web_root"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        if p["url"]:
            url, doc = fetch_direct(p, path)
        else:
            if not HAS_KUBERNETES:
                module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
            url, doc = fetch_through_proxy(p, path)
        graph = parse_graph(doc, namespaces, p["include_idle"])
    except KubeApiError as exc:
        module.fail_json(msg=str(exc))
    except KialiFormatError as exc:
        module.fail_json(msg=f"Kiali's answer does not look like its graph API: {exc}")
    module.exit_json(changed=False, url=url, edge_count=len(graph["edges"]), **graph)


if __name__ == "__main__":
    main()
