"""`spec.priority` on the real control plane: with the operator's API requests throttled to one
in flight (a backlog), a high-priority Job applied just after a low-priority one is placed first."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import OPERATOR_MODE, wait_for
from tests.integration.jobs import suite_nodes, template


def _pods(cluster: ControlPlane, ns: str, job: str) -> int:
    """How many pods the Job has, by a raw API request: the `pods` helper's kubectl call takes
    longer than a good part of the placement this test watches."""
    code, body = cluster.request(
        "GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=nodewave.io/job%3D{job}", ""
    )
    assert code == 200, body
    return len(json.loads(body)["items"])


def test_a_higher_priority_job_overtakes_a_backlog(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes = suite_nodes(cluster, "twenty", 20)
    operator.stop()  # this test runs its own operator, throttled so that requests queue up
    throttled = OperatorProcess(
        cluster, tmp_path / "operator.log", "--max-inflight", "1", *OPERATOR_MODE
    )
    try:
        throttled.start()
        throttled.wait_started()
        jobs = [
            {
                "apiVersion": "nodewave.io/v1alpha1",
                "kind": "Job",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "type": "Pipeline",
                    "priority": priority,
                    "selector": {"matchLabels": {"suite": "twenty"}},
                    "template": template(),
                },
            }
            for name, priority in (("bulk", 0), ("urgent", 100))  # the low one first
        ]
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(jobs))

        bulk_when_urgent_done = None
        end = time.monotonic() + 120
        while time.monotonic() < end:
            if _pods(cluster, namespace, "urgent") == len(nodes):
                bulk_when_urgent_done = _pods(cluster, namespace, "bulk")
                break
            time.sleep(0.02)
        assert bulk_when_urgent_done is not None, "the urgent Job was never placed"
        # First come first served would have placed the bulk Job first, or both side by side.
        assert bulk_when_urgent_done <= len(nodes) // 2, (
            f"{bulk_when_urgent_done} of {len(nodes)} bulk pods existed when the urgent Job was done"
        )
        wait_for(
            lambda: _pods(cluster, namespace, "bulk") == len(nodes), 120, "the bulk Job placed too"
        )
    finally:
        throttled.stop()
        operator.start()
        operator.wait_started()
