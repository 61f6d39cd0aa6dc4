"""Running a module's ``main()`` in-process the same way on every ansible-core the collection supports.

ansible-core 2.19 brought ``ansible.module_utils.testing.patch_module_args`` and the process-wide
``_internal.is_controller`` switch; 2.17 and 2.18 read the arguments from ``basic._ANSIBLE_ARGS`` and keep
warnings in lists. The version matrix (``make matrix``) runs these tests on 2.17, 2.19 and the newest core.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings

try:  # ansible-core >= 2.19
    from ansible.module_utils import _internal
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.17, 2.18
    _internal = None
    patch_module_args = None


def as_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warnings and deprecations start clean, and the process counts as a module (not the controller, which
    other tests' imports of ansible.errors turn on in ansible-core >= 2.19)."""
    if _internal is not None:
        monkeypatch.setattr(_internal, "is_controller", False)
    monkeypatch.setattr(ansible_warnings, "_global_warnings", type(ansible_warnings._global_warnings)())
    monkeypatch.setattr(ansible_warnings, "_global_deprecations", type(ansible_warnings._global_deprecations)())


@contextmanager
def module_args(args: dict[str, Any]) -> Iterator[None]:
    """The arguments the next AnsibleModule() reads."""
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    saved = basic._ANSIBLE_ARGS
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved
