"""The execution state machine of docs/design.md §2, rule by rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from nodewave.core.observe import PodAction, evaluate_execution
from nodewave.core.planner import build_execution_status
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import DesiredState, ObservedState
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


CASES = [
    # (id, execution, pod, node, spec, now, state, reason/code, pod action)
    (
        "no-pod",
        execution("n1"),
        None,
        node("n1"),
        None,
        10,
        S.PENDING,
        "PodCreating",
        PodAction.CREATE,
    ),
    (
        "unscheduled",
        execution("n1"),
        pod(NAME, "Pending", False, node_name=None),
        node("n1"),
        None,
        10,
        S.PENDING,
        "Unscheduled",
        PodAction.NONE,
    ),
    (
        "containers-creating",
        execution("n1"),
        pod(NAME, "Pending", False),
        node("n1"),
        None,
        10,
        S.STARTING,
        "ContainersStarting",
        PodAction.NONE,
    ),
    (
        "image-pull-failing",
        execution("n1"),
        pod(NAME, "Pending", False, waiting="ImagePullBackOff"),
        node("n1"),
        None,
        10,
        S.DEGRADED,
        "ImagePullBackOff",
        PodAction.NONE,
    ),
    (
        # Seen first on a real node: an image absent under imagePullPolicy Never.
        "image-never-pulled",
        execution("n1"),
        pod(NAME, "Pending", False, waiting="ErrImageNeverPull"),
        node("n1"),
        None,
        10,
        S.DEGRADED,
        "ErrImageNeverPull",
        PodAction.NONE,
    ),
    (
        "running-ready",
        execution("n1"),
        pod(NAME),
        node("n1"),
        None,
        10,
        S.RUNNING,
        "ContainersReady",
        PodAction.NONE,
    ),
    (
        "running-never-ready",
        execution("n1", state=S.STARTING),
        pod(NAME, ready=False),
        node("n1"),
        None,
        10,
        S.STARTING,
        "ContainersStarting",
        PodAction.NONE,
    ),
    (
        "ready-then-not",
        execution("n1", state=S.RUNNING, stable=True),
        pod(NAME, ready=False),
        node("n1"),
        None,
        10,
        S.DEGRADED,
        "ContainersNotReady",
        PodAction.NONE,
    ),
    (
        "crash-loop",
        execution("n1", state=S.RUNNING),
        pod(NAME, ready=False, waiting="CrashLoopBackOff", restarts=4),
        node("n1"),
        None,
        10,
        S.DEGRADED,
        "CrashLoopBackOff",
        PodAction.NONE,
    ),
    (
        "query-succeeded",
        execution("n1"),
        pod(NAME, "Succeeded", False),
        node("n1"),
        job_spec(type="Query"),
        10,
        S.COMPLETED,
        "PodSucceeded",
        PodAction.NONE,
    ),
    (
        "query-failed",
        execution("n1"),
        pod(NAME, "Failed", False, exit_code=3),
        node("n1"),
        job_spec(type="Query"),
        10,
        S.FAILED,
        "Error",
        PodAction.NONE,
    ),
    (
        "pipeline-evicted-is-replaced",
        execution("n1", state=S.RUNNING),
        pod(NAME, "Failed", False, reason="Evicted"),
        node("n1"),
        None,
        10,
        S.DEGRADED,
        "PodRestarted",
        PodAction.DELETE,
    ),
    (
        "pipeline-never-fails-for-good",
        execution("n1"),
        pod(NAME, "Failed", False, exit_code=1),
        node("n1"),
        job_spec(restartPolicy="Never"),
        10,
        S.FAILED,
        "Error",
        PodAction.NONE,
    ),
    (
        "completed-is-final",
        execution("n1", state=S.COMPLETED),
        None,
        node("n1"),
        job_spec(type="Query"),
        10,
        S.COMPLETED,
        "Completed",
        PodAction.NONE,
    ),
    (
        "failed-is-final",
        execution("n1", state=S.FAILED),
        None,
        node("n1"),
        None,
        10,
        S.FAILED,
        "Failed",
        PodAction.NONE,
    ),
    (
        "stop-with-pod",
        execution("n1", desired=DesiredState.STOPPED, state=S.RUNNING),
        pod(NAME),
        node("n1"),
        None,
        10,
        S.STOPPING,
        "StopRequested",
        PodAction.DELETE,
    ),
    (
        "stop-pod-terminating",
        execution("n1", desired=DesiredState.STOPPED, state=S.STOPPING),
        pod(NAME, deleting=True),
        node("n1"),
        None,
        10,
        S.STOPPING,
        "StopRequested",
        PodAction.NONE,
    ),
    (
        "stopped",
        execution("n1", desired=DesiredState.STOPPED, state=S.STOPPING),
        None,
        node("n1"),
        None,
        10,
        S.STOPPED,
        "Stopped",
        PodAction.NONE,
    ),
    (
        "stop-keeps-completed",
        execution("n1", desired=DesiredState.STOPPED, state=S.COMPLETED),
        pod(NAME, "Succeeded", False),
        node("n1"),
        job_spec(type="Query"),
        10,
        S.COMPLETED,
        "Completed",
        PodAction.NONE,
    ),
    (
        # A failed canary's pod takes its grace period to go on a real node: still Failed.
        "stop-keeps-failed-while-its-pod-terminates",
        failed_canary(),
        pod(NAME, ready=False, deleting=True),
        node("n1"),
        None,
        10,
        S.FAILED,
        "HealthCheckFailed",
        PodAction.NONE,
    ),
    (
        "stop-keeps-failed-and-deletes-its-running-pod",
        failed_canary(),
        pod(NAME, ready=False),
        node("n1"),
        None,
        10,
        S.FAILED,
        "HealthCheckFailed",
        PodAction.DELETE,
    ),
    (
        # Back after a rollback, or its pod replaced: a new pod is Starting until first ready.
        "stable-execution-new-pod-not-ready-yet",
        execution("n1", state=S.STARTING, stable=True),
        pod(NAME, ready=False),
        node("n1"),
        None,
        10,
        S.STARTING,
        "ContainersStarting",
        PodAction.NONE,
    ),
    (
        "waiting-for-wave",
        execution("n1", desired=DesiredState.PENDING),
        None,
        node("n1"),
        None,
        10,
        S.PENDING,
        "WaitingForWave",
        PodAction.NONE,
    ),
    (
        "node-deleted",
        execution("n1", state=S.RUNNING),
        pod(NAME),
        None,
        None,
        10,
        S.LOST,
        "NodeDeleted",
        PodAction.NONE,
    ),
    (
        "node-not-ready-within-grace",
        execution("n1", state=S.RUNNING),
        pod(NAME),
        node("n1", ready=False, since=0),
        None,
        59,
        S.RUNNING,
        "ContainersReady",
        PodAction.NONE,
    ),
    (
        "node-not-ready-past-grace",
        execution("n1", state=S.RUNNING),
        pod(NAME),
        node("n1", ready=False, since=0),
        None,
        60,
        S.LOST,
        "NodeNotReady",
        PodAction.NONE,
    ),
    (
        "lost-node-back",
        execution("n1", state=S.LOST),
        None,
        node("n1"),
        None,
        100,
        S.PENDING,
        "PodCreating",
        PodAction.CREATE,
    ),
    (
        "queue-timeout",
        execution("n1"),
        pod(NAME, "Pending", False, node_name=None),
        node("n1"),
        job_spec(timeouts={"queueTimeoutSeconds": 30}),
        30,
        S.FAILED,
        "QueueTimeout",
        PodAction.DELETE,
    ),
    (
        "queue-timeout-not-after-start",
        execution("n1", started=5),
        pod(NAME),
        node("n1"),
        job_spec(timeouts={"queueTimeoutSeconds": 30}),
        31,
        S.RUNNING,
        "ContainersReady",
        PodAction.NONE,
    ),
    (
        "execution-timeout",
        execution("n1", started=5, state=S.RUNNING),
        pod(NAME),
        node("n1"),
        job_spec(timeouts={"executionTimeoutSeconds": 20}),
        25,
        S.FAILED,
        "ExecutionTimeout",
        PodAction.DELETE,
    ),
    (
        "total-timeout",
        execution("n1", started=5, state=S.RUNNING),
        pod(NAME),
        node("n1"),
        job_spec(timeouts={"totalTimeoutSeconds": 20}),
        20,
        S.FAILED,
        "TotalTimeout",
        PodAction.DELETE,
    ),
    (
        "timeout-kills-running-pod-later",
        execution("n1", state=S.FAILED),
        pod(NAME),
        node("n1"),
        None,
        30,
        S.FAILED,
        "Failed",
        PodAction.DELETE,
    ),
]


@pytest.mark.parametrize(
    ("case", "ex", "p", "n", "spec", "now", "state", "reason", "action"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_rules(case, ex, p, n, spec, now, state, reason, action) -> None:  # type: ignore[no-untyped-def]
    obs = evaluate_execution(ex, p, n, spec or job_spec(), at(now), node_lost_grace=GRACE)
    assert (obs.state, obs.reason, obs.pod_action) == (state, reason, action)
    if state in (S.FAILED, S.LOST) and case not in (
        "failed-is-final",
        "timeout-kills-running-pod-later",
    ):
        assert obs.error is not None
        assert obs.error.code == reason


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


BUDGET = [
    # (id, carried, pod, maxRestarts, state, reason, pod action, restarts, carried after)
    (
        "no-budget",
        0,
        pod(NAME, restarts=50),
        None,
        S.RUNNING,
        "ContainersReady",
        PodAction.NONE,
        50,
        0,
    ),
    ("within", 0, pod(NAME, restarts=3), 3, S.RUNNING, "ContainersReady", PodAction.NONE, 3, 0),
    (
        "crash-loop-past-budget",
        0,
        pod(NAME, ready=False, waiting="CrashLoopBackOff", restarts=4),
        3,
        S.FAILED,
        "RestartBudgetSpent",
        PodAction.DELETE,
        4,
        0,
    ),
    (
        "zero-budget",
        0,
        pod(NAME, restarts=1),
        0,
        S.FAILED,
        "RestartBudgetSpent",
        PodAction.DELETE,
        1,
        0,
    ),
    (
        "earlier-pods-count",
        2,
        pod(NAME, restarts=1),
        3,
        S.RUNNING,
        "ContainersReady",
        PodAction.NONE,
        3,
        2,
    ),
    (
        "earlier-pods-spend-it",
        2,
        pod(NAME, restarts=2),
        3,
        S.FAILED,
        "RestartBudgetSpent",
        PodAction.DELETE,
        4,
        2,
    ),
    (
        "replaced-pod-costs-one-more",
        1,
        pod(NAME, "Failed", False, exit_code=1, restarts=1),
        5,
        S.DEGRADED,
        "PodRestarted",
        PodAction.DELETE,
        3,
        3,
    ),
    (
        "replacement-past-budget",
        2,
        pod(NAME, "Failed", False, exit_code=1, restarts=2),
        4,
        S.FAILED,
        "RestartBudgetSpent",
        PodAction.DELETE,
        5,
        5,
    ),
    (
        "pod-going",
        3,
        pod(NAME, deleting=True, restarts=9),
        5,
        S.PENDING,
        "PodReplacing",
        PodAction.NONE,
        3,
        3,
    ),
]


@pytest.mark.parametrize(
    ("carried", "p", "budget", "state", "reason", "action", "restarts", "after"),
    [c[1:] for c in BUDGET],
    ids=[c[0] for c in BUDGET],
)
def test_restart_budget(  # type: ignore[no-untyped-def]
    carried, p, budget, state, reason, action, restarts, after
) -> None:
    spec = job_spec(maxRestarts=budget) if budget is not None else job_spec()
    obs = observe(_carrying(carried), p, spec=spec)
    assert (obs.state, obs.reason, obs.pod_action) == (state, reason, action)
    assert (obs.restarts, obs.replaced_pod_restarts) == (restarts, after)
    if state is S.FAILED:
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
