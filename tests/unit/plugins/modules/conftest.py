"""The ``run_module`` fixture: a module's ``main()`` run in-process against a :class:`FakeTool`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from ansible.module_utils import basic
from module_harness import as_module, module_args
from vm_fakes import FakeTool, ModuleRun


@pytest.fixture
def run_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., ModuleRun]:
    """``run_module(main, args, tool, *, check_mode=False, diff=False, on_path=("minishift", "crc"))``."""

    def run(
        main: Callable[[], None],
        args: dict[str, Any],
        tool: FakeTool,
        *,
        check_mode: bool = False,
        diff: bool = False,
        on_path: tuple[str, ...] = ("minishift", "crc"),
    ) -> ModuleRun:
        logged: list[str] = []
        # Warnings and deprecations are process-wide in ansible-core: start each run clean, as a module.
        as_module(monkeypatch)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kwargs: tool(args, **kwargs))
        monkeypatch.setattr(
            basic.AnsibleModule,
            "get_bin_path",
            lambda self, arg, required=False, opt_dirs=None: "/usr/local/bin/" + arg if arg in on_path else None,
        )
        monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
        with module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)), pytest.raises(SystemExit):
            main()
        stdout = capsys.readouterr().out
        return ModuleRun(result=json.loads(stdout), stdout=stdout, logged=logged)

    return run
