"""Observed state of one execution, from its pod and its node (docs/design.md §2).

`evaluate_execution` is a pure function of (execution, pod, node, job, now). It returns the
state the execution is in and what its pod needs (created, deleted, or nothing). It does not
write anything; the planner turns a changed observation into one status patch and an Event.

Ownership, as in the seeds' hand-off (004): the operator owns Pending and the decision to start
or stop; once the pod exists, the pod's and node's status are the authority.

Rules, in order:
1. desiredState Stopped: pod present → Stopping (delete it); pod gone → Stopped. A finished
   execution (Completed/Failed) keeps its result.
2. Completed and Failed are final while desiredState stays Running: nothing restarts them.
3. desiredState Pending: the execution waits (for its wave); no pod.
4. Node deleted → Lost; node NotReady for longer than the grace period → Lost. Lost is not
   Failed: it spends no failure budget, and the execution resumes when the node returns.
5. Timeouts: total (since creation), queue (not started since creation), execution (since
   start) → Failed with the timeout as error code; the pod is deleted.
6. The pod: none → Pending (create it); unscheduled → Pending; containers waiting → Starting,
   or Degraded when the wait is a failure (image pull, crash loop); running and ready →
   Running; running and not ready → Starting before it was ever up, Degraded after; Succeeded →
   Completed; Failed → Failed, except with restartPolicy Always, where the pod is replaced
   (Degraded) as the DaemonSet controller does.
7. Restarts (container restarts, plus one per replaced pod) past the Job's maxRestarts →
   Failed (RestartBudgetSpent); the pod is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from nodewave.core import reasons as R
from nodewave.core.snapshot import ExecutionInfo, NodeInfo, PodInfo
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import DesiredState, HealthWindow, ObservedState
from nodewave.models.job import JobSpec, RestartPolicy

S = ObservedState


class PodAction(Enum):
    NONE = "none"
    CREATE = "create"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Observation:
    state: ObservedState
    reason: str
    message: str
    pod_action: PodAction = PodAction.NONE
    error: ErrorInfo | None = None
    details: dict[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    deadline: datetime | None = None
    """The next instant at which this observation may change by time alone (a timeout or the
    node-lost grace), so the planner can ask to be woken then."""
    health: HealthWindow | None = None
    """The health window after this pass's sample, while the execution is validated."""
    health_closed: bool = False
    """A window ended in this pass: its verdict belongs in the status."""
    restarts: int | None = None
    replaced_pod_restarts: int | None = None
    """The restart counts after this pass (see ExecutionStatus); None: unchanged."""


def _fail(code: str, message: str, pod: PodInfo | None, started_at: datetime | None) -> Observation:
    return Observation(
        S.FAILED,
        code,
        message,
        PodAction.DELETE if pod is not None and not pod.deleting else PodAction.NONE,
        ErrorInfo(code=code, message=message),
        started_at=started_at,
    )


def _result_reason(execution: ExecutionInfo) -> str:
    """Why a finished execution ended: its error's code, else its last transition's reason."""
    status = execution.status
    if status.error:
        return status.error.code
    return status.history[-1].reason if status.history else status.observed_state.value


