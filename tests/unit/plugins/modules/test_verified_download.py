"""meshlab.service_mesh.verified_download against a real HTTP server on 127.0.0.1, run in a thread.

The server answers each path from a script of behaviours (serve, a status, a slow answer, a trickled or
cut-short body) and records when each request came, so the tests see the attempts and waits from the
server's side as well as in the module's result. Sleeps are real, kept short (tenths of a second).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.meshlab.service_mesh.plugins.module_utils.download import (
    RetryPolicy,
    checksum_from_text,
    parse_checksum_spec,
)
from ansible_collections.meshlab.service_mesh.plugins.modules import verified_download
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from module_harness import as_module, module_args

NAME = "istio-1.30.4-linux-amd64.tar.gz"
BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()
OTHER_SHA = hashlib.sha256(b"something else").hexdigest()


@dataclass
class Behaviour:
    """How one request is answered: kind is ok, status, tampered, slow, trickle, short (half the body of its
    Content-Length, then close), short-chunked (a chunked body cut off), unframed (no length, half the body, close)
    or redirect (status 302 to location)."""

    kind: str = "ok"
    status: int = 200
    body: bytes | None = None
    sleep: float = 0.0
    location: str = ""


@dataclass
class Server:
    url: str = ""
    # path -> behaviours, one per request; the last one repeats.
    script: dict[str, list[Behaviour]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    seen: list[tuple[str, float]] = field(default_factory=list)

    def requests(self, path: str) -> list[float]:
        return [t for p, t in self.seen if p == path]

    def next_behaviour(self, path: str) -> Behaviour:
        queue = self.script.get(path, [])
        if not queue:
            return Behaviour()
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Server]:
    """The same server behind TLS, with a self-signed certificate no CA vouches for."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "tls.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    yield from _serve(context)


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    state = Server(
        files={
            f"/{NAME}": BODY,
            f"/{NAME}.sha256": f"{SHA} {NAME}\n".encode(),
            "/sha256sum.txt": f"{OTHER_SHA}  other.tar.xz\n{SHA}  {NAME}\n".encode(),
        }
    )
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                state.seen.append((self.path, time.monotonic()))
                behaviour = state.next_behaviour(self.path)
            body = behaviour.body if behaviour.body is not None else state.files.get(self.path)
            if behaviour.sleep and behaviour.kind == "slow":
                time.sleep(behaviour.sleep)
            if behaviour.kind == "redirect":
                self.send_response(302)
                self.send_header("Location", behaviour.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif body is None:
                self._send(404, b"not found\n")
            elif behaviour.kind == "status":
                self._send(behaviour.status, b"server says no\n")
            elif behaviour.kind == "trickle":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                step = max(len(body) // 20, 1)
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        self.wfile.flush()
                        time.sleep(behaviour.sleep)
                except OSError:
                    return
            elif behaviour.kind == "short":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            elif behaviour.kind == "short-chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                half = body[: len(body) // 2]
                self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
                self.close_connection = True
            elif behaviour.kind == "unframed":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            else:
                self._send(200, body)

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                return

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    state.url = f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


Run = Callable[..., dict[str, Any]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(args: dict[str, Any], *, check_mode: bool = False, diff: bool = False) -> dict[str, Any]:
        as_module(monkeypatch)
        start = time.monotonic()
        with (
            module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)),
            pytest.raises(SystemExit),
        ):
            verified_download.main()
        result: dict[str, Any] = json.loads(capsys.readouterr().out)
        result["_seconds"] = time.monotonic() - start
        return result

    return _run


def fast(server: Server, dest: Path, **extra: Any) -> dict[str, Any]:
    """Module arguments with short waits: the Istio asset, verified against its .sha256 file."""
    return {
        "url": f"{server.url}/{NAME}",
        "dest": str(dest),
        "checksum": f"sha256:{server.url}/{NAME}.sha256",
        "attempts": 4,
        "delay": 0.1,
        "backoff": 2,
        "timeout": 5,
        # The test server speaks plain HTTP on 127.0.0.1 (the TLS server is https: the option changes nothing there).
        "allow_http": True,
        **extra,
    }


def leftovers(folder: Path, keep: tuple[str, ...] = ()) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_downloads_and_verifies_against_the_istio_sha256_file(server: Server, tmp_path: Path, run: Run) -> None:
    dest = tmp_path / NAME
    result = run(fast(server, dest, mode="0640"))
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["downloaded"] is True
    assert dest.read_bytes() == BODY
    assert oct(dest.stat().st_mode & 0o7777) == "0o640"
    assert result["sha256"] == result["expected_sha256"] == SHA
    assert result["previous_sha256"] is None
    assert result["size"] == len(BODY)
    assert result["checksum_url"] == f"{server.url}/{NAME}.sha256"
    assert [(a["url"].rsplit("/", 1)[1], a["status"], a["wait"]) for a in result["attempts"]] == [
        (f"{NAME}.sha256", 200, None),
        (NAME, 200, None),
    ]
    assert leftovers(tmp_path) == [NAME]


def test_a_file_with_the_right_sha256_is_not_downloaded_again(server: Server, tmp_path: Path, run: Run) -> None:
    dest = tmp_path / NAME
    run(fast(server, dest, mode="0644"))
    before = dest.stat().st_mtime_ns
    again = run(fast(server, dest, mode="0644"))
    assert not again.get("failed"), again
    assert again["changed"] is False
    assert again["downloaded"] is False
    assert again["previous_sha256"] == again["sha256"] == SHA
    assert len(server.requests(f"/{NAME}")) == 1, "the second run must not fetch the artifact"
    assert dest.stat().st_mtime_ns == before
    # Only the mode differs: changed, and still no download.
    mode_only = run(fast(server, dest, mode="0600"), diff=True)
    assert mode_only["changed"] is True
    assert mode_only["downloaded"] is False
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    assert len(server.requests(f"/{NAME}")) == 1


def test_check_mode_says_it_would_download_and_downloads_nothing(server: Server, tmp_path: Path, run: Run) -> None:
    dest = tmp_path / NAME
    result = run(fast(server, dest), check_mode=True, diff=True)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["downloaded"] is True
    assert "would be downloaded" in result["msg"]
    assert server.requests(f"/{NAME}") == []
    assert leftovers(tmp_path) == []
    assert result["diff"]["before"] == f"{dest}: absent\n"
    assert SHA in result["diff"]["after"]
    # With the file in place, check mode reports no change.
    run(fast(server, dest))
    checked = run(fast(server, dest), check_mode=True)
    assert checked["changed"] is False


def test_a_wrong_file_at_dest_is_replaced(server: Server, tmp_path: Path, run: Run) -> None:
    dest = tmp_path / NAME
    dest.write_bytes(b"an older, different file")
    result = run(fast(server, dest), diff=True)
    assert result["changed"] is True
    assert result["previous_sha256"] == hashlib.sha256(b"an older, different file").hexdigest()
    assert dest.read_bytes() == BODY
    assert result["diff"]["before"] != result["diff"]["after"]
    assert leftovers(tmp_path) == [NAME]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("digest only", f"{SHA}\n"),
        ("istio: one space", f"{SHA} {NAME}\n"),
        ("sha256sum text mode", f"{SHA}  {NAME}\n"),
        ("sha256sum binary mode, ./ path", f"{SHA} *./{NAME}\n"),
        ("sha256sum.txt listing", f"{OTHER_SHA}  crc-linux-amd64.tar.xz\n{SHA}  {NAME}\n{OTHER_SHA}  crc-macos.pkg\n"),
        ("upper-case digest, comment", f"# release sums\n{SHA.upper()}  {NAME}\n"),
    ],
)
def test_checksum_file_formats(server: Server, tmp_path: Path, run: Run, name: str, text: str) -> None:
    server.files["/sums"] = text.encode()
    result = run(fast(server, tmp_path / NAME, checksum=f"sha256:{server.url}/sums"))
    assert not result.get("failed"), (name, result)
    assert result["expected_sha256"] == SHA


