"""The simulated cluster (tests/cluster/cluster.sh) as tests use it: start, stop, kubeconfig, kubectl, the API
client, its components' processes, and the local artifact server serving the Istio release."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .env import ARTIFACTS_SH, BIN_DIR, CACHE_DIR, CLUSTER_SH, KEEP, KUBECTL, PREFIX, run

# Every object the roles make carries this label (roles/*/vars/main.yml).
LAB_SELECTOR = "app.kubernetes.io/part-of=meshlab"
NODES = 2
# Bound for cluster.sh: a cold `up` takes well under a minute here; leave room for a slow, busy machine.
UP_TIMEOUT = 420


@dataclass
class Cluster:
    """A simulated cluster of tests/cluster/cluster.sh, named meshlab-<something> (its kubeconfig is
    CACHE_DIR/cluster/<something>/kubeconfig, its kwokctl state CACHE_DIR/kwok/clusters/<name>)."""

    name: str
    flavor: str
    # Extra environment for cluster.sh (e.g. fixed ports: MESHLAB_APISERVER_PORT, KWOK_KUBE_*_PORT).
    env: dict[str, str] = field(default_factory=dict)
    nodes: int = NODES
    # Seconds the last start() took.
    up_seconds: float = 0.0

    @property
    def kubeconfig(self) -> Path:
        return CACHE_DIR / "cluster" / self.name.removeprefix("meshlab-") / "kubeconfig"

    @property
    def state_dir(self) -> Path:
        """kwokctl's work folder of this cluster (kwok.yaml, pids/, logs/, etcd/)."""
        return CACHE_DIR / "kwok" / "clusters" / self.name

    def sh(self, cmd: str, timeout: float = UP_TIMEOUT, check: bool = True, env: dict | None = None):
        """tests/cluster/cluster.sh <cmd> (up, down, status, kubeconfig) for this cluster."""
        return run(
            [CLUSTER_SH, cmd],
            env={
                "FLAVOR": self.flavor,
                "NODES": str(self.nodes),
                "MESHLAB_CLUSTER_NAME": self.name,
                **self.env,
                **(env or {}),
            },
            timeout=timeout,
            check=check,
        )

    def start(self) -> Cluster:
        """cluster.sh up (idempotent: a healthy cluster is left as it is); checks the kubeconfig it printed."""
        self.up_seconds = self.sh("up").elapsed
        path = Path(self.sh("kubeconfig", timeout=30).stdout.strip())
        assert path == self.kubeconfig, f"cluster.sh kubeconfig printed {path}, expected {self.kubeconfig}"
        assert path.is_file(), f"{self.name}: no kubeconfig at {path} after cluster.sh up"
        return self

    def stop(self, timeout: float = 180) -> None:
        """cluster.sh down: the cluster and its state are deleted."""
        self.sh("down", timeout=timeout)

    def api(self):
        """A fresh kubernetes API client (reads the kubeconfig now, so it follows a re-created cluster)."""
        from kubernetes import config  # noqa: PLC0415 - only the tests that talk to the API need the client

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(self, *args, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, "--request-timeout=20s", *args], timeout=timeout, check=check
        )

    def lab_objects(self, selector: str = LAB_SELECTOR) -> set[tuple[str, str, str]]:
        """(kind, namespace, name) of every object, namespaced or cluster-scoped, that matches selector."""
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


def start_cluster(flavor: str, suffix: str = "", env: dict[str, str] | None = None, name: str = "") -> Cluster:
    """Start (or find healthy) a simulated cluster of flavor. Its name: name when given (tests/cluster's shared
    clusters are meshlab-<flavor>), else meshlab-<MESHLAB_IT_PREFIX><suffix>-<flavor>, a cluster of this suite."""
    return Cluster(name=name or f"meshlab-{PREFIX}{suffix}-{flavor}", flavor=flavor, env=dict(env or {})).start()


def session_cluster(flavor: str, name: str = "") -> Iterator[Cluster]:
    """For a session fixture (`yield from session_cluster("kubernetes")`): the cluster start_cluster() gives,
    stopped at the end unless MESHLAB_KEEP_CLUSTER=1."""
    cluster = start_cluster(flavor, name=name)
    yield cluster
    if not KEEP:
        cluster.stop()


def artifacts_url() -> str:
    """Istio download base URL of the shared local artifact server (built and started when needed)."""
    run([ARTIFACTS_SH, "build"], timeout=900)
    run([ARTIFACTS_SH, "up"], timeout=60)
    return run([ARTIFACTS_SH, "url"], timeout=30).stdout.strip()


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


def cluster_sh(cmd: str, flavor: str, timeout: float = UP_TIMEOUT, check: bool = True, env: dict | None = None):
    """cluster.sh <cmd> for the shared cluster of flavor (meshlab-<flavor>, the one `make cluster-up` starts)."""
    return Cluster(name=f"meshlab-{flavor}", flavor=flavor).sh(cmd, timeout=timeout, check=check, env=env)
