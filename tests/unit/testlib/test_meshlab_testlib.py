"""tests/lib (package meshlab_testlib): the one recap parser, the one ansible-playbook launcher, and the guard that
no test writes the checkout's fact cache. The last test runs a real ansible-playbook into a folder the guard watches
and shows the guard failing on it."""

from __future__ import annotations

import json
import os
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


def test_the_session_hands_down_a_sentinel_fact_cache():
    """tests/conftest.py: what this session starts without a fact cache of its own caches into the sentinel."""
    sentinel = Path(os.environ[factcache.VARIABLE])
    assert sentinel.is_dir() and sentinel.name.startswith("meshlab-fact-cache-sentinel-"), sentinel
    assert sentinel.resolve() != checkout_cache()


@pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="no ansible-playbook on PATH (make setup)")
def test_the_guard_fails_on_a_launch_without_a_fact_cache_of_its_own(tmp_path):
    """A real ansible-playbook caching meshlab_cluster, started as a Molecule scenario without a cache of its own
    was (the environment handed down, ansible.cfg's fact cache): the guard's command line, which the Makefile's
    molecule targets call, exits 1 naming the file. The same play with a cache of its own (as molecule.yml's
    provisioner env gives it) leaves the sentinel empty, and the guard passes."""
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.set_fact:\n        meshlab_cluster: {kubeconfig: /gone}\n        cacheable: true\n"
    )
    guard = [sys.executable, "-m", "meshlab_testlib"]
    lib = {**os.environ, "PYTHONPATH": str(REPO / "tests" / "lib")}

    def guarded(own_cache: Path | None) -> subprocess.CompletedProcess:
        sentinel = subprocess.run([*guard, "sentinel"], check=True, env=lib, capture_output=True, text=True)
        env = {**os.environ, factcache.VARIABLE: sentinel.stdout.strip(), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
        if own_cache is not None:
            env[factcache.VARIABLE] = str(own_cache)
        cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(play)]
        ran = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
        assert ran.returncode == 0 and parse_recap(ran.stdout).get("ok") == 1, ran.stdout[-3000:] + ran.stderr
        check = [*guard, "check", sentinel.stdout.strip(), "a test play"]
        try:
            return subprocess.run(check, check=False, capture_output=True, text=True, env=lib)
        finally:
            shutil.rmtree(sentinel.stdout.strip(), ignore_errors=True)  # a failed check keeps it for inspection

    own = tmp_path / "own-facts"
    passed = guarded(own)
    assert passed.returncode == 0, passed.stderr
    assert factcache.cached_fact(own, "meshlab_cluster") == {"kubeconfig": "/gone"}, "cached nothing: proves nothing"
    wrote = guarded(None)
    assert wrote.returncode == 1, wrote.stdout
    assert "a test play launched Ansible without a fact cache of its own" in wrote.stderr, wrote.stderr
    assert re.search(r"cached \S*localhost", wrote.stderr), wrote.stderr  # jsonfile names it s1_localhost
