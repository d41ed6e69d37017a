"""Rollout timing on N kwok nodes (default 100): a Rolling rollout at maxParallel 20 % with
health windows of 2 s and successThreshold 2, against the minimum the windows allow
(waves x successThreshold x interval); then a version that fails on its first wave, and the
time from the failing window (the first HealthCheckFailed) to every node back on stable.

    python -m bench.rollout [--nodes 100] [--runs 3]       (part of make bench)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import NS, add_table_rows, spread, start_cluster, wait
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.operator import OperatorProcess


def job(tag: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "fleet", "namespace": NS},
        "spec": {
            "type": "Pipeline",
            "selector": {"matchLabels": {"bench": "yes"}},
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": {
                    "containers": [{"name": "main", "image": f"registry.example/agent:{tag}"}]
                },
            },
            "rollout": {
                "strategy": "Rolling",
                "maxParallel": 20,
                "maxFailedNodes": 2,
                "healthCheck": {
                    "deadlineSeconds": 60,
                    "intervalSeconds": 2,
                    "successThreshold": 2,
                    "failureThreshold": 2,
                },
            },
        },
    }


def status(cp: ControlPlane) -> dict[str, Any]:
    return dict(
        cp.get(f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/jobs/fleet").get("status") or {}
    )


def rollout_of(v: int, phase: str) -> Any:
    return lambda s: (
        (s.get("rollout") or {}).get("version") == v and s["rollout"].get("phase") == phase
    )


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def print_wave_breakdown(cp: ControlPlane, version: int) -> None:
    """Where a wave's time goes, from the executions' own history (microsecond times the
    operator wrote): from the previous wave's last validation to this wave's first execution
    seen running (the pass that notices, the creates, scheduling, the kubelet), the spread of
    starts within the wave, and from the last start to the last validation (the windows)."""
    items = json.loads(
        cp.kubectl(
            "get", "nwx", "-n", NS, "-l", f"nodewave.io/version={version}", "-o", "json"
        ).stdout
    )["items"]
    by_wave: dict[int, list[dict[str, Any]]] = {}
    for e in items:
        by_wave.setdefault(e["spec"]["rolloutWave"], []).append(e)
    previous = None
    for wave in sorted(by_wave):
        starts = [_time(e["status"]["history"][0]["time"]) for e in by_wave[wave]]
        validated = [_time(e["status"]["stableAt"]) for e in by_wave[wave]]
        gap = (min(starts) - previous).total_seconds() if previous else float("nan")
        print(
            f"  wave {wave}: {len(starts)} nodes; previous wave validated → first seen "
            f"running {gap:.2f}s; starts spread {(max(starts) - min(starts)).total_seconds():.2f}s;"
            f" last start → last validated {(max(validated) - max(starts)).total_seconds():.2f}s",
            flush=True,
        )
        previous = max(validated)


HEADER = (
    "| date | N | runs | waves | minimum s | rollout s | ratio to minimum "
    "| first failing window → all back on stable, s |\n|---|---|---|---|---|---|---|---|\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="good and bad rollouts (median)")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    args = parser.parse_args()
    n = args.nodes
    cp = start_cluster(n, 1000, "nodewave-rollout-")
    op = OperatorProcess(cp, cp.workdir / "operator.log")
    took, back = [], []
    try:
        op.start()
        op.wait_started()
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(job("1")))
        wait(lambda: status(cp).get("stableVersion") == 1, 300, "version 1 stable")
        for r in range(args.runs):
            good, bad = 2 * r + 2, 2 * r + 3
            t0 = time.monotonic()
            cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(job(str(good))))
            t1 = wait(lambda v=good: rollout_of(v, "Completed")(status(cp)), 600, "completed")
            waves = status(cp)["rollout"]["totalWaves"]
            minimum = waves * 2 * 2
            took.append(t1 - t0)
            print(
                f"N={n} Rolling 20%, interval 2s, successThreshold 2: {waves} waves in "
                f"{t1 - t0:.1f}s; minimum {minimum}s; overhead {t1 - t0 - minimum:.1f}s "
                f"({(t1 - t0) / minimum:.2f}x)",
                flush=True,
            )
            print_wave_breakdown(cp, good)
            broken = job(str(bad), {"fake.nodewave.io/ready": "false"})
            cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(broken))
            wait(lambda v=bad: rollout_of(v, "RolledBack")(status(cp)), 600, "rolled back")
            wait(lambda: status(cp).get("readyNodes") == n, 300, "all nodes ready on stable")
            back_wall = dt.datetime.now(dt.UTC)
            items = json.loads(
                cp.kubectl(
                    "get", "nwx", "-n", NS, "-l", f"nodewave.io/version={bad}", "-o", "json"
                ).stdout
            )["items"]
            failed_at = min(
                _time(h["time"])
                for e in items
                for h in e["status"]["history"]
                if h["state"] == "Failed"
            )
            back.append((back_wall - failed_at).total_seconds())
            print(
                f"rollback: {len(items)} nodes had moved; from the first failing window to "
                f"every node back on version {good}: {back[-1]:.1f}s",
                flush=True,
            )
    finally:
        op.stop()
        cp.destroy()
    ratios = [t / minimum for t in took]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        "`python -m bench.rollout` (part of `make bench` since 2026-12-01): a Rolling "
        "rollout, maxParallel 20 %, windows of 2 s, successThreshold 2, against the minimum "
        "the windows allow (waves x 2 x 2 s); median [min, max] of the runs."
    )
    row = (
        f"| {stamp} | {n} | {args.runs} | {waves} | {minimum} | {spread(took)} "
        f"| {spread(ratios, '.2f')} | {spread(back)} |\n"
    )
    add_table_rows(args.results, intro, HEADER, row)
    print(f"rollout {spread(took)}s, ratio {spread(ratios, '.2f')}, rollback {spread(back)}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