def test_inline_sha256(server: Server, tmp_path: Path, run: Run) -> None:
    result = run(fast(server, tmp_path / NAME, checksum=f"sha256:{SHA.upper()}"))
    assert not result.get("failed"), result
    assert result["checksum_url"] is None
    assert [a["url"] for a in result["attempts"]] == [f"{server.url}/{NAME}"]


def test_a_listing_without_the_file_fails_before_downloading(server: Server, tmp_path: Path, run: Run) -> None:
    server.files["/sha256sum.txt"] = f"{OTHER_SHA}  other.tar.xz\n".encode()
    result = run(fast(server, tmp_path / NAME, checksum=f"sha256:{server.url}/sha256sum.txt"))
    assert result["failed"] is True
    assert f"no sha256 for {NAME}" in result["msg"]
    assert "other.tar.xz" in result["msg"]
    assert server.requests(f"/{NAME}") == []
    assert leftovers(tmp_path) == []


def test_a_tampered_body_fails_at_once_and_leaves_nothing(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}"] = [Behaviour(body=BODY[:-1] + b"X")]
    dest = tmp_path / NAME
    result = run(fast(server, dest))
    assert result["failed"] is True
    tampered = hashlib.sha256(BODY[:-1] + b"X").hexdigest()
    assert "sha256 checksum mismatch" in result["msg"]
    assert f"{server.url}/{NAME}" in result["msg"]
    assert f"expected {SHA}" in result["msg"]
    assert f"received {tampered}" in result["msg"]
    assert result["actual_sha256"] == tampered
    assert len(server.requests(f"/{NAME}")) == 1, "a complete body with the wrong sha256 is not retried"
    assert leftovers(tmp_path) == []


def test_a_tampered_body_does_not_touch_the_file_already_there(server: Server, tmp_path: Path, run: Run) -> None:
    dest = tmp_path / NAME
    dest.write_bytes(b"previous content")
    server.script[f"/{NAME}"] = [Behaviour(body=b"tampered")]
    result = run(fast(server, dest))
    assert result["failed"] is True
    assert dest.read_bytes() == b"previous content"
    assert leftovers(tmp_path) == [NAME]


def test_a_wrong_sha256_file_fails_and_leaves_nothing(server: Server, tmp_path: Path, run: Run) -> None:
    server.files[f"/{NAME}.sha256"] = f"{OTHER_SHA} {NAME}\n".encode()
    result = run(fast(server, tmp_path / NAME))
    assert result["failed"] is True
    assert "sha256 checksum mismatch" in result["msg"]
    assert f"expected {OTHER_SHA} (from {server.url}/{NAME}.sha256)" in result["msg"]
    assert f"received {SHA}" in result["msg"]
    assert len(server.requests(f"/{NAME}")) == 1
    assert leftovers(tmp_path) == []


def test_500_three_times_then_served_retries_with_growing_waits(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}"] = [Behaviour("status", 500)] * 3 + [Behaviour()]
    dest = tmp_path / NAME
    result = run(fast(server, dest, delay=0.25))
    assert not result.get("failed"), result
    assert dest.read_bytes() == BODY
    tries = [a for a in result["attempts"] if a["url"].endswith(NAME)]
    assert [a["status"] for a in tries] == [500, 500, 500, 200]
    assert [a["wait"] for a in tries] == [0.25, 0.5, 1.0, None]
    assert all(a["retryable"] for a in tries[:3])
    seen = gaps(server.requests(f"/{NAME}"))
    assert len(seen) == 3
    assert seen[0] >= 0.25 and seen[1] >= 0.5 and seen[2] >= 1.0
    assert seen[0] < seen[1] < seen[2], seen
    assert "in 4 attempt(s)" in result["msg"]
    assert leftovers(tmp_path) == [NAME]


