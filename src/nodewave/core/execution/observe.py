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
6. The pod: none → Pending (create it; PodRefused with the API's words when its last create
   was refused); unscheduled → Pending; containers waiting → Starting,
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

from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.snapshot import ExecutionInfo, NodeInfo, PodInfo
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
    baseline: tuple[float | None, str] | None = None
    """A baseline measured for this pass to record (its rate, or None, and what it says);
    None: nothing new."""


def _fail(code: str, message: str, pod: PodInfo | None, started_at: datetime | None) -> Observation:
    return Observation(
        S.FAILED,
        code,
        message,
        PodAction.DELETE if pod is not None and not pod.deleting else PodAction.NONE,
        ErrorInfo(code=code, message=message),
        started_at=started_at,
    )


def _still_running(pod: PodInfo | None) -> bool:
    """A pod that has not ended and is not being deleted: one to delete when its execution's
    result is already decided."""
    return pod is not None and pod.phase in ("Pending", "Running") and not pod.deleting


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
    create_error: str | None = None,
) -> Observation:
    status = execution.status
    started_at = status.started_at
    if started_at is None and pod is not None and pod.phase in ("Running", "Succeeded", "Failed"):
        started_at = pod.started_at or now
    decided = (
        _observe_stop(execution, pod, started_at)  # 1
        or _observe_result(execution, pod, started_at)  # 2
        or _observe_wave(execution)  # 3
    )
    if decided is not None:
        return decided
    lost, lost_deadline = _observe_node(execution, node, now, node_lost_grace, started_at)  # 4
    if lost is not None:
        return lost
    timed_out, deadline = _observe_timeouts(execution, pod, job, now, started_at)  # 5
    if timed_out is not None:
        return timed_out
    obs = _from_pod(pod, status.observed_state, job.effective_restart_policy, create_error)  # 6
    carried, restarts = _count_restarts(execution, pod, obs.reason)  # 7
    if job.max_restarts is not None and restarts > job.max_restarts:
        last = _last_exit(pod)
        said = f"{restarts} restarts, more than maxRestarts={job.max_restarts}"
        if last:
            said += f"; container {last['container']} last exited with code {last['exitCode']}"
        spent = _fail(R.RESTART_BUDGET_SPENT, said, pod, started_at)
        details = {**obs.details, **last}
        return replace(spent, restarts=restarts, replaced_pod_restarts=carried, details=details)
    return replace(  # one copy per observation: every pass makes one per execution
        obs,
        started_at=started_at,
        deadline=_earliest(lost_deadline, deadline),
        restarts=restarts,
        replaced_pod_restarts=carried,
    )


