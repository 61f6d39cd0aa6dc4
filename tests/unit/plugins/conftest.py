"""Make this checkout importable as ``ansible_collections.meshlab.service_mesh``.

``make setup`` links the checkout into ``.cache/collections``; when that link is missing
(pytest run on a fresh clone) a link is made in a temporary folder instead.
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PACKAGE = "ansible_collections.meshlab.service_mesh.plugins.module_utils.vm_cli"


def _importable() -> bool:
    importlib.invalidate_caches()
    try:
        importlib.import_module(PACKAGE)
    except ImportError:
        return False
    return True


def _add(path: Path) -> None:
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


if not _importable():
    linked = REPO / ".cache" / "collections"
    if (linked / "ansible_collections" / "meshlab" / "service_mesh").resolve() == REPO:
        _add(linked)
    if not _importable():
        tmp = Path(tempfile.mkdtemp(prefix="meshlab-collections-"))
        atexit.register(shutil.rmtree, tmp, True)
        link = tmp / "ansible_collections" / "meshlab" / "service_mesh"
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO, target_is_directory=True)
        _add(tmp)
        if not _importable():
            raise ImportError("cannot import " + PACKAGE + " from " + str(REPO))