def test_always_500_fails_cleanly_within_the_stated_bound(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}"] = [Behaviour("status", 503)]
    result = run(fast(server, tmp_path / NAME, attempts=3, delay=0.1, timeout=2))
    assert result["failed"] is True
    assert len(server.requests(f"/{NAME}")) == 3
    tries = [a for a in result["attempts"] if a["url"].endswith(NAME)]
    assert [a["wait"] for a in tries] == [0.1, 0.2, None]
    assert "no success after 3 attempt(s)" in result["msg"]
    assert "HTTP 503" in result["msg"]
    assert "bounded by 3 attempt(s) x 2 s timeout + 0.3 s of waits (0.1, 0.2) = 6.3 s" in result["msg"]
    assert "Nothing was written" in result["msg"]
    # The .sha256 fetch has a budget of its own: the result's bound covers both.
    assert result["bound"] == pytest.approx(2 * 6.3)
    assert result["_seconds"] < 6.3
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [404, 403, 401])
def test_client_errors_are_not_retried(server: Server, tmp_path: Path, run: Run, status: int) -> None:
    server.script[f"/{NAME}"] = [Behaviour("status", status)]
    result = run(fast(server, tmp_path / NAME))
    assert result["failed"] is True
    assert f"HTTP {status}" in result["msg"]
    assert "not retried" in result["msg"]
    assert len(server.requests(f"/{NAME}")) == 1
    assert leftovers(tmp_path) == []


def test_429_and_a_body_cut_short_are_retried(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}"] = [Behaviour("status", 429), Behaviour("short"), Behaviour()]
    result = run(fast(server, tmp_path / NAME))
    assert not result.get("failed"), result
    tries = [a for a in result["attempts"] if a["url"].endswith(NAME)]
    assert [a["status"] for a in tries] == [429, 200, 200]
    assert "truncated" in tries[1]["error"]
    assert (tmp_path / NAME).read_bytes() == BODY
    assert leftovers(tmp_path) == [NAME]


def test_an_answer_slower_than_the_timeout_is_retried_then_fails(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}"] = [Behaviour("slow", sleep=1.5)]
    result = run(fast(server, tmp_path / NAME, attempts=2, delay=0.1, timeout=0.4))
    assert result["failed"] is True
    tries = [a for a in result["attempts"] if a["url"].endswith(NAME)]
    assert len(tries) == 2
    assert all(a["status"] is None and "timed out" in a["error"] for a in tries), tries
    # Cut off at the timeout, long before the server would have answered (1.5 s).
    assert all(0.3 < a["seconds"] < 1.3 for a in tries), tries
    assert "bounded by 2 attempt(s) x 0.4 s timeout" in result["msg"]
    assert leftovers(tmp_path) == []


def test_a_trickling_body_is_cut_off_at_the_timeout(server: Server, tmp_path: Path, run: Run) -> None:
    # 20 pieces 0.1 s apart: 2 s for the body, and no single read waits long enough for a socket timeout.
    server.script[f"/{NAME}"] = [Behaviour("trickle", sleep=0.1)]
    result = run(fast(server, tmp_path / NAME, attempts=2, delay=0.1, timeout=0.6))
    assert result["failed"] is True
    tries = [a for a in result["attempts"] if a["url"].endswith(NAME)]
    assert len(tries) == 2
    assert all("body not complete after 0.6 s" in a["error"] for a in tries), tries
    assert all(a["seconds"] < 1.5 for a in tries), tries
    assert leftovers(tmp_path) == []


