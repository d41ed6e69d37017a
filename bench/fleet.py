"""Many Jobs on one fleet (issue 29, items 2 and 3): the operator's memory per execution as
Jobs are added, the time of one passes with the others steady, and whether a large Job delays a
small one.

    python -m bench.fleet                          (part of make bench: 1,000 nodes, 20 Jobs)
    python -m bench.fleet --nodes 5000 --jobs 5    (the issue's other row; not run yet)

On N kwok nodes of one local control plane, with one operator process throughout:

1. Jobs `fleet-01`… (every node, Rolling) are added in steps (1, a quarter, half, all; at
   most BATCH placing at once); after each step, once every Job's readyNodes is N, the operator's settled RSS (VmRSS, read after
   three quiet seconds) and its peak (VmHWM). A least-squares line through (executions, RSS)
   gives the memory per execution and the extrapolation to 150,000 executions (Kubernetes'
   limit of 150,000 pods: 5,000 nodes x 30 node agents). Each step's passes (count, p50, p99,
   from the operator's nodewave_reconcile_duration_seconds histogram) are reported against the
   number of Jobs.
2. A Rolling rollout of `fleet-01` (maxParallel 25 %, windows of 2 s, successThreshold 1) timed
   with it the only Job, and again with every other Job steady: the ratio is the slowdown
   others cause (goal ≤ 1.1).
3. A Job of 10 nodes placed alone, then placed while `fleet-01` rolls out to every node: the
   ratio is the delay a large Job causes a small one.

Figures are appended to bench/results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import (
    NS,
    add_table_rows,
    cpu_seconds,
    memory_mib,
    operator_metrics,
    settled_rss,
    start_cluster,
    wait,
)
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.operator import OperatorProcess

JOBS = f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/jobs"
SMALL = 10
"""Nodes of the small Job."""
LIMIT = 150_000
"""Executions at Kubernetes' pod limit: 5,000 nodes x 30 node agents."""
ROLLOUT = {
    "strategy": "Rolling",
    "maxParallel": 25,
    # A long deadline: with 10 Jobs placing at once on 2 cores, kwok and the scheduler ran
    # minutes behind and a Job failed its first rollout (pods not running within 120 s).
    "healthCheck": {"intervalSeconds": 2, "successThreshold": 1, "deadlineSeconds": 900},
}
BATCH = 5
"""Jobs placed at once at most (the cluster, not the operator, is the bound beyond)."""


def job(name: str, tag: str, selector: str = "bench", rollout: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "Pipeline",
        "selector": {"matchLabels": {selector: "yes"}},
        "template": {
            "spec": {"containers": [{"name": "main", "image": f"registry.example/{name}:{tag}"}]}
        },
    }
    if rollout:
        spec["rollout"] = ROLLOUT
    return {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def apply(cp: ControlPlane, *bodies: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(bodies))


def statuses(cp: ControlPlane) -> dict[str, dict[str, Any]]:
    """Every Job's status by name, in one list."""
    return {j["metadata"]["name"]: j.get("status") or {} for j in cp.get(JOBS)["items"]}


def settled(cp: ControlPlane, wanted: dict[str, tuple[int | None, int]], timeout: float) -> float:
    """When every named Job's stable version and readyNodes are (version, nodes)."""
    return max(settle_times(cp, wanted, timeout).values())


def settle_times(
    cp: ControlPlane, wanted: dict[str, tuple[int | None, int]], timeout: float
) -> dict[str, float]:
    """When each named Job's stable version and readyNodes first were (version, nodes),
    polled together (a small Job's time is not the large one's). A version of None: its
    readyNodes only (its pods run; its health windows' length is not what is timed)."""
    seen: dict[str, float] = {}

    def done() -> bool:
        now, at = statuses(cp), time.monotonic()
        for name, want in wanted.items():
            got = now.get(name, {})
            version = got.get("stableVersion") if want[0] is not None else None
            if name not in seen and (version, got.get("readyNodes")) == want:
                seen[name] = at
        return len(seen) == len(wanted)

    wait(done, timeout, f"{len(wanted)} Jobs settled")
    return seen


_PASSES = re.compile(
    r'^nodewave_reconcile_passes_total\{[^}]*job_name="([^"]+)"[^}]*\} ([0-9.e+]+)$'
)


def peak_rss(op: OperatorProcess) -> float:
    assert op.proc is not None
    return memory_mib(op.proc.pid, "VmHWM")


def job_passes(op: OperatorProcess) -> dict[str, float]:
    """Passes so far by Job (nodewave_reconcile_passes_total)."""
    return {m[1]: float(m[2]) for m in map(_PASSES.match, operator_metrics(op).splitlines()) if m}


def others_passes(before: dict[str, float], after: dict[str, float], job: str) -> str:
    """The passes of `job` and of every other Job between two readings."""
    mine = after.get(job, 0.0) - before.get(job, 0.0)
    others = sum(v - before.get(k, 0.0) for k, v in after.items() if k != job)
    return f"{job} {mine:.0f} passes, the others {others:.0f}"


def wait_steady(op: OperatorProcess, quiet: float = 5.0, timeout: float = 600) -> float:
    """Until no Job has had a pass for `quiet` seconds: a Job whose status says settled may
    still write its executions' last statuses, and the timing beside "steady" Jobs must not
    include that. Returns how long it took."""
    start = last_change = time.monotonic()
    seen = job_passes(op)
    while time.monotonic() - last_change < quiet:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"Jobs still passing after {timeout}s")
        time.sleep(0.5)
        now = job_passes(op)
        if now != seen:
            seen, last_change = now, time.monotonic()
    return time.monotonic() - start


