"""The execution state machine of docs/design.md §2, rule by rule."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from nodewave.core.execution.observe import PodAction, evaluate_execution
from nodewave.core.job.planner import build_execution_status
from nodewave.core.vocabulary.snapshot import ContainerInfo, ExecutionInfo, NodeInfo, PodInfo
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import DesiredState, ObservedState, Transition
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
    return replace(
        ex, status=ex.status.model_copy(update={"error": error, "message": error.message})
    )


def finished(state: ObservedState, reason: str, message: str, error: ErrorInfo | None = None):  # type: ignore[no-untyped-def]
    """An execution that ended earlier with this reason, message and error (its history has
    transitions before the last, so the last one's reason is the one carried)."""
    ex = execution("n1", state=state)
    history = [
        Transition(state=S.STARTING, time=at(1), reason="ContainersStarting", message=""),
        Transition(state=S.RUNNING, time=at(2), reason="ContainersReady", message="running"),
        Transition(state=state, time=at(3), reason=reason, message=message),
    ]
    update = {"history": history, "message": message, "error": error}
    return replace(ex, status=ex.status.model_copy(update=update))


def with_containers(p: PodInfo, *containers: ContainerInfo) -> PodInfo:
    return replace(p, containers=containers)


@dataclass(frozen=True)
class Case:
    """One rule: an execution, its pod and node, the Job's spec and the time; what the
    observation must say: state, reason, what happens to the pod, message, start, error and
    details (what the execution's status and Event will show)."""

    ex: ExecutionInfo
    pod: PodInfo | None
    node: NodeInfo | None
    spec: JobSpec | None
    now: float
    state: ObservedState
    reason: str
    action: PodAction
    message: str
    started: float | None = None
    """When the execution started, as the observation carries it (seconds)."""
    error: ErrorInfo | None = None
    details: dict[str, str] = field(default_factory=dict)


EXIT_1 = ErrorInfo(code="Error", message="container main exited with code 1")
TIMED_OUT = ErrorInfo(
    code="ExecutionTimeout", message="still running after executionTimeoutSeconds=20"
)

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
            message="creating the pod",
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
            message="waiting for the scheduler",
            details={"pod": NAME},
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
            message="containers are starting",
            details={"pod": NAME},
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
            message="container main: ImagePullBackOff",
            error=ErrorInfo(code="ImagePullBackOff", message="container main: ImagePullBackOff"),
            details={"pod": NAME},
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
            message="container main: ErrImageNeverPull",
            error=ErrorInfo(code="ErrImageNeverPull", message="container main: ErrImageNeverPull"),
            details={"pod": NAME},
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
            message="running",
            started=1,
            details={"pod": NAME},
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
            message="waiting for containers to become ready",
            started=1,
            details={"pod": NAME},
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
            message="containers are not ready",
            started=1,
            details={"pod": NAME},
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
            message="container main: CrashLoopBackOff",
            started=1,
            error=ErrorInfo(code="CrashLoopBackOff", message="container main: CrashLoopBackOff"),
            details={"pod": NAME, "restarts": "4"},
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
            message="completed successfully",
            started=1,
            details={"pod": NAME},
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
            message="container main exited with code 3",
            started=1,
            error=ErrorInfo(code="Error", message="container main exited with code 3"),
            details={"pod": NAME, "exitCode": "3", "container": "main"},
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
            message="the pod failed; replacing the pod",
            started=1,
            error=ErrorInfo(code="Evicted", message="the pod failed"),
            details={"pod": NAME},
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
            message="container main exited with code 1",
            started=1,
            error=ErrorInfo(code="Error", message="container main exited with code 1"),
            details={"pod": NAME, "exitCode": "1", "container": "main"},
        ),
        id="pipeline-never-fails-for-good",
    ),
    pytest.param(
        Case(
            ex=finished(S.COMPLETED, "PodSucceeded", "completed successfully"),
            pod=None,
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.COMPLETED,
            reason="PodSucceeded",
            action=PodAction.NONE,
            message="completed successfully",
        ),
        id="completed-is-final",
    ),
    pytest.param(
        Case(
            ex=finished(S.FAILED, "Error", "container main exited with code 1", EXIT_1),
            pod=None,
            node=node("n1"),
            spec=None,
            now=10,
            state=S.FAILED,
            reason="Error",
            action=PodAction.NONE,
            message="container main exited with code 1",
            error=ErrorInfo(code="Error", message="container main exited with code 1"),
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
            message="stopping: the pod is being deleted",
            started=1,
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
            message="stopping: the pod is being deleted",
            started=1,
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
            message="stopped",
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
            message="",
            started=1,
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
            message="3 unhealthy windows in a row",
            started=1,
            error=ErrorInfo(code="HealthCheckFailed", message="3 unhealthy windows in a row"),
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
            message="3 unhealthy windows in a row",
            started=1,
            error=ErrorInfo(code="HealthCheckFailed", message="3 unhealthy windows in a row"),
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
            message="waiting for containers to become ready",
            started=1,
            details={"pod": NAME},
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
            message="waiting for its rollout wave",
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
            message="node n1 was deleted",
            started=1,
            error=ErrorInfo(code="NodeDeleted", message="node n1 no longer exists"),
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
            message="running",
            started=1,
            details={"pod": NAME},
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
            message="node n1 has been NotReady since 2026-01-01T00:00:00+00:00",
            started=1,
            error=ErrorInfo(
                code="NodeNotReady",
                message="node n1 has been NotReady since 2026-01-01T00:00:00+00:00",
            ),
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
            message="creating the pod",
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
            message="not started within queueTimeoutSeconds=30",
            error=ErrorInfo(
                code="QueueTimeout", message="not started within queueTimeoutSeconds=30"
            ),
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
            message="running",
            started=1,
            details={"pod": NAME},
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
            message="still running after executionTimeoutSeconds=20",
            started=5,
            error=ErrorInfo(
                code="ExecutionTimeout", message="still running after executionTimeoutSeconds=20"
            ),
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
            message="not finished within totalTimeoutSeconds=20",
            started=5,
            error=ErrorInfo(
                code="TotalTimeout", message="not finished within totalTimeoutSeconds=20"
            ),
        ),
        id="total-timeout",
    ),
    pytest.param(
        Case(
            ex=finished(S.FAILED, "ExecutionTimeout", TIMED_OUT.message, TIMED_OUT),
            pod=pod(NAME),
            node=node("n1"),
            spec=None,
            now=30,
            state=S.FAILED,
            reason="ExecutionTimeout",
            action=PodAction.DELETE,
            message="still running after executionTimeoutSeconds=20",
            started=1,
            error=ErrorInfo(
                code="ExecutionTimeout", message="still running after executionTimeoutSeconds=20"
            ),
        ),
        id="timeout-kills-running-pod-later",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=replace(
                pod(NAME, "Pending", False, node_name=None), message="0/3 nodes are available"
            ),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.PENDING,
            reason="Unscheduled",
            action=PodAction.NONE,
            message="0/3 nodes are available",
            details={"pod": NAME},
        ),
        id="unscheduled-says-the-schedulers-message",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=with_containers(
                pod(NAME, "Pending", False),
                ContainerInfo("init-done", False, 0),
                ContainerInfo(
                    "main",
                    False,
                    0,
                    waiting_reason="ImagePullBackOff",
                    waiting_message='Back-off pulling image "app:2"',
                ),
            ),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.DEGRADED,
            reason="ImagePullBackOff",
            action=PodAction.NONE,
            message='container main: ImagePullBackOff: Back-off pulling image "app:2"',
            error=ErrorInfo(
                code="ImagePullBackOff",
                message='container main: ImagePullBackOff: Back-off pulling image "app:2"',
            ),
            details={"pod": NAME},
        ),
        id="a-failing-wait-in-any-container-says-the-kubelets-message",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=replace(pod(NAME), started_at=None),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
            message="running",
            started=10,
            details={"pod": NAME},
        ),
        id="a-running-pod-without-a-start-time-started-now",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING, started=4),
            pod=pod(NAME),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.RUNNING,
            reason="ContainersReady",
            action=PodAction.NONE,
            message="running",
            started=4,
            details={"pod": NAME},
        ),
        id="the-recorded-start-stays",
    ),
    pytest.param(
        Case(
            ex=execution("n1", state=S.RUNNING),
            pod=pod(NAME, deleting=True),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.PENDING,
            reason="PodReplacing",
            action=PodAction.NONE,
            message="the pod is being deleted; a new one follows",
            started=1,
        ),
        id="a-pod-being-deleted-is-replaced-after",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=with_containers(
                pod(NAME, "Failed", False),
                ContainerInfo("sidecar", False, 0, terminated_reason="Completed", exit_code=0),
                ContainerInfo("main", False, 0, terminated_reason="Error", exit_code=2),
            ),
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.FAILED,
            reason="Error",
            action=PodAction.NONE,
            message="container main exited with code 2",
            started=1,
            error=ErrorInfo(code="Error", message="container main exited with code 2"),
            details={"pod": NAME, "exitCode": "2", "container": "main"},
        ),
        id="of-several-containers-the-one-that-failed-is-named",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=with_containers(
                pod(NAME, "Failed", False),
                ContainerInfo("main", False, 0, terminated_reason="OOMKilled"),
            ),
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.FAILED,
            reason="OOMKilled",
            action=PodAction.NONE,
            message="container main terminated: OOMKilled",
            started=1,
            error=ErrorInfo(code="OOMKilled", message="container main terminated: OOMKilled"),
            details={"pod": NAME},
        ),
        id="a-container-terminated-without-an-exit-code-gives-its-reason",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=with_containers(pod(NAME, "Failed", False)),
            node=node("n1"),
            spec=job_spec(type="Query"),
            now=10,
            state=S.FAILED,
            reason="PodFailed",
            action=PodAction.NONE,
            message="the pod failed",
            started=1,
            error=ErrorInfo(code="PodFailed", message="the pod failed"),
            details={"pod": NAME},
        ),
        id="a-pod-failed-without-a-cause",
    ),
    pytest.param(
        Case(
            ex=failed_canary(),
            pod=pod(NAME, "Pending", False),
            node=node("n1"),
            spec=None,
            now=10,
            state=S.FAILED,
            reason="HealthCheckFailed",
            action=PodAction.DELETE,
            message="3 unhealthy windows in a row",
            error=ErrorInfo(code="HealthCheckFailed", message="3 unhealthy windows in a row"),
        ),
        id="stop-keeps-failed-and-deletes-its-pending-pod",
    ),
    pytest.param(
        Case(
            ex=execution("n1", started=5, state=S.RUNNING),
            pod=pod(NAME, "Succeeded", False),
            node=node("n1"),
            spec=job_spec(type="Query", timeouts={"executionTimeoutSeconds": 20}),
            now=30,
            state=S.COMPLETED,
            reason="PodSucceeded",
            action=PodAction.NONE,
            message="completed successfully",
            started=5,
            details={"pod": NAME},
        ),
        id="a-pod-that-succeeded-is-not-timed-out",
    ),
    pytest.param(
        Case(
            ex=execution("n1", started=5, state=S.RUNNING),
            pod=pod(NAME, "Failed", False, exit_code=4),
            node=node("n1"),
            spec=job_spec(type="Query", timeouts={"executionTimeoutSeconds": 20}),
            now=30,
            state=S.FAILED,
            reason="Error",
            action=PodAction.NONE,
            message="container main exited with code 4",
            started=5,
            error=ErrorInfo(code="Error", message="container main exited with code 4"),
            details={"pod": NAME, "exitCode": "4", "container": "main"},
        ),
        id="a-pod-that-failed-keeps-its-own-error-past-the-timeout",
    ),
    pytest.param(
        Case(
            ex=execution("n1"),
            pod=None,
            node=node("n1"),
            spec=job_spec(timeouts={"queueTimeoutSeconds": 30}),
            now=30,
            state=S.FAILED,
            reason="QueueTimeout",
            action=PodAction.NONE,
            message="not started within queueTimeoutSeconds=30",
            error=ErrorInfo(
                code="QueueTimeout", message="not started within queueTimeoutSeconds=30"
            ),
        ),
        id="queue-timeout-without-a-pod-deletes-nothing",
    ),
    pytest.param(
        Case(
            ex=execution("n1", started=5, state=S.RUNNING),
            pod=pod(NAME, deleting=True),
            node=node("n1"),
            spec=job_spec(timeouts={"executionTimeoutSeconds": 20}),
            now=30,
            state=S.FAILED,
            reason="ExecutionTimeout",
            action=PodAction.NONE,
            message="still running after executionTimeoutSeconds=20",
            started=5,
            error=ErrorInfo(
                code="ExecutionTimeout", message="still running after executionTimeoutSeconds=20"
            ),
        ),
        id="a-timeout-does-not-delete-a-pod-twice",
    ),
    pytest.param(
        Case(
            ex=execution("n1", desired=DesiredState.STOPPED, state=S.STOPPING, started=4),
            pod=None,
            node=node("n1"),
            spec=None,
            now=10,
            state=S.STOPPED,
            reason="Stopped",
            action=PodAction.NONE,
            message="stopped",
            started=4,
        ),
        id="stopped-keeps-its-start",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_rules(case: Case) -> None:
    obs = evaluate_execution(
        case.ex, case.pod, case.node, case.spec or job_spec(), at(case.now), node_lost_grace=GRACE
    )
    assert (obs.state, obs.reason, obs.pod_action) == (case.state, case.reason, case.action)
    assert (obs.message, obs.error, obs.details) == (case.message, case.error, case.details)
    assert obs.started_at == (None if case.started is None else at(case.started))


def test_deadline_is_the_next_timeout() -> None:
    obs = observe(
        execution("n1", started=5, state=S.RUNNING),
        pod(NAME),
        spec=job_spec(timeouts={"executionTimeoutSeconds": 20}),
    )
    assert obs.deadline == at(25)
    obs = observe(execution("n1", state=S.RUNNING), pod(NAME), n=node("n1", ready=False, since=8))
    assert obs.deadline == at(68)


@pytest.mark.parametrize(
    ("timeouts", "started", "deadline"),
    [
        pytest.param({"totalTimeoutSeconds": 50}, 5, 50, id="total-alone"),
        pytest.param({"queueTimeoutSeconds": 40}, None, 40, id="queue-alone-before-start"),
        pytest.param({"queueTimeoutSeconds": 40}, 5, None, id="queue-none-after-start"),
        pytest.param({"executionTimeoutSeconds": 30}, 5, 35, id="execution-alone"),
        pytest.param(
            {"totalTimeoutSeconds": 50, "queueTimeoutSeconds": 40, "executionTimeoutSeconds": 45},
            5, 50, id="the-earliest-of-those-that-apply",
        ),
        pytest.param(
            {"totalTimeoutSeconds": 50, "queueTimeoutSeconds": 40}, None, 40, id="queue-first",
        ),
        pytest.param({"totalTimeoutSeconds": 30, "executionTimeoutSeconds": 30}, 5, 30, id="tie"),
    ],
)  # fmt: skip
def test_each_timeout_sets_the_deadline(
    timeouts: dict[str, int], started: float | None, deadline: float | None
) -> None:
    p = pod(NAME) if started is not None else pod(NAME, "Pending", False)
    ex = execution("n1", started=started, state=S.RUNNING if started else S.STARTING)
    obs = observe(ex, p, spec=job_spec(timeouts=timeouts))
    assert obs.deadline == (None if deadline is None else at(deadline))


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
        said = f"{case.restarts} restarts, more than maxRestarts={budget}"
        code = case.pod.containers[0].exit_code if case.pod is not None else None
        if code is not None:  # the exit code kept: the pod that said it is deleted
            said += f"; container main last exited with code {code}"
            assert obs.details["exitCode"] == str(code)
            assert obs.details["container"] == "main"
        assert obs.error.message == said
        assert obs.message == obs.error.message
    assert obs.started_at == at(1), "the start carried, whatever the budget says"


@pytest.mark.parametrize("desired", [DesiredState.STOPPED, DesiredState.RUNNING])
def test_a_result_keeps_its_details_whether_or_not_it_is_stopped(desired: DesiredState) -> None:
    """A failed canary is stopped by the rollback that follows: its status, rewritten then,
    kept the error and lost how the container ended (seen on a real kubelet)."""
    ex = failed_canary(desired)
    kept = {"pod": "p", "container": "main", "exitCode": "1", "reason": "Error"}
    ex = replace(ex, status=ex.status.model_copy(update={"details": kept}))
    obs = observe(ex, pod(NAME, ready=False))
    assert (obs.state, obs.details) == (S.FAILED, kept)
    built = build_execution_status(ex, obs, at(20))
    assert built is None or built[0].details == kept


def test_a_crash_loop_past_its_budget_keeps_the_last_exit_code_and_reason() -> None:
    """In a crash loop the container waits (CrashLoopBackOff); how it last ended is in its
    lastState, which the pod takes with it when it is deleted."""
    crashing = replace(
        pod(NAME, ready=False, waiting="CrashLoopBackOff", restarts=3),
        containers=(ContainerInfo("main", False, 3, waiting_reason="CrashLoopBackOff",
                                  last_exit_code=7, last_terminated_reason="Error"),),
    )  # fmt: skip
    obs = observe(_carrying(0, S.RUNNING), crashing, spec=job_spec(maxRestarts=1))
    assert (obs.state, obs.reason) == (S.FAILED, "RestartBudgetSpent")
    assert obs.error is not None
    assert (
        obs.error.message
        == "3 restarts, more than maxRestarts=1; container main last exited with code 7"
    )
    assert {k: obs.details[k] for k in ("container", "exitCode", "reason")} == {
        "container": "main", "exitCode": "7", "reason": "Error",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("codes", "policy", "state", "reason"),
    [
        ((0,), "Never", S.RUNNING, "ContainersFinished"),
        ((0, 0), "OnFailure", S.RUNNING, "ContainersFinished"),
        ((0, None), "Never", S.DEGRADED, "ContainersNotReady"),  # one still running, unready
        ((0, 2), "Never", S.DEGRADED, "ContainersNotReady"),
        ((0,), "Always", S.DEGRADED, "ContainersNotReady"),  # a workload that should not end
    ],
)
def test_a_finished_container_is_not_a_degraded_one(
    codes: tuple[int | None, ...], policy: str, state: ObservedState, reason: str
) -> None:
    """A real kubelet reports a run-to-completion pod whose containers exited 0 as Running and
    not ready for about a second before Succeeded: that is a pod finishing well (before, every
    successful Update passed through Degraded, with a Warning Event)."""
    finishing = replace(
        pod(NAME, ready=False),
        containers=tuple(
            ContainerInfo(f"c{i}", False, 0, exit_code=c) for i, c in enumerate(codes)
        ),
    )
    spec = job_spec(type="Query" if policy != "Always" else "Pipeline", restartPolicy=policy)
    obs = observe(_carrying(0, S.RUNNING), finishing, spec=spec)
    assert (obs.state, obs.reason) == (state, reason)


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
