"""Decisions of tests/scripts/install_collections.py: which collections are missing, and
which source the user is told about."""

from pathlib import Path

import install_collections as ic
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version


@pytest.fixture
def reqs(tmp_path: Path) -> list[Path]:
    a = tmp_path / "a.yml"
    a.write_text("collections:\n  - name: kubernetes.core\n    version: '>=5.0.0,<7.0.0'\n")
    b = tmp_path / "b.yml"
    b.write_text("---\ncollections:\n  - name: community.docker\n  - name: ansible.posix\n    version: '*'\n")
    return [a, b]


def test_wanted_reads_every_file_and_version_range(reqs: list[Path]) -> None:
    need = ic.wanted(reqs)
    assert set(need) == {"kubernetes.core", "community.docker", "ansible.posix"}
    assert Version("6.2.0") in need["kubernetes.core"]
    assert Version("7.0.0") not in need["kubernetes.core"]
    assert str(need["community.docker"]) == ""
    assert str(need["ansible.posix"]) == ""


def test_wanted_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "empty.yml"
    f.write_text("")
    assert ic.wanted([f]) == {}


def test_missing_when_absent_or_out_of_range() -> None:
    need = {"kubernetes.core": SpecifierSet(">=5.0.0,<7.0.0"), "community.docker": SpecifierSet("")}
    have = {"kubernetes.core": (Version("4.0.0"), "/x")}
    assert ic.missing(need, have) == ["kubernetes.core", "community.docker"]


def test_nothing_missing_when_versions_fit() -> None:
    need = {"kubernetes.core": SpecifierSet(">=5.0.0,<7.0.0"), "community.docker": SpecifierSet("")}
    have = {"kubernetes.core": (Version("6.2.0"), "/x"), "community.docker": (Version("4.8.5"), "/y")}
    assert ic.missing(need, have) == []


def test_describe_names_the_source(tmp_path: Path) -> None:
    site = "/v/lib/python3.11/site-packages/ansible_collections"
    assert ic.describe(site, tmp_path) == "the ansible package on PyPI"
    assert ic.describe(str(tmp_path / "ansible_collections"), tmp_path) == "Ansible Galaxy"
    assert ic.describe("/usr/share/ansible/collections/ansible_collections", tmp_path) == (
        "/usr/share/ansible/collections/ansible_collections"
    )
