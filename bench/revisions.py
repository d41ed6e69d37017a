"""The operator's memory with a large config and a long history: a Job whose config is about
900 KiB (a thousand rules, as a real agent's configuration is, not one long string), applied in
60 versions on 3 kwok nodes with revisionHistoryLimit 100, each rolled out. The operator's RSS
is read (/proc, VmRSS) once version 1 is out, after the 60 applies, and after a restart (when
the informers list every ControllerRevision at once, where 60 parsed configs crash-looped both
replicas before: issue 26). The goal: within 50 MiB of before, both times.

    python -m bench.revisions [--versions 60] [--config-kib 900]       (part of make bench)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from bench.common import NS, add_table_rows, settled_rss, start_cluster, wait
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.operator import OperatorProcess

NODES = 3


def config(version: int, kib: int) -> dict[str, Any]:
    """About `kib` KiB of JSON in many small objects, different in every version."""
    rule = {"match": "x" * 600, "action": "allow", "weight": 1}
    count = kib * 1024 // (len(json.dumps(rule)) + 30)
    return {"version": version, "rules": [{**rule, "id": f"r{version}-{i}"} for i in range(count)]}


def job(version: int, kib: int) -> dict[str, Any]:
    return {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "big", "namespace": NS},
        "spec": {
            "type": "Pipeline",
            "selector": {"matchLabels": {"bench": "yes"}},
            "revisionHistoryLimit": 100,
            "config": config(version, kib),
            "template": {
                "spec": {"containers": [{"name": "main", "image": "registry.example/a:1"}]}
            },
            "rollout": {"strategy": "Immediate"},
        },
    }


def stable(cp: ControlPlane) -> int | None:
    body = cp.get(f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/jobs/big")
    return (body.get("status") or {}).get("stableVersion")


def apply(cp: ControlPlane, body: dict[str, Any], tmp: Path) -> None:
    # Server-side: a 900 KiB config does not fit kubectl's last-applied annotation.
    path = tmp / "job.json"
    path.write_text(json.dumps(body))
    cp.kubectl("apply", "--server-side", "-f", str(path))


HEADER = (
    "| date | config KiB | versions | RSS MiB after version 1 | after the applies | after a "
    "restart | growth MiB (goal ≤ 50) |\n|---|---|---|---|---|---|---|\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, default=60)
    parser.add_argument("--config-kib", type=int, default=900)
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    args = parser.parse_args()
    cp = start_cluster(NODES, 1000, "nodewave-revisions-")
    op = OperatorProcess(cp, cp.workdir / "operator.log")
    try:
        op.start()
        op.wait_started()
        apply(cp, job(1, args.config_kib), cp.workdir)
        wait(lambda: stable(cp) == 1, 120, "version 1 stable")
        before = settled_rss(op)
        print(f"version 1 out: operator RSS {before:.0f} MiB", flush=True)
        for v in range(2, args.versions + 1):
            apply(cp, job(v, args.config_kib), cp.workdir)
            wait(lambda v=v: stable(cp) == v, 120, f"version {v} stable")
        after = settled_rss(op)
        print(f"{args.versions} versions out: operator RSS {after:.0f} MiB", flush=True)
        op.stop()
        op.start()
        op.wait_started()
        restarted = settled_rss(op)
        print(f"restarted with {args.versions} revisions: RSS {restarted:.0f} MiB", flush=True)
    finally:
        op.stop()
        cp.destroy()
    growth = max(after, restarted) - before
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        "`python -m bench.revisions` (part of `make bench` since 2026-12-06): a Job with a "
        "~900 KiB config applied in 60 versions (revisionHistoryLimit 100) on 3 kwok nodes; "
        "the operator's RSS after version 1, after the applies and after a restart."
    )
    row = (
        f"| {stamp} | {args.config_kib} | {args.versions} | {before:.0f} | {after:.0f} "
        f"| {restarted:.0f} | {growth:.0f} |\n"
    )
    add_table_rows(args.results, intro, HEADER, row)
    print(f"growth {growth:.0f} MiB (goal ≤ 50)")
    return 0 if growth <= 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())
