#!/usr/bin/env python3
"""FIXTURE, not Minishift: a stand-in `minishift` CLI, packed by the tests into an artifact with the real
release's name and layout (minishift-<v>-linux-amd64/minishift), so that the minishift role downloads, verifies,
unpacks, links, configures, starts, patches, stops and deletes it for real on a host where no VM is started.

It answers as Minishift 1.34.3 does (formats: minishift's cmd/minishift/cmd sources, and the role's parsers in
plugins/module_utils/vm_cli.py): `version`, `[--profile P] config view|set|unset`, `profile set|list|delete`,
`status`, `start`, `ip`, `oc-env`, `console --url`, `openshift config view|set --target=kube [--patch JSON]`,
`stop` and `delete [--force]`. A profile other than the default one must exist first (`profile set` or `start`),
or the command fails with Minishift's "Profile 'P' doesn't exist" message. State lives below MINISHIFT_HOME
(default ~/.minishift): profiles/<P>/config/<P>.json (settings), profiles/<P>/fixture-vm.json (the "VM") and
profiles/<P>/fixture-master-config.json (OKD 3.11's master-config.yaml as data). Every call is appended to
MINISHIFT_HOME/fixture-calls.jsonl, so a test can assert what the role asked.

`start` starts no VM: it hands over the simulated cluster named by MINISHIFT_FIXTURE_KUBECONFIG (a kubeconfig with
embedded credentials whose API server is at https://<ip>:8443, as Minishift's is) and writes ~/.kube/config as
`oc cluster up` does: the cluster `<ip-with-dashes>:8443`, the users system:admin/... (the handed-over
credentials) and developer/... (a token), the contexts default/.../system:admin, myproject/.../developer and
minishift (current), other contexts in the file kept. `ip` answers the API server's host. Without
MINISHIFT_FIXTURE_KUBECONFIG, `start` fails, as a minishift that finds no hypervisor would: the fixture never
pretends that a VM runs. `start` needs PyYAML (the Python that runs Ansible has it); the other commands do not.
"""

import json
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

VERSION = "1.34.3"
OKD_BUILD = "+1cd89d4-542"
DEFAULT_PROFILE = "minishift"
HOME = Path(os.environ.get("MINISHIFT_HOME", Path.home() / ".minishift"))
CALLS = HOME / "fixture-calls.jsonl"
# OKD 3.11's master-config.yaml as `minishift openshift config view --target=kube` shows it (the part the role
# reads): the admission plugins configured, and no webhook among them until the role patches it in.
MASTER_CONFIG = {
    "apiVersion": "v1",
    "kind": "MasterConfig",
    "admissionConfig": {
        "pluginConfig": {
            "BuildDefaults": {"configuration": {"apiVersion": "v1", "kind": "BuildDefaultsConfig", "env": []}},
            "openshift.io/ImagePolicy": {
                "configuration": {"apiVersion": "v1", "kind": "ImagePolicyConfig", "executionRules": []}
            },
        }
    },
    "kubernetesMasterConfig": {"apiServerArguments": {"storage-backend": ["etcd3"]}},
    "servingInfo": {"bindAddress": "0.0.0.0:8443"},
}
VIEW_EXCLUDED = ("addons", "cache-images")


def record(entry: dict) -> None:
    HOME.mkdir(parents=True, exist_ok=True)
    with CALLS.open("a") as f:
        f.write(json.dumps(entry) + "\n")


def profile_dir(profile: str) -> Path:
    return HOME / "profiles" / profile


def config_file(profile: str) -> Path:
    return profile_dir(profile) / "config" / f"{profile}.json"


def vm_file(profile: str) -> Path:
    return profile_dir(profile) / "fixture-vm.json"


def master_file(profile: str) -> Path:
    return profile_dir(profile) / "fixture-master-config.json"


def read_json(path: Path, default):
    return json.loads(path.read_text()) if path.exists() else default


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, sort_keys=True, indent=1))


def split_profile(argv: list[str]) -> tuple[str, list[str]]:
    profile, args = DEFAULT_PROFILE, []
    it = iter(argv)
    for a in it:
        if a == "--profile":
            profile = next(it, "")
        elif a.startswith("--profile="):
            profile = a.split("=", 1)[1]
        else:
            args.append(a)
    return profile, args


def missing_profile(profile: str) -> int:
    print(
        f"Profile '{profile}' doesn't exist, Use 'minishift profile set {profile}' or "
        f"'minishift start --profile {profile}' to create",
        file=sys.stderr,
    )
    return 1


