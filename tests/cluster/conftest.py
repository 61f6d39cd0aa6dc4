"""Fixtures for the simulated-cluster tests: start the clusters and the artifact server once per session.

The clusters are started with tests/cluster/cluster.sh (FLAVOR=kubernetes and FLAVOR=openshift, NODES=2) and
stopped at the end of the session unless MESHLAB_KEEP_CLUSTER=1.
"""

import os
import time

import pytest
from cluster_helpers import HERE, KEEP, cluster_sh, run, start, wait_for
from kubernetes import client


@pytest.fixture(scope="session")
def k8s():
    cluster = start("kubernetes")
    yield cluster
    if not KEEP:
        cluster_sh("down", "kubernetes", timeout=180)


@pytest.fixture(scope="session")
def openshift():
    cluster = start("openshift")
    yield cluster
    if not KEEP:
        cluster_sh("down", "openshift", timeout=180)


@pytest.fixture(scope="session")
def artifacts():
    """Base URL of the local artifact server (built and started by artifacts.sh)."""
    script = HERE / "artifacts.sh"
    run([script, "build"], timeout=600)
    started_here = "already up" not in run([script, "up"], timeout=30).stderr
    yield run([script, "url"], timeout=30).stdout.strip()
    if started_here and not KEEP:
        run([script, "down"], timeout=30)


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
