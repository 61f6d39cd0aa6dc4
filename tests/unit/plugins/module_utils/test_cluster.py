"""Cluster detection decisions (plugins/module_utils/cluster.py) on recorded API answers."""

from __future__ import annotations

import pytest
from ansible_collections.meshlab.service_mesh.plugins.module_utils import cluster as c


@pytest.mark.parametrize(
    ("git_version", "expected"),
    [
        ("v1.35.4", "1.35.4"),
        ("v1.11.0+d4cacc0", "1.11.0"),  # OKD 3.11's kube-apiserver
        ("v3.11.0+1cd89d4-542", "3.11.0"),  # /version/openshift on OKD 3.11
        ("4.20.0", "4.20.0"),  # ClusterVersion desired.version
        ("v1.30", "1.30.0"),
        (" v1.29.2-gke.100 ", "1.29.2"),
        ("", None),
        (None, None),
        ("unknown", None),
    ],
)
def test_normalize_version(git_version: str | None, expected: str | None) -> None:
    assert c.normalize_version(git_version) == expected


def test_platform_openshift_from_any_openshift_group() -> None:
    assert c.platform_from_groups(["apps", "route.openshift.io"]) == "openshift"
    assert c.platform_from_groups({"security.openshift.io"}) == "openshift"
    assert c.platform_from_groups(["apps", "batch", "networking.k8s.io"]) == "kubernetes"
    assert c.platform_from_groups([]) == "kubernetes"


def test_openshift_version_prefers_desired_then_completed_history() -> None:
    cv = {"status": {"desired": {"version": "4.20.3"}, "history": [{"state": "Completed", "version": "4.19.0"}]}}
    assert c.openshift_version_from_clusterversion(cv) == "4.20.3"
    history = [{"state": "Partial", "version": "4.21.0"}, {"state": "Completed", "version": "4.20.1"}]
    cv = {"status": {"history": history}}
    assert c.openshift_version_from_clusterversion(cv) == "4.20.1"
    assert c.openshift_version_from_clusterversion({"status": {}}) is None
    assert c.openshift_version_from_clusterversion(None) is None


def test_routing_suffix_from_ingress() -> None:
    assert c.routing_suffix_from_ingress({"spec": {"domain": "apps-crc.testing"}}) == "apps-crc.testing"
    assert c.routing_suffix_from_ingress({"spec": {}}) is None
    assert c.routing_suffix_from_ingress(None) is None


def _fact(**over: object) -> dict:
    args = {
        "provider": "kwok",
        "kubeconfig": "/k",
        "context": "kwok-meshlab",
        "api_url": "https://127.0.0.1:32766",
        "groups": ["apps"],
        "kubernetes_git_version": "v1.35.4",
        "openshift_version": None,
        "routing_suffix": None,
        "simulated": True,
    }
    args.update(over)
    return c.build_cluster_fact(**args)  # type: ignore[arg-type]


def test_fact_has_the_contract_keys() -> None:
    fact = _fact()
    assert fact == {
        "provider": "kwok",
        "kubeconfig": "/k",
        "context": "kwok-meshlab",
        "api_url": "https://127.0.0.1:32766",
        "platform": "kubernetes",
        "kubernetes_version": "1.35.4",
        "openshift_version": None,
        "routing_suffix": None,
        "simulated": True,
    }


def test_openshift_version_only_on_openshift() -> None:
    assert _fact(openshift_version="3.11.0")["openshift_version"] is None
    fact = _fact(groups=["route.openshift.io"], openshift_version="3.11.0", routing_suffix="1.2.3.4.nip.io")
    assert fact["platform"] == "openshift"
    assert fact["openshift_version"] == "3.11.0"
    assert fact["routing_suffix"] == "1.2.3.4.nip.io"


def test_bad_provider_and_version_are_refused() -> None:
    with pytest.raises(ValueError, match="provider must be one of"):
        _fact(provider="minikube")
    with pytest.raises(ValueError, match="no usable version"):
        _fact(kubernetes_git_version="v0")


def test_nodes_are_simulated_only_when_every_node_is_fake() -> None:
    fake = {"kwok.x-k8s.io/node": "fake"}
    assert c.nodes_are_simulated([fake, fake]) is True
    assert c.nodes_are_simulated([fake, {}]) is False
    assert c.nodes_are_simulated([{"kwok.x-k8s.io/node": "real"}]) is False
    assert c.nodes_are_simulated([]) is False