def _observe_stop(
    execution: ExecutionInfo, pod: PodInfo | None, started_at: datetime | None
) -> Observation | None:
    """1. Stop requested. A result stays while its pod terminates: on a real node that takes
    the pod's grace period, and a failed canary must not turn "Stopped" and lose its error."""
    status = execution.status
    if execution.spec.desired_state is not DesiredState.STOPPED:
        return None
    if status.observed_state in (S.COMPLETED, S.FAILED):
        # Its details too (the exit code): a failed canary is stopped by the rollback that
        # follows, and a status rewritten without them lost how it ended.
        return Observation(
            status.observed_state,
            _result_reason(execution),
            status.message,
            PodAction.DELETE if _still_running(pod) else PodAction.NONE,
            error=status.error,
            details=dict(status.details),
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


def _observe_result(
    execution: ExecutionInfo, pod: PodInfo | None, started_at: datetime | None
) -> Observation | None:
    """2. Completed and Failed are final while desiredState stays Running; a failed one's pod
    that still runs (a timeout, a health check) goes."""
    status = execution.status
    if status.observed_state not in (S.COMPLETED, S.FAILED):
        return None
    return Observation(
        status.observed_state,
        _result_reason(execution),
        status.message,
        PodAction.DELETE
        if status.observed_state is S.FAILED and _still_running(pod)
        else PodAction.NONE,
        status.error,
        dict(status.details),
        started_at,
    )


def _observe_wave(execution: ExecutionInfo) -> Observation | None:
    """3. Waiting for its wave: no pod yet."""
    if execution.spec.desired_state is DesiredState.PENDING:
        return Observation(S.PENDING, R.WAITING_FOR_WAVE, "waiting for its rollout wave")
    return None


def _observe_node(
    execution: ExecutionInfo,
    node: NodeInfo | None,
    now: datetime,
    grace: timedelta,
    started_at: datetime | None,
) -> tuple[Observation | None, datetime | None]:
    """4. The node: deleted → Lost; NotReady past the grace period → Lost. Also when, still
    NotReady, it will be."""
    if node is None:
        name = execution.spec.node_name
        error = ErrorInfo(code=R.NODE_DELETED, message=f"node {name} no longer exists")
        lost = Observation(
            S.LOST, R.NODE_DELETED, f"node {name} was deleted", error=error, started_at=started_at
        )
        return lost, None
    if node.ready:
        return None, None
    since = node.ready_since or now
    deadline = since + grace
    if now < deadline:
        return None, deadline
    msg = f"node {node.name} has been NotReady since {since.isoformat()}"
    error = ErrorInfo(code=R.NODE_NOT_READY, message=msg)
    return Observation(S.LOST, R.NODE_NOT_READY, msg, error=error, started_at=started_at), None


def _observe_timeouts(
    execution: ExecutionInfo,
    pod: PodInfo | None,
    job: JobSpec,
    now: datetime,
    started_at: datetime | None,
) -> tuple[Observation | None, datetime | None]:
    """5. Timeouts: total (since creation), queue (not started since creation), execution
    (since start) → Failed, the pod deleted. Also the earliest one still ahead."""
    t = job.timeouts
    created = execution.created_at
    finished = pod is not None and pod.phase in ("Succeeded", "Failed")
    total = _after(created, t.total_timeout_seconds)
    queue = _after(created, t.queue_timeout_seconds) if started_at is None else None
    run = _after(started_at, t.execution_timeout_seconds)
    checks = (
        (total, R.TOTAL_TIMEOUT, f"not finished within totalTimeoutSeconds={t.total_timeout_seconds}"),
        (queue, R.QUEUE_TIMEOUT, f"not started within queueTimeoutSeconds={t.queue_timeout_seconds}"),
        (None if finished else run, R.EXECUTION_TIMEOUT,
         f"still running after executionTimeoutSeconds={t.execution_timeout_seconds}"),
    )  # fmt: skip
    for limit, code, message in checks:
        if limit is not None and now >= limit:
            return _fail(code, message, pod, started_at), None
    return None, _earliest(total, queue, run)


def _after(since: datetime | None, seconds: int | None) -> datetime | None:
    return since + timedelta(seconds=seconds) if since is not None and seconds else None


def _count_restarts(execution: ExecutionInfo, pod: PodInfo | None, reason: str) -> tuple[int, int]:
    """7. Restarts: the container restarts of the pods replaced so far (carried, plus one per
    replaced pod) and the whole count with the current pod's. Past maxRestarts the execution
    fails (RestartBudgetSpent) and its pod is deleted."""
    carried = execution.status.replaced_pod_restarts
    current = pod.restarts if pod is not None and not pod.deleting else 0
    if reason == R.POD_RESTARTED:  # the failed pod goes: its restarts, plus one, carry over
        carried, current = carried + current + 1, 0
    return carried, carried + current


def _from_pod(
    pod: PodInfo | None, previous: ObservedState, policy: RestartPolicy, create_error: str | None
) -> Observation:
    """6. The pod's phase and containers. No pod whose last create the API server refused:
    still Pending (asked again, the refusal may pass: a quota freed), saying why in its words."""
    if pod is None and create_error is not None:
        message = f"the API server refused its pod: {create_error}"
        error = ErrorInfo(code=R.POD_REFUSED, message=create_error)
        return Observation(S.PENDING, R.POD_REFUSED, message, PodAction.CREATE, error)
    if pod is None:
        return Observation(S.PENDING, R.POD_CREATING, "creating the pod", PodAction.CREATE)
    if pod.deleting:
        return Observation(
            S.PENDING, R.POD_REPLACING, "the pod is being deleted; a new one follows"
        )
    details = {"pod": pod.name}
    if pod.restarts:
        details["restarts"] = str(pod.restarts)
    if pod.phase == "Pending" and not pod.node_name:
        return Observation(
            S.PENDING, R.UNSCHEDULED, pod.message or "waiting for the scheduler", details=details
        )
    if pod.phase in ("Pending", "Running"):
        return _failing_wait(pod, details) or _from_live_pod(pod, previous, policy, details)
    if pod.phase == "Succeeded" and policy is not RestartPolicy.ALWAYS:
        return Observation(S.COMPLETED, R.POD_SUCCEEDED, "completed successfully", details=details)
    return _from_ended_pod(pod, policy, details)


def _failing_wait(pod: PodInfo, details: dict[str, str]) -> Observation | None:
    """A container whose start is failing, not just slow (an image that cannot be pulled, a
    crash loop): Degraded, with the kubelet's reason as the error code."""
    failing = next((c for c in pod.containers if c.waiting_reason in R.FAILING_WAIT_REASONS), None)
    if failing is None or failing.waiting_reason is None:
        return None
    code = failing.waiting_reason
    msg = f"container {failing.name}: {code}: {failing.waiting_message or ''}".rstrip(": ")
    return Observation(
        S.DEGRADED, code, msg, error=ErrorInfo(code=code, message=msg), details=details
    )


def _from_live_pod(
    pod: PodInfo, previous: ObservedState, policy: RestartPolicy, details: dict[str, str]
) -> Observation:
    if pod.phase == "Pending":
        return Observation(
            S.STARTING, R.CONTAINERS_STARTING, "containers are starting", details=details
        )
    if pod.ready:
        return Observation(S.RUNNING, R.CONTAINERS_READY, "running", details=details)
    # A run-to-completion pod whose containers all exited 0 is finishing, not degraded: a real
    # kubelet reports it Running and not ready for about a second before Succeeded.
    if policy is not RestartPolicy.ALWAYS and _all_exited_zero(pod):
        return Observation(
            S.RUNNING, R.CONTAINERS_FINISHED, "containers finished; the pod is completing",
            details=details,
        )  # fmt: skip
    # Unready after being up is Degraded; a new pod not ready yet is Starting, even for an
    # execution that was stable before (its pod replaced, or back after a rollback: on a
    # real node the readiness probe takes a period to pass, kwok is ready at once).
    if previous in (S.RUNNING, S.DEGRADED):
        return Observation(
            S.DEGRADED, R.CONTAINERS_NOT_READY, "containers are not ready", details=details
        )
    return Observation(
        S.STARTING, R.CONTAINERS_STARTING, "waiting for containers to become ready", details=details
    )


def _all_exited_zero(pod: PodInfo) -> bool:
    return bool(pod.containers) and all(c.exit_code == 0 for c in pod.containers)


def _last_exit(pod: PodInfo | None) -> dict[str, str]:
    """How the container that last ended did (now, or before its restart): what a failed
    execution keeps in status.details, when the pod that said it is deleted."""
    ended = [
        (c.name, code, c.terminated_reason if c.exit_code is not None else c.last_terminated_reason)
        for c in (pod.containers if pod is not None else ())
        if (code := c.exit_code if c.exit_code is not None else c.last_exit_code) is not None
    ]
    ended.sort(key=lambda e: e[1] == 0)  # a failing container first
    if not ended:
        return {}
    name, code, reason = ended[0]
    return {"container": name, "exitCode": str(code), **({"reason": reason} if reason else {})}


def _from_ended_pod(pod: PodInfo, policy: RestartPolicy, details: dict[str, str]) -> Observation:
    """Failed, or an always-restarting workload that exited: how it ended. Under restartPolicy
    Always the pod is replaced (Degraded), as the DaemonSet controller does."""
    ended = next((c for c in pod.containers if c.exit_code not in (None, 0)), None) or next(
        (c for c in pod.containers if c.terminated_reason), None
    )
    code = pod.reason or (ended.terminated_reason if ended else None) or R.POD_FAILED
    msg = pod.message or "the pod failed"
    if ended is not None and ended.exit_code is not None:
        msg = pod.message or f"container {ended.name} exited with code {ended.exit_code}"
        details["exitCode"] = str(ended.exit_code)
        details["container"] = ended.name
    elif ended is not None:
        msg = pod.message or f"container {ended.name} terminated: {ended.terminated_reason}"
    error = ErrorInfo(code=code, message=msg)
    if policy is RestartPolicy.ALWAYS:
        return Observation(
            S.DEGRADED,
            R.POD_RESTARTED,
            f"{msg}; replacing the pod",
            PodAction.DELETE,
            error,
            details,
        )
    return Observation(S.FAILED, code, msg, error=error, details=details)
