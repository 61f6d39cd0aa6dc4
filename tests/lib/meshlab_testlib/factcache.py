"""Tests never write the lab's fact cache: the checkout's `.cache/facts` (ansible.cfg's fact_caching_connection)
holds what the user's `make lab` learned (meshlab_cluster), and a test writing there would hand a later
`make lab` a cluster that the test deleted.

Two guards:
- refuse_checkout_cache(): a launch (Playbook.environment()) whose fact cache would be the checkout's is refused.
- snapshot()/changes(): what the checkout's fact cache holds before and after a test session (tests/conftest.py)
  or a Molecule run (the Makefile's molecule targets: `python -m meshlab_testlib before|after`).
  Any file added, changed or removed in between fails that session or run, naming the files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from .env import REPO


def checkout_cache(repo: Path = REPO) -> Path:
    """The checkout's fact cache folder: ansible.cfg's fact_caching_connection, relative to ansible.cfg."""
    for raw in (repo / "ansible.cfg").read_text().splitlines():
        key, sep, value = raw.partition("=")
        if sep and key.strip() == "fact_caching_connection":
            return (repo / value.strip()).resolve()
    return (repo / ".cache" / "facts").resolve()


def refuse_checkout_cache(connection: str | os.PathLike, cwd: Path = REPO) -> None:
    """Fail when a launch's ANSIBLE_CACHE_PLUGIN_CONNECTION is the checkout's fact cache."""
    path = Path(cwd, connection).resolve()
    assert path != checkout_cache(), (
        f"a test launched ansible-playbook with the checkout's fact cache {path}: give it a folder of its own "
        "(Playbook(fact_cache=...) defaults to <workdir>/facts)"
    )


def snapshot(folder: Path | None = None) -> dict[str, str]:
    """{file name: sha256 of its content} of every file below folder (default: the checkout's fact cache)."""
    folder = folder or checkout_cache()
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs between two snapshots, one line a file: added, changed or removed."""
    out = [f"added {n}" for n in sorted(after.keys() - before.keys())]
    out += [f"changed {n}" for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    out += [f"removed {n}" for n in sorted(before.keys() - after.keys())]
    return out


def message(what: str, found: list[str], folder: Path | None = None) -> str:
    return (
        f"{what} wrote the checkout's fact cache {folder or checkout_cache()}, which belongs to `make lab`: "
        f"{'; '.join(found)}. Every test and Molecule scenario must use a fact cache of its own "
        "(ANSIBLE_CACHE_PLUGIN_CONNECTION; tests/lib: Playbook(fact_cache=...)). "
        "(A `make lab` or `make teardown` run in this checkout at the same time also writes it.)"
    )


def main(argv: list[str] | None = None) -> int:
    """`before STATE`: record the checkout's fact cache in STATE; `after STATE WHAT`: fail (exit 1) naming what
    WHAT wrote there since."""
    parser = argparse.ArgumentParser(prog="python -m meshlab_testlib", description=main.__doc__)
    parser.add_argument("step", choices=["before", "after"])
    parser.add_argument("state", type=Path)
    parser.add_argument("what", nargs="?", default="a test run")
    parser.add_argument("--folder", type=Path, default=None, help="the fact cache folder (default: the checkout's)")
    opts = parser.parse_args(argv)
    if opts.step == "before":
        opts.state.parent.mkdir(parents=True, exist_ok=True)
        opts.state.write_text(json.dumps(snapshot(opts.folder)))
        return 0
    found = changes(json.loads(opts.state.read_text()), snapshot(opts.folder))
    opts.state.unlink()
    if found:
        print(message(opts.what, found, opts.folder), file=sys.stderr)
        return 1
    print(f"fact cache: {opts.what} left {opts.folder or checkout_cache()} as it was")
    return 0
