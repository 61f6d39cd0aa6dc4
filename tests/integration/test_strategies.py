"""Issue 13: the lab with and without mitogen, and drift repaired.

- Equal results: playbooks/site.yml (provider existing) converges one simulated cluster with the strategy linear and
  another with mitogen_linear (tests/scripts/strategy.sh finds it; SKIPPED, with the reason, when mitogen does not
  run with the installed ansible-core). Both runs end with the same recap counts, and the clusters hold the same
  objects labelled part of the lab (kind, namespace, name; what controllers derive from them left out).
- Drift: on the cluster converged with the strategy the suite runs with (ANSIBLE_STRATEGY, which `make integration`
  exports), a BookInfo Service is deleted and a BookInfo Deployment scaled; site.yml again restores both
  (changed > 0), and a third run changes nothing.
- Teardown (teardown_check.py says what it proves): then playbooks/teardown.yml takes that same lab down, twice (the
  second with istio_remove_crds). Each lab's cluster held objects of someone else (BEFORE_LAB) before its first
  site.yml; after the teardown they are there unchanged, and nothing else is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from meshlab_testlib import (
    ISTIO_VERSION,
    KEEP,
    LAB_SELECTOR,
    REPO,
    Cluster,
    PlaybookRun,
    ansible_playbook,
    start_cluster,
)
from teardown_check import BEFORE_LAB, KEPT_CRDS, LAB_WEBHOOK, SELECTORS, snapshot, strip_uid

SITE = REPO / "playbooks" / "site.yml"
TEARDOWN = REPO / "playbooks" / "teardown.yml"
RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
# What controllers make from the lab's objects (they copy its labels), and records of what happened.
DERIVED = {"Pod", "ReplicaSet", "Endpoints", "EndpointSlice", "ControllerRevision", "Event"}
SKIP_RESOURCES = {"events", "events.events.k8s.io", "componentstatuses", "leases.coordination.k8s.io"}


def strategy_env(strategy: str) -> dict[str, str] | str:
    """The environment of strategy, or why it cannot run here."""
    proc = subprocess.run(
        [REPO / "tests" / "scripts" / "strategy.sh", os.environ.get("MESHLAB_PYTHON", sys.executable), strategy],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return proc.stderr.strip() or f"strategy.sh {strategy} exited {proc.returncode}"
    return dict(item.split("=", 1) for item in proc.stdout.split())


def lab_objects(cluster: Cluster) -> set[str]:
    """kind/namespace/name of every object labelled part of the lab that no controller derived."""
    kinds = cluster.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    out = cluster.kubectl(
        "get",
        ",".join(k for k in kinds if k not in SKIP_RESOURCES),
        "-A",
        "-l",
        LAB_SELECTOR,
        "-o",
        "json",
        timeout=120,
    ).stdout
    found = set()
    for item in json.loads(out)["items"]:
        meta = item["metadata"]
        if item["kind"] in DERIVED or meta.get("ownerReferences"):
            continue
        found.add(f"{item['kind']}/{meta.get('namespace', '')}/{meta['name']}")
    return found


class Lab:
    """One cluster of this module, converged once by site.yml with one strategy."""

    def __init__(self, strategy: str, env: dict[str, str], folder: Path):
        self.strategy, self.env, self.folder = strategy, env, folder
        self.cluster = start_cluster("kubernetes", f"-{strategy.split('_', maxsplit=1)[0]}")
        if self.cluster.kubectl("get", "namespace", "istio-system", "weave", "team-a", check=False).stdout.strip():
            # A cluster kept by an earlier session (MESHLAB_KEEP_CLUSTER=1): start from an empty one.
            self.cluster.sh("down", timeout=180)
            self.cluster.sh("up")
        # Someone else's objects, there before the lab (for the teardown test): what the cluster held then.
        (folder / "before-lab.yaml").write_text(BEFORE_LAB)
        self.cluster.kubectl("apply", "-f", folder / "before-lab.yaml")
        self.before = snapshot(self.cluster)
        self.settings = self.cluster.kubectl("-n", "team-a", "get", "configmap", "settings", "-o", "json").stdout
        self.vars = {
            "minishift_provider": "existing",
            "minishift_kubeconfig": str(self.cluster.kubeconfig),
            "istio_version": ISTIO_VERSION,
            "istio_download_allow_http": True,  # the local artifact server is plain http on 127.0.0.1
            "istio_cache_dir": str(folder / "istio-cache"),
            "istio_bin_dir": str(folder / "bin"),
            "istio_wait_timeout": 180,
            "istio_readiness_timeout": 180,
            "weave_scope_wait_timeout": 180,
            "weave_scope_basic_auth_file": str(folder / "weave-scope.credentials"),
        }
        self.first: PlaybookRun | None = None

    def site(self, base_url: str, playbook: Path = SITE, **extra) -> PlaybookRun:
        run = ansible_playbook(
            playbook,
            self.folder,
            {**self.vars, "istio_download_base_url": base_url, **extra},
            env=self.env,
            timeout=1500,
        )
        assert run.rc == 0 and run.failed == 0, f"{playbook.name} ({self.strategy}) failed:\n{run.output[-6000:]}"
        return run


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    made: dict[str, Lab] = {}

    def lab(strategy: str, base_url: str) -> Lab:
        if strategy not in made:
            env = strategy_env(strategy)
            if isinstance(env, str):
                pytest.skip(f"strategy {strategy} cannot run here: {env}")
            made[strategy] = Lab(strategy, env, tmp_path_factory.mktemp(f"lab-{strategy}"))
            made[strategy].first = made[strategy].site(base_url)
        return made[strategy]

    yield lab
    if not KEEP:
        for each in made.values():
            each.cluster.sh("down", timeout=180)


def test_mitogen_gives_the_same_results(labs, istio_base_url):
    linear = labs("linear", istio_base_url)
    mitogen = labs("mitogen_linear", istio_base_url)
    recaps = {lab.strategy: {k: lab.first.recap.get(k) for k in RECAP_KEYS} for lab in (linear, mitogen)}
    assert recaps["linear"] == recaps["mitogen_linear"], recaps
    assert recaps["linear"]["changed"] > 0, recaps  # a first converge, really
    objects = {lab.strategy: lab_objects(lab.cluster) for lab in (linear, mitogen)}
    assert objects["linear"], "site.yml left no labelled object"
    assert objects["linear"] == objects["mitogen_linear"], {
        "only linear": sorted(objects["linear"] - objects["mitogen_linear"]),
        "only mitogen_linear": sorted(objects["mitogen_linear"] - objects["linear"]),
    }
    print(
        f"\nlinear {linear.first.seconds:.0f}s, mitogen_linear {mitogen.first.seconds:.0f}s; recap {recaps['linear']};"
        f" {len(objects['linear'])} labelled objects alike"
    )


def test_drift_is_repaired(labs, istio_base_url):
    lab = labs(os.environ.get("ANSIBLE_STRATEGY") or "linear", istio_base_url)
    cluster = lab.cluster
    deployment = json.loads(cluster.kubectl("-n", "bookinfo", "get", "deployment", "ratings-v1", "-o", "json").stdout)
    replicas = deployment["spec"]["replicas"]
    service = json.loads(cluster.kubectl("-n", "bookinfo", "get", "service", "details", "-o", "json").stdout)

    cluster.kubectl("-n", "bookinfo", "delete", "service", "details", "--wait=true")
    cluster.kubectl("-n", "bookinfo", "scale", "deployment", "ratings-v1", f"--replicas={replicas + 2}")
    assert not cluster.kubectl("-n", "bookinfo", "get", "service", "details", "--ignore-not-found").stdout.strip()
    scaled = cluster.kubectl("-n", "bookinfo", "get", "deployment", "ratings-v1", "-o", "jsonpath={.spec.replicas}")
    assert scaled.stdout.strip() == str(replicas + 2)

    repair = lab.site(istio_base_url)
    assert repair.changed > 0, f"drift was not seen: {repair.recap}"
    restored = json.loads(cluster.kubectl("-n", "bookinfo", "get", "service", "details", "-o", "json").stdout)
    assert restored["metadata"]["uid"] != service["metadata"]["uid"]  # made again, not the old one
    assert restored["spec"]["ports"] == service["spec"]["ports"]
    assert restored["spec"]["selector"] == service["spec"]["selector"]
    assert restored["metadata"]["labels"] == service["metadata"]["labels"]
    now = cluster.kubectl("-n", "bookinfo", "get", "deployment", "ratings-v1", "-o", "jsonpath={.spec.replicas}")
    assert now.stdout.strip() == str(replicas), f"ratings-v1 has {now.stdout} replicas, the lab asks {replicas}"

    again = lab.site(istio_base_url)
    assert again.changed == 0, f"the run after the repair changed something: {again.recap}\n{again.output[-6000:]}"
    print(
        f"\n{lab.strategy}: repair {repair.seconds:.0f}s (changed={repair.changed}), "
        f"then {again.seconds:.0f}s (changed=0)"
    )


def test_teardown_leaves_nothing_of_the_lab_and_all_else(labs, istio_base_url):
    """After the drift test (if it ran): the lab it repaired, taken down."""
    lab = labs(os.environ.get("ANSIBLE_STRATEGY") or "linear", istio_base_url)
    cluster, before = lab.cluster, lab.before
    # The lab was really there: each label finds objects, Istio's webhooks and CRDs exist.
    made = {sel: cluster.lab_objects(sel) for sel in SELECTORS}
    assert all(made.values()), {sel: len(objs) for sel, objs in made.items()}
    assert {w for w in cluster.webhooks() if LAB_WEBHOOK.search(w)}, cluster.webhooks()
    istio_crds = cluster.crds(r"istio\.io$")
    assert istio_crds

    down = lab.site(istio_base_url, TEARDOWN, teardown_keep_cluster=True)
    for sel in SELECTORS:
        assert cluster.lab_objects(sel) == set(), f"left with {sel}: {cluster.lab_objects(sel)}"
    assert not {w for w in cluster.webhooks() if LAB_WEBHOOK.search(w)}, cluster.webhooks()
    # istio_remove_crds is false by default: Istio's CRDs are kept on purpose (they hold no object now).
    assert cluster.crds(r"istio\.io$") == istio_crds
    after = snapshot(cluster)
    assert before - after == set(), f"teardown removed or recreated what was there before the lab: {before - after}"
    assert {k for k in strip_uid(after - before) if not KEPT_CRDS.match(k)} == set(), after - before
    for crd in istio_crds:
        kind_list = crd.split("/", 1)[1]
        assert cluster.kubectl("get", kind_list, "-A", "-o", "name").stdout.strip() == "", (
            f"{kind_list} still has objects"
        )
    assert json.loads(
        cluster.kubectl("-n", "team-a", "get", "configmap", "settings", "-o", "json").stdout
    ) == json.loads(lab.settings)

    # Removing the CRDs on purpose: a second teardown with istio_remove_crds (the CRDs the lab's install created).
    purge = lab.site(istio_base_url, TEARDOWN, teardown_keep_cluster=True, istio_remove_crds=True)
    assert cluster.crds(r"istio\.io$") == set()
    final = snapshot(cluster)
    assert final == before, f"gone: {before - final}; left: {final - before}"
    print(
        f"\n{lab.strategy}: {sum(len(o) for o in made.values())} labelled objects by {len(SELECTORS)} selectors, "
        f"{len(istio_crds)} Istio CRDs; teardown {down.seconds:.0f}s (CRDs kept); teardown with istio_remove_crds "
        f"{purge.seconds:.0f}s; {len(before)} objects of before the lab unchanged"
    )
