"""The rollout engine, pass by pass, on a simulated cluster with an injected clock."""

from __future__ import annotations

import dataclasses

from nodewave.models.execution import ObservedState
from nodewave.models.job import RolloutPhase
from tests.unit.simulation import NODES, run, stable_on, step, versions_running

S = ObservedState


def test_rolling_moves_wave_by_wave_and_completes() -> None:
    snap = stable_on(NODES, {"strategy": "Rolling", "maxParallel": 30})
    first = step(snap, 10)
    assert first.job.status.rollout is not None
    assert (
        first.job.status.rollout.phase,
        first.job.status.rollout.wave,
        first.job.status.rollout.total_waves,
    ) == (RolloutPhase.PROGRESSING, 1, 4)
    assert sum(2 in v for v in versions_running(first).values()) == 3
    done = run(first, 20)
    assert done.job.status.stable_version == 2
    assert versions_running(done) == {n: {2} for n in NODES}
    waves = sorted(e.spec.rollout_wave for e in done.executions if e.spec.job_version == 2)
    assert waves == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]


def test_canary_failure_past_budget_rolls_back_every_moved_node() -> None:
    snap = stable_on(
        NODES, {"strategy": "Canary", "canaryCount": 2, "autoPromote": True, "maxFailedNodes": 1}
    )
    end = run(snap, 15, unready=set(NODES))
    rs = end.job.status.rollout
    assert rs is not None
    assert rs.phase is RolloutPhase.ROLLED_BACK
    assert rs.failed_nodes == 2
    assert end.job.status.stable_version == 1
    assert versions_running(end) == {n: {1} for n in NODES}
    conds = {c.type: c.status for c in end.job.status.conditions}
    assert conds["RolledBack"] == "True"
    assert conds["Stalled"] == "True"


def test_failures_within_budget_complete_and_lost_nodes_are_not_failures() -> None:
    snap = stable_on(
        NODES,
        {
            "strategy": "Rolling",
            "maxParallel": 50,
            "maxFailedNodes": 2,
            "maxFailedNodesPercent": 50,
        },
    )
    bad = {"n1", "n2"}
    end = run(snap, 20, unready=bad)
    rs = end.job.status.rollout
    assert rs is not None
    assert rs.phase is RolloutPhase.COMPLETED
    assert rs.failed_nodes == 2
    assert end.job.status.stable_version == 2


def test_canary_waits_for_promotion_and_pause_holds() -> None:
    snap = stable_on(NODES, {"strategy": "Canary", "canaryCount": 1, "autoPromote": False})
    waiting = run(snap, 5)
    assert waiting.job.status.rollout is not None
    assert waiting.job.status.rollout.phase is RolloutPhase.AWAITING_PROMOTION
    assert sum(2 in v for v in versions_running(waiting).values()) == 1
    promoted = dataclasses.replace(waiting, job=dataclasses.replace(waiting.job, promote="2"))
    done = run(promoted, 20)
    assert done.job.status.stable_version == 2

    paused = stable_on(NODES, {"strategy": "Rolling", "paused": True})
    held = run(paused, 5)
    assert held.job.status.rollout is not None
    assert held.job.status.rollout.phase is RolloutPhase.PAUSED
    assert versions_running(held) == {n: {1} for n in NODES}


def test_a_failed_canary_is_never_promoted_even_within_budget() -> None:
    snap = stable_on(
        NODES,
        {
            "strategy": "Canary",
            "canaryCount": 2,
            "autoPromote": True,
            "maxFailedNodes": 5,
            "maxFailedNodesPercent": 50,
        },
    )
    end = run(snap, 15, unready=set(NODES))
    rs = end.job.status.rollout
    assert rs is not None
    assert rs.phase is RolloutPhase.ROLLED_BACK
    assert rs.failed_nodes == 2  # only the canary ever moved
    assert versions_running(end) == {n: {1} for n in NODES}


def test_a_wave_that_failed_everywhere_stops_the_rollout() -> None:
    snap = stable_on(
        NODES,
        {
            "strategy": "Rolling",
            "maxParallel": 20,
            "maxFailedNodes": 9,
            "maxFailedNodesPercent": 90,
        },
    )
    end = run(snap, 15, unready=set(NODES))
    rs = end.job.status.rollout
    assert rs is not None
    assert rs.phase is RolloutPhase.ROLLED_BACK
    assert rs.failed_nodes == 2  # wave 1 (2 nodes) failed everywhere; wave 2 never started
