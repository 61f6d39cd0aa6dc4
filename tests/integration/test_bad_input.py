"""Issue 8, bad input matrix: every role refuses wrong variables and combinations before any change.

For each role there are a dozen and more wrong inputs: types (a string for an int, a list for a dict), ranges
(ports, CPUs, memory, retries, timeouts), names (namespaces, providers, states, profiles), conflicting options
(a Route on plain Kubernetes, a Route without basic auth, preset openshift without a pull secret) and
unsupported versions. Each one must make the role fail with a message that names the variable AND what is
allowed; afterwards the suite's own cluster holds exactly the lab objects and webhooks it held before, and every
host folder of the role (pointed into tmp_path) is still empty.

The argument specs fail in seconds, but ansible-playbook itself takes a few seconds to start on a shared machine,
so the cases of one role (on one cluster) run in one playbook: each case is its own include_role inside
block/rescue, and the rescue records the case's ansible_failed_result.msg and ansible_failed_task.name in a
cacheable fact (the fact cache is per test, tmp_path/facts). Every case is then asserted on its own. One case per
role also runs alone, to show the plain failing run: rc != 0, failed=1, changed=0.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from meshlab_testlib import ISTIO_VERSION, Cluster, PlaybookRun, ansible_playbook, files_under

# What the roles call the tasks that refuse input before any change (their first tasks).
ARGSPEC_TASK = "Validating arguments against arg spec 'main'"
VALIDATE_TASK = "Role variables have allowed values"


@dataclass(frozen=True)
class Case:
    id: str
    vars: dict
    # Substrings the failure message must hold: the variable's name, and what is allowed.
    names: str
    allowed: str
    # The task that refuses it (argument spec, validate.yml, or a pre-change check on the cluster).
    task: str = VALIDATE_TASK
    flavor: str = "kubernetes"


MINISHIFT_CASES = [
    # names
    Case(
        "provider-unknown",
        {"minishift_provider": "openshift"},
        "minishift_provider",
        "minishift, crc, kwok, existing",
        ARGSPEC_TASK,
    ),
    Case("state-unknown", {"minishift_state": "running"}, "minishift_state", "started, stopped, absent", ARGSPEC_TASK),
    Case(
        "crc-preset-unknown",
        {"minishift_provider": "crc", "minishift_crc_preset": "ocp"},
        "minishift_crc_preset",
        "okd, openshift, microshift",
        ARGSPEC_TASK,
    ),
    Case("profile-bad-name", {"minishift_profile": "my lab!"}, "minishift_profile", "letters, digits and '-'"),
    Case(
        "kwok-name-upper",
        {"minishift_provider": "kwok", "minishift_kwok_cluster_name": "Meshlab_Lab"},
        "minishift_kwok_cluster_name",
        "lower-case letters, digits and '-'",
    ),
    Case(
        "telemetry-unknown",
        {"minishift_provider": "crc", "minishift_crc_consent_telemetry": "maybe"},
        "minishift_crc_consent_telemetry",
        "yes, no",
        ARGSPEC_TASK,
    ),
    # types
    Case("cpus-string", {"minishift_cpus": "two"}, "minishift_cpus", "int", ARGSPEC_TASK),
    Case("extra-config-list", {"minishift_extra_config": ["cpus=4"]}, "minishift_extra_config", "dict", ARGSPEC_TASK),
    Case("start-vm-not-bool", {"minishift_start_vm": "perhaps"}, "minishift_start_vm", "bool", ARGSPEC_TASK),
    # ranges and formats
    Case("cpus-zero", {"minishift_cpus": 0}, "minishift_cpus", "an integer >= 1"),
    Case("memory-unit", {"minishift_memory": "4G"}, "minishift_memory", "<n>GB or <n>MB"),
    Case("disk-negative", {"minishift_disk_size": "-20GB"}, "minishift_disk_size", "<n>GB or <n>MB"),
    Case(
        "kwok-nodes-range",
        {"minishift_provider": "kwok", "minishift_kwok_nodes": 51},
        "minishift_kwok_nodes",
        "1 to 50",
    ),
    Case("retries-zero", {"minishift_download_retries": 0}, "minishift_download_retries", "1 to 20"),
    Case("delay-negative", {"minishift_download_delay": -1}, "minishift_download_delay", "0 to 600"),
    Case("timeout-zero", {"minishift_download_timeout": 0}, "minishift_download_timeout", "1 to 3600"),
    Case("start-timeout-short", {"minishift_start_timeout": 10}, "minishift_start_timeout", "at least 60 seconds"),
    Case("checksum-short", {"minishift_checksum": "abc123"}, "minishift_checksum", "64 hex digits"),
    # conflicts
    Case(
        "crc-openshift-no-pull-secret",
        {"minishift_provider": "crc", "minishift_crc_preset": "openshift"},
        "minishift_crc_pull_secret_file",
        "a pull secret file for preset openshift",
    ),
    Case(
        "crc-cpus-below-preset",
        {"minishift_provider": "crc", "minishift_crc_cpus": 2},
        "minishift_crc_cpus",
        "at least 4 for preset okd",
    ),
    Case(
        "crc-memory-below-preset",
        {"minishift_provider": "crc", "minishift_crc_memory_mib": 8192},
        "minishift_crc_memory_mib",
        "at least 10752 MiB",
    ),
    Case("driver-hyperkit-on-linux", {"minishift_vm_driver": "hyperkit"}, "minishift_vm_driver", "kvm on Linux"),
    # unsupported versions
    Case("okd-4", {"minishift_openshift_version": "v4.2.0"}, "minishift_openshift_version", "v3.10.x or v3.11.x"),
    Case("minishift-version-v", {"minishift_version": "v1.34.3"}, "minishift_version", "a release number like 1.34.3"),
    Case(
        "crc-version-word",
        {"minishift_provider": "crc", "minishift_crc_version": "latest"},
        "minishift_crc_version",
        "a release number like 2.62.0",
    ),
    # downloads (issue 12): https only unless minishift_download_allow_http; URLs well formed
    Case(
        "base-url-http",
        {"minishift_download_base_url": "http://mirror.example.com/minishift"},
        "minishift_download_base_url is 'http://mirror.example.com/minishift': plain http:// is refused",
        "an https:// or file:// URL, or set minishift_download_allow_http=true",
    ),
    Case(
        "crc-base-url-http",
        {"minishift_crc_download_base_url": "http://mirror.example.com/crc"},
        "minishift_crc_download_base_url",
        "minishift_download_allow_http=true",
    ),
    Case(
        "kvm-driver-url-http",
        {"minishift_kvm_driver_url": "http://mirror.example.com/docker-machine-driver-kvm"},
        "minishift_kvm_driver_url",
        "minishift_download_allow_http=true",
    ),
    Case(
        "base-url-no-scheme",
        {"minishift_download_base_url": "github.com/minishift/minishift/releases/download"},
        "minishift_download_base_url",
        "an https:// URL (or file:///<path>) without query, fragment, spaces or trailing '/'",
    ),
    Case(
        "crc-base-url-query",
        {"minishift_crc_download_base_url": "https://mirror.example.com/crc?token=abc"},
        "minishift_crc_download_base_url",
        "an https:// URL (or file:///<path>) without query, fragment, spaces or trailing '/'",
    ),
    Case(
        "iso-url-ftp",
        {"minishift_iso_url": "ftp://mirror.example.com/centos.iso"},
        "minishift_iso_url",
        "one of Minishift's ISO aliases centos, b2d, minikube",
    ),
    Case(
        "allow-http-not-bool",
        {"minishift_download_allow_http": "perhaps"},
        "minishift_download_allow_http",
        "bool",
        ARGSPEC_TASK,
    ),
]

WEAVE_SCOPE_CASES = [
    # names
    Case("state-unknown", {"weave_scope_state": "installed"}, "weave_scope_state", "present, absent", ARGSPEC_TASK),
    Case("namespace-not-dns", {"weave_scope_namespace": "Weave_Scope"}, "weave_scope_namespace", "a DNS label"),
    Case(
        "namespace-system",
        {"weave_scope_namespace": "kube-system"},
        "weave_scope_namespace",
        "not default, kube-* or openshift-*",
    ),
    Case(
        "runtime-unknown",
        {"weave_scope_container_runtime": "podman"},
        "weave_scope_container_runtime",
        "auto, docker, containerd, cri-o, none",
        ARGSPEC_TASK,
    ),
    Case(
        "pull-policy-case",
        {"weave_scope_image_pull_policy": "always"},
        "weave_scope_image_pull_policy",
        "IfNotPresent, Always, Never",
        ARGSPEC_TASK,
    ),
    Case(
        "image-with-tag",
        {"weave_scope_image": "weaveworks/scope:1.13.2"},
        "weave_scope_image",
        "a repository path without registry, tag or digest",
    ),
    Case(
        "username-spaces",
        {"weave_scope_basic_auth_username": "scope admin"},
        "weave_scope_basic_auth_username",
        "1 to 64 letters, digits",
    ),
    # types
    Case("read-only-not-bool", {"weave_scope_read_only": "maybe"}, "weave_scope_read_only", "bool", ARGSPEC_TASK),
    Case(
        "resources-list",
        {"weave_scope_app_resources": ["100m", "200Mi"]},
        "weave_scope_app_resources",
        "dict",
        ARGSPEC_TASK,
    ),
    Case(
        "tolerations-dict",
        {"weave_scope_agent_tolerations": {"operator": "Exists"}},
        "weave_scope_agent_tolerations",
        "list",
        ARGSPEC_TASK,
    ),
    Case("wait-timeout-string", {"weave_scope_wait_timeout": "5m"}, "weave_scope_wait_timeout", "int", ARGSPEC_TASK),
    # ranges and formats
    Case("wait-timeout-short", {"weave_scope_wait_timeout": 5}, "weave_scope_wait_timeout", "at least 30 seconds"),
    Case(
        "password-length-range",
        {"weave_scope_basic_auth_password_length": 8},
        "weave_scope_basic_auth_password_length",
        "16 to 128",
    ),
    Case(
        "password-short",
        {"weave_scope_basic_auth_enabled": True, "weave_scope_basic_auth_password": "hunter2"},
        "weave_scope_basic_auth_password",
        "at least 12 characters",
    ),
    Case("tag-latest", {"weave_scope_image_tag": "latest"}, "weave_scope_image_tag", "not 'latest'"),
    Case(
        "resources-not-quantity",
        {"weave_scope_agent_resources": {"limits": {"cpu": "lots", "memory": "1Gi"}}},
        "weave_scope_agent_resources",
        "cpu and/or memory as a Kubernetes quantity",
    ),
    Case(
        "registry-port-word",
        {"weave_scope_image_registry": "mirror.example.com:port"},
        "weave_scope_image_registry",
        "a registry host with optional :port",
    ),
    Case(
        "socket-relative",
        {"weave_scope_docker_socket": "var/run/docker.sock"},
        "weave_scope_docker_socket",
        "absolute paths",
    ),
    # conflicts
    Case(
        "route-on-kubernetes",
        {"weave_scope_route_enabled": True},
        "weave_scope_route_enabled",
        "true only on OpenShift",
        "Options that depend on the platform fit this cluster",
    ),
    Case(
        "route-without-basic-auth",
        {"weave_scope_route_enabled": True, "weave_scope_basic_auth_enabled": False},
        "weave_scope_basic_auth_enabled",
        "allowed: true",
        flavor="openshift",
    ),
    Case(
        "controls-without-auth",
        {"weave_scope_read_only": False},
        "weave_scope_read_only is false while weave_scope_basic_auth_enabled",
        "weave_scope_read_only=false with weave_scope_basic_auth_enabled=true",
    ),
    Case(
        "controls-auth-off",
        {"weave_scope_read_only": False, "weave_scope_basic_auth_enabled": False},
        "weave_scope_read_only is false while weave_scope_basic_auth_enabled is 'False'",
        "weave_scope_read_only=true (no controls)",
    ),
    # unsupported versions
    Case("tag-empty", {"weave_scope_image_tag": ""}, "weave_scope_image_tag", "an image tag such as 1.13.2"),
]

ISTIO_CASES = [
    # names
    Case("state-unknown", {"istio_state": "installed"}, "istio_state", "present, absent", ARGSPEC_TASK),
    Case("profile-unknown", {"istio_profile": "default"}, "istio_profile", "minimal, demo, secure", ARGSPEC_TASK),
    Case("injection-unknown", {"istio_injection": "sidecar"}, "istio_injection", "auto, manual", ARGSPEC_TASK),
    Case("namespace-not-dns", {"istio_bookinfo_namespace": "BookInfo"}, "istio_bookinfo_namespace", "a DNS label"),
    Case(
        "namespace-istio-system",
        {"istio_bookinfo_namespace": "istio-system"},
        "istio_bookinfo_namespace",
        "a namespace of BookInfo's own",
    ),
    Case("trust-domain-spaces", {"istio_trust_domain": "cluster local"}, "istio_trust_domain", "a DNS name"),
    # types
    Case("sampling-word", {"istio_tracing_sampling": "all"}, "istio_tracing_sampling", "float", ARGSPEC_TASK),
    Case(
        "overrides-list",
        {"istio_operator_spec_overrides": ["meshConfig"]},
        "istio_operator_spec_overrides",
        "dict",
        ARGSPEC_TASK,
    ),
    Case("readiness-string", {"istio_readiness_timeout": "5m"}, "istio_readiness_timeout", "int", ARGSPEC_TASK),
    # ranges and formats
    Case("retries-zero", {"istio_download_retries": 0}, "istio_download_retries", "1 to 20"),
    Case("delay-negative", {"istio_download_delay": -5}, "istio_download_delay", "0 to 600"),
    Case("timeout-zero", {"istio_download_timeout": 0}, "istio_download_timeout", "1 to 3600"),
    Case("sampling-range", {"istio_tracing_sampling": 150}, "istio_tracing_sampling", "0 to 100"),
    Case("interval-zero", {"istio_traffic_interval": 0}, "istio_traffic_interval", "1 to 3600"),
    Case("checksum-short", {"istio_checksum": "deadbeef"}, "istio_checksum", "64 hex digits"),
    Case(
        "url-ftp",
        {"istio_download_base_url": "ftp://mirror.example.com/istio"},
        "istio_download_base_url",
        "an https:// URL (or file:///<path>)",
    ),
    # downloads (issue 12): https only unless istio_download_allow_http; the base URL well formed
    Case(
        "url-http",
        {"istio_download_base_url": "http://mirror.example.com/istio", "istio_download_allow_http": False},
        "istio_download_base_url is 'http://mirror.example.com/istio': plain http:// is refused",
        "an https:// or file:// URL, or set istio_download_allow_http=true",
    ),
    Case(
        "url-trailing-slash",
        {"istio_download_base_url": "https://mirror.example.com/istio/"},
        "istio_download_base_url",
        "without query, fragment, spaces or trailing '/'",
    ),
    Case(
        "url-space",
        {"istio_download_base_url": "https://mirror example.com/istio"},
        "istio_download_base_url",
        "without query, fragment, spaces or trailing '/'",
    ),
    Case(
        "url-file-no-path",
        {"istio_download_base_url": "file://"},
        "istio_download_base_url",
        "an https:// URL (or file:///<path>)",
    ),
    Case(
        "allow-http-not-bool",
        {"istio_download_allow_http": "perhaps"},
        "istio_download_allow_http",
        "bool",
        ARGSPEC_TASK,
    ),
    # exposure and addons (issue 12): opt-in exposure, no writable anonymous Kiali, images as image references
    Case(
        "ingress-type-unknown",
        {"istio_ingress_service_type": "External"},
        "istio_ingress_service_type",
        "ClusterIP, NodePort, LoadBalancer",
        ARGSPEC_TASK,
    ),
    Case("route-enabled-word", {"istio_route_enabled": "sometimes"}, "istio_route_enabled", "bool", ARGSPEC_TASK),
    Case(
        "route-on-kubernetes",
        {"istio_route_enabled": True},
        "istio_route_enabled",
        "true only on OpenShift",
        # One assert since b47e905 (release, installer preset and platform options).
        "The Istio release fits the cluster and this control host, the lab preset exists for its installer, and "
        "options that depend on the platform fit",
    ),
    Case(
        "kiali-auth-unknown",
        {"istio_kiali_auth_strategy": "openid"},
        "istio_kiali_auth_strategy",
        "token, anonymous",
        ARGSPEC_TASK,
    ),
    Case("kiali-view-only-word", {"istio_kiali_view_only": "mostly"}, "istio_kiali_view_only", "bool", ARGSPEC_TASK),
    Case(
        "kiali-anonymous-writable",
        {"istio_kiali_auth_strategy": "anonymous", "istio_kiali_view_only": False},
        "istio_kiali_view_only",
        "anonymous only with istio_kiali_view_only true",
    ),
    Case(
        "traffic-image-yaml",
        {"istio_traffic_image": "docker.io/curlimages/curl:8.16.0\nkind: Secret"},
        "istio_traffic_image",
        "an image reference [registry[:port]/]path:tag",
    ),
    Case(
        "traffic-image-no-tag",
        {"istio_traffic_image": "docker.io/curlimages/curl"},
        "istio_traffic_image",
        "a tag or a digest required",
    ),
    Case(
        "traffic-image-short-digest",
        {"istio_traffic_image": "docker.io/curlimages/curl@sha256:abc123"},
        "istio_traffic_image",
        "@sha256:<64 hex digits>",
    ),
    # unsupported versions (and a version that conflicts with the cluster)
    Case("version-leading-v", {"istio_version": "v1.30.3"}, "istio_version", "a release number X.Y.Z"),
    Case(
        "version-not-in-table",
        {"istio_version": "1.5.0"},
        "istio_version",
        "Istio lines supporting Kubernetes 1.35",
        "The Istio release fits the cluster and this control host",
    ),
    Case(
        "version-too-old-for-cluster",
        {"istio_version": "1.24.6"},
        "istio_version",
        "Istio 1.24 supports Kubernetes 1.28-1.31",
        "The Istio release fits the cluster and this control host",
    ),
    Case(
        "okd-line-on-new-cluster",
        {"istio_version": "1.1.17"},
        "istio_version",
        "Istio lines supporting Kubernetes 1.35: 1.30.x",
        "The Istio release fits the cluster and this control host",
    ),
]

MESH_REPORT_CASES = [
    Case(
        "query-addons-unknown",
        {"mesh_report_query_addons": "yes"},
        "mesh_report_query_addons",
        "auto, always, never",
        ARGSPEC_TASK,
    ),
    Case(
        "kiali-duration-string",
        {"mesh_report_kiali_duration": "ten minutes"},
        "mesh_report_kiali_duration",
        "int",
        ARGSPEC_TASK,
    ),
    Case(
        "namespaces-not-list",
        {"mesh_report_namespaces": {"bookinfo": 1}},
        "mesh_report_namespaces",
        "list",
        ARGSPEC_TASK,
    ),
    Case("dir-empty", {"mesh_report_dir": " "}, "mesh_report_dir", "a folder path"),
    Case("namespaces-empty", {"mesh_report_namespaces": []}, "mesh_report_namespaces", "at least one namespace"),
    Case("namespace-upper", {"mesh_report_namespaces": ["bookinfo", "Istio_System"]}, "Istio_System", "a DNS label"),
    Case(
        "istio-namespace-space",
        {"mesh_report_istio_namespace": "istio system"},
        "mesh_report_istio_namespace",
        "a DNS label",
    ),
    Case(
        "bookinfo-not-read",
        {"mesh_report_namespaces": ["istio-system"]},
        "mesh_report_bookinfo_namespace",
        "a namespace of mesh_report_namespaces",
    ),
    Case("app-space", {"mesh_report_bookinfo_apps": ["product page"]}, "mesh_report_bookinfo_apps", "app label values"),
    Case(
        "edge-form", {"mesh_report_expect_edges": ["productpage>reviews"]}, "mesh_report_expect_edges", "source->target"
    ),
    Case("kiali-duration-zero", {"mesh_report_kiali_duration": 0}, "mesh_report_kiali_duration", "1 to 86400"),
    Case("kiali-duration-day-plus", {"mesh_report_kiali_duration": 86401}, "mesh_report_kiali_duration", "1 to 86400"),
]

ROLE_CASES = {
    "minishift": MINISHIFT_CASES,
    "weave_scope": WEAVE_SCOPE_CASES,
    "istio": ISTIO_CASES,
    "mesh_report": MESH_REPORT_CASES,
}


def host_dirs(role: str, base: Path) -> dict[str, Path]:
    """Every host folder the role writes to (defaults/main.yml), pointed below base."""
    if role == "minishift":
        names = [
            "minishift_bin_dir",
            "minishift_install_dir",
            "minishift_download_dir",
            "minishift_kwok_workdir",
            "minishift_kubeconfig_dir",
        ]
    elif role == "weave_scope":
        names = ["weave_scope_credentials_dir"]
    elif role == "mesh_report":
        names = ["mesh_report_dir"]
    else:
        names = ["istio_cache_dir", "istio_bin_dir"]
    return {name: base / "host" / name for name in names}


def role_vars(role: str, base: Path, cluster: Cluster) -> dict:
    """Variables every case of the role gets: host folders into base, the cluster of the suite."""
    dirs = {k: str(v) for k, v in host_dirs(role, base).items()}
    if role == "minishift":
        # The kwok provider's binaries are those of the suite; existing would read the suite's cluster.
        return {**dirs, "minishift_kubeconfig": str(cluster.kubeconfig)}
    if role == "weave_scope":
        return {
            "weave_scope_kubeconfig": str(cluster.kubeconfig),
            "weave_scope_basic_auth_file": dirs["weave_scope_credentials_dir"] + "/weave-scope.credentials",
            "weave_scope_namespace": "bi-refused",
            # Should a case be accepted, the test fails on what it made; it need not wait for pods as well.
            "weave_scope_wait": False,
        }
    if role == "mesh_report":
        # Refused before anything is read or written: the report folder is never made.
        return {**dirs, "mesh_report_kubeconfig": str(cluster.kubeconfig)}
    return {
        **dirs,
        "istio_kubeconfig": str(cluster.kubeconfig),
        "istio_version": ISTIO_VERSION,
        "istio_bookinfo_namespace": "bi-refused",
        "istio_download_base_url": "http://127.0.0.1:9/never-reached",
        # Plain http is allowed for every case but the one that checks its refusal (url-http sets it false).
        "istio_download_allow_http": True,
    }


def playbook(role: str, cases: list[Case], common: dict) -> str:
    """One play; each case is an include_role in block/rescue that records how it ended.

    common goes into the play's vars: a case's own include_role vars take precedence over them (extra vars
    would override the case instead).
    """
    tasks = []
    for case in cases:
        tasks.append(
            {
                "name": f"Case {case.id}",
                "block": [
                    {
                        "name": f"Case {case.id}: the role runs",
                        "ansible.builtin.include_role": {"name": f"meshlab.service_mesh.{role}"},
                        "vars": {**case.vars},
                    },
                    {
                        "name": f"Case {case.id}: the role accepted it",
                        "ansible.builtin.set_fact": {
                            "bi_results": "{{ bi_results | combine({bi_case: {'refused': false}}) }}",
                        },
                        "vars": {"bi_case": case.id},
                    },
                ],
                "rescue": [
                    {
                        "name": f"Case {case.id}: the refusal is recorded",
                        "ansible.builtin.set_fact": {
                            "bi_results": "{{ bi_results | combine({bi_case: {'refused': true, "
                            "'msg': ansible_failed_result.msg | default(''), "
                            "'task': ansible_failed_task.name | default('')}}) }}",
                        },
                        "vars": {"bi_case": case.id},
                    },
                ],
            }
        )
    play = [
        {
            "name": f"Bad input matrix of {role}",
            "hosts": "localhost",
            # As playbooks/site.yml does: the roles' defaults read host facts, also while their arguments are validated.
            "gather_facts": True,
            "vars": {**common, "bi_results": {}},
            "tasks": [
                *tasks,
                # One token the output cannot wrap or quote.
                {
                    "name": "The results are reported",
                    "ansible.builtin.debug": {"msg": "BI-RESULTS:{{ bi_results | to_json | b64encode }}"},
                },
            ],
        }
    ]
    return json.dumps(play, indent=1)


@dataclass
class GroupRun:
    role: str
    flavor: str
    base: Path
    run: PlaybookRun
    results: dict
    before: set = field(default_factory=set)
    after: set = field(default_factory=set)
    hooks_before: set = field(default_factory=set)
    hooks_after: set = field(default_factory=set)


_GROUPS: dict[tuple[str, str], GroupRun] = {}


def group_run(role: str, flavor: str, request, tmp_path_factory) -> GroupRun:
    """Run the role's cases for one cluster flavor once (first test that asks), with snapshots around it."""
    key = (role, flavor)
    if key not in _GROUPS:
        cluster: Cluster = request.getfixturevalue("k8s" if flavor == "kubernetes" else "openshift")
        cases = [c for c in ROLE_CASES[role] if c.flavor == flavor]
        base = tmp_path_factory.mktemp(f"bad-{role}-{flavor}")
        before, hooks_before = cluster.lab_objects(), cluster.webhooks()
        run = ansible_playbook(playbook(role, cases, role_vars(role, base, cluster)), base, timeout=900)
        found = re.search(r"BI-RESULTS:([A-Za-z0-9+/=]+)", run.output)
        results = json.loads(base64.b64decode(found.group(1))) if found else {}
        _GROUPS[key] = GroupRun(
            role, flavor, base, run, results, before, cluster.lab_objects(), hooks_before, cluster.webhooks()
        )
    return _GROUPS[key]


