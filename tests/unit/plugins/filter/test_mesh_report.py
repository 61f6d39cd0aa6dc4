"""The mesh report's graph: workloads from pods, edges from AuthorizationPolicies, renderings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.meshlab.service_mesh.plugins.filter import mesh_report as mr

NS = "bookinfo"


def pod(app: str, sa: str, sidecar: bool = True, ready: bool = True, ns: str = NS) -> dict:
    containers = [{"name": app}] + ([{"name": "istio-proxy"}] if sidecar else [])
    return {
        "metadata": {"namespace": ns, "labels": {"app": app}},
        "spec": {"serviceAccountName": sa, "containers": containers, "initContainers": [{"name": "istio-init"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def allow(app: str, principals: list[str] | None = None, namespaces: list[str] | None = None) -> dict:
    source: dict = {}
    if principals:
        source["principals"] = principals
    if namespaces:
        source["namespaces"] = namespaces
    return {
        "metadata": {"namespace": NS, "name": f"allow-{app}"},
        "spec": {
            "action": "ALLOW",
            "selector": {"matchLabels": {"app": app}},
            "rules": [{"from": [{"source": source}]}],
        },
    }


def sa(name: str, ns: str = NS) -> str:
    return f"cluster.local/ns/{ns}/sa/{name}"


@pytest.fixture
def workloads() -> list[dict]:
    pods = [
        pod("productpage", "bookinfo-productpage"),
        pod("details", "bookinfo-details"),
        pod("reviews", "bookinfo-reviews"),
        pod("reviews", "bookinfo-reviews", ready=False),
        pod("ratings", "bookinfo-ratings", sidecar=False),
        pod("istio-ingressgateway", "istio-ingressgateway-service-account", ns="istio-system"),
        {"metadata": {"namespace": NS, "labels": {}}, "spec": {}},  # no app label: ignored
    ]
    return mr.mesh_workloads(pods)


def test_workloads_group_pods_by_app_and_check_every_sidecar(workloads: list[dict]) -> None:
    by_id = {w["id"]: w for w in workloads}
    assert sorted(by_id) == [
        "bookinfo/details",
        "bookinfo/productpage",
        "bookinfo/ratings",
        "bookinfo/reviews",
        "istio-system/istio-ingressgateway",
    ]
    assert by_id["bookinfo/reviews"]["pods"] == 2
    assert by_id["bookinfo/reviews"]["ready"] == 1
    assert by_id["bookinfo/reviews"]["sidecar"] is True
    assert by_id["bookinfo/ratings"]["sidecar"] is False


def test_workloads_refuse_non_list() -> None:
    with pytest.raises(AnsibleFilterError):
        mr.mesh_workloads({"items": []})  # type: ignore[arg-type]


def test_policy_edges_follow_principals_and_namespaces(workloads: list[dict]) -> None:
    policies = [
        allow("productpage", principals=[sa("istio-ingressgateway-service-account", "istio-system")]),
        allow("details", principals=[sa("bookinfo-productpage")]),
        allow("reviews", principals=[sa("bookinfo-productpage")]),
        allow("ratings", principals=[sa("bookinfo-reviews"), sa("unknown-sa")]),
        {"metadata": {"namespace": NS}, "spec": {"action": "DENY", "selector": {"matchLabels": {"app": "details"}}}},
        {"metadata": {"namespace": NS}, "spec": {}},  # deny-all: selects nothing, allows nothing
    ]
    edges = mr.mesh_policy_edges(policies, workloads)
    assert [(e["source"], e["target"]) for e in edges] == [
        ("bookinfo/productpage", "bookinfo/details"),
        ("bookinfo/productpage", "bookinfo/reviews"),
        ("bookinfo/reviews", "bookinfo/ratings"),
        ("istio-system/istio-ingressgateway", "bookinfo/productpage"),
    ]
    assert all(e["evidence"] == ["policy"] for e in edges)


def test_namespace_sources_expand_to_their_workloads(workloads: list[dict]) -> None:
    edges = mr.mesh_policy_edges([allow("productpage", namespaces=["istio-system"])], workloads)
    assert [(e["source"], e["target"]) for e in edges] == [
        ("istio-system/istio-ingressgateway", "bookinfo/productpage")
    ]


def test_graph_merges_evidence_and_adds_external_nodes(workloads: list[dict]) -> None:
    policy = [{"source": "bookinfo/productpage", "target": "bookinfo/reviews", "evidence": ["policy"]}]
    scope = [
        {"source": "bookinfo/productpage", "target": "bookinfo/reviews", "evidence": ["scope"]},
        {"source": "outside/theinternet", "target": "bookinfo/productpage", "evidence": ["scope"]},
    ]
    graph = mr.mesh_graph(workloads, policy, scope)
    edges = {(e["source"], e["target"]): e["evidence"] for e in graph["edges"]}
    assert edges[("bookinfo/productpage", "bookinfo/reviews")] == ["policy", "scope"]
    external = [n for n in graph["nodes"] if n.get("external")]
    assert external == [{"id": "outside/theinternet", "name": "theinternet", "namespace": "outside", "external": True}]


def test_mermaid_draws_seen_edges_solid_and_allowed_edges_dashed(workloads: list[dict]) -> None:
    graph = mr.mesh_graph(
        workloads,
        [{"source": "bookinfo/productpage", "target": "bookinfo/details", "evidence": ["policy"]}],
        [{"source": "bookinfo/reviews", "target": "bookinfo/ratings", "evidence": ["kiali"]}],
    )
    text = mr.mesh_mermaid(graph)
    assert text.startswith("flowchart LR\n")
    assert "subgraph n_bookinfo[bookinfo]" in text
    assert "n_bookinfo_productpage -.->|policy| n_bookinfo_details" in text
    assert "n_bookinfo_reviews -->|kiali| n_bookinfo_ratings" in text
    assert 'n_bookinfo_ratings["ratings (no sidecar, 1/1 ready)"]' in text


def test_dot_is_a_digraph_with_clusters_and_styles(workloads: list[dict]) -> None:
    graph = mr.mesh_graph(
        workloads, [{"source": "bookinfo/productpage", "target": "bookinfo/details", "evidence": ["policy"]}]
    )
    text = mr.mesh_dot(graph)
    assert text.startswith("digraph mesh {") and text.rstrip().endswith("}")
    assert "subgraph cluster_istio_system {" in text
    assert 'n_bookinfo_productpage -> n_bookinfo_details [label="policy", style=dashed];' in text
    assert "n_bookinfo_ratings [" in text and "color=red" in text


def test_filters_are_registered() -> None:
    assert set(mr.FilterModule().filters()) == {
        "mesh_workloads",
        "mesh_policy_edges",
        "mesh_graph",
        "mesh_mermaid",
        "mesh_dot",
        "mesh_svg",
        "mesh_changed_files",
    }


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed on this machine")
def test_svg_is_drawn_by_graphviz_and_the_same_for_the_same_graph(workloads: list[dict]) -> None:
    graph = mr.mesh_graph(
        workloads, [{"source": "bookinfo/productpage", "target": "bookinfo/details", "evidence": ["policy"]}]
    )
    svg = mr.mesh_svg(mr.mesh_dot(graph))
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert "productpage" in svg and "stroke-dasharray" in svg  # the policy-only edge is dashed
    assert mr.mesh_svg(mr.mesh_dot(graph)) == svg


def test_svg_is_empty_without_graphviz() -> None:
    assert mr.mesh_svg("digraph mesh {}", program="meshlab-no-such-graphviz") == ""


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed on this machine")
def test_svg_names_graphviz_when_it_refuses_the_input() -> None:
    with pytest.raises(AnsibleFilterError, match=r"-Tsvg exited 1: .*syntax error"):
        mr.mesh_svg("digraph mesh { -> }")


def test_workloads_that_opt_out_of_injection_are_outside_the_mesh() -> None:
    client = pod("traffic", "traffic", sidecar=False)
    client["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    nodes = {n["name"]: n for n in mr.mesh_workloads([client, pod("details", "bookinfo-details")])}
    assert nodes["traffic"]["mesh"] is False
    assert nodes["traffic"]["sidecar"] is False
    assert nodes["details"]["mesh"] is True


def test_changed_files_are_the_missing_the_different_and_the_wrong_mode(tmp_path: Path) -> None:
    (tmp_path / "same.md").write_text("same\n")
    (tmp_path / "same.md").chmod(0o644)
    (tmp_path / "other.md").write_text("old\n")
    (tmp_path / "other.md").chmod(0o644)
    (tmp_path / "mode.md").write_text("kept\n")
    (tmp_path / "mode.md").chmod(0o600)
    files = [
        {"name": "same.md", "content": "same\n"},
        {"name": "other.md", "content": "new\n"},
        {"name": "mode.md", "content": "kept\n"},
        {"name": "missing.md", "content": "x"},
    ]
    changed = mr.mesh_changed_files(files, str(tmp_path))
    assert [f["name"] for f in changed] == ["other.md", "mode.md", "missing.md"]
    assert mr.mesh_changed_files(files, str(tmp_path / "no-such-folder")) == files
    # A trailing newline is content too: no stripping on either side.
    assert [f["name"] for f in mr.mesh_changed_files([{"name": "same.md", "content": "same"}], str(tmp_path))] == [
        "same.md"
    ]


def test_changed_files_refuse_other_shapes() -> None:
    with pytest.raises(AnsibleFilterError, match="list of \\{name, content\\}"):
        mr.mesh_changed_files([{"name": "a"}], "/tmp")
