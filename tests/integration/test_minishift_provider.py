"""Issue 15, item 1: the minishift provider's start path, end to end, on a simulated cluster handed over by a
FIXTURE `minishift` (molecule/minishift/files/minishift-fixture.py; it answers as Minishift 1.34.3 does).

The role downloads the fixture packed as Minishift's release from a local server, verifies its .sha256, unpacks
and links it, configures the profile, and then runs what no other test reaches: `minishift start` (the fixture
hands over this module's OpenShift-flavoured simulated cluster, whose API server listens on 127.0.0.1:8443 as a
Minishift VM's does), the admission-webhook patch of OKD 3.11's master config (the fixture records it), the
system:admin-only kubeconfig (0600), `minishift ip`, stop and start again, Weave Scope and Istio through
playbooks/site.yml on that cluster, and state=absent.

What is a stand-in, and why:
- No VM starts: the fixture `minishift` starts nothing; its `start` hands over the simulated cluster.
- This host is a container: the kvm driver's preflight refuses it (test_kvm_preflight_refuses_a_container), as it
  must. The start path therefore runs with minishift_vm_driver=virtualbox and a FIXTURE `VBoxManage` that only
  answers `--version` (the preflight's VirtualBox check); the memory, CPU and disk checks are this host's real ones.
- libvirt.yml (libvirtd, the default network) runs only with the kvm driver on a KVM host that is not a container:
  test_kvm_host_preparation_and_libvirt is written for such a host (MESHLAB_LIVE=1) and SKIPPED here.
- OKD 3.11's version path: the role publishes openshift_version 3.11.0 (minishift_openshift_version), so Weave
  Scope takes its OpenShift 3 path (no OpenShift 4 host-network or router peers). Istio 1.1, the line OKD 3.11
  (Kubernetes 1.11) needs, cannot run on the simulated cluster, which is Kubernetes 1.35: asking for it is refused
  before any change, naming both versions, and site.yml installs the Istio line that fits Kubernetes 1.35.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from meshlab_testlib import (
    CACHE_DIR,
    ISTIO_VERSION,
    KEEP,
    KUBECTL,
    PREFIX,
    REPO,
    Cluster,
    PlaybookRun,
    ansible_playbook,
    files_under,
    start_cluster,
)

MINISHIFT_VERSION = "1.34.3"
FIXTURE_CLI = REPO / "molecule" / "minishift" / "files" / "minishift-fixture.py"
PROFILE = "meshlab-ms"
# Minishift's API server is always at https://<minishift ip>:8443.
API_PORT = 8443
SERVER = f"https://127.0.0.1:{API_PORT}"
WEBHOOK_PLUGIN = {
    "configuration": {
        "apiVersion": "apiserver.config.k8s.io/v1alpha1",
        "kind": "WebhookAdmission",
        "kubeConfigFile": "/dev/null",
    }
}
WEBHOOK_PATCH = {
    "admissionConfig": {
        "pluginConfig": {"ValidatingAdmissionWebhook": WEBHOOK_PLUGIN, "MutatingAdmissionWebhook": WEBHOOK_PLUGIN}
    }
}
ROLE_PLAY = """
- name: The minishift role, provider minishift
  hosts: localhost
  gather_facts: false
  roles:
    - role: meshlab.service_mesh.minishift
