# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin of meshlab.service_mesh.host_env: on a local connection without become the host is the
controller, so HOME, PATH and KUBECONFIG are read here and no module runs; otherwise the module runs on the
host, as the task's (possibly become) user."""

from __future__ import annotations

import os
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.meshlab.service_mesh.plugins.modules.host_env import read


def reads_on_controller(transport: str, become: bool) -> bool:
    """Whether the values can be read in the controller's own environment: the task runs on this machine
    (a local connection, ansible.builtin.local or Mitogen's, whose transport is also 'local') as this user."""
    return transport == "local" and not become


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        if self._task.args:
            result.update(failed=True, msg="host_env takes no options; got: " + ", ".join(sorted(self._task.args)))
            return result
        transport = str(getattr(self._connection, "transport", "") or "")
        if reads_on_controller(transport, bool(self._play_context.become)):
            result.update(changed=False, source="controller", **read(os.environ))
            return result
        result.update(
            self._execute_module(module_name="meshlab.service_mesh.host_env", module_args={}, task_vars=task_vars)
        )
        return result
