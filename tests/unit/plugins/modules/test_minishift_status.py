"""meshlab.service_mesh.minishift_status against scripted `minishift status` answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.meshlab.service_mesh.plugins.modules import minishift_status
from vm_fakes import FakeTool

RUNNING = (
    "Minishift:  Running\n"
    "Profile:    lab\n"
    "OpenShift:  Running (openshift v3.11.0+1cd89d4-542)\n"
    "DiskUsage:  15% of 19G (Mounted On: /mnt/sda1)\n"
    "CacheUsage: 1.2 GB (used by oc binary, ISO or cached images)\n"
)
MISSING_PROFILE = (
    "Profile 'lab' doesn't exist, Use 'minishift profile set lab' or 'minishift start --profile lab' to create\n"
)


def test_running_with_profile(run_module) -> None:
    tool = FakeTool({("--profile", "lab", "status"): (0, RUNNING, "")})
    run = run_module(minishift_status.main, {"profile": "lab"}, tool)
    result = run.result
    assert not run.failed
    assert result["changed"] is False
    assert tool.calls == [["/usr/local/bin/minishift", "--profile", "lab", "status"]]
    assert result["cmd"] == ["/usr/local/bin/minishift", "--profile", "lab", "status"]
    assert result["exists"] is True
    assert result["vm_state"] == "Running"
    assert result["openshift_state"] == "Running"
    assert result["openshift_version"] == "v3.11.0+1cd89d4-542"
    assert result["profile"] == "lab"
    assert result["profile_exists"] is True
    assert result["disk_usage"] == "15% of 19G (Mounted On: /mnt/sda1)"
    assert result["cache_usage"] == "1.2 GB"
    assert result["rhsm"] is None
    assert result["running"] is True
    assert result["fields"]["Minishift"] == "Running"


def test_without_profile_asks_the_active_one(run_module) -> None:
    tool = FakeTool({("status",): (0, RUNNING, "")})
    run = run_module(minishift_status.main, {}, tool)
    assert tool.calls == [["/usr/local/bin/minishift", "status"]]
    assert run.result["profile"] == "lab"


def test_openshift_stopped_while_vm_runs(run_module) -> None:
    text = "Minishift:  Running\nProfile:    lab\nOpenShift:  Stopped\nDiskUsage:  15% of 19G\n"
    tool = FakeTool({("--profile", "lab", "status"): (0, text, "")})
    result = run_module(minishift_status.main, {"profile": "lab"}, tool).result
    assert result["vm_state"] == "Running"
    assert result["openshift_state"] == "Stopped"
    assert result["running"] is False


def test_vm_does_not_exist(run_module) -> None:
    tool = FakeTool({("--profile", "lab", "status"): (0, "Does Not Exist\n", "")})
    run = run_module(minishift_status.main, {"profile": "lab"}, tool)
    assert not run.failed
    assert run.result["exists"] is False
    assert run.result["vm_state"] == "Does Not Exist"
    assert run.result["openshift_state"] is None
    assert run.result["profile"] == "lab"
    assert run.result["profile_exists"] is True


def test_profile_never_created_is_an_answer(run_module) -> None:
    tool = FakeTool({("--profile", "lab", "status"): (1, "", MISSING_PROFILE)})
    run = run_module(minishift_status.main, {"profile": "lab"}, tool)
    assert not run.failed
    result = run.result
    assert result["changed"] is False
    assert result["exists"] is False
    assert result["profile_exists"] is False
    assert result["vm_state"] == "Does Not Exist"
    assert result["openshift_state"] is None
    assert result["running"] is False
    assert result["fields"] == {}


def test_another_profile_missing_is_a_failure(run_module) -> None:
    err = MISSING_PROFILE.replace("'lab'", "'other'")
    tool = FakeTool({("--profile", "lab", "status"): (1, "", err)})
    run = run_module(minishift_status.main, {"profile": "lab"}, tool)
    assert run.failed


def test_error_exit_fails_with_stderr(run_module) -> None:
    tool = FakeTool({("status",): (1, "", "Error getting cluster status: libvirt is down\n")})
    run = run_module(minishift_status.main, {}, tool)
    assert run.failed
    assert "libvirt is down" in run.result["msg"]
    assert run.result["rc"] == 1


def test_unrecognisable_output_fails(run_module) -> None:
    tool = FakeTool({("status",): (0, "something new\n", "")})
    run = run_module(minishift_status.main, {}, tool)
    assert run.failed
    assert "neither a 'Minishift:' line" in run.result["msg"]


def test_empty_output_fails(run_module) -> None:
    tool = FakeTool({("status",): (0, "", "")})
    run = run_module(minishift_status.main, {}, tool)
    assert run.failed
    assert "printed nothing" in run.result["msg"]


@pytest.mark.parametrize("profile", ["-lab", "lab_1", "lab 1", "lab;rm"])
def test_invalid_profile_runs_nothing(run_module, profile: str) -> None:
    tool = FakeTool({})
    run = run_module(minishift_status.main, {"profile": profile}, tool)
    assert run.failed
    assert "Invalid Minishift profile name" in run.result["msg"]
    assert tool.calls == []


def test_missing_executable_is_named(run_module) -> None:
    tool = FakeTool({})
    run = run_module(minishift_status.main, {}, tool, on_path=())
    assert run.failed
    assert "minishift executable 'minishift' was not found on PATH" in run.result["msg"]
    assert tool.calls == []


def test_executable_path_that_does_not_exist(run_module, tmp_path: Path) -> None:
    missing = str(tmp_path / "bin" / "minishift")
    run = run_module(minishift_status.main, {"executable": missing}, FakeTool({}))
    assert run.failed
    assert missing in run.result["msg"]


def test_executable_path_that_is_not_executable(run_module, tmp_path: Path) -> None:
    exe = tmp_path / "minishift"
    exe.write_text("")
    exe.chmod(0o644)
    run = run_module(minishift_status.main, {"executable": str(exe)}, FakeTool({}))
    assert run.failed
    assert "is not executable" in run.result["msg"]


def test_executable_path_is_used_as_given(run_module, tmp_path: Path) -> None:
    exe = tmp_path / "minishift"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    tool = FakeTool({("status",): (0, RUNNING, "")})
    run = run_module(minishift_status.main, {"executable": str(exe)}, tool, on_path=())
    assert not run.failed
    assert tool.calls == [[str(exe), "status"]]


def test_check_mode_still_reads(run_module) -> None:
    tool = FakeTool({("status",): (0, RUNNING, "")})
    run = run_module(minishift_status.main, {}, tool, check_mode=True)
    assert not run.failed
    assert run.result["changed"] is False
    assert run.result["running"] is True