_BUCKET = re.compile(r'^nodewave_reconcile_duration_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$')


def pass_histogram(op: OperatorProcess) -> list[tuple[float, float]]:
    """The cumulative pass-time histogram: (upper bound, passes)."""
    return [
        (float(m[1]), float(m[2]))
        for m in map(_BUCKET.match, operator_metrics(op).splitlines())
        if m
    ]


def quantile(
    q: float, before: list[tuple[float, float]], after: list[tuple[float, float]]
) -> float:
    """The q-quantile of the passes between two readings, interpolated within its bucket as
    Prometheus' histogram_quantile does."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1]
    if total == 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(cumulative - below, 1e-9)
        lower, below = le, cumulative
    return lower


def passes(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> str:
    n = after[-1][1] - before[-1][1]
    p50, p99 = quantile(0.5, before, after), quantile(0.99, before, after)
    return f"{n:.0f} passes, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares RSS = a + b * executions: (a MiB, b MiB per execution)."""
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return my - b * mx, b


STEADY_SECONDS = 120.0


def steady_cost(op: OperatorProcess) -> tuple[float, float]:
    """The operator's CPU seconds and passes over STEADY_SECONDS with every Job steady and
    nothing changing: what the resync alone costs (issue 29, item 3)."""
    assert op.proc is not None
    cpu, passed = cpu_seconds(op.proc.pid), sum(job_passes(op).values())
    time.sleep(STEADY_SECONDS)
    return cpu_seconds(op.proc.pid) - cpu, sum(job_passes(op).values()) - passed


