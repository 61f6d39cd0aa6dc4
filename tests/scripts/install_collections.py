"""Install the collections meshlab.service_mesh needs, online or offline.

Order of sources, and the one used is printed for every collection:
1. already present in a configured collections path at a version that fits;
2. Ansible Galaxy (``ansible-galaxy collection install``), when it answers;
3. the ``ansible`` package on PyPI, which carries kubernetes.core, community.docker
   and friends (this is how machines without Galaxy get them).
It also links this checkout into ``<dir>/ansible_collections/meshlab/service_mesh`` so
``meshlab.service_mesh.*`` resolves to the working tree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ANSIBLE_PACKAGE = "ansible>=12.3,<13"
GALAXY_TIMEOUT = "20"


def say(msg: str) -> None:
    print(f"collections: {msg}", flush=True)


def wanted(files: list[Path]) -> dict[str, SpecifierSet]:
    out: dict[str, SpecifierSet] = {}
    for f in files:
        data = yaml.safe_load(f.read_text()) or {}
        for item in data.get("collections", []):
            spec = item.get("version", "*")
            out[item["name"]] = SpecifierSet("" if spec in ("*", "") else spec)
    return out


def installed(bindir: Path, env: dict[str, str]) -> dict[str, tuple[Version, str]]:
    """Highest installed version of every collection, with the path it lives in."""
    res = subprocess.run(
        [str(bindir / "ansible-galaxy"), "collection", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    found: dict[str, tuple[Version, str]] = {}
    for path, colls in json.loads(res.stdout).items():
        for name, meta in colls.items():
            v = Version(meta["version"])
            if name not in found or v > found[name][0]:
                found[name] = (v, path)
    return found


def missing(need: dict[str, SpecifierSet], have: dict[str, tuple[Version, str]]) -> list[str]:
    return [n for n, spec in need.items() if n not in have or have[n][0] not in spec]


def describe(path: str, target: Path) -> str:
    if "site-packages" in path:
        return "the ansible package on PyPI"
    if Path(path).resolve() == (target / "ansible_collections").resolve():
        return "Ansible Galaxy"
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True, type=Path, help="collections folder to install into")
    ap.add_argument("--repo", required=True, type=Path, help="this checkout")
    ap.add_argument("requirements", nargs="+", type=Path)
    args = ap.parse_args()
    bindir = Path(sys.executable).parent

    link = args.dir / "ansible_collections" / "meshlab" / "service_mesh"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or link.resolve() != args.repo.resolve():
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(args.repo.resolve(), target_is_directory=True)
    say(f"meshlab.service_mesh -> {args.repo.resolve()} (working tree)")

    need = wanted(args.requirements)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(args.dir))
    todo = missing(need, installed(bindir, env))
    if todo:
        say(f"asking Ansible Galaxy for {', '.join(todo)}")
        cmd = [
            str(bindir / "ansible-galaxy"),
            "collection",
            "install",
            "--timeout",
            GALAXY_TIMEOUT,
            "-p",
            str(args.dir),
            *(f"{n}:{need[n]}" if str(need[n]) else n for n in todo),
        ]
        res = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["no answer"])[-1]
            say(f"Ansible Galaxy did not answer ({last}); installing {ANSIBLE_PACKAGE} from PyPI")
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", ANSIBLE_PACKAGE], check=True)
    have = installed(bindir, env)
    still = missing(need, have)
    if still:
        for n in still:
            got = str(have[n][0]) if n in have else "none"
            say(f"ERROR: {n} {need[n]} is needed, found {got}")
        return 1
    for n in sorted(need):
        say(f"{n} {have[n][0]} from {describe(have[n][1], args.dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
