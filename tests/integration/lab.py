"""The integration suite's names for the shared test helpers: everything here is defined once in tests/lib
(package meshlab_testlib: the simulated cluster, run(), the ansible-playbook launcher and recap parser) and only
re-exported, so that the suite's test files keep importing `from lab import ...`. New code imports meshlab_testlib.

Every test here drives real components: ansible-playbook, the roles, a real kube-apiserver (tests/cluster) and
the local artifact server. Nothing is mocked.
"""

from __future__ import annotations

from meshlab_testlib import (
    CACHE_DIR,
    ISTIO_VERSION,
    KEEP,
    KUBECTL,
    LAB_SELECTOR,
    PREFIX,
    REPO,
    Cluster,
    PlaybookProcess,
    PlaybookRun,
    ansible_playbook,
    artifacts_url,
    files_under,
    free_ports,
    parse_recap,
    run,
    start_cluster,
)

__all__ = [
    "CACHE_DIR",
    "ISTIO_VERSION",
    "KEEP",
    "KUBECTL",
    "LAB_SELECTOR",
    "PREFIX",
    "REPO",
    "Cluster",
    "PlaybookProcess",
    "PlaybookRun",
    "ansible_playbook",
    "artifacts_url",
    "files_under",
    "free_ports",
    "parse_recap",
    "run",
    "start_cluster",
]