def test_max_delay_caps_the_waits(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}"] = [Behaviour("status", 500)]
    result = run(fast(server, tmp_path / NAME, attempts=4, delay=0.05, backoff=10, max_delay=0.2))
    tries = [a for a in result["attempts"] if a["url"].endswith(NAME)]
    assert [a["wait"] for a in tries] == [0.05, 0.2, 0.2, None]
    assert RetryPolicy(attempts=4, delay=0.05, backoff=10, max_delay=0.2, timeout=1).bound() == pytest.approx(4.45)


def test_an_unreachable_server_is_retried_as_a_connection_error(tmp_path: Path, run: Run) -> None:
    result = run(
        {
            "url": f"http://127.0.0.1:9/{NAME}",
            "dest": str(tmp_path / NAME),
            "checksum": f"sha256:{SHA}",
            "attempts": 2,
            "delay": 0.05,
            "timeout": 2,
            "allow_http": True,
        }
    )
    assert result["failed"] is True
    assert [(a["status"], a["error"].startswith("connection failed")) for a in result["attempts"]] == [
        (None, True),
        (None, True),
    ]
    assert leftovers(tmp_path) == []


def test_a_file_url(tmp_path: Path, run: Run) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / NAME).write_bytes(BODY)
    (src / f"{NAME}.sha256").write_text(f"{SHA} {NAME}\n")
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        {"url": f"file://{src / NAME}", "dest": str(out / NAME), "checksum": f"sha256:file://{src / NAME}.sha256"}
    )
    assert not result.get("failed"), result
    assert (out / NAME).read_bytes() == BODY
    assert [a["status"] for a in result["attempts"]] == [None, None]


def test_without_checksum_it_downloads_and_warns(server: Server, tmp_path: Path, run: Run) -> None:
    args = fast(server, tmp_path / NAME)
    del args["checksum"]
    result = run(args)
    assert not result.get("failed"), result
    assert result["expected_sha256"] is None
    assert "without a checksum" in json.dumps(result["warnings"])
    again = run(args)
    assert again["changed"] is False
    assert len(server.requests(f"/{NAME}")) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"checksum": "md5:0123"}, "allowed: sha256:<64 hex digits>"),
        ({"checksum": "sha256:abc"}, "after 'sha256:' allowed"),
        ({"attempts": 0}, "attempts is 0"),
        ({"backoff": 0.5}, "backoff is 0.5"),
        ({"timeout": 0}, "timeout is 0"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    server: Server, tmp_path: Path, run: Run, extra: dict[str, Any], message: str
) -> None:
    result = run(fast(server, tmp_path / NAME, **extra))
    assert result["failed"] is True
    assert message in result["msg"]
    assert server.seen == []


def test_dest_folder_must_exist(server: Server, tmp_path: Path, run: Run) -> None:
    result = run(fast(server, tmp_path / "missing" / NAME))
    assert result["failed"] is True
    assert "does not exist" in result["msg"]
    assert server.seen == []
    # In check mode the folder may be one an earlier task would create: the file would be downloaded.
    checked = run(fast(server, tmp_path / "missing" / NAME), check_mode=True)
    assert not checked.get("failed"), checked
    assert checked["changed"] is True
    assert server.requests(f"/{NAME}") == []
    assert not (tmp_path / "missing").exists()
    result = run(fast(server, tmp_path))
    assert "is a folder" in result["msg"]


