"""Tests never write the lab's fact cache: the checkout's `.cache/facts` (ansible.cfg's fact_caching_connection)
holds what the user's `make lab` learned (meshlab_cluster), and a test writing there would hand a later
`make lab` a cluster that the test deleted (issue 15).

Two guards:
- refuse_checkout_cache(): a launch whose ANSIBLE_CACHE_PLUGIN_CONNECTION is the checkout's is refused
  (Playbook.environment() and launch() call it).
- a sentinel: a test session (tests/conftest.py) or a Molecule run (the Makefile's molecule targets) sets
  ANSIBLE_CACHE_PLUGIN_CONNECTION to an empty folder of its own for everything it starts. A launch that does not
  give itself a fact cache inherits it, and writes there what it would have written to the checkout's
  `.cache/facts`; written() lists that, and the session or run fails naming the files. Unlike comparing
  `.cache/facts` before and after, this cannot be set off by a `make lab` someone runs meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .env import REPO

VARIABLE = "ANSIBLE_CACHE_PLUGIN_CONNECTION"


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


def untag(value):
    """A value as Ansible cached it, without ansible-core 2.19's tags ({"__ansible_type": ..., "value": x} -> x),
    at every depth."""
    if isinstance(value, dict) and "__ansible_type" in value and "value" in value:
        return untag(value["value"])
    if isinstance(value, dict):
        return {k: untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


def cached_facts(folder: Path) -> dict[str, dict]:
    """Every file of a jsonfile fact cache folder, decoded: {file name: its facts}. ansible-core 2.19+ wraps the
    facts as JSON text in __payload__: unwrapped here (the values may still carry tags: see untag())."""
    out = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file():
            data = json.loads(path.read_text())
            out[str(path.relative_to(folder))] = json.loads(data["__payload__"]) if "__payload__" in data else data
    return out


def cached_fact(folder: Path, name: str):
    """The first cached value of fact name in folder (untagged), e.g. cached_fact(facts, "meshlab_cluster");
    None when no file holds it."""
    for facts in cached_facts(folder).values():
        if name in facts:
            return untag(facts[name])
    return None


def new_sentinel() -> Path:
    """An empty folder to hand down as ANSIBLE_CACHE_PLUGIN_CONNECTION."""
    return Path(tempfile.mkdtemp(prefix="meshlab-fact-cache-sentinel-"))


def written(sentinel: Path) -> list[str]:
    """Every file below the sentinel (relative), sorted: what a launch without a fact cache of its own wrote."""
    return sorted(str(p.relative_to(sentinel)) for p in sentinel.rglob("*") if p.is_file()) if sentinel.is_dir() else []


def message(what: str, found: list[str], sentinel: Path) -> str:
    return (
        f"{what} launched Ansible without a fact cache of its own: it cached {', '.join(found)} (kept in "
        f"{sentinel}), which would have gone to the checkout's fact cache {checkout_cache()}, `make lab`'s. "
        "Give every launch its own: tests/lib's Playbook does (fact_cache, default <workdir>/facts); a Molecule "
        'scenario sets ANSIBLE_CACHE_PLUGIN_CONNECTION: "${MOLECULE_EPHEMERAL_DIRECTORY}/facts" in its provisioner env.'
    )


def main(argv: list[str] | None = None) -> int:
    """`sentinel`: print a new empty folder to export as ANSIBLE_CACHE_PLUGIN_CONNECTION; `check SENTINEL WHAT`:
    exit 1 naming what WHAT cached there (else 0), then remove the folder."""
    parser = argparse.ArgumentParser(prog="python -m meshlab_testlib", description=main.__doc__)
    parser.add_argument("step", choices=["sentinel", "check"])
    parser.add_argument("sentinel", type=Path, nargs="?")
    parser.add_argument("what", nargs="?", default="a test run")
    opts = parser.parse_args(argv)
    if opts.step == "sentinel":
        print(new_sentinel())
        return 0
    if opts.sentinel is None:
        parser.error("check needs the sentinel folder")
    found = written(opts.sentinel)
    if found:
        print(message(opts.what, found, opts.sentinel), file=sys.stderr)
        return 1
    if opts.sentinel.is_dir():
        opts.sentinel.rmdir()
    print(f"fact cache: {opts.what} cached nothing outside its own fact cache (the checkout's stays `make lab`'s)")
    return 0
