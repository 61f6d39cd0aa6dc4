"""Issue 8, secrets: the lab's secrets appear nowhere in the output (at -vvv), in the fact cache or in the report.

(i) Weave Scope with its Route and basic auth on the suite's own OpenShift cluster: the password the role generates
    is read back from the 0600 file it writes and from the Secret; neither it, nor its base64 (the Secret's data),
    nor the base64 of user:password (the Authorization header) may be in ansible-playbook's -vvv output, in the
    fact cache, or in the mesh report and the end-of-run summary run after it. state=absent then removes the Secret
    and the file.
(ii) OpenShift Local (provider crc) with a fake pull secret holding a unique marker: the role runs at -vvv as far as
    this machine lets it, against a fixture `crc` (tests/integration/fixtures/crc-fixture.py) that records every
    command line and what it read from the pull secret file. The marker must reach the fixture (so the test can
    fail: the secret was really passed) and appear nowhere in the output, the fact cache, or the report.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import shutil
import stat
import tarfile
import tempfile
import threading
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from meshlab_testlib import (
    REPO,
    Cluster,
    Playbook,
    PlaybookRun,
    ansible_playbook,
    cached_facts,
    files_under,
    launch,
    untag,
)

VERBOSE = "-vvv"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def leaks(secrets: dict[str, str], output: str, *folders: Path) -> list[str]:
    """Where any of the secrets (name -> value) shows: 'output' or a file path."""
    found = []
    for name, value in secrets.items():
        assert len(value) >= 8, f"{name} is too short to search for: {value!r}"
        at = output.find(value)
        if at >= 0:
            # Where it shows, the secret itself masked, so that a failure says which task printed it.
            task = output.rfind("TASK [", 0, at)
            context = output[max(task, at - 1500) : at + 300].replace(value, "<SECRET>")
            found.append(f"{name} in the ansible-playbook output:\n{context}")
        for folder in folders:
            for rel in files_under(folder):
                path = folder / rel
                if path.is_file() and value.encode() in path.read_bytes():
                    found.append(f"{name} in {path}")
    return found


SCOPE_PLAY = """
- name: Weave Scope with its Route and basic auth
  hosts: localhost
  gather_facts: true
  tasks:
    - name: The cluster is described as the minishift role would publish it
      meshlab.service_mesh.cluster_facts:
        kubeconfig: "{{ secrets_kubeconfig }}"
      register: secrets_cluster

    - name: Meshlab_cluster tells the roles and the report where the cluster is (fact cache, as in the lab)
      ansible.builtin.set_fact:
        meshlab_cluster: "{{ secrets_cluster.cluster }}"
        cacheable: true

    - name: Weave Scope is in the asked state
      ansible.builtin.include_role:
        name: meshlab.service_mesh.weave_scope
"""

REPORT_PLAYS = f"""
- name: The mesh report
  ansible.builtin.import_playbook: {REPO}/playbooks/explore.yml

- name: The end-of-run summary
  ansible.builtin.import_playbook: {REPO}/playbooks/summary.yml
