"""A Job's first version follows its rollout strategy (docs/design.md §3.3): waves from the
first apply, and a first version that fails stops where it is, since there is no version to
roll back to."""

from __future__ import annotations

import time

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.jobs import (
    add_nodes,
    apply_job,
    condition,
    job_events,
    job_status,
    listed_executions,
    phase,
    rolling_job,
    running_versions,
)


def test_a_run_to_completion_first_version_goes_wave_by_wave(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """An Update job, Rolling 34 % on 6 nodes: waves of 3. While any pod of wave 1 has not
    finished, no execution of wave 2 exists."""
    nodes = add_nodes(cluster, "first-waves", 6)
    spec = rolling_job("first-waves", "1", {"strategy": "Rolling", "maxParallel": 34},
                       {"fake.nodewave.io/run-for": "3s"})  # fmt: skip
    spec["type"] = "Update"
    apply_job(cluster, namespace, "upd", spec)
    seen_waves: set[int] = set()
    end = time.monotonic() + 90
    while phase(cluster, namespace, "upd", version=1) != "Completed":
        assert time.monotonic() < end, "the first version did not complete"
        # Executions first, then pods: a wave-2 execution listed first was created after
        # every wave-1 pod had finished, so the pods listed after must show it.
        items = listed_executions(cluster, namespace, "upd")
        waves = {e["spec"]["nodeName"]: e["spec"]["rolloutWave"] for e in items}
        pods = kubectl_json(cluster, "get", "pods", "-n", namespace)["items"]
        seen_waves |= set(waves.values())
        if 2 in waves.values():
            unfinished = [
                p["spec"]["nodeName"]
                for p in pods
                if waves.get(p["spec"]["nodeName"]) == 1 and p["status"]["phase"] != "Succeeded"
            ]
            assert not unfinished, f"wave 2 exists while wave 1 runs on {unfinished}"
        else:
            assert len(waves) <= 3, f"more than one wave of executions: {waves}"
        time.sleep(0.2)
    assert seen_waves == {1, 2}
    status = job_status(cluster, namespace, "upd")
    assert status["stableVersion"] == 1
    assert (status["rollout"]["wave"], status["rollout"]["totalWaves"]) == (2, 2)
    assert condition(status, "Complete") == ("True", "AllSucceeded")
    items = listed_executions(cluster, namespace, "upd")
    assert sorted(e["spec"]["nodeName"] for e in items) == nodes
    reasons = job_events(cluster, namespace)
    assert reasons.count("WaveStarted") == 2
    assert "RolloutComplete" in reasons


def test_a_failing_first_version_stops_after_its_canary_and_a_fixed_one_rolls_out(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "first-canary", 6)
    canary = {"strategy": "Canary", "canaryCount": 2, "autoPromote": True, "maxParallel": 50}
    bad = rolling_job("first-canary", "1", canary, {"fake.nodewave.io/ready": "false"})
    apply_job(cluster, namespace, "app", bad)
    wait_for(lambda: phase(cluster, namespace, "app", version=1) == "Failed", 60, "stopped")
    status = job_status(cluster, namespace, "app")
    assert status.get("stableVersion") is None
    assert status["rollout"]["failedNodes"] == 2
    assert "the Job's first, there is no version to roll back to" in status["rollout"]["message"]
    assert "4 nodes not reached will not start it" in status["rollout"]["message"]
    assert condition(status, "Stalled") == ("True", "RolloutFailed")
    assert condition(status, "Ready") == ("False", "RolloutFailed")
    reasons = job_events(cluster, namespace)
    assert {"RolloutStarted", "WaveStarted", "RolloutFailed", "FirstVersionStopped"} <= set(reasons)
    assert "RollingBack" not in reasons
    time.sleep(3)  # several passes later, still only the canary
    items = listed_executions(cluster, namespace, "app")
    assert len(items) == 2, "nodes not reached never start a stopped first version"
    assert {e["spec"]["desiredState"] for e in items} == {"Running"}, "held where it is"
    assert {e["status"]["error"]["code"] for e in items} == {"HealthCheckFailed"}

    # A fixed version rolls out from the canary on, the failed canary nodes included.
    apply_job(cluster, namespace, "app", rolling_job("first-canary", "2", canary))
    wait_for(lambda: phase(cluster, namespace, "app") == "Completed", 90, "version 2 done")
    assert job_status(cluster, namespace, "app")["stableVersion"] == 2
    wait_for(
        lambda: running_versions(cluster, namespace, "app") == {n: [2] for n in nodes},
        30,
        "version 2 alone on every node",
    )
