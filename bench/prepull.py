"""Image pre-pull on real kubelet nodes pulling from a slowed local registry: a Rolling rollout
of a new image (waves of one node, health windows of 1 s, successThreshold 3) with and without
`rollout.prePull`, alternated, each run a fresh image no node has.

Measured per run: the rollout's time (apply to stable) and each node's gap, the time it had no
ready pod of the Job (sampled every 100 ms from the API): without pre-pull a node's gap holds
its pull, with it only the container's stop and start.

    python -m bench.prepull [--nodes 3] [--runs 2] [--mib 8] [--rate-mib 2]   (part of make bench)
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import NS, add_table_rows, spread
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane, find_binaries
from nodewave.localcluster.demo import install_crds
from nodewave.localcluster.images import build_workload_template
from nodewave.localcluster.operator import OperatorProcess
from nodewave.localcluster.registry import build_registry_template

HEADER = (
    "| date | real nodes | image MiB | MiB/s per node | runs | rollout s, without | "
    "rollout s, with prePull | node gap s, without | node gap s, with |\n"
    "|---|---|---|---|---|---|---|---|---|\n"
)


def job(template: dict[str, Any], pre_pull: bool) -> dict[str, Any]:
    rollout: dict[str, Any] = {
        "strategy": "Rolling",
        "maxParallel": 1,  # a node per wave
        "healthCheck": {"deadlineSeconds": 120, "intervalSeconds": 1, "successThreshold": 3},
    }
    if pre_pull:
        rollout["prePull"] = {"waitSeconds": 120}
    return {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "fleet", "namespace": NS},
        "spec": {
            "type": "Pipeline",
            "selector": {"matchLabels": {"bench": "real"}},
            "template": template,
            "rollout": rollout,
        },
    }


def serving(cp: ControlPlane) -> dict[str, bool]:
    """Node → whether it has a ready, undeleted pod of the Job (pull-only pods aside)."""
    pods = cp.get(
        f"/api/v1/namespaces/{NS}/pods?labelSelector=nodewave.io/job=fleet,!nodewave.io/pre-pull"
    )["items"]
    out: dict[str, bool] = {}
    for p in pods:
        node = p["spec"].get("nodeName")
        ready = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
        if node:
            out[node] = out.get(node, False) or (ready and "deletionTimestamp" not in p["metadata"])
    return out


def roll(
    cp: ControlPlane, nodes: list[str], version: int, body: dict[str, Any]
) -> tuple[float, float]:
    """Apply `body` (version `version`); the rollout's seconds and the nodes' mean gap."""
    gaps = dict.fromkeys(nodes, 0.0)
    start = last = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    while True:
        now = time.monotonic()
        seen = serving(cp)
        for n in nodes:
            if not seen.get(n, False):
                gaps[n] += now - last
        last = now
        status = cp.get(f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/jobs/fleet").get("status", {})
        if status.get("stableVersion") == version and all(seen.get(n) for n in nodes):
            return now - start, statistics.mean(gaps.values())
        if now - start > 600:
            raise TimeoutError(f"version {version}: {status.get('rollout')}")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--mib", type=int, default=8, help="the image's payload")
    parser.add_argument("--rate-mib", type=float, default=2.0, help="per node, MiB/s")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    args = parser.parse_args()
    nodes = [f"real-{i}" for i in range(args.nodes)]
    cp = ControlPlane(
        workdir=Path(tempfile.mkdtemp(prefix="nw-bench-prepull-")),
        bin_dir=find_binaries(),
        registry_rate=int(args.rate_mib * (1 << 20)),
    )
    took: dict[bool, list[float]] = {False: [], True: []}
    gap: dict[bool, list[float]] = {False: [], True: []}
    try:
        cp.start()
        install_crds(cp, REPO_ROOT / "crds")
        cp.kubectl("create", "namespace", NS)
        cp.add_real_nodes({n: {"bench": "real"} for n in nodes})
        op = OperatorProcess(cp, cp.workdir / "operator.log")
        op.start()
        op.wait_started()
        try:
            roll(cp, nodes, 1, job(build_workload_template("run"), False))
            version = 1
            for run in range(args.runs):
                for pre_pull in (False, True):
                    version += 1
                    image = cp.push_image("bench/agent", f"run{run}-{pre_pull}", args.mib << 20)
                    seconds, mean_gap = roll(
                        cp, nodes, version, job(build_registry_template(image), pre_pull)
                    )
                    took[pre_pull].append(seconds)
                    gap[pre_pull].append(mean_gap)
                    print(
                        f"prePull {'on ' if pre_pull else 'off'}: rollout {seconds:.1f}s, "
                        f"mean node gap {mean_gap:.1f}s",
                        flush=True,
                    )
        finally:
            op.stop()
    finally:
        cp.destroy()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        "`python -m bench.prepull` (part of `make bench` since 2026-12-06): rollout.prePull on "
        "real kubelet nodes pulling a new image from the local registry slowed per node "
        "(registry.py); Rolling, a node per wave, windows of 1 s, successThreshold 3; median "
        "[min, max] of the runs. Node gap: the time a node had no ready pod of the Job."
    )
    row = (
        f"| {stamp} | {args.nodes} | {args.mib} | {args.rate_mib:g} | {args.runs} "
        f"| {spread(took[False])} | {spread(took[True])} | {spread(gap[False])} "
        f"| {spread(gap[True])} |\n"
    )
    add_table_rows(args.results, intro, HEADER, row)
    print(
        f"rollout {spread(took[False])}s without, {spread(took[True])}s with prePull; node gap "
        f"{spread(gap[False])}s without, {spread(gap[True])}s with"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
