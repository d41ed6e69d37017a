"""kill -9 the operator while it places 200 executions; a new one finishes the job with
exactly one Execution and one Pod per node (deterministic names make re-planning idempotent).
SIGTERM in the same busy moment: the operator exits within 5 s (a rolling upgrade of its
Deployment waits that long) and its successor finishes the job."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import OPERATOR_MODE, kubectl_json, wait_for
from tests.integration.jobs import add_nodes, apply_job, listed_executions, template

N = 200


def _count(cp: ControlPlane, ns: str, job: str = "fleet") -> int:
    """The Job's pods: one is made beside each execution (under --pod-records it is all of
    it). Names only, polled every 50 ms: a JSON listing of both kinds slowed the machine."""
    out = cp.kubectl(
        "get", "pods", "-n", ns, "-l", f"nodewave.io/job={job}", "--no-headers", "-o", "name"
    ).stdout
    return len(out.split())


def test_kill_9_mid_placement_then_resume(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes = add_nodes(cluster, "crash", N)
    operator.stop()  # this test runs its own operator, slowed to a trickle so the kill lands mid-way
    slow = OperatorProcess(cluster, tmp_path / "slow.log", "--max-inflight", "2", *OPERATOR_MODE)
    fresh = OperatorProcess(cluster, tmp_path / "fresh.log", *OPERATOR_MODE)
    try:
        slow.start()
        slow.wait_started()
        apply_job(
            cluster,
            namespace,
            "fleet",
            {
                "type": "Pipeline",
                "selector": {"matchLabels": {"suite": "crash"}},
                "template": template(),
            },
        )
        wait_for(
            lambda: _count(cluster, namespace) >= 10,
            60,
            "placement under way",
            interval=0.05,
        )
        slow.kill()
        at_kill = _count(cluster, namespace)
        assert 0 < at_kill < N, f"the kill must land mid-placement; {at_kill} of {N} pods existed"

        fresh.start()
        fresh.wait_started()

        def all_running() -> bool:
            items = listed_executions(cluster, namespace, "fleet")
            return len(items) == N and all(
                e.get("status", {}).get("observedState") == "Running" for e in items
            )

        wait_for(all_running, 180, f"{N} executions Running")
        execs = listed_executions(cluster, namespace, "fleet")
        per_node = Counter(e["spec"]["nodeName"] for e in execs)
        assert set(per_node) == set(nodes)
        assert set(per_node.values()) == {1}
        assert {e["metadata"]["name"] for e in execs} == {
            build_execution_name("fleet", 1, n) for n in nodes
        }
        pods = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", "nodewave.io/job=fleet")[
            "items"
        ]
        assert len(pods) == N
        assert Counter(p["spec"]["nodeName"] for p in pods) == Counter({n: 1 for n in nodes})
        assert {p["metadata"]["name"] for p in pods} == {e["metadata"]["name"] for e in execs}
        assert "Traceback" not in (tmp_path / "fresh.log").read_text()
    finally:
        slow.kill()
        fresh.stop()
        cluster.kubectl("delete", "nwj", "-n", namespace, "fleet", "--wait=false")
        operator.start()
        operator.wait_started()


def test_sigterm_mid_placement_exits_within_5_seconds(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "term", N)
    spec = {
        "type": "Pipeline",
        "selector": {"matchLabels": {"suite": "term"}},
        "template": template(),
    }
    apply_job(cluster, namespace, "busy", spec)
    wait_for(
        lambda: _count(cluster, namespace, "busy") >= 10,
        60,
        "placement under way",
        interval=0.05,
    )
    assert operator.proc is not None
    started = time.monotonic()
    os.killpg(operator.proc.pid, signal.SIGTERM)
    code = operator.proc.wait(timeout=30)
    took = time.monotonic() - started
    operator.proc = None
    try:
        assert (code, took < 5) == (0, True), f"exit {code} after {took:.1f} s"
    finally:
        operator.start()
        operator.wait_started()
    wait_for(
        lambda: (
            sorted(
                e["spec"]["nodeName"]
                for e in listed_executions(cluster, namespace, "busy")
                if e.get("status", {}).get("observedState") == "Running"
            )
            == sorted(nodes)
        ),
        180,
        f"{N} executions Running after the restart",
    )
