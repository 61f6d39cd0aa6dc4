# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""What the minishift/crc modules share: finding the executable, running it, and the
read-compare-apply cycle of ``config view`` / ``config set`` / ``config unset`` with
secrets kept out of results and diffs.

The tool-specific parts (how the current values are read, how a failed command is
recognised) are passed in by each module; the parsing lives in ``vm_cli``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_cli import (
    config_changes,
    to_config_string,
)

REDACTED = "********"
REDACTED_CHANGED = "******** (changed)"


def resolve_executable(module: Any, executable: str, tool: str) -> str:
    """The path of ``executable`` (a name looked up on PATH, or a path); fails the module
    with a message naming it when it is missing or not executable."""
    if os.sep in executable or (os.altsep and os.altsep in executable):
        if os.path.isfile(executable) and os.access(executable, os.X_OK):
            return executable
        module.fail_json(msg=f"The {tool} executable {executable!r} does not exist or is not executable.")
    found = module.get_bin_path(executable)
    if not found:
        path = os.environ.get("PATH", "")
        module.fail_json(
            msg=f"The {tool} executable {executable!r} was not found on PATH ({path}); "
            f"install {tool} or set the option executable."
        )
    return found


def command_failure(
    module: Any, what: str, argv: list[str], answer: tuple[int, str, str], show_stdout: bool = True
) -> None:
    """Fail the module because ``argv`` answered ``(rc, stdout, stderr)`` = ``answer``.

    ``show_stdout=False`` keeps standard output out of the result (``config view`` prints
    secret values there)."""
    rc, out, err = answer
    detail = (err or "").strip() or ((out or "").strip() if show_stdout else "") or "no output"
    result: dict[str, Any] = {"cmd": argv, "rc": rc, "stderr": err}
    if show_stdout:
        result["stdout"] = out
    module.fail_json(msg=f"{what} failed (rc={rc}): {detail}", **result)


def redact(values: dict[str, Any], secret_keys: set[str] | frozenset[str], marker: str = REDACTED) -> dict[str, Any]:
    """A copy of ``values`` with the values of ``secret_keys`` replaced by ``marker`` (None stays None)."""
    return {key: (marker if key in secret_keys and value is not None else value) for key, value in values.items()}


