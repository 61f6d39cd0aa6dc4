"""Fixtures for the simulated-cluster tests: start the clusters and the artifact server once per session.

The clusters are the shared ones (meshlab-kubernetes and meshlab-openshift, NODES=2) that `make cluster-up` starts,
through tests/lib's Cluster (tests/cluster/cluster.sh); they are stopped at the end of the session unless
MESHLAB_KEEP_CLUSTER=1.
"""

import os
import time

import pytest
from kubernetes import client
from meshlab_testlib import ARTIFACTS_SH, KEEP, Cluster, run, session_cluster, wait_for


@pytest.fixture(scope="session")
def k8s() -> Cluster:
    yield from session_cluster("kubernetes", name="meshlab-kubernetes")


@pytest.fixture(scope="session")
def openshift() -> Cluster:
    yield from session_cluster("openshift", name="meshlab-openshift")


@pytest.fixture(scope="session")
def artifacts():
    """Base URL of the local artifact server (built and started by artifacts.sh)."""
    run([ARTIFACTS_SH, "build"], timeout=600)
    started_here = "already up" not in run([ARTIFACTS_SH, "up"], timeout=30).stderr
    yield run([ARTIFACTS_SH, "url"], timeout=30).stdout.strip()
    if started_here and not KEEP:
        run([ARTIFACTS_SH, "down"], timeout=30)


@pytest.fixture
def namespace(k8s):
    """A fresh namespace in the kubernetes cluster, deleted afterwards."""
    name = f"t-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    api = client.CoreV1Api(k8s.api())
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods need the namespace's "default" ServiceAccount (ServiceAccount admission is on).
    wait_for(lambda: api.read_namespaced_service_account("default", name), 60, "default ServiceAccount")
    yield name
    api.delete_namespace(name)
