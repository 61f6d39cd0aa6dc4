"""Issue 12, RBAC: every Role and ClusterRole the lab makes grants nothing writable beyond the table below.

The roles are converged on the suite's own simulated clusters, both flavors (tests/scan/converge.yml: every Istio
addon, BookInfo, Scope; on OpenShift also the Routes and SCC grants). Then every Role and ClusterRole the lab
created is read back from the API server:
- those carrying the lab's labels (app.kubernetes.io/part-of=meshlab, meshlab.io/role): the roles' own templates and
  the Istio addons, which the istio role labels as it applies them;
- those `istioctl install` made from the lab's IstioOperator (label install.operator.istio.io/owning-resource=meshlab):
  the lab ran that install, so they are the lab's too.

Each rule is expanded into (API group, resource, verb) grants. A verb other than get, list and watch (`*` included),
or reading with a wildcard over the core group or every group (which reads Secrets), must be covered by an entry
of WRITABLE (role, groups, resources, verbs and, where given, the exact resourceNames the rule must be limited to),
each with its reason. A grant no entry covers fails the
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
ISTIOD_READER = "ClusterRole/istio-reader-clusterrole-istio-system"
ISTIOD_ROLE = "Role/istio-system/istiod"
WRITE = ("create", "update", "patch", "delete")
GATEWAY_API_STATUS = (
    "backendtlspolicies/status",
    "gatewayclasses/status",
    "gateways/status",
    "grpcroutes/status",
    "httproutes/status",
    "referencegrants/status",
    "tcproutes/status",
    "tlsroutes/status",
    "udproutes/status",
    "listenersets/status",
)
REVIEWS = (
    "TokenReviews and SubjectAccessReviews make nothing: the API server answers whether a token is valid (proxies "
    "present their service account tokens for certificates) and whether a caller may read debug endpoints"
)

# What the lab grants beyond reading, and why. All of it comes from `istioctl install` (Istio's own charts, the
# demo profile) and, on OpenShift, from Istio CNI and Scope's SCC grants. Nothing of Kiali, Prometheus, Grafana,
# Jaeger, Scope's cluster agent or the istio role's own templates is here: those only read.
WRITABLE = [
    Allowed(
        ISTIOD,
        ("admissionregistration.k8s.io",),
        ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"),
        ("update", "patch"),
        "istiod patches the caBundle of its own sidecar injector and config validation webhooks with the CA it "
        "issues; it needs update on every webhook configuration because RBAC cannot name them before they exist",
    ),
    Allowed(
        ISTIOD,
        ("networking.istio.io",),
        ("workloadentries",),
        WRITE,
        "istiod registers workloads outside Kubernetes (VMs of a WorkloadGroup) as WorkloadEntries and removes them "
        "when they disconnect; unused by the lab, part of istiod's chart",
    ),
    Allowed(
        ISTIOD,
        ("networking.istio.io", "security.istio.io", ""),
        ("workloadentries/status", "serviceentries/status", "authorizationpolicies/status", "services/status"),
        WRITE,
        "status subresources only: istiod reports the health of WorkloadEntries, the addresses it allocates to "
        "ServiceEntries and Services, and whether an AuthorizationPolicy was accepted; it writes no spec",
    ),
    Allowed(
        ISTIOD,
        ("networking.k8s.io",),
        ("ingresses/status",),
        ("*",),
        "istiod is the mesh's Ingress controller and writes the status (the gateway's addresses) of Ingress objects; "
        "the chart grants every verb on the status subresource only",
    ),
    Allowed(
        ISTIOD,
        ("",),
        ("configmaps",),
        ("create", "update"),
        "istiod writes its root certificate into the ConfigMap istio-ca-root-cert of every namespace, where proxies "
        "read it to verify istiod",
    ),
    Allowed(ISTIOD, ("authentication.k8s.io",), ("tokenreviews",), ("create",), REVIEWS),
    Allowed(ISTIOD, ("authorization.k8s.io",), ("subjectaccessreviews",), ("create",), REVIEWS),
    Allowed(
        ISTIOD,
        ("gateway.networking.k8s.io", "gateway.networking.x-k8s.io", "inference.networking.k8s.io"),
        (*GATEWAY_API_STATUS, "xbackendtrafficpolicies/status", "inferencepools/status"),
        ("update", "patch"),
        "istiod is the Gateway API implementation of the mesh: it writes the status of Gateway API objects (accepted, "
        "programmed, addresses), never their spec",
    ),
    Allowed(
        ISTIOD,
        ("gateway.networking.k8s.io",),
        ("gatewayclasses",),
        WRITE,
        "istiod creates and keeps its own GatewayClasses (istio, istio-remote, istio-waypoint) so Gateways can name "
        "them",
    ),
    Allowed(
        ISTIOD,
        ("multicluster.x-k8s.io",),
        ("serviceexports",),
        ("create", "delete"),
        "multi-cluster services (MCS API): istiod exports the mesh's cluster-local services when MCS is on; unused by "
        "the lab, part of istiod's chart",
    ),
    Allowed(
        ISTIOD_GATEWAY,
        ("apps", "autoscaling", "policy", ""),
        ("deployments", "horizontalpodautoscalers", "poddisruptionbudgets", "services", "serviceaccounts"),
        WRITE,
        "istiod's gateway controller deploys what a Gateway API Gateway asks for (a Deployment, its Service, account, "
        "autoscaler and disruption budget); the lab creates no Gateway API Gateway, the role is part of istiod's chart",
    ),
    Allowed(
        ISTIOD_READER,
        ("multicluster.x-k8s.io",),
        ("serviceexports",),
        ("create", "delete"),
        "the reader role is what remote clusters' istiod use (multi-cluster); it carries the same MCS export rights",
    ),
    Allowed(ISTIOD_READER, ("authentication.k8s.io",), ("tokenreviews",), ("create",), REVIEWS),
    Allowed(ISTIOD_READER, ("authorization.k8s.io",), ("subjectaccessreviews",), ("create",), REVIEWS),
    Allowed(
        ISTIOD_ROLE,
        ("",),
        ("secrets",),
        ("create", "update", "delete"),
        "in istio-system only: istiod keeps its self-signed CA in the Secret istio-ca-secret (created on first start, "
        "rotated later)",
    ),
    Allowed(
        ISTIOD_ROLE,
        ("", "coordination.k8s.io"),
        ("configmaps", "leases"),
        ("create", "update", "patch", "delete"),
        "in istio-system only: istiod's leader election (a Lease, and the ConfigMaps older istiods used), so one "
        "istiod runs each controller",
    ),
    Allowed(
        ISTIOD_ROLE,
        ("networking.istio.io",),
        ("gateways",),
        ("create",),
        "in istio-system only: istiod may create the default Istio Gateway of its own namespace (chart default)",
    ),
    Allowed(
        "ClusterRole/istio-cni",
        ("security.openshift.io",),
        ("securitycontextconstraints",),
        ("use",),
        "OpenShift: Istio CNI's node agent must run privileged to install the CNI plugin on each node; its chart "
        "grants `use` of SCC privileged, by name, to its own service account",
        names=("privileged",),
    ),
    Allowed(
        "ClusterRole/istio-cni-repair-role",
        ("",),
        ("events",),
        ("create", "patch"),
        "OpenShift: Istio CNI's repair controller records Kubernetes Events about pods that started before the CNI "
        "plugin was ready",
    ),
    Allowed(
        "ClusterRole/weave-scope-scc-*",
        ("security.openshift.io",),
        ("securitycontextconstraints",),
        ("use",),
        "OpenShift: Scope's app may use SCC anyuid and its agent SCC privileged (the host probe), each by name and "
        "bound to Scope's own service accounts only (roles/weave_scope)",
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
    """Anything but get/list/watch; also a wildcard over the core group or over every group (that reads Secrets)."""
    return verb not in READ or group == "*" or (group == "" and resource == "*")


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
                {"apiGroups": [""], "resources": ["*"], "verbs": ["list"]},
            ],
        }
    }
    uncovered, _used = audit(bad)
    assert "ClusterRole/kiali: patch networking.istio.io/*" in uncovered
    assert "ClusterRole/kiali: get networking.istio.io/*" not in uncovered, "reading Istio's resources is reading"
    assert "ClusterRole/kiali: create core/pods/portforward" in uncovered
    assert "ClusterRole/kiali: use security.openshift.io/securitycontextconstraints" in uncovered
    assert "ClusterRole/kiali: list core/*" in uncovered, "listing every core resource reads every Secret"
    # An SCC `use` entry needs the rule limited to the named SCCs.
    scope = {
        "ClusterRole/weave-scope-scc-x": {
            "kind": "ClusterRole",
            "metadata": {"name": "weave-scope-scc-x"},
            "rules": [
                {"apiGroups": ["security.openshift.io"], "resources": ["securitycontextconstraints"], "verbs": ["use"]}
            ],
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
    assert any(k.startswith("ClusterRole/weave-scope-cluster-agent-") for k in roles), sorted(roles)
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
    assert not uncovered, (
        "writable grants no WRITABLE entry allows (fix the role, or add an entry with its reason):\n"
        + ("\n".join(f"  {line}" for line in uncovered))
    )


def test_rbac_table_has_no_stale_entries():
    if set(_SEEN) != {"kubernetes", "openshift"}:
        pytest.skip("needs both flavors' audits in this run (run the whole module)")
    used = _SEEN["kubernetes"] | _SEEN["openshift"]
    stale = [
        f"{i}: {WRITABLE[i].role} {WRITABLE[i].verbs} {WRITABLE[i].resources}"
        for i in range(len(WRITABLE))
        if i not in used
    ]
    assert not stale, "WRITABLE entries that cover no grant on either flavor (remove them):\n" + "\n".join(stale)
