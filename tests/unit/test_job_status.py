"""The Job's conditions from (phase, counts): each condition's function, table by table."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from nodewave.core.job.job_status import (
    CONDITIONS,
    JobCounts,
    build_job_conditions,
    evaluate_awaiting_promotion,
    evaluate_complete,
    evaluate_degraded,
    evaluate_progressing,
    evaluate_quarantined,
    evaluate_ready,
    evaluate_reconciling,
    evaluate_rolled_back,
    evaluate_stalled,
    evaluate_steady,
)
from nodewave.models.job import RolloutPhase
from tests.unit.builders import at

P = RolloutPhase
STEADY = JobCounts(
    version=2, target=4, updated=4, ready=4, failed=0, lost=0, degraded=0, finished=0, completes=False,
    quarantined=None, phase=None, rollout_message="",
)  # fmt: skip


def counts(**kw: Any) -> JobCounts:
    return dataclasses.replace(STEADY, **kw)


ROLLING = counts(phase=P.PROGRESSING, updated=1, rollout_message="wave 1/2: 2 nodes")
ROLLED_BACK = counts(phase=P.ROLLED_BACK, updated=0, failed=0, rollout_message="rolled back")
ABORTED = counts(phase=P.ABORTED, updated=2, rollout_message="aborted: returning to version 1")

CASES = [
    # pytest.param(the condition's function, the counts, the expected (status, reason, message) or None)
    pytest.param(
        evaluate_ready,
        STEADY,
        ("True", "AllNodesReady", "4/4 nodes running version 2"),
        id="ready-steady",
    ),
    pytest.param(
        evaluate_ready,
        counts(target=0, updated=0),
        ("True", "NoNodesSelected", "the selector matches no node"),
        id="ready-no-nodes",
    ),
    pytest.param(
        evaluate_ready,
        ROLLING,
        ("False", "RolloutInProgress", "1/4 nodes running version 2; wave 1/2: 2 nodes"),
        id="ready-rolling",
    ),
    pytest.param(
        evaluate_ready,
        counts(updated=2, failed=1, lost=1),
        ("False", "ExecutionsFailed", "2/4 nodes running version 2; 1 failed, 1 lost"),
        id="ready-failed-first",
    ),
    pytest.param(
        evaluate_ready,
        counts(updated=3, lost=1),
        ("False", "NodesLost", "3/4 nodes running version 2; 0 failed, 1 lost"),
        id="ready-lost",
    ),
    pytest.param(
        evaluate_ready,
        counts(updated=3),
        ("False", "ExecutionsPending", "3/4 nodes running version 2; 0 failed, 0 lost"),
        id="ready-pending",
    ),
    pytest.param(
        evaluate_ready,
        counts(updated=3, completes=True),
        ("False", "ExecutionsRunning", "3/4 nodes completed version 2; 0 failed, 0 lost"),
        id="ready-query-running",
    ),
    pytest.param(
        evaluate_ready,
        counts(completes=True),
        ("True", "AllSucceeded", "4/4 nodes completed version 2"),
        id="ready-query-done",
    ),
    pytest.param(evaluate_complete, STEADY, None, id="complete-pipeline-never"),
    pytest.param(
        evaluate_complete,
        counts(completes=True, finished=3),
        ("False", "ExecutionsRunning", "3/4 executions finished"),
        id="complete-query-running",
    ),
    pytest.param(
        evaluate_complete,
        counts(completes=True, finished=4, failed=1),
        ("True", "SomeFailed", "3/4 executions succeeded"),
        id="complete-query-some-failed",
    ),
    pytest.param(
        evaluate_complete,
        counts(completes=True, finished=4),
        ("True", "AllSucceeded", "4/4 executions succeeded"),
        id="complete-query-all",
    ),
    pytest.param(
        evaluate_progressing,
        STEADY,
        ("True", "RolloutComplete", "4/4 nodes running version 2"),
        id="progressing-steady",
    ),
    pytest.param(
        evaluate_progressing,
        ROLLING,
        ("True", "RolloutInProgress", "wave 1/2: 2 nodes"),
        id="progressing-rolling",
    ),
    pytest.param(
        evaluate_progressing,
        ROLLED_BACK,
        ("False", "RolledBack", "rolled back"),
        id="progressing-rolled-back",
    ),
    pytest.param(
        evaluate_progressing,
        counts(phase=P.FAILED, rollout_message="stopped"),
        ("False", "RolloutFailed", "stopped"),
        id="progressing-failed",
    ),
    pytest.param(
        evaluate_reconciling,
        STEADY,
        ("False", "AsExpected", "nothing to roll out"),
        id="reconciling-steady",
    ),
    pytest.param(
        evaluate_reconciling,
        ROLLING,
        ("True", "RolloutInProgress", "wave 1/2: 2 nodes"),
        id="reconciling-rolling",
    ),
    pytest.param(
        evaluate_reconciling,
        counts(phase=P.PAUSED, rollout_message="paused"),
        ("True", "RolloutPaused", "paused"),
        id="reconciling-paused",
    ),
    pytest.param(
        evaluate_reconciling,
        ROLLED_BACK,
        ("False", "AsExpected", "nothing to roll out"),
        id="reconciling-not-when-rolled-back",
    ),
    pytest.param(
        evaluate_stalled,
        ROLLED_BACK,
        ("True", "RolledBack", "rolled back"),
        id="stalled-rolled-back",
    ),
    pytest.param(
        evaluate_stalled,
        counts(phase=P.FAILED, rollout_message="stopped"),
        ("True", "RolloutFailed", "stopped"),
        id="stalled-failed",
    ),
    pytest.param(
        evaluate_stalled,
        counts(phase=P.ROLLING_BACK),
        ("False", "AsExpected", "not stalled"),
        id="stalled-not-while-rolling-back",
    ),
    pytest.param(
        evaluate_stalled,
        ABORTED,
        ("True", "RolloutAborted", "aborted: returning to version 1"),
        id="stalled-aborted-while-its-nodes-return",
    ),
    pytest.param(
        evaluate_reconciling,
        counts(phase=P.WAITING_FOR_WINDOW, rollout_message="opens at 22:00"),
        ("True", "WaitingForWindow", "opens at 22:00"),
        id="reconciling-while-waiting-for-a-window",
    ),
    pytest.param(
        evaluate_reconciling,
        counts(phase=P.AWAITING_CONFIRMATION, rollout_message="webhook cab (asking)"),
        ("True", "AwaitingConfirmation", "webhook cab (asking)"),
        id="reconciling-while-awaiting-a-confirmation",
    ),
    pytest.param(
        evaluate_reconciling,
        ABORTED,
        ("False", "AsExpected", "nothing to roll out"),
        id="reconciling-not-when-aborted",
    ),
    pytest.param(
        evaluate_ready,
        ABORTED,
        ("False", "RolloutAborted", "2/4 nodes running version 2; aborted: returning to version 1"),
        id="ready-not-when-aborted",
    ),
    pytest.param(
        evaluate_progressing,
        ABORTED,
        ("False", "RolloutAborted", "aborted: returning to version 1"),
        id="progressing-aborted",
    ),
    pytest.param(
        evaluate_rolled_back, ROLLED_BACK, ("True", "RolledBack", "rolled back"), id="rolled-back"
    ),
    pytest.param(
        evaluate_rolled_back,
        ROLLING,
        ("False", "AsExpected", "not rolled back"),
        id="rolled-back-not",
    ),
    pytest.param(
        evaluate_awaiting_promotion,
        counts(phase=P.AWAITING_PROMOTION, rollout_message="canary validated"),
        ("True", "AwaitingPromotion", "canary validated"),
        id="awaiting",
    ),
    pytest.param(
        evaluate_awaiting_promotion,
        ROLLING,
        ("False", "AsExpected", "not waiting for a promote"),
        id="awaiting-not",
    ),
    pytest.param(
        evaluate_degraded,
        STEADY,
        ("False", "AsExpected", "no execution is failing"),
        id="degraded-not",
    ),
    pytest.param(
        evaluate_degraded,
        counts(failed=1),
        ("True", "ExecutionsFailed", "1 failed, 0 degraded, 0 lost"),
        id="degraded-failed",
    ),
    pytest.param(
        evaluate_degraded,
        counts(degraded=2),
        ("True", "ExecutionsFailed", "0 failed, 2 degraded, 0 lost"),
        id="degraded-degraded",
    ),
    pytest.param(
        evaluate_degraded,
        counts(lost=1),
        ("True", "NodesLost", "0 failed, 0 degraded, 1 lost"),
        id="degraded-lost",
    ),
    pytest.param(
        evaluate_degraded,
        counts(phase=P.ROLLING_BACK, failed=1, rollout_message="rolling back"),
        ("True", "RollingBack", "1 failed, 0 degraded, 0 lost; rolling back"),
        id="degraded-rolling-back",
    ),
    pytest.param(
        evaluate_degraded,
        ROLLED_BACK,
        ("True", "RolledBack", "0 failed, 0 degraded, 0 lost; rolled back"),
        id="degraded-rolled-back",
    ),
    pytest.param(
        evaluate_degraded,
        ABORTED,
        ("True", "RolloutAborted", "0 failed, 0 degraded, 0 lost; aborted: returning to version 1"),
        id="degraded-aborted",
    ),
]


CASES += [
    pytest.param(evaluate_quarantined, STEADY, None, id="quarantined-only-with-node-maintenance"),
    pytest.param(
        evaluate_quarantined,
        counts(quarantined=()),
        ("False", "AsExpected", "no node is quarantined"),
        id="quarantined-none",
    ),
    pytest.param(
        evaluate_quarantined,
        counts(quarantined=("n1", "n3")),
        ("True", "NodesQuarantined", "2 nodes stay cordoned after their execution failed: n1, "
         "n3; `kubectl nodewave uncordon JOB NODE` releases one"),
        id="quarantined-named",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("evaluate", "given", "expected"), CASES)
def test_condition(evaluate: Any, given: JobCounts, expected: Any) -> None:
    assert evaluate(given) == expected


def test_conditions_keep_their_order_and_their_transition_times() -> None:
    first = build_job_conditions([], ROLLING, 3, at(0))
    # Run-to-completion, nodeMaintenance only, once a pod was refused.
    optional = ("Complete", "NodesQuarantined", "PodsRefused")
    assert [c.type for c in first] == [t for t, _ in CONDITIONS if t not in optional]
    assert {c.observed_generation for c in first} == {3}
    later = build_job_conditions(first, ROLLED_BACK, 4, at(10))
    times = {c.type: c.last_transition_time for c in later}
    assert times["Ready"] == at(0), "Ready stayed False"
    assert times["Stalled"] == at(10), "Stalled turned True"
    assert [c.type for c in later] == [c.type for c in first]


@pytest.mark.parametrize(
    ("c", "steady"),
    [
        (STEADY, True),
        (counts(ready=3, degraded=1), True),  # its pod's events say what happens next
        (ROLLING, False),
        (counts(phase=P.AWAITING_PROMOTION, rollout_message="canary"), False),
        (counts(phase=P.ROLLING_BACK, rollout_message="back"), False),
        (ROLLED_BACK, False),  # not Ready: the short resync, as for anything unresolved
        (counts(phase=P.FAILED, rollout_message="stopped"), False),
        (counts(completes=True, finished=4, ready=0), True),
        (counts(pods_refused=(("j-1-n1", "exceeded quota"),)), False),
    ],
)
def test_steady_means_only_events_and_deadlines_can_change_anything(
    c: JobCounts, steady: bool
) -> None:
    assert evaluate_steady(build_job_conditions([], c, 1, at(0))) is steady
