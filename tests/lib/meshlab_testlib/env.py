"""Where things are (the checkout, its cache, the simulated cluster's binaries), the versions tests/cluster builds,
and the two small process helpers every test layer uses: run() and wait_for()."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CACHE_DIR = Path(os.environ.get("MESHLAB_CACHE_DIR", REPO / ".cache")).resolve()
# One folder linking every simulated-cluster binary (make lab-bin); tests/cluster's own tests use bin_path().
BIN_DIR = Path(os.environ.get("MESHLAB_KWOK_BIN_DIR", CACHE_DIR / "bin" / "lab"))
CLUSTER_DIR = REPO / "tests" / "cluster"
CLUSTER_SH = CLUSTER_DIR / "cluster.sh"
ARTIFACTS_SH = CLUSTER_DIR / "artifacts.sh"
# MESHLAB_KEEP_CLUSTER=1: the clusters a test session started are left running at its end.
KEEP = os.environ.get("MESHLAB_KEEP_CLUSTER") == "1"
# Clusters the integration suite starts are named meshlab-<prefix>-<flavor>; a developer running two suites at once
# sets MESHLAB_IT_PREFIX so that they do not share one.
BASE_PREFIX = os.environ.get("MESHLAB_IT_PREFIX", "it")
# Under pytest-xdist (make integration INTEGRATION_WORKERS=2) each worker process (PYTEST_XDIST_WORKER gw0, gw1, ...)
# has clusters of its own: meshlab-<prefix>-w0-<flavor>, ... (and so kubeconfigs, kwokctl state, namespaces, network
# namespaces, kept kubeconfigs derived from PREFIX). One process alone keeps the plain prefix.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PREFIX = f"{BASE_PREFIX}-w{WORKER.removeprefix('gw')}" if WORKER else BASE_PREFIX


def versions(path: Path = CLUSTER_DIR / "versions.env") -> dict[str, str]:
    """KEY=value pairs of tests/cluster/versions.env (comments and blank lines skipped)."""
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _sep, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


VERSIONS = versions()
ISTIO_VERSION = os.environ.get("MESHLAB_ISTIO_VERSION") or VERSIONS["ISTIO_VERSION"]


def bin_path(name: str) -> Path:
    """The binary tests/cluster/build.sh built for name, at the version versions.env pins."""
    version = {
        "kubectl": VERSIONS["KUBERNETES_VERSION"],
        "kwokctl": VERSIONS["KWOK_VERSION"],
        "istioctl": VERSIONS["ISTIO_VERSION"],
    }[name]
    return CACHE_DIR / "bin" / f"{name}-{version}" / name


KUBECTL = bin_path("kubectl")


def run(args, *, env=None, timeout=300, check=True, cwd=REPO) -> subprocess.CompletedProcess:
    """Run a command with a bound on its duration (text output captured, no stdin); `.elapsed` holds the seconds it
    took. check: a non-zero exit fails with the command, its exit code and the tail of its output."""
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
            f"stdout:\n{proc.stdout[-8000:]}\nstderr:\n{proc.stderr[-6000:]}"
        )
    return proc


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


def files_under(path: Path) -> list[str]:
    """Every file and folder below path (relative), sorted; [] when path does not exist."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
