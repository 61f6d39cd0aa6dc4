"""Issue 12, RBAC: every Role and ClusterRole the lab makes grants nothing writable beyond the table below.

The roles are converged on the suite's own simulated clusters, both flavors (tests/scan/converge.yml: every Istio
addon, BookInfo, Scope; on OpenShift also the Routes and SCC grants). Then every Role and ClusterRole the lab
created is read back from the API server:
- those carrying the lab's labels (app.kubernetes.io/part-of=meshlab, meshlab.io/role): the roles' own templates and
  the Istio addons, which the istio role labels as it applies them;
- those `istioctl install` made from the lab's IstioOperator (label install.operator.istio.io/owning-resource=meshlab):
  the lab ran that install, so they are the lab's too.

Each rule is expanded into (API group, resource, verb) grants. A verb other than get, list and watch, or a wildcard
in verbs, resources or API groups, must be covered by an entry of WRITABLE (role, groups, resources, verbs and, where
given, the exact resourceNames the rule must be limited to), each with its reason. A grant no entry covers fails the
test, and so does an entry that covers nothing on either flavor (stale entries hide nothing).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass

import pytest
from converged import Converged

READ = {"get", "list", "watch"}
# The IstioOperator the istio role installs (roles/istio/vars/main.yml, __istio_operator).
ISTIOCTL_SELECTOR = "install.operator.istio.io/owning-resource=meshlab"
LAB_SELECTORS = ["app.kubernetes.io/part-of=meshlab", "meshlab.io/role", ISTIOCTL_SELECTOR]


@dataclass(frozen=True)
class Allowed:
    role: str  # Kind/name or Kind/namespace/name; fnmatch patterns
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    reason: str
    names: tuple[str, ...] = ()  # when set: the rule must carry resourceNames, all of them among these


ISTIOD = "ClusterRole/istiod-clusterrole-istio-system"
ISTIOD_GATEWAY = "ClusterRole/istiod-gateway-controller-istio-system"
ISTIOD_ROLE = "Role/istio-system/istiod"
REASON_WEBHOOKS = (
    "istiod patches the caBundle of its own injector and validation webhooks with the CA it issues (the webhooks' "
    "names are fixed by the install)"
)

# What the lab grants beyond reading, and why. Nothing of Kiali, Prometheus, Grafana, Jaeger or Scope is here: their
# roles only read.
WRITABLE = [
    Allowed(
        ISTIOD,
        ("admissionregistration.k8s.io",),
        ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"),
        ("update", "patch"),
        REASON_WEBHOOKS,
    ),
    Allowed(
        ISTIOD,
        ("certificates.k8s.io",),
        ("certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status"),
        ("create", "update", "delete", "patch"),
        "istiod can have workload certificates signed by the cluster's CA (CSR API, Istio's external CA mode); the "
        "lab uses istiod's own CA, the rule is part of istiod's chart",
    ),
    Allowed(
        ISTIOD,
        ("certificates.k8s.io",),
        ("signers",),
        ("approve",),
        "istiod approves the CSRs it made for the signers it is configured with (chart default, as above)",
        names=("kubernetes.io/legacy-unknown",),
    ),
    Allowed(
        ISTIOD,
        ("authentication.k8s.io",),
        ("tokenreviews",),
        ("create",),
        "istiod checks the service account tokens proxies present for their certificates (TokenReview makes nothing)",
    ),
    Allowed(
        ISTIOD,
        ("authorization.k8s.io",),
        ("subjectaccessreviews",),
        ("create",),
        "istiod asks the API server whether a caller may read debug endpoints (SubjectAccessReview makes nothing)",
    ),
    Allowed(
        ISTIOD,
        ("",),
        ("configmaps",),
        ("create", "update", "delete"),
        "istiod writes its root CA certificate into the ConfigMap istio-ca-root-cert of every namespace, for proxies",
    ),
    Allowed(
        ISTIOD,
        (
            "config.istio.io",
            "security.istio.io",
            "networking.istio.io",
            "authentication.istio.io",
            "rbac.istio.io",
            "telemetry.istio.io",
            "extensions.istio.io",
        ),
        ("*", "*/status"),
        ("update", "patch", "create", "delete", "*"),
        "istiod writes the status of Istio's resources (analysis messages) and manages what its controllers own; "
        "Istio's own API groups only",
    ),
    Allowed(
        ISTIOD,
        ("networking.k8s.io", "gateway.networking.k8s.io", "gateway.networking.x-k8s.io", "inference.networking.k8s.io"),
        ("*", "*/status", "gatewayclasses", "gateways", "httproutes", "tlsroutes", "grpcroutes", "tcproutes",
         "udproutes", "referencegrants", "backendtlspolicies", "listenersets", "xlistenersets", "xbackendtrafficpolicies",
         "inferencepools", "inferencepools/status", "ingresses/status", "gatewayclasses/status", "gateways/status",
         "httproutes/status", "grpcroutes/status", "tlsroutes/status", "tcproutes/status", "udproutes/status",
         "backendtlspolicies/status", "listenersets/status", "xlistenersets/status", "xbackendtrafficpolicies/status",
         "gateways/finalizers"),
        ("update", "patch", "create", "delete", "*"),
        "istiod is the Gateway API and Ingress controller of the mesh: it writes their status and the objects a "
        "Gateway deploys",
    ),
    Allowed(
        ISTIOD,
        ("multicluster.x-k8s.io",),
        ("serviceimports", "serviceexports", "serviceimports/status", "serviceexports/status"),
        ("create", "update", "patch", "delete"),
        "istiod's multi-cluster services support (MCS API, unused by the lab; part of istiod's chart)",
    ),
    Allowed(
        ISTIOD,
        ("",),
        ("serviceaccounts",),
        ("create", "update", "patch", "delete"),
        "istiod makes the service accounts of the gateways it deploys for Gateway API resources",
    ),
    Allowed(
        ISTIOD_GATEWAY,
        ("apps", ""),
        ("deployments", "services", "serviceaccounts"),
        ("update", "patch", "create", "delete"),
        "istiod deploys the Deployment, Service and account of each Gateway API Gateway (the gateway controller)",
    ),
    Allowed(
        ISTIOD_GATEWAY,
        ("autoscaling", "policy"),
        ("horizontalpodautoscalers", "poddisruptionbudgets"),
        ("update", "patch", "create", "delete"),
        "the gateway controller also scales the Gateway deployments it made (HPA, PDB)",
    ),
    Allowed(
        ISTIOD_ROLE,
        ("",),
        ("secrets", "configmaps"),
        ("create", "update", "patch", "delete"),
        "istiod keeps its self-signed CA (Secret istio-ca-secret) and its leader-election ConfigMaps in istio-system",
    ),
    Allowed(
        ISTIOD_ROLE,
        ("coordination.k8s.io",),
        ("leases",),
        ("create", "update", "patch", "delete"),
        "istiod's leader election (one istiod runs each controller) in istio-system",
    ),
    Allowed(
        ISTIOD_ROLE,
        ("networking.istio.io",),
        ("gateways",),
        ("create", "update", "patch", "delete"),
        "istiod's default-gateway and status handling in its own namespace",
    ),
    Allowed(
        "ClusterRole/istio-reader-clusterrole-istio-system",
        ("authentication.k8s.io", "authorization.k8s.io"),
        ("tokenreviews", "subjectaccessreviews"),
        ("create",),
        "the reader role (multi-cluster remote secrets) verifies tokens and access; reviews make nothing",
    ),
    Allowed(
        "ClusterRole/istio-cni",
        ("",),
        ("pods",),
        ("delete",),
        "OpenShift: Istio CNI's repair controller deletes pods that started before the CNI plugin was ready, so "
        "they come back with the mesh's network rules",
    ),
    Allowed(
        "ClusterRole/istio-cni-repair-role",
        ("",),
        ("pods",),
        ("delete",),
        "OpenShift: the same repair controller under its separate role",
    ),
    Allowed(
        "ClusterRole/istio-cni*",
        ("security.openshift.io",),
        ("securitycontextconstraints",),
        ("use",),
        "OpenShift: Istio CNI's node agent must run privileged to install the CNI plugin on each node (its chart "
        "grants `use` of SCC privileged to its own account only)",
        names=("privileged",),
    ),
    Allowed(
        "ClusterRole/meshlab-weave-scope-*",
        ("security.openshift.io",),
        ("securitycontextconstraints",),
        ("use",),
        "OpenShift: Scope's app may use SCC anyuid and its agent SCC privileged (host probe), each only its named "
        "SCC, granted to Scope's own accounts (roles/weave_scope)",
        names=("anyuid", "privileged"),
    ),
]


def expand(rule: dict) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(group, resource, verb, resourceNames) of every grant of a rule; nonResourceURLs as ('', '<url>', verb)."""
    names = tuple(rule.get("resourceNames") or ())
    out = []
    for verb in rule.get("verbs") or []:
        for url in rule.get("nonResourceURLs") or []:
            out.append(("", f"url:{url}", verb, names))
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                out.append((group, resource, verb, names))
    return out


