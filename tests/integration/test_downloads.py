"""Issue 8, download faults: the roles' downloads against an artifact server that misbehaves on purpose.

A fault-injecting HTTP server runs in a thread of this test (127.0.0.1, a random port). It serves the real Istio
release tarball that tests/cluster/artifacts.sh builds (and its published ``.sha256``), laid out like GitHub's
release downloads, and, per test, answers with a modified tarball, a wrong ``.sha256``, or HTTP 500 for a number
of requests. It records when each request came, so retries and their growing waits are measured from the
server's side, not read back from the role.

The istio role runs whole (against this suite's own simulated cluster) where the download fails: it must fail
with a clear message, leave no file in its cache and bin folders (pointed into tmp_path) and make no object in
the cluster. Where the download succeeds after retries, only the role's release stage runs (``tasks_from:
release.yml`` with ``meshlab_cluster`` handed over, as the minishift role would): installing Istio on the cluster
adds nothing to what is tested here. The minishift role's download (the Minishift tarball and the KVM driver)
runs once, whole, with the fixture CLI Molecule's minishift scenario uses and no VM.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import tarfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from meshlab_testlib import CACHE_DIR, ISTIO_VERSION, REPO, Cluster, ansible_playbook, artifacts_url, files_under

ISTIO_ASSET = f"istio-{ISTIO_VERSION}-linux-amd64.tar.gz"
ISTIO_PATH = f"/istio/{ISTIO_VERSION}/{ISTIO_ASSET}"
ISTIO_TARBALL = CACHE_DIR / "artifacts" / "istio" / ISTIO_VERSION / ISTIO_ASSET
ISTIO_SELECTOR = "meshlab.io/role=istio"
MINISHIFT_VERSION = "1.34.3"
MINISHIFT_ASSET = f"minishift-{MINISHIFT_VERSION}-linux-amd64.tgz"
MINISHIFT_PATH = f"/minishift/v{MINISHIFT_VERSION}/{MINISHIFT_ASSET}"
KVM_PATH = "/kvm/docker-machine-driver-kvm"
FIXTURE_CLI = REPO / "molecule" / "minishift" / "files" / "minishift-fixture.py"


@dataclass
class FaultServer:
    """Serves ``files`` (path -> bytes); the first ``fail[path]`` requests of a path get HTTP 500 (-1: all)."""

    files: dict[str, bytes]
    fail: dict[str, int] = field(default_factory=dict)
    seen: list[tuple[str, int, float]] = field(default_factory=list)
    url: str = ""
    # Stops the server (its port then refuses connections); the fixture's end does it otherwise.
    stop: Callable[[], None] = lambda: None

    def times(self, path: str) -> list[float]:
        return [t for p, _status, t in self.seen if p == path]

    def statuses(self, path: str) -> list[int]:
        return [s for p, s, _t in self.seen if p == path]


@pytest.fixture
def server() -> Iterator[FaultServer]:
    state = FaultServer(files={})
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                left = state.fail.get(self.path, 0)
                body = state.files.get(self.path)
                if body is None:
                    status = 404
                elif left != 0:
                    status = 500
                    state.fail[self.path] = left - 1 if left > 0 else left
                else:
                    status = 200
                state.seen.append((self.path, status, time.monotonic()))
            payload = body if status == 200 and body is not None else f"{status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:
                return

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopped: list[bool] = []

    def stop() -> None:
        if not stopped:
            httpd.shutdown()
            httpd.server_close()
            stopped.append(True)

    state.stop = stop
    yield state
    stop()


@pytest.fixture(scope="session")
def istio_release() -> tuple[bytes, str]:
    """The real release tarball of tests/cluster/artifacts.sh (built when missing) and its published .sha256."""
    if not ISTIO_TARBALL.is_file():
        artifacts_url()  # builds it
    body = ISTIO_TARBALL.read_bytes()
    published = Path(f"{ISTIO_TARBALL}.sha256").read_text()
    assert published.split()[0] == hashlib.sha256(body).hexdigest(), "artifacts.sh published a wrong .sha256"
    return body, published


def serve_istio(server: FaultServer, release: tuple[bytes, str]) -> None:
    body, published = release
    server.files[ISTIO_PATH] = body
    server.files[f"{ISTIO_PATH}.sha256"] = published.encode()


def istio_vars(server: FaultServer, k8s: Cluster, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "istio_version": ISTIO_VERSION,
        "istio_download_base_url": f"{server.url}/istio",
        "istio_download_allow_http": True,  # the fault server is plain http on 127.0.0.1
        "istio_kubeconfig": str(k8s.kubeconfig),
        "istio_cache_dir": str(tmp_path / "cache"),
        "istio_bin_dir": str(tmp_path / "bin"),
        "istio_download_retries": 4,
        "istio_download_delay": 1,
        "istio_download_timeout": 30,
        **extra,
    }


# The whole role; on failure the failed task's result is kept (tmp_path/failed.json) and the play still fails.
ISTIO_PLAY = """
- name: The istio role against a faulty artifact server
  hosts: localhost
  gather_facts: true
  tasks:
    - name: The role runs
      block:
        - name: Istio is asked for
          ansible.builtin.include_role:
            name: meshlab.service_mesh.istio
      rescue:
        - name: The failure is kept for the test
          ansible.builtin.copy:
            content: "{{ ansible_failed_result | to_nice_json }}"
            dest: "{{ result_file }}"
            mode: "0600"
        - name: The play fails as the role did
          ansible.builtin.fail:
            msg: "{{ ansible_failed_task.name }}: {{ ansible_failed_result.msg }}"
