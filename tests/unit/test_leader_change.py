"""A new leader judges what the last one saw in memory (docs/design.md §4.2): health deadlines
and bakes leave it the windows to do so (`health.evaluate_health_deadline`,
`engine.evaluate_bake_end`), and with `PlannerSettings.validation_record` it takes the Job's
record of settled waves for validation instead of each execution's stableAt. The simulated
leader change forgets everything an execution's status would hold of validation (stableAt,
the last window) and every window in memory, as a leader without custom-resource writes per
node will."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from nodewave.core.execution.health import evaluate_health_deadline
from nodewave.core.job.planner import PlannerSettings
from nodewave.core.rollout.engine import evaluate_bake_end
from nodewave.core.vocabulary.snapshot import Snapshot
from nodewave.models.execution import ObservedState
from nodewave.models.job import HealthCheck, RolloutPhase
from tests.unit.builders import at
from tests.unit.simulation import NODES, stable_on, step

S = ObservedState
CHECK = HealthCheck.model_validate(
    {"deadlineSeconds": 60, "intervalSeconds": 10, "successThreshold": 3, "failureThreshold": 3}
)


@pytest.mark.parametrize(
    ("leading_since", "deadline"),
    [
        (None, 60),  # no leader change known: deadlineSeconds after creation
        (-5, 60),  # led since before the execution: the same
        (5, 60),  # 5 + 4 windows of 10 s = 45, earlier than 60
        (55, 95),  # 55 + 40: the window open at the takeover and successThreshold more
        (200, 240),
    ],
)
def test_the_health_deadline_leaves_a_new_leader_its_windows(
    leading_since: float | None, deadline: float
) -> None:
    since = at(leading_since) if leading_since is not None else None
    assert evaluate_health_deadline(at(0), CHECK, since) == at(deadline)


def test_no_deadline_without_one() -> None:
    check = CHECK.model_copy(update={"deadline_seconds": None})
    assert evaluate_health_deadline(at(0), check, at(50)) is None


@pytest.mark.parametrize(
    ("leading_since", "end"),
    [(None, 60), (-1, 60), (10, 60), (50, 90), (59, 99)],
)
def test_a_bake_lasts_failure_threshold_windows_past_a_takeover(
    leading_since: float | None, end: float
) -> None:
    since = at(leading_since) if leading_since is not None else None
    assert evaluate_bake_end(at(60), at(0), CHECK, since) == at(end)


def test_a_bake_without_health_windows_is_not_extended() -> None:
    check = CHECK.model_copy(update={"deadline_seconds": None})
    assert evaluate_bake_end(at(60), at(0), check, at(50)) == at(60)


# ---- a rollout across a leader change --------------------------------------------------------

TIGHT = {"deadlineSeconds": 6, "intervalSeconds": 1, "successThreshold": 3, "failureThreshold": 1}
"""Three healthy 1-s windows validate; 6 s after creation an execution not validated fails."""


def forget(snap: Snapshot) -> Snapshot:
    """What a new leader holds that never read stableAt: no validation, no window."""
    bare = tuple(
        dataclasses.replace(
            ex, status=ex.status.model_copy(update={"stable_at": None, "health": None})
        )
        for ex in snap.executions
    )
    return dataclasses.replace(snap, executions=bare, health={})


def across_a_leader_change(at_t: float, record: bool, rebase: bool) -> Snapshot:
    """Version 2 in 30 % waves, the leader changing at `at_t`."""
    snap = stable_on(NODES, {"strategy": "Rolling", "maxParallel": 30, "healthCheck": TIGHT})
    settings = None
    for i in range(80):
        t = 10 + i / 4
        if t == at_t:
            snap = forget(snap)
            since = at(t) if rebase else None
            settings = PlannerSettings(leading_since=since, validation_record=record)
        snap = step(snap, t, stamp=True, settings=settings)
    return snap


def failed(snap: Snapshot) -> dict[str, str]:
    return {ex.spec.node_name: ex.status.message for ex in snap.executions
            if ex.status.observed_state is S.FAILED}  # fmt: skip


def validating_again(snap: Snapshot, wave: int) -> bool:
    return any(
        t.state is S.VALIDATING and t.time >= at(15)
        for ex in snap.executions
        if ex.spec.job_version == 2 and ex.spec.rollout_wave == wave
        for t in ex.status.history
    )


def test_with_the_record_and_the_deadline_rebased_a_leader_change_costs_no_node() -> None:
    """At 15 s wave 1 (created at 10, deadline 16) has settled and wave 2 (created at 13) is
    validating: the record says wave 1 was validated, wave 2 is judged again with 4 s to go."""
    snap = across_a_leader_change(15, record=True, rebase=True)
    rs = snap.job.status.rollout
    assert rs is not None
    assert (rs.phase, failed(snap)) == (RolloutPhase.COMPLETED, {})
    assert not validating_again(snap, 1)  # the record's: not judged again
    # Wave 2 validated again by this leader: three new windows from 15 s (it was first
    # validated at 16.5 s, before the change was simulated in the other runs).
    second = [ex.status.stable_at for ex in snap.executions
              if ex.spec.job_version == 2 and ex.spec.rollout_wave == 2]  # fmt: skip
    assert len(second) == 3
    assert all(s is not None and s >= at(18) for s in second), second


def test_without_the_record_validated_nodes_are_judged_again_within_a_rebased_deadline() -> None:
    snap = across_a_leader_change(15, record=False, rebase=True)
    rs = snap.job.status.rollout
    assert rs is not None
    assert (rs.phase, failed(snap)) == (RolloutPhase.COMPLETED, {})
    assert validating_again(snap, 1)


def test_without_the_rebase_a_leader_change_fails_healthy_nodes() -> None:
    """What the rebase prevents: wave 2's windows start again at 15 s and need until 18 s,
    past its deadline (19 s: created at 13)... and wave 1, judged again, past its 16 s."""
    snap = across_a_leader_change(15, record=False, rebase=False)
    assert failed(snap)
    assert all("deadlineSeconds=6" in m for m in failed(snap).values()), failed(snap)


def test_a_leader_taking_over_mid_bake_bakes_its_own_windows() -> None:
    """The bake (3 s) began when the last wave settled; a leader from 1 s before its end
    judges failureThreshold windows of its own (and the one open) before it completes."""
    rollout = {"strategy": "Rolling", "maxParallel": 50, "healthCheck": TIGHT, "bakeSeconds": 3}
    snap, settings, takeover = stable_on(NODES, rollout), None, None
    for i in range(80):
        t = 10 + i / 4
        rs = snap.job.status.rollout
        end = rs.wait_until if rs is not None and rs.phase is RolloutPhase.BAKING else None
        if end is not None and takeover is None and at(t) >= end - timedelta(seconds=1):
            takeover = at(t)
            snap = forget(snap)
            settings = PlannerSettings(leading_since=takeover, validation_record=True)
        snap = step(snap, t, stamp=True, settings=settings)
    rs = snap.job.status.rollout
    assert takeover is not None
    assert rs is not None
    assert rs.phase is RolloutPhase.COMPLETED
    # failureThreshold (1) windows of 1 s and the one open at the takeover: 2 s past it.
    assert rs.wait_until == takeover + timedelta(seconds=2)
    assert rs.finished_at is not None
    assert rs.finished_at >= rs.wait_until
