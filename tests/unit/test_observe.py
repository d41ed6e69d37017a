"""The execution state machine of DESIGN §2, rule by rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nodewave.core.observe import PodAction, evaluate_execution
from nodewave.models.execution import DesiredState, ObservedState
from tests.unit.builders import at, execution, job_spec, node, pod

S = ObservedState
GRACE = timedelta(seconds=60)
NAME = execution("n1").name


def observe(ex, p=None, n=None, spec=None, now: float = 10):  # type: ignore[no-untyped-def]
    return evaluate_execution(
        ex, p, n or node("n1"), spec or job_spec(), at(now), node_lost_grace=GRACE
    )


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
