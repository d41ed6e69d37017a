"""The Job's conditions from (phase, counts): each condition's function, table by table."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from nodewave.core.job_status import (
    CONDITIONS,
    JobCounts,
    build_job_conditions,
    evaluate_awaiting_promotion,
    evaluate_complete,
    evaluate_degraded,
    evaluate_progressing,
    evaluate_ready,
    evaluate_reconciling,
    evaluate_rolled_back,
    evaluate_stalled,
)
from nodewave.models.job import RolloutPhase
from tests.unit.builders import at

P = RolloutPhase
STEADY = JobCounts(
    version=2, target=4, updated=4, failed=0, lost=0, degraded=0, finished=0, completes=False,
    phase=None, rollout_message="", first_deploy=False,
)  # fmt: skip


def counts(**kw: Any) -> JobCounts:
    return dataclasses.replace(STEADY, **kw)


ROLLING = counts(phase=P.PROGRESSING, updated=1, rollout_message="wave 1/2: 2 nodes")
ROLLED_BACK = counts(phase=P.ROLLED_BACK, updated=0, failed=0, rollout_message="rolled back")

CASES = [
    # (id, function, counts, expected (status, reason, message) or None)
    ("ready-steady", evaluate_ready, STEADY, ("True", "AllNodesReady", "4/4 nodes running version 2")),
    ("ready-no-nodes", evaluate_ready, counts(target=0, updated=0),
     ("True", "NoNodesSelected", "the selector matches no node")),
    ("ready-rolling", evaluate_ready, ROLLING,
     ("False", "RolloutInProgress", "1/4 nodes running version 2; wave 1/2: 2 nodes")),
    ("ready-failed-first", evaluate_ready, counts(updated=2, failed=1, lost=1),
     ("False", "ExecutionsFailed", "2/4 nodes running version 2; 1 failed, 1 lost")),
    ("ready-lost", evaluate_ready, counts(updated=3, lost=1),
     ("False", "NodesLost", "3/4 nodes running version 2; 0 failed, 1 lost")),
    ("ready-pending", evaluate_ready, counts(updated=3),
     ("False", "ExecutionsPending", "3/4 nodes running version 2; 0 failed, 0 lost")),
    ("ready-query-running", evaluate_ready, counts(updated=3, completes=True),
     ("False", "ExecutionsRunning", "3/4 nodes completed version 2; 0 failed, 0 lost")),
    ("ready-query-done", evaluate_ready, counts(completes=True),
     ("True", "AllSucceeded", "4/4 nodes completed version 2")),
    ("complete-pipeline-never", evaluate_complete, STEADY, None),
    ("complete-query-running", evaluate_complete, counts(completes=True, finished=3),
     ("False", "ExecutionsRunning", "3/4 executions finished")),
    ("complete-query-some-failed", evaluate_complete, counts(completes=True, finished=4, failed=1),
     ("True", "SomeFailed", "3/4 executions succeeded")),
    ("complete-query-all", evaluate_complete, counts(completes=True, finished=4),
     ("True", "AllSucceeded", "4/4 executions succeeded")),
    ("progressing-steady", evaluate_progressing, STEADY,
     ("True", "RolloutComplete", "4/4 nodes running version 2")),
    ("progressing-first-deploy", evaluate_progressing, counts(first_deploy=True, updated=1),
     ("True", "RolloutInProgress", "1/4 nodes running version 2")),
    ("progressing-rolling", evaluate_progressing, ROLLING,
     ("True", "RolloutInProgress", "wave 1/2: 2 nodes")),
    ("progressing-rolled-back", evaluate_progressing, ROLLED_BACK,
     ("False", "RolledBack", "rolled back")),
    ("progressing-failed", evaluate_progressing, counts(phase=P.FAILED, rollout_message="stopped"),
     ("False", "RolloutFailed", "stopped")),
    ("reconciling-steady", evaluate_reconciling, STEADY,
     ("False", "AsExpected", "nothing to roll out")),
    ("reconciling-rolling", evaluate_reconciling, ROLLING,
     ("True", "RolloutInProgress", "wave 1/2: 2 nodes")),
    ("reconciling-paused", evaluate_reconciling, counts(phase=P.PAUSED, rollout_message="paused"),
     ("True", "RolloutPaused", "paused")),
    ("reconciling-first-deploy", evaluate_reconciling, counts(first_deploy=True, updated=1),
     ("True", "RolloutInProgress", "1/4 nodes running version 2")),
    ("reconciling-not-when-rolled-back", evaluate_reconciling, ROLLED_BACK,
     ("False", "AsExpected", "nothing to roll out")),
    ("stalled-rolled-back", evaluate_stalled, ROLLED_BACK, ("True", "RolledBack", "rolled back")),
    ("stalled-failed", evaluate_stalled, counts(phase=P.FAILED, rollout_message="stopped"),
     ("True", "RolloutFailed", "stopped")),
    ("stalled-not-while-rolling-back", evaluate_stalled, counts(phase=P.ROLLING_BACK),
     ("False", "AsExpected", "not stalled")),
    ("rolled-back", evaluate_rolled_back, ROLLED_BACK, ("True", "RolledBack", "rolled back")),
    ("rolled-back-not", evaluate_rolled_back, ROLLING,
     ("False", "AsExpected", "not rolled back")),
    ("awaiting", evaluate_awaiting_promotion,
     counts(phase=P.AWAITING_PROMOTION, rollout_message="canary validated"),
     ("True", "AwaitingPromotion", "canary validated")),
    ("awaiting-not", evaluate_awaiting_promotion, ROLLING,
     ("False", "AsExpected", "not waiting for a promote")),
    ("degraded-not", evaluate_degraded, STEADY, ("False", "AsExpected", "no execution is failing")),
    ("degraded-failed", evaluate_degraded, counts(failed=1),
     ("True", "ExecutionsFailed", "1 failed, 0 degraded, 0 lost")),
    ("degraded-degraded", evaluate_degraded, counts(degraded=2),
     ("True", "ExecutionsFailed", "0 failed, 2 degraded, 0 lost")),
    ("degraded-lost", evaluate_degraded, counts(lost=1),
     ("True", "NodesLost", "0 failed, 0 degraded, 1 lost")),
    ("degraded-rolling-back", evaluate_degraded,
     counts(phase=P.ROLLING_BACK, failed=1, rollout_message="rolling back"),
     ("True", "RollingBack", "1 failed, 0 degraded, 0 lost; rolling back")),
    ("degraded-rolled-back", evaluate_degraded, ROLLED_BACK,
     ("True", "RolledBack", "0 failed, 0 degraded, 0 lost; rolled back")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("evaluate", "given", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_condition(evaluate: Any, given: JobCounts, expected: Any) -> None:
    assert evaluate(given) == expected


def test_conditions_keep_their_order_and_their_transition_times() -> None:
    first = build_job_conditions([], ROLLING, 3, at(0))
    assert [c.type for c in first] == [t for t, _ in CONDITIONS if t != "Complete"]
    assert {c.observed_generation for c in first} == {3}
    later = build_job_conditions(first, ROLLED_BACK, 4, at(10))
    times = {c.type: c.last_transition_time for c in later}
    assert times["Ready"] == at(0), "Ready stayed False"
    assert times["Stalled"] == at(10), "Stalled turned True"
    assert [c.type for c in later] == [c.type for c in first]
