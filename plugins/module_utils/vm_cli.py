# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Parsers for what the ``minishift`` and ``crc`` command lines print.

Pure functions: no Ansible imports, no I/O. The formats were checked against the tools'
sources (minishift ``cmd/minishift/cmd/status.go`` and ``cmd/config/view.go``; crc
``cmd/crc/cmd/status.go``, ``cmd/crc/cmd/config/view.go`` and ``get.go``). Each parser
says in its docstring which outputs it understands.

Kept compatible with every Python that ansible-core runs modules on (3.8 and later).
"""

from __future__ import annotations

import json
import re
from typing import Any

# minishift cmd/minishift/cmd/util/util.go IsValidProfileName
MINISHIFT_PROFILE_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-]*")

MINISHIFT_DOES_NOT_EXIST = "Does Not Exist"
# Printed (to stderr, exit 1) when --profile names a profile that was never created.
MINISHIFT_PROFILE_MISSING_RE = re.compile(r"Profile '(?P<profile>[^']*)' doesn't exist")
# Keys `minishift config view` never lists (cmd/config/view.go excludedConfigKeys).
MINISHIFT_VIEW_EXCLUDED_KEYS = ("addons", "cache-images")

CRC_MISSING_VM_MARKER = "machine does not exist"
CRC_OPENSHIFT_STATES = ("Unreachable", "Starting", "Running", "Degraded", "Stopped", "Stopping")

# `Key:  value`: the key is one word (no spaces), so log lines such as
# `E1203 12:00:01 ...` are not mistaken for fields.
_STATUS_FIELD_RE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9_-]*):(?P<value>.*)$")
# `Running (openshift v3.11.0+1cd89d4-542)`
_OPENSHIFT_FIELD_RE = re.compile(r"^(?P<state>[A-Za-z][A-Za-z ]*?)\s*(?:\((?P<detail>.*)\))?$")
_VERSION_RE = re.compile(r"\bv\d+(?:\.\d+)*[0-9A-Za-z.+_-]*")
_CACHE_SUFFIX_RE = re.compile(r"\s*\(used by [^)]*\)\s*$")
# `- key                                : value` (key padded to 21, 35 or 38 columns, or not at all)
_CONFIG_VIEW_RE = re.compile(r"^-\s+(?P<key>[^\s:]+)\s*:(?: (?P<value>.*))?$")
# crc config get, newest and older wordings:
#   Configuration property 'cpus' is not set. Default value '4' is used
#   Configuration property 'cpus' is not set. Default value is '4'
_CRC_GET_DEFAULT_RE = re.compile(
    r"Configuration property '(?P<key>[^']*)' is not set\. Default value(?: is)? '(?P<default>.*?)'(?: is used)?\s*$"
)
_CRC_GET_INVALID_RE = re.compile(r"[Cc]onfiguration property '(?P<key>[^']*)' does not exist")

_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _lines(text: str) -> list[str]:
    """Lines without line endings (LF, CRLF or CR) and trailing blanks; empty lines dropped."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    return [line.rstrip() for line in normalised.split("\n") if line.strip()]


def _shorten(text: str, limit: int = 200) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."


def is_valid_minishift_profile(name: str) -> bool:
    """Whether minishift accepts ``name`` as a profile name (alphanumerics and ``-``, not first)."""
    return bool(MINISHIFT_PROFILE_RE.fullmatch(name))


def parse_minishift_status(text: str) -> dict[str, Any]:
    """Parse ``minishift [--profile P] status``.

    Understands:

    - the full form (``Minishift:``, ``Profile:``, ``OpenShift:``, ``DiskUsage:``,
      ``CacheUsage:``, and ``RHSM:`` on RHEL-based ISOs, where minishift puts a tab after the
      colon);
    - older releases without ``Profile:`` or ``CacheUsage:``;
    - the stopped VM (``OpenShift:  Stopped``, ``DiskUsage:  Unknown``);
    - a missing VM, where minishift prints only ``Does Not Exist`` and exits 0.

    Unknown ``Key: value`` lines are kept in ``fields``; other lines are ignored.
    Raises ValueError on empty output or output with neither a ``Minishift:`` line nor
    ``Does Not Exist``.
    """
    lines = _lines(text)
    if not lines:
        raise ValueError("minishift status printed nothing")

    fields: dict[str, str] = {}
    does_not_exist = False
    for line in lines:
        stripped = line.strip()
        if stripped.lower() == MINISHIFT_DOES_NOT_EXIST.lower():
            does_not_exist = True
            continue
        match = _STATUS_FIELD_RE.match(stripped)
        if match and match.group("key") not in fields:
            fields[match.group("key")] = match.group("value").strip()

    result: dict[str, Any] = {
        "exists": False,
        "vm_state": MINISHIFT_DOES_NOT_EXIST,
        "openshift_state": None,
        "openshift_version": None,
        "profile": fields.get("Profile") or None,
        "disk_usage": None,
        "cache_usage": None,
        "rhsm": fields.get("RHSM") or None,
        "running": False,
        "fields": fields,
    }

    vm_state = fields.get("Minishift")
    if vm_state is None:
        if does_not_exist:
            return result
        raise ValueError(
            "minishift status printed neither a 'Minishift:' line nor 'Does Not Exist': " + repr(_shorten(text))
        )
    if not vm_state or vm_state.lower() == MINISHIFT_DOES_NOT_EXIST.lower():
        return result

    result["exists"] = True
    result["vm_state"] = vm_state

    result["openshift_state"], result["openshift_version"] = _openshift_state(fields.get("OpenShift"))
    result["disk_usage"] = _known(fields.get("DiskUsage"))
    result["cache_usage"] = _known(_CACHE_SUFFIX_RE.sub("", fields.get("CacheUsage") or ""))
    result["running"] = vm_state == "Running" and result["openshift_state"] == "Running"
    return result


