"""The mesh report's Markdown (__mesh_report_markdown_now, roles/mesh_report/vars/main.yml) from a cluster_read result.

Rendered with Jinja2 as Ansible configures it for templates (trim_blocks) and the collection's own filters; molecule
default and tests/integration/test_report_live_shapes.py render it through the role on the simulated clusters.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "mesh_report"


def _filters() -> ModuleType:
    """The collection's report filters, loaded from the checkout (no collection path needed)."""
    spec = importlib.util.spec_from_file_location("mesh_report_filters", REPO / "plugins" / "filter" / "mesh_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mr = _filters()
ISTIO_KINDS = ["Gateway", "VirtualService", "DestinationRule", "PeerAuthentication", "AuthorizationPolicy"]


def render(**context: Any) -> str:
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    for name, func in mr.FilterModule().filters().items():
        env.filters[f"meshlab.service_mesh.{name}"] = func
    source = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__mesh_report_markdown_now"]
    return env.from_string(source).render(**context)


def pod(name: str, app: str, sidecar: bool = True) -> dict[str, Any]:
    containers = [{"name": app}] + ([{"name": "istio-proxy"}] if sidecar else [])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "bookinfo", "labels": {"app": app}},
        "spec": {"containers": containers, "serviceAccountName": f"bookinfo-{app}"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def resources(**over: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    base: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ["Pod", "Service", *ISTIO_KINDS]}
    base.update(over)
    return base


CLUSTER = {
    "platform": "kubernetes",
    "kubernetes_version": "1.35.4",
    "openshift_version": "",
    "provider": "kwok",
    "simulated": True,
    "api_url": "https://127.0.0.1:6443",
}


def test_the_report_lists_workloads_istio_objects_and_services_by_kind() -> None:
    pods = [pod("productpage-v1-1", "productpage"), pod("details-v1-1", "details", sidecar=False)]
    read = {
        "resources": resources(
            Pod=pods,
            Service=[
                {
                    "metadata": {"namespace": "bookinfo", "name": "productpage"},
                    "spec": {"type": "ClusterIP", "ports": [{"port": 9080}]},
                }
            ],
            PeerAuthentication=[
                {"metadata": {"namespace": "istio-system", "name": "default"}, "spec": {"mtls": {"mode": "STRICT"}}}
            ],
            AuthorizationPolicy=[
                {"metadata": {"namespace": "bookinfo", "name": "deny-all"}, "spec": {}},
                {
                    "metadata": {"namespace": "bookinfo", "name": "details"},
                    "spec": {"action": "ALLOW", "rules": [{"from": []}]},
                },
            ],
        ),
        "missing_apis": [],
    }
    graph = mr.mesh_graph(mr.mesh_workloads(pods))
    text = render(
        __mesh_report_cluster=CLUSTER,
        __mesh_report_read=read,
        __mesh_report_graph=graph,
        __mesh_report_istio_kinds=ISTIO_KINDS,
        mesh_report_namespaces=["bookinfo", "istio-system"],
    )
    assert "Cluster: kubernetes 1.35.4\n(kwok, simulated: no container runs)," in text
    assert "Namespaces: bookinfo, istio-system." in text
    assert "| bookinfo | productpage | 1/1 | yes | bookinfo-productpage |" in text
    assert "| bookinfo | details | 1/1 | NO | bookinfo-details |" in text
    assert "- **PeerAuthentication** (1): `istio-system/default` (mTLS STRICT)" in text
    assert (
        "- **AuthorizationPolicy** (2): `bookinfo/deny-all` (ALLOW, deny by default), `bookinfo/details` (ALLOW)"
        in text
    )
    assert "- **Gateway** (0):" in text
    assert "- `bookinfo/productpage` ClusterIP 9080" in text
    assert "Not served by this cluster" not in text


def test_kinds_the_cluster_does_not_serve_are_named() -> None:
    read = {"resources": resources(), "missing_apis": ["Gateway", "AuthorizationPolicy", "scope_service"]}
    text = render(
        __mesh_report_cluster=dict(CLUSTER, simulated=False),
        __mesh_report_read=read,
        __mesh_report_graph=mr.mesh_graph([]),
        __mesh_report_istio_kinds=ISTIO_KINDS,
        mesh_report_namespaces=["bookinfo"],
    )
    assert "Not served by this cluster (Istio's CRDs are not installed): Gateway, AuthorizationPolicy." in text
    assert "simulated" not in text
