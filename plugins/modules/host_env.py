#!/usr/bin/python
# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_env
short_description: HOME, PATH and KUBECONFIG as the programs a role starts on the host see them
version_added: 0.2.0
description:
  - "Returns the values of the environment variables C(HOME), C(PATH) and C(KUBECONFIG) on the managed host, as the
    user the task runs as (after C(become)) sees them: where tools such as C(minishift), C(crc) and C(kubectl)
    write their files, and where they find their programs."
  - "Cheap on the lab's own inventory: when the task's connection is local and it does not become another user,
    the host is the controller and the values are read there by the action plugin, without running a module
    (RV(source) is V(controller)). Otherwise (a remote host, or become, set on the play, the task, the command
    line or in the inventory) this module runs on the host (RV(source) is V(host))."
  - Reads only; changes nothing. The values are returned, not set as facts, so they never reach a fact cache.
author:
  - meshlab.service_mesh contributors (!UNKNOWN)
options: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
notes:
  - Only these three variables are returned; the rest of the environment (which may hold tokens) is not read.
"""

EXAMPLES = r"""
- name: The host's HOME, PATH and KUBECONFIG are known
  meshlab.service_mesh.host_env:
  register: host_env

- name: Files go below the host's HOME
  ansible.builtin.debug:
    msg: "{{ host_env.home }}/.minishift (read on the {{ host_env.source }})"
"""

RETURN = r"""
home:
  description: C(HOME); empty when it is not set.
  returned: success
  type: str
  sample: /home/alice
path:
  description: C(PATH); empty when it is not set.
  returned: success
  type: str
  sample: /usr/local/bin:/usr/bin:/bin
kubeconfig:
  description: C(KUBECONFIG) as set (one or more files joined by C(:)); empty when it is not set.
  returned: success
  type: str
  sample: /home/alice/.kube/config
source:
  description:
    - Where the values were read. V(controller) (local connection, no become; no module ran) or V(host) (this
      module ran on the host, as the task's user).
  returned: success
  type: str
  sample: controller
"""

import os
from collections.abc import Mapping

from ansible.module_utils.basic import AnsibleModule

NAMES = {"home": "HOME", "path": "PATH", "kubeconfig": "KUBECONFIG"}


def read(environ: Mapping[str, str]) -> dict[str, str]:
    """HOME, PATH and KUBECONFIG of an environment, each empty when unset."""
    return {key: environ.get(name, "") for key, name in NAMES.items()}


def main() -> None:
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    module.exit_json(changed=False, source="host", **read(os.environ))


if __name__ == "__main__":
    main()
