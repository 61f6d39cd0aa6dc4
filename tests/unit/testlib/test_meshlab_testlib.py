"""tests/lib (package meshlab_testlib): the one recap parser, the one ansible-playbook launcher, and the guard that
no test writes the checkout's fact cache. The last test runs a real ansible-playbook into a folder the guard watches
and shows the guard failing on it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from meshlab_testlib import REPO, VERSIONS, Playbook, checkout_cache, factcache, launch, parse_recap, versions

RECAP = """
PLAY RECAP *********************************************************************
localhost                  : ok=12   changed=3    unreachable=0    failed=1    skipped=4    rescued=0    ignored=2
other                      : ok=1    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_recap_is_the_last_one_of_the_host():
    first = RECAP.replace("changed=3", "changed=9")
    assert parse_recap(first + RECAP) == {
        "ok": 12,
        "changed": 3,
        "unreachable": 0,
        "failed": 1,
        "skipped": 4,
        "rescued": 0,
        "ignored": 2,
    }
    assert parse_recap(RECAP, host="other")["changed"] == 1
    assert parse_recap("TASK [x] ***\nfatal: [localhost]: FAILED!") == {}


def test_versions_env_is_read_once_for_everyone(tmp_path):
    env = tmp_path / "versions.env"
    env.write_text("# a comment\n\nKUBERNETES_VERSION=v1.2.3\nISTIO_VERSION = 1.30.0\n")
    assert versions(env) == {"KUBERNETES_VERSION": "v1.2.3", "ISTIO_VERSION": "1.30.0"}
    assert VERSIONS["KUBERNETES_VERSION"].startswith("v")


def test_the_launcher_gives_each_run_its_own_fact_cache(tmp_path):
    book = Playbook("---\n- hosts: localhost\n", tmp_path, {"n": "3", "l": [1]}, ("--tags", "x"), check=True, diff=True)
    cmd, env = book.command(), book.environment()
    assert cmd[:5] == ["ansible-playbook", "-i", "localhost,", "-c", "local"]
    assert cmd[-4:] == ["--diff", "--tags", "x", str(tmp_path / "play.yml")]
    assert "--check" in cmd
    vars_file = Path(cmd[cmd.index("--check") - 1].removeprefix("@"))
    assert json.loads(vars_file.read_text()) == {"n": "3", "l": [1]}, "extra vars keep their types"
    assert env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == str(tmp_path / "facts")
    assert env["MESHLAB_REPORT_DIR"] == str(tmp_path / "report")
    assert env["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")


def test_a_launch_into_the_checkouts_fact_cache_is_refused(tmp_path):
    assert checkout_cache() == (REPO / ".cache" / "facts").resolve()
    book = Playbook("site.yml", tmp_path, env={"ANSIBLE_CACHE_PLUGIN_CONNECTION": ".cache/facts"})
    with pytest.raises(AssertionError, match="the checkout's fact cache"):
        book.environment()
    with pytest.raises(AssertionError, match="the checkout's fact cache"):
        launch(["true"], {"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(checkout_cache())})


def test_the_guard_names_what_changed(tmp_path):
    (tmp_path / "kept").write_text("a")
    (tmp_path / "edited").write_text("a")
    (tmp_path / "gone").write_text("a")
    before = factcache.snapshot(tmp_path)
    (tmp_path / "edited").write_text("b")
    (tmp_path / "gone").unlink()
    (tmp_path / "s1_localhost").write_text("{}")
    assert factcache.changes(before, factcache.snapshot(tmp_path)) == [
        "added s1_localhost",
        "changed edited",
        "removed gone",
    ]
    assert factcache.changes(before, before) == []


@pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="no ansible-playbook on PATH (make setup)")
def test_the_guard_fails_on_a_playbook_that_wrote_a_watched_fact_cache(tmp_path):
    """A real run caching meshlab_cluster, as a Molecule scenario without a cache of its own did: the guard's
    command line (the Makefile's molecule targets call it) exits 1 naming the file; a run elsewhere leaves it 0."""
    watched, state = tmp_path / "watched-facts", tmp_path / "state.json"
    play = (
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.set_fact:\n        meshlab_cluster: {kubeconfig: /gone}\n        cacheable: true\n"
    )
    guard = [sys.executable, "-m", "meshlab_testlib"]
    lib = {"PYTHONPATH": str(REPO / "tests" / "lib")}

    def guarded(fact_cache: Path) -> subprocess.CompletedProcess:
        subprocess.run([*guard, "before", state, "--folder", watched], check=True, env=lib)
        run = Playbook(play, tmp_path / "run", fact_cache=fact_cache).run(timeout=120)
        assert run.rc == 0 and run.recap.get("ok") == 1, run.output[-3000:]
        return subprocess.run(
            [*guard, "after", state, "a test play", "--folder", watched],
            check=False,
            capture_output=True,
            text=True,
            env=lib,
        )

    elsewhere = guarded(tmp_path / "own-facts")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert any("meshlab_cluster" in p.read_text() for p in (tmp_path / "own-facts").iterdir()), "nothing cached"
    wrote = guarded(watched)
    assert wrote.returncode == 1, wrote.stdout
    assert "a test play wrote the checkout's fact cache" in wrote.stderr
    assert re.search(r"added \S*localhost", wrote.stderr), wrote.stderr  # jsonfile names it s1_localhost
