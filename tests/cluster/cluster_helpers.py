"""Helpers shared by tests/cluster/conftest.py and the simulated-cluster tests."""

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE_DIR = Path(os.environ.get("MESHLAB_CACHE_DIR", REPO / ".cache")).resolve()
NODES = 2
KEEP = os.environ.get("MESHLAB_KEEP_CLUSTER") == "1"
# Bounds for the scripts: a cold `up` takes well under a minute here; leave room for a slow, busy machine.
UP_TIMEOUT = 420


def versions() -> dict[str, str]:
    """KEY=value pairs of tests/cluster/versions.env."""
    out = {}
    for raw in (HERE / "versions.env").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _sep, value = line.partition("=")
            out[key] = value
    return out


VERSIONS = versions()


def bin_path(name: str) -> Path:
    version = {
        "kubectl": VERSIONS["KUBERNETES_VERSION"],
        "kwokctl": VERSIONS["KWOK_VERSION"],
        "istioctl": VERSIONS["ISTIO_VERSION"],
    }[name]
    return CACHE_DIR / "bin" / f"{name}-{version}" / name


def run(args, env=None, timeout=UP_TIMEOUT, check=True):
    """Run a command with a bound on its duration; return the CompletedProcess (text)."""
    full_env = {**os.environ, "MESHLAB_CACHE_DIR": str(CACHE_DIR), **(env or {})}
    start = time.monotonic()
    proc = subprocess.run(
        [str(a) for a in args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    proc.elapsed = time.monotonic() - start
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{shlex.join(str(a) for a in args)} exited {proc.returncode} after {proc.elapsed:.0f}s\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def cluster_sh(cmd, flavor, timeout=UP_TIMEOUT, check=True, env=None):
    return run(
        [HERE / "cluster.sh", cmd],
        env={"FLAVOR": flavor, "NODES": str(NODES), **(env or {})},
        timeout=timeout,
        check=check,
    )


@dataclass
class Cluster:
    flavor: str
    kubeconfig: Path
    up_seconds: float

    @property
    def state_dir(self) -> Path:
        return CACHE_DIR / "kwok" / "clusters" / f"meshlab-{self.flavor}"

    def api(self) -> client.ApiClient:
        """A fresh API client (reads the kubeconfig now, so it follows a re-created cluster)."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(self, *args, timeout=120, check=True):
        return run(
            [bin_path("kubectl"), "--kubeconfig", self.kubeconfig, "--request-timeout=30s", *args],
            timeout=timeout,
            check=check,
        )


def start(flavor: str) -> Cluster:
    proc = cluster_sh("up", flavor)
    path = Path(cluster_sh("kubeconfig", flavor, timeout=30).stdout.strip())
    assert path == CACHE_DIR / "cluster" / flavor / "kubeconfig"
    assert path.is_file()
    return Cluster(flavor=flavor, kubeconfig=path, up_seconds=proc.elapsed)


def wait_for(probe, timeout: float, what: str, interval: float = 0.5):
    """Call probe() until it returns a truthy value without raising; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as exc:  # any error means "not yet"; the last one is reported
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
