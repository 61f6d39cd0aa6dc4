# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Pure reading of Weave Scope's HTTP API answers (Scope 1.13.2, ``app/api_topology.go``).

``GET /api/topology/<id>`` answers ``{"nodes": {<node id>: <node summary>}}``; a node summary
has ``id``, ``label``, ``labelMinor``, ``rank``, ``shape``, ``pseudo``, ``parents``,
``metadata`` and ``adjacency`` (the ids of the nodes it talks to: the edges). Ids are
``<component>;<<tag>>`` (``report/id.go``): ``<uid>;<pod>``, ``<uid>;<service>``,
``<uid>;<deployment>``, ``<hostname>;<host>``, ``<container id>;<container>``, the tag
written literally. For pods, services and kube-controllers ``label`` is the Kubernetes name
and ``rank`` is ``<namespace>/<name>``. Pseudo nodes (``in-theinternet``, ``out-theinternet``,
``pseudo:unmanaged:<host>``, ``pseudo:uncontained:<host>``) stand for what is not a
Kubernetes object. No I/O here: the module fetches, this file reads, the unit tests feed it
recorded shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

TOPOLOGIES = ("pods", "services", "containers", "hosts", "kube-controllers")
# Topologies whose rank is "<namespace>/<name>".
NAMESPACED_TOPOLOGIES = frozenset({"pods", "services", "kube-controllers"})
INTERNET_IDS = frozenset({"in-theinternet", "out-theinternet"})
PSEUDO_PREFIX = "pseudo:"
SCOPE_DELIM = ";"


class ScopeFormatError(ValueError):
    """The answer does not have the shape Scope's API documents."""


@dataclass
class ScopeNode:
    """One node of a topology, named the way Kubernetes names it."""

    id: str
    name: str
    namespace: str | None
    key: str
    label: str
    label_minor: str
    rank: str
    shape: str
    pseudo: bool
    adjacency: list[str] = field(default_factory=list)
    parents: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "namespace": self.namespace,
            "key": self.key,
            "label": self.label,
            "label_minor": self.label_minor,
            "rank": self.rank,
            "shape": self.shape,
            "pseudo": self.pseudo,
            "adjacency": list(self.adjacency),
            "parents": [dict(p) for p in self.parents],
        }


def check_topology(topology: str) -> str:
    if topology not in TOPOLOGIES:
        raise ValueError(f"topology must be one of {', '.join(TOPOLOGIES)}, got {topology!r}")
    return topology


def topology_path(topology: str, namespaces: list[str] | None = None, include_pseudo: bool = False) -> str:
    """``/api/topology/<id>?...``: Scope's own options ``namespace`` (a union, comma-separated)
    and ``pseudo`` (show|hide)."""
    check_topology(topology)
    query: list[tuple[str, str]] = []
    if namespaces:
        query.append(("namespace", ",".join(sorted(set(namespaces)))))
    query.append(("pseudo", "show" if include_pseudo else "hide"))
    return f"/api/topology/{topology}?{urlencode(query, safe=',')}"


def is_pseudo(node_id: str, summary: dict[str, Any]) -> bool:
    return bool(summary.get("pseudo")) or node_id in INTERNET_IDS or node_id.startswith(PSEUDO_PREFIX)


def split_id(node_id: str) -> tuple[str, str]:
    """``<component>;<tag>`` -> (component, tag): ``minishift;<host>`` -> (``minishift``, ``host``)."""
    component, sep, tag = node_id.partition(SCOPE_DELIM)
    if not sep or not (tag.startswith("<") and tag.endswith(">")):
        return node_id, ""
    return component, tag[1:-1]


