"""Helpers for the integration tests: run the collection's roles with ansible-playbook against a simulated
cluster of their own, and look at what the lab left in the cluster and on the host.

Every test here drives real components: ansible-playbook, the roles, a real kube-apiserver (tests/cluster) and
the local artifact server. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE_DIR = Path(os.environ.get("MESHLAB_CACHE_DIR", REPO / ".cache")).resolve()
BIN_DIR = Path(os.environ.get("MESHLAB_KWOK_BIN_DIR", CACHE_DIR / "bin" / "lab"))
KUBECTL = BIN_DIR / "kubectl"
CLUSTER_SH = REPO / "tests" / "cluster" / "cluster.sh"
ARTIFACTS_SH = REPO / "tests" / "cluster" / "artifacts.sh"
KEEP = os.environ.get("MESHLAB_KEEP_CLUSTER") == "1"
# Clusters of this suite are named meshlab-<prefix>-<flavor>; a developer running two suites at once sets
# MESHLAB_IT_PREFIX so that they do not share one.
PREFIX = os.environ.get("MESHLAB_IT_PREFIX", "it")
# Every object the roles make carries this label (roles/*/vars/main.yml).
LAB_SELECTOR = "app.kubernetes.io/part-of=meshlab"


def _versions() -> dict[str, str]:
    out = {}
    for raw in (REPO / "tests" / "cluster" / "versions.env").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _sep, value = line.partition("=")
            out[key] = value
    return out


VERSIONS = _versions()
ISTIO_VERSION = os.environ.get("MESHLAB_ISTIO_VERSION", VERSIONS["ISTIO_VERSION"])


def run(args, *, env=None, timeout=300, check=True, cwd=REPO) -> subprocess.CompletedProcess:
    """Run a command with a bound on its duration; `.elapsed` holds the seconds it took."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(a) for a in args],
        env={**os.environ, "MESHLAB_CACHE_DIR": str(CACHE_DIR), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd=cwd,
    )
    proc.elapsed = time.monotonic() - start  # type: ignore[attr-defined]
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{shlex.join(str(a) for a in args)} exited {proc.returncode} after {proc.elapsed:.0f}s\n"  # type: ignore[attr-defined]
            f"stdout:\n{proc.stdout[-6000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


