"""For every pytest session under tests/: the shared helpers (tests/lib, package meshlab_testlib) are importable, and
the session fails when something it launched would have written the checkout's fact cache (.cache/facts belongs to
the user's `make lab`; see meshlab_testlib/factcache.py)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent / "lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))

from meshlab_testlib import factcache  # noqa: E402 - needs tests/lib on the path first

# Set now, before any test starts a process: whatever the session launches without a fact cache of its own
# inherits this folder instead of ansible.cfg's .cache/facts.
SENTINEL = factcache.new_sentinel()
os.environ[factcache.VARIABLE] = str(SENTINEL)


@pytest.fixture(scope="session", autouse=True)
def checkout_fact_cache_untouched():
    """At the end of the session the sentinel is empty: any file there fails the session (in the last test's
    teardown), naming the files."""
    yield
    found = factcache.written(SENTINEL)
    assert not found, factcache.message("this pytest session", found, SENTINEL)
    shutil.rmtree(SENTINEL, ignore_errors=True)