def _earliest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def evaluate_execution(
    execution: ExecutionInfo,
    pod: PodInfo | None,
    node: NodeInfo | None,
    job: JobSpec,
    now: datetime,
    *,
    node_lost_grace: timedelta,
) -> Observation:
    status = execution.status
    previous = status.observed_state
    desired = execution.spec.desired_state
    started_at = status.started_at
    if started_at is None and pod is not None and pod.phase in ("Running", "Succeeded", "Failed"):
        started_at = pod.started_at or now

    # 1. Stop requested. A result stays while its pod terminates: on a real node that takes
    # the pod's grace period, and a failed canary must not turn "Stopped" and lose its error.
    if desired is DesiredState.STOPPED:
        if previous in (S.COMPLETED, S.FAILED):
            return Observation(
                previous,
                _result_reason(execution),
                status.message,
                PodAction.DELETE
                if pod is not None and pod.phase in ("Pending", "Running") and not pod.deleting
                else PodAction.NONE,
                error=status.error,
                started_at=started_at,
            )
        if pod is not None:
            return Observation(
                S.STOPPING,
                R.STOP_REQUESTED,
                "stopping: the pod is being deleted",
                PodAction.NONE if pod.deleting else PodAction.DELETE,
                started_at=started_at,
            )
        return Observation(S.STOPPED, R.STOPPED, "stopped", started_at=started_at)

    # 2. Final results stay.
    if previous in (S.COMPLETED, S.FAILED):
        action = (
            PodAction.DELETE
            if previous is S.FAILED
            and pod is not None
            and pod.phase in ("Pending", "Running")
            and not pod.deleting
            else PodAction.NONE
        )
        return Observation(
            previous,
            _result_reason(execution),
            status.message,
            action,
            status.error,
            dict(status.details),
            started_at,
        )

    # 3. Waiting for its wave.
    if desired is DesiredState.PENDING:
        return Observation(S.PENDING, R.WAITING_FOR_WAVE, "waiting for its rollout wave")

    # 4. The node.
    if node is None:
        return Observation(
            S.LOST,
            R.NODE_DELETED,
            f"node {execution.spec.node_name} was deleted",
            error=ErrorInfo(
                code=R.NODE_DELETED, message=f"node {execution.spec.node_name} no longer exists"
            ),
            started_at=started_at,
        )
    lost_deadline = None
    if not node.ready:
        since = node.ready_since or now
        lost_deadline = since + node_lost_grace
        if now >= lost_deadline:
            msg = f"node {node.name} has been NotReady since {since.isoformat()}"
            return Observation(
                S.LOST,
                R.NODE_NOT_READY,
                msg,
                error=ErrorInfo(code=R.NODE_NOT_READY, message=msg),
                started_at=started_at,
            )

    # 5. Timeouts.
    t = job.timeouts
    total_deadline = (
        execution.created_at + timedelta(seconds=t.total_timeout_seconds)
        if t.total_timeout_seconds
        else None
    )
    queue_deadline = (
        execution.created_at + timedelta(seconds=t.queue_timeout_seconds)
        if t.queue_timeout_seconds and started_at is None
        else None
    )
    run_deadline = (
        started_at + timedelta(seconds=t.execution_timeout_seconds)
        if t.execution_timeout_seconds and started_at is not None
        else None
    )
    if total_deadline and now >= total_deadline:
        return _fail(
            R.TOTAL_TIMEOUT,
            f"not finished within totalTimeoutSeconds={t.total_timeout_seconds}",
            pod,
            started_at,
        )
    if queue_deadline and now >= queue_deadline:
        return _fail(
            R.QUEUE_TIMEOUT,
            f"not started within queueTimeoutSeconds={t.queue_timeout_seconds}",
            pod,
            started_at,
        )
    if (
        run_deadline
        and now >= run_deadline
        and not (pod is not None and pod.phase in ("Succeeded", "Failed"))
    ):
        return _fail(
            R.EXECUTION_TIMEOUT,
            f"still running after executionTimeoutSeconds={t.execution_timeout_seconds}",
            pod,
            started_at,
        )
    deadline = _earliest(lost_deadline, total_deadline, queue_deadline, run_deadline)

    # 6. The pod.
    obs = _from_pod(pod, previous, job.effective_restart_policy)

    # 7. The restart budget: what the pod's restarts, and a failed pod's replacement, cost.
    carried = status.replaced_pod_restarts
    current = pod.restarts if pod is not None and not pod.deleting else 0
    if obs.reason == R.POD_RESTARTED:  # the failed pod goes: its restarts, plus one, carry over
        carried, current = carried + current + 1, 0
    restarts = carried + current
    if job.max_restarts is not None and restarts > job.max_restarts:
        spent = _fail(
            R.RESTART_BUDGET_SPENT,
            f"{restarts} restarts, more than maxRestarts={job.max_restarts}",
            pod,
            started_at,
        )
        return replace(spent, restarts=restarts, replaced_pod_restarts=carried)
    return replace(
        obs,
        started_at=started_at,
        deadline=deadline,
        restarts=restarts,
        replaced_pod_restarts=carried,
    )


