"""The one way the tests launch ansible-playbook, and the one parser of its PLAY RECAP.

Every launch gets a fact cache of its own (`Playbook.fact_cache`, by default `<workdir>/facts`): no test ever reads
or writes the checkout's `.cache/facts`, which belongs to the user's `make lab` (a launch pointed there is refused).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .env import REPO
from .factcache import refuse_checkout_cache

# `localhost : ok=5 changed=1 unreachable=0 failed=0 skipped=2 rescued=0 ignored=0` (PLAY RECAP, one line a host).
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>ok=\d+.*)$", re.M)


def parse_recap(output: str, host: str = "localhost") -> dict[str, int]:
    """Counters of host's last PLAY RECAP line (ok, changed, unreachable, failed, skipped, rescued, ignored);
    {} when the output has none (the run did not get that far)."""
    lines = [m["counts"] for m in RECAP_LINE.finditer(output) if m["host"] == host]
    if not lines:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


@dataclass
class PlaybookRun:
    """A finished ansible-playbook: exit code, stdout+stderr, wall seconds, recap counters of localhost."""

    rc: int
    output: str
    seconds: float
    recap: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return self.recap.get("changed", -1)

    @property
    def failed(self) -> int:
        return self.recap.get("failed", -1)


def launch(
    cmd: Sequence[str | Path],
    env: Mapping[str, str],
    *,
    cwd: Path = REPO,
    timeout: float | None = 900,
    log_file: Path | None = None,
    **popen: object,
) -> PlaybookRun:
    """Run an ansible command line to its end (stdin closed) and return it as a PlaybookRun. log_file: the output
    goes there as it comes (and is read back), instead of being held in memory. popen: more subprocess.run
    arguments (user=, group=, extra_groups= ...)."""
    if "ANSIBLE_CACHE_PLUGIN_CONNECTION" in env:
        refuse_checkout_cache(env["ANSIBLE_CACHE_PLUGIN_CONNECTION"], cwd)
    start = time.monotonic()
    args = [str(c) for c in cmd]
    common = {"env": dict(env), "timeout": timeout, "stdin": subprocess.DEVNULL, "cwd": cwd, **popen}
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as out:
            proc = subprocess.run(args, check=False, stdout=out, stderr=subprocess.STDOUT, **common)  # type: ignore[call-overload]
        output = log_file.read_text(errors="replace")
    else:
        proc = subprocess.run(args, check=False, capture_output=True, text=True, **common)  # type: ignore[call-overload]
        output = proc.stdout + proc.stderr
    return PlaybookRun(rc=proc.returncode, output=output, seconds=time.monotonic() - start, recap=parse_recap(output))


def _python() -> str:
    return os.environ.get("MESHLAB_PYTHON", str(REPO / ".venv" / "bin" / "python"))


@dataclass
class Playbook:
    """One ansible-playbook launch: its command line, its environment, and where its files go.

    playbook:    a path, or the YAML text of a playbook (written to workdir/play.yml).
    workdir:     the launch's own folder: extra-vars file, play.yml, and by default facts/ and report/.
    extra_vars:  passed as a JSON file (-e @file), so values keep their types.
    args:        more ansible-playbook arguments (--tags x, -vvv ...); check/diff add --check/--diff.
    inventory:   "localhost," with connection "local" (the tests' default) or a file, e.g. inventory/localhost.yml
                 with connection None.
    python:      ansible_python_interpreter (default: this checkout's venv, or MESHLAB_PYTHON); None: not set.
    config:      ANSIBLE_CONFIG (default: the checkout's ansible.cfg).
    collections: ANSIBLE_COLLECTIONS_PATH, when not the inherited one.
    fact_cache:  ANSIBLE_CACHE_PLUGIN_CONNECTION (default workdir/facts); never the checkout's .cache/facts.
    report_dir:  MESHLAB_REPORT_DIR (default workdir/report).
    env:         more environment, applied last (but the fact cache is still checked).
    base_env:    the environment to start from (default: this process's); {} for a clean one.
    launcher:    what runs ansible-playbook (e.g. [python, path/to/ansible-playbook]).
    cwd:         the working folder of the run (default: the checkout).
    """

    playbook: str | Path
    workdir: Path
    extra_vars: Mapping | None = None
    args: Sequence[str] = ()
    check: bool = False
    diff: bool = False
    inventory: str = "localhost,"
    connection: str | None = "local"
    python: str | None = field(default_factory=_python)
    config: Path | None = REPO / "ansible.cfg"
    collections: Path | None = None
    fact_cache: Path | None = None
    report_dir: Path | None = None
    env: Mapping[str, str] | None = None
    base_env: Mapping[str, str] | None = None
    launcher: Sequence[str] = ("ansible-playbook",)
    cwd: Path = REPO

    def command(self) -> list[str]:
        """The command line (writes the extra-vars file, and play.yml when playbook is YAML text)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(self.playbook, str) and "\n" in self.playbook:
            path = self.workdir / "play.yml"
            path.write_text(self.playbook)
        else:
            path = Path(self.playbook)
        vars_file = self.workdir / f"extra-vars-{time.monotonic_ns()}.json"
        vars_file.write_text(json.dumps(dict(self.extra_vars or {}), indent=2) + "\n")
        cmd = [*self.launcher, "-i", self.inventory]
        if self.connection:
            cmd += ["-c", self.connection]
        if self.python:
            cmd += ["-e", f"ansible_python_interpreter={self.python}"]
        cmd += ["-e", f"@{vars_file}"]
        cmd += ["--check"] * self.check + ["--diff"] * self.diff
        return [str(c) for c in [*cmd, *self.args, path]]

    def environment(self) -> dict[str, str]:
        """The run's environment; fails when its fact cache would be the checkout's."""
        env = dict(os.environ if self.base_env is None else self.base_env)
        if self.config is not None:
            env["ANSIBLE_CONFIG"] = str(self.config)
        if self.collections is not None:
            env["ANSIBLE_COLLECTIONS_PATH"] = str(self.collections)
        env.update(
            {
                "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(self.fact_cache or self.workdir / "facts"),
                "MESHLAB_REPORT_DIR": str(self.report_dir or self.workdir / "report"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                **(self.env or {}),
            }
        )
        refuse_checkout_cache(env["ANSIBLE_CACHE_PLUGIN_CONNECTION"], self.cwd)
        return env

    def run(self, timeout: float | None = 900, log_file: Path | None = None, **popen: object) -> PlaybookRun:
        """Run to the end; see launch()."""
        return launch(self.command(), self.environment(), cwd=self.cwd, timeout=timeout, log_file=log_file, **popen)

    def start(self) -> PlaybookProcess:
        """Start in the background; see PlaybookProcess."""
        return PlaybookProcess(self)


def ansible_playbook(
    playbook: str | Path,
    tmp_path: Path,
    extra_vars: Mapping | None = None,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: int = 900,
) -> PlaybookRun:
    """ansible-playbook on localhost (local connection, this venv's Python), the fact cache and report in tmp_path:
    Playbook(playbook, tmp_path, extra_vars, args, env=env).run(timeout)."""
    return Playbook(playbook, tmp_path, extra_vars, args, env=env).run(timeout)


# As in a terminal, SIGINT interrupts ansible-playbook: a shell's background job (`make test &`) hands down an
# ignored SIGINT, which exec keeps, and Ctrl-C would do nothing; this resets it, then execs the command.
_SIGINT_DEFAULT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
]


class PlaybookProcess:
    """ansible-playbook in the background, in a process group of its own (as a terminal's foreground job is), with
    its output read line by line as it comes: a test can wait for a task to start, then act while it runs.
    PlaybookProcess(playbook, tmp_path, extra_vars, *args, env=...) takes ansible_playbook()'s arguments;
    PlaybookProcess(Playbook(...)) any launch (Playbook.start() does that)."""

    def __init__(
        self,
        playbook: str | Path | Playbook,
        tmp_path: Path | None = None,
        extra_vars: Mapping | None = None,
        *args: str,
        env: Mapping[str, str] | None = None,
    ):
        if not isinstance(playbook, Playbook):
            assert tmp_path is not None, "PlaybookProcess(playbook, tmp_path, ...): the launch needs a folder"
            playbook = Playbook(playbook, tmp_path, extra_vars, args, env=env)
        cmd, full_env, cwd = playbook.command(), playbook.environment(), playbook.cwd
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [*_SIGINT_DEFAULT, *cmd],
            env={**full_env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            start_new_session=True,
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic() - self.start, line))

    @property
    def output(self) -> str:
        return "".join(line for _t, line in list(self.lines))

    def wait_for(self, pattern: str, timeout: float, since: float = 0.0) -> float:
        """Seconds since the start when a line matching pattern appeared (at or after `since` seconds). Fails (and
        kills the run) when the run ended, or timeout seconds passed, without such a line."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            ended = self.proc.poll() is not None and not self._reader.is_alive()
            lines = list(self.lines)
            for at, line in lines[seen:]:
                if at >= since and regex.search(line):
                    return at
            seen = len(lines)
            if ended:
                raise AssertionError(
                    f"ansible-playbook ended (rc {self.proc.returncode}) before a line matched {pattern!r}:\n"
                    f"{self.output[-6000:]}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"no line matched {pattern!r} within {timeout}s:\n{self.output[-6000:]}")
            time.sleep(0.2)

    def signal(self, sig: int) -> None:
        """Send sig to the run's whole process group (ansible-playbook, its workers and modules), as Ctrl-C does."""
        os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float) -> PlaybookRun:
        """The finished run; fails (and kills the run) when it is still going after timeout seconds."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"ansible-playbook still running {timeout}s later (killed):\n{self.output[-6000:]}"
            ) from None
        self._reader.join(30)
        output = self.output
        return PlaybookRun(rc=rc, output=output, seconds=time.monotonic() - self.start, recap=parse_recap(output))

    def kill(self) -> None:
        """Stop the whole run at once (SIGKILL to its process group); nothing when it has ended."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.proc.wait(30)