def config(profile: str, args: list[str]) -> int:
    data = read_json(config_file(profile), {})
    if args == ["view"]:
        for key, value in sorted(data.items()):
            if key not in VIEW_EXCLUDED:
                print(f"- {key:<35}: {value}")
        return 0
    if len(args) == 3 and args[0] == "set":
        data[args[1]] = args[2]
    elif len(args) == 2 and args[0] == "unset":
        if args[1] not in data:
            print(f"Cannot find property name '{args[1]}'")
            return 0
        data.pop(args[1])
    else:
        return refuse(["config", *args])
    write_json(config_file(profile), data)
    return 0


def profile_cmd(args: list[str]) -> int:
    root = HOME / "profiles"
    if args == ["list"]:
        for p in sorted(root.glob("*")):
            state = read_json(vm_file(p.name), {}).get("state", "Does Not Exist")
            print(f"- {p.name}\t{state}")
        return 0
    if len(args) == 2 and args[0] == "set":
        profile_dir(args[1]).mkdir(parents=True, exist_ok=True)
        print(f"Profile '{args[1]}' set as active profile.")
        return 0
    if len(args) >= 2 and args[0] == "delete":
        if args[1] == DEFAULT_PROFILE:
            print("Default profile 'minishift' can not be deleted", file=sys.stderr)
            return 1
        shutil.rmtree(root / args[1], ignore_errors=True)
        print(f"Profile '{args[1]}' deleted successfully.")
        return 0
    return refuse(["profile", *args])


def refuse(args: list[str]) -> int:
    print(f"FIXTURE minishift: '{' '.join(args)}' is not served", file=sys.stderr)
    return 2


def handover() -> dict | None:
    """The simulated cluster to hand over: server, CA and system:admin's credentials, or None."""
    path = os.environ.get("MINISHIFT_FIXTURE_KUBECONFIG", "")
    if not path:
        return None
    import yaml  # noqa: PLC0415 - only `start` needs it

    kc = yaml.safe_load(Path(path).read_text())
    ctx = next(c for c in kc["contexts"] if c["name"] == kc["current-context"])["context"]
    cluster = next(c for c in kc["clusters"] if c["name"] == ctx["cluster"])["cluster"]
    user = next(u for u in kc["users"] if u["name"] == ctx["user"])["user"]
    url = urlparse(cluster["server"])
    if url.port != 8443:
        raise SystemExit(
            f"FIXTURE minishift: the handed-over API server must listen on 8443, as Minishift's does: {url}"
        )
    return {"ip": url.hostname, "cluster": cluster, "user": user}


def write_user_kubeconfig(ip: str, cluster: dict, user: dict) -> None:
    """~/.kube/config as `oc cluster up` and `oc login` leave it (other entries kept, minishift current)."""
    import yaml  # noqa: PLC0415

    path = Path.home() / ".kube" / "config"
    kc = yaml.safe_load(path.read_text()) if path.exists() else None
    kc = kc or {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    name = f"{ip.replace('.', '-')}:8443"
    admin, developer = f"system:admin/{name}", f"developer/{name}"
    entries = {
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [
            {"name": admin, "user": user},
            {"name": developer, "user": {"token": "fixture-developer-token-not-valid-anywhere"}},
        ],
        "contexts": [
            {
                "name": f"default/{name}/system:admin",
                "context": {"cluster": name, "namespace": "default", "user": admin},
            },
            {
                "name": f"myproject/{name}/developer",
                "context": {"cluster": name, "namespace": "myproject", "user": developer},
            },
            {"name": "minishift", "context": {"cluster": name, "namespace": "myproject", "user": developer}},
        ],
    }
    for key, new in entries.items():
        names = {e["name"] for e in new}
        kc[key] = [e for e in kc.get(key) or [] if e["name"] not in names] + new
    kc["current-context"] = "minishift"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kc, default_flow_style=False))
    path.chmod(0o600)


def start(profile: str) -> int:
    settings = read_json(config_file(profile), {})
    print(f"-- Starting profile '{profile}'")
    driver = settings.get("vm-driver", "kvm")
    print(f"-- Using VM driver '{driver}' (FIXTURE: no VM is started)")
    # As Minishift's drivers do, the hypervisor's command line must be on PATH.
    needs = {
        "kvm": "docker-machine-driver-kvm",
        "virtualbox": "VBoxManage",
        "hyperkit": "docker-machine-driver-hyperkit",
    }
    if driver in needs and shutil.which(needs[driver]) is None:
        print(f"Error starting the VM: {needs[driver]} not found in PATH (driver {driver})", file=sys.stderr)
        return 1
    target = handover()
    if target is None:
        print(
            "Error starting the VM: FIXTURE minishift: no hypervisor here and no simulated cluster to hand over "
            "(MINISHIFT_FIXTURE_KUBECONFIG unset)",
            file=sys.stderr,
        )
        return 1
    version = settings.get("openshift-version", "v3.11.0")
    print(f"-- Starting OpenShift cluster {version} (FIXTURE: handing over a simulated cluster)")
    write_user_kubeconfig(target["ip"], target["cluster"], target["user"])
    write_json(vm_file(profile), {"state": "Running", "ip": target["ip"], "openshift_version": version})
    if not master_file(profile).exists():
        write_json(master_file(profile), MASTER_CONFIG)
    print("OpenShift server started.\n")
    print("The server is accessible via web console at:")
    print(f"    https://{target['ip']}:8443/console")
    return 0


