"""Benchmark: time until every execution of an Immediate pipeline Job is Running, against the
built-in DaemonSet controller's time until every pod of an equivalent DaemonSet is Ready, on the
same kwok nodes of the same local control plane, in the same run.

    make bench                       (or: python -m bench.reconcile --nodes 100 1000)

Reported per N: both times and their ratio (operator / DaemonSet), the operator's peak RSS, and
the API writes per execution as the API server counted them (apiserver_request_total deltas for
the resources only the operator writes in its run: executions, executions/status, jobs/status,
pods, core/v1 events, configmaps, controllerrevisions). The scheduler's bindings and kwok's pod
status updates are in neither number: both runs pay them alike. kube-controller-manager and
kube-scheduler run with client QPS raised (see --client-qps) so the peer is not held back by a
client rate limit the operator does not have. Figures are appended to bench/results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.common import NS, start_cluster
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.operator import OperatorProcess

IMAGE = "registry.example/agent:1"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY"}
OPERATOR_RESOURCES = {
    ("nodewave.io", "executions", ""),
    ("nodewave.io", "executions", "status"),
    ("nodewave.io", "jobs", "status"),
    ("", "pods", ""),
    ("", "events", ""),
    ("", "configmaps", ""),
    ("apps", "controllerrevisions", ""),
}
_METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")


def writes(cp: ControlPlane) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for line in cp.metrics().splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        if labels.get("verb") in WRITE_VERBS:
            key = (
                labels.get("group", ""),
                labels.get("resource", ""),
                labels.get("subresource", ""),
            )
            out[key] += int(float(m["value"]))
    return out


def wait(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout}s")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_operator(cp: ControlPlane, n: int, log: Path) -> dict[str, Any]:
    op = OperatorProcess(cp, log)
    op.start()
    op.wait_started()
    time.sleep(2)  # the initial listing of the nodes lands before the clock starts
    before = writes(cp)
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
    running = f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/executions?fieldSelector=status.observedState%3DRunning"
    assert cp.count(running) == n, "readyNodes ran ahead of the executions' status"
    time.sleep(1)  # let the last status writes land before counting
    delta = writes(cp) - before
    assert op.proc is not None
    rss = peak_rss_mib(op.proc.pid)
    mine = {k: v for k, v in delta.items() if k in OPERATOR_RESOURCES}
    op.stop()
    cp.kubectl("delete", "nwj", "-n", NS, "fleet")
    wait(lambda: cp.count(f"/api/v1/namespaces/{NS}/pods") == 0, 600, "operator pods gone")
    return {
        "seconds": t1 - t0,
        "rss_mib": rss,
        "writes_per_execution": sum(mine.values()) / n,
        "breakdown": {"/".join(p for p in k if p): v for k, v in sorted(mine.items())},
    }


def run_daemonset(cp: ControlPlane, n: int) -> dict[str, Any]:
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
    t0 = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))

    def ready() -> bool:
        out = cp.kubectl("get", "ds", "-n", NS, "fleet", "-o", "jsonpath={.status}").stdout
        status = json.loads(out or "{}")
        return bool(status.get("desiredNumberScheduled") == n and status.get("numberReady") == n)

    t1 = wait(ready, 900, f"DaemonSet {n}/{n} Ready")
    delta = writes(cp) - before
    cp.kubectl("delete", "ds", "-n", NS, "fleet")
    wait(lambda: cp.count(f"/api/v1/namespaces/{NS}/pods") == 0, 600, "DaemonSet pods gone")
    ds_writes = (
        delta[("", "pods", "")]
        + delta[("", "events", "")]
        + delta[("apps", "daemonsets", "status")]
    )
    return {"seconds": t1 - t0, "writes_per_pod": ds_writes / n}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--client-qps",
        type=int,
        default=1000,
        help="kube-controller-manager and kube-scheduler client QPS (burst 2x)",
    )
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    args = parser.parse_args()
    rows = []
    for n in args.nodes:
        cp = start_cluster(n, args.client_qps, f"nodewave-bench-{n}-")
        try:
            ds = run_daemonset(cp, n)
            op = run_operator(cp, n, cp.workdir / "operator.log")
        finally:
            cp.destroy()
        ratio = op["seconds"] / ds["seconds"]
        rows.append((n, op, ds, ratio))
        print(
            f"N={n}: operator {op['seconds']:.1f}s, DaemonSet {ds['seconds']:.1f}s, ratio {ratio:.2f}, "
            f"operator peak RSS {op['rss_mib']:.0f} MiB, {op['writes_per_execution']:.2f} API writes/execution "
            f"(DaemonSet controller: {ds['writes_per_pod']:.2f}/pod); operator writes: {op['breakdown']}",
            flush=True,
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    new = not args.results.exists()
    with args.results.open("a") as f:
        if new:
            f.write(
                "# Benchmark results\n\n`make bench` (`python -m bench.reconcile`; its docstring says what is measured).\n\n"
            )
            f.write(
                "| date | N | operator s | DaemonSet s | ratio | operator peak RSS MiB | API writes / execution | DaemonSet writes / pod | client QPS |\n"
            )
            f.write("|---|---|---|---|---|---|---|---|---|\n")
        for n, op, ds, ratio in rows:
            f.write(
                f"| {stamp} | {n} | {op['seconds']:.1f} | {ds['seconds']:.1f} | {ratio:.2f} | {op['rss_mib']:.0f} "
                f"| {op['writes_per_execution']:.2f} | {ds['writes_per_pod']:.2f} | {args.client_qps} |\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