def _openshift_state(value: str | None) -> tuple[str | None, str | None]:
    """``Running (openshift v3.11.0+1cd89d4-542)`` -> ``("Running", "v3.11.0+1cd89d4-542")``."""
    if not value:
        return None, None
    match = _OPENSHIFT_FIELD_RE.match(value)
    if not match:
        return value, None
    detail = match.group("detail")
    if not detail:
        return match.group("state"), None
    version = _VERSION_RE.search(detail)
    return match.group("state"), version.group(0) if version else detail.strip()


def _known(value: str | None) -> str | None:
    """``value``, or None when it is missing, empty or minishift's ``Unknown``."""
    if not value or value.lower() == "unknown":
        return None
    return value


def minishift_missing_profile(stderr: str) -> str | None:
    """The profile name when minishift said ``Profile 'NAME' doesn't exist``, else None."""
    match = MINISHIFT_PROFILE_MISSING_RE.search(stderr or "")
    return match.group("profile") if match else None


def _load_json_object(text: str) -> dict[str, Any]:
    stripped = text.strip()
    if not stripped:
        raise ValueError("crc status -o json printed nothing")
    try:
        data = json.loads(stripped)
    except ValueError:
        # Tolerate a stray line before or after the object (a warning on stdout).
        start, end = stripped.find("{"), stripped.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("crc status -o json did not print JSON: " + repr(_shorten(text))) from None
        try:
            data = json.loads(stripped[start : end + 1])
        except ValueError:
            raise ValueError("crc status -o json did not print JSON: " + repr(_shorten(text))) from None
    if not isinstance(data, dict):
        raise ValueError("crc status -o json printed JSON that is not an object: " + repr(_shorten(text)))
    return data


def parse_crc_status(text: str) -> dict[str, Any]:
    """Parse ``crc status -o json``.

    Understands the success form (``"success": true`` with ``crcStatus``,
    ``openshiftStatus``, ``openshiftVersion``, sizes in bytes, ``preset``; fields with zero
    or empty values are left out by crc), the error form (``"success": false`` with
    ``error``), and releases before the ``success`` key existed.

    A missing VM (``Machine does not exist. Use 'crc start' to create it``) gives
    ``exists`` False and no exception; ``error`` keeps crc's message. Any other error gives
    ``exists`` None (unknown) and ``error`` set. Raises ValueError when the output is not a
    JSON object.
    """
    data = _load_json_object(text)

    def text_or_none(key: str) -> str | None:
        value = data.get(key)
        return None if value is None or value == "" else str(value)

    def number_or_raw(key: str) -> Any:
        value = data.get(key)
        if value is None or value == "":
            return None
        return value

    result: dict[str, Any] = {
        "exists": None,
        "crc_status": text_or_none("crcStatus"),
        "openshift_status": text_or_none("openshiftStatus"),
        "openshift_version": text_or_none("openshiftVersion"),
        "preset": text_or_none("preset"),
        "disk_usage": number_or_raw("diskUsage"),
        "disk_size": number_or_raw("diskSize"),
        "cache_usage": number_or_raw("cacheUsage"),
        "cache_dir": text_or_none("cacheDir"),
        "ram_usage": number_or_raw("ramUsage"),
        "ram_size": number_or_raw("ramSize"),
        "error": None,
        "running": False,
        "fields": data,
    }

    error = data.get("error")
    failed = data.get("success") is False or (data.get("success") is None and error not in (None, ""))
    if failed:
        message = str(error) if error not in (None, "") else "crc reported success: false without an error message"
        result["error"] = message
        if CRC_MISSING_VM_MARKER in message.lower():
            result["exists"] = False
        return result

    if result["crc_status"] is None:
        raise ValueError("crc status -o json printed neither crcStatus nor an error: " + repr(_shorten(text)))
    if result["crc_status"].lower() in ("does not exist", "novm"):
        result["exists"] = False
        return result
    result["exists"] = True
    result["running"] = result["crc_status"] == "Running" and result["openshift_status"] == "Running"
    return result


