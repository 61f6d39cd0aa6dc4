"""meshlab.service_mesh.minishift_config: reads `config view`, changes only differences."""

from __future__ import annotations

import pytest
from ansible_collections.meshlab.service_mesh.plugins.modules import minishift_config
from vm_fakes import FakeTool

EXE = "/usr/local/bin/minishift"
P = ("--profile", "lab")
VIEW = (
    "- cpus                               : 2\n"
    "- image-caching                      : true\n"
    "- insecure-registry                  : [172.30.0.0/16]\n"
    "- memory                             : 8GB\n"
    "- password                           : old-rhsm-secret\n"
    "- vm-driver                          : kvm\n"
)
MISSING_PROFILE = (
    "Profile 'lab' doesn't exist, Use 'minishift profile set lab' or 'minishift start --profile lab' to create\n"
)


def view_tool(**answers) -> FakeTool:
    table = {(*P, "config", "view"): (0, VIEW, "")}
    table.update(answers.pop("table", {}))
    return FakeTool(table)


def ok(text: str = "") -> tuple[int, str, str]:
    return (0, text, "")


def test_no_difference_changes_nothing(run_module) -> None:
    tool = view_tool()
    settings = {"cpus": 2, "memory": "8GB", "image-caching": True, "insecure-registry": ["172.30.0.0/16"]}
    run = run_module(minishift_config.main, {"profile": "lab", "settings": settings}, tool)
    assert not run.failed
    assert run.result["changed"] is False
    assert run.result["changed_settings"] == {}
    assert run.result["commands"] == []
    assert tool.calls == [[EXE, *P, "config", "view"]]


def test_sets_and_unsets_only_differences(run_module) -> None:
    tool = view_tool(
        table={
            (*P, "config", "set", "cpus", "4"): ok(
                "No Minishift instance exists. New 'cpus' setting will be applied\n"
            ),
            (*P, "config", "set", "openshift-version", "v3.11.0"): ok(),
            (*P, "config", "unset", "image-caching"): ok("Property name 'image-caching' successfully unset\n"),
        }
    )
    settings = {
        "cpus": 4,
        "memory": "8GB",
        "openshift-version": "v3.11.0",
        "image-caching": None,
        "registry-mirror": None,
    }
    run = run_module(minishift_config.main, {"profile": "lab", "settings": settings}, tool)
    result = run.result
    assert not run.failed
    assert result["changed"] is True
    assert tool.changing_calls() == [
        [EXE, *P, "config", "set", "cpus", "4"],
        [EXE, *P, "config", "set", "openshift-version", "v3.11.0"],
        [EXE, *P, "config", "unset", "image-caching"],
    ]
    assert result["commands"] == tool.changing_calls()
    assert result["changed_settings"] == {"cpus": "4", "openshift-version": "v3.11.0", "image-caching": None}
    assert result["config"]["cpus"] == "4"
    assert "image-caching" not in result["config"]
    assert result["messages"] == [
        "No Minishift instance exists. New 'cpus' setting will be applied",
        "Property name 'image-caching' successfully unset",
    ]
    assert result["profile"] == "lab"
    assert result["profile_created"] is False
    assert "diff" not in result


def test_check_mode_runs_no_set(run_module) -> None:
    tool = view_tool()
    args = {"profile": "lab", "settings": {"cpus": 4, "image-caching": None}}
    run = run_module(minishift_config.main, args, tool, check_mode=True)
    result = run.result
    assert not run.failed
    assert result["changed"] is True
    assert tool.changing_calls() == []
    assert tool.calls == [[EXE, *P, "config", "view"]]
    assert result["commands"] == [
        [EXE, *P, "config", "set", "cpus", "4"],
        [EXE, *P, "config", "unset", "image-caching"],
    ]
    assert result["changed_settings"] == {"cpus": "4", "image-caching": None}


def test_diff_shows_whole_config_with_secrets_redacted(run_module) -> None:
    tool = view_tool(table={(*P, "config", "set", "cpus", "4"): ok()})
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"cpus": 4}}, tool, diff=True)
    diff = run.result["diff"]
    assert diff["before"]["cpus"] == "2"
    assert diff["after"]["cpus"] == "4"
    assert diff["before"]["password"] == "********"
    assert diff["after"]["password"] == "********"
    assert list(diff["before"]) == sorted(diff["before"])
    assert "old-rhsm-secret" not in run.stdout


