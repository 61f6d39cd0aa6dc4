"""Parsers of minishift/crc output, on the formats their sources print (see vm_cli's docstrings)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.meshlab.service_mesh.plugins.module_utils import vm_cli

# minishift cmd/minishift/cmd/status.go statusFormat, VM and OpenShift running.
MINISHIFT_RUNNING = (
    "Minishift:  Running\n"
    "Profile:    minishift\n"
    "OpenShift:  Running (openshift v3.11.0+1cd89d4-542)\n"
    "DiskUsage:  15% of 19G (Mounted On: /mnt/sda1)\n"
    "CacheUsage: 1.2 GB (used by oc binary, ISO or cached images)\n"
)
# VM up, `openshift version` failed: OpenShift reads Stopped.
MINISHIFT_OPENSHIFT_STOPPED = (
    "Minishift:  Running\n"
    "Profile:    lab\n"
    "OpenShift:  Stopped\n"
    "DiskUsage:  35% of 19G (Mounted On: /mnt/sda1)\n"
    "CacheUsage: 1.2 GB (used by oc binary, ISO or cached images)\n"
)
# VM stopped: disk usage unknown.
MINISHIFT_VM_STOPPED = (
    "Minishift:  Stopped\n"
    "Profile:    minishift\n"
    "OpenShift:  Stopped\n"
    "DiskUsage:  Unknown\n"
    "CacheUsage: 1.2 GB (used by oc binary, ISO or cached images)\n"
)
# statusFormatWithRegistration: note the tab after "RHSM:".
MINISHIFT_RHSM = (
    "Minishift:  Running\n"
    "Profile:    rhel\n"
    "OpenShift:  Running (openshift v3.11.43)\n"
    "DiskUsage:  9% of 39G (Mounted On: /mnt/vda1)\n"
    "CacheUsage: 498.1 MB (used by oc binary, ISO or cached images)\n"
    "RHSM: \t    Registered\n"
)
# minishift 1.0-1.6: no Profile or CacheUsage lines.
MINISHIFT_OLD = "Minishift:  Running\nOpenShift:  Running (openshift v3.6.0+c4dd4cf)\nDiskUsage:  11% of 17.9G\n"


class TestMinishiftStatus:
    def test_running(self) -> None:
        status = vm_cli.parse_minishift_status(MINISHIFT_RUNNING)
        assert status == {
            "exists": True,
            "vm_state": "Running",
            "openshift_state": "Running",
            "openshift_version": "v3.11.0+1cd89d4-542",
            "profile": "minishift",
            "disk_usage": "15% of 19G (Mounted On: /mnt/sda1)",
            "cache_usage": "1.2 GB",
            "rhsm": None,
            "running": True,
            "fields": {
                "Minishift": "Running",
                "Profile": "minishift",
                "OpenShift": "Running (openshift v3.11.0+1cd89d4-542)",
                "DiskUsage": "15% of 19G (Mounted On: /mnt/sda1)",
                "CacheUsage": "1.2 GB (used by oc binary, ISO or cached images)",
            },
        }

    def test_openshift_stopped_while_vm_runs(self) -> None:
        status = vm_cli.parse_minishift_status(MINISHIFT_OPENSHIFT_STOPPED)
        assert status["exists"] is True
        assert status["vm_state"] == "Running"
        assert status["openshift_state"] == "Stopped"
        assert status["openshift_version"] is None
        assert status["profile"] == "lab"
        assert status["running"] is False

    def test_vm_stopped(self) -> None:
        status = vm_cli.parse_minishift_status(MINISHIFT_VM_STOPPED)
        assert status["exists"] is True
        assert status["vm_state"] == "Stopped"
        assert status["openshift_state"] == "Stopped"
        assert status["disk_usage"] is None
        assert status["fields"]["DiskUsage"] == "Unknown"
        assert status["cache_usage"] == "1.2 GB"
        assert status["running"] is False

    @pytest.mark.parametrize("text", ["Does Not Exist\n", "Does Not Exist", "  Does Not Exist  \r\n", "does not exist"])
    def test_does_not_exist(self, text: str) -> None:
        status = vm_cli.parse_minishift_status(text)
        assert status["exists"] is False
        assert status["vm_state"] == "Does Not Exist"
        assert status["openshift_state"] is None
        assert status["openshift_version"] is None
        assert status["profile"] is None
        assert status["running"] is False
        assert status["fields"] == {}

    def test_does_not_exist_in_the_minishift_field(self) -> None:
        status = vm_cli.parse_minishift_status("Minishift:  Does Not Exist\nProfile:    lab\n")
        assert status["exists"] is False
        assert status["vm_state"] == "Does Not Exist"
        assert status["profile"] == "lab"

    def test_rhsm_line_with_tab(self) -> None:
        status = vm_cli.parse_minishift_status(MINISHIFT_RHSM)
        assert status["rhsm"] == "Registered"
        assert status["openshift_version"] == "v3.11.43"
        assert status["cache_usage"] == "498.1 MB"
        assert status["running"] is True

    def test_older_release_without_profile_or_cache(self) -> None:
        status = vm_cli.parse_minishift_status(MINISHIFT_OLD)
        assert status["exists"] is True
        assert status["profile"] is None
        assert status["cache_usage"] is None
        assert status["openshift_version"] == "v3.6.0+c4dd4cf"
        assert status["disk_usage"] == "11% of 17.9G"

    def test_unknown_lines_crlf_and_trailing_blanks(self) -> None:
        text = (
            "-- a notice minishift printed first\r\n"
            "E1203 12:00:01.000 1234 main.go:42] a log line\r\n"
            + MINISHIFT_RUNNING.replace("\n", "   \r\n")
            + "Addons:     anyuid, admin-user\r\n\r\n"
        )
        status = vm_cli.parse_minishift_status(text)
        assert status["vm_state"] == "Running"
        assert status["openshift_version"] == "v3.11.0+1cd89d4-542"
        assert status["disk_usage"] == "15% of 19G (Mounted On: /mnt/sda1)"
        assert status["fields"]["Addons"] == "anyuid, admin-user"
        assert "E1203 12" not in status["fields"]
        assert status["running"] is True

    def test_first_occurrence_of_a_key_wins(self) -> None:
        status = vm_cli.parse_minishift_status("Minishift:  Running\nMinishift:  Stopped\n")
        assert status["vm_state"] == "Running"

    def test_openshift_running_without_version(self) -> None:
        status = vm_cli.parse_minishift_status("Minishift:  Running\nOpenShift:  Running\n")
        assert status["openshift_state"] == "Running"
        assert status["openshift_version"] is None

    def test_openshift_detail_without_v_word(self) -> None:
        status = vm_cli.parse_minishift_status("Minishift:  Running\nOpenShift:  Running (3.11)\n")
        assert status["openshift_version"] == "3.11"

    def test_openshift_field_that_is_not_a_state(self) -> None:
        status = vm_cli.parse_minishift_status("Minishift:  Running\nOpenShift:  ???\n")
        assert status["openshift_state"] == "???"
        assert status["running"] is False

    def test_empty_minishift_field_means_missing(self) -> None:
        status = vm_cli.parse_minishift_status("Minishift:\n")
        assert status["exists"] is False

    def test_cache_usage_unknown(self) -> None:
        status = vm_cli.parse_minishift_status("Minishift:  Stopped\nCacheUsage: Unknown\n")
        assert status["cache_usage"] is None

    @pytest.mark.parametrize("text", ["", "\n\n", "  \r\n"])
    def test_empty_output(self, text: str) -> None:
        with pytest.raises(ValueError, match="printed nothing"):
            vm_cli.parse_minishift_status(text)

    @pytest.mark.parametrize("text", ["garbage", "Error: something broke\n", '{"json": true}', "Profile: x\n"])
    def test_unrecognisable_output(self, text: str) -> None:
        with pytest.raises(ValueError, match="neither a 'Minishift:' line nor 'Does Not Exist'"):
            vm_cli.parse_minishift_status(text)

    def test_long_garbage_is_shortened_in_the_error(self) -> None:
        with pytest.raises(ValueError) as caught:
            vm_cli.parse_minishift_status("x" * 1000)
        assert len(str(caught.value)) < 300


class TestMinishiftProfile:
    @pytest.mark.parametrize("name", ["minishift", "lab", "lab-2", "A1", "1a", "a-"])
    def test_valid(self, name: str) -> None:
        assert vm_cli.is_valid_minishift_profile(name)

    @pytest.mark.parametrize("name", ["", "-lab", "lab_2", "lab 2", "lab.2", "lab/2", "lab\n", "é"])
    def test_invalid(self, name: str) -> None:
        assert not vm_cli.is_valid_minishift_profile(name)

    def test_missing_profile_message(self) -> None:
        err = (
            "Profile 'lab' doesn't exist, Use 'minishift profile set lab' or "
            "'minishift start --profile lab' to create\n"
        )
        assert vm_cli.minishift_missing_profile(err) == "lab"
        assert vm_cli.minishift_missing_profile("Error getting cluster status: boom") is None
        assert vm_cli.minishift_missing_profile("") is None


def crc_json(**fields: Any) -> str:
    """What crc's json encoder prints (two-space indent, trailing newline)."""
    return json.dumps(fields, indent=2) + "\n"