ALL = [(role, case) for role, cases in ROLE_CASES.items() for case in cases]


@pytest.mark.parametrize(("role", "case"), ALL, ids=[f"{r}-{c.id}" for r, c in ALL])
def test_bad_input_is_refused_before_any_change(role, case, request, tmp_path_factory):
    group = group_run(role, case.flavor, request, tmp_path_factory)
    tail = group.run.output[-3000:]
    assert case.id in group.results, f"case {case.id} never ran to its end:\n{tail}"
    result = group.results[case.id]
    assert result["refused"], f"{role} accepted {case.vars}"
    msg = result["msg"]
    assert case.names in msg, f"the failure does not name {case.names}: {msg}"
    assert case.allowed in msg, f"the failure does not say what is allowed ({case.allowed!r}): {msg}"
    # A password given is never shown, not even in the message refusing it.
    for name, value in case.vars.items():
        if "password" in name and name.endswith("password"):
            assert value not in group.run.output, f"{name}'s value appears in the output"
    assert result["task"].startswith(case.task), f"refused by {result['task']!r}, expected {case.task!r}: {msg}"
    # Nothing changed, in the whole group run: no task reported a change, the play itself ran through.
    assert group.run.changed == 0, f"a refused run changed something: {group.run.recap}\n{tail}"
    assert group.run.failed == 0, f"the matrix play itself failed: {group.run.recap}\n{tail}"
    assert group.run.recap.get("rescued") == len([c for c in ROLE_CASES[role] if c.flavor == case.flavor])
    # Nothing was made: the cluster's lab objects and webhooks, and the role's host folders.
    assert group.after == group.before, (
        f"lab objects changed: +{group.after - group.before} -{group.before - group.after}"
    )
    assert group.hooks_after == group.hooks_before
    for name, path in host_dirs(role, group.base).items():
        assert files_under(path) == [], f"{name} ({path}) holds {files_under(path)}"
        if role == "mesh_report":
            assert not path.exists(), f"the refused report made its folder {path}"


