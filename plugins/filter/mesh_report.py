# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Build the mesh report's communication graph and render it (Mermaid, Graphviz DOT).

The graph is plain data so the playbook can also write it as JSON::

    {"nodes": [{"id": "bookinfo/productpage", "name": "productpage", "namespace": "bookinfo",
                "sidecar": true, "pods": 1, "ready": 1}],
     "edges": [{"source": "bookinfo/productpage", "target": "bookinfo/reviews",
                "evidence": ["policy", "scope"]}]}

Edges come from three kinds of evidence, each named on the edge:
``policy`` (what the Istio AuthorizationPolicies allow), ``scope`` (connections Weave Scope saw)
and ``kiali`` (traffic Kiali's graph API reported). Only ``scope`` and ``kiali`` show traffic
that really flowed; ``policy`` shows what may flow.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from ansible.errors import AnsibleFilterError

_PRINCIPAL_RE = re.compile(r"^(?:[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)$")
_ID_SAFE_RE = re.compile(r"[^A-Za-z0-9_]")


def _app(obj: dict) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get("app") or labels.get("app.kubernetes.io/name")


def mesh_workloads(pods: list[dict], sidecar: str = "istio-proxy") -> list[dict]:
    """One node per app (by the ``app`` label) in each namespace, from Pod objects.

    ``sidecar`` is true only when every pod of the app carries the sidecar container
    (or an init container of that name, as native sidecars are). ``mesh`` is false for apps
    that opt out with ``sidecar.istio.io/inject: "false"`` (label or annotation)."""
    if not isinstance(pods, list):
        raise AnsibleFilterError("mesh_workloads expects a list of Pod objects")
    nodes: dict[str, dict[str, Any]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        app = _app(pod)
        if not app:
            continue
        ns = meta.get("namespace", "default")
        spec = pod.get("spec") or {}
        opted_out = (meta.get("labels") or {}).get("sidecar.istio.io/inject") == "false" or (
            meta.get("annotations") or {}
        ).get("sidecar.istio.io/inject") == "false"
        names = {c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        node = nodes.setdefault(
            f"{ns}/{app}",
            {
                "id": f"{ns}/{app}",
                "name": app,
                "namespace": ns,
                "sidecar": True,
                "pods": 0,
                "ready": 0,
                "service_account": spec.get("serviceAccountName", "default"),
                "mesh": True,
            },
        )
        node["mesh"] = node["mesh"] and not opted_out
        node["pods"] += 1
        node["ready"] += int(ready)
        node["sidecar"] = node["sidecar"] and sidecar in names
    return sorted(nodes.values(), key=lambda n: n["id"])


def mesh_policy_edges(policies: list[dict], workloads: list[dict]) -> list[dict]:
    """Edges that ALLOW AuthorizationPolicies permit: principal's service account -> selected app.

    A rule without ``from`` principals (for example the ingress gateway's, by namespace) is
    mapped through the namespaces it names to the workloads there."""
    by_sa = {(w["namespace"], w["service_account"]): w["id"] for w in workloads}
    by_ns: dict[str, list[str]] = {}
    for w in workloads:
        by_ns.setdefault(w["namespace"], []).append(w["id"])
    edges: set[tuple[str, str]] = set()
    for pol in policies:
        spec = pol.get("spec") or {}
        if spec.get("action", "ALLOW") != "ALLOW":
            continue
        ns = (pol.get("metadata") or {}).get("namespace", "default")
        selected = ((spec.get("selector") or {}).get("matchLabels") or {}).get("app")
        if not selected:
            continue
        target = f"{ns}/{selected}"
        for rule in spec.get("rules") or []:
            for frm in rule.get("from") or []:
                source = frm.get("source") or {}
                for principal in source.get("principals") or []:
                    m = _PRINCIPAL_RE.match(principal)
                    if m and (m["ns"], m["sa"]) in by_sa:
                        edges.add((by_sa[(m["ns"], m["sa"])], target))
                for src_ns in source.get("namespaces") or []:
                    edges.update((src, target) for src in by_ns.get(src_ns, []))
    return [{"source": s, "target": t, "evidence": ["policy"]} for s, t in sorted(edges)]


def mesh_graph(workloads: list[dict], *edge_lists: list[dict]) -> dict:
    """Merge workloads and edges from any evidence into one graph; an edge seen by several
    kinds of evidence lists them all. Endpoints missing from the workloads become nodes
    with ``external: true`` (the ingress gateway, an outside caller)."""
    nodes = {w["id"]: dict(w) for w in workloads}
    merged: dict[tuple[str, str], set[str]] = {}
    for edges in edge_lists:
        for e in edges or []:
            key = (e["source"], e["target"])
            merged.setdefault(key, set()).update(e.get("evidence") or [])
            for end in key:
                if end not in nodes:
                    ns, name = end.rpartition("/")[::2]
                    nodes[end] = {"id": end, "name": name, "namespace": ns or None, "external": True}
    return {
        "nodes": sorted(nodes.values(), key=lambda n: n["id"]),
        "edges": [{"source": s, "target": t, "evidence": sorted(ev)} for (s, t), ev in sorted(merged.items())],
    }


def _node_id(node_id: str) -> str:
    return "n_" + _ID_SAFE_RE.sub("_", node_id)


def _label(node: dict) -> str:
    if node.get("external"):
        return node["name"]
    mark = "sidecar" if node.get("sidecar") else "no sidecar"
    return f"{node['name']} ({mark}, {node.get('ready', 0)}/{node.get('pods', 0)} ready)"


def mesh_mermaid(graph: dict) -> str:
    """A Mermaid flowchart: one subgraph per namespace; dashed edges are only allowed
    (policy), solid edges were seen carrying traffic (scope or kiali)."""
    lines = ["flowchart LR"]
    by_ns: dict[str, list[dict]] = {}
    for n in graph["nodes"]:
        by_ns.setdefault(n.get("namespace") or "outside", []).append(n)
    for ns, nodes in sorted(by_ns.items()):
        lines.append(f"  subgraph {_node_id(ns)}[{ns}]")
        lines.extend(f'    {_node_id(n["id"])}["{_label(n)}"]' for n in nodes)
        lines.append("  end")
    for e in graph["edges"]:
        seen = {"scope", "kiali"} & set(e["evidence"])
        arrow = "-->" if seen else "-.->"
        lines.append(f"  {_node_id(e['source'])} {arrow}|{', '.join(e['evidence'])}| {_node_id(e['target'])}")
    return "\n".join(lines) + "\n"


def mesh_dot(graph: dict) -> str:
    """The same graph for Graphviz: clusters per namespace, dashed edges for policy-only."""
    lines = ["digraph mesh {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    by_ns: dict[str, list[dict]] = {}
    for n in graph["nodes"]:
        by_ns.setdefault(n.get("namespace") or "outside", []).append(n)
    for ns, nodes in sorted(by_ns.items()):
        lines.append(f"  subgraph cluster_{_ID_SAFE_RE.sub('_', ns)} {{")
        lines.append(f'    label="{ns}";')
        for n in nodes:
            style = ", style=dashed" if n.get("external") else (", color=red" if not n.get("sidecar") else "")
            lines.append(f'    {_node_id(n["id"])} [label="{_label(n)}"{style}];')
        lines.append("  }")
    for e in graph["edges"]:
        seen = {"scope", "kiali"} & set(e["evidence"])
        style = "solid" if seen else "dashed"
        lines.append(
            f'  {_node_id(e["source"])} -> {_node_id(e["target"])} [label="{", ".join(e["evidence"])}", style={style}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def mesh_svg(dot: str, program: str = "dot", timeout: int = 120) -> str:
    """The DOT text drawn as SVG by Graphviz (``dot -Tsvg``, on the controller); ``""`` when Graphviz is not installed.

    Graphviz's SVG is the same for the same DOT text, so the report compares it with the file it wrote last
    time and rewrites nothing when the graph did not change."""
    found = shutil.which(program)
    if not found:
        return ""
    try:
        proc = subprocess.run([found, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AnsibleFilterError(f"mesh_svg: {found} -Tsvg did not finish: {exc}") from exc
    if proc.returncode != 0:
        raise AnsibleFilterError(f"mesh_svg: {found} -Tsvg exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    return proc.stdout


def mesh_changed_files(files: list[dict], folder: str, mode: str = "0644") -> list[dict]:
    """The ``{name, content}`` items whose file in ``folder`` is missing, holds other text, or has another mode.

    Read on the controller, where the report is written (the role runs on the control host): the report
    rewrites only what changed, so an unchanged report costs no module run."""
    if not isinstance(files, list) or not all(isinstance(f, dict) and "name" in f and "content" in f for f in files):
        raise AnsibleFilterError("mesh_changed_files: expects a list of {name, content} items")
    wanted_mode = int(str(mode), 8)
    changed = []
    for item in files:
        path = os.path.join(os.path.expanduser(folder), str(item["name"]))
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                same = handle.read() == str(item["content"])
            same = same and (os.stat(path).st_mode & 0o7777) == wanted_mode
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            changed.append(item)
    return changed


class FilterModule:
    """Filters of the mesh report."""

    def filters(self) -> dict[str, Any]:
        return {
            "mesh_workloads": mesh_workloads,
            "mesh_policy_edges": mesh_policy_edges,
            "mesh_graph": mesh_graph,
            "mesh_mermaid": mesh_mermaid,
            "mesh_dot": mesh_dot,
            "mesh_svg": mesh_svg,
            "mesh_changed_files": mesh_changed_files,
        }