def steps(jobs: int) -> list[int]:
    """Job counts at which memory is read: 1, a quarter, half, all (distinct, ascending)."""
    return sorted({1, max(1, jobs // 4), max(1, jobs // 2), jobs})


def rollout_job(version: int) -> dict[str, Any]:
    """fleet-01 at `version` (a new image) with Rolling waves."""
    return job("fleet-01", str(version), rollout=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    args = parser.parse_args()
    n, names = args.nodes, [f"fleet-{i:02d}" for i in range(1, args.jobs + 1)]
    cp = start_cluster(n, 1000, "nodewave-fleet-", slow_heartbeats=True)
    cp.kubectl("label", "nodes", *[f"bench-{i:04d}" for i in range(SMALL)], "small=yes")
    op = OperatorProcess(cp, cp.workdir / "operator.log")
    rows: list[tuple[int, float, float, str]] = []
    try:
        op.start()
        op.wait_started()
        idle = settled_rss(op)
        print(f"{n} nodes, no Job: operator RSS {idle:.0f} MiB", flush=True)
        placed = 0
        for count in steps(args.jobs):
            before = pass_histogram(op)
            t0 = time.monotonic()
            for first in range(placed, count, BATCH):
                batch = names[first : min(first + BATCH, count)]
                apply(cp, *(job(name, "1", rollout=True) for name in batch))
                settled(cp, {name: (1, n) for name in batch}, 1800)
            took = time.monotonic() - t0
            placed = count
            rss, peak = settled_rss(op), peak_rss(op)
            rows.append((count, rss, peak, passes(before, pass_histogram(op))))
            print(
                f"{count} Jobs ({count * n} executions) placed in {took:.1f}s: RSS {rss:.0f} "
                f"MiB, peak {peak:.0f} MiB; {rows[-1][3]}",
                flush=True,
            )
            if count == 1:
                wait_steady(op)
                before = pass_histogram(op)
                t0 = time.monotonic()
                apply(cp, rollout_job(2))
                alone = settled(cp, {"fleet-01": (2, n)}, 900) - t0
                alone_passes = passes(before, pass_histogram(op))
                print(f"rollout of fleet-01 alone: {alone:.1f}s; {alone_passes}", flush=True)
                t0 = time.monotonic()
                apply(cp, job("small", "1", selector="small"))
                small_alone = settled(cp, {"small": (None, SMALL)}, 300) - t0
                cp.kubectl("delete", "nwj", "-n", NS, "small", "--wait=true")
        print(f"every Job steady after {wait_steady(op):.1f}s more", flush=True)
        quiet = steady_cost(op)
        print(
            f"{args.jobs} steady Jobs for {STEADY_SECONDS:.0f}s: {quiet[1]:.0f} passes, "
            f"{quiet[0]:.1f} CPU-s of the operator",
            flush=True,
        )
        before, by_job = pass_histogram(op), job_passes(op)
        t0 = time.monotonic()
        apply(cp, rollout_job(3))
        crowded = settled(cp, {"fleet-01": (3, n)}, 900) - t0
        crowded_passes = passes(before, pass_histogram(op))
        crowded_passes += f" ({others_passes(by_job, job_passes(op), 'fleet-01')})"
        print(
            f"rollout of fleet-01 beside {args.jobs - 1} steady Jobs: {crowded:.1f}s "
            f"({crowded / alone:.2f}x alone); {crowded_passes}",
            flush=True,
        )
        wait(lambda: not cp.count(f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/executions?"
                                  "labelSelector=nodewave.io/job%3Dsmall"), 300, "small gone")  # fmt: skip
        t0 = time.monotonic()
        apply(cp, rollout_job(4), job("small", "1", selector="small"))
        done = settle_times(cp, {"fleet-01": (4, n), "small": (None, SMALL)}, 900)
        small_beside = done["small"] - t0
        print(
            f"a {SMALL}-node Job: alone {small_alone:.1f}s, during fleet-01's rollout to {n} "
            f"nodes {small_beside:.1f}s ({small_beside / small_alone:.2f}x)",
            flush=True,
        )
    finally:
        op.stop()
        cp.destroy()
    intercept, slope = fit([(count * n, rss) for count, rss, _, _ in rows])
    kib = slope * 1024
    print(
        f"memory: {intercept:.0f} MiB + {kib:.2f} KiB per execution; at {LIMIT:,} executions "
        f"{(intercept + slope * LIMIT) / 1024:.2f} GiB",
        flush=True,
    )
    record(
        args.results,
        n,
        rows,
        (intercept, kib),
        (alone, crowded),
        (small_alone, small_beside),
        quiet,
    )
    return 0


HEADER = (
    "| date | nodes | Jobs | executions | RSS MiB | peak MiB | passes while placing |\n"
    "|---|---|---|---|---|---|---|\n"
)


def record(
    results: Path,
    n: int,
    rows: list[tuple[int, float, float, str]],
    line: tuple[float, float],
    rollout: tuple[float, float],
    small: tuple[float, float],
    quiet: tuple[float, float],
) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        "`python -m bench.fleet` (part of `make bench` since 2026-12-07): Jobs added in steps "
        "on one fleet of kwok nodes, one operator process; its settled RSS and peak after each "
        "step, the passes of the step (from nodewave_reconcile_duration_seconds), then a line "
        "through (executions, RSS), a Rolling rollout of one Job alone and beside the others, "
        "and a 10-node Job placed alone and during that rollout."
    )
    out = "".join(
        f"| {stamp} | {n} | {count} | {count * n} | {rss:.0f} | {peak:.0f} | {p} |\n"
        for count, rss, peak, p in rows
    )
    intercept, kib = line
    out += (
        f"| {stamp} | {n} | fit | {intercept:.0f} MiB + {kib:.2f} KiB/execution | "
        f"{(intercept + kib * LIMIT / 1024) / 1024:.2f} GiB at {LIMIT:,} | rollout alone "
        f"{rollout[0]:.1f}s, beside the others {rollout[1]:.1f}s "
        f"({rollout[1] / rollout[0]:.2f}x); all steady for {STEADY_SECONDS:.0f}s: "
        f"{quiet[1]:.0f} passes, {quiet[0]:.1f} operator CPU-s | {SMALL}-node Job alone {small[0]:.1f}s, during "
        f"the rollout {small[1]:.1f}s ({small[1] / small[0]:.2f}x) |\n"
    )
    add_table_rows(results, intro, HEADER, out)


if __name__ == "__main__":
    raise SystemExit(main())