"""


def test_scope_basic_auth_password_is_never_shown(openshift: Cluster, tmp_path):
    namespace = "bi-secrets"
    creds = tmp_path / "credentials" / "weave-scope.credentials"
    common = {
        "secrets_kubeconfig": str(openshift.kubeconfig),
        "weave_scope_namespace": namespace,
        "weave_scope_route_enabled": True,
        "weave_scope_basic_auth_file": str(creds),
        "weave_scope_wait_timeout": 120,
        # The report runs without BookInfo (no Istio here): it describes what is there, Scope's namespace too.
        "mesh_report_require_bookinfo": False,
    }
    run = ansible_playbook(SCOPE_PLAY + REPORT_PLAYS, tmp_path, common, VERBOSE)
    assert run.rc == 0 and run.failed == 0, f"{run.recap}\n{run.output[-5000:]}"
    # -vvv: the connection is shown (strategy linear), and under any strategy each module's invocation (its
    # arguments), which Ansible prints from -vvv on only.
    assert (
        "<127.0.0.1>" in run.output
        or "ESTABLISH LOCAL CONNECTION" in run.output
        or ("invocation:\n" in run.output and "module_args:" in run.output)
    ), "not run at -vvv"

    # The credentials file: mode 0600 in a 0700 folder, and the Secret holds the same password.
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600, oct(creds.stat().st_mode)
    assert stat.S_IMODE(creds.parent.stat().st_mode) == 0o700, oct(creds.parent.stat().st_mode)
    fields = {}
    for line in creds.read_text().splitlines():
        if not line.startswith("#") and ":" in line:
            key, _sep, value = line.partition(":")
            fields[key.strip()] = json.loads(value.strip())
    username, password = fields["username"], fields["password"]
    assert len(password) == 32, "the generated password has the default length (32)"
    secret = json.loads(
        openshift.kubectl("-n", namespace, "get", "secret", "weave-scope-basic-auth", "-o", "json").stdout
    )
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert base64.b64decode(secret["data"]["password"]).decode() == password
    assert base64.b64decode(secret["data"]["username"]).decode() == username

    # The report and the summary ran (so that there is something to search in).
    report = tmp_path / "report"
    assert files_under(report), f"no mesh report was written to {report}:\n{run.output[-3000:]}"
    assert "What is where" in run.output
    facts = tmp_path / "facts"
    assert files_under(facts), "the fact cache is empty: meshlab_cluster should be in it"

    secrets = {
        "the password": password,
        "the password in base64 (the Secret's data)": secret["data"]["password"],
        "user:password in base64 (the Authorization header)": b64(f"{username}:{password}"),
    }
    found = leaks(secrets, run.output, facts, report)
    assert not found, "\n\n".join(found)

    # state=absent: the Secret and the credentials file are gone (the role's contract), and nothing labelled is left.
    gone = ansible_playbook(SCOPE_PLAY, tmp_path, {**common, "weave_scope_state": "absent"}, VERBOSE)
    assert gone.rc == 0 and gone.failed == 0, f"{gone.recap}\n{gone.output[-5000:]}"
    found = leaks(secrets, gone.output, facts, report)
    assert not found, "\n\n".join(found)
    missing = openshift.kubectl("-n", namespace, "get", "secret", "weave-scope-basic-auth", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr, missing.stdout + missing.stderr
    assert not creds.exists(), f"{creds} is still there after weave_scope_state=absent"
    assert {o for o in openshift.lab_objects() if o[1] == namespace or namespace in o[2]} == set()


# --- (ii) OpenShift Local's pull secret -------------------------------------------------------------------------

FIXTURE_CRC = Path(__file__).resolve().parent / "fixtures" / "crc-fixture.py"
CRC_VERSION = "2.62.0"
# `crc setup` must not run as root, and the role's preflight says so: the run is made as nobody. This venv's Python
# lives under /root (not readable by others), so nobody runs Ansible with the system Python 3.11 and this venv's
# packages on PYTHONPATH.
NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
SITE_PACKAGES = next((REPO / ".venv" / "lib").glob("python3.*/site-packages"), None)

CRC_PLAY = """
- name: OpenShift Local with a pull secret
  hosts: localhost
  gather_facts: true
  roles:
    - role: meshlab.service_mesh.minishift
