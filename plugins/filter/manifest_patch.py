# Copyright: meshlab.service_mesh contributors
# Apache License 2.0 (see LICENSE)
"""Apply a role's patches (data) to manifests read from a release, without forking them.

The istio role applies Istio's own ``samples/addons/*.yaml`` and makes them safe with a list of
patches kept in ``roles/istio/vars/main.yml`` (``__istio_addon_patches``). Each patch names one
object (``kind``, ``name``, optionally ``namespace``) and says what to change:

``data_yaml``
    ``{key: overrides}``: ``data[key]`` of a ConfigMap is YAML; the overrides are merged into it
    (dicts recursively, anything else replaced) and it is written back as YAML.
``verbs``
    The only verbs every rule of a Role or ClusterRole may keep; a rule left with none is dropped.
``container`` + ``env`` and/or ``volume_mounts``
    In the pod template's container of that name, each listed variable (``name`` plus ``value`` or
    ``valueFrom``) replaces the variable of the same name, or is added; ``{name, absent: true}``
    removes it. Each volume mount replaces the one of the same name, or is added.
``volumes``
    Pod template volumes, each replacing the one of the same name, or added.
``rollout_on``
    ``{kind, name}`` of another object of the same manifests: the pod template gets the annotation
    ``meshlab.io/config-sha256``, a digest of that object's ``data`` after patching, so the
    workload rolls out again when the role changes its configuration.

``addon`` and ``why`` are for the role and the reader (which addon, and the reason); the filter
ignores them. A patch that finds nothing to change fails: a release whose samples no longer look
as the patch expects must stop the run, never go out unpatched.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import yaml

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - the filter always runs inside Ansible
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

_SELECT_KEYS = {"kind", "name", "namespace"}
_ACTION_KEYS = {"data_yaml", "verbs", "container", "env", "volume_mounts", "volumes", "rollout_on"}
_NOTE_KEYS = {"addon", "why"}
ANNOTATION = "meshlab.io/config-sha256"


def _merge(base: Any, overrides: Any) -> Any:
    if isinstance(base, dict) and isinstance(overrides, dict):
        out = dict(base)
        for key, value in overrides.items():
            out[key] = _merge(base.get(key), value)
        return out
    return copy.deepcopy(overrides)


def _label(patch: dict[str, Any]) -> str:
    where = f"{patch.get('namespace')}/" if patch.get("namespace") else ""
    return f"{patch.get('kind')} {where}{patch.get('name')}"


def _matches(doc: dict[str, Any], kind: str, name: str, namespace: str | None = None) -> bool:
    meta = doc.get("metadata") or {}
    return (
        doc.get("kind") == kind
        and meta.get("name") == name
        and (namespace is None or meta.get("namespace") == namespace)
    )


def _check(patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise AnsibleFilterError(f"manifest_patch: a patch must be a dict, got {patch!r}")
    unknown = set(patch) - _SELECT_KEYS - _ACTION_KEYS - _NOTE_KEYS
    if unknown:
        raise AnsibleFilterError(f"manifest_patch: {_label(patch)}: unknown keys {sorted(unknown)}")
    if not patch.get("kind") or not patch.get("name"):
        raise AnsibleFilterError(f"manifest_patch: a patch needs kind and name: {patch!r}")
    if not set(patch) & _ACTION_KEYS:
        raise AnsibleFilterError(f"manifest_patch: {_label(patch)} changes nothing (no {sorted(_ACTION_KEYS)})")
    if ("container" in patch) != ("env" in patch or "volume_mounts" in patch):
        raise AnsibleFilterError(f"manifest_patch: {_label(patch)}: container goes with env or volume_mounts")
    return patch


def _patch_data_yaml(doc: dict[str, Any], overrides: dict[str, Any], label: str) -> None:
    data = doc.get("data") or {}
    for key, values in overrides.items():
        if key not in data:
            raise AnsibleFilterError(f"manifest_patch: {label} has no data key {key!r} (keys: {sorted(data)})")
        parsed = yaml.safe_load(data[key]) or {}
        if not isinstance(parsed, dict):
            raise AnsibleFilterError(f"manifest_patch: {label} data {key!r} is not a YAML mapping")
        data[key] = yaml.safe_dump(_merge(parsed, values), default_flow_style=False, sort_keys=True)


def _patch_verbs(doc: dict[str, Any], verbs: list[str], label: str) -> None:
    if doc.get("kind") not in ("Role", "ClusterRole"):
        raise AnsibleFilterError(f"manifest_patch: {label}: verbs apply to a Role or ClusterRole")
    allowed = [str(v) for v in verbs]
    rules = []
    for rule in doc.get("rules") or []:
        kept = [v for v in rule.get("verbs") or [] if v in allowed]
        if kept:
            rules.append({**rule, "verbs": kept})
    doc["rules"] = rules


def _pod_spec(doc: dict[str, Any], label: str) -> dict[str, Any]:
    template = (doc.get("spec") or {}).get("template")
    if not isinstance(template, dict):
        raise AnsibleFilterError(f"manifest_patch: {label} has no pod template")
    return template


def _by_name(current: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """current with entry replacing the item of the same name, or appended."""
    at = [i for i, e in enumerate(current) if e.get("name") == entry["name"]]
    if at:
        current[at[0]] = entry
    else:
        current.append(entry)
    return current


def _container(doc: dict[str, Any], container: str, label: str) -> dict[str, Any]:
    spec = _pod_spec(doc, label).get("spec") or {}
    found = [c for c in spec.get("containers") or [] if c.get("name") == container]
    if not found:
        names = [c.get("name") for c in spec.get("containers") or []]
        raise AnsibleFilterError(f"manifest_patch: {label} has no container {container!r} (containers: {names})")
    return found[0]


def _patch_env(target: dict[str, Any], env: list[dict[str, Any]], label: str) -> None:
    current = list(target.get("env") or [])
    for var in env:
        if not isinstance(var, dict) or "name" not in var:
            raise AnsibleFilterError(f"manifest_patch: {label}: env entries need name and value or valueFrom: {var!r}")
        if var.get("absent"):
            current = [e for e in current if e.get("name") != var["name"]]
            continue
        if ("value" in var) == ("valueFrom" in var):
            raise AnsibleFilterError(f"manifest_patch: {label}: env entries need name and value or valueFrom: {var!r}")
        entry = {"name": str(var["name"])}
        entry.update({"value": str(var["value"])} if "value" in var else {"valueFrom": var["valueFrom"]})
        current = _by_name(current, entry)
    target["env"] = current


def _patch_named(target: dict[str, Any], key: str, items: list[dict[str, Any]], label: str) -> None:
    current = list(target.get(key) or [])
    for item in items:
        if not isinstance(item, dict) or not item.get("name"):
            raise AnsibleFilterError(f"manifest_patch: {label}: {key} entries need a name: {item!r}")
        current = _by_name(current, item)
    target[key] = current


def _digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj.get("data") or {}, sort_keys=True).encode()).hexdigest()


def _apply(doc: dict[str, Any], patch: dict[str, Any], label: str) -> None:
    if "data_yaml" in patch:
        _patch_data_yaml(doc, patch["data_yaml"], label)
    if "verbs" in patch:
        _patch_verbs(doc, patch["verbs"], label)
    if "volumes" in patch:
        _patch_named(_pod_spec(doc, label).setdefault("spec", {}), "volumes", patch["volumes"], label)
    if "container" in patch:
        target = _container(doc, patch["container"], label)
        if "env" in patch:
            _patch_env(target, patch["env"], label)
        if "volume_mounts" in patch:
            _patch_named(target, "volumeMounts", patch["volume_mounts"], label)


def _plain(value: Any) -> Any:
    """Plain dicts, lists and scalars (Ansible may hand over its own str/dict subclasses, which PyYAML's safe
    dumper refuses)."""
    return json.loads(json.dumps(value))


def manifest_patch(docs: list[dict[str, Any]], patches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """docs (Kubernetes objects) with patches applied; each patch must apply to exactly one object."""
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise AnsibleFilterError("manifest_patch: the input must be a list of Kubernetes objects (dicts)")
    if not isinstance(patches, list):
        raise AnsibleFilterError("manifest_patch: the patches must be a list of dicts")
    out = _plain(docs)
    checked = [_check(p) for p in _plain(patches)]
    rollouts = []
    for patch in checked:
        label = _label(patch)
        targets = [d for d in out if _matches(d, patch["kind"], patch["name"], patch.get("namespace"))]
        if len(targets) != 1:
            raise AnsibleFilterError(
                f"manifest_patch: {label} is {'missing from' if not targets else 'more than once in'} the manifests "
                "(the release's samples changed?): the patch cannot be applied, nothing is applied without it"
            )
        _apply(targets[0], patch, label)
        if "rollout_on" in patch:
            rollouts.append((targets[0], patch["rollout_on"], label))
    # After every other patch: the digest is of the configuration as applied.
    for doc, ref, label in rollouts:
        sources = [d for d in out if _matches(d, ref.get("kind"), ref.get("name"))]
        if len(sources) != 1:
            raise AnsibleFilterError(f"manifest_patch: {label}: rollout_on {ref!r} names no single object")
        meta = _pod_spec(doc, label).setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION: _digest(sources[0])}
    return out


class FilterModule:
    """Patches as data over release manifests."""

    def filters(self) -> dict[str, Any]:
        return {"manifest_patch": manifest_patch}