"""

# Only the release stage (after the role's cluster stage, which it needs), with meshlab_cluster handed over as the
# minishift role would.
ISTIO_RELEASE_PLAY = """
- name: The istio role's release stage against a faulty artifact server
  hosts: localhost
  gather_facts: true
  tasks:
    - name: The cluster is described as the minishift role would publish it
      meshlab.service_mesh.cluster_facts:
        kubeconfig: "{{ istio_kubeconfig }}"
      register: test_cluster

    - name: Meshlab_cluster tells the role where the cluster is
      ansible.builtin.set_fact:
        meshlab_cluster: "{{ test_cluster.cluster }}"

    - name: The role knows its cluster (meshlab_cluster) and picks the release for it
      ansible.builtin.include_role:
        name: meshlab.service_mesh.istio
        tasks_from: cluster.yml

    - name: Istio's release is downloaded, verified and unpacked
      ansible.builtin.include_role:
        name: meshlab.service_mesh.istio
        tasks_from: release.yml

    - name: The download's result is kept for the test
      ansible.builtin.copy:
        content: "{{ __istio_download | to_nice_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
"""


RELEASE_TASK = "Istio's release is downloaded and verified once (offline when cached), unpacked, istioctl installed"


def task_status(output: str, task: str) -> str:
    """ok, changed, failed, skipping... of the first run of a task in ansible-playbook's output."""
    match = re.search(rf"TASK \[(?:[^\]]* : )?{re.escape(task)}\] \**\n(\w+):", output)
    assert match, f"task {task!r} not in the output"
    return match.group(1)


def only_files(path: Path) -> list[str]:
    return [p for p in files_under(path) if not (path / p).is_dir()]


def cluster_state(k8s: Cluster) -> tuple[set, set, set]:
    return k8s.lab_objects(ISTIO_SELECTOR), k8s.crds(), k8s.webhooks()


def assert_failed_and_left_nothing(run: Any, tmp_path: Path, before: tuple[set, set, set], k8s: Cluster) -> dict:
    assert run.rc != 0, run.output[-3000:]
    assert run.failed == 1, run.recap
    failed = json.loads((tmp_path / "failed.json").read_text())
    # Nothing in the role's folders: no partial or unverified tarball, nothing unpacked, no istioctl.
    assert only_files(tmp_path / "cache") == [], files_under(tmp_path / "cache")
    assert files_under(tmp_path / "bin") == []
    assert cluster_state(k8s) == before, "the failed run changed the cluster"
    return failed