def test_checksum_parsing_edge_cases() -> None:
    assert parse_checksum_spec(f"SHA256:{SHA.upper()}") == (SHA, None)
    assert parse_checksum_spec("sha256:https://x/y.sha256") == (None, "https://x/y.sha256")
    with pytest.raises(ValueError, match="different sha256s"):
        checksum_from_text(f"{SHA}  a\n{OTHER_SHA}  a\n", "a", "sums")
    with pytest.raises(ValueError, match="is not a sha256 checksum file"):
        checksum_from_text("not-a-digest  a\n", "a", "sums")
    with pytest.raises(ValueError, match="holds no sha256"):
        checksum_from_text("\n# nothing\n", "a", "sums")
    # A single named line must name the file: a .sha256 of another asset is refused.
    with pytest.raises(ValueError, match="no sha256 for a"):
        checksum_from_text(f"{SHA} b\n", "a", "sums")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_run_stopped_mid_download_removes_its_temporary_file(
    server: Server, tmp_path: Path, sig: signal.Signals
) -> None:
    """The module as Ansible runs it (its own process), stopped while the body trickles in."""
    server.script[f"/{NAME}"] = [Behaviour("trickle", sleep=0.2)]
    args = tmp_path / "args.json"
    out = tmp_path / "out"
    out.mkdir()
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": fast(server, out / NAME, timeout=30)}))
    root = Path(verified_download.__file__).parents[5]  # the folder holding ansible_collections/
    # A test run in the background (make test &, CI) inherits SIGINT ignored, and an ignored signal stays
    # ignored across exec: handle it here for the moment of the start, so the module sees it as after Ctrl-C.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", verified_download.__name__, str(args)],
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 20
    while not list(out.glob(".*.part")) or len(server.requests(f"/{NAME}")) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.05)
    time.sleep(0.3)  # a few pieces of the body are in the temporary file
    proc.send_signal(sig)
    proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert leftovers(out) == []


def test_an_untrusted_tls_certificate_fails_at_once(tls_server: Server, tmp_path: Path, run: Run) -> None:
    args = fast(tls_server, tmp_path / NAME, checksum=f"sha256:{SHA}")
    result = run(args)
    assert result["failed"] is True
    assert "TLS certificate not trusted" in result["msg"]
    assert "not retried" in result["msg"]
    assert [(a["status"], a["retryable"]) for a in result["attempts"]] == [(None, False)]
    assert tls_server.seen == [], "no request passes a handshake that failed"
    assert leftovers(tmp_path) == ["tls.pem"]
    # validate_certs false, as get_url's: the same server is accepted and the sha256 still verified.
    trusted = run(dict(args, validate_certs=False))
    assert not trusted.get("failed"), trusted
    assert (tmp_path / NAME).read_bytes() == BODY


def test_credentials_in_urls_are_masked_in_results_and_messages(server: Server, tmp_path: Path, run: Run) -> None:
    host = server.url.removeprefix("http://")
    secret_url = f"http://lab:s3cret-pass@{host}"
    args = fast(server, tmp_path / NAME, url=f"{secret_url}/{NAME}", checksum=f"sha256:{secret_url}/{NAME}.sha256")
    ok = run(args)
    assert not ok.get("failed"), ok
    server.script[f"/{NAME}"] = [Behaviour("status", 500)]
    (tmp_path / NAME).unlink()
    failed = run(dict(args, attempts=2, delay=0.05))
    assert failed["failed"] is True
    for result in (ok, failed):
        # Ansible echoes the arguments as given under "invocation" (as for get_url); what the module says does not.
        text = json.dumps({k: v for k, v in result.items() if k != "invocation"})
        assert "s3cret-pass" not in text
        assert "****:****@" in result["url"]


# --------------------------------------------------------------------------- issue 12: strict downloads


def test_plain_http_is_refused_before_any_request_without_allow_http(server: Server, tmp_path: Path, run: Run) -> None:
    result = run(fast(server, tmp_path / NAME, allow_http=False))
    assert result["failed"] is True
    assert f"url is '{server.url}/{NAME}': plain http:// is refused" in result["msg"]
    assert "allow_http=true" in result["msg"]
    assert "the checksum URL is" in result["msg"], "the checksum URL is plain http too"
    assert server.seen == []
    assert result["attempts"] == []
    assert leftovers(tmp_path) == []