CRC_RUNNING = crc_json(
    success=True,
    crcStatus="Running",
    openshiftStatus="Running",
    openshiftVersion="4.17.10",
    diskUsage=21474836480,
    diskSize=32184815616,
    cacheUsage=29637402624,
    cacheDir="/home/user/.crc/cache",
    ramSize=10909646848,
    ramUsage=6781800448,
    preset="openshift",
)
CRC_MISSING = crc_json(success=False, error="Machine does not exist. Use 'crc start' to create it", preset="")


class TestCrcStatus:
    def test_running(self) -> None:
        status = vm_cli.parse_crc_status(CRC_RUNNING)
        fields = json.loads(CRC_RUNNING)
        assert status == {
            "exists": True,
            "crc_status": "Running",
            "openshift_status": "Running",
            "openshift_version": "4.17.10",
            "preset": "openshift",
            "disk_usage": 21474836480,
            "disk_size": 32184815616,
            "cache_usage": 29637402624,
            "cache_dir": "/home/user/.crc/cache",
            "ram_usage": 6781800448,
            "ram_size": 10909646848,
            "error": None,
            "running": True,
            "fields": fields,
        }

    @pytest.mark.parametrize("state", ["Degraded", "Starting", "Unreachable", "Stopping"])
    def test_vm_running_cluster_not_ready(self, state: str) -> None:
        status = vm_cli.parse_crc_status(
            crc_json(
                success=True, crcStatus="Running", openshiftStatus=state, openshiftVersion="4.17.10", preset="openshift"
            )
        )
        assert status["exists"] is True
        assert status["openshift_status"] == state
        assert status["running"] is False
        assert status["error"] is None

    def test_stopped_leaves_out_empty_fields(self) -> None:
        # crc's struct tags are omitempty: a stopped VM has no sizes or version.
        status = vm_cli.parse_crc_status(
            crc_json(success=True, crcStatus="Stopped", openshiftStatus="Stopped", cacheUsage=100, preset="openshift")
        )
        assert status["exists"] is True
        assert status["crc_status"] == "Stopped"
        assert status["openshift_status"] == "Stopped"
        assert status["openshift_version"] is None
        assert status["disk_usage"] is None
        assert status["ram_size"] is None
        assert status["cache_usage"] == 100
        assert status["running"] is False

    def test_missing_vm(self) -> None:
        status = vm_cli.parse_crc_status(CRC_MISSING)
        assert status["exists"] is False
        assert status["error"] == "Machine does not exist. Use 'crc start' to create it"
        assert status["crc_status"] is None
        assert status["preset"] is None
        assert status["running"] is False

    def test_missing_vm_message_inside_a_longer_error(self) -> None:
        status = vm_cli.parse_crc_status(
            crc_json(success=False, error="Cannot get status: machine does not exist", preset="")
        )
        assert status["exists"] is False

    def test_other_error(self) -> None:
        message = "crc does not seem to be setup correctly, have you run 'crc setup'?"
        status = vm_cli.parse_crc_status(crc_json(success=False, error=message, preset=""))
        assert status["exists"] is None
        assert status["error"] == message
        assert status["running"] is False

    def test_error_form_without_message(self) -> None:
        status = vm_cli.parse_crc_status(crc_json(success=False, preset=""))
        assert status["exists"] is None
        assert "without an error message" in status["error"]

    def test_old_release_without_success_key(self) -> None:
        # crc 1.x before the daemon: no "success", disk usage as text.
        status = vm_cli.parse_crc_status(
            crc_json(
                crcStatus="Running",
                openshiftStatus="Stopped",
                diskUsage="10GB of 20GB (Inside the CRC VM)",
                cacheUsage="10kB",
                cacheDir="/tmp/cache",
            )
        )
        assert status["exists"] is True
        assert status["disk_usage"] == "10GB of 20GB (Inside the CRC VM)"
        assert status["preset"] is None
        assert status["running"] is False

    def test_old_release_error_without_success_key(self) -> None:
        status = vm_cli.parse_crc_status(crc_json(error="Machine does not exist. Use 'crc start' to create it"))
        assert status["exists"] is False

    def test_no_vm_state_word(self) -> None:
        status = vm_cli.parse_crc_status(crc_json(success=True, crcStatus="Does Not Exist"))
        assert status["exists"] is False
        assert status["running"] is False

    def test_stray_lines_around_the_object(self) -> None:
        status = vm_cli.parse_crc_status("WARN a newer version is available\n" + CRC_RUNNING + "\n")
        assert status["running"] is True

    def test_crlf(self) -> None:
        assert vm_cli.parse_crc_status(CRC_RUNNING.replace("\n", "\r\n"))["running"] is True

    @pytest.mark.parametrize("text", ["", "   \n"])
    def test_empty(self, text: str) -> None:
        with pytest.raises(ValueError, match="printed nothing"):
            vm_cli.parse_crc_status(text)

    @pytest.mark.parametrize(
        "text", ["CRC VM:          Running\nOpenShift:       Running (v4.17.10)\n", "{not json}", "{", "} {"]
    )
    def test_not_json(self, text: str) -> None:
        with pytest.raises(ValueError, match="did not print JSON"):
            vm_cli.parse_crc_status(text)

    @pytest.mark.parametrize("text", ["[1, 2]", '"Running"', "42"])
    def test_json_but_not_an_object(self, text: str) -> None:
        with pytest.raises(ValueError, match="not an object"):
            vm_cli.parse_crc_status(text)

    def test_success_without_state(self) -> None:
        with pytest.raises(ValueError, match="neither crcStatus nor an error"):
            vm_cli.parse_crc_status(crc_json(success=True, preset="openshift"))


