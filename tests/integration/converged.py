"""The roles converged on one of the suite's clusters (fixtures converged_k8s and converged_openshift in
conftest.py), for the tests that read what the roles made: the scanners (test_scan.py) and the RBAC audit
(test_rbac.py). One converge per flavor serves them all while no test of another file runs in between (under
xdist both files are one unit of work, see conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshlab_testlib import ISTIO_VERSION, REPO, Cluster, PlaybookRun, ansible_playbook

# The roles with the options that make them render the most objects (on OpenShift: Scope's Route and basic auth,
# the SCC grants, Istio's Route).
CONVERGE = REPO / "tests" / "scan" / "converge.yml"


@dataclass
class Converged:
    """The suite's cluster after weave_scope and istio converged on it (tests/scan/converge.yml)."""

    cluster: Cluster
    run: PlaybookRun
    folder: Path


def converge(cluster: Cluster, base_url: str, folder: Path) -> Converged:
    extra = {
        "scan_kubeconfig": str(cluster.kubeconfig),
        "scan_route": cluster.flavor == "openshift",
        "scan_istio_version": ISTIO_VERSION,
        "scan_istio_base_url": base_url,
        "scan_dir": str(folder),
    }
    result = ansible_playbook(CONVERGE, folder, extra, timeout=1500)
    assert result.rc == 0 and result.failed == 0, f"converge failed on {cluster.name}:\n{result.output[-6000:]}"
    return Converged(cluster, result, folder)