"""
VBOXMANAGE = """#!/bin/sh
# FIXTURE, not VirtualBox (tests/integration/test_minishift_provider.py): answers the minishift role's preflight
# (`VBoxManage --version`) and the fixture minishift's look-up on PATH; it can run no VM.
case "$1" in
--version) echo "7.0.20r163906" ;;
*) echo "FIXTURE VBoxManage: '$*' is not served" >&2; exit 2 ;;
esac
"""
FOREIGN_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "elsewhere", "cluster": {"server": "https://elsewhere.invalid:6443"}}],
    "users": [{"name": "someone", "user": {"token": "not-a-token-of-this-lab"}}],
    "contexts": [{"name": "other-work", "context": {"cluster": "elsewhere", "user": "someone"}}],
    "current-context": "other-work",
}


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture(scope="module")
def minishift_cluster() -> Cluster:
    """An OpenShift-flavoured simulated cluster of this module whose API server listens on 127.0.0.1:8443.

    8443 is one port for the whole machine: two runs of this module (two engineers' suites) take turns through a
    lock file, the second waiting up to MESHLAB_MINISHIFT_PORT_WAIT seconds (default 1800)."""
    suffix = "-minishift"
    kept = CACHE_DIR / "cluster" / f"{PREFIX}{suffix}-openshift" / "kubeconfig"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"minishift-port-{API_PORT}.lock").open("w") as lock:
        deadline = time.monotonic() + int(os.environ.get("MESHLAB_MINISHIFT_PORT_WAIT", "1800"))
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip(f"another run of this module held 127.0.0.1:{API_PORT} for too long")
                time.sleep(5)
        if port_taken(API_PORT):
            # Ours, kept by an earlier session (MESHLAB_KEEP_CLUSTER=1), is reused by `up`; anything else on 8443
            # makes the handover impossible.
            probe = subprocess.run(
                [KUBECTL, "--kubeconfig", kept, "--request-timeout=10s", "--server", SERVER, "get", "--raw", "/readyz"],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            if not kept.exists() or probe.stdout.strip() != "ok":
                pytest.skip(
                    f"127.0.0.1:{API_PORT} is taken by another program: a Minishift VM's API server is always at "
                    f"<ip>:{API_PORT}, so the simulated cluster handed over cannot listen there"
                )
        cluster = start_cluster("openshift", suffix, env={"MESHLAB_APISERVER_PORT": str(API_PORT)})
        yield cluster
        if not KEEP:
            cluster.sh("down", timeout=180)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@dataclass
class Lab:
    work: Path
    home: Path
    cluster: Cluster
    env: dict[str, str]
    extra: dict

    @property
    def calls(self) -> list[dict]:
        log = self.home / ".minishift" / "fixture-calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def argvs(self, *words: str) -> list[list[str]]:
        """The fixture's command lines (without --profile) whose first words are `words`."""
        out = []
        for call in self.calls:
            if "argv" not in call:
                continue
            args = [a for a in call["argv"] if a not in ("--profile", call["profile"])]
            if args[: len(words)] == list(words):
                out.append(args)
        return out

    def minishift(self, *args: str) -> subprocess.CompletedProcess:
        """The installed fixture CLI, run as the role runs it (same HOME, PATH and handover)."""
        return subprocess.run(
            [self.home / ".local" / "bin" / "minishift", "--profile", PROFILE, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def play(self, extra: dict | None = None, *args: str, playbook: str | Path = ROLE_PLAY, timeout=900) -> PlaybookRun:
        return ansible_playbook(
            playbook, self.work, {**self.extra, **(extra or {})}, *args, env=self.env, timeout=timeout
        )

    @property
    def kubeconfig(self) -> Path:
        return self.home / ".kube" / "meshlab" / f"minishift-{PROFILE}.yaml"

    def cached_cluster(self) -> dict:
        for rel in files_under(self.work / "facts"):
            data = json.loads((self.work / "facts" / rel).read_text())
            # ansible-core 2.19+ wraps the payload as JSON text and keeps tagged values as {value, tags, ...}.
            data = json.loads(data["__payload__"]) if "__payload__" in data else data
            fact = data.get("meshlab_cluster")
            if isinstance(fact, dict) and "__ansible_type" in fact:
                fact = fact["value"]
            if fact:
                return fact
        raise AssertionError(f"no meshlab_cluster in the fact cache {self.work / 'facts'}")


def pack_release(root: Path) -> None:
    """The fixture CLI packed as Minishift's release: v<ver>/minishift-<ver>-linux-amd64.tgz and its .sha256."""
    folder = root / f"v{MINISHIFT_VERSION}"
    folder.mkdir(parents=True)
    top = f"minishift-{MINISHIFT_VERSION}-linux-amd64"
    asset = folder / f"{top}.tgz"
    with tarfile.open(asset, "w:gz") as tar:
        info = tar.gettarinfo(str(FIXTURE_CLI), arcname=f"{top}/minishift")
        info.mode, info.uid, info.gid = 0o755, 0, 0
        with FIXTURE_CLI.open("rb") as f:
            tar.addfile(info, f)
    (folder / f"{asset.name}.sha256").write_text(hashlib.sha256(asset.read_bytes()).hexdigest() + "\n")


@pytest.fixture(scope="module")
def lab(minishift_cluster: Cluster, tmp_path_factory) -> Lab:
    work = tmp_path_factory.mktemp("minishift-provider")
    home = work / "home"
    (home / ".kube").mkdir(parents=True)
    # The user's own kubeconfig holds another context: the role must leave it alone and never pick it.
    (home / ".kube" / "config").write_text(yaml.safe_dump(FOREIGN_KUBECONFIG))
    # What `minishift start` hands over: the simulated cluster's system:admin, credentials embedded.
    handover = work / "handover-kubeconfig.yaml"
    flat = minishift_cluster.kubectl("config", "view", "--raw", "--flatten", "--minify").stdout
    assert yaml.safe_load(flat)["clusters"][0]["cluster"]["server"] == SERVER, flat[:400]
    handover.write_text(flat)
    fixture_bin = work / "fixture-bin"
    fixture_bin.mkdir()
    (fixture_bin / "VBoxManage").write_text(VBOXMANAGE)
    (fixture_bin / "VBoxManage").chmod(0o755)
    pack_release(work / "releases")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(work / "releases")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "HOME": str(home),
        "PATH": f"{fixture_bin}:{os.environ['PATH']}",
        "MINISHIFT_FIXTURE_KUBECONFIG": str(handover),
    }
    extra = {
        "minishift_provider": "minishift",
        "minishift_profile": PROFILE,
        "minishift_vm_driver": "virtualbox",
        "minishift_download_base_url": f"http://127.0.0.1:{server.server_address[1]}",
        # The local artifact servers are plain http on 127.0.0.1: allowed explicitly.
        "minishift_download_allow_http": True,
        "istio_download_allow_http": True,
        "minishift_download_retries": 2,
        "minishift_download_delay": 1,
        "minishift_start_timeout": 120,
    }
    yield Lab(work=work, home=home, cluster=minishift_cluster, env=env, extra=extra)
    server.shutdown()


def test_kvm_preflight_refuses_a_container(lab: Lab):
    """The kvm driver (Linux's default) is refused on this host before any change when it is a container."""
    if not Path("/.dockerenv").exists() and not Path("/run/.containerenv").exists():
        pytest.skip("this host is not a container: the kvm preflight may pass here (see the libvirt test)")
    run = lab.play({"minishift_vm_driver": "kvm", "minishift_profile": "kvm-refused"})
    assert run.rc != 0 and run.failed == 1, run.output[-4000:]
    assert "this host is a docker container, which cannot run a VM" in run.output, run.output[-4000:]
    assert not (lab.home / ".local" / "bin" / "minishift").exists(), "the refused run installed minishift"
    assert not lab.calls, "the refused run called minishift"


def test_start_kubeconfig_and_admission_webhooks(lab: Lab):
    first = lab.play()
    assert first.rc == 0 and first.failed == 0, f"{first.recap}\n{first.output[-6000:]}"
    # Started once, configured for the profile, the webhook patch asked exactly as OKD 3.11 documents it.
    assert lab.argvs("start") == [["start"]], lab.calls
    config = json.loads((lab.home / ".minishift" / "profiles" / PROFILE / "config" / f"{PROFILE}.json").read_text())
    assert config["vm-driver"] == "virtualbox" and config["openshift-version"] == "v3.11.0", config
    patches = [c["master_config_patch"] for c in lab.calls if "master_config_patch" in c]
    assert patches == [WEBHOOK_PATCH], patches
    (patch_argv,) = lab.argvs("openshift", "config", "set")
    assert patch_argv[:-1] == ["openshift", "config", "set", "--target=kube", "--patch"], patch_argv
    master = yaml.safe_load(lab.minishift("openshift", "config", "view", "--target=kube").stdout)
    plugins = master["admissionConfig"]["pluginConfig"]
    assert (
        plugins["MutatingAdmissionWebhook"] == WEBHOOK_PLUGIN
        and plugins["ValidatingAdmissionWebhook"] == WEBHOOK_PLUGIN
    )
    assert "BuildDefaults" in plugins, "the patch replaced OKD's other admission settings instead of merging"

    # The lab's kubeconfig: 0600 in a 0700 folder, only Minishift's system:admin, never the developer's token.
    kc_path = lab.kubeconfig
    assert stat.S_IMODE(kc_path.stat().st_mode) == 0o600, oct(kc_path.stat().st_mode)
    assert stat.S_IMODE(kc_path.parent.stat().st_mode) == 0o700, oct(kc_path.parent.stat().st_mode)
    kc = yaml.safe_load(kc_path.read_text())
    assert [c["name"] for c in kc["contexts"]] == [f"minishift-{PROFILE}"], kc["contexts"]
    assert [u["name"] for u in kc["users"]] == ["system:admin/127-0-0-1:8443"], [u["name"] for u in kc["users"]]
    assert [c["cluster"]["server"] for c in kc["clusters"]] == [SERVER]
    assert kc["current-context"] == f"minishift-{PROFILE}"
    text = kc_path.read_text()
    assert "developer" not in text and "fixture-developer-token" not in text and "elsewhere" not in text
    # It works: system:admin of the handed-over cluster lists nodes.
    nodes = subprocess.run(
        [KUBECTL, "--kubeconfig", kc_path, "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert nodes.returncode == 0 and nodes.stdout.count("node/") >= 1, nodes.stdout + nodes.stderr
    # The user's kubeconfig kept its own context (Minishift's were added beside it).
    user_kc = yaml.safe_load((lab.home / ".kube" / "config").read_text())
    assert {"other-work", "minishift", "default/127-0-0-1:8443/system:admin"} <= {
        c["name"] for c in user_kc["contexts"]
    }

    # meshlab_cluster: what the other roles read (fact cache of this test, never the checkout's).
    cluster = lab.cached_cluster()
    assert cluster["provider"] == "minishift" and cluster["platform"] == "openshift", cluster
    assert cluster["openshift_version"].lstrip("v").startswith("3.11"), cluster
    assert cluster["routing_suffix"] == "127.0.0.1.nip.io", cluster
    assert cluster["kubeconfig"] == str(kc_path) and cluster["context"] == f"minishift-{PROFILE}", cluster
    assert cluster["simulated"] is True, cluster
    assert "Console: https://127.0.0.1:8443/console" in first.output

    # A second converge changes nothing: no second start, no second patch.
    second = lab.play()
    assert second.rc == 0 and second.changed == 0, f"{second.recap}\n{second.output[-6000:]}"
    assert len(lab.argvs("start")) == 1 and len([c for c in lab.calls if "master_config_patch" in c]) == 1


def test_stop_then_start_again(lab: Lab):
    stopped = lab.play({"minishift_state": "stopped"})
    assert stopped.rc == 0 and stopped.changed == 1, f"{stopped.recap}\n{stopped.output[-4000:]}"
    assert lab.argvs("stop") == [["stop"]], lab.calls
    status = lab.minishift("status").stdout
    assert "Minishift:  Stopped" in status and "OpenShift:  Stopped" in status, status
    again = lab.play({"minishift_state": "stopped"})
    assert again.rc == 0 and again.changed == 0, f"{again.recap}\n{again.output[-4000:]}"
    assert len(lab.argvs("stop")) == 1

    before = lab.kubeconfig.read_text()
    started = lab.play()
    assert started.rc == 0 and started.failed == 0 and started.changed >= 1, started.output[-6000:]
    assert len(lab.argvs("start")) == 2, lab.calls
    # The master config kept the webhooks over the restart: no second patch.
    assert len([c for c in lab.calls if "master_config_patch" in c]) == 1
    assert "OpenShift:  Running (openshift v3.11.0" in lab.minishift("status").stdout
    assert lab.kubeconfig.read_text() == before


def test_site_runs_weave_scope_and_istio_on_the_handed_over_cluster(lab: Lab, istio_base_url):
    scope_ns = "weave"
    site_vars = {
        "istio_version": ISTIO_VERSION,
        "istio_download_base_url": istio_base_url,
        "istio_cache_dir": str(lab.work / "istio-cache"),
        "istio_bin_dir": str(lab.work / "istio-bin"),
        "istio_wait_timeout": 180,
        "istio_readiness_timeout": 180,
        "weave_scope_wait_timeout": 180,
        "weave_scope_route_enabled": True,
        "weave_scope_basic_auth_file": str(lab.work / "weave-scope.credentials"),
    }
    # OKD 3.11's Istio (1.1, Kubernetes 1.11-1.13) cannot run on Kubernetes 1.35: refused, naming both.
    old = lab.play(
        {**site_vars, "istio_version": "1.1.17"}, "--tags", "istio", playbook=REPO / "playbooks" / "site.yml"
    )
    assert old.rc != 0 and old.failed == 1, old.output[-4000:]
    assert "Istio 1.1 supports Kubernetes 1.11-1.13, this cluster runs" in old.output, old.output[-4000:]
    missing = lab.cluster.kubectl("get", "namespace", "istio-system", check=False)
    assert missing.returncode != 0, "the refused Istio 1.1 run made istio-system"

    site = lab.play(site_vars, playbook=REPO / "playbooks" / "site.yml", timeout=1500)
    assert site.rc == 0 and site.failed == 0, f"{site.recap}\n{site.output[-6000:]}"
    # The minishift role found its VM running: no third start.
    assert len(lab.argvs("start")) == 2
    # Weave Scope took OpenShift 3's path: its Route under Minishift's routing suffix, and no OpenShift 4 peers.
    route = json.loads(lab.cluster.kubectl("-n", scope_ns, "get", "routes.route.openshift.io", "-o", "json").stdout)
    hosts = [r["spec"]["host"] for r in route["items"]]
    assert hosts == [f"weave-scope-{scope_ns}.127.0.0.1.nip.io"], hosts
    policies = lab.cluster.kubectl("-n", scope_ns, "get", "networkpolicies", "-o", "json").stdout
    assert json.loads(policies)["items"], "Weave Scope made no NetworkPolicy"
    assert "policy-group.network.openshift.io" not in policies, "OpenShift 4 peers on an OKD 3.11 cluster"
    # Istio: the line that fits Kubernetes 1.35, its istiod in istio-system.
    deploy = json.loads(lab.cluster.kubectl("-n", "istio-system", "get", "deployment", "istiod", "-o", "json").stdout)
    images = [c["image"] for c in deploy["spec"]["template"]["spec"]["containers"]]
    assert any(f":{ISTIO_VERSION}" in i for i in images), images
    print(f"\nsite.yml on the handed-over cluster: {site.seconds:.0f}s, {site.recap}")


def test_absent_removes_vm_profile_kubeconfig_and_downloads(lab: Lab):
    gone = lab.play({"minishift_state": "absent", "minishift_remove_downloads": True})
    assert gone.rc == 0 and gone.failed == 0, f"{gone.recap}\n{gone.output[-6000:]}"
    assert lab.argvs("delete") == [["delete", "--force"]], lab.calls
    assert lab.argvs("profile", "delete") == [["profile", "delete", PROFILE, "--force"]], lab.calls
    assert not (lab.home / ".minishift" / "profiles" / PROFILE).exists()
    assert not lab.kubeconfig.exists()
    assert not (lab.home / ".local" / "bin" / "minishift").exists(), "the link to the installed minishift is left"
    share = lab.home / ".local" / "share" / "meshlab" / "minishift" / MINISHIFT_VERSION
    download = lab.home / ".cache" / "meshlab" / "downloads" / f"minishift-{MINISHIFT_VERSION}-linux-amd64.tgz"
    assert not share.exists() and not download.exists(), files_under(lab.home)
    # The user's own kubeconfig is still there, with its context.
    assert "other-work" in (lab.home / ".kube" / "config").read_text()
    again = lab.play({"minishift_state": "absent", "minishift_remove_downloads": True})
    assert again.rc == 0 and again.changed == 0, f"{again.recap}\n{again.output[-4000:]}"


@pytest.mark.skipif(
    os.environ.get("MESHLAB_LIVE") != "1"
    or not Path("/dev/kvm").exists()
    or Path("/.dockerenv").exists()
    or Path("/run/.containerenv").exists()
    or shutil.which("sudo") is None,
    reason="libvirt.yml (libvirtd started and enabled, libvirt's default network active and autostarted) needs a "
    "KVM host that is not a container, with sudo, and changes it: run with MESHLAB_LIVE=1 on such a host "
    "(this one is a container: the kvm preflight refuses it, see test_kvm_preflight_refuses_a_container)",
)
def test_kvm_host_preparation_and_libvirt(minishift_cluster: Cluster, tmp_path):
    """On a KVM host: the kvm driver's preparation (packages, libvirt group, KVM driver, libvirtd, default network),
    then the fixture's handover as above. The KVM driver is the fixture's own stand-in script."""
    home = tmp_path / "home"
    home.mkdir()
    handover = tmp_path / "handover.yaml"
    handover.write_text(minishift_cluster.kubectl("config", "view", "--raw", "--flatten", "--minify").stdout)
    pack_release(tmp_path / "releases")
    driver = tmp_path / "releases" / "docker-machine-driver-kvm"
    driver.write_text("#!/bin/sh\necho FIXTURE docker-machine-driver-kvm\n")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path / "releases"))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        run = ansible_playbook(
            ROLE_PLAY,
            tmp_path,
            {
                "minishift_provider": "minishift",
                "minishift_profile": "meshlab-kvm",
                "minishift_vm_driver": "kvm",
                "minishift_download_base_url": url,
                "minishift_download_allow_http": True,
                "minishift_kvm_driver_url": f"{url}/docker-machine-driver-kvm",
                "minishift_kvm_driver_checksum": hashlib.sha256(driver.read_bytes()).hexdigest(),
            },
            env={"HOME": str(home), "MINISHIFT_FIXTURE_KUBECONFIG": str(handover)},
        )
        assert run.rc == 0 and run.failed == 0, run.output[-6000:]
        net = subprocess.run(
            ["sudo", "virsh", "-c", "qemu:///system", "net-info", "default"], capture_output=True, text=True, check=True
        ).stdout
        assert "Active:         yes" in net and "Autostart:      yes" in net, net
        assert subprocess.run(["systemctl", "is-active", "libvirtd"], check=False).returncode == 0
    finally:
        server.shutdown()
