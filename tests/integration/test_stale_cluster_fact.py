"""Issue 15, a stale or foreign cluster fact: after `make molecule S=kwok` the fact cache held meshlab_cluster of the
scenario's cluster, deleted by then, and a later weave_scope run with K8S_AUTH_KUBECONFIG pointing at a live cluster
failed with "Could not find or access '.../kwok-molecule-kwok.yaml' on the Ansible Controller".

Reproduced in a fact cache of the test's own (tmp_path/facts, never the checkout's .cache/facts), seeded as that
Molecule run left it, against this suite's live simulated cluster:
- site.yml --tags scope says in one line what the cached cluster was and how to refresh it (--tags cluster), clears
  it from the cache, and puts Scope on the cluster K8S_AUTH_KUBECONFIG names;
- the weave_scope role alone (the cached fact as a variable) says the same and goes to K8S_AUTH_KUBECONFIG's cluster;
- the precedence both ways: a cached meshlab_cluster whose kubeconfig exists is used when nothing is asked (its
  unreachable server is named in the failure), and weave_scope_kubeconfig beats it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from meshlab_testlib import PREFIX, REPO, Cluster, PlaybookRun, ansible_playbook
from meshlab_testlib.factcache import cached_fact

NAMESPACE = f"it-stale-fact-{PREFIX}"[:63].rstrip("-")

SEED = """
- name: The fact cache is seeded
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Meshlab_cluster is cached as a run of the minishift role left it
      ansible.builtin.set_fact:
        meshlab_cluster: "{{ seed_cluster }}"
        cacheable: true
"""

SCOPE = """
- name: Weave Scope alone
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The weave_scope role runs
      ansible.builtin.include_role:
        name: meshlab.service_mesh.weave_scope
"""


def fact(kubeconfig: Path, api_url: str = "https://127.0.0.1:32767") -> dict:
    """meshlab_cluster in the shape cluster_facts gives it (a kwok cluster of a Molecule scenario)."""
    return {
        "provider": "kwok",
        "kubeconfig": str(kubeconfig),
        "context": "kwok-molecule-kwok",
        "api_url": api_url,
        "platform": "kubernetes",
        "kubernetes_version": "1.35.4",
        "openshift_version": None,
        "routing_suffix": None,
        "simulated": True,
    }


def seed(facts: Path, tmp_path: Path, cluster: dict) -> None:
    run = ansible_playbook(
        SEED, tmp_path / "seed", {"seed_cluster": cluster}, env={"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(facts)}
    )
    assert run.rc == 0, run.output[-3000:]
    assert cached_fact(facts, "meshlab_cluster")["kubeconfig"] == cluster["kubeconfig"]


def scope(tmp_path: Path, facts: Path, extra: dict | None = None, env: dict | None = None) -> PlaybookRun:
    return ansible_playbook(
        SCOPE,
        tmp_path,
        {"weave_scope_namespace": NAMESPACE, "weave_scope_wait_timeout": 120, **(extra or {})},
        env={"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(facts), **(env or {})},
    )


def one_line(output: str) -> str:
    """Ansible's output (the yaml result format) with its line wrapping undone and a single-quoted scalar's ''
    read as ' (the callback folds messages at about 100 characters and may quote them either way)."""
    return " ".join(output.split()).replace("''", "'")


@pytest.fixture
def scope_cleanup(k8s: Cluster, tmp_path: Path):
    yield
    run = ansible_playbook(
        SCOPE,
        tmp_path / "cleanup",
        {
            "weave_scope_namespace": NAMESPACE,
            "weave_scope_state": "absent",
            "weave_scope_kubeconfig": str(k8s.kubeconfig),
        },
    )
    assert run.rc == 0, run.output[-3000:]


