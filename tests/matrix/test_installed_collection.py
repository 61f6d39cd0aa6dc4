"""Issue 14: the collection as users install it, with the newest ansible-core.

The built tarball is installed by ``ansible-galaxy collection install <tarball> -p <empty folder>`` with the
``ansible`` package of the matrix venv (``make matrix-installed``: tests/matrix/core-<newest>.txt), which also
brings kubernetes.core. The lab then runs from a folder outside this checkout, with an environment that has
nothing of the checkout (no ansible.cfg, no collections path, no project venv, a HOME of its own), exactly as
README's "Installed from Galaxy" tells: ``ansible-playbook meshlab.service_mesh.site -e minishift_provider=existing
...`` on a simulated cluster of this test, a no-op re-run (changed=0), then the teardown command the closing summary
prints. No ``[DEPRECATION WARNING]`` may come from this collection; the ones from dependencies are printed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from meshlab_testlib import (
    ISTIO_VERSION,
    KEEP,
    LAB_SELECTOR,
    REPO,
    Cluster,
    PlaybookRun,
    launch,
    start_cluster,
)
from packaging.specifiers import SpecifierSet
from packaging.version import Version

MATRIX_VENV = os.environ.get("MESHLAB_MATRIX_VENV", "")
pytestmark = pytest.mark.skipif(
    not MATRIX_VENV, reason="MESHLAB_MATRIX_VENV is not set: run through `make matrix-installed`"
)
SELECTORS = (LAB_SELECTOR, "meshlab.io/role", "app.kubernetes.io/name=weave-scope")
# One warning: its first line up to the next line that starts a new message (or a blank line).
DEPRECATION = re.compile(r"^\[DEPRECATION WARNING\]:.*(?:\n(?!\[|TASK |PLAY |ok:|changed:|skipping:|$).*)*", re.M)


def user_env(home: Path, workdir: Path, collections: Path) -> dict[str, str]:
    """The environment of a user who installed the `ansible` package and this collection: nothing of the
    checkout. The fact cache settings are README's (the teardown learns the cluster from them)."""
    keep = {"LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "LOGNAME"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "HOME": str(home),
            "PWD": str(workdir),
            "PATH": f"{MATRIX_VENV}/bin:/usr/local/bin:/usr/bin:/bin",
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(home / ".cache" / "meshlab" / "facts"),
            "ANSIBLE_NOCOLOR": "1",
        }
    )
    return env


def user_run(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 1500) -> PlaybookRun:
    """A command as the user types it, in the user's environment only (tests/lib's launcher, nothing added)."""
    return launch(args, env, cwd=cwd, timeout=timeout)


def deprecations(output: str) -> list[str]:
    return [m.group(0).strip() for m in DEPRECATION.finditer(output)]


def ours(warning: str, installed: Path) -> bool:
    """A deprecation this collection causes: it names this collection or points into its installed files."""
    return "meshlab" in warning or str(installed) in warning


