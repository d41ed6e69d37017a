"""Benchmark: time until every execution of an Immediate pipeline Job is Running, against the
built-in DaemonSet controller's time until every pod of an equivalent DaemonSet is Ready, on the
same kwok nodes of the same local control plane, in the same run.

    make bench                                (python -m bench.reconcile: 1,000 nodes, 3 runs)
    make bench ARGS="--nodes 1000 5000"       (the 5,000-node figure; about 25 minutes)

Each N gets one cluster and `--runs` rounds of (DaemonSet, operator), each from nothing (pods
deleted between rounds, a fresh operator process per round). Reported per N, as median [min,
max] over the rounds: both times and their ratio (operator / DaemonSet, per round), the
operator's CPU seconds per execution against kube-controller-manager's per pod (CPU is less
noisy on a shared machine than wall time), the operator's peak RSS, and the API writes per
execution as the API server counted them (apiserver_request_total deltas for the resources only
the operator writes in its run: executions, executions/status, jobs/status, pods, core/v1
events, configmaps, controllerrevisions). The scheduler's bindings and kwok's pod status
updates are in neither number: both runs pay them alike. kube-controller-manager and
kube-scheduler run with client QPS raised (see --client-qps) so the peer is not held back by a
client rate limit the operator does not have. Also per round: the CPU of every process of each
run per execution or pod (the whole system, issue 29's measure) and kube-apiserver's alone, and
with `--apiserver-profile DIR` its CPU profiles over each run summed by `BUCKETS`. Figures are
appended to bench/results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.common import (
    NS,
    add_table_rows,
    cluster_cpu,
    cpu_seconds,
    memory_mib,
    operator_metrics,
    spread,
    start_cluster,
)
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.operator import OperatorProcess

IMAGE = "registry.example/agent:1"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY"}
OPERATOR_RESOURCES = {
    ("nodewave.io", "executions", ""),
    ("nodewave.io", "executions", "status"),
    ("nodewave.io", "jobs", "status"),
    ("", "pods", ""),
    ("", "pods", "dry-run"),
    ("", "events", ""),
    ("", "configmaps", ""),
    ("apps", "controllerrevisions", ""),
}
_METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")


def requests(cp: ControlPlane) -> list[tuple[dict[str, str], int]]:
    """apiserver_request_total: each series' labels and count."""
    out = []
    for line in cp.metrics().splitlines():
        if m := _METRIC.match(line):
            out.append((dict(re.findall(r'(\w+)="([^"]*)"', m["labels"])), int(float(m["value"]))))
    return out


def writes(cp: ControlPlane) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for labels, n in requests(cp):
        if labels.get("verb") in WRITE_VERBS:
            # A dry-run (the operator's check of a version's pod, once per version) is counted
            # apart: its cost is the API server's admission, nothing stored.
            key = (
                labels.get("group", ""),
                labels.get("resource", ""),
                "dry-run" if labels.get("dry_run") else labels.get("subresource", ""),
            )
            out[key] += n
    return out


def pod_writes(cp: ControlPlane) -> Counter[tuple[str, str, str]]:
    """Writes to pods by (verb, subresource, HTTP code): which pod writes a run made beyond
    one create per node (issue 29 saw ~100 more than executions at 5,000 nodes)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for labels, n in requests(cp):
        if labels.get("resource") == "pods" and labels.get("verb") in WRITE_VERBS:
            out[(labels["verb"], labels.get("subresource", ""), labels.get("code", ""))] += n
    return out


def wait_deletes_settled(cp: ControlPlane, quiet: float = 3.0) -> None:
    """Until no pod delete has reached the API server for `quiet` seconds. With the pods of
    5,000 nodes gone, kube-controller-manager's garbage collector still sent hundreds of
    deletes for them (answered 404): the "pod writes more than executions" issue 29 saw in
    the next round's count (334 and 490 DELETE/404 in two of three rounds, 2026-12-07)."""

    def deletes() -> int:
        return sum(n for (verb, _, _), n in pod_writes(cp).items() if verb == "DELETE")

    last, since = deletes(), time.monotonic()
    end = since + 300
    while time.monotonic() < end:
        time.sleep(1)
        now = deletes()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def wait(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout}s")


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before[k], 1) for k in before if k in after}


