# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Downloads that are verified before they land, retried with exponential backoff, bounded in time.

What is retried: connection errors, timeouts, a truncated body, HTTP 5xx and 429. What is not:
other HTTP errors (404, 403, ...), a TLS certificate that does not verify, a refused scheme or
redirect, and a sha256 mismatch of a body received in full (tampered or corrupt, not transient).
Every attempt is recorded.

Schemes: https:// and file:// always; plain http:// and ftp:// only with ``allow_http``. Redirects
are followed here, hop by hop, so that each target is checked: a redirect from https to anything
but https (a scheme downgrade) is always refused, and a redirect to plain http or ftp needs
``allow_http`` like a URL given so.

``timeout`` bounds one attempt in all (connecting, waiting for the answer, reading the body), so
one fetch takes at most ``attempts * timeout + sum(waits)`` seconds, where the wait after attempt
``n`` is ``min(delay * backoff ** (n - 1), max_delay)``.

Requests go through :func:`ansible.module_utils.urls.open_url`, so proxies (``*_proxy``
environment variables), TLS verification and the user agent behave as in ``get_url``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import ssl
import tempfile
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from ansible.module_utils.urls import open_url

try:
    from ansible.module_utils.urls import mask_url
except ImportError:  # ansible-core < 2.19 has no mask_url: the same masking, here

    def mask_url(url: str) -> str:
        """url with its user name and password shown as ****, as ansible-core 2.19's mask_url does."""
        parts = urlsplit(url)
        if not parts.username and not parts.password:
            return url
        if parts.password:
            netloc = parts.netloc.replace(f"{parts.username}:{parts.password}@", "****:****@")
        else:
            netloc = parts.netloc.replace(f"{parts.username}@", "****@")
        return urlunsplit(parts._replace(netloc=netloc))


SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# One line of a checksum file: exactly 64 hex digits, optionally followed by whitespace and a file
# name (sha256sum's binary-mode '*' allowed before it).
CHECKSUM_LINE_RE = re.compile(r"^([0-9a-fA-F]{64})(?:[ \t]+\*?(\S(?:.*\S)?))?$")
# Schemes accepted without allow_http; PLAIN_SCHEMES need it.
SAFE_SCHEMES = frozenset({"https", "file"})
PLAIN_SCHEMES = frozenset({"http", "ftp"})
# Redirects followed within one attempt (as urllib's own limit).
MAX_REDIRECTS = 10
CHUNK_SIZE = 64 * 1024
# A checksum file larger than this is not a checksum file.
CHECKSUM_FILE_LIMIT = 1024 * 1024
# Schemes whose successful responses carry no HTTP status.
STATUSLESS_SCHEMES = frozenset({"file", "ftp"})


def is_retryable_status(status: int) -> bool:
    """5xx and 429 Too Many Requests may heal; other HTTP errors do not."""
    return status == 429 or 500 <= status <= 599


def shown_text(text: str, limit: int = 80) -> str:
    """``text`` as it can be shown in a message: at most ``limit`` characters, control and non-ASCII escaped."""
    escaped = json.dumps(text[:limit], ensure_ascii=True)[1:-1]
    return escaped + ("..." if len(text) > limit else "")


def scheme_problem(url: str, allow_http: bool, what: str = "url") -> str | None:
    """Why ``url`` may not be fetched (its scheme), or None. Credentials in the URL are masked."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in SAFE_SCHEMES or (allow_http and scheme in PLAIN_SCHEMES):
        return None
    if scheme in PLAIN_SCHEMES:
        return (
            f"{what} is '{mask_url(url)}': plain {scheme}:// is refused (anyone on the path can swap the file and its "
            "checksum); allowed: https:// or file://, or http:// with allow_http=true for a mirror you trust"
        )
    return f"{what} is '{mask_url(url)}'; allowed: an https:// or file:// URL (http:// only with allow_http=true)"


def redirect_problem(source: str, target: str, allow_http: bool) -> str | None:
    """Why a redirect from ``source`` to ``target`` is not followed, or None."""
    old = urlsplit(source).scheme.lower()
    new = urlsplit(target).scheme.lower()
    if new not in SAFE_SCHEMES | PLAIN_SCHEMES or new == "file":
        return f"redirect to '{mask_url(target)}' refused: only http(s) and ftp redirects are followed"
    if old == "https" and new != "https":
        return (
            f"redirect from https to {new}:// ('{mask_url(target)}') refused: a scheme downgrade would let anyone "
            "on the path answer"
        )
    if new in PLAIN_SCHEMES and not allow_http:
        return f"redirect to plain {new}:// ('{mask_url(target)}') refused; allowed only with allow_http=true"
    return None


def _seconds(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class RetryPolicy:
    """How often, how patiently and how long apart a URL is asked for."""

    attempts: int
    delay: float
    backoff: float
    max_delay: float
    timeout: float

    def wait_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one."""
        return min(self.delay * self.backoff ** (attempt - 1), self.max_delay)

    def waits(self) -> list[float]:
        return [self.wait_after(n) for n in range(1, self.attempts)]

    def bound(self) -> float:
        """The most seconds one fetch may take: every attempt timing out, every wait taken."""
        return self.attempts * self.timeout + sum(self.waits())

    def describe_bound(self) -> str:
        waits = self.waits()
        return (
            f"{self.attempts} attempt(s) x {_seconds(self.timeout)} s timeout + "
            f"{_seconds(sum(waits))} s of waits ({', '.join(_seconds(w) for w in waits) or 'none'}) "
            f"= {_seconds(self.bound())} s"
        )


