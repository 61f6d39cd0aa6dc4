# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""The download options shared by verified_download and release (module_utils/download.py DOWNLOAD_ARGUMENT_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  attempts:
    description:
      - How many times O(url) (and a checksum URL) are asked for in all, at least 1.
      - Retried are connection errors, timeouts, a body cut short, HTTP 5xx and HTTP 429. Not retried are other
        HTTP errors (404, 403, ...), an untrusted TLS certificate and a sha256 mismatch of a complete body.
    type: int
    default: 4
  delay:
    description:
      - Seconds to wait after the first failed attempt. The wait after attempt N is
        O(delay) * O(backoff) ** (N - 1), at most O(max_delay).
    type: float
    default: 3
  backoff:
    description:
      - Factor by which each wait grows, at least 1 (V(1) waits O(delay) every time).
    type: float
    default: 2
  max_delay:
    description:
      - The longest wait between two attempts, in seconds.
    type: float
    default: 60
  timeout:
    description:
      - Seconds one attempt may take in all (connecting, waiting for the answer and reading the whole body).
      - One download (and one checksum file) takes at most O(attempts) * O(timeout) plus the sum of the waits.
    type: float
    default: 60
  validate_certs:
    description:
      - Verify the TLS certificate of HTTPS URLs. Set V(false) only for a mirror you trust.
    type: bool
    default: true
  use_proxy:
    description:
      - Use the proxies named in the environment (C(http_proxy), C(https_proxy), C(no_proxy)).
    type: bool
    default: true
  allow_http:
    description:
      - Allow plain C(http://) and C(ftp://) URLs (O(url), the checksum URL, and redirect targets), for a mirror
        you trust on a network you trust (the lab's local artifact server on 127.0.0.1, for instance).
      - Even then a redirect from C(https://) to C(http://) is refused (no scheme downgrade).
    type: bool
    default: false
"""