def writable(group: str, resource: str, verb: str) -> bool:
    return verb not in READ or "*" in (group, resource)


def role_key(obj: dict) -> str:
    meta = obj["metadata"]
    return "/".join(p for p in (obj["kind"], meta.get("namespace", ""), meta["name"]) if p)


def covers(entry: Allowed, role: str, grant: tuple[str, str, str, tuple[str, ...]]) -> bool:
    group, resource, verb, names = grant
    return (
        fnmatch.fnmatchcase(role, entry.role)
        and group in entry.groups
        and resource in entry.resources
        and verb in entry.verbs
        and (not entry.names or (bool(names) and set(names) <= set(entry.names)))
    )


def lab_roles(converged: Converged) -> dict[str, dict]:
    """Every Role and ClusterRole the lab made, by Kind/[namespace/]name."""
    found = {}
    for selector in LAB_SELECTORS:
        out = converged.cluster.kubectl(
            "get", "clusterroles,roles", "-A", "-l", selector, "-o", "json", timeout=120
        ).stdout
        for item in json.loads(out)["items"]:
            found[role_key(item)] = item
    return found


def audit(roles: dict[str, dict]) -> tuple[list[str], set[int]]:
    """(grants no entry covers, indexes of the WRITABLE entries that covered one)."""
    uncovered, used = [], set()
    for key, role in sorted(roles.items()):
        for rule in role.get("rules") or []:
            for grant in expand(rule):
                group, resource, verb, names = grant
                if not writable(group, resource, verb):
                    continue
                hits = [i for i, entry in enumerate(WRITABLE) if covers(entry, key, grant)]
                if hits:
                    used |= set(hits)
                else:
                    where = f" (resourceNames {list(names)})" if names else ""
                    uncovered.append(f"{key}: {verb} {group or 'core'}/{resource}{where}")
    return uncovered, used