@dataclass
class Attempt:
    """One request and how it ended."""

    url: str
    attempt: int
    status: int | None
    error: str | None
    seconds: float
    wait: float | None = None
    retryable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "wait": None if self.wait is None else round(self.wait, 3),
            "retryable": self.retryable,
        }


class DownloadError(Exception):
    """The download failed for good; the message says why and what was tried."""

    def __init__(self, msg: str, *, kind: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.kind = kind


class _AttemptFailed(Exception):
    def __init__(self, status: int | None, error: str, retryable: bool, *, truncated: bool = False) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.retryable = retryable
        self.truncated = truncated


class ChecksumMismatchError(Exception):
    """A body received in full does not have the expected sha256.

    ``length_known``: the server framed the body (Content-Length or chunked), so a transfer cut short
    would have been refused as truncated; without framing a cut-short body cannot be told apart.
    """

    def __init__(self, expected: str, actual: str, size: int, length_known: bool = True) -> None:
        super().__init__(f"sha256 {actual} is not the expected {expected}")
        self.expected = expected
        self.actual = actual
        self.size = size
        self.length_known = length_known


def parse_checksum_spec(spec: str) -> tuple[str | None, str | None]:
    """``sha256:<hex>`` -> (hex, None); ``sha256:<url>`` -> (None, url). Raises ValueError otherwise."""
    algorithm, sep, value = spec.partition(":")
    if not sep or algorithm.strip().lower() != "sha256":
        raise ValueError(f"checksum is '{spec}'; allowed: sha256:<64 hex digits> or sha256:<URL of a checksum file>")
    value = value.strip()
    if SHA256_RE.match(value):
        return value.lower(), None
    if re.match(r"^(https?|ftp|file)://", value):
        return None, value
    raise ValueError(
        f"checksum is '{spec}'; after 'sha256:' allowed: 64 hex digits or an http(s)://, ftp:// or file:// URL"
    )


def url_filename(url: str) -> str:
    """The file name a URL ends with (percent-decoded)."""
    return os.path.basename(unquote(urlsplit(url).path))


def checksum_from_text(text: str, filename: str, source: str) -> str:
    """The sha256 for ``filename`` in a checksum file.

    Accepted: one line with only the digest; ``<hex> <name>`` (Istio's .sha256, one space);
    ``<hex>  <name>`` and ``<hex> *<name>`` (sha256sum text and binary mode), one line or a listing of
    several files (sha256sum.txt), names compared without a leading ``./`` or folder. Blank lines and
    ``#`` comments (as ``sha256sum -c`` skips them) are ignored. Any other line (an HTML page, an
    error text, a digest of another length) refuses the whole answer: the message shows what was
    received, cut to 80 characters and escaped.
    """
    entries: list[tuple[str, str | None]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = CHECKSUM_LINE_RE.match(line)
        if match is None:
            raise ValueError(
                f"checksum file {source} is not a sha256 checksum file: line {number} is '{shown_text(line)}' "
                f"({len(text)} characters received, starting '{shown_text(text, 40)}'); expected exactly 64 hex "
                "digits, optionally followed by whitespace and a file name"
            )
        digest, name = match.group(1), match.group(2)
        entries.append((digest.lower(), os.path.basename(name.removeprefix("./")) if name else None))
    if not entries:
        raise ValueError(
            f"checksum file {source} holds no sha256: received '{shown_text(text)}' ({len(text)} characters); "
            "expected 64 hex digits, optionally followed by whitespace and a file name"
        )
    if len(entries) == 1 and entries[0][1] is None:
        return entries[0][0]
    found = {digest for digest, name in entries if name == filename}
    if len(found) == 1:
        return found.pop()
    if found:
        raise ValueError(f"checksum file {source} lists {filename} with different sha256s: {', '.join(sorted(found))}")
    names = ", ".join(str(name) for _digest, name in entries[:10])
    raise ValueError(f"checksum file {source} has no sha256 for {filename} (it lists: {names})")


def sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _set_socket_timeout(response: Any, seconds: float) -> None:
    """Best effort: make the next read of an HTTP(S) response wait at most ``seconds``.

    http.client keeps the socket at ``response.fp.raw._sock``; file:// and ftp:// responses have none.
    """
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None and hasattr(sock, "settimeout"):
        sock.settimeout(max(seconds, 0.001))


@dataclass
class Fetcher:
    """Fetches URLs under one :class:`RetryPolicy`, recording every attempt in ``attempts``."""

    policy: RetryPolicy
    validate_certs: bool = True
    use_proxy: bool = True
    allow_http: bool = False
    http_agent: str | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    attempts: list[Attempt] = field(default_factory=list)
    # Whether the body of the last attempt was framed (Content-Length or chunked).
    _framed: bool = field(default=True, init=False, repr=False)

    def fetch_bytes(self, url: str, limit: int = CHECKSUM_FILE_LIMIT) -> bytes:
        """The whole body of a small document (a checksum file)."""
        parts: list[bytes] = []

        def reset() -> None:
            parts.clear()

        def write(chunk: bytes) -> None:
            parts.append(chunk)
            if sum(len(p) for p in parts) > limit:
                raise _AttemptFailed(None, f"more than {limit} bytes: not a checksum file", retryable=False)

        self._fetch(url, reset, write, None)
        return b"".join(parts)

    def fetch_to_file(self, url: str, out: IO[bytes], expected_sha256: str | None) -> tuple[str, int]:
        """Write the body into ``out`` (rewritten from its start on each attempt); (sha256, size).

        Raises ChecksumMismatchError at once when a complete body has another sha256.
        """
        state: dict[str, Any] = {}

        def reset() -> None:
            out.seek(0)
            out.truncate()
            state["hash"] = hashlib.sha256()
            state["size"] = 0

        def write(chunk: bytes) -> None:
            out.write(chunk)
            state["hash"].update(chunk)
            state["size"] += len(chunk)

        def verify() -> None:
            actual = state["hash"].hexdigest()
            if expected_sha256 is not None and actual != expected_sha256:
                raise ChecksumMismatchError(expected_sha256, actual, state["size"], self._framed)

        self._fetch(url, reset, write, verify)
        out.flush()
        os.fsync(out.fileno())
        return state["hash"].hexdigest(), state["size"]

    def _fetch(
        self,
        url: str,
        reset: Callable[[], None],
        write: Callable[[bytes], None],
        verify: Callable[[], None] | None,
    ) -> None:
        policy = self.policy
        began = self.clock()
        mine: list[Attempt] = []
        last_truncated = False
        shown = mask_url(url)  # credentials in the URL never reach results or messages
        problem = scheme_problem(url, self.allow_http)
        if problem is not None:
            raise DownloadError(problem, kind="scheme")
        for number in range(1, policy.attempts + 1):
            reset()
            start = self.clock()
            status: int | None = None
            try:
                status = self._once(url, write, start + policy.timeout)
                if verify is not None:
                    verify()
            except _AttemptFailed as failure:
                attempt = Attempt(
                    shown, number, failure.status, failure.error, self.clock() - start, retryable=failure.retryable
                )
                self.attempts.append(attempt)
                mine.append(attempt)
                last_truncated = failure.truncated
                if not failure.retryable:
                    raise DownloadError(
                        f"{shown}: {failure.error}; not retried (this does not heal by asking again)",
                        kind="http" if failure.status else "fatal",
                    ) from None
                if number < policy.attempts:
                    attempt.wait = policy.wait_after(number)
                    self.sleep(attempt.wait)
                continue
            except ChecksumMismatchError as mismatch:
                self.attempts.append(Attempt(shown, number, status, str(mismatch), self.clock() - start))
                raise
            self.attempts.append(Attempt(shown, number, status, None, self.clock() - start))
            return
        waited = [a.wait for a in mine if a.wait is not None]
        last = mine[-1]
        raise DownloadError(
            f"{shown}: {'transfer truncated (not a checksum mismatch): ' if last_truncated else ''}"
            f"no success after {len(mine)} attempt(s) in {self.clock() - began:.1f} s "
            f"(last: {last.error}); waited {', '.join(_seconds(w) for w in waited) or 'no'} s between attempts "
            f"(delay {_seconds(policy.delay)} s, backoff x{_seconds(policy.backoff)}, "
            f"max_delay {_seconds(policy.max_delay)} s); "
            f"bounded by {policy.describe_bound()}",
            kind="truncated" if last_truncated else "exhausted",
        )

    def _once(self, url: str, write: Callable[[bytes], None], deadline: float) -> int | None:
        """One request (redirects followed hop by hop, each target checked); the HTTP status (None for
        file:// and ftp://), or raises _AttemptFailed."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._open(current, deadline)
            if isinstance(response, str):
                problem = redirect_problem(current, response, self.allow_http)
                if problem is not None:
                    raise _AttemptFailed(None, problem, retryable=False)
                current = response
                continue
            with response:
                status = getattr(response, "status", None) or response.getcode()
                scheme = urlsplit(current).scheme.lower()
                if scheme not in STATUSLESS_SCHEMES and status != 200:
                    retryable = status is None or is_retryable_status(status)
                    raise _AttemptFailed(status, f"HTTP {status}: expected 200 OK", retryable=retryable)
                self._read(response, status, write, deadline)
                return status
        raise _AttemptFailed(None, f"more than {MAX_REDIRECTS} redirects", retryable=False)

    def _open(self, url: str, deadline: float) -> Any:
        """The response to one request, or the absolute URL a redirect points to (not followed here)."""
        timeout = self.policy.timeout
        timed_out = f"timed out: no answer within {_seconds(timeout)} s"
        remaining = min(timeout, deadline - self.clock())
        if remaining <= 0:
            raise _AttemptFailed(None, timed_out, retryable=True)
        try:
            return open_url(
                url,
                timeout=remaining,
                validate_certs=self.validate_certs,
                use_proxy=self.use_proxy,
                http_agent=self.http_agent,
                follow_redirects="none",
                decompress=False,
            )
        except urllib.error.HTTPError as e:
            status = int(e.code)
            location = e.headers.get("Location") if e.headers else None
            e.close()
            if 300 <= status < 400 and location:
                return urljoin(url, location.strip())
            if 300 <= status < 400:
                raise _AttemptFailed(status, f"HTTP {status} {e.reason} without a Location", False) from None
            raise _AttemptFailed(status, f"HTTP {status} {e.reason}", is_retryable_status(status)) from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                raise _AttemptFailed(None, f"TLS certificate not trusted: {e.reason}", retryable=False) from None
            if isinstance(e.reason, TimeoutError):
                raise _AttemptFailed(None, timed_out, retryable=True) from None
            raise _AttemptFailed(None, f"connection failed: {e.reason}", retryable=True) from None
        except TimeoutError:
            raise _AttemptFailed(None, timed_out, retryable=True) from None
        except (OSError, http.client.HTTPException) as e:
            raise _AttemptFailed(None, f"connection failed: {e or type(e).__name__}", retryable=True) from None
        except ValueError as e:  # a URL urllib cannot open
            raise _AttemptFailed(None, f"cannot open the URL: {e}", retryable=False) from None

    def _read(self, response: Any, status: int | None, write: Callable[[bytes], None], deadline: float) -> None:
        """Read the whole body into write() by the deadline; a truncated body (shorter than its Content-Length,
        or a chunked body whose connection closed early) is retried, and refused as truncated in the end."""
        length_header = response.headers.get("Content-Length") if response.headers else None
        chunked = "chunked" in (response.headers.get("Transfer-Encoding") or "").lower() if response.headers else False
        self._framed = chunked or (length_header is not None and length_header.isdigit())
        received = 0

        def timed_out() -> _AttemptFailed:
            return _AttemptFailed(
                status,
                f"timed out: body not complete after {_seconds(self.policy.timeout)} s ({received} bytes received)",
                retryable=True,
            )

        try:
            while True:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    raise timed_out()
                _set_socket_timeout(response, remaining)
                chunk = response.read(CHUNK_SIZE)
                if not chunk:
                    break
                received += len(chunk)
                write(chunk)
        except TimeoutError:
            # The socket waits at most until the deadline (above): a timeout here is the attempt's.
            raise timed_out() from None
        except (OSError, http.client.HTTPException) as e:
            raise _AttemptFailed(
                status,
                f"truncated: the connection closed after {received} bytes ({type(e).__name__})",
                retryable=True,
                truncated=True,
            ) from None
        if length_header is not None and length_header.isdigit() and int(length_header) != received:
            raise _AttemptFailed(
                status,
                f"truncated: {received} of {length_header} bytes received; the connection closed early",
                retryable=True,
                truncated=True,
            )


class VerifiedDownloadError(Exception):
    """A download that did not land: ``msg`` says why for the user (URL, sha256s, attempts, bound)."""

    def __init__(self, msg: str, actual_sha256: str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.actual_sha256 = actual_sha256


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM ends the module like an error, so the temporary file is removed on the way out."""
    raise SystemExit(128 + signum)


def download_verified(
    fetcher: Fetcher,
    url: str,
    dest: str,
    expected: str | None,
    *,
    checksum_url: str | None,
    prepare: Callable[[str], None],
) -> tuple[str, int]:
    """Download ``url`` into a temporary file in the folder of ``dest``, verify it against ``expected``, let
    ``prepare(temporary path)`` set its attributes, and rename it to ``dest``; (sha256, size).

    On any failure the temporary file is removed (SIGTERM included) and VerifiedDownloadError says why, naming
    the URL, ``checksum_url`` (shown, where the expected sha256 came from) and both sha256s of a mismatch.
    """
    shown = mask_url(url)
    folder, name = os.path.split(dest)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if in_main_thread else None
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "w+b") as out:
            actual, size = fetcher.fetch_to_file(url, out, expected)
        prepare(tmp)
        os.replace(tmp, dest)
    except ChecksumMismatchError as e:
        unframed = (
            ""
            if e.length_known
            else " The server announced no length (no Content-Length, not chunked), so a transfer cut short "
            "cannot be told apart from a corrupt file here: if the size is smaller than expected, try again."
        )
        raise VerifiedDownloadError(
            f"sha256 checksum mismatch for {shown}: expected {e.expected}"
            f"{' (from ' + checksum_url + ')' if checksum_url else ''}, "
            f"received {e.actual} ({e.size} bytes). The file was discarded and not retried: a complete download "
            f"with another sha256 is tampered or corrupt.{unframed} Nothing was written to {dest}",
            actual_sha256=e.actual,
        ) from None
    except DownloadError as e:
        why = "the transfer was truncated" if e.kind == "truncated" else "download failed"
        raise VerifiedDownloadError(f"{why}: {e.msg}. Nothing was written to {dest}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return actual, size


# The options every downloading module of the collection takes besides its URL, checksum and destination
# (documented once in the doc fragment meshlab.service_mesh.download).
DOWNLOAD_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "attempts": {"type": "int", "default": 4},
    "delay": {"type": "float", "default": 3},
    "backoff": {"type": "float", "default": 2},
    "max_delay": {"type": "float", "default": 60},
    "timeout": {"type": "float", "default": 60},
    "validate_certs": {"type": "bool", "default": True},
    "use_proxy": {"type": "bool", "default": True},
    "allow_http": {"type": "bool", "default": False},
}


def policy_from_params(params: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        attempts=params["attempts"],
        delay=params["delay"],
        backoff=params["backoff"],
        max_delay=params["max_delay"],
        timeout=params["timeout"],
    )


def fetcher_from_params(params: dict[str, Any]) -> Fetcher:
    return Fetcher(
        policy_from_params(params),
        validate_certs=params["validate_certs"],
        use_proxy=params["use_proxy"],
        allow_http=params["allow_http"],
    )


def download_param_problems(params: dict[str, Any]) -> list[str]:
    """What is wrong with the download options (retry policy, the scheme of url and of a checksum URL)."""
    p = params
    problems = []
    if p["attempts"] < 1:
        problems.append(f"attempts is {p['attempts']}; allowed: at least 1")
    if p["delay"] < 0:
        problems.append(f"delay is {p['delay']}; allowed: 0 or more seconds")
    if p["backoff"] < 1:
        problems.append(f"backoff is {p['backoff']}; allowed: 1 or more")
    if p["max_delay"] < 0:
        problems.append(f"max_delay is {p['max_delay']}; allowed: 0 or more seconds")
    if p["timeout"] <= 0:
        problems.append(f"timeout is {p['timeout']}; allowed: more than 0 seconds")
    problem = scheme_problem(p["url"], p["allow_http"])
    if problem:
        problems.append(problem)
    spec = p["checksum"] or ""
    if spec:
        try:
            _digest, checksum_url = parse_checksum_spec(spec)
        except ValueError:
            checksum_url = None  # said when the checksum is read
        problem = scheme_problem(checksum_url, p["allow_http"], "the checksum URL") if checksum_url else None
        if problem:
            problems.append(problem)
    return problems