def vm(profile: str) -> dict:
    return read_json(vm_file(profile), {})


def status(profile: str) -> int:
    state = vm(profile)
    if not state:
        print("Does Not Exist")
        return 0
    running = state["state"] == "Running"
    print(f"Minishift:  {state['state']}")
    print(f"Profile:    {profile}")
    print(
        f"OpenShift:  {'Running (openshift ' + state['openshift_version'] + OKD_BUILD + ')' if running else 'Stopped'}"
    )
    print(f"DiskUsage:  {'2% of 19G (Mounted On: /mnt/sda1)' if running else 'Unknown'}")
    print("CacheUsage: 12 KB (used by oc binary, ISO or cached images)")
    return 0


def need_running(profile: str) -> dict | None:
    state = vm(profile)
    if state.get("state") != "Running":
        print("Host is not running", file=sys.stderr)
        return None
    return state


def openshift(profile: str, args: list[str]) -> int:
    """`openshift config view|set --target=kube [--patch JSON]`: OKD's master config, merged as a JSON merge patch."""
    state = need_running(profile)
    if state is None:
        return 1
    opts = dict(a.split("=", 1) for a in args if a.startswith("--") and "=" in a)
    if opts.get("--target", "master") not in {"kube", "master"}:
        return refuse(["openshift", *args])
    master = read_json(master_file(profile), MASTER_CONFIG)
    if args[:2] == ["config", "view"]:
        import yaml  # noqa: PLC0415

        print(yaml.safe_dump(master, default_flow_style=False), end="")
        return 0
    if args[:2] == ["config", "set"] and "--patch" in args:
        patch = json.loads(args[args.index("--patch") + 1])
        write_json(master_file(profile), merge(master, patch))
        record({"profile": profile, "master_config_patch": patch})
        print("Patching OpenShift configuration 'kube' with '" + json.dumps(patch) + "'")
        print("Restarting OpenShift")
        return 0
    return refuse(["openshift", *args])


def merge(base, patch):
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(base.get(key), value)
    return out


def main(argv: list[str]) -> int:  # noqa: PLR0911, PLR0912 - one branch per subcommand
    profile, args = split_profile(argv)
    record({"argv": argv, "profile": profile})
    if not args:
        print("Usage: minishift [command]", file=sys.stderr)
        return 1
    cmd, rest = args[0], args[1:]
    if cmd == "version":
        print(f"minishift v{VERSION}+fixture")
        return 0
    if cmd == "profile":
        return profile_cmd(rest)
    if cmd == "start":
        return start(profile)
    if profile != DEFAULT_PROFILE and not profile_dir(profile).is_dir():
        return missing_profile(profile)
    if cmd == "config":
        return config(profile, rest)
    if cmd == "status":
        return status(profile)
    if cmd == "openshift":
        return openshift(profile, rest)
    if cmd in {"ip", "oc-env", "console"}:
        state = need_running(profile)
        if state is None:
            return 1
        if cmd == "ip":
            print(state["ip"])
        elif cmd == "oc-env":
            print(f'export PATH="{HOME}/cache/oc/{state["openshift_version"]}/linux:$PATH"')
            print("# Run this command to configure your shell:\n# eval $(minishift oc-env)")
        else:
            print(f"https://{state['ip']}:8443/console")
        return 0
    if cmd == "stop":
        state = need_running(profile)
        if state is None:
            return 1
        write_json(vm_file(profile), {**state, "state": "Stopped"})
        print("Stopping the OpenShift cluster...\nCluster stopped.")
        return 0
    if cmd == "delete":
        if not vm(profile):
            print("Host does not exist", file=sys.stderr)
            return 1
        vm_file(profile).unlink()
        master_file(profile).unlink(missing_ok=True)
        print("Deleting the Minishift VM...\nMinishift VM deleted.")
        return 0
    return refuse(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