def test_current_secret_never_shown(run_module) -> None:
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {}}, view_tool())
    assert run.result["config"]["password"] == "********"
    assert "old-rhsm-secret" not in run.stdout


def test_secret_settings_value_reaches_minishift_only(run_module) -> None:
    tool = view_tool(
        table={
            (*P, "config", "set", "password", "n3w-rhsm-secret"): ok(),
            (*P, "config", "set", "username", "alice"): ok(),
        }
    )
    args = {"profile": "lab", "settings": {"username": "alice"}, "secret_settings": {"password": "n3w-rhsm-secret"}}
    run = run_module(minishift_config.main, args, tool, diff=True)
    result = run.result
    assert not run.failed
    assert tool.ran(*P, "config", "set", "password", "n3w-rhsm-secret")
    assert "n3w-rhsm-secret" not in run.stdout
    assert not any("n3w-rhsm-secret" in message for message in run.logged)
    assert result["changed_settings"] == {"username": "alice", "password": "********"}
    assert [EXE, *P, "config", "set", "password", "********"] in result["commands"]
    assert result["diff"]["after"]["password"] == "******** (changed)"
    assert "secret_settings" not in run.warnings


def test_secret_in_settings_is_redacted_with_a_warning(run_module) -> None:
    tool = view_tool(table={(*P, "config", "set", "password", "n3w-rhsm-secret"): ok()})
    args = {"profile": "lab", "settings": {"password": "n3w-rhsm-secret"}}
    run = run_module(minishift_config.main, args, tool)
    assert not run.failed
    assert "n3w-rhsm-secret" not in run.stdout
    assert run.result["changed_settings"] == {"password": "********"}
    assert "pass them in secret_settings instead" in run.warnings


def test_custom_no_log_keys(run_module) -> None:
    tool = view_tool(table={(*P, "config", "set", "http-proxy", "http://u:pw@proxy:3128"): ok()})
    args = {"profile": "lab", "settings": {"http-proxy": "http://u:pw@proxy:3128"}, "no_log_keys": ["http-proxy"]}
    run = run_module(minishift_config.main, args, tool)
    assert run.result["changed_settings"] == {"http-proxy": "********"}
    # password is no longer in no_log_keys: its current value is shown as it is.
    assert run.result["config"]["password"] == "old-rhsm-secret"


def test_missing_profile_is_created_then_configured(run_module) -> None:
    tool = FakeTool(
        {
            (*P, "config", "view"): (1, "", MISSING_PROFILE),
            ("profile", "set", "lab"): ok("Profile 'lab' set as active profile.\n"),
            (*P, "config", "set", "cpus", "4"): ok(),
        }
    )
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"cpus": 4, "memory": None}}, tool)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.result["profile_created"] is True
    assert [call[1:] for call in tool.calls] == [
        [*P, "config", "view"],
        ["profile", "set", "lab"],
        [*P, "config", "set", "cpus", "4"],
    ]
    assert run.result["config"] == {"cpus": "4"}


def test_missing_profile_in_check_mode(run_module) -> None:
    tool = FakeTool({(*P, "config", "view"): (1, "", MISSING_PROFILE)})
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"cpus": 4}}, tool, check_mode=True)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.result["profile_created"] is True
    assert len(tool.calls) == 1
    assert run.result["commands"][0] == [EXE, "profile", "set", "lab"]


def test_missing_profile_with_nothing_to_set(run_module) -> None:
    tool = FakeTool({(*P, "config", "view"): (1, "", MISSING_PROFILE)})
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"cpus": None}}, tool)
    assert not run.failed
    assert run.result["changed"] is False
    assert run.result["profile_created"] is False
    assert len(tool.calls) == 1


def test_missing_profile_not_created_when_told_not_to(run_module) -> None:
    tool = FakeTool({(*P, "config", "view"): (1, "", MISSING_PROFILE)})
    args = {"profile": "lab", "settings": {"cpus": 4}, "create_profile": False}
    run = run_module(minishift_config.main, args, tool)
    assert run.failed
    assert "does not exist" in run.result["msg"]
    assert len(tool.calls) == 1


def test_profile_set_failure(run_module) -> None:
    tool = FakeTool(
        {
            (*P, "config", "view"): (1, "", MISSING_PROFILE),
            ("profile", "set", "lab"): (1, "", "Error creating profile\n"),
        }
    )
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"cpus": 4}}, tool)
    assert run.failed
    assert "Error creating profile" in run.result["msg"]