# minishift: "- {{.ConfigKey | printf \"%-35s\"}}: {{.ConfigValue}}", keys sorted.
MINISHIFT_VIEW = (
    "- cpus                               : 4\n"
    "- insecure-registry                  : [172.30.0.0/16 192.168.0.0/16]\n"
    "- memory                             : 8GB\n"
    "- skip-check-openshift-release       : true\n"
    "- vm-driver                          : kvm\n"
)
# crc: "%-38s", values via AsString().
CRC_VIEW = (
    "- consent-telemetry                      : no\n"
    "- cpus                                   : 6\n"
    "- kubeadmin-password                     : s3cret pass\n"
    "- pull-secret-file                       : /home/user/My Secrets/pull-secret.json\n"
)


class TestConfigView:
    def test_empty(self) -> None:
        assert vm_cli.parse_config_view("") == {}
        assert vm_cli.parse_config_view("\n") == {}

    def test_minishift(self) -> None:
        assert vm_cli.parse_config_view(MINISHIFT_VIEW) == {
            "cpus": "4",
            "insecure-registry": "[172.30.0.0/16 192.168.0.0/16]",
            "memory": "8GB",
            "skip-check-openshift-release": "true",
            "vm-driver": "kvm",
        }

    def test_crc_values_with_spaces(self) -> None:
        assert vm_cli.parse_config_view(CRC_VIEW) == {
            "consent-telemetry": "no",
            "cpus": "6",
            "kubeadmin-password": "s3cret pass",
            "pull-secret-file": "/home/user/My Secrets/pull-secret.json",
        }

    def test_other_paddings(self) -> None:
        # minishift's older %-21s, a key longer than the padding, and the unpadded --format.
        text = "- ReminderWaitPeriodInHours: 99\n- cpus                 : 4\n- v: 5\n"
        assert vm_cli.parse_config_view(text) == {"ReminderWaitPeriodInHours": "99", "cpus": "4", "v": "5"}

    def test_empty_value_colon_in_value_crlf_trailing_blanks(self) -> None:
        text = "- http-proxy      : http://proxy.example:3128   \r\n- nameserver      : \r\n- no-proxy        :\r\n"
        assert vm_cli.parse_config_view(text) == {
            "http-proxy": "http://proxy.example:3128",
            "nameserver": "",
            "no-proxy": "",
        }

    def test_stray_lines_are_skipped(self) -> None:
        text = "WARNING: something\n" + MINISHIFT_VIEW
        assert vm_cli.parse_config_view(text)["cpus"] == "4"

    def test_garbage(self) -> None:
        with pytest.raises(ValueError, match="no '- key : value' line"):
            vm_cli.parse_config_view("Error: open /root/.crc/crc.json: permission denied\n")


