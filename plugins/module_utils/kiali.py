# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Kiali's graph API (``/api/namespaces/graph``) as the mesh report's nodes and edges. No I/O here.

Kiali answers in Cytoscape's shape::

    {"elements": {"nodes": [{"data": {"id": "3f9a...", "nodeType": "app", "namespace": "bookinfo",
                                      "app": "reviews", "version": "v2"}}],
                  "edges": [{"data": {"source": "3f9a...", "target": "9c1e...",
                                      "traffic": {"protocol": "http", "rates": {"http": "1.20"}}}}]}}

Nodes are renamed ``<namespace>/<app>`` (what the report calls a workload), so Kiali's edges merge
with the policy and Weave Scope edges of the same pair. Versions of one app collapse into one node.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

GRAPH_TYPES = ("app", "versionedApp", "workload", "service")
# Rate keys that count requests or bytes per second (the others are percentages or by-code subsets).
RATE_KEYS = ("http", "grpc", "tcp")


class KialiFormatError(ValueError):
    """The answer does not have the shape of Kiali's graph API."""


def graph_path(namespaces: list[str], graph_type: str = "app", duration: int = 600, web_root: str = "/kiali") -> str:
    """The graph request for the namespaces, over the last ``duration`` seconds, without service nodes and boxes."""
    if graph_type not in GRAPH_TYPES:
        raise ValueError(f"graph_type must be one of {', '.join(GRAPH_TYPES)}, not {graph_type!r}")
    if not namespaces:
        raise ValueError("name at least one namespace: Kiali draws the graph of namespaces")
    if duration < 1:
        raise ValueError(f"duration must be a positive number of seconds, not {duration}")
    root = "/" + web_root.strip("/") if web_root.strip("/") else ""
    query = urlencode(
        {
            "namespaces": ",".join(namespaces),
            "graphType": graph_type,
            "duration": f"{duration}s",
            "injectServiceNodes": "false",
            "boxBy": "",
        }
    )
    return f"{root}/api/namespaces/graph?{query}"


def _name(data: dict[str, Any]) -> str | None:
    kind = data.get("nodeType")
    if kind == "box":
        return None
    if kind == "unknown":
        return "unknown"
    name = data.get("app") if kind in ("app", "workload") else None
    name = name or data.get("workload") or data.get("service") or data.get("app")
    if not name or name == "unknown":
        return "unknown"
    namespace = data.get("namespace")
    return f"{namespace}/{name}" if namespace and namespace != "unknown" else name


def _rate(traffic: Any) -> float:
    rates = (traffic.get("rates") or {}) if isinstance(traffic, dict) else {}
    total = 0.0
    for key in RATE_KEYS:
        try:
            total += float(rates.get(key, 0) or 0)
        except (TypeError, ValueError):
            continue
    return total


def parse_graph(doc: Any, namespaces: list[str] | None = None, include_idle: bool = False) -> dict[str, Any]:
    """``{"nodes": [...], "edges": [{"source", "target", "protocol", "rate", "evidence": ["kiali"]}]}``.

    Edges are kept when at least one end is in ``namespaces`` (all when empty) and, unless
    ``include_idle``, when they carried traffic (a rate above zero) in the asked duration."""
    if not isinstance(doc, dict) or not isinstance(doc.get("elements"), dict):
        raise KialiFormatError("no 'elements' object (is this Kiali's /api/namespaces/graph?)")
    elements = doc["elements"]
    raw_nodes = elements.get("nodes")
    raw_edges = elements.get("edges")
    raw_nodes = [] if raw_nodes is None else raw_nodes
    raw_edges = [] if raw_edges is None else raw_edges
    if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list):
        raise KialiFormatError("'elements.nodes' and 'elements.edges' must be lists")
    names: dict[str, str] = {}
    nodes: dict[str, dict[str, Any]] = {}
    for wrapper in raw_nodes:
        data = (wrapper or {}).get("data") if isinstance(wrapper, dict) else None
        if not isinstance(data, dict) or "id" not in data:
            raise KialiFormatError(f"a node without data.id: {wrapper!r:.200}")
        name = _name(data)
        if name is None:
            continue
        names[data["id"]] = name
        node = nodes.setdefault(
            name,
            {
                "id": name,
                "namespace": name.rpartition("/")[0] or None,
                "node_type": data.get("nodeType"),
                "versions": [],
            },
        )
        if data.get("version") and data["version"] not in node["versions"]:
            node["versions"].append(data["version"])
    wanted = set(namespaces or [])
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for wrapper in raw_edges:
        data = (wrapper or {}).get("data") if isinstance(wrapper, dict) else None
        if not isinstance(data, dict) or "source" not in data or "target" not in data:
            raise KialiFormatError(f"an edge without data.source/data.target: {wrapper!r:.200}")
        source, target = names.get(data["source"]), names.get(data["target"])
        if source is None or target is None or source == target:
            continue
        if wanted and not {nodes[source]["namespace"], nodes[target]["namespace"]} & wanted:
            continue
        traffic = data.get("traffic") or {}
        edge = merged.setdefault(
            (source, target),
            {
                "source": source,
                "target": target,
                "protocol": traffic.get("protocol"),
                "rate": 0.0,
                "evidence": ["kiali"],
            },
        )
        edge["rate"] = round(edge["rate"] + _rate(traffic), 6)
    edges = [e for _key, e in sorted(merged.items()) if include_idle or e["rate"] > 0]
    return {"nodes": sorted(nodes.values(), key=lambda n: n["id"]), "edges": edges}
