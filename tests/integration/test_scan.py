"""Issue 8: manifest scanners on every object the roles make.

The roles are converged on the suite's own simulated clusters (both flavors, with the options that render the most
objects: Scope's Route and basic auth and the SCC grants on OpenShift, every Istio addon, BookInfo, mesh security, the
traffic generator). Every object carrying the lab's label is read back from the API server, stripped of the server's
bookkeeping (status, uid, resourceVersion, managedFields ...) and written one object per file; checkov (PyPI, in a
venv of its own: `make scanners`) scans them. A finding fails the test unless tests/scan/allowlist.yml lists it with
a reason; an allowlist entry that matches no finding fails it too (stale entries hide nothing).

Out of the scanned set, on purpose:
- objects a controller made from the roles' objects (they carry ownerReferences: Pods, ReplicaSets,
  ControllerRevisions, EndpointSlices; and Endpoints, which the endpoints controller copies from each Service):
  their content is the roles' Deployment/DaemonSet/Service, which is scanned;
- what `istioctl install` makes (istiod, the gateways, Istio CNI, webhooks, CRDs): Istio's own charts rendered by
  istioctl from the IstioOperator, without the lab's label. The role's input to them, the IstioOperator, is recorded
  in ConfigMap istio-system/meshlab-istio, which is scanned.
"""

from __future__ import annotations

import collections
import copy
import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from converged import Converged
from meshlab_testlib import CACHE_DIR, LAB_SELECTOR, REPO, Cluster, run

SCAN_DIR = REPO / "tests" / "scan"
ALLOWLIST = SCAN_DIR / "allowlist.yml"
CHECKOV = CACHE_DIR / "scan-venv" / "bin" / "checkov"

# Made by controllers out of the roles' objects (see the module docstring).
CONTROLLER_MADE_KINDS = {"Endpoints", "EndpointSlice", "Pod", "ReplicaSet", "ControllerRevision", "Event"}
# Server bookkeeping: not part of what the roles asked for.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
SERVER_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    obj: str  # Kind/namespace/name, or Kind/name when cluster-scoped
    flavor: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.obj} [{self.flavor}]: {self.check_name}"


@dataclass
class Scan:
    flavor: str
    objects: dict[str, dict]  # Kind/namespace/name -> object
    findings: list[Finding]
    summary: dict


def object_key(obj: dict) -> str:
    meta = obj["metadata"]
    return "/".join(p for p in (obj["kind"], meta.get("namespace", ""), meta["name"]) if p)


def strip_server_fields(obj: dict) -> dict:
    """The object as the roles made it: without status and the server's bookkeeping; Secret values redacted."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj["metadata"]
    for field in SERVER_METADATA:
        meta.pop(field, None)
    annotations = meta.get("annotations") or {}
    for field in SERVER_ANNOTATIONS:
        annotations.pop(field, None)
    if not annotations:
        meta.pop("annotations", None)
    if obj["kind"] == "Secret":
        obj["data"] = dict.fromkeys(obj.get("data") or {}, "cmVkYWN0ZWQ=")
    return obj


def roles_objects(cluster: Cluster) -> dict[str, dict]:
    """Every object carrying the lab's label that the roles themselves made, stripped, by Kind/namespace/name."""
    kinds = cluster.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    kinds = [k for k in kinds if k not in {"events", "events.events.k8s.io", "componentstatuses"}]
    out = cluster.kubectl("get", ",".join(kinds), "-A", "-l", LAB_SELECTOR, "-o", "json", timeout=120).stdout
    objects = {}
    for item in json.loads(out)["items"]:
        if item["kind"] in CONTROLLER_MADE_KINDS or item["metadata"].get("ownerReferences"):
            continue
        objects[object_key(item)] = strip_server_fields(item)
    return objects