def _str(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ScopeFormatError(f"node field {key!r} should be a string, got {type(value).__name__}")
    return value


def _parents(summary: dict[str, Any]) -> list[dict[str, str]]:
    parents = summary.get("parents") or []
    if not isinstance(parents, list):
        raise ScopeFormatError("node field 'parents' should be a list")
    out = []
    for parent in parents:
        if not isinstance(parent, dict):
            raise ScopeFormatError("each parent should be an object")
        out.append(
            {
                "id": str(parent.get("id", "")),
                "label": str(parent.get("label", "")),
                "topology": str(parent.get("topologyId", "")),
            }
        )
    return out


def make_node(topology: str, node_id: str, summary: dict[str, Any]) -> ScopeNode:
    """One node summary -> :class:`ScopeNode`, named by Kubernetes name where Scope gives one."""
    if not isinstance(summary, dict):
        raise ScopeFormatError(f"node {node_id!r} should be an object")
    component, tag = split_id(node_id)
    label = _str(summary, "label") or (component if tag == "host" else node_id)
    label_minor = _str(summary, "labelMinor")
    rank = _str(summary, "rank")
    adjacency = summary.get("adjacency") or []
    if not isinstance(adjacency, list) or not all(isinstance(a, str) for a in adjacency):
        raise ScopeFormatError(f"node {node_id!r}: 'adjacency' should be a list of node ids")
    parents = _parents(summary)
    pseudo = is_pseudo(node_id, summary)
    namespace: str | None = None
    name = label
    key = label
    if pseudo:
        key = node_id
    elif topology in NAMESPACED_TOPOLOGIES and "/" in rank:
        namespace, ranked_name = rank.split("/", 1)
        name = ranked_name or label
        key = f"{namespace}/{name}"
    elif topology == "containers":
        pod = next((p["label"] for p in parents if p["topology"] == "pods"), "")
        key = f"{pod}/{label}" if pod else f"{label}@{label_minor}" if label_minor else label
    elif topology == "hosts":
        # The full host name is in the id; Scope's label is only its first part.
        name = component if tag == "host" else label
        key = name
    return ScopeNode(
        id=node_id,
        name=name,
        namespace=namespace or None,
        key=key,
        label=label,
        label_minor=label_minor,
        rank=rank,
        shape=_str(summary, "shape"),
        pseudo=pseudo,
        adjacency=sorted(set(adjacency)),
        parents=parents,
    )


def parse_topology(topology: str, document: Any) -> list[ScopeNode]:
    """``GET /api/topology/<id>`` answer -> nodes, sorted by key."""
    check_topology(topology)
    if not isinstance(document, dict) or "nodes" not in document:
        raise ScopeFormatError("a topology answer is an object with a 'nodes' key")
    nodes = document["nodes"]
    if nodes is None:  # Go encodes an empty map it never made as null
        return []
    if not isinstance(nodes, dict):
        raise ScopeFormatError("'nodes' should be an object keyed by node id")
    return sorted((make_node(topology, nid, summary) for nid, summary in nodes.items()), key=lambda n: n.key)


def pod_namespaces(pods: list[ScopeNode]) -> dict[str, str]:
    """Pod node id -> namespace, from the pods topology (to place containers in namespaces)."""
    return {n.id: n.namespace for n in pods if n.namespace and not n.pseudo}


def select_nodes(
    topology: str,
    nodes: list[ScopeNode],
    namespaces: list[str] | None = None,
    include_pseudo: bool = False,
    pod_namespace_by_id: dict[str, str] | None = None,
) -> list[ScopeNode]:
    """Keep the nodes asked for.

    Scope applies ``namespace=`` itself, but ignores a namespace it has not seen (and then
    returns everything), so the filter is applied here again: by rank for pods, services and
    kube-controllers, by the parent pod for containers (``pod_namespace_by_id`` from the pods
    topology). Hosts belong to no namespace: a namespace filter leaves them as they are.
    Containers also get their namespace filled in when the pod is known.
    """
    wanted = set(namespaces or [])
    out = []
    for node in nodes:
        if node.pseudo:
            if include_pseudo:
                out.append(node)
            continue
        if topology == "containers" and pod_namespace_by_id is not None:
            pod_ids = [p["id"] for p in node.parents if p["topology"] == "pods"]
            node.namespace = next((pod_namespace_by_id[i] for i in pod_ids if i in pod_namespace_by_id), None)
        if wanted and topology != "hosts" and node.namespace not in wanted:
            continue
        out.append(node)
    return out


def edges(nodes: list[ScopeNode]) -> list[dict[str, str]]:
    """Edges among the given nodes (an adjacency to a node left out is dropped), by key."""
    by_id = {n.id: n for n in nodes}
    out = []
    for node in nodes:
        for target_id in node.adjacency:
            target = by_id.get(target_id)
            if target is None or target_id == node.id:
                continue
            out.append({"source": node.key, "target": target.key, "source_id": node.id, "target_id": target_id})
    return sorted(out, key=lambda e: (e["source"], e["target"]))


def summarize(topology: str, nodes: list[ScopeNode]) -> dict[str, Any]:
    """What the module returns: nodes, edges, names and counts."""
    edge_list = edges(nodes)
    return {
        "topology": topology,
        "nodes": [n.as_dict() for n in nodes],
        "edges": edge_list,
        "names": sorted({n.key for n in nodes if not n.pseudo}),
        "namespaces": sorted({n.namespace for n in nodes if n.namespace}),
        "node_count": len(nodes),
        "edge_count": len(edge_list),
    }