def test_istio_tampered_tarball_fails_and_leaves_nothing(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    serve_istio(server, istio_release)
    body = bytearray(istio_release[0])
    body[len(body) // 2] ^= 0xFF  # one byte of the real tarball, same length
    server.files[ISTIO_PATH] = bytes(body)
    before = cluster_state(k8s)
    run = ansible_playbook(
        ISTIO_PLAY, tmp_path, istio_vars(server, k8s, tmp_path, result_file=str(tmp_path / "failed.json"))
    )
    failed = assert_failed_and_left_nothing(run, tmp_path, before, k8s)
    expected = istio_release[1].split()[0]
    actual = hashlib.sha256(body).hexdigest()
    assert "sha256 checksum mismatch" in failed["msg"]
    assert f"{server.url}{ISTIO_PATH}" in failed["msg"]
    assert f"expected {expected}" in failed["msg"]
    assert f"received {actual}" in failed["msg"]
    assert server.statuses(ISTIO_PATH) == [200], "a complete tarball with the wrong sha256 is not asked for again"


def test_istio_wrong_sha256_file_fails_and_leaves_nothing(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    serve_istio(server, istio_release)
    wrong = hashlib.sha256(b"not the release").hexdigest()
    server.files[f"{ISTIO_PATH}.sha256"] = f"{wrong} {ISTIO_ASSET}\n".encode()
    before = cluster_state(k8s)
    run = ansible_playbook(
        ISTIO_PLAY, tmp_path, istio_vars(server, k8s, tmp_path, result_file=str(tmp_path / "failed.json"))
    )
    failed = assert_failed_and_left_nothing(run, tmp_path, before, k8s)
    assert "sha256 checksum mismatch" in failed["msg"]
    assert f"expected {wrong} (from {server.url}{ISTIO_PATH}.sha256)" in failed["msg"]
    assert f"received {istio_release[1].split()[0]}" in failed["msg"]
    assert server.statuses(ISTIO_PATH) == [200]


def test_istio_500_three_times_then_served_retries_with_backoff(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    serve_istio(server, istio_release)
    server.fail[ISTIO_PATH] = 3
    extra = istio_vars(server, k8s, tmp_path, result_file=str(tmp_path / "download.json"))
    run = ansible_playbook(ISTIO_RELEASE_PLAY, tmp_path, extra)
    assert run.rc == 0, run.output[-4000:]
    assert server.statuses(ISTIO_PATH) == [500, 500, 500, 200]
    gaps = [b - a for a, b in itertools.pairwise(server.times(ISTIO_PATH))]
    print(f"500 x3 then served: gaps between requests at the server {[round(g, 2) for g in gaps]} s")
    # delay 1 s, backoff 2: the server sees the requests 1, 2 and 4 s apart (plus the requests' own time).
    assert gaps[0] >= 1 and gaps[1] >= 2 and gaps[2] >= 4, gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps
    download = json.loads((tmp_path / "download.json").read_text())
    tries = [a for a in download["attempts"] if a["url"].endswith(ISTIO_ASSET)]
    assert [(a["status"], a["wait"]) for a in tries] == [(500, 1), (500, 2), (500, 4), (200, None)]
    tarball = tmp_path / "cache" / ISTIO_VERSION / ISTIO_ASSET
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == istio_release[1].split()[0]
    # Unpacked and installed; no temporary file left beside the tarball.
    assert (tmp_path / "bin" / f"istioctl-{ISTIO_VERSION}").is_file()
    assert not [p for p in only_files(tmp_path / "cache") if p.endswith(".part")]
    # Again: the verified tarball is checked against its record on this host; nothing is asked for, not even
    # the .sha256.
    requests = len(server.seen)
    again = ansible_playbook(ISTIO_RELEASE_PLAY, tmp_path, extra)
    assert again.rc == 0, again.output[-4000:]
    # Every task of the role is ok; the one change is this test's copy of the result.
    assert again.changed == 1, again.output[-4000:]
    assert task_status(again.output, RELEASE_TASK) == "ok"
    assert again.output.count("changed: [localhost]") == 1
    assert task_status(again.output, "The download's result is kept for the test") == "changed"
    assert len(server.seen) == requests, server.seen[requests:]
    kept = json.loads((tmp_path / "download.json").read_text())
    assert (kept["downloaded"], kept["verified_from"], kept["attempts"]) == (False, "record", [])


def test_istio_check_mode_downloads_nothing(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    serve_istio(server, istio_release)
    extra = istio_vars(server, k8s, tmp_path, result_file=str(tmp_path / "download.json"))
    run = ansible_playbook(ISTIO_RELEASE_PLAY, tmp_path, extra, "--check")
    assert run.rc == 0, run.output[-4000:]
    # The .sha256 is read (that changes nothing); the tarball is not asked for.
    assert server.statuses(f"{ISTIO_PATH}.sha256") == [200]
    assert server.times(ISTIO_PATH) == []
    assert task_status(run.output, RELEASE_TASK) == "changed"
    assert "Check mode: " + ISTIO_ASSET + " is not downloaded yet" in run.output
    assert only_files(tmp_path / "cache") == []
    assert files_under(tmp_path / "bin") == []


def test_istio_always_500_fails_cleanly_within_a_bound(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    serve_istio(server, istio_release)
    server.fail[ISTIO_PATH] = -1
    before = cluster_state(k8s)
    extra = istio_vars(
        server,
        k8s,
        tmp_path,
        istio_download_retries=3,
        istio_download_delay=1,
        istio_download_timeout=10,
        result_file=str(tmp_path / "failed.json"),
    )
    run = ansible_playbook(ISTIO_PLAY, tmp_path, extra)
    ended = time.monotonic()
    failed = assert_failed_and_left_nothing(run, tmp_path, before, k8s)
    assert server.statuses(ISTIO_PATH) == [500, 500, 500]
    assert "no success after 3 attempt(s)" in failed["msg"]
    assert "HTTP 500" in failed["msg"]
    # 3 attempts x 10 s + waits of 1 and 2 s: the message states the bound, the module kept to it.
    assert "bounded by 3 attempt(s) x 10 s timeout + 3 s of waits (1, 2) = 33 s" in failed["msg"]
    assert 3 <= failed["elapsed"] < 33
    # Seen from the server: the first and the last request are the waits apart (1 + 2 s), well within the bound.
    requests = server.times(ISTIO_PATH)
    assert 3 <= requests[-1] - requests[0] < 33, requests
    # From the download task's first request (the .sha256) to the end of ansible-playbook: within a minute.
    # (Before it, Ansible's start, facts and the role's checks on the cluster take what a loaded machine gives them;
    # the whole playbook is only held to a cap that catches a hang.)
    since_first = ended - server.times(f"{ISTIO_PATH}.sha256")[0]
    print(
        f"always 500: module {failed['elapsed']:.1f} s, download to exit {since_first:.1f} s, "
        f"playbook {run.seconds:.1f} s"
    )
    assert since_first < 60, since_first
    assert run.seconds < 300, run.seconds


# --------------------------------------------------------------------------- issue 12: strict downloads


def test_istio_plain_http_is_refused_without_allow_http_before_any_change(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    serve_istio(server, istio_release)
    before = cluster_state(k8s)
    result_file = str(tmp_path / "failed.json")
    extra = istio_vars(server, k8s, tmp_path, istio_download_allow_http=False, result_file=result_file)
    run = ansible_playbook(ISTIO_PLAY, tmp_path, extra)
    failed = assert_failed_and_left_nothing(run, tmp_path, before, k8s)
    assert f"istio_download_base_url is '{server.url}/istio': plain http:// is refused" in failed["msg"]
    assert "istio_download_allow_http=true" in failed["msg"]
    assert server.seen == [], "nothing is asked of a plain-http server without the allow variable"


def test_istio_sha256_answer_that_is_not_a_checksum_is_refused(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    """A proxy or mirror answering the .sha256 with a page (200 OK): refused, saying what came, tarball not fetched."""
    serve_istio(server, istio_release)
    server.files[f"{ISTIO_PATH}.sha256"] = b"<html><head><title>Sign in</title></head></html>\n"
    before = cluster_state(k8s)
    run = ansible_playbook(
        ISTIO_PLAY, tmp_path, istio_vars(server, k8s, tmp_path, result_file=str(tmp_path / "failed.json"))
    )
    failed = assert_failed_and_left_nothing(run, tmp_path, before, k8s)
    assert f"checksum file {server.url}{ISTIO_PATH}.sha256 is not a sha256 checksum file" in failed["msg"]
    assert "line 1 is '<html><head><title>Sign in</title></head></html>'" in failed["msg"]
    assert "expected exactly 64 hex digits, optionally followed by whitespace and a file name" in failed["msg"]
    assert server.statuses(ISTIO_PATH) == [], "the tarball is not fetched against a checksum that is not one"


def test_istio_pinned_digest_in_the_version_table_is_preferred(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    """A digest pinned in the version table (sha256 keyed by asset) wins over the published .sha256: the .sha256 is
    not even asked for. The table is the role's own (roles/istio/vars/main.yml), given one pinned digest here."""
    serve_istio(server, istio_release)
    # Were the published .sha256 used, the download would fail as a mismatch.
    server.files[f"{ISTIO_PATH}.sha256"] = f"{hashlib.sha256(b'not it').hexdigest()}  {ISTIO_ASSET}\n".encode()
    table = yaml.safe_load((REPO / "roles" / "istio" / "vars" / "main.yml").read_text())
    defaults = table["__istio_line_defaults"]
    assert defaults["sha256"] == {}, "the role pins no digest it could not check"
    pinned = {**defaults, "sha256": {ISTIO_ASSET: istio_release[1].split()[0]}}
    extra = istio_vars(server, k8s, tmp_path, __istio_line_defaults=pinned, result_file=str(tmp_path / "download.json"))
    run = ansible_playbook(ISTIO_RELEASE_PLAY, tmp_path, extra)
    assert run.rc == 0, run.output[-4000:]
    download = json.loads((tmp_path / "download.json").read_text())
    assert download["checksum_url"] is None
    assert download["expected_sha256"] == istio_release[1].split()[0]
    assert server.statuses(f"{ISTIO_PATH}.sha256") == []
    assert server.statuses(ISTIO_PATH) == [200]
    # A wrong pinned digest fails as a mismatch against the pinned value (not the .sha256's).
    wrong = hashlib.sha256(b"pinned wrong").hexdigest()
    (tmp_path / "cache" / ISTIO_VERSION / ISTIO_ASSET).unlink()
    bad = istio_vars(
        server,
        k8s,
        tmp_path,
        __istio_line_defaults={**defaults, "sha256": {ISTIO_ASSET: wrong}},
        result_file=str(tmp_path / "download.json"),
    )
    failed = ansible_playbook(ISTIO_RELEASE_PLAY, tmp_path, bad)
    assert failed.rc != 0
    assert f"expected {wrong}, received {istio_release[1].split()[0]}" in failed.output
    assert server.statuses(f"{ISTIO_PATH}.sha256") == []


# --------------------------------------------------------------------------- issue 13: offline once cached


def release_stage_runs(output: str) -> list[tuple[str, str]]:
    """(task, status) of every task of the role's release stage (tasks/release.yml) that ran a module: what
    ansible-playbook printed for them, skipped tasks and set_fact/debug left out."""
    tasks = re.findall(r"TASK \[meshlab\.service_mesh\.istio : ([^\]]*)\] \**\n(\w+):", output)
    release_yml = (REPO / "roles" / "istio" / "tasks" / "release.yml").read_text()
    names = re.findall(r"^- name: (.*)$", release_yml, re.M)
    cheap = re.findall(r"^- name: (.*)\n  ansible\.builtin\.(?:set_fact|debug):", release_yml, re.M)
    return [(t, st) for t, st in tasks if t in names and t not in cheap and st != "skipping"]


def test_istio_reruns_and_tears_down_with_the_artifact_server_stopped(
    server: FaultServer, istio_release: tuple[bytes, str], k8s: Cluster, tmp_path: Path
) -> None:
    """Issue 13: once the release is cached, a re-run of the istio role (changed=0) and its teardown (state absent)
    make no network request: they succeed with the artifact server stopped. The release stage is one module run."""
    serve_istio(server, istio_release)
    extra = istio_vars(
        server,
        k8s,
        tmp_path,
        istio_wait_timeout=240,
        istio_readiness_timeout=240,
        result_file=str(tmp_path / "failed.json"),
    )
    first = ansible_playbook(ISTIO_PLAY, tmp_path, extra, timeout=1500)
    assert first.rc == 0, first.output[-6000:]
    assert server.statuses(f"{ISTIO_PATH}.sha256") == [200] and server.statuses(ISTIO_PATH) == [200]
    assert k8s.lab_objects(ISTIO_SELECTOR), "the converge made no object of the istio role"
    record = tmp_path / "cache" / ISTIO_VERSION / f".{ISTIO_ASSET}.verified.json"
    assert json.loads(record.read_text())["sha256"] == istio_release[1].split()[0]

    server.stop()  # from here on, any request for the release fails (connection refused)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.url}{ISTIO_PATH}.sha256", timeout=5)
    again = ansible_playbook(ISTIO_PLAY, tmp_path, extra, timeout=1500)
    assert again.rc == 0, again.output[-6000:]
    runs = release_stage_runs(again.output)
    changed_tasks = re.findall(r"TASK \[([^\]]*)\] \**\nchanged:", again.output)
    print(f"no-op re-run offline: {again.seconds:.1f} s, release stage module runs {runs}, changed {changed_tasks}")
    assert runs == [(RELEASE_TASK, "ok")], runs

    down = ansible_playbook(ISTIO_PLAY, tmp_path, {**extra, "istio_state": "absent"}, timeout=1500)
    assert down.rc == 0, down.output[-6000:]
    assert release_stage_runs(down.output) == [(RELEASE_TASK, "ok")]
    print(f"teardown offline: {down.seconds:.1f} s")
    assert k8s.lab_objects(ISTIO_SELECTOR) == set(), "the offline teardown left objects of the istio role"
    assert not (tmp_path / "failed.json").exists()
    # The re-run was a no-op (checked last, so that the offline teardown is tested whatever it says).
    assert again.changed == 0, f"the offline re-run changed {changed_tasks}"


def minishift_fixture_tarball() -> bytes:
    """The FIXTURE minishift CLI of Molecule's minishift scenario, packed like the real release."""
    out = io.BytesIO()
    top = f"minishift-{MINISHIFT_VERSION}-linux-amd64"
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        cli = FIXTURE_CLI.read_bytes()
        for name, data, mode in [
            ("minishift", cli, 0o755),
            ("LICENSE", b"FIXTURE for meshlab.service_mesh tests, not Minishift.\n", 0o644),
        ]:
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


MINISHIFT_PLAY = """
- name: The minishift role's downloads against a faulty artifact server (no VM)
  hosts: localhost
  gather_facts: true
  roles:
    - role: meshlab.service_mesh.minishift
"""


def test_minishift_downloads_retry_with_backoff_and_verify(server: FaultServer, tmp_path: Path) -> None:
    tarball = minishift_fixture_tarball()
    driver = b"#!/bin/sh\necho FIXTURE docker-machine-driver-kvm\n"
    server.files[MINISHIFT_PATH] = tarball
    # Minishift's .sha256 holds only the digest.
    server.files[f"{MINISHIFT_PATH}.sha256"] = hashlib.sha256(tarball).hexdigest().encode() + b"\n"
    server.files[KVM_PATH] = driver
    server.fail[MINISHIFT_PATH] = 2
    server.fail[KVM_PATH] = 1
    extra = {
        "minishift_provider": "minishift",
        "minishift_state": "started",
        "minishift_start_vm": False,
        "minishift_manage_host_packages": False,
        "minishift_vm_driver": "kvm",
        "minishift_profile": "meshlab-dl",
        "minishift_download_base_url": server.url + "/minishift",
        "minishift_download_allow_http": True,  # the fault server is plain http on 127.0.0.1
        "minishift_kvm_driver_url": server.url + KVM_PATH,
        "minishift_kvm_driver_checksum": hashlib.sha256(driver).hexdigest(),
        "minishift_install_dir": str(tmp_path / "share"),
        "minishift_download_dir": str(tmp_path / "downloads"),
        "minishift_bin_dir": str(tmp_path / "bin"),
        "minishift_kubeconfig_dir": str(tmp_path / "kube"),
        "minishift_download_retries": 3,
        "minishift_download_delay": 1,
        "minishift_download_timeout": 10,
    }
    env = {"MINISHIFT_HOME": str(tmp_path / "minishift-home")}
    run = ansible_playbook(MINISHIFT_PLAY, tmp_path, extra, env=env)
    assert run.rc == 0, run.output[-4000:]
    assert server.statuses(MINISHIFT_PATH) == [500, 500, 200]
    gaps = [b - a for a, b in itertools.pairwise(server.times(MINISHIFT_PATH))]
    assert 1 <= gaps[0] < gaps[1] and gaps[1] >= 2, gaps
    assert server.statuses(KVM_PATH) == [500, 200]
    assert (tmp_path / "downloads" / MINISHIFT_ASSET).read_bytes() == tarball
    exe = tmp_path / "bin" / "minishift"
    assert exe.resolve() == tmp_path / "share" / "minishift" / MINISHIFT_VERSION / "minishift"
    kvm = tmp_path / "bin" / "docker-machine-driver-kvm"
    assert kvm.resolve().read_bytes() == driver
    assert oct(kvm.resolve().stat().st_mode & 0o777) == "0o755"
    assert not [p for p in files_under(tmp_path / "downloads") + files_under(tmp_path / "share") if ".part" in p]
    # The profile was configured by the unpacked fixture CLI, so the download was usable.
    config = tmp_path / "minishift-home" / "profiles" / "meshlab-dl" / "config" / "meshlab-dl.json"
    assert json.loads(config.read_text())["vm-driver"] == "kvm"