def write_manifests(objects: dict[str, dict], folder: Path) -> dict[str, str]:
    """One YAML file per object; returns file path (as checkov reports it, relative to folder) -> object key."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, obj in sorted(objects.items()):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", key.replace("/", "__")) + ".yaml"
        (folder / name).write_text(yaml.safe_dump(obj, sort_keys=True))
        files[f"/{name}"] = key
    return files


def checkov(folder: Path, files: dict[str, str], flavor: str, binary: Path = CHECKOV) -> tuple[list[Finding], dict]:
    """checkov's kubernetes checks on folder (offline: --skip-download); findings mapped back to objects.

    A scan that did not run to its end fails: an exit code other than 0 (no failed check) or 1 (failed checks), an
    output that is not checkov's JSON report, or a report without the kubernetes results. (No --no-fail-on-crash:
    that flag turns a crash into exit code 0.)"""
    assert binary.exists(), f"{binary} is missing: `make scanners` installs it (tests/scan/requirements.txt)"
    proc = run(
        [
            binary,
            "-d",
            folder,
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        env={"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "WARNING"},
        timeout=600,
        check=False,
    )
    return parse_checkov(proc.returncode, proc.stdout, proc.stderr, files, flavor)


def parse_checkov(rc: int, stdout: str, stderr: str, files: dict[str, str], flavor: str) -> tuple[list[Finding], dict]:
    """checkov's exit code and JSON report -> findings; AssertionError when the scan crashed or said nothing."""
    # checkov exits 1 when a check fails; anything else (or no JSON) is the scanner failing.
    assert rc in (0, 1), f"checkov crashed (exit code {rc}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
    try:
        report = json.loads(stdout)
    except ValueError as exc:
        raise AssertionError(
            f"checkov's output is not its JSON report ({exc}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
        ) from exc
    reports = report if isinstance(report, list) else [report]
    assert all(isinstance(r, dict) for r in reports), f"unexpected checkov report: {reports!r:.500}"
    assert [r.get("check_type") for r in reports] == ["kubernetes"], f"unexpected checkov report: {reports!r:.500}"
    for key in ("results", "summary"):
        assert isinstance(reports[0].get(key), dict), f"checkov's report has no {key}: {reports[0]!r:.500}"
    assert isinstance(reports[0]["results"].get("failed_checks"), list), f"no failed_checks: {reports[0]!r:.500}"
    findings = []
    for failed in reports[0]["results"]["failed_checks"]:
        assert failed["file_path"] in files, f"checkov reported a file the test did not write: {failed!r:.500}"
        findings.append(Finding(failed["check_id"], failed["check_name"], files[failed["file_path"]], flavor))
    return sorted(set(findings), key=str), reports[0]["summary"]


def load_allowlist() -> list[dict]:
    entries = yaml.safe_load(ALLOWLIST.read_text())["accepted"]
    for entry in entries:
        assert set(entry) == {"checks", "objects", "reason"}, f"allowlist entry needs checks, objects, reason: {entry}"
        for check in entry["checks"]:
            assert re.fullmatch(r"CKV2?_K8S_\d+", check), f"not a checkov kubernetes check id: {check}"
        assert entry["objects"] and all(isinstance(p, str) for p in entry["objects"]), entry
        assert len(str(entry["reason"]).split()) >= 15, (
            f"{entry['checks']}: say why it is accepted: {entry['reason']!r}"
        )
    return entries


def pattern_matches(pattern: str, obj: str) -> bool:
    """Kind/namespace/name (or Kind/name) against a pattern of as many parts, each an fnmatch pattern."""
    parts, names = pattern.split("/"), obj.split("/")
    return len(parts) == len(names) and all(fnmatch.fnmatchcase(n, p) for n, p in zip(names, parts, strict=True))


