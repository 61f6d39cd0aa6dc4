"""meshlab.service_mesh.crc_config: `config view`, `config get` for unlisted keys, then set/unset."""

from __future__ import annotations

from ansible_collections.meshlab.service_mesh.plugins.modules import crc_config
from vm_fakes import FakeTool

EXE = "/usr/local/bin/crc"
VIEW = (
    "- consent-telemetry                      : no\n"
    "- cpus                                   : 6\n"
    "- kubeadmin-password                     : 0ld-kubeadmin-pw\n"
    "- pull-secret-file                       : /home/user/My Secrets/pull-secret.json\n"
)


def ok(text: str = "") -> tuple[int, str, str]:
    return (0, text, "")


def default(key: str, value: str) -> tuple[int, str, str]:
    return ok(f"Configuration property '{key}' is not set. Default value '{value}' is used\n")


def tool_with(**table) -> FakeTool:
    answers = {("config", "view"): ok(VIEW)}
    answers.update(table.get("table", {}))
    return FakeTool(answers)


def test_no_difference_changes_nothing(run_module) -> None:
    tool = tool_with()
    settings = {"cpus": 6, "consent-telemetry": "no", "pull-secret-file": "/home/user/My Secrets/pull-secret.json"}
    run = run_module(crc_config.main, {"settings": settings}, tool)
    assert not run.failed
    assert run.result["changed"] is False
    assert tool.calls == [[EXE, "config", "view"]]


def test_default_already_wanted_is_no_change(run_module) -> None:
    # crc turns `config set memory <default>` into an unset, so the view never lists it.
    tool = tool_with(table={("config", "get", "memory"): default("memory", "10752")})
    run = run_module(crc_config.main, {"settings": {"memory": 10752}}, tool)
    assert not run.failed
    assert run.result["changed"] is False
    assert run.result["config"]["memory"] == "10752"
    assert tool.changing_calls() == []


def test_default_differs_is_set(run_module) -> None:
    tool = tool_with(
        table={
            ("config", "get", "memory"): default("memory", "10752"),
            ("config", "set", "memory", "16384"): ok(
                "Changes to configuration property 'memory' are only applied when the CRC instance is started.\n"
            ),
        }
    )
    run = run_module(crc_config.main, {"settings": {"memory": 16384}}, tool)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.result["changed_settings"] == {"memory": "16384"}
    assert run.result["messages"] == [
        "Changes to configuration property 'memory' are only applied when the CRC instance is started."
    ]


def test_set_and_unset(run_module) -> None:
    tool = tool_with(
        table={
            ("config", "set", "cpus", "8"): ok(),
            ("config", "unset", "consent-telemetry"): ok(
                "Successfully unset configuration property 'consent-telemetry'\n"
            ),
            ("config", "get", "enable-cluster-monitoring"): default("enable-cluster-monitoring", "false"),
            ("config", "set", "enable-cluster-monitoring", "true"): ok(),
        }
    )
    settings = {"cpus": 8, "consent-telemetry": None, "enable-cluster-monitoring": True}
    run = run_module(crc_config.main, {"settings": settings}, tool)
    assert not run.failed
    assert run.result["changed"] is True
    assert tool.changing_calls() == [
        [EXE, "config", "set", "cpus", "8"],
        [EXE, "config", "set", "enable-cluster-monitoring", "true"],
        [EXE, "config", "unset", "consent-telemetry"],
    ]
    assert run.result["changed_settings"] == {
        "cpus": "8",
        "enable-cluster-monitoring": "true",
        "consent-telemetry": None,
    }


def test_unset_of_a_key_not_set_is_no_change(run_module) -> None:
    tool = tool_with(table={("config", "get", "nameserver"): default("nameserver", "")})
    run = run_module(crc_config.main, {"settings": {"nameserver": None}}, tool)
    assert not run.failed
    assert run.result["changed"] is False


def test_hidden_set_secret_is_unset(run_module) -> None:
    # Releases that keep secrets in the keyring leave them out of `config view`.
    tool = FakeTool(
        {
            ("config", "view"): ok("- cpus : 6\n"),
            ("config", "get", "kubeadmin-password"): ok("kubeadmin-password : hidden-pw\n"),
            ("config", "unset", "kubeadmin-password"): ok(),
        }
    )
    run = run_module(crc_config.main, {"settings": {"kubeadmin-password": None}}, tool, diff=True)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.result["diff"]["before"]["kubeadmin-password"] == "********"
    assert "kubeadmin-password" not in run.result["diff"]["after"]
    assert "hidden-pw" not in run.stdout


def test_consent_telemetry_boolean_becomes_yes_no(run_module) -> None:
    tool = tool_with(table={("config", "set", "consent-telemetry", "yes"): ok()})
    run = run_module(crc_config.main, {"settings": {"consent-telemetry": True}}, tool)
    assert not run.failed
    assert tool.ran("config", "set", "consent-telemetry", "yes")
    run = run_module(crc_config.main, {"settings": {"consent-telemetry": False}}, tool_with())
    assert run.result["changed"] is False