def test_set_failure_stops_with_stderr(run_module) -> None:
    tool = view_tool(table={(*P, "config", "set", "cpus", "0"): (1, "", "[cpus must be greater than 0]\n")})
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"cpus": 0, "memory": "4GB"}}, tool)
    assert run.failed
    assert "minishift config set cpus failed" in run.result["msg"]
    assert "cpus must be greater than 0" in run.result["msg"]
    assert not tool.ran(*P, "config", "set", "memory", "4GB")


def test_unset_error_printed_with_exit_zero_fails(run_module) -> None:
    tool = view_tool(table={(*P, "config", "unset", "vm-driver"): ok("Cannot find property name vm-driver\n")})
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"vm-driver": None}}, tool)
    assert run.failed
    assert "Cannot find property name" in run.result["msg"]


def test_unset_failure_exit_code(run_module) -> None:
    tool = view_tool(table={(*P, "config", "unset", "vm-driver"): (1, "", "boom\n")})
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"vm-driver": None}}, tool)
    assert run.failed
    assert "boom" in run.result["msg"]


def test_view_failure_does_not_return_stdout(run_module) -> None:
    tool = FakeTool({(*P, "config", "view"): (1, "- password : partial-secret\n", "Error reading config\n")})
    run = run_module(minishift_config.main, {"profile": "lab", "settings": {"cpus": 4}}, tool)
    assert run.failed
    assert "Error reading config" in run.result["msg"]
    assert "partial-secret" not in run.stdout


def test_view_garbage_fails(run_module) -> None:
    tool = FakeTool({("config", "view"): (0, "not a config\n", "")})
    run = run_module(minishift_config.main, {"settings": {"cpus": 4}}, tool)
    assert run.failed
    assert "no '- key : value' line" in run.result["msg"]


def test_without_profile_uses_active_profile(run_module) -> None:
    tool = FakeTool({("config", "view"): ok(""), ("config", "set", "cpus", "4"): ok()})
    run = run_module(minishift_config.main, {"settings": {"cpus": 4}}, tool)
    assert not run.failed
    assert run.result["profile"] is None
    assert tool.calls[-1] == [EXE, "config", "set", "cpus", "4"]


def test_list_is_set_comma_separated(run_module) -> None:
    tool = view_tool(table={(*P, "config", "set", "insecure-registry", "172.30.0.0/16,10.0.0.0/8"): ok()})
    args = {"profile": "lab", "settings": {"insecure-registry": ["172.30.0.0/16", "10.0.0.0/8"]}}
    run = run_module(minishift_config.main, args, tool)
    assert not run.failed
    assert run.result["changed"] is True


def test_value_starting_with_dash_ends_flags(run_module) -> None:
    tool = view_tool(table={(*P, "config", "set", "--", "extra-clusterup-flags", "--loglevel=2"): ok()})
    args = {"profile": "lab", "settings": {"extra-clusterup-flags": "--loglevel=2"}}
    run = run_module(minishift_config.main, args, tool)
    assert not run.failed


@pytest.mark.parametrize("key", ["addons", "cache-images"])
def test_keys_view_never_shows_are_refused(run_module, key: str) -> None:
    tool = FakeTool({})
    run = run_module(minishift_config.main, {"settings": {key: ["anyuid"]}}, tool)
    assert run.failed
    assert key in run.result["msg"]
    assert tool.calls == []


@pytest.mark.parametrize("key", ["", "two words", "--profile"])
def test_invalid_setting_names_are_refused(run_module, key: str) -> None:
    tool = FakeTool({})
    run = run_module(minishift_config.main, {"settings": {key: "x"}}, tool)
    assert run.failed
    assert "Invalid setting name" in run.result["msg"]
    assert tool.calls == []


def test_key_in_settings_and_secret_settings_is_refused(run_module) -> None:
    args = {"settings": {"password": "first-pw"}, "secret_settings": {"password": "second-pw"}}
    run = run_module(minishift_config.main, args, FakeTool({}))
    assert run.failed
    assert "both settings and secret_settings" in run.result["msg"]


def test_invalid_profile_is_refused(run_module) -> None:
    tool = FakeTool({})
    run = run_module(minishift_config.main, {"profile": "lab_1", "settings": {"cpus": 4}}, tool)
    assert run.failed
    assert tool.calls == []
