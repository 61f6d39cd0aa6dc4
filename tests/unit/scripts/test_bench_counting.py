"""The bench's module-run count (tests/scripts/callback_plugins/meshlab_module_runs.py) on a real ansible-playbook
run, its per-task grouping (tests/scripts/bench.py) and the strategy choice (tests/scripts/strategy.sh)."""

from __future__ import annotations

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


def test_module_runs_are_counted_per_item_and_role(tmp_path):
    role = tmp_path / "roles" / "counted_role" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text(
        "- name: in the role\n  ansible.builtin.stat:\n    path: /\n"
        "- name: cheap in the role\n  ansible.builtin.assert:\n    that: true\n"
    )
    (tmp_path / "play.yml").write_text(PLAY)
    out = tmp_path / "runs.json"
    env = {
        **os.environ,
        "ANSIBLE_CALLBACK_PLUGINS": str(SCRIPTS / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "meshlab_module_runs",
        "ANSIBLE_CACHE_PLUGIN": "memory",
        "ANSIBLE_STRATEGY": "linear",
        "MESHLAB_MODULE_RUNS_FILE": str(out),
    }
    proc = subprocess.run(
        [
            *(Path(sys.executable).parent / "ansible-playbook", "-i", "localhost,", "-c", "local", "play.yml"),
            *("-e", f"ansible_python_interpreter={sys.executable}"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = json.loads(out.read_text())
    assert runs["total"] == 5, runs
    assert runs["by_group"] == {"play: counted": 4, "counted_role": 1}, runs
    assert runs["by_action"] == {"ping": 1, "command": 3, "stat": 1}, runs
    assert runs["tasks"]["play: counted : two items run, one skipped"] == 2, runs
    assert runs["tasks"]["counted_role : in the role"] == 1, runs


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