def test_a_plain_http_checksum_url_is_refused_for_a_file_url(server: Server, tmp_path: Path, run: Run) -> None:
    src = tmp_path / NAME
    src.write_bytes(BODY)
    out = tmp_path / "out"
    out.mkdir()
    result = run({"url": f"file://{src}", "dest": str(out / NAME), "checksum": f"sha256:{server.url}/{NAME}.sha256"})
    assert result["failed"] is True
    assert f"the checksum URL is '{server.url}/{NAME}.sha256': plain http:// is refused" in result["msg"]
    assert server.seen == []
    assert leftovers(out) == []


@pytest.mark.parametrize("url", ["gopher://127.0.0.1/x", "127.0.0.1/x"])
def test_other_schemes_are_refused(tmp_path: Path, run: Run, url: str) -> None:
    result = run({"url": url, "dest": str(tmp_path / "x"), "checksum": f"sha256:{SHA}", "allow_http": True})
    assert result["failed"] is True
    assert "allowed: an https:// or file:// URL" in result["msg"]


@pytest.mark.parametrize("allow_http", [False, True])
def test_a_redirect_from_https_to_http_is_refused(
    tls_server: Server, server: Server, tmp_path: Path, run: Run, allow_http: bool
) -> None:
    """A scheme downgrade is refused even with allow_http: the plain server is never asked."""
    tls_server.script[f"/{NAME}"] = [Behaviour("redirect", location=f"{server.url}/{NAME}")]
    args = fast(tls_server, tmp_path / NAME, checksum=f"sha256:{SHA}", validate_certs=False, allow_http=allow_http)
    result = run(args)
    assert result["failed"] is True
    assert f"redirect from https to http:// ('{server.url}/{NAME}') refused" in result["msg"]
    assert "not retried" in result["msg"]
    assert len(tls_server.requests(f"/{NAME}")) == 1
    assert server.seen == []
    assert leftovers(tmp_path) == ["tls.pem"]


def test_a_redirect_within_https_is_followed(tls_server: Server, tmp_path: Path, run: Run) -> None:
    tls_server.script[f"/{NAME}"] = [Behaviour("redirect", location="/storage/blob")]
    tls_server.files["/storage/blob"] = BODY
    result = run(fast(tls_server, tmp_path / NAME, checksum=f"sha256:{SHA}", validate_certs=False, allow_http=False))
    assert not result.get("failed"), result
    assert (tmp_path / NAME).read_bytes() == BODY
    assert len(tls_server.requests("/storage/blob")) == 1


def test_a_redirect_to_plain_http_needs_allow_http(server: Server, tmp_path: Path, run: Run) -> None:
    """From http (allowed) to http: followed with allow_http; the relative Location is resolved."""
    server.script[f"/{NAME}"] = [Behaviour("redirect", location="/mirror/file")]
    server.files["/mirror/file"] = BODY
    result = run(fast(server, tmp_path / NAME, checksum=f"sha256:{SHA}"))
    assert not result.get("failed"), result
    assert (tmp_path / NAME).read_bytes() == BODY
    assert len(server.requests("/mirror/file")) == 1


def test_a_redirect_to_a_file_url_is_refused(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}"] = [Behaviour("redirect", location="file:///etc/passwd")]
    result = run(fast(server, tmp_path / NAME, checksum=f"sha256:{SHA}"))
    assert result["failed"] is True
    assert "redirect to 'file:///etc/passwd' refused" in result["msg"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "case",
    [
        ("an HTML page", b"<!DOCTYPE html>\n<html><body>Sign in</body></html>\n", "<!DOCTYPE html>"),
        ("63 hex digits", f"{SHA[:63]}  {NAME}\n".encode(), SHA[:63]),
        ("65 hex digits", f"{SHA}a  {NAME}\n".encode(), SHA + "a"),
        ("a name glued to the digest", f"{SHA}{NAME}\n".encode(), SHA),
        ("control characters", b"\x00\x1b[31mhello\x07\n", "\\u0000\\u001b[31mhello\\u0007"),
        ("a digest then a junk line", f"{SHA}  {NAME}\nrm -rf /\n".encode(), "rm -rf /"),
        ("an algorithm prefix", f"SHA256 ({NAME}) = {SHA}\n".encode(), f"SHA256 ({NAME}) = "),
    ],
)
def test_a_checksum_answer_that_is_not_a_sha256_is_refused(
    server: Server, tmp_path: Path, run: Run, case: tuple[str, bytes, str]
) -> None:
    name, body, shown = case
    server.files[f"/{NAME}.sha256"] = body
    result = run(fast(server, tmp_path / NAME))
    assert result["failed"] is True, name
    assert f"checksum file {server.url}/{NAME}.sha256 is not a sha256 checksum file" in result["msg"], result["msg"]
    assert shown in result["msg"], (name, result["msg"])
    assert "expected exactly 64 hex digits, optionally followed by whitespace and a file name" in result["msg"]
    assert server.requests(f"/{NAME}") == [], "nothing is downloaded against a checksum that is not one"
    assert leftovers(tmp_path) == []


