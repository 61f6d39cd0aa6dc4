"""Role variable tables for README.md, generated from each role's meta/argument_specs.yml.

README.md holds one block per role between the markers
``<!-- role_docs:begin <role> -->`` and ``<!-- role_docs:end <role> -->``. This script
rewrites those blocks (``--write``, what ``make docs`` runs) or fails when one of them is
not what the argument specs say today (``--check``, part of ``make test``).

A default the argument spec does not state (paths under the user's home, values computed from
other variables) is taken from the role's ``defaults/main.yml``, as written there.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BEGIN = "<!-- role_docs:begin {role} -->"
END = "<!-- role_docs:end {role} -->"
BLOCK = re.compile(r"<!-- role_docs:begin (?P<role>[a-z0-9_]+) -->\n.*?<!-- role_docs:end (?P=role) -->", re.S)
# The user's home as the defaults spell it: the gathered fact, or the role's __<role>_user_home.
HOME = re.compile(r"\{\{\s*(?:ansible_facts\[['\"]env['\"]\]\[['\"]HOME['\"]\]|__[a-z_]+_user_home)\s*\}\}")
# Ansible's documentation markup, as used in argument specs, to Markdown.
MARKUP = [
    (re.compile(r"[CVOE]\(([^()]*)\)"), r"`\1`"),
    (re.compile(r"I\(([^()]*)\)"), r"*\1*"),
    (re.compile(r"B\(([^()]*)\)"), r"**\1**"),
    (re.compile(r"U\(([^()]*)\)"), r"<\1>"),
    (re.compile(r"L\(([^(),]*),\s*([^()]*)\)"), r"[\1](\2)"),
    (re.compile(r"M\(([^()]*)\)"), r"`\1`"),
]


def _markdown(text: str) -> str:
    for pattern, repl in MARKUP:
        text = pattern.sub(repl, text)
    return " ".join(text.split()).replace("|", "\\|")


def _value(value: object) -> str:
    """A default as it would be written in YAML, on one line, in code style."""
    if isinstance(value, str):
        shown = HOME.sub("~", " ".join(value.split())) if value else '""'
    elif isinstance(value, bool):
        shown = str(value).lower()
    elif value is None:
        shown = "null"
    elif isinstance(value, (int, float)):
        shown = str(value)
    else:
        shown = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    shown = shown.replace("|", "\\|")
    return f"``{shown}``" if "`" in shown else f"`{shown}`"


def role_table(role_dir: Path) -> str:
    """The Markdown for one role: its summary and one row per variable of entry point main."""
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    main = specs["argument_specs"]["main"]
    defaults_file = role_dir / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text(encoding="utf-8")) if defaults_file.exists() else {}
    defaults = defaults or {}
    name = role_dir.name
    options = main.get("options", {})
    lines = [
        f"<details><summary><code>meshlab.service_mesh.{name}</code>: {len(options)} variables "
        f"(from <code>roles/{name}/meta/argument_specs.yml</code>)</summary>",
        "",
        f"{_markdown(main.get('short_description', ''))}.",
        "",
        "| variable | type | default | choices | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for var, spec in options.items():
        kind = spec.get("type", "str")
        if kind in ("list", "dict") and spec.get("elements"):
            kind = f"{kind} of {spec['elements']}"
        if spec.get("required"):
            default = "required"
        elif "default" in spec:
            default = _value(spec["default"])
        elif var in defaults:
            default = _value(defaults[var])
        else:
            default = "(none)"
        choices = ", ".join(_value(c) for c in spec.get("choices", []))
        description = spec.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        if spec.get("no_log"):
            description += " Never logged."
        lines.append(f"| `{var}` | {kind} | {default} | {choices} | {_markdown(description)} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def render(readme: str, roles_dir: Path) -> str:
    """README text with every role_docs block regenerated; a block for a missing role fails."""

    def block(match: re.Match[str]) -> str:
        role = match.group("role")
        role_dir = roles_dir / role
        if not (role_dir / "meta" / "argument_specs.yml").is_file():
            raise SystemExit(f"role_docs: README names role {role!r}, which has no meta/argument_specs.yml")
        return "\n".join([BEGIN.format(role=role), "", role_table(role_dir), "", END.format(role=role)])

    return BLOCK.sub(block, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the blocks in the README")
    mode.add_argument("--check", action="store_true", help="fail if a block is out of date")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--roles", type=Path, default=REPO / "roles")
    args = parser.parse_args(argv)

    current = args.readme.read_text(encoding="utf-8")
    documented = {m.group("role") for m in BLOCK.finditer(current)}
    with_specs = {p.parent.parent.name for p in args.roles.glob("*/meta/argument_specs.yml")}
    missing = sorted(with_specs - documented)
    if missing:
        print(
            f"role_docs: {args.readme} has no role_docs block for {', '.join(missing)}; add "
            f"'{BEGIN.format(role=missing[0])}' and '{END.format(role=missing[0])}' lines where the table goes",
            file=sys.stderr,
        )
        return 1
    wanted = render(current, args.roles)
    if args.write:
        if wanted != current:
            args.readme.write_text(wanted, encoding="utf-8")
            print(f"role_docs: {args.readme} updated ({', '.join(sorted(documented))})")
        else:
            print(f"role_docs: {args.readme} already current")
        return 0
    if wanted != current:
        diff = difflib.unified_diff(
            current.splitlines(), wanted.splitlines(), "README.md", "README.md (from argument_specs)", lineterm=""
        )
        print("\n".join(list(diff)[:60]), file=sys.stderr)
        print("role_docs: README.md's variable tables are out of date; run `make docs`", file=sys.stderr)
        return 1
    print(f"role_docs: README.md's variable tables match the argument specs ({', '.join(sorted(documented))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