def test_site_ignores_a_cached_cluster_whose_kubeconfig_is_gone(k8s: Cluster, tmp_path: Path, scope_cleanup) -> None:
    facts = tmp_path / "facts"
    gone = tmp_path / "molecule" / "kwok" / "kwok-molecule-kwok.yaml"
    seed(facts, tmp_path, fact(gone))

    run = ansible_playbook(
        REPO / "playbooks" / "site.yml",
        tmp_path / "site",
        {"weave_scope_namespace": NAMESPACE, "weave_scope_wait_timeout": 120},
        "--tags",
        "scope",
        env={"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(facts), "K8S_AUTH_KUBECONFIG": str(k8s.kubeconfig)},
    )
    text = one_line(run.output)
    assert run.rc == 0, run.output[-4000:]
    assert "Could not find or access" not in run.output
    assert (
        f"The fact cache's meshlab_cluster (kwok cluster, context kwok-molecule-kwok at https://127.0.0.1:32767) "
        f"names kubeconfig {gone}, which no longer exists: it is ignored and the cached facts are cleared." in text
    ), run.output[-4000:]
    assert "make lab LAB_ARGS='--tags cluster'" in text
    assert "ansible-playbook meshlab.service_mesh.site --tags cluster" in text
    # The stale fact is gone from the cache, and Scope runs on the live cluster K8S_AUTH_KUBECONFIG names.
    assert cached_fact(facts, "meshlab_cluster") is None
    for kind, name in [
        ("deployment", "weave-scope-app"),
        ("deployment", "weave-scope-cluster-agent"),
        ("daemonset", "weave-scope-agent"),
    ]:
        k8s.kubectl("-n", NAMESPACE, "get", kind, name)


def test_the_role_alone_ignores_it_and_an_explicit_kubeconfig_beats_a_cached_one(
    k8s: Cluster, tmp_path: Path, scope_cleanup
) -> None:
    facts = tmp_path / "facts"
    gone = tmp_path / "molecule" / "kwok" / "kwok-molecule-kwok.yaml"
    seed(facts, tmp_path, fact(gone))

    # The cached fact reaches the role as a variable (INJECT_FACTS_AS_VARS): the role itself ignores it.
    run = scope(tmp_path / "stale", facts, env={"K8S_AUTH_KUBECONFIG": str(k8s.kubeconfig)})
    text = one_line(run.output)
    assert run.rc == 0, run.output[-4000:]
    assert "Could not find or access" not in run.output
    assert (
        f"meshlab_cluster (the fact cache's kwok cluster, context kwok-molecule-kwok at https://127.0.0.1:32767) names "
        f"kubeconfig {gone}, which no longer exists: it is ignored, and Scope goes to {k8s.kubeconfig}." in text
    ), run.output[-4000:]
    assert "--tags cluster" in text
    k8s.kubectl("-n", NAMESPACE, "get", "deployment", "weave-scope-app")

    # A cached meshlab_cluster whose kubeconfig exists (a copy of the live one whose server is a closed port) ...
    foreign = tmp_path / "foreign-kubeconfig.yaml"
    text_kc = k8s.kubeconfig.read_text()
    server = next(line.split("server:", 1)[1].strip() for line in text_kc.splitlines() if "server:" in line)
    foreign.write_text(text_kc.replace(server, "https://127.0.0.1:9"))
    context = k8s.kubectl("config", "current-context").stdout.strip()
    seed(facts, tmp_path, {**fact(foreign, "https://127.0.0.1:9"), "context": context})

    # ... is the cluster when nothing else is asked: the run fails on its server, before any change ...
    run = scope(tmp_path / "cached", facts)
    assert run.rc != 0
    assert "127.0.0.1:9" in run.output, run.output[-4000:]
    assert "no longer exists" not in run.output

    # ... and weave_scope_kubeconfig beats it: the live cluster, where nothing changes on a re-run.
    run = scope(tmp_path / "explicit", facts, {"weave_scope_kubeconfig": str(k8s.kubeconfig)})
    assert run.rc == 0, run.output[-4000:]
    assert run.changed == 0, run.output[-4000:]
