"""Old import name of the shared test helpers, kept only for test files that still say `from cluster_helpers import`:
everything is defined once in tests/lib (package meshlab_testlib). New code imports meshlab_testlib."""

from meshlab_testlib import CACHE_DIR, KEEP, NODES, REPO, VERSIONS, bin_path, cluster_sh, run, wait_for
from meshlab_testlib import CLUSTER_DIR as HERE

__all__ = ["CACHE_DIR", "HERE", "KEEP", "NODES", "REPO", "VERSIONS", "bin_path", "cluster_sh", "run", "wait_for"]
