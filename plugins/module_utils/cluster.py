# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Pure decisions about what a cluster is, from what its API serves.

One place for the detection every role relies on (the ``meshlab_cluster`` contract):
platform from the API groups, versions from /version, /version/openshift and the
ClusterVersion object. No I/O here, so it is unit-tested on recorded answers.
"""

from __future__ import annotations

import re

OPENSHIFT_GROUPS = frozenset(
    {
        "route.openshift.io",
        "security.openshift.io",
        "config.openshift.io",
        "project.openshift.io",
        "apps.openshift.io",
    }
)
PROVIDERS = ("minishift", "crc", "kwok", "existing")

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def normalize_version(git_version: str | None) -> str | None:
    """``v1.35.4``, ``v1.11.0+d4cacc0`` or ``v3.11.0+1cd89d4-542`` -> ``1.35.4``/``1.11.0``/``3.11.0``."""
    if not git_version:
        return None
    m = _VERSION_RE.match(git_version.strip())
    if not m:
        return None
    major, minor, patch = m.group(1), m.group(2), m.group(3) or "0"
    return f"{major}.{minor}.{patch}"


def platform_from_groups(groups: list[str] | set[str] | frozenset[str]) -> str:
    """``openshift`` when any OpenShift API group is served, else ``kubernetes``."""
    return "openshift" if OPENSHIFT_GROUPS.intersection(groups) else "kubernetes"


KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def nodes_are_simulated(annotations: list[dict]) -> bool:
    """True when there are nodes and every one is a kwok fake node (no container can run)."""
    return bool(annotations) and all(a.get(KWOK_NODE_ANNOTATION) == "fake" for a in annotations)


def openshift_version_from_clusterversion(obj: dict | None) -> str | None:
    """OpenShift 4: the ClusterVersion named ``version``: desired version, else the newest
    completed history entry."""
    if not obj:
        return None
    status = obj.get("status") or {}
    desired = (status.get("desired") or {}).get("version")
    if desired:
        return normalize_version(desired)
    for entry in status.get("history") or []:
        if entry.get("state") == "Completed" and entry.get("version"):
            return normalize_version(entry["version"])
    return None


def routing_suffix_from_ingress(obj: dict | None) -> str | None:
    """OpenShift 4: ``ingresses.config.openshift.io/cluster`` spec.domain."""
    if not obj:
        return None
    return (obj.get("spec") or {}).get("domain") or None


def build_cluster_fact(
    *,
    provider: str,
    kubeconfig: str,
    context: str,
    api_url: str,
    groups: list[str],
    kubernetes_git_version: str | None,
    openshift_version: str | None,
    routing_suffix: str | None,
    simulated: bool,
) -> dict:
    """The ``meshlab_cluster`` fact, as documented in the collection README."""
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    platform = platform_from_groups(groups)
    kube_version = normalize_version(kubernetes_git_version)
    if kube_version is None:
        raise ValueError(f"the API server reported no usable version: {kubernetes_git_version!r}")
    return {
        "provider": provider,
        "kubeconfig": kubeconfig,
        "context": context,
        "api_url": api_url,
        "platform": platform,
        "kubernetes_version": kube_version,
        "openshift_version": openshift_version if platform == "openshift" else None,
        "routing_suffix": routing_suffix or None,
        "simulated": bool(simulated),
    }
