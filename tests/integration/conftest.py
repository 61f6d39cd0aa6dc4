"""Fixtures of the integration suite: its own simulated clusters (not the ones Molecule uses) and the artifact
server. The clusters are stopped at the end of the session unless MESHLAB_KEEP_CLUSTER=1."""

from __future__ import annotations

import pytest
from lab import KEEP, Cluster, artifacts_url, start_cluster


@pytest.fixture(scope="session")
def k8s() -> Cluster:
    cluster = start_cluster("kubernetes")
    yield cluster
    if not KEEP:
        cluster.sh("down", timeout=180)


@pytest.fixture(scope="session")
def openshift() -> Cluster:
    cluster = start_cluster("openshift")
    yield cluster
    if not KEEP:
        cluster.sh("down", timeout=180)


@pytest.fixture(scope="session")
def istio_base_url() -> str:
    return artifacts_url()