class TestCrcConfigGet:
    def test_set(self) -> None:
        assert vm_cli.parse_crc_config_get("cpus : 6\n", "cpus") == {"set": True, "value": "6", "default": None}

    def test_set_with_spaces(self) -> None:
        answer = vm_cli.parse_crc_config_get("kubeadmin-password : a b c\n", "kubeadmin-password")
        assert answer == {"set": True, "value": "a b c", "default": None}

    def test_set_to_empty(self) -> None:
        assert vm_cli.parse_crc_config_get("nameserver :\n", "nameserver")["value"] == ""

    def test_default_current_wording(self) -> None:
        text = "Configuration property 'cpus' is not set. Default value '4' is used\n"
        assert vm_cli.parse_crc_config_get(text, "cpus") == {"set": False, "value": None, "default": "4"}

    def test_default_older_wording_on_stderr(self) -> None:
        text = "\nERRO Configuration property 'memory' is not set. Default value is '9216'\n"
        assert vm_cli.parse_crc_config_get(text, "memory") == {"set": False, "value": None, "default": "9216"}

    def test_empty_default(self) -> None:
        text = "Configuration property 'kubeadmin-password' is not set. Default value '' is used\n"
        answer = vm_cli.parse_crc_config_get(text, "kubeadmin-password")
        assert answer == {"set": False, "value": None, "default": ""}

    @pytest.mark.parametrize(
        "text", ["Configuration property 'cpu' does not exist\n", "configuration property 'cpu' does not exist"]
    )
    def test_unknown_property(self, text: str) -> None:
        with pytest.raises(ValueError, match="no configuration property 'cpu'"):
            vm_cli.parse_crc_config_get(text, "cpu")

    def test_neither(self) -> None:
        with pytest.raises(ValueError, match="neither a value nor a default"):
            vm_cli.parse_crc_config_get("something else\n", "cpus")

    def test_other_key_is_not_taken(self) -> None:
        with pytest.raises(ValueError):
            vm_cli.parse_crc_config_get("cpus-extra : 6\n", "cpus")


class TestValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (True, "true"),
            (False, "false"),
            (4, "4"),
            (4.0, "4"),
            (1.5, "1.5"),
            ("8GB", "8GB"),
            (["a", "b"], "a,b"),
            ((1, True), "1,true"),
            ("", ""),
        ],
    )
    def test_to_config_string(self, value: Any, expected: str) -> None:
        assert vm_cli.to_config_string(value) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("true", True), ("True", True), ("1", True), ("f", False), ("FALSE", False), ("yes", None)],
    )
    def test_parse_go_bool(self, text: str, expected: bool | None) -> None:
        assert vm_cli.parse_go_bool(text) is expected

    @pytest.mark.parametrize(
        ("current", "wanted", "matches"),
        [
            ("true", True, True),
            ("True", True, True),
            ("false", True, False),
            ("yes", True, False),
            ("4", 4, True),
            ("4", "4", True),
            ("04", 4, False),
            ("[a b]", ["a", "b"], True),
            ("a,b", ["a", "b"], True),
            ("[b a]", ["a", "b"], False),
            ("kvm", "kvm", True),
            ("Kvm", "kvm", False),
        ],
    )
    def test_config_value_matches(self, current: str, wanted: Any, matches: bool) -> None:
        assert vm_cli.config_value_matches(current, wanted) is matches


