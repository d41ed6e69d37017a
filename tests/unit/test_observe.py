"""The execution state machine of docs/design.md §2, rule by rule."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from nodewave.core.observe import PodAction, evaluate_execution
from nodewave.core.planner import build_execution_status
from nodewave.core.snapshot import ExecutionInfo, NodeInfo, PodInfo
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import JobSpec
from tests.unit.builders import at, execution, job_spec, node, pod

S = ObservedState
GRACE = timedelta(seconds=60)
NAME = execution("n1").name


def observe(ex, p=None, n=None, spec=None, now: float = 10):  # type: ignore[no-untyped-def]
    return evaluate_execution(
        ex, p, n or node("n1"), spec or job_spec(), at(now), node_lost_grace=GRACE
    )


def failed_canary(desired: DesiredState = DesiredState.STOPPED):  # type: ignore[no-untyped-def]
    ex = execution("n1", desired=desired, state=S.FAILED)
    error = ErrorInfo(code="HealthCheckFailed", message="3 unhealthy windows in a row")
    return replace(ex, status=ex.status.model_copy(update={"error": error}))


@dataclass(frozen=True)
class Case:
    """One rule: an execution, its pod and node, the Job's spec and the time; what the
    observation must say (state, reason or error code, and what happens to the pod)."""

    ex: ExecutionInfo
    pod: PodInfo | None
    node: NodeInfo | None
    spec: JobSpec | None
    now: float
    state: ObservedState
    reason: str
    action: PodAction


CASES = [
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=None,
            node=node("n1"),
            spec=None,
            now=10,
            state=S.PENDING,
            reason="PodCreating",
            action=PodAction.CREATE,
        ),
        id="no-pod",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Pending", False, node_name=None),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.PENDING,
            reason="Unscheduled",
            action=PodAction.NONE,
        ),
        id="unscheduled",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Pending", False),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.STARTING,
            reason="ContainersStarting",
            action=PodAction.NONE,
        ),
        id="containers-creating",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Pending", False, waiting="ImagePullBackOff"),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.DEGRADED,
            reason="ImagePullBackOff",
            action=PodAction.NONE,
        ),
        id="image-pull-failing",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Pending", False, waiting="ErrImageNeverPull"),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.DEGRADED,
            reason="ErrImageNeverPull",
            action=PodAction.NONE,
        ),
        id="image-never-pulled",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
        ),
        id="running-ready",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.STARTING),
            pod=pod(NAME, ready=False),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.STARTING,
            reason="ContainersStarting",
            action=PodAction.NONE,
        ),
        id="running-never-ready",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING, stable=True),
            pod=pod(NAME, ready=False),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.DEGRADED,
            reason="ContainersNotReady",
            action=PodAction.NONE,
        ),
        id="ready-then-not",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING),
            pod=pod(NAME, ready=False, waiting="CrashLoopBackOff", restarts=4),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.DEGRADED,
            reason="CrashLoopBackOff",
            action=PodAction.NONE,
        ),
        id="crash-loop",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Succeeded", False),
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.COMPLETED,
            reason="PodSucceeded",
            action=PodAction.NONE,
        ),
        id="query-succeeded",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Failed", False, exit_code=3),
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.FAILED,
            reason="Error",
            action=PodAction.NONE,
        ),
        id="query-failed",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING),
            pod=pod(NAME, "Failed", False, reason="Evicted"),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.DEGRADED,
            reason="PodRestarted",
            action=PodAction.DELETE,
        ),
        id="pipeline-evicted-is-replaced",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Failed", False, exit_code=1),
            node=node("n1"),
            spec=job_spec(restartPolicy="Never"),
            now=10,
            state=S.FAILED,
            reason="Error",
            action=PodAction.NONE,
        ),
        id="pipeline-never-fails-for-good",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.COMPLETED),
            pod=None,
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.COMPLETED,
            reason="Completed",
            action=PodAction.NONE,
        ),
        id="completed-is-final",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.FAILED),
            pod=None,
            node=node("n1"),
            spec=None,
            now=10,
            state=S.FAILED,
            reason="Failed",
            action=PodAction.NONE,
        ),
        id="failed-is-final",
    ),
    pytest.param(
        Case(
            ex=execution("n1", desired=DesiredState.STOPPED, state=S.RUNNING),
            pod=pod(NAME),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.STOPPING,
            reason="StopRequested",
            action=PodAction.DELETE,
        ),
        id="stop-with-pod",
    ),
    pytest.param(
        Case(
            ex=execution("n1", desired=DesiredState.STOPPED, state=S.STOPPING),
            pod=pod(NAME, deleting=True),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.STOPPING,
            reason="StopRequested",
            action=PodAction.NONE,
        ),
        id="stop-pod-terminating",
    ),
    pytest.param(
        Case(
            ex=execution("n1", desired=DesiredState.STOPPED, state=S.STOPPING),
            pod=None,
            node=node("n1"),
            spec=None,
            now=10,
            state=S.STOPPED,
            reason="Stopped",
            action=PodAction.NONE,
        ),
        id="stopped",
    ),
    pytest.param(
        Case(
            ex=execution("n1", desired=DesiredState.STOPPED, state=S.COMPLETED),
            pod=pod(NAME, "Succeeded", False),
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.COMPLETED,
            reason="Completed",
            action=PodAction.NONE,
        ),
        id="stop-keeps-completed",
    ),
    pytest.param(
        Case(
            ex=failed_canary(),
            pod=pod(NAME, ready=False, deleting=True),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.FAILED,
            reason="HealthCheckFailed",
            action=PodAction.NONE,
        ),
        id="stop-keeps-failed-while-its-pod-terminates",
    ),
    pytest.param(
        Case(
            ex=failed_canary(),
            pod=pod(NAME, ready=False),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.FAILED,
            reason="HealthCheckFailed",
            action=PodAction.DELETE,
        ),
        id="stop-keeps-failed-and-deletes-its-running-pod",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.STARTING, stable=True),
            pod=pod(NAME, ready=False),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.STARTING,
            reason="ContainersStarting",
            action=PodAction.NONE,
        ),
        id="stable-execution-new-pod-not-ready-yet",
    ),
    pytest.param(
        Case(
            ex=execution("n1", desired=DesiredState.PENDING),
            pod=None,
            node=node("n1"),
            spec=None,
            now=10,
            state=S.PENDING,
            reason="WaitingForWave",
            action=PodAction.NONE,
        ),
        id="waiting-for-wave",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING),
            pod=pod(NAME),
            node=None,
            spec=None,
            now=10,
            state=S.LOST,
            reason="NodeDeleted",
            action=PodAction.NONE,
        ),
        id="node-deleted",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING),
            pod=pod(NAME),
            node=node("n1", ready=False, since=0),
            spec=None,
            now=59,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
        ),
        id="node-not-ready-within-grace",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING),
            pod=pod(NAME),
            node=node("n1", ready=False, since=0),
            spec=None,
            now=60,
            state=S.LOST,
            reason="NodeNotReady",
            action=PodAction.NONE,
        ),
        id="node-not-ready-past-grace",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.LOST),
            pod=None,
            node=node("n1"),
            spec=None,
            now=100,
            state=S.PENDING,
            reason="PodCreating",
            action=PodAction.CREATE,
        ),
        id="lost-node-back",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=pod(NAME, "Pending", False, node_name=None),
            node=node("n1"),
            spec=job_spec(timeouts={"queueTimeoutSeconds": 30}),
            now=30,
            state=S.FAILED,
            reason="QueueTimeout",
            action=PodAction.DELETE,
        ),
        id="queue-timeout",
    ),
    pytest.param(
        Case(
            ex=execution("n1", started=5),
            pod=pod(NAME),
            node=node("n1"),
            spec=job_spec(timeouts={"queueTimeoutSeconds": 30}),
            now=31,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
        ),
        id="queue-timeout-not-after-start",
    ),
    pytest.param(
        Case(
            ex=execution("n1", started=5, state=S.RUNNING),
            pod=pod(NAME),
            node=node("n1"),
            spec=job_spec(timeouts={"executionTimeoutSeconds": 20}),
            now=25,
            state=S.FAILED,
            reason="ExecutionTimeout",
            action=PodAction.DELETE,
        ),
        id="execution-timeout",
    ),
    pytest.param(
        Case(
            ex=execution("n1", started=5, state=S.RUNNING),
            pod=pod(NAME),
            node=node("n1"),
            spec=job_spec(timeouts={"totalTimeoutSeconds": 20}),
            now=20,
            state=S.FAILED,
            reason="TotalTimeout",
            action=PodAction.DELETE,
        ),
        id="total-timeout",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.FAILED),
            pod=pod(NAME),
            node=node("n1"),
            spec=None,
            now=30,
            state=S.FAILED,
            reason="Failed",
            action=PodAction.DELETE,
        ),
        id="timeout-kills-running-pod-later",
    ),
]


# Rows whose Failed result was decided earlier: the error is the one recorded then.
KEEPS_RECORDED_ERROR = {"failed-is-final", "timeout-kills-running-pod-later"}


@pytest.mark.parametrize("case", CASES)
def test_rules(case: Case, request: pytest.FixtureRequest) -> None:
    obs = evaluate_execution(
        case.ex, case.pod, case.node, case.spec or job_spec(), at(case.now), node_lost_grace=GRACE
    )
    assert (obs.state, obs.reason, obs.pod_action) == (case.state, case.reason, case.action)
    if case.state in (S.FAILED, S.LOST) and request.node.callspec.id not in KEEPS_RECORDED_ERROR:
        assert obs.error is not None
        assert obs.error.code == case.reason


def test_deadline_is_the_next_timeout() -> None:
    obs = observe(
        execution("n1", started=5, state=S.RUNNING),
        pod(NAME),
        spec=job_spec(timeouts={"executionTimeoutSeconds": 20}),
    )
    assert obs.deadline == at(25)
    obs = observe(execution("n1", state=S.RUNNING), pod(NAME), n=node("n1", ready=False, since=8))
    assert obs.deadline == at(68)


def _carrying(carried: int, state: ObservedState = S.DEGRADED):  # type: ignore[no-untyped-def]
    ex = execution("n1", state=state, started=1)
    return replace(ex, status=ex.status.model_copy(update={"replaced_pod_restarts": carried}))


@dataclass(frozen=True)
class BudgetCase:
    """Restarts carried from replaced pods, the pod now and the Job's maxRestarts; what the
    observation says and the restart counts it records."""

    carried: int
    pod: PodInfo
    max_restarts: int | None
    state: ObservedState
    reason: str
    action: PodAction
    restarts: int
    carried_after: int


BUDGET = [
    pytest.param(
        BudgetCase(
            carried=0,
            pod=pod(NAME, restarts=50),
            max_restarts=None,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
            restarts=50,
            carried_after=0,
        ),
        id="no-budget",
    ),
    pytest.param(
        BudgetCase(
            carried=0,
            pod=pod(NAME, restarts=3),
            max_restarts=3,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
            restarts=3,
            carried_after=0,
        ),
        id="within",
    ),
    pytest.param(
        BudgetCase(
            carried=0,
            pod=pod(NAME, ready=False, waiting="CrashLoopBackOff", restarts=4),
            max_restarts=3,
            state=S.FAILED,
            reason="RestartBudgetSpent",
            action=PodAction.DELETE,
            restarts=4,
            carried_after=0,
        ),
        id="crash-loop-past-budget",
    ),
    pytest.param(
        BudgetCase(
            carried=0,
            pod=pod(NAME, restarts=1),
            max_restarts=0,
            state=S.FAILED,
            reason="RestartBudgetSpent",
            action=PodAction.DELETE,
            restarts=1,
            carried_after=0,
        ),
        id="zero-budget",
    ),
    pytest.param(
        BudgetCase(
            carried=2,
            pod=pod(NAME, restarts=1),
            max_restarts=3,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
            restarts=3,
            carried_after=2,
        ),
        id="earlier-pods-count",
    ),
    pytest.param(
        BudgetCase(
            carried=2,
            pod=pod(NAME, restarts=2),
            max_restarts=3,
            state=S.FAILED,
            reason="RestartBudgetSpent",
            action=PodAction.DELETE,
            restarts=4,
            carried_after=2,
        ),
        id="earlier-pods-spend-it",
    ),
    pytest.param(
        BudgetCase(
            carried=1,
            pod=pod(NAME, "Failed", False, exit_code=1, restarts=1),
            max_restarts=5,
            state=S.DEGRADED,
            reason="PodRestarted",
            action=PodAction.DELETE,
            restarts=3,
            carried_after=3,
        ),
        id="replaced-pod-costs-one-more",
    ),
    pytest.param(
        BudgetCase(
            carried=2,
            pod=pod(NAME, "Failed", False, exit_code=1, restarts=2),
            max_restarts=4,
            state=S.FAILED,
            reason="RestartBudgetSpent",
            action=PodAction.DELETE,
            restarts=5,
            carried_after=5,
        ),
        id="replacement-past-budget",
    ),
    pytest.param(
        BudgetCase(
            carried=3,
            pod=pod(NAME, deleting=True, restarts=9),
            max_restarts=5,
            state=S.PENDING,
            reason="PodReplacing",
            action=PodAction.NONE,
            restarts=3,
            carried_after=3,
        ),
        id="pod-going",
    ),
]


@pytest.mark.parametrize("case", BUDGET)
def test_restart_budget(case: BudgetCase) -> None:
    budget = case.max_restarts
    spec = job_spec(maxRestarts=budget) if budget is not None else job_spec()
    obs = observe(_carrying(case.carried), case.pod, spec=spec)
    assert (obs.state, obs.reason, obs.pod_action) == (case.state, case.reason, case.action)
    assert (obs.restarts, obs.replaced_pod_restarts) == (case.restarts, case.carried_after)
    if case.state is S.FAILED:
        assert obs.error is not None
        assert obs.error.code == "RestartBudgetSpent"
        assert f"maxRestarts={budget}" in obs.error.message


def test_a_spent_budget_is_final_and_the_counts_reach_the_status() -> None:
    spec = job_spec(maxRestarts=1)
    ex = _carrying(0, S.RUNNING)
    obs = observe(ex, pod(NAME, ready=False, waiting="CrashLoopBackOff", restarts=2), spec=spec)
    built = build_execution_status(ex, obs, at(10))
    assert built is not None
    status, event = built
    assert (status.observed_state, status.restarts, status.error.code) == (  # type: ignore[union-attr]
        S.FAILED,
        2,
        "RestartBudgetSpent",
    )
    assert event is not None
    assert event.reason == "Failed"
    failed = replace(ex, status=status)
    assert observe(failed, None, spec=spec).state is S.FAILED  # no new pod, no retry by itself
