"""Test doubles for running a module's ``main()`` in-process with a scripted ``minishift``/``crc``.

``AnsibleModule.run_command`` is replaced by a :class:`FakeTool` that answers from a
table keyed by the argv after the executable, and records every call. The module's
result is read back from what ``exit_json``/``fail_json`` print, so Ansible's own
no_log filtering is part of what the tests see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answer = tuple[int, str, str]


@dataclass
class FakeTool:
    """Answers commands from ``answers`` (argv without the executable -> (rc, stdout, stderr))."""

    answers: dict[tuple[str, ...], Answer | Callable[[], Answer]]
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, args: list[str], **kwargs: Any) -> Answer:
        assert isinstance(args, list), "modules must pass argv lists, not shell strings"
        self.calls.append(list(args))
        key = tuple(args[1:])
        if key not in self.answers:
            raise AssertionError(f"unexpected command: {args!r}")
        answer = self.answers[key]
        return answer() if callable(answer) else answer

    def ran(self, *args: str) -> bool:
        return any(tuple(call[1:]) == args for call in self.calls)

    def changing_calls(self) -> list[list[str]]:
        return [call for call in self.calls if "set" in call or "unset" in call]


@dataclass
class ModuleRun:
    result: dict[str, Any]
    stdout: str
    logged: list[str]

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    @property
    def warnings(self) -> str:
        """The warnings as one text (ansible-core 2.19 returns them as structured events)."""
        return json.dumps(self.result.get("warnings", []))