def operator_passes(op: OperatorProcess) -> str:
    """How many passes the operator ran and how long they took together (its /metrics)."""
    found = dict(re.findall(r"^nodewave_reconcile_duration_seconds_(count|sum) ([0-9.e+]+)$",
                            operator_metrics(op), re.M))  # fmt: skip
    return f"{float(found.get('count', 0)):.0f} passes, {float(found.get('sum', 0)):.1f}s"


PPROF_PART = 50
"""Seconds of one apiserver profile: under its 60 s request timeout; a run takes several."""
BUCKETS = {
    "CRD handler": r"apiextensions-apiserver/pkg/apiserver\.",
    "CRD schema validation": r"apiextensions-apiserver/pkg/apiserver/validation|"
    r"kube-openapi/pkg/validation",
    "JSON": r"encoding/json|sigs\.k8s\.io/json|serializer/json",
    "protobuf": r"serializer/protobuf|gogo/protobuf|MarshalToSizedBuffer",
    "managedFields": r"structured-merge-diff|fieldmanager",
    "watch cache": r"storage/cacher",
    "etcd client": r"storage/etcd3|go\.etcd\.io",
    "admission plugins": r"apiserver/pkg/admission\.",
    "client cert check": r"x509\.\(\*Authenticator\)\.AuthenticateRequest",
    "TLS": r"crypto/tls",
    "GC": r"runtime\.gcBgMarkWorker",
}
"""What a CPU profile's samples are summed by: those with a frame matching (a sample may be in
several buckets)."""


class ApiserverProfile:
    """CPU profiles of kube-apiserver over a run (`--apiserver-profile`): taken back to back,
    PPROF_PART seconds each, from the run's start until it ended (the last one finished, so the
    run's objects are deleted after it). Summed by BUCKETS with `go tool pprof`, and its top
    written beside them."""

    def __init__(self, cp: ControlPlane, path: Path | None) -> None:
        self.path = path
        self.done = threading.Event()
        self.parts: list[Path] = []
        self.thread = None
        if path is not None:
            self.thread = threading.Thread(target=self._take, args=(cp,), daemon=True)
            self.thread.start()

    def _take(self, cp: ControlPlane) -> None:
        assert self.path is not None
        while not self.done.is_set():
            part = self.path.with_name(f"{self.path.name}.{len(self.parts)}.pb.gz")
            part.write_bytes(cp.pprof("profile", PPROF_PART))
            self.parts.append(part)

    def finish(self) -> dict[str, float]:
        """Seconds of samples, in all and by bucket."""
        if self.thread is None or self.path is None:
            return {}
        self.done.set()
        self.thread.join()
        parts = [str(p) for p in self.parts]
        top = _pprof("-top", "-nodecount=40", *parts)
        self.path.with_suffix(".top.txt").write_text(top)
        found = re.search(r"Total samples = ([0-9.]+)(m?s)", top)
        total = float(found[1]) / (1000 if found and found[2] == "ms" else 1) if found else 0.0
        out = {"total": total}
        for name, pattern in BUCKETS.items():
            out[name] = _seconds_shown(
                _pprof("-top", "-nodecount=1000000", f"-focus={pattern}", *parts)
            )
        return out


def _pprof(*args: str) -> str:
    done = subprocess.run(
        ["go", "tool", "pprof", *args], capture_output=True, text=True, check=False
    )
    return done.stdout + done.stderr


def _seconds_shown(top: str) -> float:
    found = re.search(r"Showing nodes accounting for ([0-9.]+)(m?s)", top)
    if not found:
        return 0.0
    return float(found[1]) / (1000 if found[2] == "ms" else 1)


def system_cpu(cluster: dict[str, float]) -> float:
    """CPU seconds of every process of a run together (operator, API server, etcd,
    controller-manager, scheduler, kwok)."""
    return sum(cluster.values())


def wait_idle(pid: int, timeout: float = 900) -> float:
    """When the operator's CPU use fell below 10 % for two half-seconds in a row: its watches
    have listed and indexed every node, pod and execution (kopf runs no handler before), so
    the clock measures the placement, not the start-up. Returns that moment."""
    end, calm = time.monotonic() + timeout, 0
    last = cpu_seconds(pid)
    while time.monotonic() < end:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        calm = calm + 1 if now - last < 0.05 else 0
        last = now
        if calm == 2:
            return time.monotonic()
    raise TimeoutError("the operator never went idle")


