"""Fixtures of the integration suite: its own simulated clusters (not the ones Molecule uses) and the artifact
server. The clusters are stopped at the end of the session unless MESHLAB_KEEP_CLUSTER=1.

Every test here drives real components: ansible-playbook, the roles, a real kube-apiserver (tests/cluster) and the
local artifact server; the shared helpers come from tests/lib (package meshlab_testlib). Nothing is mocked."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from converged import Converged, converge
from meshlab_testlib import Cluster, artifacts_url, session_cluster

# Seconds each test file took (setup + call + teardown of its tests, its clusters' start included), measured on this
# 2-core machine: `make integration` at 38f154a with 2 workers, 2026-11-30, load average 6-8 (other engineers' runs),
# 1718 s wall, gw0 busy 1715 s and gw1 1660 s. Under pytest-xdist (make integration, INTEGRATION_WORKERS=2, --dist
# loadfile --no-loadscope-reorder) a file runs whole on one worker and files are handed out in collection order as
# workers free up: the collection is ordered heaviest first (longest processing time first), so the long files start
# at once and the short ones fill in at the end. The per-file table printed at the end of every run is what to copy
# here when the suite changes; a file missing here counts as DEFAULT_FILE_SECONDS. The order of the tests within a
# file is never changed, nor is anything in a one-process run.
FILE_SECONDS = {
    "test_faults.py": 552,
    "test_shared_cluster.py": 463,
    "test_strategies.py": 378,
    "test_downloads.py": 344,
    "test_scan.py": 325,
    "test_teardown.py": 282,
    "test_secrets.py": 209,
    "test_minishift_provider.py": 207,
    "test_rbac.py": 207,
    "test_bad_input.py": 177,
    "test_stale_cluster_fact.py": 149,
    "test_report_live_shapes.py": 82,
}
DEFAULT_FILE_SECONDS = 120


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: test files heaviest first (FILE_SECONDS), each file's tests in their own order."""
    if not hasattr(config, "workerinput"):
        return
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(item.path.name, index)
    position = {id(item): index for index, item in enumerate(items)}
    items.sort(
        key=lambda item: (
            -FILE_SECONDS.get(item.path.name, DEFAULT_FILE_SECONDS),
            first[item.path.name],
            position[id(item)],
        )
    )


_file_seconds: dict[str, float] = defaultdict(float)
_file_tests: dict[str, set[str]] = defaultdict(set)
_file_worker: dict[str, str] = {}
_session_start = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sums each file's phases (in the controller, reports of every worker arrive here)."""
    path = report.nodeid.split("::", 1)[0]
    _file_seconds[path] += report.duration
    _file_tests[path].add(report.nodeid)
    worker = getattr(report, "node", None)
    if worker is not None:
        _file_worker[path] = worker.gateway.id


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Seconds per test file, heaviest first, with the worker that ran it: what FILE_SECONDS above should hold."""
    if hasattr(config, "workerinput") or not _file_seconds:
        return
    terminalreporter.section("integration: seconds per test file")
    per_worker: dict[str, float] = defaultdict(float)
    for path, seconds in sorted(_file_seconds.items(), key=lambda kv: -kv[1]):
        worker = _file_worker.get(path, "-")
        per_worker[worker] += seconds
        terminalreporter.write_line(f"{seconds:7.0f} s  {worker:4}  {path} ({len(_file_tests[path])} tests)")
    busy = ", ".join(f"{w} {s:.0f} s" for w, s in sorted(per_worker.items()))
    terminalreporter.write_line(f"busy: {busy}; wall {time.monotonic() - _session_start:.0f} s")


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
