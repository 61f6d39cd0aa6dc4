# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Pick the Istio release that fits a cluster, from the istio role's version table.

The table is data (``roles/istio/vars/main.yml``, ``__istio_versions``); this file only reads it.
Each entry is one Istio line::

    line: "1.30"               # X.Y
    version: "1.30.3"          # the pinned default patch of that line
    kubernetes: ["1.32", "1.36"]  # oldest and newest supported Kubernetes minor
    installer: istioctl        # istioctl | manifest
    asset: "istio-{version}-{os}-{arch}.tar.gz"
    arches: [amd64, arm64]     # what the line publishes

Any other key of an entry is passed through untouched (``entry``).
"""

from __future__ import annotations

import re
from typing import Any

# X.Y.Z with an optional pre-release/dev suffix: 1.30.3, 1.30.4-dev.9739e10e, 1.31.0-rc.0
_ISTIO_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
_KUBE_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")

# ansible_facts['system'] -> the OS word in Istio's artifact names
OS_NAMES = {"Linux": "linux", "Darwin": "osx"}
# ansible_facts['architecture'] / uname -m -> the arch word in Istio's artifact names
ARCH_NAMES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armv7",
}

Minor = tuple[int, int]


def parse_istio_version(version: str) -> Minor | None:
    """``1.30.4-dev.9739e10e`` -> ``(1, 30)``; ``None`` when it is not a release number."""
    m = _ISTIO_VERSION_RE.match(str(version).strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_kubernetes_minor(version: str) -> Minor | None:
    """``1.35.4``, ``v1.11.0+d4cacc0`` or ``1.30`` -> ``(1, 35)``/``(1, 11)``/``(1, 30)``."""
    m = _KUBE_VERSION_RE.match(str(version).strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _minor(text: str) -> Minor:
    parsed = parse_kubernetes_minor(text)
    if parsed is None:
        raise ValueError(f"not a version: {text!r}")
    return parsed


def _fmt(minor: Minor) -> str:
    return f"{minor[0]}.{minor[1]}"


def _supports(entry: dict[str, Any], kube: Minor) -> bool:
    low, high = entry["kubernetes"]
    return _minor(low) <= kube <= _minor(high)


def _range(entry: dict[str, Any]) -> str:
    low, high = entry["kubernetes"]
    return f"{low}-{high}"


def _describe_lines(lines: list[dict[str, Any]]) -> str:
    return ", ".join(f"{e['line']} (Kubernetes {_range(e)})" for e in lines)


def _fail(msg: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "msg": msg, "version": None, "line": None, "entry": {}}
    result.update(extra)
    return result


def _choose(
    lines: list[dict[str, Any]], fitting: list[dict[str, Any]], kube: Minor, kubernetes_version: str, requested: str
) -> tuple[dict[str, Any], str] | str:
    """(entry, version) to install, or the message saying why there is none."""
    supported = (
        f"Istio lines supporting Kubernetes {_fmt(kube)}: "
        + ", ".join(f"{e['line']}.x" for e in fitting)
        + f" (default {fitting[0]['version']})"
        if fitting
        else f"no Istio line in the role's table supports Kubernetes {_fmt(kube)} (table: {_describe_lines(lines)})"
    )
    if not requested:
        if not fitting:
            return f"this cluster runs Kubernetes {kubernetes_version}: {supported}"
        return fitting[0], str(fitting[0]["version"])
    wanted = parse_istio_version(requested)
    if wanted is None:
        return (
            f"istio_version is {requested!r}; allowed: a release number X.Y.Z, optionally with a suffix "
            "(1.30.3, 1.30.4-dev.9739e10e), or empty for the newest line supporting the cluster"
        )
    entry = next((e for e in lines if _minor(e["line"]) == wanted), None)
    if entry is None:
        return (
            f"istio_version is {requested!r}: Istio {_fmt(wanted)} is not in the role's version table "
            f"(lines: {', '.join(e['line'] for e in lines)}); {supported}"
        )
    if not _supports(entry, kube):
        return (
            f"istio_version is {requested!r}: Istio {entry['line']} supports Kubernetes {_range(entry)}, "
            f"this cluster runs {kubernetes_version}; {supported}"
        )
    return entry, requested


def istio_release(  # noqa: PLR0917 - a Jinja filter takes its arguments by position
    kubernetes_version: str,
    table: list[dict[str, Any]],
    requested: str = "",
    system: str = "Linux",
    machine: str = "x86_64",
    defaults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Istio release to install on a cluster running ``kubernetes_version``.

    ``requested`` empty: the pinned version of the newest line whose Kubernetes range contains
    the cluster. Set: its X.Y must be a line of the table that supports the cluster (any patch or
    dev/pre-release suffix of that line is accepted). ``defaults`` fills what an entry leaves out.
    Never raises on bad input: returns ``ok: false`` and a message naming the variable and what
    is allowed, for an assert to show.
    """
    lines = sorted(({**(defaults or {}), **e} for e in table), key=lambda e: _minor(e["line"]), reverse=True)
    kube = parse_kubernetes_minor(kubernetes_version)
    if kube is None:
        return _fail(
            f"meshlab_cluster.kubernetes_version is {kubernetes_version!r}; "
            "expected X.Y.Z (as the API server reports it)"
        )
    fitting = [e for e in lines if _supports(e, kube)]
    extra = {"kubernetes_minor": _fmt(kube), "supported_lines": [e["line"] for e in fitting]}
    chosen = _choose(lines, fitting, kube, kubernetes_version, str(requested or "").strip())
    if isinstance(chosen, str):
        return _fail(chosen, **extra)
    entry, version = chosen

    os_name = OS_NAMES.get(system)
    arch = ARCH_NAMES.get(machine)
    arches = entry.get("arches") or ["amd64"]
    if os_name is None or arch not in arches:
        return _fail(
            f"this control host is {system}/{machine}; Istio {entry['line']} publishes istioctl for "
            f"{', '.join(sorted(set(OS_NAMES.values())))} on {', '.join(arches)}",
            **extra,
        )
    return {
        "ok": True,
        "msg": "",
        "version": version,
        "line": entry["line"],
        "installer": entry["installer"],
        "kubernetes_range": _range(entry),
        "asset": str(entry["asset"]).format(version=version, os=os_name, arch=arch),
        "os": os_name,
        "arch": arch,
        "entry": entry,
        **extra,
    }


class FilterModule:
    """Istio version matrix."""

    def filters(self) -> dict[str, Any]:
        return {"istio_release": istio_release}
