"""Fixtures of the integration suite: its own simulated clusters (not the ones Molecule uses) and the artifact
server. The clusters are stopped at the end of the session unless MESHLAB_KEEP_CLUSTER=1.

Every test here drives real components: ansible-playbook, the roles, a real kube-apiserver (tests/cluster) and the
local artifact server; the shared helpers come from tests/lib (package meshlab_testlib). Nothing is mocked."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest
from converged import Converged, converge
from meshlab_testlib import Cluster, artifacts_url, session_cluster

# Seconds each test file took (setup + call + teardown of its tests, its clusters' start included), measured on this
# 2-core machine: `make integration` at 9ba5fa4, 2 workers, 2026-12-01 00:27, load average 4-7 (other engineers'
# runs), 998 s wall, gw0 busy 959 s and gw1 994 s. Under pytest-xdist (make integration, INTEGRATION_WORKERS=2,
# --dist loadfile --no-loadscope-reorder, scheduled by IntegrationScheduling below) a unit of work (a file, or the
# files of a UNITS entry) runs whole on one worker, and units are handed out in collection order as workers come to
# their last test: the collection is ordered heaviest first (longest processing time first), so the long units
# start at once and the short ones fill in at the end. The per-file table printed at the end of every run is what
# to copy here when the suite changes (of the UNITS files, the first converges for all); a file missing here counts
# as DEFAULT_FILE_SECONDS. The order of the tests within a file is never changed, nor is anything in a one-process
# run.
FILE_SECONDS = {
    "test_shared_cluster.py": 457,
    "test_strategies.py": 407,
    "test_downloads.py": 247,
    "test_faults.py": 219,
    "test_minishift_provider.py": 148,
    "test_secrets.py": 134,
    "test_bad_input.py": 115,
    "test_rbac.py": 95,
    "test_stale_cluster_fact.py": 83,
    "test_report_live_shapes.py": 29,
    "test_scan.py": 17,
}
DEFAULT_FILE_SECONDS = 120

# Files whose tests only read the lab the converged_* fixtures made: under xdist they are one unit of work (one
# worker runs them one after the other), so the lab converged for the first is read by the others as it is,
# instead of being converged again on another worker's cluster (tests/scan/converge.yml, both flavors).
CONVERGED_READERS = ("test_scan.py", "test_rbac.py")
UNITS = {name: "converged-lab-readers" for name in CONVERGED_READERS}


def unit_of(file_name: str) -> str:
    """The unit of work a test file belongs to under xdist: its own name, or its UNITS entry."""
    return UNITS.get(file_name, file_name)


def unit_seconds(unit: str) -> int:
    names = [name for name, u in UNITS.items() if u == unit] or [unit]
    return sum(FILE_SECONDS.get(name, DEFAULT_FILE_SECONDS) for name in names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: units of work (a test file, or the files of a UNITS entry) heaviest first (FILE_SECONDS),
    each file's tests in their own order."""
    if not hasattr(config, "workerinput"):
        return
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(unit_of(item.path.name), index)
        first.setdefault(item.path.name, index)
    position = {id(item): index for index, item in enumerate(items)}
    items.sort(
        key=lambda item: (
            -unit_seconds(unit_of(item.path.name)),
            first[unit_of(item.path.name)],
            first[item.path.name],
            position[id(item)],
        )
    )


# optionalhook: an xdist hook, unknown (and ignored) under -p no:xdist (INTEGRATION_WORKERS=1)
@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadfile (what `make integration` asks for): IntegrationScheduling; any other mode as xdist has it."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # noqa: PLC0415 - xdist is there when --dist is given

    class IntegrationScheduling(LoadFileScheduling):
        """xdist's loadfile, with two changes.

        - The files of a UNITS entry are one unit (one worker, one after the other), every other file its own.
        - A worker is handed its next unit when its last test is about to run, not while two of its tests are
          still pending: xdist's own rule made a worker whose file has two long tests (test_faults.py: 5 and 3 min)
          take the next file at once, which then waited behind them while the other worker ran out of work. (A
          worker runs a test once it knows the next one, so one pending test is the least it can be left with.)
        """

        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            name = Path(scope).name
            return unit_of(name) if name in UNITS else scope

        def _reschedule(self, node) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

    return IntegrationScheduling(config, log)


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


# For the scanner and RBAC tests: a converge per flavor, right before the first of them reads the cluster. It is
# read as it is by the tests that follow as long as they are all of CONVERGED_READERS (they only read it); a test of
# any other file (it may have changed or taken the lab down, e.g. a teardown test on the same cluster) forgets it,
# and the next reader converges again.
_converged: dict[str, Converged] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.path.name not in CONVERGED_READERS:
        _converged.clear()


def converged_lab(cluster: Cluster, istio_base_url: str, tmp_path_factory) -> Converged:
    if cluster.flavor not in _converged:
        folder = tmp_path_factory.mktemp(f"converged-{cluster.flavor}")
        _converged[cluster.flavor] = converge(cluster, istio_base_url, folder)
    return _converged[cluster.flavor]


@pytest.fixture(scope="module")
def converged_k8s(k8s: Cluster, istio_base_url: str, tmp_path_factory) -> Converged:
    return converged_lab(k8s, istio_base_url, tmp_path_factory)


@pytest.fixture(scope="module")
def converged_openshift(openshift: Cluster, istio_base_url: str, tmp_path_factory) -> Converged:
    return converged_lab(openshift, istio_base_url, tmp_path_factory)