class TestConfigChanges:
    def test_set_new_and_different(self) -> None:
        to_set, to_unset = vm_cli.config_changes({"cpus": "2"}, {"cpus": 4, "memory": "8GB"})
        assert to_set == {"cpus": "4", "memory": "8GB"}
        assert to_unset == []

    def test_unset_present_only(self) -> None:
        to_set, to_unset = vm_cli.config_changes({"cpus": "2"}, {"cpus": None, "memory": None})
        assert to_set == {}
        assert to_unset == ["cpus"]

    def test_no_op(self) -> None:
        current = {"cpus": "4", "memory": "8GB", "skip-check-openshift-release": "true", "insecure-registry": "[a b]"}
        wanted = {"cpus": 4, "memory": "8GB", "skip-check-openshift-release": True, "insecure-registry": ["a", "b"]}
        assert vm_cli.config_changes(current, wanted) == ({}, [])

    def test_bool(self) -> None:
        assert vm_cli.config_changes({"enable-cluster-monitoring": "false"}, {"enable-cluster-monitoring": True}) == (
            {"enable-cluster-monitoring": "true"},
            [],
        )
        assert vm_cli.config_changes({}, {"image-caching": False}) == ({"image-caching": "false"}, [])

    def test_int(self) -> None:
        assert vm_cli.config_changes({"memory": "9216"}, {"memory": 16384}) == ({"memory": "16384"}, [])
        assert vm_cli.config_changes({"memory": "16384"}, {"memory": 16384}) == ({}, [])

    def test_unmanaged_keys_are_left_alone(self) -> None:
        assert vm_cli.config_changes({"cpus": "4", "vm-driver": "kvm"}, {}) == ({}, [])

    def test_order_follows_wanted(self) -> None:
        to_set, to_unset = vm_cli.config_changes({"a": "1", "b": "1"}, {"z": 1, "b": None, "y": 2, "a": None})
        assert list(to_set) == ["z", "y"]
        assert to_unset == ["b", "a"]

    def test_empty_string_is_a_value_not_an_unset(self) -> None:
        assert vm_cli.config_changes({}, {"nameserver": ""}) == ({"nameserver": ""}, [])
        assert vm_cli.config_changes({"nameserver": ""}, {"nameserver": ""}) == ({}, [])
