"""Benchmark of the lab on the simulated cluster (issues 7 and 13): `make bench [BENCH_RUNS=3]`.

Per run and per strategy (linear, and mitogen_linear when mitogen runs with the installed ansible-core;
tests/scripts/strategy.sh decides), on clusters of its own (provider kwok, cluster names
bench-<id>-<run><l|m|c>, own kwok workdir, kubeconfig folder, istio_bin_dir, report folder and fact
cache, as molecule/default does):

  (a) first converge of playbooks/site.yml,
  (b) the no-op re-run of site.yml (changed=0 is checked and reported),
  module runs of (a) and (b), total and per role (callback tests/scripts/callback_plugins/
      meshlab_module_runs.py: executed results of actions other than set_fact, assert, debug,
      fail, meta, add_host, group_by, include_*/import_*; each loop item one; skipped ones not),
  (c) the baseline on another fresh cluster: the very objects the roles made on (a)'s cluster
      (label app.kubernetes.io/part-of=meshlab; BookInfo already carries its sidecars, as the
      role injected them) applied with `kubectl apply --server-side`, plus `istioctl install`
      of the IstioOperator the istio role recorded (ConfigMap istio-system/meshlab-istio),
      with the istioctl binary and flags the role uses.

Cluster creation is not timed, in (a) nor in (c): each cluster is created first (site.yml
--tags cluster, untimed), so (a) times site.yml with the cluster already there and its
cluster stage only checks it. The kubeconfig and context of a cluster are read from the lab's
own published fact (meshlab_cluster in that cluster's fact cache). (c) is run once per run and
shared by the strategies. Prints medians, ratios per strategy, the goals (judged with the strategy
`make lab` uses), the slowest tasks of (a) and (b) (ansible.posix.profile_tasks), writes
docs/bench.md and deletes its clusters at the end, also on failure or interruption.

site.yml is launched, and its PLAY RECAP read, by the tests' shared helpers (tests/lib, package meshlab_testlib:
Playbook, parse_recap, cached_fact), as every test layer does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "tests" / "lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))

from meshlab_testlib import BIN_DIR, RECAP_LINE, Playbook, cached_fact  # noqa: E402 - tests/lib on the path first

LABEL = "app.kubernetes.io/part-of=meshlab"
GOAL_NOOP = 0.25  # (b)/(a)
GOAL_BASELINE = 2.0  # (a)/(c)
TOP_TASKS = 15
# Kinds a controller derives from the objects the roles made (they copy the labels): not applied.
DERIVED_KINDS = {"Endpoints", "EndpointSlice", "Event", "ControllerRevision", "ReplicaSet", "Pod"}
DROP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deprecated.daemonset.template.generation",
}
STRATEGIES = ("linear", "mitogen_linear")
PROFILE_LINE = re.compile(r"^(?P<name>\S.*?) -*\s?(?P<secs>\d+\.\d+)s$")


def log(msg: str) -> None:
    print(f"bench {time.strftime('%H:%M:%S')}: {msg}", flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bin_dir = BIN_DIR  # MESHLAB_KWOK_BIN_DIR (make lab-bin's folder)
        self.kubectl = str(self.bin_dir / "kubectl")
        self.kwokctl = str(self.bin_dir / "kwokctl")
        self.bench_id = time.strftime("%Y%m%d%H%M%S")
        self.root = Path(args.workdir or REPO / ".cache/bench") / self.bench_id
        self.clusters: list[tuple[str, Path]] = []  # (name, dir) of every cluster made
        # The collection as it is when the bench starts: others' later edits do not leak into a run.
        self.src = self.root / "src"
        self.collections = self.root / "collections"
        self.facts: dict[str, dict] = {}  # meshlab_cluster of each cluster, as its fact cache holds it
        self.strategy_env = {s: strategy_env(s) for s in STRATEGIES}
        self.strategies = [s for s in STRATEGIES if self.strategy_env[s] is not None]
        self.lab_strategy = (lab_strategy(args.lab_strategy) or "linear") if args.lab_strategy else "linear"

    def snapshot(self) -> str:
        """Copy the working tree (tracked and untracked, not ignored), or with --committed the files of HEAD, and put
        the copy on a collections path."""
        if self.args.committed:
            self.src.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(self.src)], input=archive.stdout, check=True)
            link = self.collections / "ansible_collections/meshlab/service_mesh"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.src)
            head = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
            )
            return f"{head.stdout.strip()} (committed files only)"
        listed = subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, check=True
        )
        for rel in filter(None, listed.stdout.decode().split("\0")):
            src = REPO / rel
            if src.is_file():
                (self.src / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, self.src / rel)
        link = self.collections / "ansible_collections/meshlab/service_mesh"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(self.src)
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "-uno"], cwd=REPO, capture_output=True, text=True, check=False
        )
        return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")

    # --- clusters -------------------------------------------------------------------------
    def cluster_dirs(self, name: str) -> dict[str, Path]:
        base = self.root / name
        return {
            "base": base,
            "kwok": base / "kwok",
            "kube": base / "kube",
            "report": base / "report",
            "facts": base / "facts",
            "logs": base / "logs",
            "bin": base / "bin",
        }

    def module_runs_file(self, name: str, label: str) -> Path:
        """Where the module-run callback writes the counts of run `label` on cluster `name`."""
        return self.cluster_dirs(name)["logs"] / f"{label}.module-runs.json"

    def site_playbook(self, name: str, label: str, strategy: str = "linear", tags: str | None = None) -> Playbook:
        """site.yml for cluster `name`, as the bench launches it: from the copy (self.src) with the copy's ansible.cfg
        and collections path, the cluster's own fact cache and report folder, `strategy`'s environment (never an
        inherited ANSIBLE_STRATEGY*), ansible.posix.profile_tasks and the module-run callback."""
        d = self.cluster_dirs(name)
        for key in ("kube", "report", "facts", "logs", "bin"):
            d[key].mkdir(parents=True, exist_ok=True)
        extra = {
            "minishift_provider": "kwok",
            "minishift_kwok_bin_dir": str(self.bin_dir),
            "minishift_kwok_cluster_name": name,
            "minishift_kwok_workdir": str(d["kwok"]),
            "minishift_kubeconfig_dir": str(d["kube"]),
            "istio_version": self.args.istio_version,
            "istio_download_base_url": self.args.istio_base_url,
            # The local artifact server is plain http on 127.0.0.1: allowed explicitly.
            "istio_download_allow_http": (self.args.istio_base_url or "").startswith("http://"),
            # istioctl goes to the cluster's own folder, never ~/.local/bin; each (a) installs it alike.
            "istio_bin_dir": str(d["bin"]),
            "site_report_dir": str(d["report"]),
        }
        return Playbook(
            "playbooks/site.yml",
            workdir=d["base"],
            extra_vars=extra,
            args=("--tags", tags) if tags else (),
            # The inventory's connection (local) and Python (ansible_playbook_python), as `make lab` has them.
            inventory="inventory/localhost.yml",
            connection=None,
            python=None,
            config=self.src / "ansible.cfg",
            collections=self.collections,
            fact_cache=d["facts"],
            report_dir=d["report"],
            base_env={k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_STRATEGY")},
            env={
                **(self.strategy_env[strategy] or {}),
                "ANSIBLE_CALLBACK_PLUGINS": str(self.src / "tests/scripts/callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,meshlab_module_runs",
                "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
                "PROFILE_TASKS_SORT_ORDER": "descending",
                "COLUMNS": "160",
                "MESHLAB_MODULE_RUNS_FILE": str(self.module_runs_file(name, label)),
            },
            cwd=self.src,
        )

    def cached_cluster(self, name: str) -> dict:
        """meshlab_cluster as the lab published it in cluster `name`'s fact cache."""
        facts = self.cluster_dirs(name)["facts"]
        fact = cached_fact(facts, "meshlab_cluster")
        if isinstance(fact, dict) and fact.get("kubeconfig"):
            return fact
        raise RuntimeError(f"cluster {name}: site.yml --tags cluster published no meshlab_cluster in {facts}")

    def kubeconfig(self, name: str) -> str:
        return self.facts[name]["kubeconfig"]

    def context(self, name: str) -> str:
        return self.facts[name]["context"]

    def site(self, name: str, label: str, strategy: str = "linear", tags: str | None = None) -> dict:
        """Run site.yml for cluster `name`; return wall time, recap, profile and module runs."""
        log_file = self.cluster_dirs(name)["logs"] / f"{label}.log"
        run = self.site_playbook(name, label, strategy, tags).run(timeout=None, log_file=log_file)
        if run.rc != 0:
            tail = "\n".join(run.output.splitlines()[-40:])
            raise RuntimeError(f"site.yml ({label}, cluster {name}) failed with rc={run.rc}; log {log_file}:\n{tail}")
        runs_file = self.module_runs_file(name, label)
        runs = json.loads(runs_file.read_text()) if runs_file.exists() else {}
        return {
            "seconds": run.seconds,
            "recap": run.recap,
            "profile": parse_profile(run.output),
            "log": str(log_file),
            "module_runs": runs.get("total"),
            "module_runs_by_group": runs.get("by_group", {}),
            "module_runs_by_task": runs.get("tasks", {}),
        }

    def create_cluster(self, name: str, strategy: str = "linear") -> None:
        self.clusters.append((name, self.cluster_dirs(name)["kwok"]))
        log(f"cluster {name}: created (untimed: site.yml --tags cluster)")
        self.site(name, "create", strategy, tags="cluster")
        self.facts[name] = self.cached_cluster(name)

    def delete_cluster(self, name: str, kwok_dir: Path) -> None:
        env = dict(os.environ, KWOK_WORKDIR=str(kwok_dir))
        listed = subprocess.run([self.kwokctl, "get", "clusters"], env=env, capture_output=True, text=True, check=False)
        if name not in listed.stdout.split():
            return
        # The kubeconfig the cluster stage wrote (kwokctl removes the cluster's context from it).
        kubeconfig = self.facts.get(name, {}).get("kubeconfig") or str(self.cluster_dirs(name)["kube"] / "kubeconfig")
        subprocess.run(
            [self.kwokctl, "--name", name, "delete", "cluster", "--kubeconfig", kubeconfig],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        log(f"cluster {name}: deleted")

    def delete_all(self) -> None:
        while self.clusters:
            name, kwok_dir = self.clusters.pop()
            try:
                self.delete_cluster(name, kwok_dir)
            except OSError as err:  # keep deleting the others
                log(f"cluster {name}: delete failed: {err}")

    # --- the baseline -------------------------------------------------------------------------
    def kc(self, name: str, *argv: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.kubectl, "--kubeconfig", self.kubeconfig(name), "--context", self.context(name), *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(argv)} failed: {proc.stderr.strip()}")
        return proc

    def export(self, name: str, out_dir: Path) -> dict:
        """The objects the roles made on cluster `name`, cleaned of server fields, and the IstioOperator."""
        out_dir.mkdir(parents=True, exist_ok=True)
        kinds = self.kc(name, "api-resources", "--verbs=list,get", "-o", "name").stdout.split()
        listed = json.loads(self.kc(name, "get", ",".join(kinds), "-A", "-l", LABEL, "-o", "json").stdout)["items"]
        objects = []
        for obj in listed:
            meta = obj.get("metadata", {})
            if obj.get("kind") in DERIVED_KINDS or meta.get("ownerReferences"):
                continue
            objects.append(clean(obj))
        objects.sort(
            key=lambda o: (
                o["kind"] != "Namespace",
                o["kind"],
                o["metadata"].get("namespace", ""),
                o["metadata"]["name"],
            )
        )
        record = self.kc(name, "-n", "istio-system", "get", "configmap", "meshlab-istio", "-o", "json")
        record_data = json.loads(record.stdout)["data"]
        iop = out_dir / "istiooperator.yaml"
        iop.write_text(record_data["istiooperator.yaml"])
        # Istio's own kinds (*.istio.io) exist only once istioctl has installed the CRDs.
        istio_kinds = [o for o in objects if o["apiVersion"].split("/")[0].endswith(".istio.io")]
        plain = [o for o in objects if o not in istio_kinds]
        files = {"plain": out_dir / "objects.json", "istio": out_dir / "istio-objects.json"}
        files["plain"].write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": plain}, indent=1))
        files["istio"].write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": istio_kinds}, indent=1))
        counts: dict[str, int] = {}
        for o in objects:
            counts[o["kind"]] = counts.get(o["kind"], 0) + 1
        return {
            "lab": name,
            "files": files,
            "iop": iop,
            "objects": sorted(
                f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objects
            ),
            "version": record_data.get("version", ""),
            "count": len(objects),
            "kinds": counts,
            "namespaces": sorted({o["metadata"].get("namespace", "") for o in objects} - {""}),
            "injected": sum(
                1
                for o in objects
                if o["kind"] == "Deployment"
                and any(c.get("name") == "istio-proxy" for c in o["spec"]["template"]["spec"].get("containers", []))
            ),
        }

    def istioctl(self, lab: str, version: str) -> str:
        """The binary the istio role installed for cluster `lab`: its istio_bin_dir/istioctl-<version>."""
        path = self.cluster_dirs(lab)["bin"] / f"istioctl-{version}"
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} (the istio role's istioctl of {lab}) is missing: run (a) first")
        return str(path)

    def baseline(self, name: str, exported: dict) -> dict:
        kube = ["--kubeconfig", self.kubeconfig(name), "--context", self.context(name)]
        apply = [self.kubectl, *kube, "apply", "--server-side", "-f"]
        install = [
            self.istioctl(exported["lab"], exported["version"]),
            "install",
            "--skip-confirmation",
            "--filename",
            str(exported["iop"]),
        ]
        steps = [
            ("apply objects", [*apply, str(exported["files"]["plain"])]),
            ("istioctl install", [*install, "--readiness-timeout", "300s", *kube]),
            ("apply Istio objects", [*apply, str(exported["files"]["istio"])]),
        ]
        times = {}
        for label, cmd in steps:
            start = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
            times[label] = time.monotonic() - start
            if proc.returncode != 0:
                raise RuntimeError(f"baseline {label} failed (rc {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        # What the roles also do: wait until the Deployments and DaemonSets are rolled out.
        start = time.monotonic()
        self.kc(
            name, "wait", "--for=condition=Available", "deployment", "-A", "-l", LABEL, "--timeout=600s", timeout=700
        )
        times["rollout wait"] = time.monotonic() - start
        return {
            "seconds": sum(v for k, v in times.items() if k != "rollout wait"),
            "with_wait": sum(times.values()),
            "steps": times,
        }

    # --- one run ------------------------------------------------------------------------------
    def run_once(self, i: int) -> dict:
        stamp = self.bench_id[-6:]
        per: dict[str, dict] = {}
        exports: dict[str, dict] = {}
        for strategy in self.strategies:
            lab = f"bench-{stamp}-{i}{strategy[0]}"  # l: linear, m: mitogen_linear
            self.create_cluster(lab, strategy)
            log(f"run {i} {strategy}: (a) first converge of site.yml on {lab}")
            first = self.site(lab, "a-first", strategy)
            log(f"run {i} {strategy}: (a) {first['seconds']:.1f}s {first['recap']} module runs {first['module_runs']}")
            log(f"run {i} {strategy}: (b) no-op re-run")
            noop = self.site(lab, "b-noop", strategy)
            log(f"run {i} {strategy}: (b) {noop['seconds']:.1f}s {noop['recap']} module runs {noop['module_runs']}")
            exports[strategy] = self.export(lab, self.root / lab / "export")
            log(f"run {i} {strategy}: exported {exports[strategy]['count']} objects + the IstioOperator")
            self.delete_cluster(*self.clusters.pop())
            per[strategy] = {"a": first, "b": noop}
        exported = exports[self.strategies[0]]
        same = {s: exports[s]["objects"] == exported["objects"] for s in self.strategies}
        if not all(same.values()):
            log(f"run {i}: the strategies left different objects: {same}")
        base = f"bench-{stamp}-{i}c"
        self.create_cluster(base)
        log(f"run {i}: (c) baseline on {base}")
        c = self.baseline(base, exported)
        log(f"run {i}: (c) {c['seconds']:.1f}s (+ rollout wait {c['steps']['rollout wait']:.1f}s) {c['steps']}")
        self.delete_cluster(*self.clusters.pop())
        return {
            "strategies": per,
            "c": c,
            "same_objects": same,
            "export": {k: v for k, v in exported.items() if k not in ("files", "iop")},
        }


def clean(obj: dict) -> dict:
    """An object as one would write it: no status, no server-set metadata or allocated fields."""
    obj = json.loads(json.dumps(obj))
    obj.pop("status", None)
    meta = obj["metadata"]
    kept = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    if "annotations" in kept:
        kept["annotations"] = {k: v for k, v in kept["annotations"].items() if k not in DROP_ANNOTATIONS}
        if not kept["annotations"]:
            del kept["annotations"]
    obj["metadata"] = kept
    spec = obj.get("spec")
    if obj["kind"] == "Service" and isinstance(spec, dict):
        for key in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
            spec.pop(key, None)
        for port in spec.get("ports", []):
            port.pop("nodePort", None)
    if obj["kind"] == "Namespace":
        obj.pop("spec", None)
    return obj


def parse_profile(text: str) -> list[tuple[str, float]]:
    """Task timings from ansible.posix.profile_tasks' recap (after the PLAY RECAP)."""
    lines = text.splitlines()
    try:
        start = max(i for i, line in enumerate(lines) if line.startswith("PLAY RECAP"))
    except ValueError:
        return []
    out = []
    for line in lines[start + 1 :]:
        m = PROFILE_LINE.match(line.rstrip())
        if m and not RECAP_LINE.match(line.strip()):
            out.append((m.group("name").strip(), float(m.group("secs"))))
    return out


def median_profile(profiles: list[list[tuple[str, float]]]) -> list[tuple[str, float]]:
    """Per task name: the median of its summed time over the runs."""
    totals: list[dict[str, float]] = []
    for prof in profiles:
        per: dict[str, float] = {}
        for name, secs in prof:
            per[name] = per.get(name, 0.0) + secs
        totals.append(per)
    names = {n for t in totals for n in t}
    med = {n: statistics.median([t.get(n, 0.0) for t in totals]) for n in names}
    return sorted(med.items(), key=lambda kv: -kv[1])


def strategy_env(strategy: str) -> dict[str, str] | None:
    """The environment of `strategy` (tests/scripts/strategy.sh), or None when it cannot run here."""
    proc = subprocess.run(
        [str(REPO / "tests/scripts/strategy.sh"), sys.executable, strategy],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        log(f"strategy {strategy} left out: {proc.stderr.strip()}")
        return None
    return dict(item.split("=", 1) for item in proc.stdout.split())


def lab_strategy(asked: str) -> str | None:
    """The strategy `make lab` uses with STRATEGY=asked."""
    proc = subprocess.run(
        [str(REPO / "tests/scripts/strategy.sh"), sys.executable, asked], capture_output=True, text=True, check=False
    )
    return dict(item.split("=", 1) for item in proc.stdout.split()).get("ANSIBLE_STRATEGY")


def render(results: list[dict], bench: Bench, load: dict, note: str) -> str:
    strategies = [s for s in STRATEGIES if all(s in r["strategies"] for r in results)]
    lab = bench.lab_strategy if bench.lab_strategy in strategies else strategies[0]
    c_med = statistics.median([r["c"]["seconds"] for r in results])
    c_wait = statistics.median([r["c"]["with_wait"] for r in results])
    ex = results[-1]["export"]

    def runs(s: str, key: str) -> list[dict]:
        return [r["strategies"][s][key] for r in results]

    def med(s: str, key: str) -> float:
        return statistics.median([x["seconds"] for x in runs(s, key)])

    def fmt(xs: list[float]) -> str:
        return ", ".join(f"{x:.1f}" for x in xs)

    def ints(xs: list) -> str:
        return ", ".join("?" if x is None else str(x) for x in xs)

    def per_run_ratio(s: str, num: str, den: str) -> str:
        def secs(r: dict, k: str) -> float:
            return r["c"]["seconds"] if k == "c" else r["strategies"][s][k]["seconds"]

        return ", ".join(f"{secs(r, num) / secs(r, den):.2f}" for r in results)

    md = [
        "# Benchmark: the lab on the simulated cluster",
        "",
        f"`make bench BENCH_RUNS={len(results)}` ({len(results)} runs; strategies {', '.join(strategies)}), "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"{platform.node() or 'host'}: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, ansible-core {ansible_core()}, Istio {ex.get('version', '?')}; "
        f"collection at {bench.revision} (a copy taken when the bench started).",
        f"Load average at start / end: {load['start']} / {load['end']}." + (f" {note}" if note else ""),
        "",
        "Each run uses clusters of its own (provider kwok, 2 fake nodes, own kwok workdir, kubeconfig, istio_bin_dir, "
        "report folder and fact cache), one per strategy for (a) and (b), one for (c). **Cluster creation is not "
        "timed**, in (a) nor in (c): each cluster is created first (site.yml `--tags cluster`, untimed); (a) and (b) "
        "then time the whole site.yml, whose cluster stage only checks the running cluster. "
        f"`make lab` uses the strategy **{lab}**: the goals are judged with it.",
        "",
        "| strategy | measure | what | median s | runs s | module runs |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    for s in strategies:
        md += [
            f"| {s} | (a) | site.yml, first converge (cluster already up) | {med(s, 'a'):.1f} | "
            f"{fmt([x['seconds'] for x in runs(s, 'a')])} | {ints([x.get('module_runs') for x in runs(s, 'a')])} |",
            f"| {s} | (b) | site.yml again, no-op (changed: {ints([x['recap'].get('changed') for x in runs(s, 'b')])})"
            f" | {med(s, 'b'):.1f} | {fmt([x['seconds'] for x in runs(s, 'b')])} | "
            f"{ints([x.get('module_runs') for x in runs(s, 'b')])} |",
        ]
    md += [
        f"| | (c) | baseline: `kubectl apply --server-side` of the same {ex['count']} objects + `istioctl install` "
        f"of the same IstioOperator, fresh cluster | {c_med:.1f} | {fmt([r['c']['seconds'] for r in results])} | |",
        f"| | (c+w) | (c) plus `kubectl wait --for=condition=Available` of the Deployments (the roles wait too) | "
        f"{c_wait:.1f} | {fmt([r['c']['with_wait'] for r in results])} | |",
        "",
        "| strategy | ratio | of the medians | goal | met | per run (same run's a, b, c) |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for s in strategies:
        ac, ba = med(s, "a") / c_med, med(s, "b") / med(s, "a")
        judged = s == lab

        def met(value: float, goal: float, judged: bool = judged) -> str:
            ok = "yes" if value <= goal else "NO"
            return ok if judged else f"({ok}: not `make lab`'s strategy)"

        md += [
            f"| {s} | (a)/(c) | {ac:.2f} | ≤ {GOAL_BASELINE} | {met(ac, GOAL_BASELINE)} | "
            f"{per_run_ratio(s, 'a', 'c')} |",
            f"| {s} | (a)/(c+w) | {med(s, 'a') / c_wait:.2f} | (for information) | | |",
            f"| {s} | (b)/(a) | {ba:.2f} | ≤ {GOAL_NOOP} | {met(ba, GOAL_NOOP)} | {per_run_ratio(s, 'b', 'a')} |",
        ]
    if len(strategies) > 1:
        md += [
            f"| {strategies[1]} vs {strategies[0]} | (a) | {med(strategies[1], 'a') / med(strategies[0], 'a'):.2f} "
            "| (for information) | | |",
            f"| {strategies[1]} vs {strategies[0]} | (b) | {med(strategies[1], 'b') / med(strategies[0], 'b'):.2f} "
            "| (for information) | | |",
        ]
    md += [""]
    for s in strategies:
        noop_changed = [x["recap"].get("changed") for x in runs(s, "b")]
        tasks = {k: [x["recap"].get("ok", 0) + x["recap"].get("skipped", 0) for x in runs(s, k)] for k in ("a", "b")}
        md.append(
            f"{s}: no-op changed={ints(noop_changed)} "
            f"({'idempotent' if all(c == 0 for c in noop_changed) else 'NOT idempotent: see the logs'}); "
            f"tasks run (ok+skipped) in (a): {ints(tasks['a'])}, in (b): {ints(tasks['b'])}."
        )
    same = [all(r.get("same_objects", {}).values()) for r in results]
    md += [
        "",
        "Objects left by the strategies (kind/namespace/name of everything labelled, as exported): "
        + ("the same in every run." if all(same) else f"DIFFERENT (per run: {same}); see results.json."),
        "",
        "## Module runs per role (median over the runs)",
        "",
        "A module run: an executed task result (ok or failed; skipped ones do not count) whose action is not "
        "set_fact, assert, debug, fail, meta, add_host, group_by or include_*/import_*; each loop item counts one "
        "(callback `tests/scripts/callback_plugins/meshlab_module_runs.py`). A task outside any role is counted by "
        "its play.",
        "",
        "Each cell: module runs / seconds of the group's tasks (ansible.posix.profile_tasks, every task of the role "
        "or play, cheap ones included; `other` holds the tasks outside roles that ran no module).",
        "",
        "| role or play | " + " | ".join(f"{s} (a) | {s} (b)" for s in strategies) + " |",
        "| --- | " + " | ".join(["---: | ---:"] * len(strategies)) + " |",
    ]
    groups = sorted({g for s in strategies for k in ("a", "b") for x in runs(s, k) for g in x["module_runs_by_group"]})
    groups.append("other")

    def group_med(s: str, k: str, g: str) -> str:
        n = statistics.median([x["module_runs_by_group"].get(g, 0) for x in runs(s, k)])
        secs = statistics.median([group_seconds(x, g) for x in runs(s, k)])
        return f"{n:g} / {secs:.1f}"

    for g in groups:
        cells = " | ".join(f"{group_med(s, 'a', g)} | {group_med(s, 'b', g)}" for s in strategies)
        md.append(f"| {g} | {cells} |")
    md.append(
        "| **total** | "
        + " | ".join(
            f"{statistics.median([x.get('module_runs') or 0 for x in runs(s, 'a')]):g} | "
            f"{statistics.median([x.get('module_runs') or 0 for x in runs(s, 'b')]):g}"
            for s in strategies
        )
        + " |"
    )
    md += [
        "",
        f"Baseline objects ({ex['count']}, labelled `{LABEL}`, without what controllers derive from them): "
        + ", ".join(f"{k} {v}" for k, v in sorted(ex["kinds"].items()))
        + f"; namespaces {', '.join(ex['namespaces'])}; {ex['injected']} Deployments carry the istio-proxy sidecar "
        "(applied as the role rendered them). Baseline steps, median s: "
        + ", ".join(
            f"{k} {statistics.median([r['c']['steps'][k] for r in results]):.1f}" for k in results[-1]["c"]["steps"]
        )
        + ".",
    ]
    for s in strategies:
        for key, title in (("a", "(a) first converge"), ("b", "(b) no-op re-run")):
            md += [
                "",
                f"## {s}: the {TOP_TASKS} slowest tasks of {title} (median s over the runs, "
                "ansible.posix.profile_tasks; module runs of the task)",
                "",
            ]
            md += ["| s | module runs | task |", "| ---: | ---: | --- |"]
            by_task = runs(s, key)[-1].get("module_runs_by_task", {})
            for name, secs in median_profile([x["profile"] for x in runs(s, key)])[:TOP_TASKS]:
                md.append(f"| {secs:.2f} | {task_runs(by_task, name)} | {name.replace('|', '/')} |")
    return "\n".join(md) + "\n"


def task_group(by_task: dict[str, int], profile_name: str) -> str:
    """The role (short name) or 'play: <name>' of a task named as profile_tasks names it; 'other' if unknown."""
    role, sep, _task = profile_name.rpartition(" : ")
    if sep:
        return role.rsplit(".", 1)[-1]
    for key in by_task:
        if key.startswith("play: ") and key.endswith(f" : {profile_name}"):
            return key[: -len(f" : {profile_name}")]
    return "other"


def group_seconds(run: dict, group: str) -> float:
    by_task = run.get("module_runs_by_task", {})
    return sum(secs for name, secs in run["profile"] if task_group(by_task, name) == group)


def task_runs(by_task: dict[str, int], profile_name: str) -> str:
    """Module runs of a task named as profile_tasks names it ('<fqcn role> : <task>' or '<task>')."""
    role, sep, task = profile_name.rpartition(" : ")
    if sep:
        key = f"{role.rsplit('.', 1)[-1]} : {task}"
        return str(by_task.get(key, 0))
    found = [n for k, n in by_task.items() if k.startswith("play: ") and k.endswith(f" : {profile_name}")]
    return str(sum(found)) if found else "0"


def ansible_core() -> str:
    try:
        from ansible.release import __version__  # noqa: PLC0415 (the bench's venv holds ansible-core)
    except ImportError:
        return "?"
    return __version__


START, END = "<!-- bench:start (tests/scripts/bench.py writes this part) -->", "<!-- bench:end -->"


def write_between_markers(path: Path, text: str) -> None:
    """Replace the part between the markers (the rest of the file is kept), or write the whole file."""
    block = f"{START}\n{text}{END}\n"
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        path.write_text(head + block + rest.split(END, 1)[1].lstrip("\n"))
    else:
        path.write_text(block)


def rerender(args: argparse.Namespace, bench: Bench) -> int:
    """The table of an earlier bench's results.json, printed and written again."""
    saved = json.loads(Path(args.from_results).read_text())
    bench.revision = saved["revision"]
    text = render(saved["results"], bench, saved["load"], args.note)
    print(text)
    if args.output:
        write_between_markers(Path(args.output), text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--istio-version", default=os.environ.get("MESHLAB_ISTIO_VERSION", ""))
    parser.add_argument("--istio-base-url", default="", help="the local artifact server's Istio base URL (required)")
    parser.add_argument("--workdir", default="", help="default: .cache/bench")
    parser.add_argument("--output", default=str(REPO / "docs/bench.md"), help="Markdown table ('' : do not write)")
    parser.add_argument("--note", default="", help="a sentence added to the output, e.g. other work on the machine")
    parser.add_argument(
        "--from-results", default="", help="only render the table of a results.json of an earlier bench"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the run folders (logs, exported objects)")
    parser.add_argument(
        "--committed", action="store_true", help="measure the files of HEAD, not the working tree with its edits"
    )
    parser.add_argument(
        "--lab-strategy", default="auto", help="the Makefile's STRATEGY: which strategy `make lab` uses (the goals')"
    )
    args = parser.parse_args()
    if not args.from_results and (shutil.which("ansible-playbook") is None or not args.istio_base_url):
        print("bench: needs ansible-playbook on PATH (make setup) and --istio-base-url", file=sys.stderr)
        return 2
    bench = Bench(args)
    if args.from_results:
        return rerender(args, bench)
    bench.root.mkdir(parents=True, exist_ok=True)
    bench.revision = bench.snapshot()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    log(f"{args.runs} run(s); work folder {bench.root}; load average {load_start}")
    results = []
    try:
        for i in range(1, args.runs + 1):
            results.append(bench.run_once(i))
            if i < args.runs and args.output:  # what is done so far survives a stop
                load_now = ", ".join(f"{x:.2f}" for x in os.getloadavg())
                partial = render(results, bench, {"start": load_start, "end": load_now}, args.note)
                write_between_markers(
                    Path(args.output),
                    partial.replace("# Benchmark:", f"# (partial: {i} runs of {args.runs}) Benchmark:", 1),
                )
    except (RuntimeError, KeyboardInterrupt, subprocess.TimeoutExpired) as err:
        log(f"FAILED: {err}")
        return 1
    finally:
        bench.delete_all()
    load = {"start": load_start, "end": ", ".join(f"{x:.2f}" for x in os.getloadavg())}
    saved = {"revision": bench.revision, "load": load, "results": results}
    (bench.root / "results.json").write_text(json.dumps(saved, indent=1, default=str))
    text = render(results, bench, load, args.note)
    print()
    print(text)
    if args.output:
        write_between_markers(Path(args.output), text)
        log(f"written to {args.output}")
    if not args.keep_logs:
        for name in list(bench.root.iterdir()):
            if name.is_dir():
                shutil.rmtree(name / "kwok", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
