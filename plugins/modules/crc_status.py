#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: crc_status
short_description: Read the state of an OpenShift Local (CRC) VM and its cluster
version_added: 0.1.0
description:
  - Runs C(crc status -o json) and returns what it printed, parsed.
  - Reads only; never changes anything, so it reports C(changed=false) and runs in check mode too.
  - A VM that does not exist is an answer (C(exists=false)), not a failure.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options:
  executable:
    description:
      - The C(crc) command, as a name looked up on E(PATH) or as a path.
    type: path
    default: crc
  fail_on_error:
    description:
      - Fail when crc answers with an error other than a missing VM, for example
        C(crc does not seem to be setup correctly, have you run 'crc setup'?), which crc 2
        prints while its daemon does not run (before the first C(crc setup), or after it stopped).
      - With V(false) (the default) the task succeeds and returns the error in RV(error), with
        RV(exists) null and RV(running) false, so a play can read the state before C(crc setup).
    type: bool
    default: false
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
  - crc answers a missing VM with C(success=false) and the error
    C(Machine does not exist. Use 'crc start' to create it); some releases also exit non-zero
    then. Both are read as C(exists=false).
  - Sizes are in bytes as crc reports them; crc leaves out fields whose value is zero or empty,
    so they are null here.
seealso:
  - module: meshlab.service_mesh.crc_config
  - module: meshlab.service_mesh.minishift_status
"""

EXAMPLES = r"""
- name: OpenShift Local's state is read
  meshlab.service_mesh.crc_status:
  register: crc

- name: OpenShift Local is started when it does not run
  ansible.builtin.command:
    argv: [crc, start]
  changed_when: true
  when: not crc.running

- name: The state is read, and any crc error other than a missing VM fails the task
  meshlab.service_mesh.crc_status:
    fail_on_error: true
  register: crc_strict
"""

RETURN = r"""
exists:
  description:
    - Whether the VM exists; null when crc answered with another error (see RV(error)).
  returned: success
  type: bool
  sample: true
crc_status:
  description: The VM's state (C(crcStatus)), such as C(Running), C(Stopped), C(Starting), C(Stopping), C(Error).
  returned: success
  type: str
  sample: Running
openshift_status:
  description:
    - The cluster's state (C(openshiftStatus)), one of C(Unreachable), C(Starting), C(Running),
      C(Degraded), C(Stopped), C(Stopping); null when crc left it out.
  returned: success
  type: str
  sample: Running
openshift_version:
  description: The cluster's version (C(openshiftVersion)); null when crc left it out.
  returned: success
  type: str
  sample: 4.17.10
preset:
  description: The preset (C(openshift), C(microshift), C(okd), C(podman) by release); null when empty.
  returned: success
  type: str
  sample: openshift
disk_usage:
  description: Bytes used on the VM's disk (C(diskUsage)); some old releases printed a text instead.
  returned: success
  type: raw
  sample: 21474836480
disk_size:
  description: Size of the VM's disk in bytes (C(diskSize)).
  returned: success
  type: raw
  sample: 32184815616
cache_usage:
  description: Bytes in crc's cache folder (C(cacheUsage)).
  returned: success
  type: raw
  sample: 29637402624
cache_dir:
  description: crc's cache folder (C(cacheDir)).
  returned: success
  type: str
  sample: /home/user/.crc/cache
ram_usage:
  description: Bytes of RAM used in the VM (C(ramUsage)).
  returned: success
  type: raw
  sample: 6781800448
ram_size:
  description: Bytes of RAM of the VM (C(ramSize)).
  returned: success
  type: raw
  sample: 10909646848
error:
  description:
    - crc's error message when it answered C(success=false), including the missing-VM
      message (then RV(exists) is false); null on success.
  returned: success
  type: str
  sample: Machine does not exist. Use 'crc start' to create it
running:
  description: Whether both the VM and OpenShift run (C(crcStatus) and C(openshiftStatus) are C(Running)).
  returned: success
  type: bool
  sample: true
fields:
  description: The JSON object crc printed, as printed.
  returned: success
  type: dict
  sample:
    success: true
    crcStatus: Running
    openshiftStatus: Running
    preset: openshift
cmd:
  description: The command that was run.
  returned: success
  type: list
  elements: str
  sample: [/usr/local/bin/crc, status, -o, json]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_cli import parse_crc_status
from ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_module import (
    command_failure,
    resolve_executable,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "executable": {"type": "path", "default": "crc"},
            "fail_on_error": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    exe = resolve_executable(module, module.params["executable"], "crc")
    argv = [exe, "status", "-o", "json"]
    rc, out, err = module.run_command(argv)

    try:
        status = parse_crc_status(out)
    except ValueError as exc:
        if rc != 0:
            command_failure(module, "crc status", argv, (rc, out, err))
        module.fail_json(msg=str(exc), cmd=argv, rc=rc, stdout=out, stderr=err)

    if status["error"] is not None and status["exists"] is not False and module.params["fail_on_error"]:
        module.fail_json(msg=f"crc status: {status['error']}", cmd=argv, rc=rc, stdout=out, stderr=err, **status)
    if status["error"] is None and rc != 0:
        command_failure(module, "crc status", argv, (rc, out, err))
    # No "rc" key: Ansible fails a task whose result has a non-zero "rc", and crc exits 1 for
    # the missing-VM answer, which is a success here.
    module.exit_json(changed=False, cmd=argv, **status)


if __name__ == "__main__":
    main()