def run_operator(
    cp: ControlPlane,
    n: int,
    log: Path,
    profile: Path | None = None,
    apiserver_profile: Path | None = None,
    pod_records: bool = False,
) -> dict[str, Any]:
    op = OperatorProcess(cp, log, *(["--pod-records"] if pod_records else []))
    op.start()
    started = time.monotonic()
    op.wait_started()
    assert op.proc is not None
    warm = wait_idle(op.proc.pid) - started
    startup_rss = memory_mib(op.proc.pid, "VmHWM")
    spy = None
    if profile is not None:  # py-spy samples the operator from outside, costing it nothing
        spy = subprocess.Popen(
            ["py-spy", "record", "--pid", str(op.proc.pid), "--rate", "200", "--format",
             "raw", "--output", str(profile), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
    cpu_before = cpu_seconds(op.proc.pid)
    cluster_before = cluster_cpu(cp)
    before = writes(cp)
    pods_before = pod_writes(cp)
    apiserver = ApiserverProfile(cp, apiserver_profile)
    job = {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "fleet", "namespace": NS},
        "spec": {
            "type": "Pipeline",
            "selector": {"matchLabels": {"bench": "yes"}},
            "template": {"spec": {"containers": [{"name": "main", "image": IMAGE}]}},
        },
    }
    t0 = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(job))

    # Completion is read from one object, the Job's status, as the DaemonSet's is from its
    # numberReady: polling a list of 1,000 executions would load the API server the peer
    # does not have to share. The operator writes readyNodes only after the executions'
    # Running statuses are written; the list below confirms it once at the end.
    def ready() -> bool:
        out = cp.kubectl(
            "get", "nwj", "-n", NS, "fleet", "-o", "jsonpath={.status.readyNodes}"
        ).stdout
        return out.strip() == str(n)

    t1 = wait(ready, 900, f"Job readyNodes {n}")
    cpu = cpu_seconds(op.proc.pid) - cpu_before
    cluster = cpu_delta(cluster_before, cluster_cpu(cp))
    passes = operator_passes(op)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
        print(f"profile: {profile} (collapsed stacks: flamegraph.pl, speedscope)", flush=True)
    running = f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/executions?fieldSelector=status.observedState%3DRunning"
    if pod_records:  # no Execution on the normal path: its pod says it
        running = f"/api/v1/namespaces/{NS}/pods?fieldSelector=status.phase%3DRunning"
    assert cp.count(running) == n, "readyNodes ran ahead of the executions' status"
    time.sleep(1)  # let the last status writes land before counting
    delta = writes(cp) - before
    pods = pod_writes(cp) - pods_before
    rss = memory_mib(op.proc.pid, "VmHWM")
    mine = {k: v for k, v in delta.items() if k in OPERATOR_RESOURCES}
    op.stop()
    samples = apiserver.finish()
    cp.kubectl("delete", "nwj", "-n", NS, "fleet")
    # Executions too: the next round's Job has the same name, and the garbage collector takes
    # a while for 5,000 of them; a round that started meanwhile saw the last round's executions
    # (and 1,105 pod creates refused as AlreadyExists).
    for kind, group in (("pods", "api/v1"), ("executions", "apis/nodewave.io/v1alpha1")):
        path = f"/{group}/namespaces/{NS}/{kind}"
        wait(lambda p=path: cp.count(p) == 0, 600, f"operator {kind} gone")
    wait_deletes_settled(cp)
    return {
        "seconds": t1 - t0,
        "cpu_per_execution": cpu / n,
        "cluster_cpu": {"operator": round(cpu, 1), **cluster},
        "system_cpu_per": (cpu + system_cpu(cluster)) / n,
        "apiserver_cpu_per": cluster.get("apiserver", 0.0) / n,
        "passes": passes,
        "warm_seconds": warm,
        "startup_rss_mib": startup_rss,
        "rss_mib": rss,
        "writes_per_execution": sum(mine.values()) / n,
        "breakdown": {"/".join(p for p in k if p): v for k, v in sorted(mine.items())},
        "apiserver_samples": samples,
        "pod_writes": {"/".join(p for p in k if p): v for k, v in sorted(pods.items())},
    }