@dataclass
class Cluster:
    """A simulated cluster started by tests/cluster/cluster.sh under its own name."""

    name: str
    flavor: str
    kubeconfig: Path
    # Extra environment for cluster.sh (e.g. fixed ports: MESHLAB_APISERVER_PORT, KWOK_KUBE_*_PORT).
    env: dict[str, str] = field(default_factory=dict)

    def kubectl(self, *args, timeout=60, check=True) -> subprocess.CompletedProcess:
        return run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, "--request-timeout=20s", *args], timeout=timeout, check=check
        )

    def sh(self, cmd: str, timeout=420, check=True) -> subprocess.CompletedProcess:
        return run(
            [CLUSTER_SH, cmd],
            env={"FLAVOR": self.flavor, "NODES": "2", "MESHLAB_CLUSTER_NAME": self.name, **self.env},
            timeout=timeout,
            check=check,
        )

    def lab_objects(self, selector: str = LAB_SELECTOR) -> set[tuple[str, str, str]]:
        """(resource, namespace, name) of every object, namespaced or cluster-scoped, that matches selector."""
        kinds = self.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
        # Events and the like are not the lab's objects; asking for them only slows the query down.
        kinds = [k for k in kinds if k not in {"events", "events.events.k8s.io", "componentstatuses"}]
        out = self.kubectl("get", ",".join(kinds), "-A", "-l", selector, "-o", "json", "--ignore-not-found").stdout
        found = set()
        for item in json.loads(out or '{"items": []}')["items"]:
            meta = item["metadata"]
            found.add((item["kind"], meta.get("namespace", ""), meta["name"]))
        return found

    def webhooks(self) -> set[str]:
        out = self.kubectl("get", "mutatingwebhookconfigurations,validatingwebhookconfigurations", "-o", "name").stdout
        return set(out.split())

    def crds(self, pattern: str = r"istio\.io$|weave") -> set[str]:
        names = self.kubectl("get", "crd", "-o", "name").stdout.split()
        return {n for n in names if re.search(pattern, n)}

    @property
    def state_dir(self) -> Path:
        """kwokctl's work folder of this cluster (kwok.yaml, pids/, logs/, etcd/)."""
        return CACHE_DIR / "kwok" / "clusters" / self.name

    def pid(self, component: str) -> int | None:
        """pid of this cluster's component (kube-apiserver, etcd, ...) while it runs, else None.

        As cluster.sh does, a pid counts only when its command line runs the binary from this cluster's state
        folder: another cluster's process, or an unrelated one that recycled the pid, is never taken for ours.
        """
        try:
            pid = int((self.state_dir / "pids" / f"{component}.pid").read_text().strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if argv and argv[0] == str(self.state_dir / "bin" / component).encode() else None

    def kill_component(self, component: str, sig: int = signal.SIGKILL, timeout: float = 20) -> int:
        """Send sig to this cluster's component and wait until it is gone; returns the pid it had."""
        pid = self.pid(component)
        assert pid, f"{component} of {self.name} is not running (state {self.state_dir})"
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while self.pid(component) == pid:
            assert time.monotonic() < deadline, (
                f"{component} (pid {pid}) of {self.name} still runs {timeout}s after {sig}"
            )
            time.sleep(0.2)
        return pid

    def wait_exited(self, components: list[str], timeout: float) -> bool:
        """Wait until none of components runs (at most timeout seconds); whether they all exited."""
        deadline = time.monotonic() + timeout
        while any(self.pid(c) for c in components):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def start_stopped(self, timeout: int = 180) -> subprocess.CompletedProcess:
        """`kwokctl start cluster`: the binary runtime starts exactly the components that are not running (the
        others are left alone) on the ports recorded in kwok.yaml, and etcd keeps its data: nothing is recreated."""
        components = [p.stem for p in (self.state_dir / "pids").glob("*.pid")]
        for _attempt in range(3):
            proc = run(
                [BIN_DIR / "kwokctl", "--name", self.name, "start", "cluster"],
                # kwokctl runs the first kubectl on PATH for its health checks: ours (as cluster.sh does).
                env={"KWOK_WORKDIR": str(CACHE_DIR / "kwok"), "PATH": f"{BIN_DIR}:{os.environ['PATH']}"},
                timeout=timeout,
            )
            deadline = time.monotonic() + 60
            while self.kubectl("get", "--raw", "/readyz", check=False, timeout=30).stdout.strip() != "ok":
                assert time.monotonic() < deadline, f"{self.name}: /readyz not ok 60s after kwokctl start cluster"
                time.sleep(1)
            # The controller-manager and the scheduler exit by themselves once they could not renew their
            # leader lease (10 s without the API server), possibly just after kwokctl found them running:
            # watch them past a lease's duration (15 s) and start again what exited.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and all(self.pid(c) for c in components):
                time.sleep(1)
            if all(self.pid(c) for c in components):
                return proc
        raise AssertionError(f"{self.name}: {[c for c in components if not self.pid(c)]} keep exiting after a start")


def start_cluster(flavor: str, suffix: str = "", env: dict[str, str] | None = None) -> Cluster:
    name = f"meshlab-{PREFIX}{suffix}-{flavor}"
    cluster = Cluster(
        name=name,
        flavor=flavor,
        kubeconfig=CACHE_DIR / "cluster" / name.removeprefix("meshlab-") / "kubeconfig",
        env=dict(env or {}),
    )
    cluster.sh("up")
    return cluster


def artifacts_url() -> str:
    """Istio download base URL of the shared local artifact server (built and started when needed)."""
    run([ARTIFACTS_SH, "build"], timeout=900)
    run([ARTIFACTS_SH, "up"], timeout=60)
    return run([ARTIFACTS_SH, "url"], timeout=30).stdout.strip()


@dataclass
class PlaybookRun:
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


_RECAP = re.compile(r"^localhost\s*:\s*(.*)$", re.M)


def parse_recap(output: str) -> dict[str, int]:
    """Counters of the last PLAY RECAP line for localhost (ok, changed, failed, ...)."""
    lines = _RECAP.findall(output)
    if not lines:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def playbook_command(
    playbook: str | Path, tmp_path: Path, extra_vars: dict | None = None, *args: str, env: dict | None = None
) -> tuple[list[str], dict[str, str]]:
    """The ansible-playbook command line and environment that ansible_playbook() and PlaybookProcess run."""
    if isinstance(playbook, str) and "\n" in playbook:
        path = tmp_path / "play.yml"
        path.write_text(playbook)
    else:
        path = Path(playbook)
    vars_file = tmp_path / f"extra-vars-{time.monotonic_ns()}.json"
    vars_file.write_text(json.dumps(extra_vars or {}))
    cmd = [
        "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={os.environ.get('MESHLAB_PYTHON', REPO / '.venv' / 'bin' / 'python')}",
        "-e",
        f"@{vars_file}",
        *args,
        path,
    ]
    full_env = {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "MESHLAB_REPORT_DIR": str(tmp_path / "report"),
        **(env or {}),
    }
    return [str(c) for c in cmd], {**os.environ, **full_env}


def ansible_playbook(
    playbook: str | Path,
    tmp_path: Path,
    extra_vars: dict | None = None,
    *args: str,
    env: dict | None = None,
    timeout: int = 900,
) -> PlaybookRun:
    """Run ansible-playbook on localhost (local connection, this venv's Python).

    playbook: a path, or the YAML text of a playbook (written to tmp_path). Extra vars go through a JSON file, so
    values keep their types (a string '3' stays a string, a list stays a list). The fact cache is per test.
    """
    cmd, full_env = playbook_command(playbook, tmp_path, extra_vars, *args, env=env)
    start = time.monotonic()
    proc = subprocess.run(
        cmd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd=REPO,
    )
    output = proc.stdout + proc.stderr
    return PlaybookRun(rc=proc.returncode, output=output, seconds=time.monotonic() - start, recap=parse_recap(output))


def files_under(path: Path) -> list[str]:
    """Every file and folder below path (relative), sorted; [] when path does not exist."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def free_ports(count: int, low: int = 20000, high: int = 29999) -> list[int]:
    """count TCP ports free on 127.0.0.1, between low and high: below kwokctl's range (it counts down from 32766
    when it picks ports for a new cluster) and the kernel's ephemeral range (32768 and up). A cluster whose
    components died keeps its ports there: no cluster created meanwhile takes them before they are restarted."""
    ports: list[int] = []
    candidates = random.sample(range(low, high + 1), k=min(200, high - low + 1))
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise AssertionError(f"fewer than {count} free ports between {low} and {high}")


# As in a terminal, SIGINT interrupts ansible-playbook: a shell's background job (`make test &`) hands down an
# ignored SIGINT, which exec keeps, and Ctrl-C would do nothing; this resets it, then execs the command.
_SIGINT_DEFAULT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
]


class PlaybookProcess:
    """ansible-playbook in the background, in a process group of its own (as a terminal's foreground job is), with
    its output read line by line as it comes: a test can wait for a task to start, then act while it runs."""

    def __init__(
        self, playbook: str | Path, tmp_path: Path, extra_vars: dict | None = None, *args: str, env: dict | None = None
    ):
        cmd, full_env = playbook_command(playbook, tmp_path, extra_vars, *args, env=env)
        full_env["PYTHONUNBUFFERED"] = "1"
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [*_SIGINT_DEFAULT, *cmd],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
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
