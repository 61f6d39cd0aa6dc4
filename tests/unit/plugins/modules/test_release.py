"""meshlab.service_mesh.release: its decisions (first verification, the record, offline re-runs, a cache changed
after its verification, check mode, diff) against a real HTTP server on 127.0.0.1 that records every request, so
"no network request" is seen from the server's side (and, where it matters, with the server stopped)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.meshlab.service_mesh.plugins.modules import release
from module_harness import as_module, module_args

V = "1.2.3"
ASSET = f"rel-{V}-linux-amd64.tar.gz"
EXE = f"rel-{V}/bin/tool"
TOOL = b"#!/bin/sh\necho tool " + os.urandom(2000).hex().encode() + b"\n"


def make_tarball(entries: list[tuple[str, bytes, int]] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data, mode in entries or [
            (EXE, TOOL, 0o755),
            (f"rel-{V}/samples/app.yaml", b"kind: Deployment\n", 0o644),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


BODY = make_tarball()
SHA = hashlib.sha256(BODY).hexdigest()


@dataclass
class Server:
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    stop: Callable[[], None] = lambda: None


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(files={f"/{ASSET}": BODY, f"/{ASSET}.sha256": f"{SHA} {ASSET}\n".encode()})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state.seen.append(self.path)
            body = state.files.get(self.path)
            status = 200 if body is not None else 404
            payload = body if body is not None else b"not found\n"
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopped = []

    def stop() -> None:
        if not stopped:
            httpd.shutdown()
            httpd.server_close()
            stopped.append(True)

    state.stop = stop
    yield state
    stop()


Run = Callable[..., dict[str, Any]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(args: dict[str, Any], *, check_mode: bool = False, diff: bool = False) -> dict[str, Any]:
        as_module(monkeypatch)
        with module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)), pytest.raises(SystemExit):
            release.main()
        return json.loads(capsys.readouterr().out)

    return _run


def args(server: Server, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "url": f"{server.url}/{ASSET}",
        "checksum": f"sha256:{server.url}/{ASSET}.sha256",
        "dest": str(tmp_path / "cache" / V / ASSET),
        "executable": EXE,
        "install_path": str(tmp_path / "bin" / f"tool-{V}"),
        "link": str(tmp_path / "bin" / "tool"),
        "attempts": 2,
        "delay": 0.1,
        "timeout": 5,
        "allow_http": True,  # the test server is plain http on 127.0.0.1
        **extra,
    }


def record_of(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "cache" / V / f".{ASSET}.verified.json").read_text())


def files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def first_run(server: Server, tmp_path: Path, run: Run) -> dict[str, Any]:
    result = run(args(server, tmp_path))
    assert not result.get("failed"), result
    return result


def test_first_run_downloads_verifies_unpacks_installs_links_and_records(
    server: Server, tmp_path: Path, run: Run
) -> None:
    result = first_run(server, tmp_path, run)
    assert result["changed"] is True
    assert (result["downloaded"], result["unpacked"], result["installed"], result["linked"]) == (True,) * 4
    assert result["ready"] is True
    assert result["verified_from"] == "checksum"
    assert result["sha256"] == result["expected_sha256"] == SHA
    assert server.seen == [f"/{ASSET}.sha256", f"/{ASSET}"]
    cache = tmp_path / "cache" / V
    assert (cache / ASSET).read_bytes() == BODY
    assert oct((cache / ASSET).stat().st_mode & 0o777) == "0o644"
    assert (cache / EXE).read_bytes() == TOOL
    installed = tmp_path / "bin" / f"tool-{V}"
    assert installed.read_bytes() == TOOL
    assert oct(installed.stat().st_mode & 0o7777) == "0o755"
    assert installed.stat().st_uid == os.getuid()
    assert os.readlink(tmp_path / "bin" / "tool") == str(installed)
    record = record_of(tmp_path)
    assert record["sha256"] == SHA
    assert record["url"] == f"{server.url}/{ASSET}"
    assert record["checksum"] == f"sha256:{server.url}/{ASSET}.sha256"
    assert record["executable_sha256"] == hashlib.sha256(TOOL).hexdigest()
    assert record["top"] == [f"rel-{V}"]
    # Nothing temporary left behind.
    assert not [f for f in files(tmp_path) if f.endswith((".part", ".unpack", ".record", ".tmp"))]


def test_rerun_is_offline_and_unchanged_with_the_server_stopped(server: Server, tmp_path: Path, run: Run) -> None:
    first_run(server, tmp_path, run)
    before = record_of(tmp_path)
    server.seen.clear()
    server.stop()
    again = run(args(server, tmp_path), diff=True)
    assert not again.get("failed"), again
    assert again["changed"] is False
    assert again["verified_from"] == "record"
    assert again["attempts"] == []
    assert "diff" not in again
    assert (again["downloaded"], again["unpacked"], again["installed"], again["linked"]) == (False,) * 4
    assert "verified against its record (offline): unchanged" in again["msg"]
    assert record_of(tmp_path) == before
    assert server.seen == []


def test_cached_tarball_changed_after_verification_is_refused_offline(server: Server, tmp_path: Path, run: Run) -> None:
    first_run(server, tmp_path, run)
    tarball = tmp_path / "cache" / V / ASSET
    changed = bytearray(BODY)
    changed[len(changed) // 2] ^= 0xFF
    tarball.write_bytes(bytes(changed))
    installed_before = (tmp_path / "bin" / f"tool-{V}").read_bytes()
    server.seen.clear()
    result = run(args(server, tmp_path))
    assert result["failed"] is True
    actual = hashlib.sha256(bytes(changed)).hexdigest()
    assert f"the cached {tarball} has sha256 {actual}, but it was verified as {SHA}" in result["msg"]
    assert "changed after its verification, and is refused" in result["msg"]
    assert f"Remove {tarball} to download and verify it again" in result["msg"]
    assert server.seen == [], "the cache is judged against its record, not the network"
    assert tarball.read_bytes() == bytes(changed), "the refused tarball is left for the user to look at"
    assert (tmp_path / "bin" / f"tool-{V}").read_bytes() == installed_before
    # As the message says: removed, it is downloaded and verified again.
    tarball.unlink()
    again = run(args(server, tmp_path))
    assert not again.get("failed"), again
    assert again["downloaded"] is True
    assert server.seen == [f"/{ASSET}.sha256", f"/{ASSET}"]
    assert tarball.read_bytes() == BODY


def test_installed_or_unpacked_program_changed_is_restored_offline(server: Server, tmp_path: Path, run: Run) -> None:
    first_run(server, tmp_path, run)
    server.stop()
    installed = tmp_path / "bin" / f"tool-{V}"
    installed.write_bytes(b"someone else's tool\n")
    result = run(args(server, tmp_path))
    assert not result.get("failed"), result
    assert (result["changed"], result["installed"], result["unpacked"], result["downloaded"]) == (
        True,
        True,
        False,
        False,
    )
    assert installed.read_bytes() == TOOL
    unpacked = tmp_path / "cache" / V / EXE
    unpacked.write_bytes(b"edited\n")
    result = run(args(server, tmp_path))
    assert not result.get("failed"), result
    assert (result["unpacked"], result["downloaded"], result["installed"]) == (True, False, False)
    assert unpacked.read_bytes() == TOOL
    assert result["attempts"] == []


def test_record_of_another_source_verifies_again_and_keeps_the_tarball(
    server: Server, tmp_path: Path, run: Run
) -> None:
    first_run(server, tmp_path, run)
    server.files[f"/mirror/{ASSET}"] = BODY
    server.files[f"/mirror/{ASSET}.sha256"] = f"{SHA} {ASSET}\n".encode()
    server.seen.clear()
    mirror = args(
        server, tmp_path, url=f"{server.url}/mirror/{ASSET}", checksum=f"sha256:{server.url}/mirror/{ASSET}.sha256"
    )
    result = run(mirror)
    assert not result.get("failed"), result
    assert result["verified_from"] == "checksum"
    assert server.seen == [f"/mirror/{ASSET}.sha256"], "the checksum is read; the matching tarball is kept"
    assert result["downloaded"] is False and result["unpacked"] is False
    assert result["changed"] is True  # the record now names the mirror
    assert record_of(tmp_path)["url"] == f"{server.url}/mirror/{ASSET}"
    # A digest given as such: verified against it, without any request.
    server.seen.clear()
    pinned = run(args(server, tmp_path, checksum=f"sha256:{SHA}"))
    assert not pinned.get("failed"), pinned
    assert pinned["attempts"] == [] and server.seen == []


def test_check_mode_before_the_first_run_reads_only_the_checksum(server: Server, tmp_path: Path, run: Run) -> None:
    result = run(args(server, tmp_path), check_mode=True, diff=True)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["ready"] is False
    assert result["downloaded"] is True
    assert server.seen == [f"/{ASSET}.sha256"]
    assert files(tmp_path) == []
    assert "absent" in result["diff"]["before"] and SHA in result["diff"]["after"]


def test_check_mode_on_the_cached_release_is_offline_and_changes_nothing(
    server: Server, tmp_path: Path, run: Run
) -> None:
    first_run(server, tmp_path, run)
    server.stop()
    (tmp_path / "bin" / "tool").unlink()
    before = files(tmp_path)
    result = run(args(server, tmp_path), check_mode=True, diff=True)
    assert not result.get("failed"), result
    assert (result["changed"], result["ready"], result["linked"], result["installed"]) == (True, True, True, False)
    assert result["attempts"] == []
    assert files(tmp_path) == before
    assert f"{tmp_path / 'bin' / 'tool'} -> (absent)" in result["diff"]["before"]
    # Only the link differs: the installed program's line is the same before and after.
    same = f"{tmp_path / 'bin' / f'tool-{V}'}: sha256 {hashlib.sha256(TOOL).hexdigest()}, mode 0755"
    assert same in result["diff"]["before"].splitlines()
    assert same in result["diff"]["after"].splitlines()
    assert "check mode: would be linked" in result["msg"]


def test_wrong_sha256_leaves_nothing(server: Server, tmp_path: Path, run: Run) -> None:
    server.files[f"/{ASSET}.sha256"] = f"{hashlib.sha256(b'other').hexdigest()} {ASSET}\n".encode()
    result = run(args(server, tmp_path))
    assert result["failed"] is True
    assert "sha256 checksum mismatch" in result["msg"]
    assert [f for f in files(tmp_path) if not (tmp_path / f).is_dir()] == []


def test_link_over_a_file_is_refused(server: Server, tmp_path: Path, run: Run) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("mine\n")
    result = run(args(server, tmp_path))
    assert result["failed"] is True
    assert "exists and is not a symbolic link: it is left as it is" in result["msg"]
    assert (tmp_path / "bin" / "tool").read_text() == "mine\n"


def test_plain_http_is_refused_without_allow_http_before_any_request(server: Server, tmp_path: Path, run: Run) -> None:
    result = run(args(server, tmp_path, allow_http=False))
    assert result["failed"] is True
    assert "plain http:// is refused" in result["msg"]
    assert server.seen == []
    assert files(tmp_path) == []


def test_a_member_outside_the_folder_is_refused(server: Server, tmp_path: Path, run: Run) -> None:
    evil = make_tarball([(EXE, TOOL, 0o755), ("../escaped", b"x\n", 0o644)])
    server.files[f"/{ASSET}"] = evil
    result = run(args(server, tmp_path, checksum=f"sha256:{hashlib.sha256(evil).hexdigest()}"))
    assert result["failed"] is True
    assert "could not be unpacked" in result["msg"]
    assert [p for p in files(tmp_path) if p.endswith("escaped")] == []
    assert not (tmp_path / "cache" / V / f".{ASSET}.verified.json").exists()
    assert not (tmp_path / "bin").exists()


def test_an_executable_the_tarball_lacks_is_named(server: Server, tmp_path: Path, run: Run) -> None:
    result = run(args(server, tmp_path, executable=f"rel-{V}/bin/other"))
    assert result["failed"] is True
    assert f"holds no file rel-{V}/bin/other" in result["msg"]