def parse_config_view(text: str) -> dict[str, str]:
    """Parse ``minishift config view`` or ``crc config view`` into ``{key: value}``.

    Both print one ``- KEY<padding>: VALUE`` line per set property (Go template
    ``- {{.ConfigKey | printf "%-35s"}}: {{.ConfigValue}}``; padding 21, 35 or 38 by
    release, none with a custom ``--format``). Values keep inner spaces; trailing blanks and
    line endings are dropped. Minishift prints list values the Go way, ``[a b]``.

    Empty output is an empty configuration. Raises ValueError when there is output but no
    line has that shape. Lines that do not have it (warnings) are skipped.
    """
    lines = _lines(text)
    config: dict[str, str] = {}
    for line in lines:
        match = _CONFIG_VIEW_RE.match(line.strip())
        if match:
            config[match.group("key")] = match.group("value") or ""
    if lines and not config:
        raise ValueError("config view printed no '- key : value' line: " + repr(_shorten(text)))
    return config


def parse_crc_config_get(text: str, key: str) -> dict[str, Any]:
    """Parse ``crc config get KEY`` (stdout and stderr joined).

    Returns ``{"set": bool, "value": str | None, "default": str | None}``:

    - ``KEY : VALUE`` means set to VALUE;
    - ``Configuration property 'KEY' is not set. Default value 'D' is used`` (or the older
      ``Default value is 'D'``) means not set, D in effect.

    Raises ValueError when crc says the property does not exist or prints neither form.
    """
    lines = _lines(text)
    for line in lines:
        invalid = _CRC_GET_INVALID_RE.search(line)
        if invalid:
            raise ValueError("crc has no configuration property " + repr(invalid.group("key")))
    for line in lines:
        default = _CRC_GET_DEFAULT_RE.search(line)
        if default and default.group("key") == key:
            return {"set": False, "value": None, "default": default.group("default")}
    prefix = key + " :"
    for line in lines:
        stripped = line.strip()
        if stripped == prefix or stripped.startswith(prefix + " "):
            return {"set": True, "value": stripped[len(prefix) + 1 :], "default": None}
    raise ValueError("crc config get " + key + " printed neither a value nor a default: " + repr(_shorten(text)))


def parse_go_bool(value: str) -> bool | None:
    """Go's strconv.ParseBool (what minishift and crc accept), or None when not a boolean."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    return None


def to_config_string(value: Any) -> str:
    """The string ``config set`` is given for a wanted value.

    Booleans become ``true``/``false``, whole floats lose their ``.0``, lists are joined
    with commas (minishift splits list settings on commas), everything else is ``str()``.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ",".join(to_config_string(item) for item in value)
    return str(value)


def config_value_matches(current: str, wanted: Any) -> bool:
    """Whether the value ``config view`` shows already is the wanted one.

    Compared as strings, except that booleans compare by meaning (``True`` is ``true``) and
    lists also match minishift's Go rendering ``[a b]``.
    """
    if isinstance(wanted, bool):
        return parse_go_bool(current) is wanted
    if isinstance(wanted, (list, tuple)):
        items = [to_config_string(item) for item in wanted]
        return current in (",".join(items), "[" + " ".join(items) + "]")
    return current == to_config_string(wanted)


def config_changes(current: dict[str, str], wanted: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """What to ``config set`` and ``config unset`` to go from ``current`` to ``wanted``.

    ``wanted`` maps keys to values; None means the key must not be set. Keys absent from
    ``wanted`` are left alone. Returns ``(to_set, to_unset)``: ``to_set`` maps keys to the
    strings to pass to ``config set``, ``to_unset`` lists keys to ``config unset``, both in
    ``wanted``'s order.
    """
    to_set: dict[str, str] = {}
    to_unset: list[str] = []
    for key, value in wanted.items():
        if value is None:
            if key in current:
                to_unset.append(key)
        elif key not in current or not config_value_matches(current[key], value):
            to_set[key] = to_config_string(value)
    return to_set, to_unset
