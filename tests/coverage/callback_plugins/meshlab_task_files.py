# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Test-only callback (not part of the collection): which task files of the roles really ran.

Enabled by the Makefile for test runs (ANSIBLE_CALLBACK_PLUGINS=tests/coverage/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=...,meshlab_task_files). Each time a task of roles/<role>/tasks/ gives a
result that is not "skipped" (ok, changed, failed, unreachable, or an item of a loop), its task file
is appended, as ``roles/<role>/tasks/<file>``, to the log named by MESHLAB_TASK_COVERAGE_LOG (one
line per file and ansible-playbook run). A file whose every task was skipped did not run.
tests/coverage/check_task_files.py compares the log with the tree.

The path is taken after the last ``/roles/`` of the task's path, so the copy Molecule installs under
ANSIBLE_HOME and the working tree count alike.
"""

from __future__ import annotations

import os
import re

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: meshlab_task_files
type: aggregate
short_description: Log the role task files that ran (tests only)
description:
  - Appends each role task file that gave a result other than skipped to E(MESHLAB_TASK_COVERAGE_LOG).
requirements:
  - E(MESHLAB_TASK_COVERAGE_LOG) names the log file; without it nothing is written.
"""

# The last roles/<role>/tasks/ of the path, then the file (possibly in a sub-folder), then :<line>.
_ROLE_TASK_FILE = re.compile(r"(?:^|/)(roles/[^/]+/tasks/(?:(?!roles/)[^:])+\.ya?ml):\d+$")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "meshlab_task_files"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._log = os.environ.get("MESHLAB_TASK_COVERAGE_LOG", "")
        self._seen: set[str] = set()

    def _ran(self, result) -> None:
        if not self._log:
            return
        task = getattr(result, "_task", None)
        path = task.get_path() if task is not None else None
        match = _ROLE_TASK_FILE.search(path or "")
        if not match:
            return
        rel = match.group(1)
        if rel in self._seen:
            return
        self._seen.add(rel)
        try:
            os.makedirs(os.path.dirname(self._log) or ".", exist_ok=True)
            with open(self._log, "a", encoding="utf-8") as f:
                f.write(rel + "\n")
        except OSError as exc:
            self._display.warning(f"meshlab_task_files: cannot append to {self._log}: {exc}")

    def v2_runner_on_ok(self, result) -> None:
        self._ran(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._ran(result)

    def v2_runner_on_unreachable(self, result) -> None:
        self._ran(result)

    def v2_runner_item_on_ok(self, result) -> None:
        self._ran(result)

    def v2_runner_item_on_failed(self, result) -> None:
        self._ran(result)

    def v2_runner_on_async_ok(self, result) -> None:
        self._ran(result)