def run_daemonset(
    cp: ControlPlane, n: int, apiserver_profile: Path | None = None
) -> dict[str, Any]:
    before = writes(cp)
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "fleet", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "fleet"}},
            "template": {
                "metadata": {"labels": {"app": "fleet"}},
                "spec": {
                    "nodeSelector": {"bench": "yes"},
                    "containers": [{"name": "main", "image": IMAGE}],
                },
            },
        },
    }
    kcm = cp.pids["kube-controller-manager"]
    cpu_before = cpu_seconds(kcm)
    cluster_before = cluster_cpu(cp)
    apiserver = ApiserverProfile(cp, apiserver_profile)
    t0 = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))

    def ready() -> bool:
        out = cp.kubectl("get", "ds", "-n", NS, "fleet", "-o", "jsonpath={.status}").stdout
        status = json.loads(out or "{}")
        return bool(status.get("desiredNumberScheduled") == n and status.get("numberReady") == n)

    t1 = wait(ready, 900, f"DaemonSet {n}/{n} Ready")
    cpu = cpu_seconds(kcm) - cpu_before
    cluster = cpu_delta(cluster_before, cluster_cpu(cp))
    delta = writes(cp) - before
    samples = apiserver.finish()
    cp.kubectl("delete", "ds", "-n", NS, "fleet")
    wait(lambda: cp.count(f"/api/v1/namespaces/{NS}/pods") == 0, 600, "DaemonSet pods gone")
    wait_deletes_settled(cp)
    ds_writes = (
        delta[("", "pods", "")]
        + delta[("", "events", "")]
        + delta[("apps", "daemonsets", "status")]
    )
    return {"seconds": t1 - t0, "writes_per_pod": ds_writes / n, "cpu_per_pod": cpu / n,
            "cluster_cpu": cluster, "system_cpu_per": system_cpu(cluster) / n,
            "apiserver_cpu_per": cluster.get("apiserver", 0.0) / n,
            "apiserver_samples": samples}  # fmt: skip


