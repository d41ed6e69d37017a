"""Rollout timing on N kwok nodes (default 100): a Rolling rollout at maxParallel 20 % with
health windows of 2 s and successThreshold 2, against the minimum the windows allow
(waves x successThreshold x interval); then a version that fails on its first wave, and the
time from the failing window (the first HealthCheckFailed) to every node back on stable.

    python -m bench.rollout [--nodes 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

import yaml

from bench.common import NS, start_cluster
from nodewave.localcluster.controlplane import ControlPlane
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
        json.loads(
            cp.kubectl("get", "nwj", "-n", NS, "fleet", "-o", "jsonpath={.status}").stdout or "{}"
        )
    )


def wait(pred: Any, timeout: float, what: str) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return time.monotonic()
        time.sleep(0.2)
    raise TimeoutError(what)


def rollout_of(v: int, phase: str) -> Any:
    return lambda s: (
        (s.get("rollout") or {}).get("version") == v and s["rollout"].get("phase") == phase
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=100)
    n = parser.parse_args().nodes
    cp = start_cluster(n, 1000, "nodewave-rollout-")
    op = OperatorProcess(cp, cp.workdir / "operator.log")
    try:
        op.start()
        op.wait_started()
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(job("1")))
        wait(lambda: status(cp).get("stableVersion") == 1, 300, "version 1 stable")

        t0 = time.monotonic()
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(job("2")))
        t1 = wait(lambda: rollout_of(2, "Completed")(status(cp)), 600, "version 2 completed")
        waves = status(cp)["rollout"]["totalWaves"]
        minimum = waves * 2 * 2
        print(
            f"N={n} Rolling 20%, interval 2s, successThreshold 2: {waves} waves in {t1 - t0:.1f}s; minimum {minimum}s; overhead {t1 - t0 - minimum:.1f}s ({(t1 - t0) / minimum:.2f}x)",
            flush=True,
        )

        cp.kubectl(
            "apply", "-f", "-", input=yaml.safe_dump(job("3", {"fake.nodewave.io/ready": "false"}))
        )
        wait(lambda: rollout_of(3, "RolledBack")(status(cp)), 600, "version 3 rolled back")
        wait(lambda: status(cp).get("readyNodes") == n, 300, "all nodes ready on stable")
        back_wall = dt.datetime.now(dt.UTC)
        items = json.loads(
            cp.kubectl("get", "nwx", "-n", NS, "-l", "nodewave.io/version=3", "-o", "json").stdout
        )["items"]
        failed_at = min(
            dt.datetime.fromisoformat(h["time"].replace("Z", "+00:00"))
            for e in items
            for h in e["status"]["history"]
            if h["state"] == "Failed"
        )
        print(
            f"rollback: {len(items)} nodes had moved; from the first failing window to every node back on version 2: {(back_wall - failed_at).total_seconds():.1f}s",
            flush=True,
        )
    finally:
        op.stop()
        cp.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
