#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: verified_download
short_description: Download a file, verify its sha256 before it lands, retry with exponential backoff
version_added: 0.1.0
description:
  - Downloads O(url) to O(dest) like M(ansible.builtin.get_url), with three differences.
  - The file is written to a temporary file in the folder of O(dest), its sha256 is compared with O(checksum),
    and only a verified file is renamed to O(dest) (atomically). On every failure the temporary file is removed,
    so neither O(dest) nor its folder ever holds a partial or unverified file.
  - Transient faults are retried with exponential backoff, each attempt recorded in RV(attempts); the whole
    download is bounded in time, and the bound is stated in the failure message.
  - A complete body with the wrong sha256 fails at once, naming the URL and both sha256s (a tampered or
    corrupt artifact does not heal by asking again).
  - When O(dest) already has the expected sha256 nothing is downloaded and the result is unchanged (file
    attributes such as O(mode) are still applied).
  - Requests go through Ansible's C(ansible.module_utils.urls), so proxies (C(https_proxy), C(no_proxy), ...)
    and TLS verification behave as in M(ansible.builtin.get_url).
  - Only C(https://) and C(file://) URLs are fetched unless O(allow_http) is set. Redirects are followed one hop at
    a time and each target is checked; a redirect from C(https://) to any other scheme is always refused.
  - A body shorter than its C(Content-Length), or a chunked body whose connection closes early, is refused as
    truncated (retried first), never reported as a checksum mismatch.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  url:
    description:
      - The C(https://) or C(file://) URL to download; C(http://) or C(ftp://) only with O(allow_http).
    type: str
    required: true
  dest:
    description:
      - The file to write. Its folder must exist; a folder is refused (name the file).
    type: path
    required: true
  checksum:
    description:
      - V(sha256:<64 hex digits>), or V(sha256:<URL>) of a checksum file fetched first (with the same retries).
      - A checksum file may hold only the digest; V(<hex> <name>) (Istio's C(.sha256), one space);
        V(<hex>  <name>) or V(<hex> *<name>) (C(sha256sum) output); or several such lines (a C(sha256sum.txt))
        from which the line naming the file of O(url) is taken. Blank lines and C(#) comments are skipped.
      - Any other answer (an HTML page, an error text, a digest that is not exactly 64 hex digits) is refused
        before the download, and the message shows what was received (cut short and escaped).
      - The checksum URL obeys O(allow_http) like O(url).
      - Without it the download is not verified (a warning says so) and an existing O(dest) is kept as it is.
    type: str
extends_documentation_fragment:
  - meshlab.service_mesh.download
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: >-
      Fetches the checksum file (reading it changes nothing) and compares O(dest) with it; reports whether the file
      would be downloaded, without downloading it.
  diff_mode:
    support: full
    details: The sha256 and size of O(dest) before and after.
  platform:
    platforms: posix
notes:
  - Connecting and waiting for the answer's headers each wait at most O(timeout); reading the body stops at the
    attempt's deadline. Only a server that is slow both to accept the connection and to answer can make one attempt
    last longer than O(timeout) (at most twice as long).
  - Redirects are followed, at most 10 per attempt (GitHub release downloads redirect to their storage).
  - C(Retry-After) headers are not read; waits follow O(delay), O(backoff) and O(max_delay) only.
  - A run stopped with SIGTERM or SIGINT removes its temporary file. Only a run killed with SIGKILL can leave it,
    named C(.<dest name>.<random>.part), in the folder of O(dest); a later run does not use it.
seealso:
  - module: ansible.builtin.get_url
"""

EXAMPLES = r"""
- name: The Istio release is downloaded and verified against its published .sha256
  meshlab.service_mesh.verified_download:
    url: https://github.com/istio/istio/releases/download/1.28.1/istio-1.28.1-linux-amd64.tar.gz
    dest: ~/.cache/meshlab/istio/1.28.1/istio-1.28.1-linux-amd64.tar.gz
    checksum: sha256:https://github.com/istio/istio/releases/download/1.28.1/istio-1.28.1-linux-amd64.tar.gz.sha256
    mode: "0644"
    attempts: 4
    delay: 3
    timeout: 120

- name: OpenShift Local is verified against the sha256sum.txt listing every asset of its release
  meshlab.service_mesh.verified_download:
    url: https://developers.redhat.com/content-gateway/file/pub/openshift-v4/clients/crc/2.62.0/crc-linux-amd64.tar.xz
    dest: ~/.cache/meshlab/downloads/crc-2.62.0/crc-linux-amd64.tar.xz
    checksum: sha256:https://developers.redhat.com/content-gateway/file/pub/openshift-v4/clients/crc/2.62.0/sha256sum.txt
    mode: "0644"

- name: A binary with a known sha256, retried quickly and often
  meshlab.service_mesh.verified_download:
    url: https://mirror.example.com/tools/tool-linux-amd64
    dest: /opt/tools/tool
    checksum: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
    mode: "0755"
    attempts: 6
    delay: 1
    backoff: 2
    max_delay: 10
"""

RETURN = r"""
url:
  description: The URL downloaded (O(url)).
  returned: always
  type: str
  sample: https://github.com/istio/istio/releases/download/1.28.1/istio-1.28.1-linux-amd64.tar.gz
dest:
  description: The file written (O(dest), absolute).
  returned: always
  type: str
  sample: /home/lab/.cache/meshlab/istio/1.28.1/istio-1.28.1-linux-amd64.tar.gz
checksum_url:
  description:
    - The checksum file the expected sha256 was read from; null when O(checksum) gave the digest or was omitted.
  returned: always
  type: str
  sample: https://github.com/istio/istio/releases/download/1.28.1/istio-1.28.1-linux-amd64.tar.gz.sha256
expected_sha256:
  description: The sha256 O(dest) must have; null without O(checksum).
  returned: when the checksum is known
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
previous_sha256:
  description: The sha256 of O(dest) before the run; null when it did not exist.
  returned: success
  type: str
  sample: null
sha256:
  description: The sha256 of O(dest) after the run (in check mode, what it would be; null when unknown).
  returned: success
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
actual_sha256:
  description: The sha256 of the body received, when it did not match (the failure of a tampered download).
  returned: on a sha256 mismatch
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: Bytes of O(dest) after the run (in check mode without a download, null).
  returned: success
  type: int
  sample: 28305891
downloaded:
  description: Whether the file was (in check mode, would be) downloaded.
  returned: success
  type: bool
  sample: true
attempts:
  description:
    - Every request made, checksum file first, in order. C(status) is the HTTP status (null for a connection error,
      a timeout, or a C(file://) URL), C(error) why the attempt failed (null when it succeeded), C(seconds) how long
      it took, C(wait) the seconds waited before the next attempt (null when there was none).
  returned: always
  type: list
  elements: dict
  sample:
    - {url: "https://example.com/a.tgz", attempt: 1, status: 503, error: "HTTP 503 Service Unavailable",
       seconds: 0.02, wait: 3, retryable: true}
    - {url: "https://example.com/a.tgz", attempt: 2, status: 200, error: null, seconds: 1.3, wait: null,
       retryable: false}
elapsed:
  description: Seconds the module spent, waits included.
  returned: always
  type: float
  sample: 4.35
bound:
  description:
    - The most seconds the requests could take (checksum file and download), from O(attempts), O(timeout) and the waits.
  returned: always
  type: float
  sample: 270.0
msg:
  description: What happened, or why it failed (URL, expected and received sha256, attempts and the time bound).
  returned: always
  type: str
  sample: downloaded and verified (sha256 2c26b46b...) in 2 attempt(s)
"""

import os
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


def _diff_text(path: str, sha256: str | None, size: int | None) -> str:
    if sha256 is None and size is None:
        return f"{path}: absent\n"
    return f"{path}: sha256 {sha256 or 'unknown'}, {size if size is not None else 'unknown'} bytes\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class Download:
    """One run of the module: state, result, and the steps in order."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        self.url: str = p["url"]
        # What results and messages show: credentials in a URL are masked.
        self.shown_url: str = mask_url(self.url)
        self.dest: str = os.path.abspath(p["dest"])  # type path: ~ already expanded
        self.started = time.monotonic()
        self.fetcher = fetcher_from_params(p)
        self.policy = self.fetcher.policy
        self.result: dict[str, Any] = {
            "changed": False,
            "url": self.shown_url,
            "dest": self.dest,
            "checksum_url": None,
            "expected_sha256": None,
            "attempts": [],
            "bound": 0.0,
        }

    def finish(self, *, failed: bool = False, **extra: Any) -> None:
        self.result.update(extra)
        self.result["attempts"] = [a.as_dict() for a in self.fetcher.attempts]
        self.result["elapsed"] = round(time.monotonic() - self.started, 3)
        if failed:
            self.module.fail_json(**self.result)
        self.module.exit_json(**self.result)

    def fail(self, msg: str, **extra: Any) -> None:
        self.finish(failed=True, msg=msg, **extra)

    def check_params(self) -> None:
        problems = download_param_problems(self.module.params)
        if problems:
            self.fail("; ".join(problems))
        if os.path.isdir(self.dest):
            self.fail(f"dest {self.dest} is a folder; name the file to write")
        # In check mode the folder may be one an earlier task would have created: the file would be downloaded.
        if not os.path.isdir(os.path.dirname(self.dest)) and not self.module.check_mode:
            self.fail(f"the folder of dest {self.dest} does not exist; create it first")

    def expected_sha256(self) -> str | None:
        spec = self.module.params["checksum"]
        if not spec:
            return None
        try:
            digest, checksum_url = parse_checksum_spec(spec)
        except ValueError as e:
            self.fail(str(e))
            raise  # not reached: fail() exits
        if checksum_url is None:
            return digest
        self.result["checksum_url"] = mask_url(checksum_url)
        self.result["bound"] += self.policy.bound()
        try:
            text = self.fetcher.fetch_bytes(checksum_url).decode("utf-8", errors="replace")
            return checksum_from_text(text, url_filename(self.url), self.result["checksum_url"])
        except (DownloadError, ValueError) as e:
            self.fail(
                f"the expected sha256 of {self.shown_url} could not be read: {e}. Nothing was written to {self.dest}"
            )
            raise  # not reached

    def file_args(self, path: str) -> dict[str, Any]:
        return self.module.load_file_common_arguments(self.module.params, path=path)

    def run(self) -> None:
        module = self.module
        self.check_params()
        expected = self.expected_sha256()
        self.result["expected_sha256"] = expected
        exists = os.path.isfile(self.dest)
        before = sha256_of_file(self.dest) if exists else None
        before_size = os.path.getsize(self.dest) if exists else None
        self.result["previous_sha256"] = before
        if exists and (expected is None or before == expected):
            diff: dict[str, Any] = {"before": {}, "after": {}}
            changed = module.set_fs_attributes_if_different(self.file_args(self.dest), False, diff)
            why = f"has the expected sha256 {expected}" if expected else "exists (no checksum to compare with)"
            extra: dict[str, Any] = {"diff": diff} if module._diff and changed else {}
            self.finish(
                changed=changed,
                downloaded=False,
                sha256=before,
                size=before_size,
                msg=f"{self.dest} {why}; not downloaded",
                **extra,
            )
        self.result["bound"] += self.policy.bound()
        if module.check_mode:
            self.finish(
                changed=True,
                downloaded=True,
                sha256=expected,
                size=None,
                msg=f"check mode: {self.shown_url} would be downloaded to {self.dest}"
                + (f" and verified against sha256 {expected}" if expected else " (not verified: no checksum)"),
                **self.diff(before, before_size, expected, None),
            )
        self.download(expected, before, before_size)

    def diff(self, before: str | None, before_size: int | None, after: str | None, after_size: int | None) -> dict:
        if not self.module._diff:
            return {}
        return {
            "diff": {
                "before_header": self.dest,
                "after_header": self.shown_url,
                "before": _diff_text(self.dest, before, before_size),
                "after": _diff_text(self.dest, after or "unknown", after_size),
            }
        }

    def download(self, expected: str | None, before: str | None, before_size: int | None) -> None:
        def prepare(tmp: str) -> None:
            if self.module.params["mode"] is None:
                os.chmod(tmp, 0o666 & ~_umask())
            self.module.set_fs_attributes_if_different(self.file_args(tmp), True)

        try:
            actual, size = download_verified(
                self.fetcher, self.url, self.dest, expected, checksum_url=self.result["checksum_url"], prepare=prepare
            )
        except VerifiedDownloadError as e:
            extra = {"actual_sha256": e.actual_sha256} if e.actual_sha256 else {}
            self.fail(e.msg, **extra)
            raise  # not reached: fail() exits
        if expected is None:
            self.module.warn(
                f"{self.shown_url} was downloaded without a checksum: nothing vouches for its content but TLS"
            )
        tries = len([a for a in self.fetcher.attempts if a.url == self.shown_url])
        self.finish(
            changed=True,
            downloaded=True,
            sha256=actual,
            size=size,
            msg=f"downloaded {self.shown_url} to {self.dest}"
            + (f", sha256 {actual} verified" if expected else ", not verified (no checksum)")
            + f", in {tries} attempt(s)",
            **self.diff(before, before_size, actual, size),
        )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "checksum": {"type": "str"},
            **DOWNLOAD_ARGUMENT_SPEC,
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    Download(module).run()


if __name__ == "__main__":
    main()