def install_tarball(
    env: dict[str, str], workdir: Path, dist: Path, collections: Path
) -> tuple[Path, Version, PlaybookRun]:
    """The tarball, built with the newest ansible-galaxy, installed into an empty path; kubernetes.core as the
    `ansible` package brings it, in requirements.yml's range. Returns (installed folder, its version, install run)."""
    galaxy = f"{MATRIX_VENV}/bin/ansible-galaxy"
    built = user_run([galaxy, "collection", "build", "--output-path", str(dist), str(REPO)], env, workdir)
    assert built.rc == 0, built.output
    (tarball,) = dist.glob("meshlab-service_mesh-*.tar.gz")
    inst = user_run([galaxy, "collection", "install", str(tarball), "-p", str(collections)], env, workdir)
    assert inst.rc == 0, inst.output
    installed = collections / "ansible_collections" / "meshlab" / "service_mesh"
    assert (installed / "MANIFEST.json").is_file() and not (installed / "galaxy.yml").exists(), sorted(
        p.name for p in installed.iterdir()
    )
    assert not installed.is_symlink()
    listed = subprocess.run(
        [galaxy, "collection", "list", "kubernetes.core", "--format", "json"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    k8s = max(Version(c["version"]) for cs in json.loads(listed.stdout).values() for c in cs.values())
    wanted = yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]
    spec = SpecifierSet(next(c["version"] for c in wanted if c["name"] == "kubernetes.core"))
    assert k8s in spec, f"kubernetes.core {k8s} found, requirements.yml wants {spec}"

    return installed, k8s, inst


@pytest.fixture(scope="module")
def lab_cluster() -> Cluster:
    cluster = start_cluster("kubernetes", "-installed")
    if cluster.kubectl("get", "namespace", "istio-system", "weave", check=False).stdout.strip():
        cluster.sh("down", timeout=180)  # kept by an earlier session (MESHLAB_KEEP_CLUSTER=1): start empty
        cluster.sh("up")
    yield cluster
    if not KEEP:
        cluster.sh("down", timeout=180)


def test_installed_collection_site_rerun_teardown(lab_cluster: Cluster, istio_base_url: str, tmp_path: Path):
    cluster = lab_cluster
    home, workdir, dist, collections = (tmp_path / d for d in ("home", "work", "dist", "collections"))
    for d in (home, workdir, dist):
        d.mkdir()
    assert not str(workdir).startswith(str(REPO)), "the user's folder must be outside the checkout"
    env = user_env(home, workdir, collections)
    core = user_run([f"{MATRIX_VENV}/bin/ansible", "--version"], env, workdir)
    assert core.rc == 0, core.output
    core_line = core.output.splitlines()[0]

    installed, k8s, inst = install_tarball(env, workdir, dist, collections)

    lab_vars = {
        "istio_version": ISTIO_VERSION,
        "istio_download_base_url": istio_base_url,
        # The local artifact server speaks plain http: allowed on purpose here, never by default.
        "istio_download_allow_http": True,
        "istio_wait_timeout": 180,
        "istio_readiness_timeout": 180,
        "weave_scope_wait_timeout": 180,
    }
    vars_file = workdir / "lab-vars.json"
    vars_file.write_text(json.dumps(lab_vars))
    site_cmd = [
        "ansible-playbook",
        "meshlab.service_mesh.site",
        "-e",
        "minishift_provider=existing",
        "-e",
        f"minishift_kubeconfig={cluster.kubeconfig}",
        "-e",
        f"@{vars_file}",
    ]
    site = user_run(site_cmd, env, workdir)
    assert site.rc == 0 and site.failed == 0, site.output[-8000:]
    made = {sel: cluster.lab_objects(sel) for sel in SELECTORS}
    assert all(made.values()), {sel: len(objs) for sel, objs in made.items()}
    assert (workdir / "lab-report" / "README.md").is_file(), "the report goes to the user's folder"

    # The closing summary speaks to an installed collection: a playbook command, no make target.
    summary = [line for line in site.output.splitlines() if "Tear down:" in line]
    assert summary, site.output[-4000:]
    teardown_line = summary[-1].split("Tear down:", 1)[1].strip().strip('",')
    assert "make " not in site.output.split("PLAY [What is where]")[-1], site.output[-3000:]
    assert teardown_line.startswith("ansible-playbook meshlab.service_mesh.teardown "), teardown_line

    rerun = user_run(site_cmd, env, workdir)
    assert rerun.rc == 0 and rerun.failed == 0, rerun.output[-8000:]
    assert rerun.changed == 0, (rerun.recap, [ln for ln in rerun.output.splitlines() if ln.startswith("changed:")])

    # The teardown exactly as the summary printed it (the note in parentheses is not part of the command).
    teardown_cmd = shlex.split(teardown_line.split(" (", 1)[0])
    down = user_run([*teardown_cmd, "-e", f"@{vars_file}"], env, workdir)
    assert down.rc == 0 and down.failed == 0, down.output[-8000:]
    for sel in SELECTORS:
        assert cluster.lab_objects(sel) == set(), f"left with {sel}: {cluster.lab_objects(sel)}"

    runs = {"install": inst.output, "site": site.output, "re-run": rerun.output, "teardown": down.output}
    found = {name: deprecations(out) for name, out in runs.items()}
    mine = {name: [w for w in ws if ours(w, installed)] for name, ws in found.items()}
    assert not any(mine.values()), mine
    others = sorted({w for ws in found.values() for w in ws})
    print(
        f"\n{core_line}; kubernetes.core {k8s}; site {site.seconds:.0f}s, re-run {rerun.seconds:.0f}s changed=0, "
        f"teardown {down.seconds:.0f}s ({teardown_line}); "
        f"{sum(len(o) for o in made.values())} labelled objects made and removed"
    )
    print(f"deprecation warnings from dependencies ({len(others)}):", *others, sep="\n  ")
