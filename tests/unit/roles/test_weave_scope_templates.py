"""Issue 12: every variable the weave_scope role writes into a manifest is rendered as data (to_json), never as YAML
text. Each template is rendered with hostile values (YAML that would add keys or documents if pasted as text) and
parsed back: the value must come back verbatim, in its field, and nothing else may appear.

Rendered with Jinja2 and the filters the templates use, as Ansible defines them; molecule/weave_scope renders the
same templates through the role itself on the simulated clusters, with the role's real values.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "weave_scope"
# objects.yaml.j2 is no manifest of its own: it includes the others (one lookup renders them all).
AGGREGATE = "objects.yaml.j2"
TEMPLATES = sorted(
    p.relative_to(ROLE / "templates").as_posix() for p in (ROLE / "templates").rglob("*.j2") if p.name != AGGREGATE
)
# A value that, pasted into YAML as text, would add a key and a second document.
HOSTILE = 'evil"\n  injected: "1"\n---\nkind: Secret #'


def context(**over: Any) -> dict[str, Any]:
    namespace = over.pop("weave_scope_namespace", "weave")
    labels = {
        "app.kubernetes.io/name": "weave-scope",
        "app.kubernetes.io/instance": namespace,
        "app.kubernetes.io/part-of": "meshlab",
        "app.kubernetes.io/managed-by": "ansible",
    }
    base: dict[str, Any] = {
        "weave_scope_namespace": namespace,
        "weave_scope_read_only": True,
        "weave_scope_image_pull_policy": "IfNotPresent",
        "weave_scope_image_pull_secrets": ["mirror-pull"],
        "weave_scope_basic_auth_username": "scope",
        "weave_scope_app_resources": {"requests": {"cpu": "100m"}},
        "weave_scope_agent_resources": {"requests": {"cpu": "100m"}},
        "weave_scope_cluster_agent_resources": {"requests": {"cpu": "50m"}},
        "weave_scope_agent_tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
        "__weave_scope_labels": labels,
        "__weave_scope_app_name": "weave-scope-app",
        "__weave_scope_agent_name": "weave-scope-agent",
        "__weave_scope_cluster_agent_name": "weave-scope-cluster-agent",
        "__weave_scope_basic_auth_secret": "weave-scope-basic-auth",
        "__weave_scope_basic_auth_password": "p" * 32,
        "__weave_scope_basic_auth_version": "1",
        "__weave_scope_cluster_role": f"weave-scope-cluster-agent-{namespace}",
        "__weave_scope_scc_role_prefix": "weave-scope-scc-",
        "__weave_scope_created_by_key": "meshlab.io/created-by",
        "__weave_scope_image_ref": "docker.io/weaveworks/scope:1.13.2",
        "__weave_scope_env": [{"name": "CHECKPOINT_DISABLE", "value": "true"}],
        "__weave_scope_pod_annotations": {},
        "__weave_scope_network_peers": [{"podSelector": {}}],
        "__weave_scope_namespace_annotations": {},
        "__weave_scope_openshift": False,
        "__weave_scope_cluster_agent_run_as_user": 65534,
        "__weave_scope_route_host": "scope.apps.example.com",
        "__weave_scope_rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        "__weave_scope_runtime": {"mode": "docker", "args": ["--probe.docker=true"], "socket": "/var/run/docker.sock"},
        "__weave_scope_probe_args": ["--probe-only"],
        "__weave_scope_app_address": f"weave-scope-app.{namespace}.svc.cluster.local.:80",
        "item": {
            "sa": "weave-scope-app",
            "component": "app",
            "automount": False,
            "grant": {"scc": "anyuid", "service_account": "weave-scope-app", "component": "app"},
        },
    }
    return {**base, **over}


def render(name: str, **over: Any) -> list[dict[str, Any]]:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    env.filters["to_json"] = json.dumps
    env.filters["b64encode"] = lambda v: base64.b64encode(str(v).encode()).decode()
    env.filters["combine"] = lambda a, b: {**a, **b}
    env.filters["bool"] = bool
    text = env.get_template(name).render(**context(**over))
    return [d for d in yaml.safe_load_all(text) if d]


def leaves(value: Any) -> list[Any]:
    """Every scalar of a document, keys included."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)] + list(value)
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_hostile_namespace_stays_one_value(name: str) -> None:
    (doc,) = render(name, weave_scope_namespace=HOSTILE)  # one document: no "---" got through
    assert "injected" not in keys(doc), "the value was pasted as YAML text"
    assert doc["kind"] != "Secret" or name == "secret-basic-auth.yaml.j2"
    where = doc["metadata"]
    if name == "namespace.yaml.j2":
        assert where["name"] == HOSTILE
    elif "namespace" in where:
        assert where["namespace"] == HOSTILE
    assert any(isinstance(v, str) and HOSTILE in v for v in leaves(doc)), "the namespace is not in the manifest"


def test_the_aggregate_renders_each_object_template_once_in_order_as_its_own_document() -> None:
    grant = {"scc": "anyuid", "service_account": "weave-scope-app", "component": "app"}
    wanted = [
        {"template": "namespace.yaml.j2"},
        {"template": "serviceaccount.yaml.j2", "sa": "weave-scope-agent", "component": "agent", "automount": False},
        {"template": "openshift/rolebinding-scc.yaml.j2", "grant": grant},
        {"template": "daemonset-agent.yaml.j2"},
    ]
    docs = render(AGGREGATE, weave_scope_namespace=HOSTILE, __weave_scope_render=wanted)
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "RoleBinding", "DaemonSet"]
    # Each entry is `item` for its own template, and each object comes out exactly as rendered alone.
    assert docs[1]["metadata"]["name"] == "weave-scope-agent"
    assert docs[2]["subjects"][0]["name"] == "weave-scope-app"
    for entry, doc in zip(wanted, docs, strict=True):
        (alone,) = render(entry["template"], weave_scope_namespace=HOSTILE, item=entry)
        assert doc == alone
    assert render(AGGREGATE, __weave_scope_render=[]) == []


def test_a_hostile_route_host_stays_one_value() -> None:
    (route,) = render("openshift/route.yaml.j2", __weave_scope_route_host=HOSTILE)
    assert route["spec"]["host"] == HOSTILE
    assert route["spec"]["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}


def test_hostile_pull_secret_and_service_account_names_stay_values() -> None:
    (deployment,) = render("deployment-app.yaml.j2", weave_scope_image_pull_secrets=[HOSTILE])
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": HOSTILE}]
    grant = {"scc": HOSTILE, "service_account": HOSTILE, "component": "app"}
    item = {"sa": HOSTILE, "component": "app", "automount": False, "grant": grant}
    (account,) = render("serviceaccount.yaml.j2", item=item)
    assert account["metadata"]["name"] == HOSTILE
    (binding,) = render("openshift/rolebinding-scc.yaml.j2", item=item)
    assert binding["subjects"][0]["name"] == HOSTILE
    assert binding["roleRef"]["name"] == f"weave-scope-scc-{HOSTILE}-weave"


def test_the_basic_auth_secret_holds_the_credentials_as_base64_data() -> None:
    (secret,) = render("secret-basic-auth.yaml.j2", weave_scope_basic_auth_username=HOSTILE)
    assert base64.b64decode(secret["data"]["username"]).decode() == HOSTILE
    assert base64.b64decode(secret["data"]["password"]).decode() == "p" * 32
    # The version the pods carry (meshlab.io/basic-auth-version), as a string annotation of the Secret.
    assert secret["metadata"]["annotations"] == {"meshlab.io/credentials-version": "1"}