def explain(findings: list[Finding], allowlist: list[dict]) -> tuple[list[Finding], set[tuple[int, str]]]:
    """(findings no allowlist entry covers, the (entry index, check id or object pattern) pairs that covered some)."""
    unexplained, used = [], set()
    for finding in findings:
        covered = False
        for index, entry in enumerate(allowlist):
            if finding.check_id not in entry["checks"]:
                continue
            patterns = [p for p in entry["objects"] if pattern_matches(p, finding.obj)]
            if patterns:
                covered = True
                used |= {(index, finding.check_id)} | {(index, p) for p in patterns}
        if not covered:
            unexplained.append(finding)
    return unexplained, used


def stale_entries(findings: list[Finding], allowlist: list[dict]) -> list[str]:
    """Each check and each object pattern of every entry must cover at least one finding."""
    _unexplained, used = explain(findings, allowlist)
    return [
        f"entry {index} ({', '.join(entry['checks'])}): {item} covers no finding"
        for index, entry in enumerate(allowlist)
        for item in [*entry["checks"], *entry["objects"]]
        if (index, item) not in used
    ]


def report(title: str, findings: list[Finding]) -> str:
    by_check = collections.Counter(f.check_id for f in findings)
    lines = [f"{title}: {len(findings)} finding(s)", *(f"  {c}: {n}" for c, n in sorted(by_check.items()))]
    return "\n".join(lines)


def scan(converged: Converged, folder: Path) -> Scan:
    objects = roles_objects(converged.cluster)
    files = write_manifests(objects, folder / "manifests")
    findings, summary = checkov(folder / "manifests", files, converged.cluster.flavor)
    return Scan(converged.cluster.flavor, objects, findings, summary)


@pytest.fixture(scope="module")
def scan_k8s(converged_k8s: Converged, tmp_path_factory) -> Scan:
    return scan(converged_k8s, tmp_path_factory.mktemp("scan-kubernetes"))


@pytest.fixture(scope="module")
def scan_openshift(converged_openshift: Converged, tmp_path_factory) -> Scan:
    return scan(converged_openshift, tmp_path_factory.mktemp("scan-openshift"))


def test_scan_allowlist_is_well_formed():
    entries = load_allowlist()
    pairs = [(c, p) for e in entries for c in e["checks"] for p in e["objects"]]
    assert len(pairs) == len(set(pairs)), "an allowlist (check, object) pair is listed twice"


def test_scan_catches_what_it_should(tmp_path):
    """The scanner, as the tests run it, reports a privileged hostPID container (it can fail)."""
    bad = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad", "namespace": "x"},
        "spec": {
            "hostPID": True,
            "containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}],
        },
    }
    folder = tmp_path / "canary"
    files = write_manifests({"Pod/x/bad": bad}, folder)
    findings, _summary = checkov(folder, files, "canary")
    ids = {f.check_id for f in findings}
    assert {"CKV_K8S_16", "CKV_K8S_17"} <= ids, f"checkov missed privileged/hostPID: {sorted(ids)}"
    unexplained, _used = explain(findings, load_allowlist())
    assert unexplained, "the allowlist accepts findings on an object the roles do not make"


# A scanner that crashed, or whose output cannot be read, fails the test instead of passing with no finding.
_GOOD = {"check_type": "kubernetes", "results": {"failed_checks": []}, "summary": {"parsing_errors": 0}}
CRASHES = [
    ("exit-2-traceback", 2, "", "Traceback (most recent call last):\n  ...\nKeyError: 'spec'"),
    ("exit-2-json", 2, json.dumps(_GOOD), ""),
    ("exit-0-not-json", 0, "checkov: something went wrong", ""),
    ("exit-0-empty", 0, "", ""),
    ("exit-1-truncated-json", 1, json.dumps(_GOOD)[:40], ""),
    ("exit-0-no-results", 0, json.dumps({"check_type": "kubernetes", "summary": {}}), ""),
    ("exit-0-other-framework", 0, json.dumps({**_GOOD, "check_type": "dockerfile"}), ""),
    ("exit-0-empty-list", 0, "[]", ""),
    ("exit-137-killed", 137, "", ""),
]


