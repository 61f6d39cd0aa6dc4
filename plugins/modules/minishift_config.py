#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: minishift_config
short_description: Set and unset Minishift configuration properties
version_added: 0.1.0
description:
  - Reads C(minishift [--profile PROFILE] config view), compares it with O(settings) and
    O(secret_settings), and runs C(minishift config set KEY VALUE) or C(minishift config unset KEY)
    only for the properties that differ.
  - Properties not named in O(settings) or O(secret_settings) are left alone.
  - Values are compared as Minishift prints them; booleans by meaning (a YAML V(true) matches C(true), C(True) or C(1)),
    lists also in Minishift's C([a b]) rendering. Lists are set comma-separated.
  - When O(profile) names a profile that does not exist yet, Minishift refuses C(--profile) for
    C(config); with O(create_profile) the module creates it with C(minishift profile set PROFILE)
    first (which also makes it Minishift's active profile).
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  executable:
    description:
      - The C(minishift) command, as a name looked up on E(PATH) or as a path.
    type: path
    default: minishift
  profile:
    description:
      - Minishift profile whose configuration is managed, passed as the global flag C(--profile).
      - Letters, digits and C(-), not starting with C(-) (Minishift's own rule).
      - Without it Minishift uses its active profile.
    type: str
  settings:
    description:
      - Properties to manage, each name mapped to its value. A null value means the property must not be set.
      - Booleans are set as C(true)/C(false), numbers as written, lists joined with commas.
      - C(addons) and C(cache-images) are refused; C(minishift config view) never shows them
        (use C(minishift addons) and C(minishift image cache-config)).
    type: dict
    default: {}
  secret_settings:
    description:
      - Like O(settings), for secret values (such as C(password)). The option is C(no_log), so
        the values never reach logs, results or diffs.
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
    default: [password]
  create_profile:
    description:
      - Create O(profile) with C(minishift profile set) when it does not exist and a property is to be set.
      - With V(false) the module fails instead.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs only C(config view); reports what would be set, unset or created.
  diff_mode:
    support: full
    details: The whole configuration before and after, secrets shown as C(********).
  platform:
    platforms: posix
notes:
  - C(minishift config set) passes the value on its command line, where other local users can see it
    for the moment the command runs.
  - Older Minishift releases print some C(config unset) errors to standard output with exit code 0;
    the module recognises C(Cannot find property name) and fails.
seealso:
  - module: meshlab.service_mesh.minishift_status
  - module: meshlab.service_mesh.crc_config
"""

EXAMPLES = r"""
- name: Minishift profile meshlab has the lab's settings
  meshlab.service_mesh.minishift_config:
    profile: meshlab
    settings:
      cpus: 4
      memory: 8GB
      vm-driver: kvm
      openshift-version: v3.11.0
      skip-check-openshift-release: true
      insecure-registry: [172.30.0.0/16]
      image-caching: null

- name: Red Hat subscription credentials are set without showing the password
  meshlab.service_mesh.minishift_config:
    settings:
      username: "{{ rhsm_user }}"
    secret_settings:
      password: "{{ rhsm_password }}"
"""

RETURN = r"""
changed_settings:
  description:
    - The properties that were (in check mode, would be) changed, with their new value as given to
      C(config set); null for an unset. Secret values are C(********).
  returned: success
  type: dict
  sample: {cpus: "4", image-caching: null, password: "********"}
config:
  description:
    - Every property C(config view) shows after the run (in check mode, would show), as strings;
      secret values are C(********).
  returned: success
  type: dict
  sample: {cpus: "4", memory: 8GB, vm-driver: kvm}
commands:
  description: The commands that changed (in check mode, would change) something, secret values as C(********).
  returned: success
  type: list
  elements: list
  sample: [[minishift, --profile, meshlab, config, set, cpus, "4"]]
messages:
  description: What Minishift printed while changing the configuration (for example that a restart is needed).
  returned: success
  type: list
  elements: str
  sample: ["No Minishift instance exists. New 'cpus' setting will be applied on next 'minishift start'"]
profile:
  description: The profile managed (O(profile)), or null for the active profile.
  returned: success
  type: str
  sample: meshlab
profile_created:
  description: Whether the profile was (in check mode, would be) created with C(minishift profile set).
  returned: success
  type: bool
  sample: false
diff:
  description: The configuration before and after, secrets as C(********); with C(--diff) only.
  returned: when diff mode is on
  type: dict
  sample: {before: {cpus: "2"}, after: {cpus: "4"}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_cli import (
    MINISHIFT_VIEW_EXCLUDED_KEYS,
    is_valid_minishift_profile,
    minishift_missing_profile,
    parse_config_view,
)
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_module import (
    ConfigCycle,
    command_failure,
    resolve_executable,
    wanted_settings,
)

DEFAULT_SECRET_KEYS = ["password"]


def unset_problem(key: str, out: str, err: str) -> str | None:
    """minishift config unset prints 'Cannot find property name KEY' to stdout and exits 0."""
    for text in (out, err):
        if "Cannot find property name" in text:
            return text.strip()
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "executable": {"type": "path", "default": "minishift"},
            "profile": {"type": "str"},
            "settings": {"type": "dict", "default": {}},
            "secret_settings": {"type": "dict", "default": {}, "no_log": True},
            "no_log_keys": {"type": "list", "elements": "str", "default": DEFAULT_SECRET_KEYS, "no_log": False},
            "create_profile": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    profile = module.params["profile"]
    if profile is not None and not is_valid_minishift_profile(profile):
        module.fail_json(
            msg=f"Invalid Minishift profile name {profile!r}: use letters, digits and '-', not starting with '-'."
        )
    wanted, secret_keys = wanted_settings(module, DEFAULT_SECRET_KEYS)
    refused = sorted(key for key in wanted if key in MINISHIFT_VIEW_EXCLUDED_KEYS)
    if refused:
        module.fail_json(
            msg=f"minishift config view never shows {', '.join(refused)}, so this module cannot manage "
            "them; use 'minishift addons' and 'minishift image cache-config'."
        )

    exe = resolve_executable(module, module.params["executable"], "minishift")
    prefix = [exe] + (["--profile", profile] if profile else [])
    cycle = ConfigCycle(module, "minishift", prefix, wanted, secret_keys)

    profile_missing = False
    current: dict[str, str] = {}
    rc, out, err = cycle.run(["config", "view"])
    if rc != 0:
        if profile and (minishift_missing_profile(err) or minishift_missing_profile(out)) == profile:
            profile_missing = True
        else:
            command_failure(module, "minishift config view", [*prefix, "config", "view"], (rc, out, err), False)
    else:
        try:
            current = parse_config_view(out)
        except ValueError as exc:
            module.fail_json(msg=str(exc), cmd=[*prefix, "config", "view"], rc=rc, stdout=out, stderr=err)

    to_set, to_unset = cycle.plan(current)
    profile_created = False
    if profile_missing and to_set:
        if not module.params["create_profile"]:
            module.fail_json(
                msg=f"Minishift profile {profile!r} does not exist (create_profile is false); "
                f"settings to apply: {', '.join(to_set)}"
            )
        profile_created = True
        argv = [exe, "profile", "set", profile]
        cycle.commands.append(argv)
        if not module.check_mode:
            rc, out, err = module.run_command(argv)
            if rc != 0:
                command_failure(module, f"minishift profile set {profile}", argv, (rc, out, err))
            cycle.messages.extend(line.strip() for line in out.splitlines() if line.strip())

    cycle.apply(to_set, to_unset, dry_run=module.check_mode, check_unset=unset_problem)
    module.exit_json(
        **cycle.result(
            current,
            to_set,
            to_unset,
            also_changed=profile_created,
            profile=profile,
            profile_created=profile_created,
        )
    )


if __name__ == "__main__":
    main()
