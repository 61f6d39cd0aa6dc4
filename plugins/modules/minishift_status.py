#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: minishift_status
short_description: Read the state of a Minishift VM and its OpenShift
version_added: 0.1.0
description:
  - Runs C(minishift [--profile PROFILE] status) and returns what it printed, parsed.
  - Reads only; never changes anything, so it reports C(changed=false) and runs in check mode too.
  - A VM that does not exist, and a profile that was never created, are answers
    (C(exists=false)), not failures.
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
      - Minishift profile to ask about, passed as the global flag C(--profile).
      - Letters, digits and C(-), not starting with C(-) (Minishift's own rule).
      - Without it Minishift answers for its active profile.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Minishift prints C(Does Not Exist) (exit code 0) for a VM that was never created, and
    C(Profile 'NAME' doesn't exist) (exit code 1) for an unknown profile; both give
    C(exists=false), the latter also C(profile_exists=false).
seealso:
  - module: meshlab.service_mesh.minishift_config
  - module: meshlab.service_mesh.crc_status
"""

EXAMPLES = r"""
- name: Minishift's state is read
  meshlab.service_mesh.minishift_status:
    profile: meshlab
  register: minishift

- name: OpenShift is started when it does not run
  ansible.builtin.command:
    argv: [minishift, --profile, meshlab, start]
  changed_when: true
  when: not minishift.running
"""

RETURN = r"""
exists:
  description: Whether the VM exists (false for C(Does Not Exist) and for an unknown profile).
  returned: success
  type: bool
  sample: true
vm_state:
  description:
    - The VM's state as Minishift names it (libmachine states such as C(Running), C(Stopped),
      C(Paused), C(Saved), C(Error)), or C(Does Not Exist).
  returned: success
  type: str
  sample: Running
openshift_state:
  description:
    - The state on the C(OpenShift:) line (before any parentheses), C(Running) or C(Stopped);
      OpenShift can be C(Stopped) while the VM runs.
    - null when the VM does not exist.
  returned: success
  type: str
  sample: Running
openshift_version:
  description:
    - OpenShift's version, the C(v...) word in the parentheses after C(Running) on the C(OpenShift:) line.
    - null when OpenShift does not run.
  returned: success
  type: str
  sample: v3.11.0+1cd89d4-542
profile:
  description: The profile Minishift answered for (its C(Profile:) line), else the profile asked for, else null.
  returned: success
  type: str
  sample: minishift
profile_exists:
  description: False when Minishift said the profile does not exist.
  returned: success
  type: bool
  sample: true
disk_usage:
  description: The C(DiskUsage:) line's value; null when Minishift printed C(Unknown) (VM not running) or none.
  returned: success
  type: str
  sample: "15% of 19G (Mounted On: /mnt/sda1)"
cache_usage:
  description: The C(CacheUsage:) value without the explanation in parentheses that follows it; null when absent.
  returned: success
  type: str
  sample: 1.2 GB
rhsm:
  description: The C(RHSM:) line's value (Red Hat subscription, RHEL-based ISOs only); null when absent.
  returned: success
  type: str
  sample: Not Registered
running:
  description: Whether both the VM and OpenShift run.
  returned: success
  type: bool
  sample: true
fields:
  description: Every line of the form C(Key:<blanks>value) that Minishift printed, keyed by C(Key), values trimmed.
  returned: success
  type: dict
  sample:
    Minishift: Running
    Profile: minishift
    OpenShift: Running (openshift v3.11.0+1cd89d4-542)
    DiskUsage: "15% of 19G (Mounted On: /mnt/sda1)"
    CacheUsage: 1.2 GB (used by oc binary, ISO or cached images)
cmd:
  description: The command that was run.
  returned: success
  type: list
  elements: str
  sample: [/usr/local/bin/minishift, --profile, meshlab, status]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_cli import (
    MINISHIFT_DOES_NOT_EXIST,
    is_valid_minishift_profile,
    minishift_missing_profile,
    parse_minishift_status,
)
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_module import (
    command_failure,
    resolve_executable,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "executable": {"type": "path", "default": "minishift"},
            "profile": {"type": "str"},
        },
        supports_check_mode=True,
    )
    profile = module.params["profile"]
    if profile is not None and not is_valid_minishift_profile(profile):
        module.fail_json(
            msg=f"Invalid Minishift profile name {profile!r}: use letters, digits and '-', not starting with '-'."
        )

    exe = resolve_executable(module, module.params["executable"], "minishift")
    argv = [exe] + (["--profile", profile] if profile else []) + ["status"]
    rc, out, err = module.run_command(argv)

    if rc != 0:
        missing = minishift_missing_profile(err) or minishift_missing_profile(out)
        if profile and missing == profile:
            module.exit_json(
                changed=False,
                exists=False,
                vm_state=MINISHIFT_DOES_NOT_EXIST,
                openshift_state=None,
                openshift_version=None,
                profile=profile,
                profile_exists=False,
                disk_usage=None,
                cache_usage=None,
                rhsm=None,
                running=False,
                fields={},
                cmd=argv,
            )
        command_failure(module, "minishift status", argv, (rc, out, err))

    try:
        status = parse_minishift_status(out)
    except ValueError as exc:
        module.fail_json(msg=str(exc), cmd=argv, rc=rc, stdout=out, stderr=err)
    if status["profile"] is None:
        status["profile"] = profile
    module.exit_json(changed=False, profile_exists=True, cmd=argv, **status)


if __name__ == "__main__":
    main()