@pytest.mark.parametrize(("rc", "stdout", "stderr"), [c[1:] for c in CRASHES], ids=[c[0] for c in CRASHES])
def test_scan_crash_fails(rc, stdout, stderr):
    with pytest.raises(AssertionError):
        parse_checkov(rc, stdout, stderr, {}, "crash")


def test_scan_crash_of_the_executable_fails(tmp_path):
    """The whole path, through run(): an executable standing for checkov that crashes (exit 2, a traceback)."""
    fake = tmp_path / "checkov"
    fake.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\nexit 2\n")
    fake.chmod(0o755)
    with pytest.raises(AssertionError, match="checkov crashed \\(exit code 2\\)"):
        checkov(tmp_path, {}, "crash", binary=fake)
    # The same executable answering a well-formed report passes: the failure above is the crash, not the set-up.
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(_GOOD)}\nEOF\n")
    assert checkov(tmp_path, {}, "crash", binary=fake) == ([], {"parsing_errors": 0})


@pytest.mark.parametrize("flavor", ["kubernetes", "openshift"])
def test_scan_roles_manifests(flavor, request, capsys):
    scan: Scan = request.getfixturevalue("scan_k8s" if flavor == "kubernetes" else "scan_openshift")
    kinds = {key.split("/")[0] for key in scan.objects}
    # What the roles make on every flavor (the scanned set is not empty or partial).
    expected = {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "DaemonSet",
        "Service",
        "NetworkPolicy",
        "ConfigMap",
        "AuthorizationPolicy",
        "PeerAuthentication",
        "DestinationRule",
        "Gateway",
        "VirtualService",
        "Telemetry",
    }
    objects = {
        "DaemonSet/weave/weave-scope-agent",
        "Deployment/weave/weave-scope-cluster-agent",
        "Deployment/bookinfo/meshlab-traffic",
        "Deployment/istio-system/kiali",
        "ConfigMap/istio-system/meshlab-istio",
    }
    if flavor == "openshift":
        expected |= {"Route", "Secret", "RoleBinding"}
        objects |= {"Route/weave/weave-scope-app", "Route/istio-system/istio-ingressgateway"}
    assert expected <= kinds, f"kinds missing from the scanned set: {sorted(expected - kinds)}"
    assert objects <= set(scan.objects), f"objects missing from the scanned set: {sorted(objects - set(scan.objects))}"
    # BookInfo is scanned as applied: with the sidecars istioctl kube-inject added.
    productpage = scan.objects["Deployment/bookinfo/productpage-v1"]["spec"]["template"]["spec"]
    assert "istio-proxy" in {c["name"] for c in productpage["containers"] + productpage.get("initContainers", [])}
    assert scan.summary["parsing_errors"] == 0, scan.summary
    assert scan.summary["resource_count"] > 0 and scan.summary["passed"] > 0, scan.summary
    unexplained, _used = explain(scan.findings, load_allowlist())
    counts = collections.Counter(key.split("/")[0] for key in scan.objects)
    with capsys.disabled():
        print(f"\n[{flavor}] scanned {len(scan.objects)} objects: {dict(sorted(counts.items()))}")
        print(f"[{flavor}] checkov {scan.summary.get('checkov_version')}: {scan.summary}")
        print(report(f"[{flavor}] findings before the allowlist", scan.findings))
        print(report(f"[{flavor}] findings after the allowlist (unexplained)", unexplained))
        for finding in unexplained:
            print(f"  UNEXPLAINED {finding}")
    assert not unexplained, "findings neither fixed nor in tests/scan/allowlist.yml:\n" + "\n".join(
        str(f) for f in unexplained
    )


def test_scan_allowlist_has_no_stale_entries(scan_k8s: Scan, scan_openshift: Scan):
    stale = stale_entries(scan_k8s.findings + scan_openshift.findings, load_allowlist())
    assert not stale, "tests/scan/allowlist.yml accepts findings that no longer occur (remove them):\n" + "\n".join(
        f"  {line}" for line in stale
    )
