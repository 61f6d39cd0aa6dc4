# Kept under tests/ (not in the collection): the bench's and the tests' count of module runs.
"""Callback meshlab_module_runs: counts the module runs of a playbook run and writes them as JSON.

A module run is an executed task result (ok or failed, not skipped) whose action is not one that runs on the
controller without a module: set_fact, assert, debug, fail, meta, add_host, group_by, validate_argument_spec (a role's
argument check), include_*/import_*; nor a result of meshlab.service_mesh.host_env whose action plugin read the
controller's environment itself (``source: controller``: no module ran).
Every loop item counts one (the loop's summary result does not count again). Written at the end of the run to
the file named by MESHLAB_MODULE_RUNS_FILE: {"total", "by_group", "by_action", "tasks"}, where a group is the
role (its short name) or, for a task outside any role, "play: <play name>".
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: meshlab_module_runs
    type: aggregate
    short_description: counts module runs per role and writes them as JSON (MESHLAB_MODULE_RUNS_FILE)
    description: the bench's count of module runs (tests/scripts/bench.py).
"""

NOT_MODULES = {"set_fact", "assert", "debug", "fail", "meta", "add_host", "group_by", "validate_argument_spec"}


def short_action(task) -> str:
    action = getattr(task, "resolved_action", None) or task.action or ""
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if action.startswith(prefix):
            return action[len(prefix) :]
    return action


def counts(action: str) -> bool:
    return action not in NOT_MODULES and not action.startswith(("include_", "import_"))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "meshlab_module_runs"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.out = os.environ.get("MESHLAB_MODULE_RUNS_FILE", "")
        self.play = ""
        self.total = 0
        self.by_group: dict[str, int] = {}
        self.by_action: dict[str, int] = {}
        self.tasks: dict[str, int] = {}

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name().strip()

    def _count(self, result) -> None:
        task = result._task
        action = short_action(task)
        if not counts(action):
            return
        if action == "meshlab.service_mesh.host_env" and result._result.get("source") == "controller":
            return
        role = getattr(task, "_role", None)
        group = role.get_name(include_role_fqcn=False) if role else f"play: {self.play}"
        # A role's task is named '<role> : <task>' already (as profile_tasks names it, without the collection).
        name = task.get_name(include_role_fqcn=False).strip() if role else f"{group} : {task.get_name().strip()}"
        self.total += 1
        self.by_group[group] = self.by_group.get(group, 0) + 1
        self.by_action[action] = self.by_action.get(action, 0) + 1
        self.tasks[name] = self.tasks.get(name, 0) + 1

    def _single(self, result) -> None:
        # A loop's summary result: its items were counted one by one.
        if result._task.loop is not None or "results" in result._result:
            return
        self._count(result)

    def v2_runner_on_ok(self, result):
        self._single(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._single(result)

    def v2_runner_item_on_ok(self, result):
        self._count(result)

    def v2_runner_item_on_failed(self, result):
        self._count(result)

    def v2_playbook_on_stats(self, stats):
        if not self.out:
            return
        data = {"total": self.total, "by_group": self.by_group, "by_action": self.by_action, "tasks": self.tasks}
        with open(self.out, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