"""


def crc_artifacts(root: Path) -> str:
    """The fixture packed as crc's release (<root>/<version>/crc-linux-amd64.tar.xz + sha256sum.txt)."""
    folder = root / CRC_VERSION
    folder.mkdir(parents=True)
    asset = folder / "crc-linux-amd64.tar.xz"
    with tarfile.open(asset, "w:xz") as tar:
        info = tar.gettarinfo(str(FIXTURE_CRC), arcname=f"crc-{CRC_VERSION}-linux-amd64/crc")
        info.mode = 0o755
        info.uid = info.gid = 0
        with FIXTURE_CRC.open("rb") as f:
            tar.addfile(info, f)
    digest = hashlib.sha256(asset.read_bytes()).hexdigest()
    (folder / "sha256sum.txt").write_text(f"{digest}  {asset.name}\n")
    return digest


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def run_as_nobody(play: str, work: Path, extra_vars: dict, *args: str, env: dict) -> PlaybookRun:
    """ansible-playbook as the unprivileged user nobody, its HOME, fact cache and report inside work, in an
    environment of its own (nothing inherited from this process)."""
    book = Playbook(
        play,
        work,
        extra_vars,
        args,
        python=SYSTEM_PYTHON,
        launcher=(SYSTEM_PYTHON, str(REPO / ".venv" / "bin" / "ansible-playbook")),
        collections=Path(os.environ.get("ANSIBLE_COLLECTIONS_PATH", REPO / ".cache" / "collections")).resolve(),
        base_env={},
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(work / "home"),
            "USER": "nobody",
            "LOGNAME": "nobody",
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(SITE_PACKAGES),
            # nobody's home in /etc/passwd is /nonexistent: Ansible's temporary files go below HOME instead.
            "ANSIBLE_REMOTE_TEMP": str(work / "home" / ".ansible" / "tmp"),
            "ANSIBLE_LOCAL_TEMP": str(work / "home" / ".ansible" / "tmp"),
            # async_status looks for the job's record below ~nobody unless told where the job wrote it.
            "ANSIBLE_ASYNC_DIR": str(work / "home" / ".ansible_async"),
            **coverage_env(work),
            **env,
        },
    )
    # The files nobody reads (play.yml, the extra vars) are written first, then everything in work is nobody's.
    cmd, full_env = book.command(), book.environment()
    for path in [work, *work.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    run = launch(cmd, full_env, timeout=900, user=NOBODY, group=NOBODY, extra_groups=[])
    coverage_collect(work)
    return run


def coverage_env(work: Path) -> dict[str, str]:
    """make test's task-file coverage callback (tests/coverage) for a run as nobody: it logs into work, which nobody
    may write, and coverage_collect() appends that to the log of the test run."""
    if not os.environ.get("MESHLAB_TASK_COVERAGE_LOG"):
        return {}
    keys = ("ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED")
    return {**{k: os.environ[k] for k in keys if k in os.environ}, "MESHLAB_TASK_COVERAGE_LOG": str(work / "tasks.log")}


def coverage_collect(work: Path) -> None:
    log, ran = os.environ.get("MESHLAB_TASK_COVERAGE_LOG"), work / "tasks.log"
    if log and ran.is_file():
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with Path(log).open("a") as f:
            f.write(ran.read_text())


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the role as the user nobody, which needs root to switch to")
@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists() or SITE_PACKAGES is None, reason="no system Python 3 or venv")
def test_crc_pull_secret_is_passed_but_never_shown(openshift: Cluster, tmp_path):
    # nobody cannot enter pytest's tmp_path (root's, 0700): the run gets a folder of its own.
    work = Path(tempfile.mkdtemp(prefix="meshlab-bi-crc-"))
    server = None
    try:
        work.chmod(0o755)
        home = work / "home"
        home.mkdir()
        marker = f"MESHLAB-FAKE-PULL-SECRET-{uuid.uuid4().hex}"
        admin_password = f"MESHLAB-FAKE-KUBEADMIN-{uuid.uuid4().hex}"
        pull_secret = home / "pull-secret.json"
        pull_secret.write_text(
            json.dumps({"auths": {"cloud.openshift.com": {"auth": marker, "email": "lab@example.invalid"}}})
        )
        pull_secret.chmod(0o600)
        handover = home / "handover-kubeconfig"
        shutil.copyfile(openshift.kubeconfig, handover)
        crc_artifacts(work / "artifacts")
        server, url = serve(work / "artifacts")
        host = {
            name: str(work / "host" / name)
            for name in [
                "minishift_bin_dir",
                "minishift_install_dir",
                "minishift_download_dir",
                "minishift_kubeconfig_dir",
                "minishift_kwok_workdir",
            ]
        }
        extra = {
            **host,
            "minishift_provider": "crc",
            # microshift: needs a pull secret, and fits this host (2 CPUs; openshift and okd ask for 4).
            "minishift_crc_preset": "microshift",
            "minishift_crc_cpus": 2,
            "minishift_crc_memory_mib": 4096,
            "minishift_crc_pull_secret_file": str(pull_secret),
            "minishift_crc_download_base_url": url,
            "minishift_download_allow_http": True,  # this test's artifact server is plain http on 127.0.0.1
            "minishift_crc_version": CRC_VERSION,
            "minishift_start_timeout": 120,
            "mesh_report_require_bookinfo": False,
        }
        (home / ".crc").mkdir()
        (home / ".crc" / "fixture-admin-password").write_text(admin_password)
        env = {"CRC_FIXTURE_KUBECONFIG": str(handover)}
        run = run_as_nobody(CRC_PLAY + REPORT_PLAYS, work, extra, VERBOSE, env=env)
        tail = run.output[-6000:]
        assert "ESTABLISH LOCAL CONNECTION FOR USER: nobody" in run.output, tail
        assert run.rc == 0 and run.failed == 0, f"{run.recap}\n{tail}"

        # The fixture was installed from the verified download and got the secret: by path in its configuration,
        # on `crc start -p`, and it read the marker from the file.
        calls = [json.loads(line) for line in (home / ".crc" / "fixture-calls.jsonl").read_text().splitlines()]
        argvs = [c["argv"] for c in calls if "argv" in c]
        assert ["config", "set", "pull-secret-file", str(pull_secret)] in argvs, argvs
        assert ["start", "-o", "json", "-p", str(pull_secret)] in argvs, argvs
        reads = [c for c in calls if "start_pull_secret_content" in c]
        assert reads and all(marker in c["start_pull_secret_content"] for c in reads), reads
        # The cluster it handed over was published (the run went through to the end).
        facts = work / "facts"
        assert any(b"meshlab_cluster" in (facts / f).read_bytes() for f in files_under(facts))
        report = work / "report"
        assert files_under(report), f"no report in {report}:\n{tail}"

        secrets = {
            "the pull secret's marker": marker,
            "the pull secret file's content": pull_secret.read_text(),
            "the marker in base64": b64(marker),
            "the kubeadmin password crc printed": admin_password,
        }
        # Nor in what Ansible keeps of the async `crc start` job (its record holds crc's whole answer).
        found = leaks(secrets, run.output, facts, report, home / ".ansible_async", home / ".ansible")
        assert not found, "\n\n".join(found)

        crc_absent_leaves_nothing(work, extra, env, secrets)
    finally:
        if server is not None:
            server.shutdown()
        if os.environ.get("MESHLAB_IT_KEEP_WORK") == "1":
            print(f"kept for inspection: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def crc_absent_leaves_nothing(work: Path, extra: dict, env: dict, secrets: dict[str, str]) -> None:
    """state=absent (crc/absent.yml): the VM deleted, `crc setup`'s changes undone, the install and link gone."""
    home = work / "home"
    gone = run_as_nobody(
        CRC_PLAY, work, {**extra, "minishift_state": "absent", "minishift_remove_downloads": True}, env=env
    )
    assert gone.rc == 0 and gone.failed == 0, f"{gone.recap}\n{gone.output[-6000:]}"
    calls = [json.loads(line) for line in (home / ".crc" / "fixture-calls.jsonl").read_text().splitlines()]
    argvs = [c["argv"] for c in calls if "argv" in c]
    assert ["delete", "--force"] in argvs and ["cleanup"] in argvs, argvs
    assert not (work / "host" / "minishift_bin_dir" / "crc").exists(), "the crc link is left"
    assert not (work / "host" / "minishift_install_dir" / "crc" / CRC_VERSION).exists()
    found = leaks(secrets, gone.output, work / "facts", work / "report")
    assert not found, "\n\n".join(found)


# --- (iii) issue 12: the fact cache is private and holds no environment ------------------------------------------

SITE = REPO / "playbooks" / "site.yml"
TEARDOWN = REPO / "playbooks" / "teardown.yml"


def cache_payloads(facts: Path) -> dict[str, dict]:
    """Every file of the jsonfile fact cache, decoded (a payload may be wrapped as JSON text in __payload__)."""
    return cached_facts(facts)


def env_in_cache(facts: Path, marker: str) -> list[str]:
    """Where the environment shows in the fact cache: a non-empty ansible_env, or the marker anywhere."""
    found = []
    for rel, payload in cache_payloads(facts).items():
        env = untag(payload.get("ansible_env"))  # ansible-core 2.19 keeps tagged values as {value, tags}
        if env:
            found.append(f"{rel}: ansible_env holds {sorted(env)[:10]}...")
        if marker in (facts / rel).read_text():
            found.append(f"{rel}: the marker variable's value")
    return found


def test_site_and_teardown_keep_the_fact_cache_private_and_without_environment(k8s: Cluster, tmp_path):
    """playbooks/site.yml (the Scope stage) and teardown.yml as a user runs them, with a token-like variable in the
    environment: the fact cache folder ends 0700 and no cached file holds the environment or the token."""
    marker = f"MESHLAB-FAKE-TOKEN-{uuid.uuid4().hex}"
    env = {"MESHLAB_FAKE_API_TOKEN": marker}
    facts = tmp_path / "facts"
    # As Ansible's jsonfile cache makes it under a usual umask: readable by everyone.
    facts.mkdir(mode=0o755)
    facts.chmod(0o755)
    extra = {
        "weave_scope_kubeconfig": str(k8s.kubeconfig),
        "weave_scope_namespace": "bi-host-cache",
        "weave_scope_wait": False,
        "weave_scope_basic_auth_file": str(tmp_path / "credentials" / "weave-scope.credentials"),
    }
    run = ansible_playbook(SITE, tmp_path, extra, "--tags", "scope", env=env)
    assert run.rc == 0 and run.failed == 0, f"{run.recap}\n{run.output[-5000:]}"
    assert "TASK [meshlab.service_mesh.weave_scope" in run.output, "the Scope stage did not run"
    assert files_under(facts), "nothing was cached: the test would prove nothing"
    assert stat.S_IMODE(facts.stat().st_mode) == 0o700, oct(facts.stat().st_mode)
    # The host facts the roles read are there (so facts were gathered), the environment is not.
    payloads = cache_payloads(facts)
    assert any("ansible_user_dir" in p for p in payloads.values()), list(payloads)
    assert all("ansible_env" not in p for p in payloads.values()), "the environment was gathered into the cache"
    assert env_in_cache(facts, marker) == []

    # Teardown waits for Scope's objects to be gone (the namespace is checked below).
    gone = ansible_playbook(TEARDOWN, tmp_path, {**extra, "weave_scope_wait": True}, "--tags", "scope", env=env)
    assert gone.rc == 0 and gone.failed == 0, f"{gone.recap}\n{gone.output[-5000:]}"
    assert stat.S_IMODE(facts.stat().st_mode) == 0o700, oct(facts.stat().st_mode)
    assert env_in_cache(facts, marker) == []
    assert {o for o in k8s.lab_objects() if o[1] == "bi-host-cache" or "bi-host-cache" in o[2]} == set()


OLD_CACHE_PLAY = """
- name: A fact cache as written before issue 12 (every fact gathered, the environment included)
  hosts: localhost
  gather_facts: true
  tasks:
    - name: Meshlab_cluster is cached as the lab does
      ansible.builtin.set_fact:
        meshlab_cluster: {kubeconfig: "{{ old_kubeconfig }}", context: old-lab}
        cacheable: true
"""


def test_a_fact_cache_holding_the_environment_is_emptied_of_it(tmp_path):
    """A cache from before (env gathered, folder 0755) loses the environment on the next run of site.yml, keeps
    meshlab_cluster, and the folder becomes 0700. Only the tasks tagged always run: no cluster is needed."""
    marker = f"MESHLAB-FAKE-TOKEN-{uuid.uuid4().hex}"
    env = {"MESHLAB_FAKE_API_TOKEN": marker}
    facts = tmp_path / "facts"
    # The cluster it names still has its kubeconfig (a cached cluster whose kubeconfig is gone is dropped).
    kubeconfig = tmp_path / "old-lab-kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    old = ansible_playbook(OLD_CACHE_PLAY, tmp_path, {"old_kubeconfig": str(kubeconfig)}, env=env)
    assert old.rc == 0, old.output[-3000:]
    facts.chmod(0o755)
    assert env_in_cache(facts, marker), "the old-style cache should hold the environment: the test would prove nothing"

    run = ansible_playbook(SITE, tmp_path, {}, "--tags", "always", env=env)
    assert run.rc == 0 and run.failed == 0, f"{run.recap}\n{run.output[-5000:]}"
    assert stat.S_IMODE(facts.stat().st_mode) == 0o700, oct(facts.stat().st_mode)
    assert env_in_cache(facts, marker) == []
    assert any("meshlab_cluster" in p for p in cache_payloads(facts).values()), "meshlab_cluster was lost"
    # Once emptied, a second run changes nothing.
    again = ansible_playbook(SITE, tmp_path, {}, "--tags", "always", env=env)
    assert again.rc == 0 and again.changed == 0, f"{again.recap}\n{again.output[-3000:]}"
