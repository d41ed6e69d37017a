"""Rollouts on the real control plane with fault injection (kwok stages acting as kubelets):
canary rollback, failure budgets, promotion, pause, crash mid-wave, superseding versions."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.jobs import (
    LEFT_STOPPED,
    add_nodes,
    apply_job,
    condition,
    job_events,
    job_status,
    listed_executions,
    ok,
    phase,
    pods_say_their_executions,
    rolling_job,
    running_versions,
    scrape,
    settle_v1,
    suite_nodes,
    validation_recorded,
)


def test_canary_that_never_gets_ready_rolls_back(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "canary-bad", 6)
    canary = {
        "strategy": "Canary",
        "canaryCount": 2,
        "autoPromote": True,
        "maxParallel": 50,
        "maxFailedNodes": 1,
    }
    # Each version with its config: the stable one's is not held in the operator's memory
    # (only in its ControllerRevision) and must be read back for the pods the rollback makes.
    v1 = {**rolling_job("canary-bad", "1", canary), "config": {"release": "one", "count": 1}}
    settle_v1(cluster, namespace, "app", v1, nodes)
    v2 = rolling_job("canary-bad", "2", canary, {"fake.nodewave.io/ready": "false"})
    apply_job(cluster, namespace, "app", {**v2, "config": {"release": "two", "count": 2}})
    wait_for(lambda: phase(cluster, namespace, "app") == "RolledBack", 60, "rollback done")
    wait_for(
        lambda: running_versions(cluster, namespace, "app") == {n: [1] for n in nodes},
        30,
        "every node back on version 1, once",
    )
    status = job_status(cluster, namespace, "app")
    assert status["currentVersion"] == 2
    assert status["stableVersion"] == 1
    assert status["rollout"]["failedNodes"] == 2
    assert condition(status, "RolledBack") == ("True", "RolledBack")
    assert condition(status, "Stalled") == ("True", "RolledBack")
    assert condition(status, "Ready")[0] == "False"
    v2 = [
        e
        for e in kubectl_json(
            cluster, "get", "nwx", "-n", namespace, "-l", "nodewave.io/version=2"
        )["items"]
    ]
    assert len(v2) == 2  # only the canary wave ever moved
    assert {e["status"]["error"]["code"] for e in v2} == {"HealthCheckFailed"}
    assert {e["spec"]["desiredState"] for e in v2} == {"Stopped"}
    pods = kubectl_json(cluster, "get", "pods", "-n", namespace)["items"]
    assert Counter(p["spec"]["nodeName"] for p in pods) == Counter({n: 1 for n in nodes})
    canaries = {e["spec"]["nodeName"] for e in v2}
    restored = [p for p in pods if p["spec"]["nodeName"] in canaries]
    for pod in restored:  # made after the rollback, from version 1's revision
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert json.loads(env["NODEWAVE_CONFIG"]) == {"release": "one", "count": 1}
    reasons = job_events(cluster, namespace)
    for reason in ("RolloutStarted", "WaveStarted", "RolloutFailed", "RollingBack", "RolledBack"):
        assert reason in reasons


def _two_of_twenty(cluster: ControlPlane, namespace: str, nodes: list[str], budget: int) -> None:
    bad = ",".join(nodes[:2])
    rolling = {"strategy": "Rolling", "maxParallel": 25, "maxFailedNodes": budget}
    settle_v1(cluster, namespace, "svc", rolling_job("twenty", "1", rolling), nodes)
    apply_job(
        cluster,
        namespace,
        "svc",
        rolling_job("twenty", "2", rolling, {"fake.nodewave.io/unready-on": bad}),
    )


def test_failures_within_budget_complete(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, "twenty", 20)
    _two_of_twenty(cluster, namespace, nodes, budget=3)
    wait_for(lambda: phase(cluster, namespace, "svc") == "Completed", 120, "rollout completed")
    status = job_status(cluster, namespace, "svc")
    v2 = {
        e["spec"]["nodeName"]: (
            e["spec"]["rolloutWave"],
            e.get("status", {}).get("observedState"),
            (e.get("status", {}).get("error") or {}).get("code"),
        )
        for e in listed_executions(cluster, namespace, "svc", 2)
    }
    assert status["stableVersion"] == 2
    assert status["rollout"]["failedNodes"] == 2, (status["rollout"], v2)
    assert status["rollout"]["totalWaves"] == 4
    versions = running_versions(cluster, namespace, "svc")
    assert versions == {n: [2] for n in nodes[2:]}
    assert condition(status, "Degraded") == ("True", "ExecutionsFailed")
    assert validation_recorded(cluster, namespace, "svc") == len(nodes) - 2  # the failed not


def test_failures_past_budget_roll_back(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, "twenty", 20)
    _two_of_twenty(cluster, namespace, nodes, budget=1)
    wait_for(lambda: phase(cluster, namespace, "svc") == "RolledBack", 120, "rolled back")
    wait_for(
        lambda: running_versions(cluster, namespace, "svc") == {n: [1] for n in nodes},
        30,
        "all on version 1",
    )
    assert job_status(cluster, namespace, "svc")["stableVersion"] == 1


def test_canary_waits_for_promotion(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "promote", 4)
    canary = {"strategy": "Canary", "canaryCount": 1, "autoPromote": False, "maxParallel": 50}
    settle_v1(cluster, namespace, "web", rolling_job("promote", "1", canary), nodes)
    apply_job(cluster, namespace, "web", rolling_job("promote", "2", canary))
    wait_for(
        lambda: phase(cluster, namespace, "web") == "AwaitingPromotion", 60, "awaiting promotion"
    )
    time.sleep(3)
    status = job_status(cluster, namespace, "web")
    assert status["rollout"]["phase"] == "AwaitingPromotion"
    assert status["rollout"]["wave"] == 1
    assert condition(status, "AwaitingPromotion") == ("True", "AwaitingPromotion")
    assert condition(status, "Reconciling")[0] == "True"
    assert sorted(v for vs in running_versions(cluster, namespace, "web").values() for v in vs) == [
        1,
        1,
        1,
        2,
    ]
    cluster.kubectl("annotate", "nwj", "-n", namespace, "web", "nodewave.io/promote=2")
    wait_for(lambda: phase(cluster, namespace, "web") == "Completed", 60, "completed after promote")
    assert running_versions(cluster, namespace, "web") == {n: [2] for n in nodes}
    assert "Promoted" in job_events(cluster, namespace)
    assert condition(job_status(cluster, namespace, "web"), "Ready") == ("True", "AllNodesReady")


def test_paused_rollout_holds(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "pause", 3)
    rolling = {"strategy": "Rolling", "maxParallel": 34}
    settle_v1(cluster, namespace, "batch", rolling_job("pause", "1", rolling), nodes)
    apply_job(cluster, namespace, "batch", rolling_job("pause", "2", {**rolling, "paused": True}))
    wait_for(lambda: phase(cluster, namespace, "batch") == "Paused", 30, "paused")
    time.sleep(3)
    assert running_versions(cluster, namespace, "batch") == {n: [1] for n in nodes}
    cluster.kubectl(
        "patch",
        "nwj",
        "-n",
        namespace,
        "batch",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"rollout": {"paused": False}}}),
    )
    wait_for(
        lambda: phase(cluster, namespace, "batch") == "Completed", 60, "completed after resume"
    )
    assert running_versions(cluster, namespace, "batch") == {n: [2] for n in nodes}


def test_operator_killed_mid_wave_resumes_at_the_same_wave(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes = add_nodes(cluster, "resume", 8)
    rolling = {"strategy": "Rolling", "maxParallel": 25}
    spec = rolling_job("resume", "1", rolling)
    spec["rollout"]["healthCheck"].update({"intervalSeconds": 2, "successThreshold": 2})
    settle_v1(cluster, namespace, "agent", spec, nodes)
    spec2 = rolling_job("resume", "2", rolling)
    spec2["rollout"]["healthCheck"].update({"intervalSeconds": 2, "successThreshold": 2})
    apply_job(cluster, namespace, "agent", spec2)
    wait_for(
        lambda: (job_status(cluster, namespace, "agent").get("rollout") or {}).get("wave") == 2,
        60,
        "wave 2 under way",
    )
    operator.kill()
    wave_at_kill = job_status(cluster, namespace, "agent")["rollout"]["wave"]
    validation_recorded(cluster, namespace, "agent")  # what a new leader would read now
    try:
        time.sleep(2)
        operator.start()
        operator.wait_started()
        time.sleep(1.5)
        assert job_status(cluster, namespace, "agent")["rollout"]["wave"] >= wave_at_kill
        wait_for(
            lambda: phase(cluster, namespace, "agent") == "Completed", 90, "completed after restart"
        )
    finally:
        if not operator.alive():
            operator.start()
            operator.wait_started()
    assert running_versions(cluster, namespace, "agent") == {n: [2] for n in nodes}
    assert validation_recorded(cluster, namespace, "agent") == len(nodes)
    per_node = Counter(
        (e["spec"]["nodeName"], e["spec"]["jobVersion"])
        for e in listed_executions(cluster, namespace, "agent")
    )
    assert set(per_node.values()) == {1}
    waves = Counter(
        e["spec"]["rolloutWave"] for e in listed_executions(cluster, namespace, "agent", 2)
    )
    assert waves == Counter({1: 2, 2: 2, 3: 2, 4: 2})


def test_a_leader_that_never_read_stable_at_resumes_from_the_record(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """What a new leader will hold once nodes have no custom resource of their own on the
    normal path (docs/design.md §4.2): mid-rollout the operator stops, every running execution's
    stableAt and last window are removed from its status, and an operator reading the Job's
    record of settled waves (--validation-record) takes over. It judges no settled wave again,
    fails no node (its deadlines leave it its own windows), and completes."""
    nodes = add_nodes(cluster, "record", 8)
    check = {"intervalSeconds": 2, "successThreshold": 2, "deadlineSeconds": 12}
    rolling = {"strategy": "Rolling", "maxParallel": 25}
    spec = rolling_job("record", "1", rolling)
    spec["rollout"]["healthCheck"].update(check)
    settle_v1(cluster, namespace, "agent", spec, nodes)
    spec2 = rolling_job("record", "2", rolling)
    spec2["rollout"]["healthCheck"].update(check)
    apply_job(cluster, namespace, "agent", spec2)

    def settled() -> list[int]:
        rollout = job_status(cluster, namespace, "agent").get("rollout") or {}
        return [w["wave"] for w in rollout.get("settledWaves", [])]

    wait_for(lambda: len(settled()) >= 2, 60, "waves 1 and 2 settled")
    operator.stop()
    kept = operator.args
    try:
        before = settled()
        # Those stopped are left as they are: under pod records nothing is left of them.
        for e in kubectl_json(cluster, "get", "nwx", "-n", namespace)["items"]:
            if e["spec"]["desiredState"] == "Stopped":
                continue
            forget = json.dumps({"status": {"stableAt": None, "health": None}})
            cluster.kubectl("patch", "nwx", e["metadata"]["name"], "-n", namespace,
                            "--subresource=status", "--type=merge", "-p", forget)  # fmt: skip
        forgotten = kubectl_json(cluster, "get", "nwx", "-n", namespace)["items"]
        assert not [e for e in forgotten if e.get("status", {}).get("stableAt")
                    and e["spec"]["desiredState"] == "Running"]  # fmt: skip
        took_over = time.time()
        operator.args = (*kept, "--validation-record")
        operator.start()
        operator.wait_started()
        wait_for(lambda: phase(cluster, namespace, "agent") == "Completed", 90, "completed")
    finally:
        operator.stop()
        operator.args = kept
        operator.start()
        operator.wait_started()
    v2 = listed_executions(cluster, namespace, "agent", 2)
    states = {e["spec"]["nodeName"]: e["status"]["observedState"] for e in v2}
    assert states == {n: "Running" for n in nodes}
    # The waves settled before the change were not judged again: no Validating since.
    for e in v2:
        if e["spec"]["rolloutWave"] in before:
            again = [t for t in e["status"].get("history", []) if t["state"] == "Validating"
                     and datetime.fromisoformat(t["time"]).timestamp() >= took_over]  # fmt: skip
            assert not again, (e["metadata"]["name"], again)
    assert validation_recorded(cluster, namespace, "agent") == len(nodes)


def test_new_version_mid_rollout_supersedes_from_the_stable_base(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "supersede", 6)
    rolling = {"strategy": "Rolling", "maxParallel": 34}
    spec = rolling_job("supersede", "1", rolling)
    spec["rollout"]["healthCheck"].update({"intervalSeconds": 2})
    settle_v1(cluster, namespace, "api", spec, nodes)
    spec2 = rolling_job("supersede", "2", rolling)
    spec2["rollout"]["healthCheck"].update({"intervalSeconds": 2})
    apply_job(cluster, namespace, "api", spec2)
    wait_for(
        lambda: 2 in {v for vs in running_versions(cluster, namespace, "api").values() for v in vs},
        60,
        "version 2 running somewhere",
    )
    spec3 = rolling_job("supersede", "3", rolling)
    spec3["rollout"]["healthCheck"].update({"intervalSeconds": 2})
    apply_job(cluster, namespace, "api", spec3)
    wait_for(
        lambda: (job_status(cluster, namespace, "api").get("rollout") or {}).get("version") == 3,
        20,
        "rollout of version 3",
    )
    assert job_status(cluster, namespace, "api")["rollout"]["fromVersion"] == 1
    wait_for(
        lambda: (
            phase(cluster, namespace, "api", 3) == "Completed"
            and job_status(cluster, namespace, "api")["stableVersion"] == 3
        ),
        90,
        "version 3 completed",
    )
    assert running_versions(cluster, namespace, "api") == {n: [3] for n in nodes}
    v2 = listed_executions(cluster, namespace, "api", 2)
    # Each stopped, or under --pod-records gone with its pod.
    assert {e["spec"]["desiredState"] for e in v2} == ({LEFT_STOPPED} if LEFT_STOPPED else set())
    # Each node's version 3 pod says its wave and the execution it replaced, as its execution.
    assert pods_say_their_executions(cluster, namespace, "api") == len(nodes)


def test_a_node_where_the_new_version_fails_reverts_and_the_rollout_completes(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """onNodeFailure Revert: version 2 never gets ready on one node; that node goes back to
    version 1 at once, keeps running it after version 2 completed elsewhere, is listed, counted
    and announced; `retry --node` tries version 2 there again (and it is reverted again)."""
    nodes = add_nodes(cluster, "revert", 6)
    bad = nodes[3]
    rollout = {"strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 2,
               "maxFailedNodesPercent": 50, "onNodeFailure": "Revert"}  # fmt: skip
    settle_v1(cluster, namespace, "svc", rolling_job("revert", "1", rollout), nodes)
    apply_job(cluster, namespace, "svc",
              rolling_job("revert", "2", rollout, {"fake.nodewave.io/unready-on": bad}))  # fmt: skip
    wait_for(lambda: phase(cluster, namespace, "svc") == "Completed", 90, "version 2 completed")
    status = job_status(cluster, namespace, "svc")
    assert status["stableVersion"] == 2
    assert (status["rollout"]["revertedNodes"], status["rollout"]["revertedCount"]) == ([bad], 1)
    wait_for(
        lambda: (
            running_versions(cluster, namespace, "svc")
            == {n: [1] if n == bad else [2] for n in nodes}
        ),
        30,
        "the failed node back on version 1, the others on 2",
    )
    assert "NodeReverted" in job_events(cluster, namespace)
    metrics = scrape(operator)
    assert (
        f'nodewave_rollout_reverted_nodes{{job_name="svc",namespace="{namespace}"}} 1.0' in metrics
    )
    time.sleep(2)  # steady state holds it there
    assert running_versions(cluster, namespace, "svc")[bad] == [1]

    def v2_on_bad() -> dict[str, str]:
        items = kubectl_json(cluster, "get", "nwx", "-n", namespace, "-l",
                             "nodewave.io/version=2")["items"]  # fmt: skip
        return {e["metadata"]["uid"]: e.get("status", {}).get("observedState", "")
                for e in items if e["spec"]["nodeName"] == bad}  # fmt: skip

    (before,) = v2_on_bad()
    done = subprocess.run(
        ["kubectl", "nodewave", "retry", "svc", "--node", bad, "-n", namespace],
        capture_output=True, text=True, env=cluster.env(), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_for(lambda: (u := v2_on_bad()) and before not in u and "Failed" in u.values(), 60,
             "version 2 tried again on the node, and failed again")  # fmt: skip
    wait_for(lambda: running_versions(cluster, namespace, "svc").get(bad) == [1], 30,
             "reverted again")  # fmt: skip


def test_steps_pause_wait_for_a_promote_and_bake_then_a_failure_while_baking_rolls_back(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """rollout.steps and bakeSeconds (docs/design.md §3.3): waves of 1, 2 and 3 nodes, a timed
    pause that ends by itself (the pass is woken for it), a pause that waits for
    `kubectl nodewave promote`, a bake before Completed; then a version whose pod turns
    unready while it bakes fails and rolls back."""
    nodes = add_nodes(cluster, "steps", 6)
    steps = {
        "strategy": "Rolling",
        "maxFailedNodes": 0,
        "steps": [{"nodes": 1}, {"pause": {"durationSeconds": 3}}, {"nodes": 2}, {"pause": {}},
                  {"nodes": 3}],
        "bakeSeconds": 4,
    }  # fmt: skip
    settle_v1(cluster, namespace, "agent", rolling_job("steps", "1", steps), nodes)
    apply_job(cluster, namespace, "agent", rolling_job("steps", "2", steps))

    def on_v2() -> int:
        return sum(vs == [2] for vs in running_versions(cluster, namespace, "agent").values())

    wait_for(lambda: phase(cluster, namespace, "agent") == "StepPaused", 60, "the timed pause")
    rollout = job_status(cluster, namespace, "agent")["rollout"]
    assert (rollout["wave"], rollout["totalWaves"], on_v2()) == (1, 3, 1)
    assert rollout["waitUntil"]
    wait_for(
        lambda: phase(cluster, namespace, "agent") == "AwaitingPromotion", 60, "the second pause"
    )
    status = job_status(cluster, namespace, "agent")
    assert (status["rollout"]["wave"], on_v2()) == (2, 3)
    assert "nodewave.io/promote=2:2" in status["rollout"]["message"]
    assert condition(status, "AwaitingPromotion") == ("True", "AwaitingPromotion")
    assert "past wave 2" in ok(cluster, "promote", "agent", "-n", namespace)
    wait_for(lambda: phase(cluster, namespace, "agent") == "Baking", 60, "baking")
    status = job_status(cluster, namespace, "agent")
    assert (status["stableVersion"], on_v2()) == (1, 6), "not stable while it bakes"
    assert condition(status, "Reconciling") == ("True", "Baking")
    wait_for(lambda: phase(cluster, namespace, "agent") == "Completed", 60, "completed")
    status = job_status(cluster, namespace, "agent")
    assert status["stableVersion"] == 2
    assert status["rollout"]["message"] == "version 2 on 6/6 nodes, baked 4 s"
    reasons = job_events(cluster, namespace)
    order = ["StepPaused", "AwaitingPromotion", "Promoted", "Baking", "RolloutComplete"]
    assert [r for r in reasons if r in order][-5:] == order, reasons

    baked = {**steps, "steps": [{"percent": 100}], "bakeSeconds": 120}
    apply_job(cluster, namespace, "agent", rolling_job("steps", "3", baked))
    wait_for(lambda: phase(cluster, namespace, "agent", 3) == "Baking", 60, "version 3 bakes")
    victim = next(
        p["metadata"]["name"]
        for p in kubectl_json(cluster, "get", "pods", "-n", namespace)["items"]
        if p["metadata"]["labels"].get("nodewave.io/version") == "3"
    )
    cluster.kubectl("annotate", "pod", "-n", namespace, victim, "fake.nodewave.io/crash-restarts=4")
    wait_for(lambda: phase(cluster, namespace, "agent", 3) == "RolledBack", 60, "rolled back")
    status = job_status(cluster, namespace, "agent")
    assert (status["stableVersion"], status["rollout"]["failedNodes"]) == (2, 1)
    failed = [
        e
        for e in kubectl_json(
            cluster, "get", "nwx", "-n", namespace, "-l", "nodewave.io/version=3"
        )["items"]
        if (e["status"].get("error") or {}).get("code") == "HealthCheckFailed"
    ]
    assert len(failed) == 1
    assert failed[0]["status"]["stableAt"], "it had been validated"
    assert any(
        h["state"] == "Failed" and h["message"].startswith("failed while the rollout baked")
        for h in failed[0]["status"]["history"]
    ), failed[0]["status"]["history"]
    wait_for(
        lambda: running_versions(cluster, namespace, "agent") == {n: [2] for n in nodes},
        60,
        "every node back on version 2",
    )


def test_max_unavailable_holds_a_wave_while_a_cordoned_node_would_pass_the_budget(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """rollout.maxUnavailable 1 over four nodes, one cordoned by someone else: the wave that
    would make two unavailable waits (WaitingForAvailability, the node named, an Event, the
    metric), nothing moves meanwhile, and it goes on once the node is uncordoned."""
    nodes = add_nodes(cluster, "budget", 4)
    budget = {"strategy": "Rolling", "maxParallel": 25, "maxUnavailable": 1}
    settle_v1(cluster, namespace, "agent", rolling_job("budget", "1", budget), nodes)
    cordoned = nodes[2]
    cluster.kubectl("cordon", cordoned)
    try:
        apply_job(cluster, namespace, "agent", rolling_job("budget", "2", budget))
        wait_for(
            lambda: phase(cluster, namespace, "agent") == "WaitingForAvailability",
            60,
            "held by the budget",
        )
        before = job_status(cluster, namespace, "agent")["rollout"]
        assert f"1 of 4 target nodes are unavailable ({cordoned})" in before["message"]
        assert before["unavailableNodes"] == 1
        time.sleep(3)
        after = job_status(cluster, namespace, "agent")["rollout"]
        assert (after["phase"], after["wave"]) == ("WaitingForAvailability", before["wave"])
        moved = [n for n, vs in running_versions(cluster, namespace, "agent").items() if vs == [2]]
        assert len(moved) == before["wave"], "no node moved while it waited"
        assert "WaitingForAvailability" in job_events(cluster, namespace)
        assert (
            f'nodewave_rollout_unavailable_nodes{{job_name="agent",namespace="{namespace}"}} 1.0'
            in scrape(operator)
        )
    finally:
        cluster.kubectl("uncordon", cordoned)
    wait_for(lambda: phase(cluster, namespace, "agent") == "Completed", 60, "completed")
    assert running_versions(cluster, namespace, "agent") == {n: [2] for n in nodes}
    assert job_status(cluster, namespace, "agent")["rollout"]["unavailableNodes"] == 0