def test_a_long_checksum_answer_is_cut_in_the_message(server: Server, tmp_path: Path, run: Run) -> None:
    server.files[f"/{NAME}.sha256"] = b"x" * 5000
    result = run(fast(server, tmp_path / NAME))
    assert result["failed"] is True
    assert "x" * 80 + "..." in result["msg"]
    assert "x" * 81 not in result["msg"]
    assert "5000 characters received" in result["msg"]


def test_an_empty_checksum_answer_is_refused(server: Server, tmp_path: Path, run: Run) -> None:
    server.files[f"/{NAME}.sha256"] = b"\n\n"
    result = run(fast(server, tmp_path / NAME))
    assert result["failed"] is True
    assert "holds no sha256" in result["msg"]
    assert server.requests(f"/{NAME}") == []


@pytest.mark.parametrize("kind", ["short", "short-chunked"])
def test_a_truncated_transfer_is_refused_as_truncated_not_as_a_mismatch(
    server: Server, tmp_path: Path, run: Run, kind: str
) -> None:
    server.script[f"/{NAME}"] = [Behaviour(kind)]
    result = run(fast(server, tmp_path / NAME, attempts=2, delay=0.05))
    assert result["failed"] is True
    assert result["msg"].startswith("the transfer was truncated: "), result["msg"]
    assert "transfer truncated (not a checksum mismatch)" in result["msg"]
    assert "mismatch for" not in result["msg"]
    assert "actual_sha256" not in result
    tries = [a for a in result["attempts"] if a["url"].endswith(NAME)]
    assert len(tries) == 2, "a truncated transfer is retried"
    assert all(a["error"].startswith("truncated: ") and a["retryable"] for a in tries), tries
    if kind == "short":
        assert f"{len(BODY) // 2} of {len(BODY)} bytes received" in tries[0]["error"]
    assert leftovers(tmp_path) == []


def test_a_truncated_checksum_file_is_refused_as_truncated(server: Server, tmp_path: Path, run: Run) -> None:
    server.script[f"/{NAME}.sha256"] = [Behaviour("short")]
    result = run(fast(server, tmp_path / NAME, attempts=1))
    assert result["failed"] is True
    assert "transfer truncated (not a checksum mismatch)" in result["msg"]
    assert server.requests(f"/{NAME}") == []


def test_an_unframed_body_cut_short_says_why_it_cannot_tell(server: Server, tmp_path: Path, run: Run) -> None:
    """No Content-Length and no chunking: the end of the connection is the end of the body, so only the
    sha256 can tell; the message says a truncation cannot be told apart and gives the size received."""
    server.script[f"/{NAME}"] = [Behaviour("unframed")]
    result = run(fast(server, tmp_path / NAME))
    assert result["failed"] is True
    assert "sha256 checksum mismatch" in result["msg"]
    assert f"({len(BODY) // 2} bytes)" in result["msg"]
    assert "announced no length" in result["msg"]
    assert leftovers(tmp_path) == []
