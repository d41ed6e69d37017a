"""The verdict a CI pipeline gates on (core/views/gate.py), rule by rule, and on statuses the planner
itself writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from nodewave.core.job.planner import plan_job
from nodewave.core.views.gate import Gate, Outcome, evaluate_gate
from nodewave.models.base import Condition
from nodewave.models.execution import ObservedState
from nodewave.models.job import JobStatus, RolloutPhase, RolloutStatus
from tests.unit.builders import at, execution, job_spec, node, pod, snapshot

P = RolloutPhase
S = ObservedState


def cond(type_: str, status: str, reason: str = "R", message: str = "m") -> Condition:
    return Condition(type=type_, status=status, reason=reason, message=message,
                     last_transition_time=at(0))  # fmt: skip


def status(**kw: Any) -> JobStatus:
    base: dict[str, Any] = {"observed_generation": 2, "current_version": 2, "target_nodes": 4}
    return JobStatus(**{**base, **kw})


def rollout(
    phase: RolloutPhase, version: int = 2, message: str = "wave 2/4: 1 nodes"
) -> RolloutStatus:
    return RolloutStatus(phase=phase, version=version, message=message)


@dataclass(frozen=True)
class Row:
    status: JobStatus | None
    completes: bool
    gate: Gate
    generation: int = 2


ROWS = [
    pytest.param(Row(None, False, Gate(Outcome.WAITING, "the operator has not reported on this Job yet")),
                 id="no-status"),
    pytest.param(
        Row(status(observed_generation=1, stable_version=2), False,
            Gate(Outcome.WAITING, "waiting for the operator to observe generation 2 (observed 1)")),
        id="a-status-of-the-previous-spec-is-not-judged",
    ),
    pytest.param(
        Row(status(stable_version=1, conditions=[cond("Stalled", "True", "HostAccessNotAllowed", "no")]),
            False, Gate(Outcome.FAILED, "HostAccessNotAllowed: no")),
        id="a-refused-spec-fails",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.ROLLED_BACK, message="rolled back to version 1"),
                   conditions=[cond("Stalled", "True", "RolledBack", "rolled back to version 1")]),
            False, Gate(Outcome.FAILED, "RolledBack: rolled back to version 1")),
        id="rolled-back-fails",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.ABORTED, message="aborted: returning"),
                   conditions=[cond("Stalled", "True", "RolloutAborted", "aborted: returning")]),
            False, Gate(Outcome.FAILED, "RolloutAborted: aborted: returning")),
        id="aborted-fails-at-once",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.WAITING_FOR_WINDOW, message="opens at 22:00")),
            False, Gate(Outcome.PAUSED, "WaitingForWindow: opens at 22:00")),
        id="waiting-for-a-window-is-paused-until-it-opens",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.STEP_PAUSED, message="pausing until 12:00")),
            False, Gate(Outcome.WAITING, "StepPaused: pausing until 12:00")),
        id="a-timed-step-pause-ends-by-itself-waiting",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.BAKING, message="baking until 13:00")),
            False, Gate(Outcome.WAITING, "Baking: baking until 13:00")),
        id="baking-is-waiting-not-succeeded-before-the-bake-ends",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.AWAITING_CONFIRMATION, message="webhook cab")),
            False, Gate(Outcome.PAUSED, "AwaitingConfirmation: webhook cab")),
        id="awaiting-a-confirmation-is-paused",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.ROLLING_BACK, message="rolling back")), False,
            Gate(Outcome.WAITING, "RollingBack: rolling back")),
        id="rolling-back-waits-for-the-end",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.PROGRESSING)), False,
            Gate(Outcome.WAITING, "Progressing: wave 2/4: 1 nodes")),
        id="progressing-waits",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.AWAITING_PROMOTION, message="promote")), False,
            Gate(Outcome.PAUSED, "AwaitingPromotion: promote")),
        id="a-canary-awaiting-promotion-is-paused",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.PAUSED, message="paused before wave 3")), False,
            Gate(Outcome.PAUSED, "Paused: paused before wave 3")),
        id="paused",
    ),
    pytest.param(
        Row(status(stable_version=1, rollout=rollout(P.AWAITING_PROMOTION, version=3)), False,
            Gate(Outcome.WAITING, "wave 2/4: 1 nodes")),
        id="a-rollout-of-another-version-says-nothing-of-this-one",
    ),
    pytest.param(
        Row(status(stable_version=2, rollout=rollout(P.COMPLETED, message="done"),
                   conditions=[cond("Ready", "True", "AllNodesReady", "4/4 nodes running version 2")]),
            False, Gate(Outcome.SUCCEEDED, "version 2 rolled out: 4/4 nodes running version 2")),
        id="completed-succeeds",
    ),
    pytest.param(
        Row(status(stable_version=2, conditions=[cond("Ready", "False", "ExecutionsFailed", "3/4 nodes")]),
            False, Gate(Outcome.SUCCEEDED, "version 2 rolled out: 3/4 nodes (within the failure budget)")),
        id="completed-with-failures-in-the-budget-succeeds-and-says-so",
    ),
    pytest.param(
        Row(status(stable_version=2, conditions=[cond("Complete", "False", "ExecutionsRunning", "1/4 executions finished")]),
            True, Gate(Outcome.WAITING, "version 2: 1/4 executions finished")),
        id="run-to-completion-waits-for-every-execution",
    ),
    pytest.param(
        Row(status(stable_version=2, conditions=[cond("Complete", "True", "SomeFailed", "3/4 executions succeeded")]),
            True, Gate(Outcome.FAILED, "version 2: 3/4 executions succeeded")),
        id="run-to-completion-with-a-failed-execution-fails",
    ),
    pytest.param(
        Row(status(stable_version=2, conditions=[cond("Complete", "True", "AllSucceeded", "4/4 executions succeeded")]),
            True, Gate(Outcome.SUCCEEDED, "version 2: 4/4 executions succeeded")),
        id="run-to-completion-all-succeeded",
    ),
    pytest.param(
        Row(status(target_nodes=0, conditions=[cond("Ready", "True", "NoNodesSelected", "none")]), False,
            Gate(Outcome.SUCCEEDED, "the selector matches no node: nothing to roll out")),
        id="no-node-selected-has-nothing-to-wait-for",
    ),
    pytest.param(
        Row(status(target_nodes=0), False, Gate(Outcome.WAITING, "")),
        id="no-node-counted-but-not-ready-waits",
    ),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS)
def test_gate(row: Row) -> None:
    assert evaluate_gate(row.generation, row.status, completes=row.completes) == row.gate


def test_the_gate_on_the_planners_own_statuses() -> None:
    """A first version placed and Running on two nodes; a Query whose execution failed."""
    nodes = [node("n1"), node("n2")]
    exs = [execution(n.name, state=S.RUNNING, started=1) for n in nodes]
    placing = plan_job(snapshot(nodes), at(0)).status
    assert evaluate_gate(1, placing, completes=False).outcome is Outcome.WAITING
    up = plan_job(
        snapshot(nodes, exs, [pod(e.name, node_name=e.spec.node_name) for e in exs]), at(5)
    )
    assert evaluate_gate(1, up.status, completes=False) == Gate(
        Outcome.SUCCEEDED, "version 1 rolled out: 2/2 nodes running version 1"
    )
    # Within its failure budget a Query completes, and still fails the gate.
    query = job_spec(type="Query", rollout={"maxFailedNodesPercent": 50})
    ended = [execution("n1", state=S.COMPLETED), execution("n2", state=S.FAILED)]
    done = plan_job(snapshot(nodes, ended, spec=query), at(5)).status
    assert evaluate_gate(1, done, completes=True) == Gate(
        Outcome.FAILED, "version 1: 1/2 executions succeeded"
    )
    # Past it (10 % by default) the first version stops: nothing to roll back to.
    strict = job_spec(type="Query")
    stopped = plan_job(snapshot(nodes, ended, spec=strict), at(5)).status
    assert evaluate_gate(1, stopped, completes=True) == Gate(
        Outcome.FAILED,
        "RolloutFailed: stopped: 1 failed nodes > budget (maxFailedNodes 10, "
        "maxFailedNodesPercent 10.0); version 1 is the Job's first, there is no version to "
        "roll back to",
    )
    assert evaluate_gate(2, done, completes=True).outcome is Outcome.WAITING, "a newer spec"
