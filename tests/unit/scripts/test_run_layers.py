"""tests/scripts/run-layers.sh, the runner of `make test`'s layers, on a Makefile of stand-in layers: groups run one
after the other, lanes (a+b) at the same time, layers of a lane (a,b) one after the other; every layer is recorded
on its own and a layer that exits 0 without showing it ran something fails (EMPTY)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

RUN_LAYERS = Path(__file__).resolve().parents[2] / "scripts" / "run-layers.sh"

# Each stand-in layer appends "<name> start <t>" and "<name> end <t>" to order.log and prints a pytest summary.
MAKEFILE = """\
SHELL := bash
define layer
\t@echo "$@ start $$(date +%s.%N)" >>order.log; sleep $(1); echo "$@ end $$(date +%s.%N)" >>order.log
\t@echo "=== $(2) in $(1).00s ==="
endef
slow:
\t$(call layer,2,2 passed)
quick:
\t$(call layer,1,1 passed)
after:
\t$(call layer,1,3 passed)
skips:
\t$(call layer,0,4 skipped)
broken:
\t$(call layer,0,5 passed)
\t@exit 3
"""


def run_layers(tmp_path: Path, *groups: str) -> tuple[subprocess.CompletedProcess, dict[str, tuple[float, float]]]:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    proc = subprocess.run(
        ["bash", str(RUN_LAYERS), *groups], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    spans: dict[str, list[float]] = {}
    log = tmp_path / "order.log"
    for line in log.read_text().splitlines() if log.exists() else []:
        name, _what, at = line.split()
        spans.setdefault(name, []).append(float(at))
    return proc, {name: (t[0], t[1]) for name, t in spans.items()}


def table(output: str) -> dict[str, tuple[str, str]]:
    """The closing table: layer -> (result, what it ran)."""
    rows = re.findall(r"^  (\S+)\s+(passed|FAILED|EMPTY)\s+\d+s  (.*)$", output, flags=re.MULTILINE)
    return {name: (result, ran) for name, result, ran in rows}


def test_lanes_run_at_the_same_time_and_their_layers_in_order(tmp_path):
    proc, spans = run_layers(tmp_path, "slow+quick,after")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # quick then after in one lane, beside slow: the lane's layers follow each other ...
    assert spans["quick"][1] <= spans["after"][0]
    # ... and the lanes overlap: slow starts before quick ends and quick before slow ends
    assert spans["slow"][0] < spans["quick"][1] and spans["quick"][0] < spans["slow"][1]
    assert table(proc.stdout) == {
        "slow": ("passed", "2 tests passed"),
        "quick": ("passed", "1 tests passed"),
        "after": ("passed", "3 tests passed"),
    }
    assert "layers: 3 passed, 0 failed" in proc.stdout
    # every line of a lane's layer reaches the console, named
    assert "[after] === 3 passed in 1.00s ===" in proc.stdout


def test_groups_run_one_after_the_other(tmp_path):
    proc, spans = run_layers(tmp_path, "quick", "slow+after")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert spans["quick"][1] <= min(spans["slow"][0], spans["after"][0])


@pytest.mark.parametrize("groups", [("skips+quick",), ("quick,skips",), ("skips",)])
def test_a_layer_that_ran_nothing_fails_the_run_in_a_lane_too(tmp_path, groups):
    proc, _spans = run_layers(tmp_path, *groups)
    assert proc.returncode != 0
    assert table(proc.stdout)["skips"] == ("EMPTY", "0 tests passed")
    assert "run-layers: make skips exited 0 but ran nothing" in proc.stderr


def test_a_failed_layer_fails_the_run_and_its_lane_goes_on(tmp_path):
    proc, spans = run_layers(tmp_path, "broken,after+quick")
    assert proc.returncode != 0
    assert table(proc.stdout)["broken"][0] == "FAILED"
    assert table(proc.stdout)["after"][0] == "passed" and "after" in spans
    assert "layers: 2 passed, 1 failed" in proc.stdout


def test_no_layer_named_fails(tmp_path):
    proc, _spans = run_layers(tmp_path)
    assert proc.returncode == 2 and "no test layer named" in proc.stderr
