#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_facts
short_description: Describe a cluster as the C(meshlab_cluster) fact
version_added: 0.1.0
description:
  - Connects to the cluster a kubeconfig context names and returns what the lab's roles need to
    know about it, in the shape of the C(meshlab_cluster) fact; platform (C(openshift) when any
    OpenShift API group is served), Kubernetes and OpenShift versions, API URL and routing suffix.
  - The one place where the collection detects a cluster; the C(weave_scope) and C(istio) roles
    call it when no C(meshlab_cluster) fact was handed to them.
  - Reads only; never changes the cluster.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  kubeconfig:
    description: Path of the kubeconfig file. Defaults to the client's default (C(~/.kube/config) or C(KUBECONFIG)).
    type: path
  context:
    description: Context to use. Defaults to the kubeconfig's current context.
    type: str
  provider:
    description: Which provider made the cluster; copied into the fact.
    type: str
    choices: [minishift, crc, kwok, existing]
    default: existing
  simulated:
    description:
      - Whether the cluster's nodes are simulated (kwok), so that no container ever runs.
      - When not given, detected from the nodes; true when every node carries kwok's annotation
        C(kwok.x-k8s.io/node=fake).
    type: bool
  openshift_version:
    description:
      - OpenShift version when the caller already knows it (for example from C(minishift status)).
      - Otherwise read from the C(ClusterVersion) object (OpenShift 4) or C(/version/openshift) (OpenShift 3).
    type: str
  routing_suffix:
    description:
      - Suffix of generated Route hosts when the caller knows it (for example C(<ip>.nip.io) on Minishift).
      - Otherwise read from C(ingresses.config.openshift.io/cluster) on OpenShift 4.
    type: str
  request_timeout:
    description: Seconds to wait for each API answer.
    type: int
    default: 20
requirements:
  - kubernetes >= 24.2.0 (Python client)
extends_documentation_fragment:
  - meshlab.service_mesh.read_only
notes:
  - TLS is verified as the kubeconfig says; this module adds no way around it.
"""

EXAMPLES = r"""
- name: The cluster is described
  meshlab.service_mesh.cluster_facts:
    kubeconfig: ~/.kube/config
    context: minishift
    provider: minishift
    routing_suffix: 192.168.42.10.nip.io
  register: lab_cluster

- name: Other roles know where the cluster is
  ansible.builtin.set_fact:
    meshlab_cluster: "{{ lab_cluster.cluster }}"
"""

RETURN = r"""
cluster:
  description: The C(meshlab_cluster) fact.
  returned: success
  type: dict
  contains:
    provider:
      description: minishift, crc, kwok or existing.
      type: str
      sample: kwok
    kubeconfig:
      description: Kubeconfig file used.
      type: str
      sample: /home/me/.kube/config
    context:
      description: Context used.
      type: str
      sample: minishift
    api_url:
      description: URL of the API server.
      type: str
      sample: https://192.168.42.10:8443
    platform:
      description: openshift or kubernetes, from the API groups served.
      type: str
      sample: openshift
    kubernetes_version:
      description: Kubernetes version of the API server, as X.Y.Z.
      type: str
      sample: 1.11.0
    openshift_version:
      description: OpenShift version as X.Y.Z; null on plain Kubernetes.
      type: str
      sample: 3.11.0
    routing_suffix:
      description: Suffix of Route hosts; null where there is none.
      type: str
      sample: 192.168.42.10.nip.io
    simulated:
      description: True when no container runs (kwok nodes).
      type: bool
      sample: false
api_groups:
  description: API groups the server serves.
  returned: success
  type: list
  elements: str
  sample: [apps, route.openshift.io]
"""

import json
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.meshlab.service_mesh.plugins.module_utils.cluster import (
    build_cluster_fact,
    nodes_are_simulated,
    normalize_version,
    openshift_version_from_clusterversion,
    platform_from_groups,
    routing_suffix_from_ingress,
)
from ansible_collections.meshlab.service_mesh.plugins.module_utils.kube_api import (
    KubeApiError,
    new_api_client,
    raw_get,
)

try:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()


def _raw_get(api_client, path, timeout):
    """GET a path that has no generated API class (``/version/openshift``)."""
    status, reason, raw = raw_get(api_client, path, timeout)
    if status >= 400:
        raise KubeApiError(f"GET {path}: HTTP {status} {reason}")
    return json.loads(raw)


def _get_cluster_object(custom, group, plural, name, timeout):
    try:
        return custom.get_cluster_custom_object(group, "v1", plural, name, _request_timeout=timeout)
    except ApiException as exc:
        if exc.status in (403, 404):
            return None
        raise


def _openshift_details(api_client, groups, openshift_version, routing_suffix, timeout):
    """OpenShift version and routing suffix, from what the caller knows, else from the API."""
    custom = client.CustomObjectsApi(api_client)
    has_config_api = "config.openshift.io" in groups
    if openshift_version is None and has_config_api:
        cv = _get_cluster_object(custom, "config.openshift.io", "clusterversions", "version", timeout)
        openshift_version = openshift_version_from_clusterversion(cv)
    if openshift_version is None:
        try:
            openshift_version = normalize_version(_raw_get(api_client, "/version/openshift", timeout).get("gitVersion"))
        except Exception:  # OpenShift 4 and emulations do not serve it
            openshift_version = None
    if routing_suffix is None and has_config_api:
        ingress = _get_cluster_object(custom, "config.openshift.io", "ingresses", "cluster", timeout)
        routing_suffix = routing_suffix_from_ingress(ingress)
    return openshift_version, routing_suffix


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            provider=dict(type="str", default="existing", choices=["minishift", "crc", "kwok", "existing"]),
            simulated=dict(type="bool"),
            openshift_version=dict(type="str"),
            routing_suffix=dict(type="str"),
            request_timeout=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)

    p = module.params
    timeout = p["request_timeout"]
    try:
        api_client, kubeconfig, context = new_api_client(p["kubeconfig"], p["context"])
    except KubeApiError as exc:
        module.fail_json(msg=str(exc))

    api_url = api_client.configuration.host
    try:
        version = client.VersionApi(api_client).get_code(_request_timeout=timeout)
        groups = [g.name for g in client.ApisApi(api_client).get_api_versions(_request_timeout=timeout).groups]
    except Exception as exc:  # any transport error: the API is not reachable
        module.fail_json(msg=f"cannot reach the API server {api_url} (context {context}): {exc}")

    openshift_version = normalize_version(p["openshift_version"]) if p["openshift_version"] else None
    routing_suffix = p["routing_suffix"]
    if platform_from_groups(groups) == "openshift":
        openshift_version, routing_suffix = _openshift_details(
            api_client, groups, openshift_version, routing_suffix, timeout
        )
    simulated = p["simulated"]
    if simulated is None:
        try:
            nodes = client.CoreV1Api(api_client).list_node(_request_timeout=timeout).items
        except ApiException as exc:
            module.fail_json(msg=f"cannot list nodes to tell whether the cluster is simulated: {exc.reason}")
        simulated = nodes_are_simulated([(n.metadata.annotations or {}) for n in nodes])

    try:
        fact = build_cluster_fact(
            provider=p["provider"],
            kubeconfig=kubeconfig,
            context=context,
            api_url=api_url,
            groups=groups,
            kubernetes_git_version=version.git_version,
            openshift_version=openshift_version,
            routing_suffix=routing_suffix,
            simulated=simulated,
        )
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, cluster=fact, api_groups=sorted(groups))


if __name__ == "__main__":
    main()
