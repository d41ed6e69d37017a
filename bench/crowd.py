"""A small workload placed while a large one rolls out (issue 29, item 3: "a Job with 5,000
executions must not delay a Job with 10"), nodewave against the DaemonSet controller in the same
run, so that what the cluster itself costs (API server, scheduler, kwok on 2 cores) is told
apart from what the operator adds.

    python -m bench.crowd [--nodes 1000] [--runs 3]     (part of make bench)

On N kwok nodes, each round, for each side, from nothing:
1. the large workload on every node (a DaemonSet, or a Job), waited for;
2. the small one (the first SMALL nodes) alone: the time until its SMALL pods are Ready
   (DaemonSet numberReady, Job readyNodes);
3. removed; then the large one's new version and the small one applied at once: the small
   one's time again, while the large one rolls out (RollingUpdate maxUnavailable 25 % with
   minReadySeconds 2; Rolling waves of 25 % with 2-second health windows).
The ratio (3 / 2) is the delay a large rollout causes a small workload; the DaemonSet's is what
the cluster alone causes. Figures are appended to bench/results.md.
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
from bench.fleet import SMALL, apply, job, rollout_job, settle_times
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.operator import OperatorProcess

LARGE, LITTLE = "fleet-01", "small"


def daemonset(name: str, tag: str, selector: str, rolling: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "nodeSelector": {selector: "yes"},
                "containers": [{"name": "main", "image": f"registry.example/{name}:{tag}"}],
            },
        },
    }
    if rolling:
        spec["minReadySeconds"] = 2
        spec["updateStrategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%"},
        }
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": NS},
            "spec": spec}  # fmt: skip


def daemonset_times(cp: ControlPlane, wanted: dict[str, int], timeout: float) -> dict[str, float]:
    """When each named DaemonSet first had every pod of its current template Ready."""
    seen: dict[str, float] = {}

    def done() -> bool:
        items = json.loads(cp.kubectl("get", "ds", "-n", NS, "-o", "json").stdout)["items"]
        now = {d["metadata"]["name"]: d for d in items}
        at = time.monotonic()
        for name, n in wanted.items():
            d = now.get(name) or {"metadata": {}, "status": {}}
            s = d["status"]
            current = s.get("observedGeneration") == d["metadata"].get("generation")
            if (
                name not in seen
                and current
                and s.get("updatedNumberScheduled") == n == s.get("numberReady")
            ):
                seen[name] = at
        return len(seen) == len(wanted)

    wait(done, timeout, f"{len(wanted)} DaemonSets ready")
    return seen


def pods_left(cp: ControlPlane, n: int, what: str) -> None:
    """Until `n` pods are left in the namespace (the removed workload's are gone)."""
    wait(lambda: cp.count(f"/api/v1/namespaces/{NS}/pods") == n, 600, what)


def round_daemonsets(cp: ControlPlane, n: int) -> tuple[float, float]:
    """(the small DaemonSet alone, during the large one's rolling update), seconds."""
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(daemonset(LARGE, "1", "bench", True)))
    daemonset_times(cp, {LARGE: n}, 900)
    t0 = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(daemonset(LITTLE, "1", "small", False)))
    alone = daemonset_times(cp, {LITTLE: SMALL}, 300)[LITTLE] - t0
    cp.kubectl("delete", "ds", "-n", NS, LITTLE, "--wait=true")
    pods_left(cp, n, "small pods gone")
    both = [daemonset(LARGE, "2", "bench", True), daemonset(LITTLE, "1", "small", False)]
    t0 = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(both))
    beside = daemonset_times(cp, {LITTLE: SMALL, LARGE: n}, 900)[LITTLE] - t0
    cp.kubectl("delete", "ds", "-n", NS, "--all", "--wait=true")
    pods_left(cp, 0, "every pod gone")
    return alone, beside


def round_jobs(cp: ControlPlane, n: int) -> tuple[float, float]:
    """(the small Job alone, during the large one's Rolling rollout), seconds."""
    apply(cp, rollout_job(1))
    settle_times(cp, {LARGE: (1, n)}, 900)
    t0 = time.monotonic()
    apply(cp, job(LITTLE, "1", selector="small"))
    alone = settle_times(cp, {LITTLE: (None, SMALL)}, 300)[LITTLE] - t0
    cp.kubectl("delete", "nwj", "-n", NS, LITTLE, "--wait=true")
    pods_left(cp, n, "small pods gone")
    t0 = time.monotonic()
    apply(cp, rollout_job(2), job(LITTLE, "1", selector="small"))
    beside = settle_times(cp, {LITTLE: (None, SMALL), LARGE: (2, n)}, 900)[LITTLE] - t0
    cp.kubectl("delete", "nwj", "-n", NS, "--all", "--wait=true")
    pods_left(cp, 0, "every pod gone")
    return alone, beside


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    args = parser.parse_args()
    n = args.nodes
    cp = start_cluster(n, 1000, "nodewave-crowd-")
    cp.kubectl("label", "nodes", *[f"bench-{i:04d}" for i in range(SMALL)], "small=yes")
    op = OperatorProcess(cp, cp.workdir / "operator.log")
    ds: list[tuple[float, float]] = []
    nw: list[tuple[float, float]] = []
    try:
        op.start()
        op.wait_started()
        for r in range(args.runs):
            ds.append(round_daemonsets(cp, n))
            nw.append(round_jobs(cp, n))
            print(
                f"round {r + 1}: a {SMALL}-node DaemonSet alone {ds[-1][0]:.1f}s, during a "
                f"{n}-node rolling update {ds[-1][1]:.1f}s ({ds[-1][1] / ds[-1][0]:.2f}x); a "
                f"{SMALL}-node Job alone {nw[-1][0]:.1f}s, during a {n}-node rollout "
                f"{nw[-1][1]:.1f}s ({nw[-1][1] / nw[-1][0]:.2f}x)",
                flush=True,
            )
    finally:
        op.stop()
        cp.destroy()
    record(args.results, n, ds, nw)
    return 0


def record(
    results: Path, n: int, ds: list[tuple[float, float]], nw: list[tuple[float, float]]
) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cells = []
    for rounds in (ds, nw):
        cells += [
            spread([a for a, _ in rounds]),
            spread([b for _, b in rounds]),
            spread([b / a for a, b in rounds], ".2f"),
        ]
    add_table_rows(
        results,
        "`python -m bench.crowd` (issue 29, item 3): a 10-node workload placed alone, then while a "
        "large one rolls out to every node, for the DaemonSet controller and nodewave in the same "
        "run; median [min-max] over the rounds.",
        "| date | nodes | runs | DaemonSet alone s | during a rolling update s | ratio "
        "| Job alone s | during a rollout s | ratio |\n|---|---|---|---|---|---|---|---|---|\n",
        f"| {stamp} | {n} | {len(ds)} | " + " | ".join(cells) + " |\n",
    )


if __name__ == "__main__":
    raise SystemExit(main())
