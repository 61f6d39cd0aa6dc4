"""The version matrix's lab tests use the shared test helpers (tests/lib, package meshlab_testlib)."""

from __future__ import annotations

import pytest
from meshlab_testlib import artifacts_url


@pytest.fixture(scope="session")
def istio_base_url() -> str:
    return artifacts_url()