HEADER = (
    "| date | N | runs | operator s | DaemonSet s | ratio | operator CPU ms / execution "
    "| controller-manager CPU ms / pod | operator peak RSS MiB | API writes / execution "
    "| DaemonSet writes / pod |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def compare_samples(n: int, op: dict[str, float], ds: dict[str, float]) -> str:
    """The apiserver's profiled CPU per execution and per pod, by bucket, in ms."""
    rows = [f"{'apiserver profile, ms':<24} {'/execution':>10} {'/pod':>8} {'more':>8}"]
    for name in op:
        a, b = op[name] * 1000 / n, ds.get(name, 0.0) * 1000 / n
        rows.append(f"{name:<24} {a:>10.2f} {b:>8.2f} {a - b:>8.2f}")
    return "\n".join(rows)


CPU_INTRO = (
    "`make bench` since 2026-12-06, the same rounds: CPU of every process of each run (the "
    "operator, kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok) per "
    "execution against per DaemonSet pod, and kube-apiserver's alone (issue 29's goal: the "
    "ratio ≤ 1.15)."
)
CPU_HEADER = (
    "| date | N | runs | system CPU ms / execution | system CPU ms / pod | ratio "
    "| apiserver CPU ms / execution | apiserver CPU ms / pod |\n|---|---|---|---|---|---|---|---|\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000])
    parser.add_argument("--runs", type=int, default=3, help="rounds per N (median, min, max)")
    parser.add_argument(
        "--client-qps",
        type=int,
        default=1000,
        help="kube-controller-manager and kube-scheduler client QPS (burst 2x)",
    )
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    parser.add_argument(
        "--profile", type=Path, help="directory: sample the operator with py-spy in each round"
    )
    parser.add_argument(
        "--apiserver-profile",
        type=Path,
        help="directory: a CPU profile of kube-apiserver over each run (both sides, the same "
        "--profiling=true for both)",
    )
    parser.add_argument(
        "--pod-records",
        action="store_true",
        help="run the operator with --pod-records (experimental: no Execution per node on the "
        "normal path, docs/design.md §4.2 step 5); the rows say so",
    )
    args = parser.parse_args()
    for d in (args.profile, args.apiserver_profile):
        if d:
            d.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.nodes:
        cp = start_cluster(
            n,
            args.client_qps,
            f"nodewave-bench-{n}-",
            ["--profiling=true"] if args.apiserver_profile else None,
        )
        rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
        try:
            for r in range(args.runs):
                pprof = args.apiserver_profile
                ds = run_daemonset(
                    cp, n, pprof / f"apiserver-ds-{n}-{r + 1}.pb.gz" if pprof else None
                )
                profile = args.profile / f"operator-{n}-{r + 1}.txt" if args.profile else None
                op = run_operator(
                    cp,
                    n,
                    cp.workdir / f"operator-{r}.log",
                    profile,
                    pprof / f"apiserver-op-{n}-{r + 1}.pb.gz" if pprof else None,
                    args.pod_records,
                )
                rounds.append((op, ds))
                print(
                    f"N={n} round {r + 1}: operator {op['seconds']:.1f}s, DaemonSet "
                    f"{ds['seconds']:.1f}s, ratio {op['seconds'] / ds['seconds']:.2f}; CPU "
                    f"{op['cpu_per_execution'] * 1000:.2f} ms/execution vs "
                    f"{ds['cpu_per_pod'] * 1000:.2f} ms/pod; peak RSS {op['rss_mib']:.0f} MiB; "
                    f"{op['writes_per_execution']:.3f} writes/execution {op['breakdown']} "
                    f"(pods by verb and code: {op['pod_writes']}) "
                    f"{op['passes']}; start-up to idle {op['warm_seconds']:.1f}s, peak RSS by then "
                    f"{op['startup_rss_mib']:.0f} MiB "
                    f"(DaemonSet {ds['writes_per_pod']:.2f}/pod); CPU s by process: operator run "
                    f"{op['cluster_cpu']}, DaemonSet run {ds['cluster_cpu']}; whole system "
                    f"{op['system_cpu_per'] * 1000:.1f} ms/execution vs "
                    f"{ds['system_cpu_per'] * 1000:.1f} ms/pod, apiserver "
                    f"{op['apiserver_cpu_per'] * 1000:.1f} vs {ds['apiserver_cpu_per'] * 1000:.1f}",
                    flush=True,
                )
                if op["apiserver_samples"]:
                    print(compare_samples(n, op["apiserver_samples"], ds["apiserver_samples"]))
        finally:
            cp.destroy()
        ops, dss = [o for o, _ in rounds], [d for _, d in rounds]
        row = {
            "operator": spread([o["seconds"] for o in ops]),
            "daemonset": spread([d["seconds"] for d in dss]),
            "ratio": spread([o["seconds"] / d["seconds"] for o, d in rounds], ".2f"),
            "op_cpu": spread([o["cpu_per_execution"] * 1000 for o in ops], ".2f"),
            "ds_cpu": spread([d["cpu_per_pod"] * 1000 for d in dss], ".2f"),
            "rss": f"{max(o['rss_mib'] for o in ops):.0f}",
            "writes": spread([o["writes_per_execution"] for o in ops], ".3f"),
            "ds_writes": spread([d["writes_per_pod"] for d in dss], ".2f"),
            "sys_op": spread([o["system_cpu_per"] * 1000 for o in ops]),
            "sys_ds": spread([d["system_cpu_per"] * 1000 for d in dss]),
            "sys_ratio": spread(
                [o["system_cpu_per"] / d["system_cpu_per"] for o, d in rounds], ".2f"
            ),
            "api_op": spread([o["apiserver_cpu_per"] * 1000 for o in ops]),
            "api_ds": spread([d["apiserver_cpu_per"] * 1000 for d in dss]),
        }
        rows.append((n, row))
        print(f"N={n}, median [min, max] of {args.runs}: {row}", flush=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if args.pod_records:
        stamp += " (--pod-records)"
    intro = (
        "`make bench` since 2026-12-01: median [min, max] of the rounds; the peak RSS is the "
        "largest; client QPS 1000 (`python -m bench.reconcile --help` says what is measured)."
    )
    lines = "".join(
        f"| {stamp} | {n} | {args.runs} | {row['operator']} | {row['daemonset']} "
        f"| {row['ratio']} | {row['op_cpu']} | {row['ds_cpu']} | {row['rss']} "
        f"| {row['writes']} | {row['ds_writes']} |\n"
        for n, row in rows
    )
    add_table_rows(args.results, intro, HEADER, lines)
    cpu_lines = "".join(
        f"| {stamp} | {n} | {args.runs} | {row['sys_op']} | {row['sys_ds']} | {row['sys_ratio']} "
        f"| {row['api_op']} | {row['api_ds']} |\n"
        for n, row in rows
    )
    add_table_rows(args.results, CPU_INTRO, CPU_HEADER, cpu_lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
