"""Kiali's graph answer as the mesh report's edges (module_utils/kiali.py).

The recorded shape follows Kiali's graph API (Cytoscape elements: nodes and edges under
``elements``, traffic rates as strings); the values are made up for the tests."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.meshlab.service_mesh.plugins.module_utils import kiali as k


def node(id_: str, kind: str, ns: str, **data: str) -> dict[str, Any]:
    return {"data": {"id": id_, "nodeType": kind, "namespace": ns, **data}}


def edge(src: str, dst: str, protocol: str = "http", **rates: str) -> dict[str, Any]:
    return {
        "data": {"id": f"{src}-{dst}", "source": src, "target": dst, "traffic": {"protocol": protocol, "rates": rates}}
    }


BOOKINFO = {
    "timestamp": 1764115200,
    "duration": 600,
    "graphType": "versionedApp",
    "elements": {
        "nodes": [
            node("gw", "app", "istio-system", app="istio-ingressgateway", version="latest"),
            node("pp", "app", "bookinfo", app="productpage", version="v1"),
            node("rv1", "app", "bookinfo", app="reviews", version="v1"),
            node("rv2", "app", "bookinfo", app="reviews", version="v2"),
            node("box", "box", "bookinfo", app="reviews"),
            node("rt", "app", "bookinfo", app="ratings", version="v1"),
            node("dt", "app", "bookinfo", app="details", version="v1"),
            node("un", "unknown", "unknown"),
            node("gen", "workload", "bookinfo", workload="meshlab-traffic"),
        ],
        "edges": [
            edge("gw", "pp", http="2.5", httpPercentReq="100"),
            edge("pp", "rv1", http="0.8"),
            edge("pp", "rv2", http="0.7"),
            edge("pp", "dt", http="1.5"),
            edge("rv2", "rt", http="0.7"),
            edge("un", "pp", http="0.1"),
            edge("rv1", "rv2", http="0.0"),
            edge("pp", "rt", "tcp", tcp="0"),
        ],
    },
}


def pairs(graph: dict[str, Any]) -> list[str]:
    return [f"{e['source']}->{e['target']}" for e in graph["edges"]]


def test_versions_collapse_into_apps_and_rates_add_up() -> None:
    graph = k.parse_graph(BOOKINFO, ["bookinfo"])
    assert pairs(graph) == [
        "bookinfo/productpage->bookinfo/details",
        "bookinfo/productpage->bookinfo/reviews",
        "bookinfo/reviews->bookinfo/ratings",
        "istio-system/istio-ingressgateway->bookinfo/productpage",
        "unknown->bookinfo/productpage",
    ]
    reviews = next(e for e in graph["edges"] if e["target"] == "bookinfo/reviews")
    assert reviews["rate"] == pytest.approx(1.5)
    assert reviews["evidence"] == ["kiali"] and reviews["protocol"] == "http"
    apps = {n["id"]: n for n in graph["nodes"]}
    assert apps["bookinfo/reviews"]["versions"] == ["v1", "v2"]
    assert "bookinfo/reviews" in apps and all(n["node_type"] != "box" for n in graph["nodes"])
    assert apps["bookinfo/meshlab-traffic"]["node_type"] == "workload"


def test_idle_edges_are_dropped_unless_asked_for() -> None:
    idle = k.parse_graph(BOOKINFO, ["bookinfo"], include_idle=True)
    assert "bookinfo/productpage->bookinfo/ratings" in pairs(idle)
    assert "bookinfo/productpage->bookinfo/ratings" not in pairs(k.parse_graph(BOOKINFO, ["bookinfo"]))


def test_namespaces_filter_keeps_edges_touching_them() -> None:
    only_gateway = k.parse_graph(BOOKINFO, ["istio-system"])
    assert pairs(only_gateway) == ["istio-system/istio-ingressgateway->bookinfo/productpage"]
    assert len(pairs(k.parse_graph(BOOKINFO, []))) == 5


def test_unparsable_rates_count_as_zero() -> None:
    doc = {"elements": {"nodes": [node("a", "app", "x", app="a"), node("b", "app", "x", app="b")]}}
    doc["elements"]["edges"] = [edge("a", "b", http="n/a"), edge("b", "a", grpc="3", tcp="2")]
    graph = k.parse_graph(doc)
    assert pairs(graph) == ["x/b->x/a"] and graph["edges"][0]["rate"] == 5.0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "no 'elements' object"),
        ({"elements": {"nodes": {}, "edges": []}}, "must be lists"),
        ({"elements": {"nodes": [{"data": {"nodeType": "app"}}]}}, "a node without data.id"),
        ({"elements": {"nodes": [], "edges": [{"data": {"source": "a"}}]}}, "an edge without"),
    ],
)
def test_wrong_shapes_are_refused(doc: Any, message: str) -> None:
    with pytest.raises(k.KialiFormatError, match=message):
        k.parse_graph(doc)


def test_graph_path() -> None:
    path = k.graph_path(["bookinfo", "istio-system"], "versionedApp", 300)
    assert path.startswith("/kiali/api/namespaces/graph?")
    assert "namespaces=bookinfo%2Cistio-system" in path and "graphType=versionedApp" in path
    assert "duration=300s" in path and "injectServiceNodes=false" in path
    assert k.graph_path(["a"], web_root="/").startswith("/api/namespaces/graph?")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["a"], "pods"), "graph_type must be one of app, versionedApp, workload, service"),
        (([],), "name at least one namespace"),
        ((["a"], "app", 0), "duration must be a positive number"),
    ],
)
def test_graph_path_refuses_bad_requests(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        k.graph_path(*args)
