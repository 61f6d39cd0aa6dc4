"""Helpers for the integration tests: run the collection's roles with ansible-playbook against a simulated
cluster of their own, and look at what the lab left in the cluster and on the host.

Every test here drives real components: ansible-playbook, the roles, a real kube-apiserver (tests/cluster) and
the local artifact server. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
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

    def kubectl(self, *args, timeout=60, check=True) -> subprocess.CompletedProcess:
        return run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, "--request-timeout=20s", *args], timeout=timeout, check=check
        )

    def sh(self, cmd: str, timeout=420, check=True) -> subprocess.CompletedProcess:
        return run(
            [CLUSTER_SH, cmd],
            env={"FLAVOR": self.flavor, "NODES": "2", "MESHLAB_CLUSTER_NAME": self.name},
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


def start_cluster(flavor: str, suffix: str = "") -> Cluster:
    name = f"meshlab-{PREFIX}{suffix}-{flavor}"
    cluster = Cluster(
        name=name, flavor=flavor, kubeconfig=CACHE_DIR / "cluster" / name.removeprefix("meshlab-") / "kubeconfig"
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
    start = time.monotonic()
    proc = subprocess.run(
        [str(c) for c in cmd],
        env={**os.environ, **full_env},
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