def _from_pod(pod: PodInfo | None, previous: ObservedState, policy: RestartPolicy) -> Observation:
    if pod is None:
        return Observation(S.PENDING, R.POD_CREATING, "creating the pod", PodAction.CREATE)
    if pod.deleting:
        return Observation(
            S.PENDING, R.POD_REPLACING, "the pod is being deleted; a new one follows"
        )
    details = {"pod": pod.name}
    if pod.restarts:
        details["restarts"] = str(pod.restarts)
    if pod.phase == "Pending":
        if not pod.node_name:
            return Observation(
                S.PENDING,
                R.UNSCHEDULED,
                pod.message or "waiting for the scheduler",
                details=details,
            )
        for c in pod.containers:
            if c.waiting_reason in R.FAILING_WAIT_REASONS:
                msg = f"container {c.name}: {c.waiting_reason}: {c.waiting_message or ''}".rstrip(
                    ": "
                )
                return Observation(
                    S.DEGRADED,
                    c.waiting_reason,
                    msg,
                    error=ErrorInfo(code=c.waiting_reason, message=msg),
                    details=details,
                )
        return Observation(
            S.STARTING, R.CONTAINERS_STARTING, "containers are starting", details=details
        )
    if pod.phase == "Running":
        if pod.ready:
            return Observation(S.RUNNING, R.CONTAINERS_READY, "running", details=details)
        failing = next(
            (c for c in pod.containers if c.waiting_reason in R.FAILING_WAIT_REASONS), None
        )
        if failing is not None:
            msg = f"container {failing.name}: {failing.waiting_reason}"
            return Observation(
                S.DEGRADED,
                failing.waiting_reason or R.CONTAINERS_NOT_READY,
                msg,
                error=ErrorInfo(code=failing.waiting_reason or R.CONTAINERS_NOT_READY, message=msg),
                details=details,
            )
        # Unready after being up is Degraded; a new pod not ready yet is Starting, even for an
        # execution that was stable before (its pod replaced, or back after a rollback: on a
        # real node the readiness probe takes a period to pass, kwok is ready at once).
        if previous in (S.RUNNING, S.DEGRADED):
            return Observation(
                S.DEGRADED, R.CONTAINERS_NOT_READY, "containers are not ready", details=details
            )
        return Observation(
            S.STARTING,
            R.CONTAINERS_STARTING,
            "waiting for containers to become ready",
            details=details,
        )
    if pod.phase == "Succeeded" and policy is not RestartPolicy.ALWAYS:
        return Observation(S.COMPLETED, R.POD_SUCCEEDED, "completed successfully", details=details)
    # Failed, or an always-restarting workload that exited: report how it ended.
    ended = next((c for c in pod.containers if c.exit_code not in (None, 0)), None) or next(
        (c for c in pod.containers if c.terminated_reason), None
    )
    code = pod.reason or (ended.terminated_reason if ended else None) or R.POD_FAILED
    msg = pod.message or (
        f"container {ended.name} exited with code {ended.exit_code}" if ended else "the pod failed"
    )
    if ended and ended.exit_code is not None:
        details["exitCode"] = str(ended.exit_code)
        details["container"] = ended.name
    if policy is RestartPolicy.ALWAYS:
        return Observation(
            S.DEGRADED,
            R.POD_RESTARTED,
            f"{msg}; replacing the pod",
            PodAction.DELETE,
            ErrorInfo(code=code, message=msg),
            details,
        )
    return Observation(
        S.FAILED, code, msg, error=ErrorInfo(code=code, message=msg), details=details
    )
