"""The dashboard's node map (core/views/nodemap.py): nodes grouped by domain in the planner's wave
order, the cell each node shows, the failure budget left, and the changes streamed."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.rollout.engine import evaluate_failure_budget
from nodewave.core.rollout.waves import build_domains, order_nodes
from nodewave.core.views.nodemap import build_map_changes, build_node_map, evaluate_budget_left
from nodewave.models.execution import DesiredState, HealthWindow, ObservedState
from nodewave.models.job import (
    JobStatus,
    PrePullStatus,
    PullFailure,
    RolloutPhase,
    RolloutStatus,
    WebhookStatus,
    WebhookType,
)
from tests.unit.builders import execution, job, job_spec, node
from tests.unit.rollouts import context

S = ObservedState
ZONE = "topology.kubernetes.io/zone"
NODES = {n.name: n for n in [node(f"n{i}", **{ZONE: "b" if i % 3 else "a"}) for i in range(6)]}


def a_job(**rollout: Any) -> Any:
    spec = job_spec(rollout={"healthCheck": {"deadlineSeconds": 60, "successThreshold": 3},
                             "maxFailedNodes": 2, "strategy": "Rolling", **rollout})  # fmt: skip
    status = JobStatus(current_version=2, stable_version=1, target_nodes=6, ready_nodes=5,
                       rollout=RolloutStatus(phase=RolloutPhase.PROGRESSING, version=2, wave=1,
                                             total_waves=3, failed_nodes=1, message="wave 1"))  # fmt: skip
    return job(spec, status)


def test_nodes_are_grouped_by_zone_in_the_planners_wave_order() -> None:
    m = build_node_map(a_job(), [], NODES)
    labels = {n: i.labels for n, i in NODES.items()}
    order = order_nodes("j", labels, build_domains(labels, ZONE))
    assert [d["name"] for d in m["domains"]] == ["a", "b"]
    assert [n for d in m["domains"] for n in d["nodes"]] == order
    assert m["domains"][0]["nodes"] == sorted(["n0", "n3"], key=order.index)


def test_the_rollouts_topology_key_groups_before_the_zone() -> None:
    nodes = {n: node(n, rack=r, **{ZONE: "z"}) for n, r in (("x", "r1"), ("y", "r2"))}
    m = build_node_map(a_job(topologyKey="rack", domainOrder=["r2"]), [], nodes)
    assert [(d["name"], d["nodes"]) for d in m["domains"]] == [("r2", ["y"]), ("r1", ["x"])]
    assert m["job"]["topologyKey"] == "rack"


def test_a_cell_shows_the_current_versions_execution_else_the_running_one() -> None:
    validating = execution("n0", 2, state=S.VALIDATING, wave=1)
    validating.status.health = HealthWindow(consecutive_healthy=2)
    execs = [
        execution("n0", 1, state=S.RUNNING, desired=DesiredState.STOPPED),
        validating,
        execution("n1", 1, state=S.RUNNING),
        execution("n1", 3, state=S.STOPPED, desired=DesiredState.STOPPED),
    ]
    cells = build_node_map(a_job(), execs, NODES)["cells"]
    for cell in cells.values():
        cell.pop("plannedWave", None)  # test_nodes_not_reached_carry_their_planned_wave
    assert cells["n0"] == {"state": "Validating", "version": 2, "stable": False, "wave": 1,
                           "health": [2, 3], "message": ""}  # fmt: skip
    assert cells["n1"] == {"state": "Running", "version": 1, "stable": True, "wave": 1,
                           "health": None, "message": ""}  # fmt: skip
    assert cells["n2"] == {
        "state": "None",
        "version": None,
        "wave": 0,
        "health": None,
        "message": "",
    }


def test_a_node_no_longer_selected_but_still_running_something_is_shown() -> None:
    m = build_node_map(a_job(), [execution("gone", 1, state=S.RUNNING)], NODES)
    assert "gone" in m["cells"]


def test_the_header_says_phase_wave_and_budget() -> None:
    j = a_job()
    j.status.rollout.webhooks = [WebhookStatus(name="cab", type=WebhookType.CONFIRM_ROLLOUT)]
    assert build_node_map(j, [], NODES)["job"] == {
        "namespace": "ns", "name": "j", "type": "Pipeline", "strategy": "Rolling",
        "paused": False, "currentVersion": 2, "stableVersion": 1, "phase": "Progressing",
        "rolloutVersion": 2, "wave": 1, "totalWaves": 3, "message": "wave 1", "waitUntil": None, "failedNodes": 1,
        "budgetLeft": 0, "targetNodes": 6, "readyNodes": 5, "topologyKey": ZONE,
        "webhooks": [{"name": "cab", "type": "ConfirmRollout", "wave": 0, "phase": "Waiting",
                      "attempts": 0, "failures": 0, "message": ""}],
    }  # fmt: skip
    idle = job(job_spec(), JobStatus())
    assert build_node_map(idle, [], NODES)["job"]["phase"] is None


def test_the_budget_left_is_the_smaller_of_the_two_budgets_less_the_failures() -> None:
    j = a_job(maxFailedNodes=5, maxFailedNodesPercent=50)
    assert evaluate_budget_left(j, 6) == 3 - 1  # 50 % of 6 = 3, one failed
    assert evaluate_budget_left(j, 100) == 5 - 1
    assert evaluate_budget_left(a_job(maxFailedNodes=0), 6) == 0


@given(st.lists(st.sampled_from(["Running", "Failed", "Pending"]), min_size=6, max_size=6),
       st.lists(st.sampled_from(["Running", "Failed", "Pending"]), min_size=6, max_size=6))  # fmt: skip
def test_the_changes_turn_one_map_into_the_other(before: list[str], after: list[str]) -> None:
    def map_of(states: list[str]) -> dict[str, Any]:
        cells = {f"n{i}": {"state": s} for i, s in enumerate(states)}
        return {"job": {"phase": states[0]}, "domains": [{"name": "", "nodes": list(cells)}],
                "cells": cells}  # fmt: skip

    old, new = map_of(before), map_of(after)
    changes = build_map_changes(old, new)
    applied = {"job": changes.get("job", old["job"]), "domains": old["domains"],
               "cells": {**old["cells"], **changes.get("cells", {})}}  # fmt: skip
    assert applied == new
    assert set(changes.get("cells", {})) == {f"n{i}" for i in range(6) if before[i] != after[i]}
    assert (changes == {}) is (before == after)


def test_a_new_layout_or_a_first_look_sends_the_whole_map() -> None:
    m = build_node_map(a_job(), [], NODES)
    assert build_map_changes(None, m) == {"full": m}
    moved = {**m, "domains": list(reversed(m["domains"]))}
    assert build_map_changes(m, moved) == {"full": moved}


def test_nodes_not_reached_carry_their_planned_wave_while_the_rollout_is_in_flight() -> None:
    moved = execution("n0", 2, state=S.RUNNING, wave=1)
    labels = {n: i.labels for n, i in NODES.items()}
    left = [n for n in order_nodes("j", labels) if n != "n0"]  # 10 % of 6: a node per wave
    m = build_node_map(a_job(), [moved], NODES)
    assert {n: c.get("plannedWave") for n, c in m["cells"].items()} == {
        "n0": None,
        **{n: 2 + i for i, n in enumerate(left)},
    }
    done = a_job()
    done.status.rollout.phase = RolloutPhase.COMPLETED
    assert all(
        "plannedWave" not in c for c in build_node_map(done, [moved], NODES)["cells"].values()
    )


def test_a_node_whose_pull_failed_before_its_wave_says_so() -> None:
    moved = execution("n0", 2, state=S.RUNNING, wave=1)
    pulling = a_job()
    failure = PullFailure(node="n3", reason="ErrImagePull", message="app:2: not found")
    pulling.status.rollout.pre_pull = PrePullStatus(
        wave=2, nodes=1, failed_count=1, failed=[failure]
    )
    cells = build_node_map(pulling, [moved], NODES)["cells"]
    assert {n: c.get("pullFailed") for n, c in cells.items() if "pullFailed" in c} == {
        "n3": "ErrImagePull: app:2: not found"
    }
    pulling.status.rollout.phase = RolloutPhase.ROLLED_BACK
    assert not any(
        "pullFailed" in c for c in build_node_map(pulling, [moved], NODES)["cells"].values()
    )


def test_of_several_executions_not_of_the_current_version_the_newest_running_is_shown() -> None:
    execs = [
        execution("n0", 1, state=S.STOPPED, desired=DesiredState.STOPPED),
        execution("n0", 3, state=S.RUNNING),
        execution("n0", 4, state=S.STOPPED, desired=DesiredState.STOPPED),
        execution("n1", 1, state=S.STOPPED, desired=DesiredState.STOPPED),
        execution("n1", 3, state=S.STOPPED, desired=DesiredState.STOPPED),
        execution("n2", 3, state=S.RUNNING),
        execution("n2", 2, state=S.PENDING),
    ]
    cells = build_node_map(a_job(), execs, NODES)["cells"]
    assert (cells["n0"]["version"], cells["n1"]["version"], cells["n2"]["version"]) == (3, 3, 2)


def test_a_long_message_is_cut_to_200_characters() -> None:
    ex = execution("n0", 2, state=S.FAILED)
    ex.status.message = "x" * 300
    assert build_node_map(a_job(), [ex], NODES)["cells"]["n0"]["message"] == "x" * 200


def test_the_selector_picks_the_nodes_by_label_by_name_and_a_bad_one_picks_none() -> None:
    by_label = job(job_spec(selector={"matchLabels": {ZONE: "a"}}), JobStatus())
    assert sorted(build_node_map(by_label, [], NODES)["cells"]) == ["n0", "n3"]
    by_name = job(job_spec(selector={"matchNames": ["n1", "n4"]}), JobStatus())
    assert sorted(build_node_map(by_name, [], NODES)["cells"]) == ["n1", "n4"]
    bad = job(job_spec(selector={"matchExpressions": ["zone=>a"]}), JobStatus())
    assert build_node_map(bad, [], NODES)["domains"] == []


def test_a_node_left_out_by_the_selector_keeps_its_zone_and_one_without_a_zone_is_apart() -> None:
    nodes = {**NODES, "x": node("x", **{ZONE: "c"}), "y": node("y")}
    j = job(job_spec(selector={"matchNames": ["n0"]}), JobStatus())
    m = build_node_map(j, [execution("x", 1, state=S.RUNNING), execution("y", 1)], nodes)
    assert {d["name"]: d["nodes"] for d in m["domains"]} == {"a": ["n0"], "c": ["x"], "": ["y"]}


def test_planned_waves_follow_the_rollouts_domains_and_its_size_over_every_target() -> None:
    """Zones a (n0, n3) and b (n1, n2, n4, n5), b first (domainOrder); waves of 40 % of the 6
    targets = 3 nodes (of the 5 left it would be 2), never across a zone. Wave 1 moved b's
    first node (the canary of 1); every other node runs version 1."""
    rollout = {"strategy": "Canary", "canaryCount": 1, "maxParallel": 40, "topologyKey": ZONE,
               "domainOrder": ["b"]}  # fmt: skip
    labels = {n: i.labels for n, i in NODES.items()}
    order = order_nodes("j", labels, build_domains(labels, ZONE), ["b"])
    b, a = order[:4], order[4:]
    execs = [execution(n, 1, state=S.RUNNING, wave=1) for n in order[1:]]
    execs.append(execution(b[0], 2, state=S.RUNNING, wave=1))
    cells = build_node_map(a_job(**rollout), execs, NODES)["cells"]
    assert {n: c.get("plannedWave") for n, c in cells.items()} == {
        b[0]: None,
        b[1]: 2,
        b[2]: 2,
        b[3]: 2,
        a[0]: 3,
        a[1]: 3,
    }
    # Before wave 1 (awaiting a confirmation) the first planned wave is the canary.
    waiting = a_job(**rollout)
    waiting.status.rollout.phase, waiting.status.rollout.wave = (
        RolloutPhase.AWAITING_CONFIRMATION,
        0,
    )
    cells = build_node_map(waiting, [], NODES)["cells"]
    assert [cells[n]["plannedWave"] for n in order] == [1, 2, 2, 2, 3, 3]


def test_a_planned_wave_never_spans_two_domains() -> None:
    """Two canary nodes of b moved; 40 % of 6 = 3, but b has 2 nodes left: wave 2 is those two,
    wave 3 zone a."""
    rollout = {"strategy": "Canary", "canaryCount": 2, "maxParallel": 40, "topologyKey": ZONE,
               "domainOrder": ["b"]}  # fmt: skip
    labels = {n: i.labels for n, i in NODES.items()}
    order = order_nodes("j", labels, build_domains(labels, ZONE), ["b"])
    execs = [execution(n, 2, state=S.RUNNING, wave=1) for n in order[:2]]
    j = a_job(**rollout)
    cells = build_node_map(j, execs, NODES)["cells"]
    assert [cells[n].get("plannedWave") for n in order] == [None, None, 2, 2, 3, 3]


def test_health_shows_only_while_validating_and_the_budget_without_a_rollout() -> None:
    running = execution("n0", 2, state=S.RUNNING, wave=1)
    running.status.health = HealthWindow(consecutive_healthy=3)
    assert build_node_map(a_job(), [running], NODES)["cells"]["n0"]["health"] is None
    idle = job(job_spec(), JobStatus(target_nodes=100))
    assert build_node_map(idle, [], NODES)["job"]["budgetLeft"] == 10


@given(
    st.integers(0, 50), st.floats(0, 100, allow_nan=False), st.integers(0, 5000)
)  # fmt: skip
def test_the_failure_budget_is_the_most_failures_the_engine_tolerates(
    max_failed: int, percent: float, targets: int
) -> None:
    spec = job_spec(rollout={"maxFailedNodes": max_failed, "maxFailedNodesPercent": percent})
    ctx = context(targets=[f"n{i}" for i in range(targets)], **spec.rollout.to_api())
    budget = evaluate_failure_budget(spec.rollout, targets)
    assert not ctx.over_budget(budget)
    assert ctx.over_budget(budget + 1)
