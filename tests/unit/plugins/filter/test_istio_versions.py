"""The Istio version matrix: the filter (plugins/filter/istio_versions.py) on the role's real table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.meshlab.service_mesh.plugins.filter import istio_versions as iv

ROLE_VARS = Path(__file__).resolve().parents[4] / "roles" / "istio" / "vars" / "main.yml"


@pytest.fixture(scope="module")
def role_vars() -> dict[str, Any]:
    return yaml.safe_load(ROLE_VARS.read_text())


@pytest.fixture(scope="module")
def table(role_vars: dict[str, Any]) -> list[dict[str, Any]]:
    return role_vars["__istio_versions"]


@pytest.fixture(scope="module")
def defaults(role_vars: dict[str, Any]) -> dict[str, Any]:
    return role_vars["__istio_line_defaults"]


def pick(table: list[dict[str, Any]], defaults: dict[str, Any], kube: str, requested: str = "", **kw: str) -> dict:
    return iv.istio_release(kube, table, requested, kw.get("system", "Linux"), kw.get("machine", "x86_64"), defaults)


# --- the table itself -------------------------------------------------------------------------


def test_table_entries_are_complete_and_consistent(table: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    lines = [e["line"] for e in table]
    assert len(lines) == len(set(lines)), "one entry per line"
    for entry in table:
        full = {**defaults, **entry}
        assert iv.parse_istio_version(full["version"]) == iv.parse_kubernetes_minor(full["line"]), entry
        low, high = (iv.parse_kubernetes_minor(v) for v in full["kubernetes"])
        assert low is not None and high is not None and low <= high, entry
        assert full["installer"] in {"istioctl", "manifest"}, entry
        assert "{version}" in full["asset"] and "{os}" in full["asset"], entry


def test_table_is_newest_first(table: list[dict[str, Any]]) -> None:
    minors = [iv.parse_kubernetes_minor(e["line"]) for e in table]
    assert minors == sorted(minors, reverse=True)


@pytest.mark.parametrize(
    ("line", "version", "low", "high"),
    [
        ("1.30", "1.30.3", "1.32", "1.36"),
        ("1.29", "1.29.6", "1.31", "1.35"),
        ("1.28", "1.28.10", "1.30", "1.34"),
        ("1.27", "1.27.3", "1.29", "1.33"),
        ("1.1", "1.1.17", "1.11", "1.13"),
    ],
)
def test_table_matches_istio_support_matrix(
    table: list[dict[str, Any]], line: str, version: str, low: str, high: str
) -> None:
    entry = next(e for e in table if e["line"] == line)
    assert entry["version"] == version
    assert entry["kubernetes"] == [low, high]


# --- default choice: the newest line supporting the cluster --------------------------------------


@pytest.mark.parametrize(
    ("kube", "version", "installer"),
    [
        ("1.35.4", "1.30.3", "istioctl"),  # the simulated cluster
        ("v1.36.0", "1.30.3", "istioctl"),
        ("1.31.2", "1.29.6", "istioctl"),  # 1.30 starts at 1.32
        ("1.30.0", "1.28.10", "istioctl"),
        ("1.29.1", "1.27.3", "istioctl"),
        ("1.28.9", "1.24.6", "istioctl"),
        ("v1.11.0+d4cacc0", "1.1.17", "manifest"),  # OKD 3.11 / Minishift
        ("1.13.12", "1.1.17", "manifest"),
    ],
)
def test_default_is_newest_supporting_line(
    table: list[dict[str, Any]], defaults: dict[str, Any], kube: str, version: str, installer: str
) -> None:
    result = pick(table, defaults, kube)
    assert result["ok"], result["msg"]
    assert result["version"] == version
    assert result["installer"] == installer
    assert result["entry"]["line"] == result["line"]


def test_supported_lines_are_listed_newest_first(table: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    assert pick(table, defaults, "1.33.1")["supported_lines"] == ["1.30", "1.29", "1.28", "1.27", "1.26"]


@pytest.mark.parametrize("kube", ["1.20.15", "1.27.3", "1.14.0", "1.10.0", "1.37.0"])
def test_cluster_no_line_supports_fails_naming_the_table(
    table: list[dict[str, Any]], defaults: dict[str, Any], kube: str
) -> None:
    result = pick(table, defaults, kube)
    assert not result["ok"]
    assert f"Kubernetes {kube}" in result["msg"]
    assert "1.1 (Kubernetes 1.11-1.13)" in result["msg"] and "1.30 (Kubernetes 1.32-1.36)" in result["msg"]


# --- an explicit istio_version -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "line"),
    [
        ("1.30.4-dev.9739e10e", "1.30"),  # the harness' build of the release-1.30 branch
        ("1.30.3", "1.30"),
        ("1.30.0", "1.30"),
        ("1.29.6", "1.29"),
        ("1.29.0-beta.1", "1.29"),
    ],
)
def test_requested_version_of_supporting_line_is_kept_verbatim(
    table: list[dict[str, Any]], defaults: dict[str, Any], requested: str, line: str
) -> None:
    result = pick(table, defaults, "1.35.4", requested)
    assert result["ok"], result["msg"]
    assert result["version"] == requested
    assert result["line"] == line
    assert result["asset"] == f"istio-{requested}-linux-amd64.tar.gz"


def test_requested_line_that_does_not_support_cluster_names_the_range(
    table: list[dict[str, Any]], defaults: dict[str, Any]
) -> None:
    result = pick(table, defaults, "1.35.4", "1.1.17")
    assert not result["ok"]
    assert result["msg"].startswith("istio_version is '1.1.17'")
    assert "Istio 1.1 supports Kubernetes 1.11-1.13" in result["msg"]
    assert "1.30.x, 1.29.x" in result["msg"] and "default 1.30.3" in result["msg"]


def test_requested_newer_line_on_old_cluster_fails(table: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    result = pick(table, defaults, "1.11.0", "1.30.3")
    assert not result["ok"]
    assert "supports Kubernetes 1.32-1.36" in result["msg"] and "1.1.x" in result["msg"]


@pytest.mark.parametrize("requested", ["1.31.0-rc.0", "1.23.6", "2.0.0"])
def test_requested_line_outside_the_table_fails(
    table: list[dict[str, Any]], defaults: dict[str, Any], requested: str
) -> None:
    result = pick(table, defaults, "1.35.4", requested)
    assert not result["ok"]
    assert f"istio_version is '{requested}'" in result["msg"]
    assert "is not in the role's version table" in result["msg"]


@pytest.mark.parametrize("requested", ["v1.30.3", "1.30", "latest", "1.30.3-", "1.30.x"])
def test_requested_version_with_bad_format_fails(
    table: list[dict[str, Any]], defaults: dict[str, Any], requested: str
) -> None:
    result = pick(table, defaults, "1.35.4", requested)
    assert not result["ok"]
    assert "allowed: a release number X.Y.Z" in result["msg"]


def test_unreadable_kubernetes_version_fails(table: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    result = pick(table, defaults, "unknown")
    assert not result["ok"]
    assert "meshlab_cluster.kubernetes_version" in result["msg"]


# --- the artifact for the control host -----------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "machine", "asset"),
    [
        ("Linux", "x86_64", "istio-1.30.3-linux-amd64.tar.gz"),
        ("Linux", "aarch64", "istio-1.30.3-linux-arm64.tar.gz"),
        ("Darwin", "arm64", "istio-1.30.3-osx-arm64.tar.gz"),
        ("Darwin", "x86_64", "istio-1.30.3-osx-amd64.tar.gz"),
    ],
)
def test_asset_for_control_host(
    table: list[dict[str, Any]], defaults: dict[str, Any], system: str, machine: str, asset: str
) -> None:
    result = pick(table, defaults, "1.35.0", system=system, machine=machine)
    assert result["ok"], result["msg"]
    assert result["asset"] == asset


def test_old_line_uses_its_asset_names(table: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    assert pick(table, defaults, "1.11.0")["asset"] == "istio-1.1.17-linux.tar.gz"
    assert pick(table, defaults, "1.11.0", system="Darwin")["asset"] == "istio-1.1.17-osx.tar.gz"


@pytest.mark.parametrize(
    ("kube", "system", "machine"),
    [("1.11.0", "Linux", "aarch64"), ("1.35.0", "Windows", "AMD64"), ("1.35.0", "Linux", "s390x")],
)
def test_unsupported_control_host_fails(
    table: list[dict[str, Any]], defaults: dict[str, Any], kube: str, system: str, machine: str
) -> None:
    result = pick(table, defaults, kube, system=system, machine=machine)
    assert not result["ok"]
    assert f"this control host is {system}/{machine}" in result["msg"]


def test_filter_is_registered() -> None:
    assert iv.FilterModule().filters()["istio_release"] is iv.istio_release


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.30.4-dev.9739e10e", (1, 30)), ("1.1.17", (1, 1)), ("1.30", None), ("", None), ("1.30.3+meta", None)],
)
def test_parse_istio_version(text: str, expected: tuple[int, int] | None) -> None:
    assert iv.parse_istio_version(text) == expected
