"""For every pytest session under tests/: the shared helpers (tests/lib, package meshlab_testlib) are importable, and
the session fails when it wrote the checkout's fact cache (.cache/facts belongs to the user's `make lab`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent / "lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))

from meshlab_testlib import factcache  # noqa: E402 - needs tests/lib on the path first


@pytest.fixture(scope="session", autouse=True)
def checkout_fact_cache_untouched():
    """The checkout's fact cache is the same after the session as before it: any file a test added, changed or
    removed there fails the session (in the last test's teardown), naming the files."""
    before = factcache.snapshot()
    yield
    found = factcache.changes(before, factcache.snapshot())
    assert not found, factcache.message("this pytest session", found)
