#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: crc_config
short_description: Set and unset OpenShift Local (CRC) configuration properties
version_added: 0.1.0
description:
  - Reads C(crc config view), compares it with O(settings) and O(secret_settings), and runs
    C(crc config set KEY VALUE) or C(crc config unset KEY) only for the properties that differ.
  - C(crc config view) lists only properties set to something other than their default, and
    crc turns C(config set) to the default value into an unset. For a managed property the view
    does not list, the module asks C(crc config get KEY); when crc's default already is the wanted
    value nothing is changed, so the task stays idempotent.
  - Properties not named in O(settings) or O(secret_settings) are left alone.
  - Values are compared as crc prints them; booleans by meaning (a YAML V(true) matches C(true), C(True) or C(1)).
    Booleans given for C(consent-telemetry) are set as C(yes)/C(no), the values crc accepts there.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  executable:
    description:
      - The C(crc) command, as a name looked up on E(PATH) or as a path.
    type: path
    default: crc
  settings:
    description:
      - Properties to manage, each name mapped to its value, for example C(preset), C(cpus), C(memory) (MiB),
        C(disk-size) (GiB), C(pull-secret-file), C(consent-telemetry), C(enable-cluster-monitoring),
        C(network-mode). A null value means the property must not be set (crc's default applies).
    type: dict
    default: {}
  secret_settings:
    description:
      - Like O(settings), for secret values (such as C(kubeadmin-password)). The option is C(no_log),
        so the values never reach logs, results or diffs.
      - A key may be in O(settings) or in O(secret_settings), not both.
    type: dict
    default: {}
  no_log_keys:
    description:
      - Properties whose values are secrets wherever they appear (current configuration, O(settings),
        diff, RV(changed_settings)); they are shown as C(********).
      - Keys of O(secret_settings) are always treated so.
    type: list
    elements: str
    default: [kubeadmin-password, developer-password]
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs only C(config view) and C(config get); reports what would be set or unset.
  diff_mode:
    support: full
    details: The configuration before and after, secrets shown as C(********).
  platform:
    platforms: posix
notes:
  - C(crc config set) passes the value on its command line, where other local users can see it
    for the moment the command runs.
  - Most properties apply at the next C(crc start); changing C(preset) needs C(crc delete) and
    C(crc setup). The module only sets them; RV(messages) holds what crc said.
seealso:
  - module: meshlab.service_mesh.crc_status
  - module: meshlab.service_mesh.minishift_config
"""

EXAMPLES = r"""
- name: OpenShift Local has the lab's settings
  meshlab.service_mesh.crc_config:
    settings:
      preset: openshift
      cpus: 6
      memory: 16384
      disk-size: 60
      pull-secret-file: "{{ ansible_facts['env']['HOME'] }}/.crc/pull-secret.json"
      consent-telemetry: "no"
      enable-cluster-monitoring: false
    secret_settings:
      kubeadmin-password: "{{ lab_kubeadmin_password }}"

- name: The kubeadmin password goes back to a generated one
  meshlab.service_mesh.crc_config:
    settings:
      kubeadmin-password: null
"""

RETURN = r"""
changed_settings:
  description:
    - The properties that were (in check mode, would be) changed, with their new value as given to
      C(config set); null for an unset. Secret values are C(********).
  returned: success
  type: dict
  sample: {cpus: "6", kubeadmin-password: "********"}
config:
  description:
    - The properties in effect after the run (in check mode, would be), as strings; those
      C(crc config view) lists, plus managed properties whose crc default is the wanted value.
      Secret values are C(********).
  returned: success
  type: dict
  sample: {cpus: "6", memory: "16384", preset: openshift}
commands:
  description: The commands that changed (in check mode, would change) something, secret values as C(********).
  returned: success
  type: list
  elements: list
  sample: [[crc, config, set, cpus, "6"]]
messages:
  description: What crc printed while changing the configuration (for example that a restart is needed).
  returned: success
  type: list
  elements: str
  sample: ["Changes to configuration property 'cpus' are only applied when the CRC instance is started."]
diff:
  description: The configuration before and after, secrets as C(********); with C(--diff) only.
  returned: when diff mode is on
  type: dict
  sample: {before: {cpus: "4"}, after: {cpus: "6"}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_cli import (
    config_value_matches,
    parse_config_view,
    parse_crc_config_get,
)
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_module import (
    ConfigCycle,
    command_failure,
    resolve_executable,
    wanted_settings,
)

DEFAULT_SECRET_KEYS = ["kubeadmin-password", "developer-password"]
# crc validates these as yes/no, not as booleans.
YES_NO_KEYS = ("consent-telemetry",)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "executable": {"type": "path", "default": "crc"},
            "settings": {"type": "dict", "default": {}},
            "secret_settings": {"type": "dict", "default": {}, "no_log": True},
            "no_log_keys": {"type": "list", "elements": "str", "default": DEFAULT_SECRET_KEYS, "no_log": False},
        },
        supports_check_mode=True,
    )
    wanted, secret_keys = wanted_settings(module, DEFAULT_SECRET_KEYS)
    for key in YES_NO_KEYS:
        if isinstance(wanted.get(key), bool):
            wanted[key] = "yes" if wanted[key] else "no"

    exe = resolve_executable(module, module.params["executable"], "crc")
    cycle = ConfigCycle(module, "crc", [exe], wanted, secret_keys)

    rc, out, err = cycle.run(["config", "view"])
    if rc != 0:
        command_failure(module, "crc config view", [exe, "config", "view"], (rc, out, err), show_stdout=False)
    current: dict[str, str] = {}
    try:
        current = parse_config_view(out)
    except ValueError as exc:
        module.fail_json(msg=str(exc), cmd=[exe, "config", "view"], rc=rc, stdout=out, stderr=err)

    # Managed properties the view does not list: set but hidden (secrets in some releases),
    # or at their default, which may already be the wanted value.
    for key, value in wanted.items():
        if key in current:
            continue
        rc, out, err = cycle.run(["config", "get", key])
        try:
            answer = parse_crc_config_get(out + "\n" + err, key)
        except ValueError as exc:
            module.fail_json(msg=f"crc config get {key}: {exc}", cmd=[exe, "config", "get", key], rc=rc)
        if answer["set"]:
            current[key] = answer["value"]
        elif value is not None and answer["default"] is not None and config_value_matches(answer["default"], value):
            current[key] = answer["default"]

    to_set, to_unset = cycle.plan(current)
    cycle.apply(to_set, to_unset, dry_run=module.check_mode)
    module.exit_json(**cycle.result(current, to_set, to_unset))


if __name__ == "__main__":
    main()
