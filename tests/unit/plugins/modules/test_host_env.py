"""meshlab.service_mesh.host_env: the module on the host, and its action plugin's choice between the
controller's environment (local connection, no become: no module runs) and the module (otherwise).

The choice is tested through real ansible-playbook runs: become comes from the play, the task, -b or the
inventory, and only the action plugin sees all of them (no variable tells a task it becomes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.meshlab.service_mesh.plugins.action.host_env import reads_on_controller
from ansible_collections.meshlab.service_mesh.plugins.modules import host_env
from module_harness import as_module, module_args

# The folder holding ansible_collections/meshlab/service_mesh, as this test imported it.
COLLECTIONS = Path(host_env.__file__).parents[5]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def test_module_returns_the_three_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.setenv("PATH", "/opt/bin:/usr/bin")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("SECRET_TOKEN", "never-returned")
    as_module(monkeypatch)
    with module_args({}), pytest.raises(SystemExit):
        host_env.main()
    result = json.loads(capsys.readouterr().out)
    assert {k: result[k] for k in ("home", "path", "kubeconfig", "source", "changed")} == {
        "home": "/home/alice",
        "path": "/opt/bin:/usr/bin",
        "kubeconfig": "",
        "source": "host",
        "changed": False,
    }
    assert "never-returned" not in json.dumps(result)


@pytest.mark.parametrize(
    ("transport", "become", "expected"),
    [
        ("local", False, True),
        ("local", True, False),
        ("ssh", False, False),
        ("docker", False, False),
        ("", False, False),
    ],
)
def test_only_a_local_connection_without_become_reads_the_controller(
    transport: str, become: bool, expected: bool
) -> None:
    assert reads_on_controller(transport, become) is expected


def play(
    tmp_path: Path, *, play_become: bool = False, task_args: dict[str, Any] | None = None, cli: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """One play on localhost (local connection) that registers host_env and prints it as JSON."""
    task: dict[str, Any] = {"meshlab.service_mesh.host_env": task_args, "register": "r"}
    book = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "connection": "local",
            **({"become": True, "become_method": "ansible.builtin.su"} if play_become else {}),
            "tasks": [task],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(book))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        HOME=str(tmp_path / "home"),
        KUBECONFIG="/k/one:/k/two",
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(tmp_path / "ansible"),
        # the builtin tree callback writes the host's last result as JSON (the play has one task)
        ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
        ANSIBLE_CALLBACK_TREE_DIR=str(tmp_path / "tree"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    # cwd: no ansible.cfg of this checkout applies
    return subprocess.run(
        [
            str(PLAYBOOK),
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *cli,
            str(tmp_path / "play.yml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def registered(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, run.stdout + run.stderr
    result: dict[str, Any] = json.loads(Path(run.args[-1]).with_name("tree").joinpath("localhost").read_text())
    return result


needs_playbook = pytest.mark.skipif(not PLAYBOOK.exists(), reason=f"no ansible-playbook beside {sys.executable}")


@needs_playbook
def test_local_without_become_reads_the_controllers_environment(tmp_path: Path) -> None:
    r = registered(play(tmp_path))
    assert r["source"] == "controller"
    assert r["home"] == str(tmp_path / "home")
    assert r["kubeconfig"] == "/k/one:/k/two"
    assert r["changed"] is False


@needs_playbook
@pytest.mark.skipif(os.geteuid() != 0, reason="su to root without a password needs root")
@pytest.mark.parametrize("how", ["play", "cli"])
def test_become_runs_the_module_on_the_host(tmp_path: Path, how: str) -> None:
    # su as root to root: no password. The module runs as the become user, in su's environment.
    run = (
        play(tmp_path, play_become=True)
        if how == "play"
        else play(tmp_path, cli=("-b", "--become-method", "ansible.builtin.su"))
    )
    r = registered(run)
    assert r["source"] == "host"
    assert isinstance(r["home"], str) and isinstance(r["path"], str) and r["path"]


@needs_playbook
def test_options_are_refused(tmp_path: Path) -> None:
    run = play(tmp_path, task_args={"name": "HOME"})
    assert run.returncode != 0
    result = json.loads((tmp_path / "tree" / "localhost").read_text())
    assert result["msg"] == "host_env takes no options; got: name", result
    assert "failed=1" in run.stdout
