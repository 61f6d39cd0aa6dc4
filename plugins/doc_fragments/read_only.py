# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Attributes shared by the modules that only read a cluster through the kubernetes client."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Reads only, so check mode returns the same answer.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  platform:
    description: Runs where the kubernetes Python client runs, usually the controller.
    platforms: posix
    support: full
"""
