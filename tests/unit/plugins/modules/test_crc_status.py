"""meshlab.service_mesh.crc_status against scripted `crc status -o json` answers."""

from __future__ import annotations

import json

import pytest
from ansible_collections.meshlab.service_mesh.plugins.modules import crc_status
from vm_fakes import FakeTool

STATUS = ("status", "-o", "json")
RUNNING = json.dumps(
    {
        "success": True,
        "crcStatus": "Running",
        "openshiftStatus": "Running",
        "openshiftVersion": "4.17.10",
        "diskUsage": 21474836480,
        "diskSize": 32184815616,
        "cacheUsage": 29637402624,
        "cacheDir": "/home/user/.crc/cache",
        "ramSize": 10909646848,
        "ramUsage": 6781800448,
        "preset": "openshift",
    },
    indent=2,
)
MISSING = json.dumps(
    {"success": False, "error": "Machine does not exist. Use 'crc start' to create it", "preset": ""}, indent=2
)
NOT_SET_UP = json.dumps(
    {"success": False, "error": "crc does not seem to be setup correctly, have you run 'crc setup'?", "preset": ""}
)


def test_running(run_module) -> None:
    tool = FakeTool({STATUS: (0, RUNNING + "\n", "")})
    run = run_module(crc_status.main, {}, tool)
    result = run.result
    assert not run.failed
    assert tool.calls == [["/usr/local/bin/crc", "status", "-o", "json"]]
    assert result["changed"] is False
    assert result["exists"] is True
    assert result["crc_status"] == "Running"
    assert result["openshift_status"] == "Running"
    assert result["openshift_version"] == "4.17.10"
    assert result["preset"] == "openshift"
    assert result["disk_usage"] == 21474836480
    assert result["disk_size"] == 32184815616
    assert result["cache_usage"] == 29637402624
    assert result["ram_usage"] == 6781800448
    assert result["ram_size"] == 10909646848
    assert result["error"] is None
    assert result["running"] is True
    assert "rc" not in result


@pytest.mark.parametrize("state", ["Degraded", "Starting", "Unreachable"])
def test_cluster_not_ready(run_module, state: str) -> None:
    text = json.dumps({"success": True, "crcStatus": "Running", "openshiftStatus": state, "preset": "openshift"})
    run = run_module(crc_status.main, {}, FakeTool({STATUS: (0, text, "")}))
    assert not run.failed
    assert run.result["openshift_status"] == state
    assert run.result["running"] is False


def test_stopped(run_module) -> None:
    text = json.dumps({"success": True, "crcStatus": "Stopped", "openshiftStatus": "Stopped", "preset": "openshift"})
    run = run_module(crc_status.main, {}, FakeTool({STATUS: (0, text, "")}))
    assert run.result["exists"] is True
    assert run.result["crc_status"] == "Stopped"
    assert run.result["running"] is False


@pytest.mark.parametrize("rc", [0, 1])
@pytest.mark.parametrize("fail_on_error", [False, True])
def test_missing_vm_is_an_answer_whatever_the_exit_code(run_module, rc: int, fail_on_error: bool) -> None:
    err = "ERRO Machine does not exist. Use 'crc start' to create it\n" if rc else ""
    run = run_module(crc_status.main, {"fail_on_error": fail_on_error}, FakeTool({STATUS: (rc, MISSING, err)}))
    assert not run.failed
    assert run.result["exists"] is False
    assert run.result["running"] is False
    assert run.result["error"] == "Machine does not exist. Use 'crc start' to create it"
    # Ansible would fail a task whose result holds a non-zero "rc".
    assert run.result.get("rc", 0) == 0


def test_other_error_fails_when_asked(run_module) -> None:
    run = run_module(crc_status.main, {"fail_on_error": True}, FakeTool({STATUS: (1, NOT_SET_UP, "")}))
    assert run.failed
    assert "have you run 'crc setup'?" in run.result["msg"]
    assert run.result["exists"] is None


def test_other_error_is_returned_by_default(run_module) -> None:
    # Before the first `crc setup` the daemon does not run: the state is unknown, not a failure.
    run = run_module(crc_status.main, {}, FakeTool({STATUS: (1, NOT_SET_UP, "")}))
    assert not run.failed
    assert run.result["exists"] is None
    assert run.result["running"] is False
    assert run.result["error"] == "crc does not seem to be setup correctly, have you run 'crc setup'?"


def test_not_json_fails(run_module) -> None:
    text = "CRC VM:          Running\nOpenShift:       Running (v4.17.10)\n"
    run = run_module(crc_status.main, {}, FakeTool({STATUS: (0, text, "")}))
    assert run.failed
    assert "did not print JSON" in run.result["msg"]


def test_not_json_with_error_exit_shows_stderr(run_module) -> None:
    run = run_module(crc_status.main, {}, FakeTool({STATUS: (1, "", 'Error: unknown shorthand flag: "o" in -o\n')}))
    assert run.failed
    assert "unknown shorthand flag" in run.result["msg"]


def test_success_with_error_exit_fails(run_module) -> None:
    run = run_module(crc_status.main, {}, FakeTool({STATUS: (2, RUNNING, "panic")}))
    assert run.failed
    assert "panic" in run.result["msg"]


def test_missing_executable_is_named(run_module) -> None:
    tool = FakeTool({})
    run = run_module(crc_status.main, {"executable": "crc-2.45"}, tool)
    assert run.failed
    assert "crc executable 'crc-2.45' was not found on PATH" in run.result["msg"]
    assert tool.calls == []


def test_check_mode_still_reads(run_module) -> None:
    run = run_module(crc_status.main, {}, FakeTool({STATUS: (0, RUNNING, "")}), check_mode=True)
    assert not run.failed
    assert run.result["changed"] is False
    assert run.result["running"] is True
