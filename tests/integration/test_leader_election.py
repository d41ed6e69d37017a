"""Two operator replicas on one cluster (the chart's default): one leads, the other stands by
and writes nothing; kill -9 of the leader mid-rollout hands over within a lease duration and
the standby finishes the rollout; SIGTERM hands over within about a second."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import OPERATOR_MODE, kubectl_json, wait_for
from tests.integration.jobs import (
    apply_job,
    job_events,
    phase,
    rolling_job,
    scrape,
    settle_v1,
    suite_nodes,
)

LEASE = ("lease", "-n", "default", "nodewave-operator")


def holder(cp: ControlPlane) -> str:
    found = cp.kubectl("get", *LEASE, "-o", "jsonpath={.spec.holderIdentity}", check=False)
    return found.stdout.strip() if found.returncode == 0 else ""


def writes(op: OperatorProcess) -> float:
    """API writes the replica's operator made (its Lease renewals are not among them)."""
    found = re.findall(r'^nodewave_api_requests_total\{[^}]*verb="(\w+)"[^}]*\} (\S+)$',
                       scrape(op), re.M)  # fmt: skip
    return sum(float(n) for verb, n in found if verb not in ("GET", "WATCH"))


def leading(op: OperatorProcess) -> bool:
    return re.search(r"^nodewave_leader 1\.0$", scrape(op), re.M) is not None


def identity(op: OperatorProcess) -> str:
    assert op.proc is not None
    return f"{os.uname().nodename}-{op.proc.pid}"


def test_one_replica_acts_and_the_standby_takes_over(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes = suite_nodes(cluster, "ha", 6)
    operator.stop()  # releases the Lease
    first = OperatorProcess(cluster, tmp_path / "first.log", *OPERATOR_MODE)
    second = OperatorProcess(cluster, tmp_path / "second.log", *OPERATOR_MODE)
    try:
        first.start()
        first.wait_started()
        wait_for(lambda: holder(cluster) == identity(first), 20, "the first replica leads")
        second.start()
        second.wait_started()
        rolling = {"strategy": "Rolling", "maxParallel": 17, "maxFailedNodes": 0}  # 3 waves of 2
        settle_v1(cluster, namespace, "ha", rolling_job("ha", "1", rolling), nodes)
        assert (leading(first), leading(second)) == (True, False)
        assert writes(second) == 0, "the standby wrote"
        assert writes(first) > 0

        # Mid-rollout, kill -9 the leader: the standby waits out the lease, then finishes.
        apply_job(cluster, namespace, "ha", rolling_job("ha", "2", rolling))
        wait_for(
            lambda: (kubectl_json(cluster, "get", "nwj", "-n", namespace, "ha")["status"]
                     .get("rollout") or {}).get("wave", 0) >= 2,
            60, "wave 2 under way",
        )  # fmt: skip
        assert writes(second) == 0, "the standby wrote during the rollout"
        first.kill()
        killed = time.monotonic()
        assert phase(cluster, namespace, "ha") == "Progressing", "the kill must land mid-rollout"
        wait_for(lambda: holder(cluster) == identity(second), 40, "the standby leads", interval=0.1)
        failover = time.monotonic() - killed
        assert failover <= 15 + 2 + 2, f"failover took {failover:.1f}s (lease 15 s, retry 2 s)"
        wait_for(lambda: phase(cluster, namespace, "ha") == "Completed", 90, "rollout completed")
        completed = time.monotonic() - killed
        assert leading(second)
        assert f"{identity(second)} became leader" in " ".join(
            e["message"] for e in kubectl_json(cluster, "get", "events", "-n", "default")["items"]
            if e["reason"] == "LeaderElection"
        )  # fmt: skip
        assert "RolloutFailed" not in job_events(cluster, namespace)

        # SIGTERM: the leader releases the Lease, a standby takes it at its next try.
        first.start()
        first.wait_started()
        termed = time.monotonic()
        second.stop()  # SIGTERM, waits for the exit
        wait_for(lambda: holder(cluster) == identity(first), 10, "handed over", interval=0.05)
        handover = time.monotonic() - termed
        # A release, not an expiry (that would take the 15 s lease duration): the exit and
        # the standby's next try (2 s), with room for a loaded machine.
        assert handover < 8, f"SIGTERM handover took {handover:.1f}s"
        print(f"failover after kill -9 {failover:.1f}s, rollout done {completed:.1f}s after "
              f"the kill; handover after SIGTERM {handover:.1f}s")  # fmt: skip
    finally:
        first.stop()
        second.stop()
        operator.start()
        operator.wait_started()
