"""The bench's module-run count (tests/scripts/callback_plugins/meshlab_module_runs.py) on a real ansible-playbook
run, its per-task grouping (tests/scripts/bench.py) and the strategy choice (tests/scripts/strategy.sh)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "tests" / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bench  # noqa: E402 - tests/scripts on the path first

PLAY = """
- name: counted
  hosts: localhost
  gather_facts: false
  tasks:
    - name: cheap, not counted
      ansible.builtin.set_fact:
        x: 1
    - name: one module run
      ansible.builtin.ping:
    - name: two items run, one skipped
      ansible.builtin.command: "echo {{ item }}"
      loop: [1, 2, 3]
      when: item != 2
      changed_when: false
    - name: skipped, not counted
      ansible.builtin.stat:
        path: /
      when: false
    - name: cheap, not counted either
      ansible.builtin.debug:
        msg: hi
    - name: a role's argument check runs on the controller, not counted
      ansible.builtin.validate_argument_spec:
        argument_spec: {x: {type: int}}
        provided_arguments: {x: 1}
    - name: a failed run counts
      ansible.builtin.command: "false"
      ignore_errors: true
      changed_when: false
    - name: a role's tasks count for the role
      ansible.builtin.include_role:
        name: counted_role
"""


def counted_run(tmp_path: Path, play: str, *extra_args: str, collections: Path | None = None) -> dict:
    """ansible-playbook of `play` on localhost (local connection, linear) with the bench's callback; its count."""
    (tmp_path / "play.yml").write_text(play)
    out = tmp_path / "runs.json"
    env = {
        **os.environ,
        "ANSIBLE_CALLBACK_PLUGINS": str(SCRIPTS / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "meshlab_module_runs",
        "ANSIBLE_CACHE_PLUGIN": "memory",
        "ANSIBLE_STRATEGY": "linear",
        "MESHLAB_MODULE_RUNS_FILE": str(out),
        **({"ANSIBLE_COLLECTIONS_PATH": str(collections)} if collections else {}),
    }
    proc = subprocess.run(
        [
            *(Path(sys.executable).parent / "ansible-playbook", "-i", "localhost,", "-c", "local", "play.yml"),
            *("-e", f"ansible_python_interpreter={sys.executable}", *extra_args),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def test_module_runs_are_counted_per_item_and_role(tmp_path):
    role = tmp_path / "roles" / "counted_role" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text(
        "- name: in the role\n  ansible.builtin.stat:\n    path: /\n"
        "- name: cheap in the role\n  ansible.builtin.assert:\n    that: true\n"
    )
    runs = counted_run(tmp_path, PLAY)
    assert runs["total"] == 5, runs
    assert runs["by_group"] == {"play: counted": 4, "counted_role": 1}, runs
    assert runs["by_action"] == {"ping": 1, "command": 3, "stat": 1}, runs
    assert runs["tasks"]["play: counted : two items run, one skipped"] == 2, runs
    assert runs["tasks"]["counted_role : in the role"] == 1, runs


HOST_ENV_PLAY = """
- name: host_env
  hosts: localhost
  gather_facts: false
  tasks:
    - name: read on the controller by the action plugin, no module ran, not counted
      meshlab.service_mesh.host_env:
    - name: with become the module runs on the host, counted
      meshlab.service_mesh.host_env:
      become: true
      become_method: ansible.builtin.su
      when: become_ok | bool
"""


def test_host_env_counts_only_when_its_module_runs(tmp_path):
    collections = REPO / ".cache" / "collections"
    if not (collections / "ansible_collections" / "meshlab" / "service_mesh").is_dir():
        pytest.skip("the collection is not linked into .cache/collections (make setup)")
    root = os.geteuid() == 0  # su to root without a password
    runs = counted_run(tmp_path, HOST_ENV_PLAY, "-e", f"become_ok={root}", collections=collections)
    assert runs["total"] == (1 if root else 0), runs
    if root:
        assert runs["tasks"] == {"play: host_env : with become the module runs on the host, counted": 1}, runs


def test_profile_task_names_map_to_their_group():
    by_task = {"istio : Applied": 1, "play: The mesh report : Read": 1}
    assert bench.task_group(by_task, "meshlab.service_mesh.istio : Applied") == "istio"
    assert bench.task_runs(by_task, "meshlab.service_mesh.istio : Applied") == "1"
    assert bench.task_group(by_task, "Read") == "play: The mesh report"
    assert bench.task_group(by_task, "A set_fact outside roles") == "other"
    assert bench.task_runs(by_task, "A set_fact outside roles") == "0"


@pytest.mark.parametrize(("asked", "rc"), [("linear", 0), ("bogus", 2)])
def test_strategy_script_answers(asked, rc):
    proc = subprocess.run(
        [SCRIPTS / "strategy.sh", sys.executable, asked], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == rc, proc.stderr
    if rc == 0:
        assert proc.stdout.split() == ["ANSIBLE_STRATEGY=linear"]
    else:
        assert "not one of auto, linear, mitogen_linear" in proc.stderr


def bench_of(tmp_path: Path) -> bench.Bench:
    args = argparse.Namespace(
        committed=False,
        workdir=str(tmp_path / "bench"),
        istio_version="1.2.3",
        istio_base_url="http://127.0.0.1:9/istio",
        lab_strategy="linear",
    )
    return bench.Bench(args)


@pytest.mark.parametrize("tags", [None, "cluster"])
def test_site_is_launched_with_the_bench_environment(tmp_path, monkeypatch, tags):
    """The bench launches site.yml through tests/lib's Playbook with the copy's config and collections, the
    cluster's own fact cache, report folder and istio_bin_dir, its strategy (not the caller's), profile_tasks and the
    module-run callback."""
    monkeypatch.setenv("ANSIBLE_STRATEGY", "free")
    monkeypatch.setenv("ANSIBLE_STRATEGY_PLUGINS", "/nowhere")
    b = bench_of(tmp_path)
    launch = b.site_playbook("bench-x-1l", "a-first", "linear", tags)
    env, cmd = launch.environment(), launch.command()
    d = b.cluster_dirs("bench-x-1l")
    assert env["ANSIBLE_CONFIG"] == str(b.src / "ansible.cfg")
    assert env["ANSIBLE_COLLECTIONS_PATH"] == str(b.collections)
    assert env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == str(d["facts"])
    assert env["MESHLAB_REPORT_DIR"] == str(d["report"])
    assert env["ANSIBLE_STRATEGY"] == "linear" and "ANSIBLE_STRATEGY_PLUGINS" not in env
    assert env["ANSIBLE_CALLBACK_PLUGINS"] == str(b.src / "tests/scripts/callback_plugins")
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "ansible.posix.profile_tasks,meshlab_module_runs"
    assert env["MESHLAB_MODULE_RUNS_FILE"] == str(d["logs"] / "a-first.module-runs.json")
    assert env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] == "all" and env["ANSIBLE_NOCOLOR"] == "1"
    assert launch.cwd == b.src
    assert cmd[:3] == ["ansible-playbook", "-i", "inventory/localhost.yml"] and cmd[-1] == "playbooks/site.yml"
    assert "-c" not in cmd and not any(a.startswith("ansible_python_interpreter=") for a in cmd)
    assert (["--tags", tags] == cmd[-3:-1]) if tags else "--tags" not in cmd
    extra = json.loads(Path(cmd[cmd.index("-e") + 1].removeprefix("@")).read_text())
    assert extra["istio_bin_dir"] == str(d["bin"]) and extra["site_report_dir"] == str(d["report"])
    assert extra["minishift_kwok_cluster_name"] == "bench-x-1l" and extra["minishift_kwok_workdir"] == str(d["kwok"])
    assert extra["istio_download_allow_http"] is True


def test_cached_cluster_is_the_published_fact(tmp_path):
    b = bench_of(tmp_path)
    facts = b.cluster_dirs("bench-x-1c")["facts"]
    facts.mkdir(parents=True)
    with pytest.raises(RuntimeError, match="published no meshlab_cluster"):
        b.cached_cluster("bench-x-1c")
    published = {"kubeconfig": "/k/kubeconfig", "context": "kwok-bench-x-1c"}
    tagged = {"__ansible_type": "dict", "value": published, "tags": []}  # ansible-core 2.19's cache
    (facts / "localhost").write_text(json.dumps({"__payload__": json.dumps({"meshlab_cluster": tagged})}))
    assert b.cached_cluster("bench-x-1c") == published


def test_profile_lines_after_the_recap():
    text = "\n".join(
        [
            "TASK [x] ***",
            "ok: [localhost]",
            "PLAY RECAP *********",
            "localhost                  : ok=6    changed=1    unreachable=0    failed=0    skipped=3    rescued=0",
            "",
            "meshlab.service_mesh.istio : Applied ------------------------------------ 12.50s",
            "The fact cache folder is private (0700) ---------------------------------- 0.83s",
        ]
    )
    assert bench.parse_profile(text) == [
        ("meshlab.service_mesh.istio : Applied", 12.5),
        ("The fact cache folder is private (0700)", 0.83),
    ]
    assert bench.parse_profile("no recap here") == []
