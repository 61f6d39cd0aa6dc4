"""The last layer of `make test`: every task file of the roles (roles/*/tasks/**/*.yml) ran in some test.

The callback tests/coverage/callback_plugins/meshlab_task_files.py, enabled by the Makefile for the
test targets, logs each role task file that gave a result other than skipped. This script compares
that log with the tree and fails listing the files no scenario or integration test executed.

Files that cannot run on this machine are in tests/coverage/allowlist.yml, each with its reason; an
allowlisted file that did run is reported, so that the list shrinks when a test starts running it.

    python tests/coverage/check_task_files.py --log .cache/coverage/task-files.log
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ALLOWLIST = Path(__file__).resolve().parent / "allowlist.yml"


def task_files(repo: Path) -> list[str]:
    return sorted(
        str(p.relative_to(repo))
        for pattern in ("*.yml", "*.yaml")
        for p in (repo / "roles").glob(f"*/tasks/**/{pattern}")
    )


def load_allowlist(path: Path) -> dict[str, str]:
    entries = yaml.safe_load(path.read_text()) or []
    allowed = {}
    for entry in entries:
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise SystemExit(f"{path}: the entry for {entry.get('file')!r} gives no reason")
        allowed[entry["file"]] = reason
    return allowed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, required=True, help="the callback's log (MESHLAB_TASK_COVERAGE_LOG)")
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    parser.add_argument("--repo", type=Path, default=REPO)
    args = parser.parse_args(argv)

    files = task_files(args.repo)
    if not files:
        print(f"task-coverage: no task file under {args.repo}/roles/*/tasks: nothing to check", file=sys.stderr)
        return 2
    if not args.log.is_file() or not args.log.read_text().strip():
        print(
            f"task-coverage: {args.log} is missing or empty: no test run recorded which task files ran "
            "(run the test layers first, e.g. make integration molecule-all, with the Makefile's callback settings)",
            file=sys.stderr,
        )
        return 1
    ran = set(args.log.read_text().split())
    allowed = load_allowlist(args.allowlist)

    stale = sorted(f for f in allowed if f not in files)
    if stale:
        print(f"task-coverage: {args.allowlist} names files that do not exist: {', '.join(stale)}", file=sys.stderr)
        return 1
    executed = [f for f in files if f in ran]
    missing = [f for f in files if f not in ran and f not in allowed]
    skipped = [f for f in files if f not in ran and f in allowed]
    for f in skipped:
        print(f"task-coverage: SKIPPED {f}: {allowed[f]}")
    for f in sorted(set(allowed) & ran):
        print(f"task-coverage: note: {f} ran although allowlisted: remove it from {args.allowlist.name}")
    print(
        f"task-coverage: {len(executed)} of {len(files)} task files executed, "
        f"{len(skipped)} allowlisted, {len(missing)} not executed"
    )
    if missing:
        print("task-coverage: no scenario or integration test executed these task files:", file=sys.stderr)
        for f in missing:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
