"""Fixtures of the integration suite: its own simulated clusters (not the ones Molecule uses) and the artifact
server. The clusters are stopped at the end of the session unless MESHLAB_KEEP_CLUSTER=1.

Every test here drives real components: ansible-playbook, the roles, a real kube-apiserver (tests/cluster) and the
local artifact server; the shared helpers come from tests/lib (package meshlab_testlib). Nothing is mocked."""

from __future__ import annotations

import pytest
from converged import Converged, converge
from meshlab_testlib import Cluster, artifacts_url, session_cluster


@pytest.fixture(scope="session")
def k8s() -> Cluster:
    yield from session_cluster("kubernetes")


@pytest.fixture(scope="session")
def openshift() -> Cluster:
    yield from session_cluster("openshift")


@pytest.fixture(scope="session")
def istio_base_url() -> str:
    return artifacts_url()


# For the scanner and RBAC tests: a converge per flavor and test module, right before the module reads the cluster
# (another module in between may have taken the lab down, e.g. a teardown test on the same cluster).
@pytest.fixture(scope="module")
def converged_k8s(k8s: Cluster, istio_base_url: str, tmp_path_factory) -> Converged:
    return converge(k8s, istio_base_url, tmp_path_factory.mktemp("converged-kubernetes"))


@pytest.fixture(scope="module")
def converged_openshift(openshift: Cluster, istio_base_url: str, tmp_path_factory) -> Converged:
    return converge(openshift, istio_base_url, tmp_path_factory.mktemp("converged-openshift"))
