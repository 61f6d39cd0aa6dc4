"""meshlab_testlib: the helpers every test layer shares (tests/integration, tests/cluster, tests/matrix, tests/unit,
tests/scripts). One place each:

- versions.env, paths, run(), wait_for() .......... meshlab_testlib.env
- the simulated cluster (Cluster: start, stop, kubeconfig, kubectl, api, its processes), the artifact server
  ................................................. meshlab_testlib.cluster
- the ONE ansible-playbook launcher (Playbook: env, fact cache, collections path, extra vars, check/diff) and the
  ONE PLAY RECAP parser (parse_recap) .............. meshlab_testlib.playbook
- the guard that tests never write the checkout's fact cache ... meshlab_testlib.factcache

pytest finds this package through tests/conftest.py (it puts tests/lib on sys.path and checks the fact cache around
every session). A script outside pytest puts tests/lib on sys.path itself. tests/scripts/bench.py, for example:

    sys.path.insert(0, str(REPO / "tests" / "lib"))
    from meshlab_testlib import RECAP_LINE, Playbook

    run = Playbook(
        "playbooks/site.yml", workdir=d["base"], extra_vars=extra, args=("--tags", tags) if tags else (),
        inventory="inventory/localhost.yml", connection=None, python=None,
        config=self.src / "ansible.cfg", collections=self.collections,
        fact_cache=d["facts"], report_dir=d["report"],
        env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", ...}, cwd=self.src,
    ).run(timeout=None, log_file=log_file)
    # run.rc, run.seconds, run.output (the log's text), run.recap {"ok": .., "changed": .., ...}
    # RECAP_LINE.match(line.strip()) tells a PLAY RECAP host line (parse_profile skips those).
    cluster = cached_fact(d["facts"], "meshlab_cluster")  # what the lab published (kubeconfig, context, ...)
"""

from __future__ import annotations

from .cluster import (
    LAB_SELECTOR,
    NODES,
    Cluster,
    artifacts_url,
    cluster_sh,
    free_ports,
    session_cluster,
    start_cluster,
)
from .env import (
    ARTIFACTS_SH,
    BIN_DIR,
    CACHE_DIR,
    CLUSTER_DIR,
    CLUSTER_SH,
    ISTIO_VERSION,
    KEEP,
    KUBECTL,
    PREFIX,
    REPO,
    VERSIONS,
    bin_path,
    files_under,
    run,
    versions,
    wait_for,
)
from .factcache import cached_fact, cached_facts, checkout_cache, refuse_checkout_cache, untag
from .playbook import RECAP_LINE, Playbook, PlaybookProcess, PlaybookRun, ansible_playbook, launch, parse_recap

__all__ = [
    "ARTIFACTS_SH",
    "BIN_DIR",
    "CACHE_DIR",
    "CLUSTER_DIR",
    "CLUSTER_SH",
    "ISTIO_VERSION",
    "KEEP",
    "KUBECTL",
    "LAB_SELECTOR",
    "NODES",
    "PREFIX",
    "RECAP_LINE",
    "REPO",
    "VERSIONS",
    "Cluster",
    "Playbook",
    "PlaybookProcess",
    "PlaybookRun",
    "ansible_playbook",
    "artifacts_url",
    "bin_path",
    "cached_fact",
    "cached_facts",
    "checkout_cache",
    "cluster_sh",
    "files_under",
    "free_ports",
    "launch",
    "parse_recap",
    "refuse_checkout_cache",
    "run",
    "session_cluster",
    "start_cluster",
    "untag",
    "versions",
    "wait_for",
]
