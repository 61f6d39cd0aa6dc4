#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release
short_description: A release tarball downloaded and verified once, unpacked, one program of it installed; offline after
version_added: 0.2.0
description:
  - One run does what a verified download, an unpack and an install would do in several tasks, and a run on a
    release that is already there makes no network request at all.
  - "First run: O(url) is downloaded as M(meshlab.service_mesh.verified_download) does (same options, same promises:
    only C(https://) and C(file://) unless O(allow_http), a strict checksum file, retries with exponential backoff,
    verified before it lands at O(dest)), unpacked into O(unpack_dir), and O(executable) of it is installed at
    O(install_path) (mode C(0755)), with O(link) pointing at it when given."
  - At the first verification a record is written beside the tarball (C(.<tarball name>.verified.json) in the folder
    of O(dest)). It holds the tarball's sha256, the URL and checksum it was verified against (credentials masked),
    when, and the sha256 of O(executable) as unpacked. The record is written last; without it an unpack counts as
    incomplete and is redone.
  - "Later runs, while O(url) and O(checksum) are those of the record: the cached tarball's sha256 is compared with
    the recorded one, locally; O(checksum) is not fetched. A cached tarball whose sha256 no longer matches the
    record is refused (the cache was changed after it was verified: remove the tarball to download and verify it
    again); the module never replaces it silently. An unpacked O(executable) or an installed copy that differs from
    the recorded sha256 is restored from the verified tarball, still offline."
  - A record for another O(url) or O(checksum) (a new mirror, a pinned digest) makes the run verify again as on a
    first run (fetching the checksum file when O(checksum) names one); a tarball that still matches is kept.
  - Folders that do not exist (of O(dest), O(unpack_dir), O(install_path), O(link)) are created with mode C(0755).
    Files are owned by the user the module runs as.
  - Two runs sharing a cache folder take turns (a lock on the folder of O(dest)).
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  url:
    description:
      - The C(https://) or C(file://) URL of the release tarball (C(.tar.gz), C(.tgz), C(.tar.xz), C(.tar));
        C(http://) or C(ftp://) only with O(allow_http).
    type: str
    required: true
  checksum:
    description:
      - V(sha256:<64 hex digits>), or V(sha256:<URL>) of a checksum file, as for
        M(meshlab.service_mesh.verified_download). The checksum file is fetched only when the tarball is not
        verified yet (no record for this O(url) and O(checksum)).
    type: str
    required: true
  dest:
    description:
      - The tarball's path in the cache.
    type: path
    required: true
  unpack_dir:
    description:
      - The folder the tarball is unpacked into. Default the folder of O(dest).
      - Each top-level entry of the tarball replaces the one of the same name there, whole.
    type: path
  executable:
    description:
      - The program to install, as a path inside the tarball (relative to O(unpack_dir)), e.g.
        V(istio-1.28.1/bin/istioctl).
    type: str
    required: true
  install_path:
    description:
      - Where O(executable) is copied to (mode C(0755)), e.g. V(~/.local/bin/istioctl-1.28.1).
    type: path
    required: true
  link:
    description:
      - A symbolic link made to point at O(install_path), e.g. V(~/.local/bin/istioctl). Left alone when omitted.
      - A file (not a link) of that name is refused, not overwritten.
    type: path
extends_documentation_fragment:
  - meshlab.service_mesh.download
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: >-
      Without a record for the release the checksum file is fetched (reading it changes nothing) and the cached
      tarball compared with it; nothing is downloaded, unpacked or installed. RV(ready) says whether the unpacked
      release is there to be read.
  diff_mode:
    support: full
    details: >-
      The tarball's sha256, whether it is unpacked, the installed program's sha256 and the link, before and after.
  platform:
    platforms: posix
notes:
  - The tarball is unpacked with Python's C(tarfile) and its C(data) filter where Python has it; otherwise members
    with absolute paths, C(..), links leaving O(unpack_dir), or devices are refused.
seealso:
  - module: meshlab.service_mesh.verified_download
"""

EXAMPLES = r"""
- name: Istio's release is there, verified, unpacked, and istioctl installed (offline once cached)
  meshlab.service_mesh.release:
    url: https://github.com/istio/istio/releases/download/1.28.1/istio-1.28.1-linux-amd64.tar.gz
    checksum: sha256:https://github.com/istio/istio/releases/download/1.28.1/istio-1.28.1-linux-amd64.tar.gz.sha256
    dest: ~/.cache/meshlab/istio/1.28.1/istio-1.28.1-linux-amd64.tar.gz
    executable: istio-1.28.1/bin/istioctl
    install_path: ~/.local/bin/istioctl-1.28.1
    link: ~/.local/bin/istioctl
    attempts: 4
    delay: 3
    timeout: 120
"""

RETURN = r"""
ready:
  description: Whether the unpacked release is on disk (false only in check mode before it was unpacked).
  returned: success
  type: bool
  sample: true
verified_from:
  description:
    - What the tarball was checked against, V(record) (offline, the record of its first verification) or
      V(checksum) (O(checksum), fetched when it names a file).
  returned: success
  type: str
  sample: record
downloaded:
  description: Whether the tarball was (in check mode, would be) downloaded.
  returned: success
  type: bool
  sample: false
unpacked:
  description: Whether the tarball was (would be) unpacked.
  returned: success
  type: bool
  sample: false
installed:
  description: Whether O(install_path) was (would be) written.
  returned: success
  type: bool
  sample: false
linked:
  description: Whether O(link) was (would be) pointed at O(install_path).
  returned: success
  type: bool
  sample: false
sha256:
  description: The tarball's sha256 (in check mode before a download, the expected one).
  returned: success
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
expected_sha256:
  description: The sha256 the tarball must have, from the record or from O(checksum).
  returned: when known
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
checksum_url:
  description: The checksum file read (credentials masked); null when none was read.
  returned: always
  type: str
  sample: null
record:
  description: The record file of the first verification.
  returned: always
  type: str
  sample: /home/lab/.cache/meshlab/istio/1.28.1/.istio-1.28.1-linux-amd64.tar.gz.verified.json
executable_sha256:
  description: The sha256 of O(executable) as unpacked (null in check mode before the unpack).
  returned: success
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
attempts:
  description: Every request made, as for M(meshlab.service_mesh.verified_download); empty when the run was offline.
  returned: always
  type: list
  elements: dict
  sample: []
elapsed:
  description: Seconds the module spent.
  returned: always
  type: float
  sample: 0.21
msg:
  description: What happened, or why it failed.
  returned: always
  type: str
  sample: "verified against its record (offline): unchanged"
"""

import fcntl
import json
import os
import shutil
import tarfile
import tempfile
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshlab.service_mesh.plugins.module_utils.download import (
    DOWNLOAD_ARGUMENT_SPEC,
    DownloadError,
    VerifiedDownloadError,
    checksum_from_text,
    download_param_problems,
    download_verified,
    fetcher_from_params,
    mask_url,
    parse_checksum_spec,
    sha256_of_file,
    url_filename,
)

RECORD_FORMAT = 1


def _makedirs(path: str) -> bool:
    """Create path and missing parents with mode 0755; whether anything was created."""
    if os.path.isdir(path):
        return False
    parent = os.path.dirname(path)
    if parent and parent != path:
        _makedirs(parent)
    os.mkdir(path)
    os.chmod(path, 0o755)
    return True


def _sha256_or_none(path: str) -> str | None:
    return sha256_of_file(path) if os.path.isfile(path) and not os.path.islink(path) else None


def _unsafe_member(member: tarfile.TarInfo, root: str) -> str | None:
    """Why a member may not be unpacked into root (Pythons without tarfile's data filter), or None."""
    name = member.name
    target = os.path.realpath(os.path.join(root, name))
    if os.path.isabs(name) or ".." in name.split("/") or not target.startswith(root + os.sep):
        return f"{name}: a path outside the folder"
    if member.isdev():
        return f"{name}: a device or fifo"
    if member.issym() or member.islnk():
        base = os.path.dirname(target) if member.issym() else root
        link = os.path.realpath(os.path.join(base, member.linkname))
        if os.path.isabs(member.linkname) or not link.startswith(root + os.sep):
            return f"{name}: a link to {member.linkname}, outside the folder"
    return None


class Release:
    """One run of the module."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        self.started = time.monotonic()
        self.url: str = p["url"]
        self.shown_url = mask_url(self.url)
        self.spec: str = p["checksum"].strip()
        digest, checksum_url = self._parse_spec()
        self.shown_spec = f"sha256:{digest}" if digest else f"sha256:{mask_url(checksum_url or '')}"
        self.dest = os.path.abspath(p["dest"])
        self.folder, self.name = os.path.split(self.dest)
        self.unpack_dir = os.path.abspath(p["unpack_dir"] or self.folder)
        self.executable: str = p["executable"].strip("/")
        self.exe_path = os.path.join(self.unpack_dir, self.executable)
        self.install_path = os.path.abspath(p["install_path"])
        self.link = os.path.abspath(p["link"]) if p["link"] else None
        self.record_path = os.path.join(self.folder, f".{self.name}.verified.json")
        self.fetcher = fetcher_from_params(p)
        self.result: dict[str, Any] = {
            "changed": False,
            "url": self.shown_url,
            "dest": self.dest,
            "record": self.record_path,
            "checksum_url": None,
            "attempts": [],
        }
        self.before: list[str] = []
        self.after: list[str] = []

    # ------------------------------------------------------------------ results

    def finish(self, *, failed: bool = False, **extra: Any) -> None:
        self.result.update(extra)
        self.result["attempts"] = [a.as_dict() for a in self.fetcher.attempts]
        self.result["elapsed"] = round(time.monotonic() - self.started, 3)
        if failed:
            self.module.fail_json(**self.result)
        if self.module._diff and self.result["changed"]:
            self.result["diff"] = {
                "before_header": self.dest,
                "after_header": self.shown_url,
                "before": "".join(f"{line}\n" for line in self.before),
                "after": "".join(f"{line}\n" for line in self.after),
            }
        self.module.exit_json(**self.result)

    def fail(self, msg: str, **extra: Any) -> None:
        self.finish(failed=True, msg=msg, **extra)

    def _parse_spec(self) -> tuple[str | None, str | None]:
        try:
            return parse_checksum_spec(self.spec)
        except ValueError as e:
            self.result = {"url": self.shown_url, "attempts": []}
            self.module.fail_json(msg=str(e), **self.result)
            raise  # not reached

    # ------------------------------------------------------------------ state on disk

    def read_record(self) -> dict[str, Any] | None:
        try:
            with open(self.record_path, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
            return None
        return record

    def record_is_for_this_source(self, record: dict[str, Any] | None) -> bool:
        return bool(record) and record.get("url") == self.shown_url and record.get("checksum") == self.shown_spec

    def unpacked_matches(self, record: dict[str, Any] | None, sha256: str) -> bool:
        """The unpack the record describes is complete and is the one of this tarball."""
        if not record or record.get("sha256") != sha256:
            return False
        if record.get("unpack_dir") != self.unpack_dir or record.get("executable") != self.executable:
            return False
        tops = record.get("top") or []
        if not tops or not all(os.path.lexists(os.path.join(self.unpack_dir, t)) for t in tops):
            return False
        return _sha256_or_none(self.exe_path) == record.get("executable_sha256")

    # ------------------------------------------------------------------ steps

    def expected_from_checksum(self) -> str:
        digest, checksum_url = parse_checksum_spec(self.spec)
        if checksum_url is None:
            return str(digest)
        self.result["checksum_url"] = mask_url(checksum_url)
        try:
            text = self.fetcher.fetch_bytes(checksum_url).decode("utf-8", errors="replace")
            return checksum_from_text(text, url_filename(self.url), self.result["checksum_url"])
        except (DownloadError, ValueError) as e:
            self.fail(
                f"the expected sha256 of {self.shown_url} could not be read: {e}. Nothing was written to {self.dest}"
            )
            raise  # not reached

    def download(self, expected: str) -> str:
        def prepare(tmp: str) -> None:
            os.chmod(tmp, 0o644)

        try:
            actual, _size = download_verified(
                self.fetcher, self.url, self.dest, expected, checksum_url=self.result["checksum_url"], prepare=prepare
            )
        except VerifiedDownloadError as e:
            extra = {"actual_sha256": e.actual_sha256} if e.actual_sha256 else {}
            self.fail(e.msg, **extra)
            raise  # not reached
        return actual

    def unpack(self) -> tuple[list[str], str]:
        """Unpack the tarball into unpack_dir (through a temporary folder there); (top-level entries, sha256 of
        the executable as unpacked)."""
        _makedirs(self.unpack_dir)
        stage = tempfile.mkdtemp(prefix=f".{self.name}.", suffix=".unpack", dir=self.unpack_dir)
        try:
            root = os.path.realpath(stage)
            try:
                with tarfile.open(self.dest, "r:*") as tar:
                    if hasattr(tarfile, "data_filter"):
                        tar.extractall(stage, filter="data")
                    else:  # pragma: no cover - Pythons without the extraction filters
                        members = tar.getmembers()
                        unsafe = [why for why in (_unsafe_member(m, root) for m in members) if why]
                        if unsafe:
                            raise tarfile.TarError("refused members: " + "; ".join(unsafe[:5]))
                        tar.extractall(stage, members=members)
            except (tarfile.TarError, OSError) as e:
                self.fail(f"{self.dest} (sha256 verified) could not be unpacked into {self.unpack_dir}: {e}")
            staged_exe = os.path.join(stage, self.executable)
            if not os.path.isfile(staged_exe):
                self.fail(
                    f"{self.dest} holds no file {self.executable}; executable must name the program's path inside the "
                    f"tarball (it holds: {', '.join(sorted(os.listdir(stage))[:10]) or 'nothing'})"
                )
            exe_sha = sha256_of_file(staged_exe)
            tops = sorted(os.listdir(stage))
            for top in tops:
                target = os.path.join(self.unpack_dir, top)
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                elif os.path.lexists(target):
                    os.unlink(target)
                os.rename(os.path.join(stage, top), target)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return tops, exe_sha

    def write_record(self, record: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".record", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f, indent=2, sort_keys=True)
                f.write("\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.record_path)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)

    def install(self) -> None:
        _makedirs(os.path.dirname(self.install_path))
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(self.install_path)}.", dir=os.path.dirname(self.install_path)
        )
        os.close(fd)
        try:
            shutil.copyfile(self.exe_path, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, self.install_path)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)

    def make_link(self, link: str) -> None:
        _makedirs(os.path.dirname(link))
        tmp = f"{link}.{os.getpid()}.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.install_path, tmp)
        os.replace(tmp, link)

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        problems = download_param_problems(self.module.params)
        if os.path.isdir(self.dest):
            problems.append(f"dest {self.dest} is a folder; name the tarball's file")
        if os.path.isabs(self.executable) or ".." in self.executable.split("/") or not self.executable:
            problems.append(f"executable is '{self.module.params['executable']}'; allowed: a path inside the tarball")
        if problems:
            self.fail("; ".join(problems))
        if self.module.check_mode:
            self.converge()
            return
        created = _makedirs(self.folder)
        lock = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.converge(folder_created=created)
        finally:
            os.close(lock)

    def converge(self, folder_created: bool = False) -> None:  # noqa: PLR0912, PLR0915 - the steps in order
        check = self.module.check_mode
        record = self.read_record()
        tar_sha = _sha256_or_none(self.dest)
        self.before.append(f"tarball {self.dest}: " + (f"sha256 {tar_sha}" if tar_sha else "absent"))
        downloaded = unpacked = installed = linked = record_written = False

        if record is not None and self.record_is_for_this_source(record) and tar_sha is not None:
            expected = str(record.get("sha256"))
            verified_from = "record"
            if tar_sha != expected:
                self.fail(
                    f"the cached {self.dest} has sha256 {tar_sha}, but it was verified as {expected} "
                    f"from {record.get('url')} on {record.get('verified_at')} (record {self.record_path}): it was "
                    f"changed after its verification, and is refused. Remove {self.dest} to download and verify it "
                    "again.",
                    expected_sha256=expected,
                    actual_sha256=tar_sha,
                    verified_from=verified_from,
                )
        else:
            expected = self.expected_from_checksum()
            verified_from = "checksum"
        self.result["expected_sha256"] = expected
        self.result["verified_from"] = verified_from

        if tar_sha != expected:
            downloaded = True
            if check:
                self.after.append(f"tarball {self.dest}: sha256 {expected} (downloaded from {self.shown_url})")
                self.finish(
                    changed=True,
                    ready=False,
                    downloaded=True,
                    unpacked=True,
                    installed=True,
                    linked=self.link is not None,
                    sha256=expected,
                    executable_sha256=None,
                    msg=f"check mode: {self.shown_url} would be downloaded to {self.dest}, verified against "
                    f"sha256 {expected}, unpacked into {self.unpack_dir} and {self.executable} installed at "
                    f"{self.install_path}",
                )
            tar_sha = self.download(expected)
        self.after.append(f"tarball {self.dest}: sha256 {tar_sha}")

        is_unpacked = not downloaded and self.unpacked_matches(record, tar_sha)
        self.before.append(f"unpacked into {self.unpack_dir}: {'yes' if is_unpacked else 'no or incomplete'}")
        self.after.append(f"unpacked into {self.unpack_dir}: yes")
        if is_unpacked and record is not None:
            tops, exe_sha = list(record["top"]), str(record["executable_sha256"])
        elif check:  # would be unpacked
            unpacked = True
            tops, exe_sha = [], None
        else:
            unpacked = True
            tops, exe_sha = self.unpack()

        new_record = {
            "format": RECORD_FORMAT,
            "url": self.shown_url,
            "checksum": self.shown_spec,
            "sha256": tar_sha,
            "verified_at": (record or {}).get("verified_at")
            if record and record.get("sha256") == tar_sha and verified_from == "record"
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "unpack_dir": self.unpack_dir,
            "top": tops,
            "executable": self.executable,
            "executable_sha256": exe_sha,
        }
        if new_record != record:
            record_written = True
            if not check:
                self.write_record(new_record)

        installed_sha = _sha256_or_none(self.install_path)
        mode = os.stat(self.install_path).st_mode & 0o7777 if installed_sha is not None else None
        mode_ok = mode == 0o755
        self.before.append(
            f"{self.install_path}: " + (f"sha256 {installed_sha}, mode {mode:04o}" if mode is not None else "absent")
        )
        self.after.append(f"{self.install_path}: sha256 {exe_sha or 'of the unpacked ' + self.executable}, mode 0755")
        if exe_sha is None or installed_sha != exe_sha or not mode_ok:
            installed = True
            if not check:
                self.install()

        if self.link is not None:
            current = os.readlink(self.link) if os.path.islink(self.link) else None
            if current is None and os.path.lexists(self.link):
                self.fail(
                    f"{self.link} exists and is not a symbolic link: it is left as it is. Move it away, or do not ask "
                    f"for the link, to install {self.install_path}"
                )
            self.before.append(f"{self.link} -> {current or '(absent)'}")
            self.after.append(f"{self.link} -> {self.install_path}")
            if current != self.install_path:
                linked = True
                if not check:
                    self.make_link(self.link)

        changed = folder_created or downloaded or unpacked or record_written or installed or linked
        done = [
            what
            for what, flag in [
                (f"downloaded {self.shown_url}", downloaded),
                (f"unpacked into {self.unpack_dir}", unpacked),
                (f"record {self.record_path} written", record_written),
                (f"installed {self.install_path}", installed),
                (f"linked {self.link}", linked),
            ]
            if flag
        ]
        how = "its record (offline)" if verified_from == "record" else self.result["checksum_url"] or self.shown_spec
        self.finish(
            changed=changed,
            ready=not (check and unpacked),
            downloaded=downloaded,
            unpacked=unpacked,
            installed=installed,
            linked=linked,
            sha256=tar_sha,
            executable_sha256=exe_sha,
            msg=f"{self.dest} verified against {how}: "
            + (("check mode: would be " if check else "") + ", ".join(done) if done else "unchanged"),
        )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "checksum": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "unpack_dir": {"type": "path"},
            "executable": {"type": "str", "required": True},
            "install_path": {"type": "path", "required": True},
            "link": {"type": "path"},
            **DOWNLOAD_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    Release(module).run()


if __name__ == "__main__":
    main()
