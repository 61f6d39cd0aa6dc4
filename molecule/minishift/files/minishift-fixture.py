#!/usr/bin/env python3
"""FIXTURE, not Minishift: a stand-in `minishift` CLI packed by the Molecule scenario into an
artifact with the real release's name and layout (minishift-<v>-linux-amd64/minishift), so
the role's download, checksum, unpack, link and `config` steps run for real in a container
where no VM can start. It keeps `config set` values in a JSON file per profile and prints
`status` and `config view` in Minishift 1.34's formats. `start` always fails: there is no
hypervisor here, and this fixture never pretends there is one.
"""

import json
import os
import shutil
import sys
from pathlib import Path

VERSION = "1.34.3"
HOME = Path(os.environ.get("MINISHIFT_HOME", Path.home() / ".minishift"))


def config_file(profile: str) -> Path:
    return HOME / "profiles" / profile / "config" / f"{profile}.json"


def load(profile: str) -> dict:
    f = config_file(profile)
    return json.loads(f.read_text()) if f.exists() else {}


def save(profile: str, data: dict) -> None:
    f = config_file(profile)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(data, sort_keys=True))


def split_profile(argv: list[str]) -> tuple[str, list[str]]:
    profile, args = "minishift", []
    it = iter(argv)
    for a in it:
        if a == "--profile":
            profile = next(it)
        elif a.startswith("--profile="):
            profile = a.split("=", 1)[1]
        else:
            args.append(a)
    return profile, args


def config(profile: str, args: list[str]) -> int:
    data = load(profile)
    if args == ["view"]:
        for key, value in sorted(data.items()):
            print(f"- {key:<35}: {value}")
        return 0
    if len(args) == 3 and args[0] == "set":
        data[args[1]] = args[2]
    elif len(args) == 2 and args[0] == "unset":
        data.pop(args[1], None)
    else:
        return refuse(["config", *args])
    save(profile, data)
    return 0


def profile_cmd(args: list[str]) -> int:
    root = HOME / "profiles"
    if args == ["list"]:
        for p in sorted(root.glob("*")):
            print(f"- {p.name}\tDoes Not Exist")
        return 0
    if len(args) >= 2 and args[0] == "delete":
        shutil.rmtree(root / args[1], ignore_errors=True)
        return 0
    return refuse(["profile", *args])


def refuse(args: list[str]) -> int:
    print(f"fixture minishift: '{' '.join(args)}' needs a VM, and this fixture cannot start one", file=sys.stderr)
    return 1


SIMPLE = {
    "version": f"minishift v{VERSION}+fixture",
    "status": "Does Not Exist",
}


def main(argv: list[str]) -> int:
    profile, args = split_profile(argv)
    if not args:
        print("Usage: minishift [command]", file=sys.stderr)
        return 1
    cmd, rest = args[0], args[1:]
    if cmd in SIMPLE:
        print(SIMPLE[cmd])
        return 0
    if cmd == "config":
        return config(profile, rest)
    if cmd == "profile":
        return profile_cmd(rest)
    if cmd == "delete":
        print("Host does not exist", file=sys.stderr)
        return 0
    return refuse(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
