"""The version matrix's lab tests use the integration suite's helpers (tests/integration/lab.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from lab import artifacts_url


@pytest.fixture(scope="session")
def istio_base_url() -> str:
    return artifacts_url()