_SEEN: dict[str, set[int]] = {}


def test_rbac_table_is_well_formed():
    for entry in WRITABLE:
        assert len(entry.reason.split()) >= 10, f"say why: {entry}"
        assert entry.verbs and entry.groups and entry.resources, entry
        assert not (set(entry.verbs) <= READ), f"reading needs no entry: {entry}"


def test_rbac_audit_catches_a_writable_rule():
    """The audit itself can fail: a role granting what no entry allows is reported, rule by rule."""
    bad = {
        "ClusterRole/kiali": {
            "kind": "ClusterRole",
            "metadata": {"name": "kiali"},
            "rules": [
                {"apiGroups": ["networking.istio.io"], "resources": ["*"], "verbs": ["get", "patch"]},
                {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
                {"apiGroups": ["security.openshift.io"], "resources": ["securitycontextconstraints"], "verbs": ["use"]},
            ],
        }
    }
    uncovered, _used = audit(bad)
    assert "ClusterRole/kiali: patch networking.istio.io/*" in uncovered
    assert "ClusterRole/kiali: get networking.istio.io/*" in uncovered, "a wildcard resource is never 'read only'"
    assert "ClusterRole/kiali: create core/pods/portforward" in uncovered
    assert "ClusterRole/kiali: use security.openshift.io/securitycontextconstraints" in uncovered
    # An SCC `use` entry needs the rule limited to the named SCCs.
    scope = {
        "ClusterRole/meshlab-weave-scope-x": {
            "kind": "ClusterRole",
            "metadata": {"name": "meshlab-weave-scope-x"},
            "rules": [{"apiGroups": ["security.openshift.io"], "resources": ["securitycontextconstraints"],
                       "verbs": ["use"]}],
        }
    }
    assert audit(scope)[0], "`use` of every SCC passed as if it named one"


@pytest.mark.parametrize("flavor", ["kubernetes", "openshift"])
def test_rbac_lab_roles_grant_nothing_writable_beyond_the_table(flavor, request, capsys):
    converged: Converged = request.getfixturevalue("converged_k8s" if flavor == "kubernetes" else "converged_openshift")
    roles = lab_roles(converged)
    # The set read is the lab's, and complete: the addons, istioctl's install and Scope are all in it.
    for expected in ("ClusterRole/kiali", "ClusterRole/prometheus", ISTIOD, ISTIOD_ROLE):
        assert expected in roles, f"{expected} is not among the lab's roles: {sorted(roles)}"
    assert any(k.startswith("ClusterRole/meshlab-weave-scope") for k in roles), sorted(roles)
    # Kiali is view-only: its ClusterRole reads, and nothing else.
    kiali = [g for rule in roles["ClusterRole/kiali"]["rules"] for g in expand(rule)]
    assert kiali and all(verb in READ for _g, _r, verb, _n in kiali), kiali
    assert roles["ClusterRole/kiali"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "meshlab"
    uncovered, used = audit(roles)
    _SEEN[flavor] = used
    with capsys.disabled():
        grants = sum(len(expand(r)) for role in roles.values() for r in role.get("rules") or [])
        print(f"\n[{flavor}] {len(roles)} roles of the lab, {grants} grants; table entries used: {sorted(used)}")
        for line in uncovered:
            print(f"  NOT IN THE TABLE {line}")
    assert not uncovered, "writable grants no WRITABLE entry allows (fix the role, or add an entry with its reason):\n" + (
        "\n".join(f"  {line}" for line in uncovered)
    )


def test_rbac_table_has_no_stale_entries():
    if set(_SEEN) != {"kubernetes", "openshift"}:
        pytest.skip("needs both flavors' audits in this run (run the whole module)")
    used = _SEEN["kubernetes"] | _SEEN["openshift"]
    stale = [f"{i}: {WRITABLE[i].role} {WRITABLE[i].verbs} {WRITABLE[i].resources}" for i in range(len(WRITABLE))
             if i not in used]
    assert not stale, "WRITABLE entries that cover no grant on either flavor (remove them):\n" + "\n".join(stale)