class ConfigCycle:
    """One run of a ``*_config`` module: the module reads the current values (with
    :meth:`run`), then :meth:`plan`, :meth:`apply` and :meth:`result` do the rest.

    ``prefix`` is the argv before ``config`` (the executable and global flags); ``wanted``
    maps keys to wanted values (None: not set); values of ``secret_keys`` are redacted in
    everything this class returns or records.
    """

    def __init__(
        self,
        module: Any,
        tool: str,
        prefix: list[str],
        wanted: dict[str, Any],
        secret_keys: set[str],
    ) -> None:
        self.module = module
        self.tool = tool
        self.prefix = prefix
        self.wanted = wanted
        self.secret_keys = secret_keys
        self.commands: list[list[str]] = []
        self.messages: list[str] = []

    def run(self, args: list[str], changes: bool = False) -> tuple[int, str, str]:
        """Run ``prefix + args``; remember it (secrets redacted) when it changes something."""
        argv = self.prefix + args
        if changes:
            self.commands.append(self.shown(argv))
        rc, out, err = self.module.run_command(argv)
        return rc, out or "", err or ""

    def shown(self, argv: list[str]) -> list[str]:
        """``argv`` as it may be shown: the value after a secret key redacted."""
        shown = list(argv)
        for index in range(len(shown) - 1):
            if shown[index] in self.secret_keys and index >= 1 and shown[index - 1] in ("set", "--"):
                shown[index + 1] = REDACTED
        return shown

    def plan(self, current: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        return config_changes(current, self.wanted)

    def set_argv(self, key: str, value: str) -> list[str]:
        # A value starting with '-' would be read as a flag: end the flags first.
        if value.startswith("-"):
            return ["config", "set", "--", key, value]
        return ["config", "set", key, value]

    def apply(
        self,
        to_set: dict[str, str],
        to_unset: list[str],
        dry_run: bool,
        check_unset: Callable[[str, str, str], str | None] | None = None,
    ) -> None:
        """Run ``config set`` for ``to_set`` and ``config unset`` for ``to_unset``, failing
        the module at the first command that fails. With ``dry_run`` only record them.

        ``check_unset(key, stdout, stderr)`` returns a problem for an unset that exited 0
        but did not work (minishift prints some errors to stdout with exit code 0).
        """
        for key, value in to_set.items():
            args = self.set_argv(key, value)
            if dry_run:
                self.commands.append(self.shown(self.prefix + args))
                continue
            rc, out, err = self.run(args, changes=True)
            if rc != 0:
                self._failed(f"{self.tool} config set {key}", args, (rc, out, err))
            self._collect(out, err)
        for key in to_unset:
            args = ["config", "unset", key]
            if dry_run:
                self.commands.append(self.shown(self.prefix + args))
                continue
            rc, out, err = self.run(args, changes=True)
            problem = check_unset(key, out, err) if check_unset and rc == 0 else None
            if rc != 0 or problem:
                self._failed(f"{self.tool} config unset {key}", args, (rc, out, err), problem)
            self._collect(out, err)

    def _collect(self, out: str, err: str) -> None:
        for text in (out, err):
            self.messages.extend(line.strip() for line in text.splitlines() if line.strip())

    def _failed(self, what: str, args: list[str], answer: tuple[int, str, str], problem: str | None = None) -> None:
        rc, out, err = answer
        detail = problem or (err or "").strip() or (out or "").strip() or "no output"
        self.module.fail_json(
            msg=f"{what} failed (rc={rc}): {detail}",
            cmd=self.shown(self.prefix + args),
            rc=rc,
            stdout=out,
            stderr=err,
            commands=self.commands,
        )

    def result(
        self,
        current: dict[str, str],
        to_set: dict[str, str],
        to_unset: list[str],
        also_changed: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """The module result: ``changed``, ``changed_settings``, ``config``, ``commands``,
        ``messages`` and (with ``--diff``) ``diff``, secrets redacted everywhere."""
        after = dict(current)
        after.update(to_set)
        for key in to_unset:
            after.pop(key, None)
        changed_settings: dict[str, Any] = dict(to_set)
        for key in to_unset:
            changed_settings[key] = None
        changed = bool(to_set or to_unset) or also_changed
        result: dict[str, Any] = {
            "changed": changed,
            "changed_settings": redact(changed_settings, self.secret_keys),
            "config": redact(after, self.secret_keys),
            "commands": self.commands,
            "messages": self.messages,
        }
        result.update(extra)
        if self.module._diff:
            before_shown = redact(current, self.secret_keys)
            after_shown = redact(after, self.secret_keys)
            for key in to_set:
                if key in self.secret_keys:
                    after_shown[key] = REDACTED_CHANGED
            result["diff"] = {"before": _sorted(before_shown), "after": _sorted(after_shown)}
        return result


def _sorted(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in sorted(values)}


def _hide(module: Any, value: Any) -> None:
    """Have Ansible mask ``value`` in everything the module returns or logs from now on.

    Like Ansible's own no_log handling, empty values are skipped: masking the empty string
    would mask between every character."""
    text = None if value is None else to_config_string(value)
    if text:
        module.no_log_values.add(text)


def wanted_settings(module: Any, default_secret_keys: list[str]) -> tuple[dict[str, Any], set[str]]:
    """Merge the ``settings`` and ``secret_settings`` options into one wanted dict and work
    out which keys are secret (``no_log_keys`` plus every key of ``secret_settings``).

    Values of secret keys given in ``settings`` are registered as no_log values, so Ansible
    removes them from the result, with a warning that ``secret_settings`` is the safer place.
    """
    settings = module.params.get("settings") or {}
    secret_settings = module.params.get("secret_settings") or {}
    no_log_keys = module.params.get("no_log_keys")
    if no_log_keys is None:
        no_log_keys = default_secret_keys

    overlap = sorted(set(settings) & set(secret_settings))
    if overlap:
        module.fail_json(msg=f"These keys are in both settings and secret_settings: {', '.join(overlap)}")

    secret_keys = set(no_log_keys) | set(secret_settings)
    for value in secret_settings.values():
        _hide(module, value)
    exposed = []
    for key, value in settings.items():
        if key in secret_keys and value is not None:
            _hide(module, value)
            exposed.append(key)
    if exposed:
        module.warn(
            f"settings holds secret values ({', '.join(sorted(exposed))}): they are kept out of this task's "
            "result and diff, but Ansible logs module arguments before the module runs; pass them in "
            "secret_settings instead."
        )

    for key in list(settings) + list(secret_settings):
        if not key or any(ch.isspace() for ch in key) or key.startswith("-"):
            module.fail_json(msg=f"Invalid setting name {key!r}: names are one word and do not start with '-'.")

    wanted: dict[str, Any] = {}
    wanted.update(settings)
    wanted.update(secret_settings)
    return wanted, secret_keys
