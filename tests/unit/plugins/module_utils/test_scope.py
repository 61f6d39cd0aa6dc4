"""Reading Weave Scope answers (plugins/module_utils/scope.py) on JSON shaped like Scope 1.13.2's API.

The fixtures follow ``app/api_topology.go`` and ``render/detailed/summary.go`` at v1.13.2:
``{"nodes": {<id>: {id, label, labelMinor, rank, shape, pseudo, metadata, parents, adjacency}}}``;
pods and services are ranked ``<namespace>/<name>`` and identified ``<uid>;<pod>`` and
``<uid>;<service>`` (the tag written literally, ``report/id.go``), hosts ``<hostname>;<host>``,
containers ``<container id>;<container>``; the Internet is a pseudo node.
They describe BookInfo on a one-node Minishift with Scope in namespace weave.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible_collections.meshlab.service_mesh.plugins.module_utils import scope as s

HOST = "minishift"
HOST_ID = f"{HOST};<host>"

UID = {
    "productpage": "4b9f0c3e-2f0a-4e36-9d38-6f0c1e0b9a11",
    "details": "8a1e6f52-5c1d-4bb8-a0f6-0d6b8f3f1a22",
    "reviews-v1": "0f5b2c8d-7c4e-4a8f-9b1d-2e3f4a5b6c33",
    "reviews-v2": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c44",
    "ratings": "9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c55",
    "scope-app": "5d6c7b8a-9f0e-4d1c-2b3a-4f5e6d7c8b66",
    "scope-agent": "6e7f8a9b-0c1d-4e2f-3a4b-5c6d7e8f9a77",
}
PODS = {
    "productpage": ("bookinfo", "productpage-v1-6b746f74dc-9stvs"),
    "details": ("bookinfo", "details-v1-5498c86cf5-kqm8w"),
    "reviews-v1": ("bookinfo", "reviews-v1-5fd6d4f8f8-66j45"),
    "reviews-v2": ("bookinfo", "reviews-v2-6f9b55c5db-c94m2"),
    "ratings": ("bookinfo", "ratings-v1-b6994bb9-8j5vn"),
    "scope-app": ("weave", "weave-scope-app-7bbd849c6f-x6h7x"),
    "scope-agent": ("weave", "weave-scope-agent-fqrc6"),
}


def pod_id(key: str) -> str:
    return f"{UID[key]};<pod>"


def _pod(key: str, adjacency: list[str], containers: int = 2) -> dict[str, Any]:
    namespace, name = PODS[key]
    controller = name.rsplit("-", 2)[0] if key != "scope-agent" else "weave-scope-agent"
    return {
        "id": pod_id(key),
        "label": name,
        "labelMinor": f"{containers} containers" if containers != 1 else "1 container",
        "rank": f"{namespace}/{name}",
        "shape": "heptagon",
        "metadata": [
            {"id": "kubernetes_state", "label": "State", "value": "Running", "priority": 2},
            {"id": "kubernetes_ip", "label": "IP", "value": "172.17.0.9", "priority": 3, "dataType": "ip"},
            {"id": "container", "label": "# Containers", "value": str(containers), "priority": 4, "dataType": "number"},
            {"id": "kubernetes_namespace", "label": "Namespace", "value": namespace, "priority": 5},
            {
                "id": "kubernetes_created",
                "label": "Created",
                "value": "2026-11-25T21:58:03Z",
                "priority": 6,
                "dataType": "datetime",
            },
        ],
        "parents": [
            {"id": f"{UID[key][::-1]};<deployment>", "label": controller, "topologyId": "kube-controllers"},
            {"id": HOST_ID, "label": HOST, "topologyId": "hosts"},
        ],
        "metrics": [
            {"id": "memory_usage_bytes", "label": "Memory", "format": "filesize", "value": 81043456.0, "priority": 2},
        ],
        "adjacency": adjacency,
    }


# GET /api/topology/pods?pseudo=show (a recorded shape, as Scope renders it).
PODS_TOPOLOGY: dict[str, Any] = {
    "nodes": {
        pod_id("productpage"): _pod("productpage", [pod_id("details"), pod_id("reviews-v2"), pod_id("reviews-v1")]),
        pod_id("details"): _pod("details", []),
        pod_id("reviews-v1"): _pod("reviews-v1", []),
        pod_id("reviews-v2"): _pod("reviews-v2", [pod_id("ratings"), "out-theinternet"]),
        pod_id("ratings"): _pod("ratings", []),
        pod_id("scope-app"): _pod("scope-app", [], containers=1),
        pod_id("scope-agent"): _pod("scope-agent", [pod_id("scope-app")], containers=1),
        "in-theinternet": {
            "id": "in-theinternet",
            "label": "The Internet",
            "labelMinor": "Inbound connections",
            "rank": "theinternet",
            "shape": "cloud",
            "pseudo": True,
            "adjacency": [pod_id("productpage")],
        },
        "out-theinternet": {
            "id": "out-theinternet",
            "label": "The Internet",
            "labelMinor": "Outbound connections",
            "rank": "theinternet",
            "shape": "cloud",
            "pseudo": True,
        },
        f"pseudo:unmanaged:{HOST}": {
            "id": f"pseudo:unmanaged:{HOST}",
            "label": "Unmanaged",
            "labelMinor": HOST,
            "rank": f"unmanaged:{HOST}",
            "shape": "square",
            "stack": True,
            "pseudo": True,
            "adjacency": [pod_id("scope-app")],
        },
    }
}


def svc_id(i: int) -> str:
    return f"b7d2{i}-5c1e-4d2a-9f3b-{i:012d};<service>"


SERVICES_TOPOLOGY: dict[str, Any] = {
    "nodes": {
        f"b7d2{i}-5c1e-4d2a-9f3b-{i:012d};<service>": {
            "id": f"b7d2{i}-5c1e-4d2a-9f3b-{i:012d};<service>",
            "label": name,
            "labelMinor": "1 pod" if name != "reviews" else "3 pods",
            "rank": f"{ns}/{name}",
            "shape": "heptagon",
            "stack": True,
            "metadata": [{"id": "kubernetes_ip", "label": "Internal IP", "value": f"172.30.0.{10 + i}", "priority": 3}],
            "adjacency": adj,
        }
        for i, (ns, name, adj) in enumerate(
            [
                ("bookinfo", "productpage", [svc_id(1), svc_id(2)]),
                ("bookinfo", "details", []),
                ("bookinfo", "reviews", [svc_id(3)]),
                ("bookinfo", "ratings", []),
                ("weave", "weave-scope-app", []),
            ]
        )
    }
}

CONTAINER_ID = {
    "productpage": "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2",
    "proxy": "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
    "scope": "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f",
    "registry": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
}


def _container(key: str, name: str, image: str, pod: str | None, adjacency: list[str]) -> dict[str, Any]:
    parents = [{"id": f"{image};<container_image>", "label": image, "topologyId": "containers-by-image"}]
    if pod:
        parents.insert(0, {"id": pod_id(pod), "label": PODS[pod][1], "topologyId": "pods"})
    parents.append({"id": HOST_ID, "label": HOST, "topologyId": "hosts"})
    return {
        "id": f"{CONTAINER_ID[key]};<container>",
        "label": name,
        "labelMinor": HOST,
        "rank": image,
        "shape": "hexagon",
        "metadata": [
            {"id": "docker_image_name", "label": "Image", "value": image + ":1.20.2", "priority": 1},
            {"id": "docker_container_state_human", "label": "State", "value": "Up 2 hours", "priority": 3},
        ],
        "parents": parents,
        "adjacency": adjacency,
    }


def cid(key: str) -> str:
    return f"{CONTAINER_ID[key]};<container>"


CONTAINERS_TOPOLOGY: dict[str, Any] = {
    "nodes": {
        cid("productpage"): _container(
            "productpage", "productpage", "docker.io/istio/examples-bookinfo-productpage-v1", "productpage", []
        ),
        cid("proxy"): _container("proxy", "istio-proxy", "docker.io/istio/proxyv2", "productpage", [cid("scope")]),
        cid("scope"): _container("scope", "app", "docker.io/weaveworks/scope", "scope-app", []),
        # A container of no pod (Minishift's own registry run by Docker directly).
        cid("registry"): _container("registry", "registry", "docker.io/openshift/origin-docker-registry", None, []),
        f"pseudo:uncontained:{HOST}": {
            "id": f"pseudo:uncontained:{HOST}",
            "label": "Uncontained",
            "labelMinor": HOST,
            "rank": f"uncontained:{HOST}",
            "shape": "square",
            "stack": True,
            "pseudo": True,
        },
    }
}

HOSTS_TOPOLOGY: dict[str, Any] = {
    "nodes": {
        "minishift;<host>": {
            "id": "minishift;<host>",
            "label": "minishift",
            "labelMinor": "",
            "rank": "",
            "shape": "circle",
            "metadata": [{"id": "os", "label": "OS", "value": "linux", "priority": 10}],
            "adjacency": ["node-1.lab.example;<host>"],
        },
        "node-1.lab.example;<host>": {
            "id": "node-1.lab.example;<host>",
            "label": "node-1",
            "labelMinor": "lab.example",
            "rank": "lab.example",
            "shape": "circle",
        },
    }
}

CONTROLLERS_TOPOLOGY: dict[str, Any] = {
    "nodes": {
        "c0ffee01-aaaa-4bbb-8ccc-000000000001;<deployment>": {
            "id": "c0ffee01-aaaa-4bbb-8ccc-000000000001;<deployment>",
            "label": "productpage-v1",
            "labelMinor": "Deployment of 1 pod",
            "rank": "bookinfo/productpage-v1",
            "shape": "heptagon",
            "stack": True,
            "adjacency": ["c0ffee02-aaaa-4bbb-8ccc-000000000002;<deployment>"],
        },
        "c0ffee02-aaaa-4bbb-8ccc-000000000002;<deployment>": {
            "id": "c0ffee02-aaaa-4bbb-8ccc-000000000002;<deployment>",
            "label": "reviews-v2",
            "labelMinor": "Deployment of 1 pod",
            "rank": "bookinfo/reviews-v2",
            "shape": "heptagon",
            "stack": True,
        },
        "c0ffee03-aaaa-4bbb-8ccc-000000000003;<daemonset>": {
            "id": "c0ffee03-aaaa-4bbb-8ccc-000000000003;<daemonset>",
            "label": "weave-scope-agent",
            "labelMinor": "DaemonSet of 1 pod",
            "rank": "weave/weave-scope-agent",
            "shape": "pentagon",
            "stack": True,
        },
    }
}


# --- paths -------------------------------------------------------------------------------


def test_topology_path_uses_scope_options() -> None:
    assert s.topology_path("pods") == "/api/topology/pods?pseudo=hide"
    assert s.topology_path("pods", include_pseudo=True) == "/api/topology/pods?pseudo=show"
    assert s.topology_path("services", ["weave", "bookinfo", "bookinfo"]) == (
        "/api/topology/services?namespace=bookinfo,weave&pseudo=hide"
    )
    assert s.topology_path("kube-controllers", []) == "/api/topology/kube-controllers?pseudo=hide"


def test_topology_path_refuses_unknown_topologies() -> None:
    with pytest.raises(ValueError, match="topology must be one of pods, services"):
        s.topology_path("processes")


# --- parsing -------------------------------------------------------------------------------


def test_pods_are_named_by_kubernetes_name_and_namespace() -> None:
    nodes = {n.id: n for n in s.parse_topology("pods", PODS_TOPOLOGY)}
    page = nodes[pod_id("productpage")]
    assert page.name == "productpage-v1-6b746f74dc-9stvs"
    assert page.namespace == "bookinfo"
    assert page.key == "bookinfo/productpage-v1-6b746f74dc-9stvs"
    assert page.shape == "heptagon"
    assert not page.pseudo
    assert page.adjacency == sorted([pod_id("details"), pod_id("reviews-v2"), pod_id("reviews-v1")])
    assert {"id": HOST_ID, "label": HOST, "topology": "hosts"} in page.parents
    assert nodes["in-theinternet"].pseudo
    assert nodes["in-theinternet"].namespace is None
    assert nodes[f"pseudo:unmanaged:{HOST}"].pseudo


def test_ids_split_into_component_and_tag() -> None:
    assert s.split_id("minishift;<host>") == ("minishift", "host")
    assert s.split_id(pod_id("details")) == (UID["details"], "pod")
    assert s.split_id("in-theinternet") == ("in-theinternet", "")
    assert s.split_id("pseudo:unmanaged:minishift") == ("pseudo:unmanaged:minishift", "")


def test_a_missing_label_falls_back_to_the_id() -> None:
    doc = {"nodes": {"node-2.lab.example;<host>": {"shape": "circle"}, pod_id("details"): {"rank": "bookinfo/details"}}}
    nodes = {n.id: n for n in s.parse_topology("hosts", doc)}
    assert nodes["node-2.lab.example;<host>"].key == "node-2.lab.example"
    (pod,) = [n for n in s.parse_topology("pods", doc) if n.id == pod_id("details")]
    assert pod.key == "bookinfo/details"


def test_pseudo_nodes_are_recognised_without_the_flag() -> None:
    doc = {"nodes": {"out-theinternet": {"id": "out-theinternet", "label": "The Internet"}}}
    (node,) = s.parse_topology("pods", doc)
    assert node.pseudo
    assert node.key == "out-theinternet"


def test_nodes_come_back_sorted_by_key() -> None:
    keys = [n.key for n in s.parse_topology("pods", PODS_TOPOLOGY)]
    assert keys == sorted(keys)


def test_services_and_controllers_use_the_rank() -> None:
    services = s.parse_topology("services", SERVICES_TOPOLOGY)
    assert [n.key for n in services] == [
        "bookinfo/details",
        "bookinfo/productpage",
        "bookinfo/ratings",
        "bookinfo/reviews",
        "weave/weave-scope-app",
    ]
    controllers = s.parse_topology("kube-controllers", CONTROLLERS_TOPOLOGY)
    assert {n.key: n.namespace for n in controllers} == {
        "bookinfo/productpage-v1": "bookinfo",
        "bookinfo/reviews-v2": "bookinfo",
        "weave/weave-scope-agent": "weave",
    }


def test_hosts_are_named_by_host_name() -> None:
    hosts = {n.key: n for n in s.parse_topology("hosts", HOSTS_TOPOLOGY)}
    assert set(hosts) == {"minishift", "node-1.lab.example"}
    assert hosts["node-1.lab.example"].label == "node-1"
    assert hosts["minishift"].namespace is None


def test_containers_are_keyed_by_pod_and_name() -> None:
    containers = {n.id: n for n in s.parse_topology("containers", CONTAINERS_TOPOLOGY)}
    assert containers[cid("proxy")].key == "productpage-v1-6b746f74dc-9stvs/istio-proxy"
    assert containers[cid("proxy")].name == "istio-proxy"
    assert containers[cid("registry")].key == "registry@minishift"
    assert containers[cid("registry")].namespace is None


def test_empty_and_null_topologies() -> None:
    assert s.parse_topology("pods", {"nodes": {}}) == []
    assert s.parse_topology("pods", {"nodes": None}) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "object with a 'nodes' key"),
        ({"topology": "pods"}, "object with a 'nodes' key"),
        ({"nodes": []}, "keyed by node id"),
        ({"nodes": {"a;b": "pod"}}, "should be an object"),
        ({"nodes": {"a;b": {"label": 5}}}, "'label' should be a string"),
        ({"nodes": {"a;b": {"adjacency": "c;d"}}}, "list of node ids"),
        ({"nodes": {"a;b": {"parents": {"id": "x"}}}}, "'parents' should be a list"),
        ({"nodes": {"a;b": {"parents": ["x"]}}}, "each parent should be an object"),
    ],
)
def test_wrong_shapes_are_refused(document: Any, message: str) -> None:
    with pytest.raises(s.ScopeFormatError, match=message):
        s.parse_topology("pods", document)


# --- selecting and edges ---------------------------------------------------------------------


def test_pseudo_nodes_are_dropped_unless_asked() -> None:
    nodes = s.parse_topology("pods", PODS_TOPOLOGY)
    assert not any(n.pseudo for n in s.select_nodes("pods", nodes))
    kept = s.select_nodes("pods", s.parse_topology("pods", PODS_TOPOLOGY), include_pseudo=True)
    assert {n.id for n in kept if n.pseudo} == {"in-theinternet", "out-theinternet", f"pseudo:unmanaged:{HOST}"}


def test_namespace_filter_is_applied_again() -> None:
    # Scope ignores namespace=<ns> for a namespace it has not seen and returns everything.
    nodes = s.parse_topology("pods", PODS_TOPOLOGY)
    kept = s.select_nodes("pods", nodes, ["bookinfo"])
    assert {n.namespace for n in kept} == {"bookinfo"}
    assert len(kept) == 5
    assert s.select_nodes("pods", nodes, ["istio-system"]) == []
    assert len(s.select_nodes("pods", nodes, ["bookinfo", "weave"])) == 7


def test_containers_take_the_namespace_of_their_pod() -> None:
    pods = s.pod_namespaces(s.parse_topology("pods", PODS_TOPOLOGY))
    assert pods[pod_id("scope-app")] == "weave"
    assert "in-theinternet" not in pods
    containers = s.parse_topology("containers", CONTAINERS_TOPOLOGY)
    kept = s.select_nodes("containers", containers, ["bookinfo"], pod_namespace_by_id=pods)
    assert sorted(n.key for n in kept) == [
        "productpage-v1-6b746f74dc-9stvs/istio-proxy",
        "productpage-v1-6b746f74dc-9stvs/productpage",
    ]
    everything = s.select_nodes("containers", s.parse_topology("containers", CONTAINERS_TOPOLOGY), [], False, pods)
    assert {n.key: n.namespace for n in everything} == {
        "productpage-v1-6b746f74dc-9stvs/istio-proxy": "bookinfo",
        "productpage-v1-6b746f74dc-9stvs/productpage": "bookinfo",
        "weave-scope-app-7bbd849c6f-x6h7x/app": "weave",
        "registry@minishift": None,
    }


def test_hosts_are_not_filtered_by_namespace() -> None:
    hosts = s.parse_topology("hosts", HOSTS_TOPOLOGY)
    assert len(s.select_nodes("hosts", hosts, ["bookinfo"])) == 2


def test_edges_follow_adjacency_between_kept_nodes() -> None:
    kept = s.select_nodes("pods", s.parse_topology("pods", PODS_TOPOLOGY), ["bookinfo"])
    pairs = [(e["source"], e["target"]) for e in s.edges(kept)]
    assert pairs == [
        ("bookinfo/productpage-v1-6b746f74dc-9stvs", "bookinfo/details-v1-5498c86cf5-kqm8w"),
        ("bookinfo/productpage-v1-6b746f74dc-9stvs", "bookinfo/reviews-v1-5fd6d4f8f8-66j45"),
        ("bookinfo/productpage-v1-6b746f74dc-9stvs", "bookinfo/reviews-v2-6f9b55c5db-c94m2"),
        ("bookinfo/reviews-v2-6f9b55c5db-c94m2", "bookinfo/ratings-v1-b6994bb9-8j5vn"),
    ]  # reviews-v2 -> out-theinternet is dropped with the pseudo node


def test_edges_to_pseudo_nodes_stay_when_asked() -> None:
    kept = s.select_nodes("pods", s.parse_topology("pods", PODS_TOPOLOGY), ["bookinfo"], include_pseudo=True)
    targets = {(e["source"], e["target"]) for e in s.edges(kept)}
    assert ("bookinfo/reviews-v2-6f9b55c5db-c94m2", "out-theinternet") in targets
    assert ("in-theinternet", "bookinfo/productpage-v1-6b746f74dc-9stvs") in targets


def test_self_edges_are_dropped() -> None:
    doc = copy.deepcopy(SERVICES_TOPOLOGY)
    doc["nodes"][svc_id(1)]["adjacency"] = [svc_id(1)]
    assert all(e["source"] != e["target"] for e in s.edges(s.parse_topology("services", doc)))


def test_summary_is_what_the_module_returns() -> None:
    nodes = s.select_nodes("services", s.parse_topology("services", SERVICES_TOPOLOGY), ["bookinfo"])
    summary = s.summarize("services", nodes)
    assert summary["topology"] == "services"
    assert summary["names"] == ["bookinfo/details", "bookinfo/productpage", "bookinfo/ratings", "bookinfo/reviews"]
    assert summary["namespaces"] == ["bookinfo"]
    assert summary["node_count"] == 4
    assert summary["edge_count"] == 3
    assert {(e["source"], e["target"]) for e in summary["edges"]} == {
        ("bookinfo/productpage", "bookinfo/details"),
        ("bookinfo/productpage", "bookinfo/reviews"),
        ("bookinfo/reviews", "bookinfo/ratings"),
    }
    first = summary["nodes"][0]
    assert set(first) == {
        "id",
        "name",
        "namespace",
        "key",
        "label",
        "label_minor",
        "rank",
        "shape",
        "pseudo",
        "adjacency",
        "parents",
    }