def test_check_mode_reads_but_runs_no_set(run_module) -> None:
    tool = tool_with(table={("config", "get", "memory"): default("memory", "10752")})
    settings = {"cpus": 8, "memory": 16384, "consent-telemetry": None}
    run = run_module(crc_config.main, {"settings": settings}, tool, check_mode=True)
    assert not run.failed
    assert run.result["changed"] is True
    assert tool.changing_calls() == []
    assert [call[1:] for call in tool.calls] == [["config", "view"], ["config", "get", "memory"]]
    assert run.result["commands"] == [
        [EXE, "config", "set", "cpus", "8"],
        [EXE, "config", "set", "memory", "16384"],
        [EXE, "config", "unset", "consent-telemetry"],
    ]


def test_kubeadmin_password_never_in_output(run_module) -> None:
    tool = tool_with(table={("config", "set", "kubeadmin-password", "N3w-kubeadmin-pw"): ok()})
    args = {"secret_settings": {"kubeadmin-password": "N3w-kubeadmin-pw"}}
    run = run_module(crc_config.main, args, tool, diff=True)
    result = run.result
    assert not run.failed
    assert result["changed"] is True
    assert tool.ran("config", "set", "kubeadmin-password", "N3w-kubeadmin-pw")
    for secret in ("N3w-kubeadmin-pw", "0ld-kubeadmin-pw"):
        assert secret not in run.stdout
        assert not any(secret in message for message in run.logged)
    assert result["changed_settings"] == {"kubeadmin-password": "********"}
    assert result["config"]["kubeadmin-password"] == "********"
    assert result["commands"] == [[EXE, "config", "set", "kubeadmin-password", "********"]]
    assert result["diff"]["before"]["kubeadmin-password"] == "********"
    assert result["diff"]["after"]["kubeadmin-password"] == "******** (changed)"


def test_kubeadmin_password_in_settings_is_redacted_by_default(run_module) -> None:
    tool = tool_with(table={("config", "set", "kubeadmin-password", "N3w-kubeadmin-pw"): ok()})
    run = run_module(crc_config.main, {"settings": {"kubeadmin-password": "N3w-kubeadmin-pw"}}, tool)
    assert not run.failed
    assert "N3w-kubeadmin-pw" not in run.stdout
    assert "0ld-kubeadmin-pw" not in run.stdout
    assert run.result["changed_settings"] == {"kubeadmin-password": "********"}
    assert "pass them in secret_settings instead" in run.warnings


def test_same_secret_is_no_change(run_module) -> None:
    run = run_module(crc_config.main, {"secret_settings": {"kubeadmin-password": "0ld-kubeadmin-pw"}}, tool_with())
    assert not run.failed
    assert run.result["changed"] is False
    assert "0ld-kubeadmin-pw" not in run.stdout


def test_unknown_property_fails_before_any_change(run_module) -> None:
    tool = tool_with(table={("config", "get", "cpu"): (1, "", "Configuration property 'cpu' does not exist\n")})
    run = run_module(crc_config.main, {"settings": {"cpus": 8, "cpu": 8}}, tool)
    assert run.failed
    assert "no configuration property 'cpu'" in run.result["msg"]
    assert tool.changing_calls() == []


def test_set_failure(run_module) -> None:
    message = "Value '1' for configuration property 'cpus' is invalid, reason: requires CPUs >= 4\n"
    tool = tool_with(table={("config", "set", "cpus", "1"): (1, "", message)})
    run = run_module(crc_config.main, {"settings": {"cpus": 1}}, tool)
    assert run.failed
    assert "requires CPUs >= 4" in run.result["msg"]
    assert run.result["cmd"] == [EXE, "config", "set", "cpus", "1"]


def test_secret_set_failure_does_not_leak(run_module) -> None:
    tool = tool_with(table={("config", "set", "kubeadmin-password", "bad pw"): (1, "", "invalid value\n")})
    run = run_module(crc_config.main, {"secret_settings": {"kubeadmin-password": "bad pw"}}, tool)
    assert run.failed
    assert "bad pw" not in run.stdout
    assert run.result["cmd"] == [EXE, "config", "set", "kubeadmin-password", "********"]


def test_unset_failure(run_module) -> None:
    tool = tool_with(table={("config", "unset", "cpus"): (1, "", "cannot write config\n")})
    run = run_module(crc_config.main, {"settings": {"cpus": None}}, tool)
    assert run.failed
    assert "cannot write config" in run.result["msg"]


def test_view_failure(run_module) -> None:
    tool = FakeTool({("config", "view"): (1, "- kubeadmin-password : leak\n", "permission denied\n")})
    run = run_module(crc_config.main, {"settings": {"cpus": 8}}, tool)
    assert run.failed
    assert "permission denied" in run.result["msg"]
    assert "leak" not in run.stdout


def test_empty_view_and_missing_executable(run_module) -> None:
    tool = FakeTool({("config", "view"): ok(""), ("config", "get", "cpus"): default("cpus", "4")})
    assert run_module(crc_config.main, {"settings": {"cpus": 4}}, tool).result["changed"] is False
    run = run_module(crc_config.main, {"settings": {"cpus": 4}}, FakeTool({}), on_path=())
    assert run.failed
    assert "crc executable 'crc' was not found" in run.result["msg"]


def test_empty_secret_does_not_mask_everything(run_module) -> None:
    tool = tool_with(table={("config", "set", "kubeadmin-password", ""): ok()})
    run = run_module(crc_config.main, {"settings": {"kubeadmin-password": ""}}, tool)
    assert not run.failed
    assert run.result["config"]["cpus"] == "6"
    assert run.result["changed_settings"] == {"kubeadmin-password": "********"}