# One case per role, alone: the plain run of a refused input fails (rc != 0, failed=1) and changes nothing.
ALONE = [
    ("minishift", MINISHIFT_CASES[0]),
    ("weave_scope", WEAVE_SCOPE_CASES[1]),
    ("istio", ISTIO_CASES[-2]),
    ("mesh_report", MESH_REPORT_CASES[7]),
]


@pytest.mark.parametrize(("role", "case"), ALONE, ids=[f"{r}-{c.id}" for r, c in ALONE])
def test_refused_run_fails_the_play(role, case, request, tmp_path):
    cluster: Cluster = request.getfixturevalue("k8s")
    before, hooks_before = cluster.lab_objects(), cluster.webhooks()
    play = json.dumps(
        [
            {
                "name": f"{role} with {case.id}",
                "hosts": "localhost",
                "gather_facts": True,
                "roles": [{"role": f"meshlab.service_mesh.{role}"}],
            }
        ]
    )
    run = ansible_playbook(play + "\n", tmp_path, {**role_vars(role, tmp_path, cluster), **case.vars})
    assert run.rc != 0, run.output[-3000:]
    assert run.failed == 1 and run.changed == 0, f"{run.recap}\n{run.output[-3000:]}"
    assert case.names in run.output and case.allowed in run.output, run.output[-3000:]
    assert cluster.lab_objects() == before
    assert cluster.webhooks() == hooks_before
    for name, path in host_dirs(role, tmp_path).items():
        assert files_under(path) == [], f"{name} ({path}) holds {files_under(path)}"
