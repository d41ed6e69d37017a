"""Plan one pass over one Job: which executions and pods must exist, what each one's observed
state is, and what the Job's status says — as actions for the kube layer to apply.

Assumptions and invariants (in the manner of the DaemonSet controller's update.go):
- The snapshot may be stale by a few watch events. Every action is therefore idempotent
  (deterministic names; AlreadyExists and NotFound are success), and the plan never depends
  on an object the snapshot does not show.
- At most one execution exists per (job, version, node); its name is a function of the three.
  On each selected node the current version's execution is wanted Running and every other
  version's execution is wanted Stopped.
- The operator never restarts an execution a user stopped: only executions it stopped itself
  (node no longer selected, superseded) does it start again.
- Completed and Failed are final for an execution; a later version or a user's retry starts
  anew.
- Status is written only when it changed: one patch per changed execution per pass, one for
  the Job. A brand-new execution is not written in the pass that creates it, nor while it is
  Pending or Starting normally within its first `settle` seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from nodewave.core.execution.health import (
    HEALTH_CHECK_DEADLINE,
    VALIDATED,
    VALIDATING,
    HealthResult,
    Verdict,
    evaluate_health,
    evaluate_health_deadline,
)
from nodewave.core.execution.maintenance import plan_node_maintenance, prepares_node
from nodewave.core.execution.observe import Observation, PodAction, evaluate_execution
from nodewave.core.execution.podspec import plan_pull_images
from nodewave.core.execution.record import (
    build_cancel_entry,
    build_pod_action,
    evaluate_pod_record,
    evaluate_recorded_validation,
)
from nodewave.core.job.job_status import JobCounts, build_job_conditions, evaluate_steady
from nodewave.core.job.notifications import plan_notifications
from nodewave.core.job.podsecurity import Level
from nodewave.core.job.policy import (
    PolicyVerdict,
    ServiceAccountRef,
    evaluate_maintenance_policy,
    evaluate_template_policy,
)
from nodewave.core.job.selector import NodeSelector, SelectorError, build_selector
from nodewave.core.job.taints import build_tolerations, evaluate_taints
from nodewave.core.rollout.availability import evaluate_unavailable
from nodewave.core.rollout.engine import (
    RolloutContext,
    RolloutDecision,
    build_rollout_context,
    plan_rollout,
)
from nodewave.core.rollout.prepull import Pull, PullState, evaluate_pull
from nodewave.core.rollout.progress import group_by_node
from nodewave.core.rollout.restart import RestartDecision, parse_restart_at, plan_restart
from nodewave.core.rollout.waves import Domains, build_domains, order_nodes
from nodewave.core.rollout.windows import WindowError, evaluate_windows
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import (
    Action,
    CreateExecution,
    CreatePod,
    CreatePullPod,
    CreateRevision,
    DeleteExecution,
    DeletePod,
    DeleteRevision,
    EnsureConfigMap,
    EventIntent,
    PatchExecutionStatus,
    SetDesiredState,
)
from nodewave.core.vocabulary.conditions import condition_status, set_condition
from nodewave.core.vocabulary.naming import (
    build_execution_name,
    build_incarnation,
    build_pull_pod_name,
)
from nodewave.core.vocabulary.snapshot import (
    ExecutionInfo,
    JobInfo,
    NodeInfo,
    PodInfo,
    Snapshot,
    VersionSpec,
)
from nodewave.models.base import ConditionStatus, ErrorInfo
from nodewave.models.execution import (
    MAX_HISTORY,
    TERMINAL_STATES,
    DesiredState,
    ExecutionStatus,
    HealthWindow,
    ObservedState,
    Transition,
)
from nodewave.models.job import HealthCheck, JobSpec, JobStatus, RolloutPhase

S = ObservedState
WARNING_STATES = frozenset({S.FAILED, S.LOST, S.DEGRADED})
SETTLING = frozenset({S.PENDING, S.STARTING})
SLOW_START_RETRY = timedelta(seconds=1)
"""After creating executions, or with some left to create, look again this soon at the latest
(the pods coming up usually wake a pass sooner)."""


@dataclass(frozen=True, slots=True)
class PlannerSettings:
    node_lost_grace: timedelta = timedelta(seconds=60)
    """How long a node may be NotReady before its executions are Lost."""
    resync: timedelta = timedelta(seconds=30)
    """Longest sleep between passes over a Job with something under way, whatever the events
    say."""
    steady_resync: timedelta = timedelta(minutes=10)
    """Longest sleep between passes over a steady Job (`evaluate_steady`): everything it waits
    for is watched or has a deadline, so this pass only guards against what no watch tells
    (like client-go's resync period; Argo Rollouts' is 15 minutes)."""
    settle: timedelta = timedelta(seconds=30)
    """A new execution's first status is written once it is Running or in trouble, or after
    this long. Pending and Starting of a healthy placement are brief; writing each of them (and
    its Event) would triple the API writes of a placement on 1,000 nodes, which on a busy API
    server costs more time than it shows. Until then the Job's counts show it as Pending."""
    operator_account: ServiceAccountRef | None = None
    """The operator's own ServiceAccount, which no execution pod may run as."""
    pod_security_default: Level = Level.BASELINE
    """The Pod Security level of a namespace that names none (core/job/policy.py)."""
    leading_since: datetime | None = None
    """When this operator became the leader (or started, without leader election): health
    deadlines and bakes leave it the windows to judge what it did not see before
    (`health.evaluate_health_deadline`, `engine.evaluate_bake_end`)."""
    validation_record: bool = False
    """Take an execution as validated when the Job's record of settled waves says so, without
    its stableAt (`record.evaluate_recorded_validation`): how a leader will run once nodes
    have no custom resource of their own on the normal path (docs/design.md §4.2). Off: the
    record is written and checked, not read."""
    max_creates: int = 500
    """Executions created and not yet up (no status written, still Pending or Starting) at
    most; the rest follow as those come up, like the DaemonSet controller's slow start. All
    5,000 at once queued their pods behind the scheduler for longer than the settle window,
    so each was written twice (Pending, then Running): 3.9 writes per execution instead of 3,
    and a pass that took a minute."""


HEALTHY_WINDOW, UNHEALTHY_WINDOW = "healthy", "unhealthy"
WINDOW_VERDICTS = (HEALTHY_WINDOW, UNHEALTHY_WINDOW)
"""How a closed health window is counted in `Plan.window_verdicts` (and the metrics)."""


@dataclass(slots=True)
class Plan:
    actions: list[Action]
    status: JobStatus
    status_changed: bool
    events: list[EventIntent] = field(default_factory=list)
    requeue_after: timedelta = timedelta(seconds=30)
    health: dict[str, HealthWindow] = field(default_factory=dict)
    """Health windows in progress, to keep in memory until the next pass."""
    window_verdicts: dict[str, int] = field(default_factory=dict)
    """Health windows that closed in this pass, by verdict (healthy, unhealthy)."""
    status_significant: bool = True
    """The status change moves a condition, a version or the rollout, not only counts: write
    it now. Count-only changes may be batched by the caller."""


def did_its_work(state: ObservedState, completes: bool) -> bool:
    """Whether an execution did what its version is for: running (a long-running type) or
    finished successfully (a run-to-completion type: an Update that started has not updated
    anything yet, and one that fails later must still count against the budget)."""
    return state is S.COMPLETED if completes else state in (S.RUNNING, S.COMPLETED)


def build_execution_status(
    ex: ExecutionInfo,
    obs: Observation,
    now: datetime,
    next_execution: str | None = None,
    *,
    completes: bool = False,
) -> tuple[ExecutionStatus, EventIntent | None] | None:
    """The execution's next status and the Event for its transition; None when nothing changed.
    `completes`: its version is a run-to-completion type."""
    old = ex.status
    transition = old.revision == 0 or obs.state is not old.observed_state
    update = _status_update(ex, obs, now, next_execution, completes)
    # A window's samples live in memory; its verdict is written when it closes or the state moves.
    if obs.health is not None and (obs.health_closed or transition):
        update["health"] = obs.health
    if not transition and all(getattr(old, k) == v for k, v in update.items()):
        return None
    history = old.history
    if transition:
        history = [
            *history,
            Transition(state=obs.state, time=now, reason=obs.reason, message=obs.message[:1024]),
        ][-MAX_HISTORY:]
    new = old.model_copy(update={**update, "history": history, "revision": old.revision + 1})
    event = None
    if transition:
        kind = "Warning" if obs.state in WARNING_STATES else "Normal"
        event = EventIntent(
            kind,
            obs.state.value,
            f"{obs.state.value} on node {ex.spec.node_name}: {obs.message}"[:1024],
        )
    return new, event


def _status_update(
    ex: ExecutionInfo, obs: Observation, now: datetime, next_execution: str | None, completes: bool
) -> dict[str, object]:
    old = ex.status
    restarts = old.restarts if obs.restarts is None else obs.restarts
    carried = obs.replaced_pod_restarts
    good = did_its_work(obs.state, completes)
    baseline = {}
    if obs.baseline is not None and not old.baseline_message:
        baseline = {"baseline_error_rate": obs.baseline[0], "baseline_message": obs.baseline[1]}
    return {
        "observed_generation": ex.generation,
        "observed_state": obs.state,
        "message": obs.message,
        "error": obs.error,
        "details": obs.details,
        "started_at": obs.started_at,
        "stable_at": old.stable_at or (now if good else None),
        "finished_at": (old.finished_at or now) if obs.state in TERMINAL_STATES else None,
        "pod_name": obs.details.get("pod", old.pod_name),
        "next_execution": next_execution or old.next_execution,
        "restarts": restarts,
        "replaced_pod_restarts": old.replaced_pod_restarts if carried is None else carried,
        **baseline,
    }


def evaluate_validated_before(
    ex: ExecutionInfo, state: ObservedState, status: JobStatus, record: bool
) -> bool:
    """Whether `ex` (observed `state`) passed its health windows before this pass: its
    stableAt says so, or, with `record` (`PlannerSettings.validation_record`), the Job's
    record of settled waves does, or it returns a node to the version it ran
    (`evaluate_returned`)."""
    if ex.status.stable_at is not None:
        return True
    return record and (
        evaluate_recorded_validation(ex, state, status) or evaluate_returned(ex, status)
    )


RETURNING = frozenset({RolloutPhase.ROLLING_BACK, RolloutPhase.ROLLED_BACK, RolloutPhase.ABORTED})
"""Phases in which every node goes back to the version the rollout started from."""


def evaluate_returned(ex: ExecutionInfo, status: JobStatus) -> bool:
    """Whether `ex` takes a node back to the version its rollout started from, in place of
    that node's execution of the rollout's version: a rollback's, an abort's or a reverted
    node's, while the spec still names that version. It is the version the node ran,
    validated, so it is not judged again: with an Execution per node the operator starts the
    node's own again, with its stableAt; under pod records it is a new pod (docs/design.md
    §4.2), and judging it again could hold a rollback for ever on a node whose health check
    fails either version. A node that joined (it replaced nothing), a spec set back to the
    old version (then it is the stable one, judged as ever) and, past the 100 reverted nodes
    listed, a reverted node are judged as ever (the safe side)."""
    rs = status.rollout
    if (
        rs is None
        or rs.version is None
        or rs.version != status.current_version
        or ex.spec.job_version != rs.from_version
    ):
        return False
    replaced = build_execution_name(ex.spec.job_name, rs.version, ex.spec.node_name)
    if ex.spec.previous_execution != replaced:
        return False
    return rs.phase in RETURNING or ex.spec.node_name in rs.reverted_nodes


def evaluate_bake_start(job: JobInfo, ex: ExecutionInfo) -> datetime | None:
    """When the bake of the rollout of `ex`'s version began, while it bakes; else None. The
    one answer for the planner's windows and the reconciler's Prometheus queries."""
    rs = job.status.rollout
    if rs is None or rs.phase is not RolloutPhase.BAKING or rs.version != ex.spec.job_version:
        return None
    return rs.phase_since


def evaluate_gated(ex: ExecutionInfo, state: ObservedState, spec: JobSpec, validated: bool) -> bool:
    """Whether `ex` (observed `state`) is held by its health windows: a Job with a health
    deadline, an execution not validated yet (`validated`) and meant to run, not finished
    nor lost. The one answer of the planner and of a pod record's readers
    (core/views/records.py)."""
    return not (
        spec.rollout.health_check.deadline_seconds is None
        or validated
        or ex.spec.desired_state is not DesiredState.RUNNING
        or state in TERMINAL_STATES
        or state is S.LOST
    )


def apply_health(
    ex: ExecutionInfo,
    obs: Observation,
    pod: PodInfo | None,
    spec: JobSpec,
    window: HealthWindow | None,
    now: datetime,
    external: float | str | None = None,
    baseline: float | str | None = None,
    *,
    validated: bool | None = None,
    leading_since: datetime | None = None,
) -> Observation:
    """Gate an execution on its health windows until it is validated (docs/design.md §3.2):
    only a Job with a health deadline, an execution not validated yet and meant to run, and
    not already finished or lost. `baseline`: the node's own rate before it moved, measured in
    this pass (or why there is none), when none is recorded yet. `validated`: whether it was
    before this pass (`evaluate_validated_before`; None: its stableAt says); `leading_since`:
    when this leader took over (`health.evaluate_health_deadline`)."""
    hc = spec.rollout.health_check
    if validated is None:
        validated = ex.status.stable_at is not None
    if not evaluate_gated(ex, obs.state, spec, validated):
        return obs
    limit, note, record = evaluate_baseline(ex, hc, baseline)
    if record is not None:
        obs = replace(obs, baseline=record)
    deadline = evaluate_health_deadline(ex.created_at, hc, leading_since)
    assert deadline is not None  # a health deadline is set
    pod_running = pod is not None and pod.phase == "Running" and not pod.deleting
    if spec.type.runs_to_completion or not pod_running:
        # Run-to-completion types are healthy when they complete; others wait for their pod.
        return _await_deadline(obs, pod, spec, deadline, now)
    assert pod is not None
    res = evaluate_health(
        window,
        ready=pod.ready,
        restarts=pod.restarts,
        hc=hc,
        created_at=ex.created_at,
        now=now,
        external=external,
        external_limit=limit,
        leading_since=leading_since,
    )
    judged = _from_health(obs, res, deadline)
    return replace(judged, message=f"{judged.message}; {note}") if note else judged


def apply_bake_health(
    ex: ExecutionInfo,
    obs: Observation,
    pod: PodInfo | None,
    spec: JobSpec,
    window: HealthWindow | None,
    since: datetime,
    now: datetime,
    external: float | str | None = None,
) -> Observation:
    """While its rollout bakes (rollout.bakeSeconds, since `since`), a validated execution is
    judged again by health windows counted afresh from the bake's start, with no deadline:
    failureThreshold unhealthy windows in a row fail it (the engine counts it against the
    budget while baking); otherwise it keeps its state. Only a long-running execution whose pod
    runs: a run-to-completion one did its work, and one without a pod is being replaced."""
    hc = spec.rollout.health_check
    running = pod is not None and pod.phase == "Running" and not pod.deleting
    if (
        hc.deadline_seconds is None
        or spec.type.runs_to_completion
        or not running
        or obs.state not in (S.RUNNING, S.DEGRADED)
    ):
        return obs
    assert pod is not None
    if window is None or window.window_start is None or window.window_start < since:
        window = HealthWindow(last_restart_count=pod.restarts)
    res = evaluate_health(
        window,
        ready=pod.ready,
        restarts=pod.restarts,
        hc=hc.model_copy(update={"deadline_seconds": None}),
        created_at=ex.created_at,
        now=now,
        external=external,
    )
    if res.verdict is Verdict.FAILED:
        failed = _from_health(obs, res, now)
        return replace(failed, message=f"failed while the rollout baked: {res.message}")
    deadline = min(d for d in (obs.deadline, res.next_sample) if d is not None)
    return replace(obs, health=res.window, health_closed=res.window_closed, deadline=deadline)


def evaluate_baseline(
    ex: ExecutionInfo, hc: HealthCheck, measured: float | str | None
) -> tuple[float | None, str, tuple[float | None, str] | None]:
    """With healthCheck.prometheus.baseline: the limit for this node's Prometheus rate (its
    baseline plus maxIncrease; None: maxErrorRate), a note for the status message, and a
    baseline to record (None when it is recorded already or not measured yet)."""
    check = hc.prometheus
    if check is None or check.baseline is None:
        return None, "", None
    record = None
    if ex.status.baseline_message:
        rate, message = ex.status.baseline_error_rate, ex.status.baseline_message
    elif measured is None:
        return None, f"baseline not measured yet: maxErrorRate {hc.max_error_rate} applies", None
    else:
        rate = measured if isinstance(measured, float) else None
        lookback = check.baseline.lookback_seconds
        message = (
            f"baseline {rate:.4f}: this node's rate over the {lookback}s before it moved"
            if rate is not None
            else f"no baseline ({measured}): maxErrorRate {hc.max_error_rate} applies"
        )
        record = (rate, message)
    if rate is None:
        return None, message, record
    limit = min(1.0, rate + check.baseline.max_increase)
    return limit, f"{message}; limit {limit:.4f} (+{check.baseline.max_increase})", record


def _await_deadline(
    obs: Observation, pod: PodInfo | None, spec: JobSpec, deadline: datetime, now: datetime
) -> Observation:
    """Not running (or not finished) yet: failed at the deadline, else woken then."""
    if now < deadline:
        return replace(obs, deadline=min(d for d in (obs.deadline, deadline) if d is not None))
    # Say what stood in the way (an image that cannot be pulled, a crash loop): on a real
    # node that is what the user needs, not just that time ran out.
    what = "completed" if spec.type.runs_to_completion else "running"
    seconds = spec.rollout.health_check.deadline_seconds
    msg = f"not {what} within deadlineSeconds={seconds}: {obs.message}"
    return replace(
        obs,
        state=S.FAILED,
        reason=HEALTH_CHECK_DEADLINE,
        message=msg,
        pod_action=PodAction.DELETE if pod is not None and not pod.deleting else PodAction.NONE,
        error=ErrorInfo(code=HEALTH_CHECK_DEADLINE, message=msg),
        deadline=None,
    )


def _from_health(obs: Observation, res: HealthResult, deadline: datetime) -> Observation:
    """The window's verdict: validated → Running; failed → Failed (its pod deleted); else
    Validating, woken at the next sample."""
    if res.verdict is Verdict.VALIDATED:
        return replace(
            obs,
            state=S.RUNNING,
            reason=VALIDATED,
            message=res.message,
            health=res.window,
            health_closed=True,
            error=None,
        )
    if res.verdict is Verdict.FAILED:
        return replace(
            obs,
            state=S.FAILED,
            reason=res.reason,
            message=res.message,
            pod_action=PodAction.DELETE,
            error=ErrorInfo(code=res.reason, message=res.message),
            deadline=None,
            health=res.window,
            health_closed=True,
        )
    return replace(
        obs,
        state=S.VALIDATING,
        reason=VALIDATING,
        message=res.message,
        error=None,
        deadline=min(d for d in (obs.deadline, res.next_sample, deadline) if d is not None),
        health=res.window,
        health_closed=res.window_closed,
    )


@dataclass
class _Pass:
    """One pass over one Job: the snapshot, the clock and what the pass found so far."""

    snap: Snapshot
    now: datetime
    settings: PlannerSettings
    targets: list[str]
    on_node: dict[str, dict[int, ExecutionInfo]]
    live: list[ExecutionInfo]
    terminating: frozenset[tuple[str, int]] = frozenset()
    """(node, version) of executions being deleted."""
    observed: dict[str, Observation] = field(default_factory=dict)
    states: dict[str, ObservedState] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    events: list[EventIntent] = field(default_factory=list)
    """The Job's Events decided while planning the executions (a node quarantined)."""

    def validated(self) -> set[str]:
        """Executions that passed their health windows (a run-to-completion one: completed),
        before or in this pass."""
        return {
            ex.name
            for ex in self.live
            if self.was_validated(ex, self.observed[ex.name].state)
            or (
                did_its_work(self.observed[ex.name].state, self.completes(ex))
                and self.observed[ex.name].reason != R.POD_CREATING
            )
        }

    def was_validated(self, ex: ExecutionInfo, state: ObservedState) -> bool:
        """Whether `ex` (observed `state`) passed its health windows before this pass: the
        one answer of every reader in the planner."""
        job, record = self.snap.job.status, self.settings.validation_record
        return evaluate_validated_before(ex, state, job, record)

    def completes(self, ex: ExecutionInfo) -> bool:
        """Whether the execution's version is a run-to-completion type."""
        version = self.snap.versions.get(ex.spec.job_version, self.snap.current)
        return version.type.runs_to_completion

    def observe(self, ex: ExecutionInfo, health: bool) -> Observation:
        spec, pod = self.snap.job.spec, self.snap.pods.get(ex.name)
        node = self.snap.nodes.get(ex.spec.node_name)
        obs = evaluate_execution(
            ex, pod, node, spec, self.now, node_lost_grace=self.settings.node_lost_grace,
            create_error=self.snap.pod_create_errors.get(ex.name),
        )  # fmt: skip
        if health:
            window = self.snap.health.get(ex.name) or ex.status.health
            external = self.snap.external_error_rates.get(ex.name)
            since = evaluate_bake_start(self.snap.job, ex)
            validated = self.was_validated(ex, obs.state)
            if since is not None and validated:
                return apply_bake_health(ex, obs, pod, spec, window, since, self.now, external)
            baseline = self.snap.baselines.get(ex.name)
            obs = apply_health(
                ex, obs, pod, spec, window, self.now, external, baseline,
                validated=validated, leading_since=self.settings.leading_since,
            )  # fmt: skip
        return obs


@dataclass
class _Placement:
    """Step 3's result: desired states changed in this pass, the execution each stopped one
    hands over to, and the executions to create."""

    desired: dict[str, DesiredState] = field(default_factory=dict)
    next_of: dict[str, str] = field(default_factory=dict)
    created: list[CreateExecution] = field(default_factory=list)
    deferred: int = 0
    """Executions to create that wait for the next pass (PlannerSettings.max_creates)."""


def select_targets(snap: Snapshot, selector: NodeSelector) -> tuple[list[str], Domains]:
    """The nodes the Job selects and its pods may run on, in wave order, and their topology
    domains: what every pass and `kubectl nodewave plan` order waves by."""
    return select_nodes(snap.job, snap.nodes, selector, build_placed(snap.executions))


def build_placed(executions: Iterable[ExecutionInfo]) -> frozenset[str]:
    """The nodes where the Job runs already (an execution not asked to stop): a NoSchedule
    taint added there later does not take them away (core/job/taints.py)."""
    return frozenset(
        e.spec.node_name for e in executions if e.spec.desired_state is DesiredState.RUNNING
    )


def select_nodes(
    job: JobInfo,
    nodes: Mapping[str, NodeInfo],
    selector: NodeSelector,
    placed: frozenset[str] = frozenset(),
) -> tuple[list[str], Domains]:
    """`select_targets` from the nodes alone: what the dashboard's node map reads too. A node
    is a target when the selector matches it and its taints let the Job's pods run there."""
    rollout = job.spec.rollout
    tolerations = build_tolerations(job.spec.template)
    selected = {
        n: node.labels
        for n, node in nodes.items()
        if selector.matches(n, node.labels)
        and evaluate_taints(node.taints, tolerations, placed=n in placed)
    }
    domains = build_domains(selected, rollout.topology_key)
    return order_nodes(job.name, selected, domains, rollout.domain_order), domains


def evaluate_job_refusal(snap: Snapshot) -> PolicyVerdict | None:
    """Why the Job may not act at all in its namespace, whatever its version (what it asks
    the nodes to go through), or None."""
    job = snap.job
    return evaluate_maintenance_policy(
        job.spec.node_maintenance, job.namespace, snap.namespace_labels
    )


def evaluate_version_refusal(
    snap: Snapshot, version: VersionSpec, settings: PlannerSettings
) -> PolicyVerdict | None:
    """Why `version` may not run in the Job's namespace (what the template asks for, or the
    API server refusing its pod in a dry-run), or None: one answer for the current version and
    for the stable one it falls back on."""
    verdict = evaluate_template_policy(
        version.template,
        snap.job.namespace,
        snap.namespace_labels,
        settings.operator_account,
        settings.pod_security_default,
    )
    if verdict is None and (refusal := snap.pod_refusals.get(version.number)) is not None:
        verdict = PolicyVerdict(refusal.reason, refusal.message)
    return verdict


def needs_pod_check(version: int, executions: Sequence[ExecutionInfo]) -> bool:
    """A version is dry-run before its first execution is created: once one exists, the
    version was admitted, and a later refusal is a create's (PodsRefused), not the version's
    (falling back to the stable version mid-rollout for a quota used up would undo it)."""
    return not any(ex.spec.job_version == version for ex in executions)


def plan_job(snap: Snapshot, now: datetime, settings: PlannerSettings | None = None) -> Plan:
    """One pass over the Job: the version bookkeeping (`plan_version_writes`) and the pass
    itself, refused or not."""
    plan = _plan_pass(snap, now, settings or PlannerSettings())
    plan.actions[:0] = plan_version_writes(snap, plan.actions)
    return plan


def plan_version_writes(snap: Snapshot, actions: Sequence[Action]) -> list[Action]:
    """A new version's revision, the ConfigMap of each version whose pods this pass makes,
    and the revisions past the history limit (whatever else the pass decided: a refused
    version is stored all the same, so re-applying it finds its number)."""
    writes: list[Action] = []
    if snap.new_revision is not None:
        writes.append(CreateRevision(snap.new_revision))
    starting = sorted({a.version for a in actions if isinstance(a, CreatePod | CreateExecution)})
    writes.extend(EnsureConfigMap(number) for number in starting)
    writes.extend(DeleteRevision(name) for name in snap.excess_revisions)
    return writes


def _plan_pass(snap: Snapshot, now: datetime, settings: PlannerSettings) -> Plan:
    job = snap.job
    begun = _begin_pass(snap, now, settings)
    if isinstance(begun, Plan):
        return begun
    run, window, domains = begun
    targets, on_node, live = run.targets, run.on_node, run.live

    # 1. What every execution is doing now, health windows included.
    run.observed = {ex.name: run.observe(ex, True) for ex in live}
    run.states = {name: o.state for name, o in run.observed.items()}
    # 2. Which version each selected node should run (the rollout engine).
    version = snap.current.number
    context = _rollout_context(run, window, domains)
    decision = plan_rollout(context)
    run.actions.extend(context.asks.calls)
    run.actions.extend(plan_pull_pods(snap, decision.pre_pull, settings.max_creates))
    restart = plan_restart(context, parse_restart_at(job.restart_at), job.status.restart)
    run.actions.extend(_plan_recreate(snap, restart.recreate))
    # 3. Placement: that version's execution Running on each node, every other one stopped.
    placement = _plan_placement(run, decision)
    _plan_cancels(run, placement)
    # 4. Each execution's pod and status follow from its observation.
    deadlines, health, verdicts = _plan_executions(run, placement)
    # 5. Executions of versions no longer kept, once finished and without a pod, go; so do
    # pods whose execution is gone or was made again.
    _plan_forgotten_versions(run, {*snap.versions, version, decision.stable_version})
    run.actions.extend(DeletePod(p.name, p.uid) for p in snap.stale_pods.values() if not p.deleting)
    # 6. The Job's status.
    created = len(placement.created) + placement.deferred
    status, events = _job_status(
        snap, targets, decision, restart, on_node, run.states, created, now
    )
    notify = plan_notifications(
        job.status.notifications, [*decision.events, *restart.events, *run.events, *events],
        decision.rollout, snap.subscriptions, snap.notification_answers, job.namespace, job.name,
        now,
    )  # fmt: skip
    status.notifications = notify.entries
    run.actions.extend(notify.sends)
    deadlines += [t for t in (restart.wake_at, window[1], decision.wake_at) if t is not None]
    deadlines += context.asks.wake_at + notify.wake_at
    requeue = _requeue_after(settings, placement, deadlines, status, now)
    return Plan(
        run.actions,
        status,
        status != job.status,
        [*decision.events, *restart.events, *run.events, *events],
        requeue,
        health,
        verdicts,
        _significant(job.status, status),
    )


def _rollout_context(
    run: _Pass, window: tuple[bool, datetime | None], domains: Domains
) -> RolloutContext:
    """What the rollout engine decides from, gathered from this pass."""
    snap, job, targets, on_node = run.snap, run.snap.job, run.targets, run.on_node
    unavailable = (
        evaluate_unavailable(
            targets, snap.nodes, on_node, snap.pods, completes=snap.current.type.runs_to_completion
        )
        if job.spec.rollout.max_unavailable is not None
        else frozenset()
    )
    return build_rollout_context(
        job, snap.current.number, targets, on_node, run.states, run.validated(), job.promote,
        run.now, domains, window, snap.webhook_answers, unavailable, snap.alerts,
        evaluate_pulls(snap), run.settings.leading_since,
    )  # fmt: skip


def evaluate_pulls(snap: Snapshot) -> tuple[dict[str, Pull], bool]:
    """How the pre-pull of the current version's images fares on each node with a pull-only
    pod of it (a pod the scheduler has not placed yet counts as pulling), and whether the
    version has images to pull at all (core/rollout/prepull.py)."""
    version, images = snap.current.number, len(plan_pull_images(snap.current.template))
    refused = Pull(PullState.FAILED, "PodRefused")
    pulls = {n: replace(refused, message=words) for n, words in snap.pull_refusals.items()}
    pulls |= {
        p.node_name: evaluate_pull(p, images)
        for p in _pull_pods(snap)
        if p.pre_pull_of == version and p.node_name and not p.deleting
    }
    return pulls, images > 0


def _pull_pods(snap: Snapshot) -> list[PodInfo]:
    """The Job's pull-only pods: labelled so and controlled by this Job (a pod someone else
    labelled is neither read nor deleted)."""
    uid = snap.job.uid
    return [p for p in snap.pods.values() if p.pre_pull_of is not None and p.owner_uid == uid]


def plan_pull_pods(snap: Snapshot, nodes: frozenset[str], max_creates: int) -> list[Action]:
    """A pull-only pod of the current version on each of `nodes` (the engine's
    `RolloutDecision.pre_pull`) that has none, at most `max_creates` a pass, and every other
    pull-only pod deleted: an older version's, or one on a node that moved (its wave
    started), left the rollout or was never to pull."""
    job, version = snap.job, snap.current.number
    wanted = {build_pull_pod_name(job.name, version, n): n for n in sorted(nodes)}
    actions: list[Action] = [
        DeletePod(p.name, p.uid)
        for p in _pull_pods(snap)
        if p.name not in wanted and not p.deleting
    ]
    creates = [
        CreatePullPod(name, n, version) for name, n in wanted.items() if name not in snap.pods
    ]
    return actions + creates[:max_creates]


def _plan_recreate(snap: Snapshot, executions: Sequence[ExecutionInfo]) -> list[Action]:
    """Executions to make again (a restart): each deleted with its pod, which the Job
    controls (the foreground deletion waits for the pod of an execution made by an earlier
    release, which the execution controls); made again once both are gone."""
    actions: list[Action] = []
    for ex in executions:
        pod = snap.pods.get(ex.name)
        if pod is not None and not pod.deleting:
            actions.append(DeletePod(pod.name, pod.uid))
        actions.append(DeleteExecution(ex.name, ex.uid, foreground=True))
    return actions


def _plan_forgotten_versions(run: _Pass, kept: set[int | None]) -> None:
    """Executions of versions no longer kept go, once finished and without a pod."""
    run.actions.extend(
        DeleteExecution(ex.name)
        for ex in run.live
        if ex.spec.job_version not in kept
        and run.states.get(ex.name) in TERMINAL_STATES
        and ex.name not in run.snap.pods
    )


def _begin_pass(
    snap: Snapshot, now: datetime, settings: PlannerSettings
) -> Plan | tuple[_Pass, tuple[bool, datetime | None], Domains]:
    """A refusal's plan (a spec the operator cannot read, a Job or version its namespace does
    not allow), or the pass over the targets, with the maintenance window and the domains."""
    job = snap.job
    try:
        selector = build_selector(job.spec.selector)
        window = evaluate_windows(job.spec.rollout.maintenance_windows, now)
    except (SelectorError, WindowError) as e:
        return _refuse(snap, R.INVALID_SPEC, str(e), now)
    forbidden = evaluate_job_refusal(snap)
    if forbidden is not None:
        return _refuse(snap, forbidden.reason, forbidden.message, now)
    refused = evaluate_version_refusal(snap, snap.current, settings)
    if refused is not None:
        return _plan_stable_instead(snap, refused.reason, refused.message, now, settings)
    live = [ex for ex in snap.executions if not ex.deleting]
    on_node = group_by_node(live)
    targets, domains = select_targets(snap, selector)
    terminating = frozenset(
        (ex.spec.node_name, ex.spec.job_version) for ex in snap.executions if ex.deleting
    )
    return _Pass(snap, now, settings, targets, on_node, live, terminating), window, domains


def _requeue_after(
    settings: PlannerSettings,
    placement: _Placement,
    deadlines: list[datetime],
    status: JobStatus,
    now: datetime,
) -> timedelta:
    """When to look again: the earliest deadline; soon after creating executions (they have
    timeouts and a settle window this pass did not observe, and the watch echo of their
    creation wakes no pass, handlers/operator.py); else at the resync, a long one when steady."""
    soon = placement.deferred or placement.created
    steady = evaluate_steady(status.conditions)
    requeue = SLOW_START_RETRY if soon else settings.steady_resync if steady else settings.resync
    if deadlines:
        requeue = max(timedelta(0), min(requeue, min(deadlines) - now))
    return requeue


HANDED_OVER = frozenset({S.RUNNING, S.COMPLETED})
"""States of a node's wanted execution in which, with maxSurge, the others on its node stop:
it runs (validated, with a health check)."""


def _plan_placement(run: _Pass, decision: RolloutDecision) -> _Placement:
    """The wanted version's execution Running on each target node (created if missing, started
    again if the operator had stopped it), every other version's stopped (with maxSurge, only
    once the wanted one runs: until then both do); executions on nodes no longer selected
    stopped."""
    placement = _Placement()
    coming_up = sum(
        1 for ex in run.live if ex.status.revision == 0 and run.observed[ex.name].state in SETTLING
    )
    room = run.settings.max_creates - coming_up
    maintenance = run.snap.job.spec.node_maintenance
    surge = run.snap.job.spec.rollout.max_surge is not None
    for node in run.targets:
        want = decision.want.get(node)
        if want is None:  # not reached by a first version's rollout yet
            continue
        mine = run.on_node.get(node, {})
        cur = mine.get(want.version)
        name = cur.name if cur else build_execution_name(run.snap.job.name, want.version, node)
        if cur is None and ((node, want.version) in run.terminating or name in run.snap.stale_pods):
            continue  # recreated (a restart, a retry): created again once the old one is gone
        if cur is None and len(placement.created) >= room:
            placement.deferred += 1
            continue  # its previous version keeps running until its turn, next pass
        if cur is None:
            version = run.snap.versions.get(want.version, run.snap.current)
            prepares = prepares_node(maintenance, completes=version.type.runs_to_completion)
            previous = max(mine.values(), key=lambda e: e.spec.job_version, default=None)
            placement.created.append(
                CreateExecution(
                    name,
                    node,
                    want.version,
                    want.wave,
                    DesiredState.RUNNING,
                    previous.name if previous else None,
                    start=not prepares,  # its node is cordoned and drained first
                    incarnation=build_incarnation(run.snap.job.uid, name, run.now),
                )
            )
        else:
            if cur.spec.desired_state is DesiredState.STOPPED and cur.stopped_by_operator:
                _set_desired(run, placement, cur, DesiredState.RUNNING, False, "NodeSelected")
        if surge and not (cur is not None and run.states.get(cur.name) in HANDED_OVER):
            continue  # surge: the other versions serve until this one runs
        for v, other in mine.items():
            if v != want.version and other.spec.desired_state is not DesiredState.STOPPED:
                _set_desired(run, placement, other, DesiredState.STOPPED, True, R.SUPERSEDED)
                placement.next_of[other.name] = name
    selected = set(run.targets)
    for ex in run.live:
        node = ex.spec.node_name
        if (
            node not in selected
            and node in run.snap.nodes
            and ex.spec.desired_state is not DesiredState.STOPPED
        ):
            _set_desired(run, placement, ex, DesiredState.STOPPED, True, R.NODE_NOT_SELECTED)
    run.actions.extend(placement.created)
    return placement


def _plan_cancels(run: _Pass, placement: _Placement) -> None:
    """A person's cancel asked on the Job (`record.ANNOTATION_CANCEL`, for an execution that
    may have no object to patch under --pod-records), for the run of the execution it names:
    stopped as their patch of its desiredState would, so the operator never starts it again
    (`stopped_by_operator` False). It overrules what placement decided for it in this pass
    (one desired state written, not two racing). Of an execution only a pod stands for, the
    stop makes its Execution first (kube/reconcile.py): what it stops is planned on that
    Execution from the next pass, not beside its create."""
    if not run.snap.job.cancel:
        return  # every pass of every Job: nothing to build a request's key for
    for ex in run.live:
        if build_cancel_entry(ex.name, ex.spec.incarnation) not in run.snap.job.cancel or (
            ex.spec.desired_state is DesiredState.STOPPED and not ex.stopped_by_operator
        ):
            continue
        run.actions[:] = [
            a for a in run.actions if not (isinstance(a, SetDesiredState) and a.name == ex.name)
        ]
        if evaluate_pod_record(ex):
            placement.desired.pop(ex.name, None)
            run.actions.append(
                SetDesiredState(ex.name, DesiredState.STOPPED, False, R.STOP_REQUESTED)
            )
        else:
            _set_desired(run, placement, ex, DesiredState.STOPPED, False, R.STOP_REQUESTED)


def _pod_actions(
    ex: ExecutionInfo, obs: Observation, pod: PodInfo | None, stale: Mapping[str, PodInfo]
) -> list[Action]:
    if obs.pod_action is PodAction.CREATE:
        # An earlier execution's pod under the name goes first (`select_stale_pods`).
        return [] if ex.name in stale else [build_pod_action(ex)]
    if obs.pod_action is PodAction.DELETE and pod is not None:
        return [DeletePod(pod.name, pod.uid)]
    return []


def _set_desired(
    run: _Pass,
    placement: _Placement,
    ex: ExecutionInfo,
    state: DesiredState,
    by_operator: bool,
    reason: str,
) -> None:
    placement.desired[ex.name] = state
    run.actions.append(SetDesiredState(ex.name, state, by_operator, reason))


def _plan_executions(
    run: _Pass, placement: _Placement
) -> tuple[list[datetime], dict[str, HealthWindow], dict[str, int]]:
    """Each execution's pod (create, delete) and status patch from its observation; returns
    when to look again, the health windows in progress, and the window verdicts closed."""
    deadlines: list[datetime] = []
    health: dict[str, HealthWindow] = {}
    verdicts: dict[str, int] = {}
    maintenance = run.snap.job.spec.node_maintenance
    for ex in run.live:
        obs = run.observed[ex.name]
        if ex.name in placement.desired:
            ex = replace(
                ex, spec=ex.spec.model_copy(update={"desired_state": placement.desired[ex.name]})
            )
            if obs.state not in (S.FAILED, S.COMPLETED):  # a result found in this pass stays
                obs = run.observe(ex, False)
        if maintenance.cordon:
            step = plan_node_maintenance(ex, obs, maintenance, run.now, completes=run.completes(ex))
            obs = step.observation
            run.actions.extend(a for a in (step.action,) if a is not None)
            run.events.extend(e for e in (step.event,) if e is not None)
        run.states[ex.name] = obs.state
        if obs.deadline is not None:
            deadlines.append(obs.deadline)
        if obs.health is not None:
            # The window in progress is kept in memory between passes (its samples are not
            # written until it closes): while validating, and while its rollout bakes.
            if obs.state is S.VALIDATING or (
                run.was_validated(ex, obs.state)
                and evaluate_bake_start(run.snap.job, ex) is not None
            ):
                health[ex.name] = obs.health
            if obs.health_closed:
                verdict = UNHEALTHY_WINDOW if obs.health.consecutive_unhealthy else HEALTHY_WINDOW
                verdicts[verdict] = verdicts.get(verdict, 0) + 1
        run.actions.extend(_pod_actions(ex, obs, run.snap.pods.get(ex.name), run.snap.stale_pods))
        if ex.status.revision == 0 and obs.state in SETTLING and obs.error is None:
            settles_at = ex.created_at + run.settings.settle
            if run.now < settles_at:
                deadlines.append(settles_at)
                continue
        built = build_execution_status(
            ex, obs, run.now, placement.next_of.get(ex.name), completes=run.completes(ex)
        )
        if built is not None:
            run.actions.append(PatchExecutionStatus(ex.name, *built, previous=ex.status))
    return deadlines, health, verdicts


def _significant(old: JobStatus, new: JobStatus) -> bool:
    def shape(s: JobStatus) -> tuple[object, ...]:
        conds = tuple((c.type, c.status, c.reason) for c in s.conditions)
        versions = (s.observed_generation, s.current_version, s.stable_version)
        return (*versions, s.rollout, s.restart, s.notifications, conds)

    return shape(old) != shape(new)


def _stable_created_until(before: JobStatus, decision: RolloutDecision) -> datetime | None:
    """Set when a version becomes stable; while it stays so, the newest the engine found
    settled. Never back: those made until an earlier time were validated then."""
    if decision.stable_version != before.stable_version:
        return decision.stable_created_until
    times = (before.stable_created_until, decision.stable_created_until)
    return max((t for t in times if t is not None), default=None)


def _job_status(
    snap: Snapshot,
    targets: list[str],
    decision: RolloutDecision,
    restart: RestartDecision,
    on_node: dict[str, dict[int, ExecutionInfo]],
    states: dict[str, ObservedState],
    created: int,
    now: datetime,
) -> tuple[JobStatus, list[EventIntent]]:
    job = snap.job
    counts = _count(snap, targets, decision, on_node, states)
    conditions = build_job_conditions(list(job.status.conditions), counts, job.generation, now)
    executions = Counter(s.value for s in states.values())
    if created:
        executions[S.PENDING.value] += created
    status = job.status.model_copy(
        update={
            "observed_generation": job.generation,
            "current_version": counts.version,
            "stable_version": decision.stable_version,
            "stable_created_until": _stable_created_until(job.status, decision),
            "target_nodes": counts.target,
            "ready_nodes": counts.ready,
            "execution_counts": dict(sorted(executions.items())),
            "rollout": decision.rollout,
            "restart": restart.status,
            "quarantined_nodes": len(counts.quarantined or ()),
            "conditions": conditions,
        }
    )
    events = []
    was = job.status.conditions
    if condition_status(conditions, R.READY) == "True" and condition_status(was, R.READY) != "True":
        events.append(EventIntent("Normal", R.READY, counts.summary))
    if (
        condition_status(conditions, R.COMPLETE) == "True"
        and condition_status(was, R.COMPLETE) != "True"
    ):
        events.append(
            EventIntent(
                "Warning" if counts.failed else "Normal",
                R.COMPLETE,
                f"{counts.target - counts.failed}/{counts.target} executions succeeded",
            )
        )
    return status, events


def _state_of(
    on_node: dict[str, dict[int, ExecutionInfo]],
    states: dict[str, ObservedState],
    node: str,
    version: int,
) -> ObservedState:
    ex = on_node.get(node, {}).get(version)
    return states[ex.name] if ex is not None else S.PENDING


def _count(
    snap: Snapshot,
    targets: list[str],
    decision: RolloutDecision,
    on_node: dict[str, dict[int, ExecutionInfo]],
    states: dict[str, ObservedState],
) -> JobCounts:
    version = snap.current.number
    completes = snap.current.type.runs_to_completion
    good = S.COMPLETED if completes else S.RUNNING
    wanted = [
        _state_of(on_node, states, n, want.version if (want := decision.want.get(n)) else version)
        for n in targets
    ]
    current = [_state_of(on_node, states, n, version) for n in targets]
    rollout = decision.rollout
    active = (
        rollout is not None
        and rollout.version == version
        and rollout.phase is not RolloutPhase.COMPLETED
        and decision.stable_version != version
    )
    return JobCounts(
        version=version,
        target=len(targets),
        updated=sum(1 for s in current if s is good),
        ready=sum(1 for s in wanted if s is good),
        failed=sum(1 for s in wanted if s is S.FAILED),
        lost=sum(1 for s in wanted if s is S.LOST),
        degraded=sum(1 for s in wanted if s is S.DEGRADED),
        finished=sum(1 for s in current if s in TERMINAL_STATES),
        completes=completes,
        quarantined=_quarantined(snap),
        phase=rollout.phase if active and rollout is not None else None,
        rollout_message=rollout.message if rollout is not None else "",
        pods_refused=_pods_refused(snap, states),
    )


def _pods_refused(
    snap: Snapshot, states: dict[str, ObservedState]
) -> tuple[tuple[str, str], ...] | None:
    """The executions of this pass whose pod's last create the API server refused; None when
    there are none and the Job never had any (no PodsRefused condition to clear)."""
    refused = tuple(sorted(
        (name, words) for name, words in snap.pod_create_errors.items()
        if states.get(name) is S.PENDING and name not in snap.pods
    ))  # fmt: skip
    had = any(c.type == R.PODS_REFUSED for c in snap.job.status.conditions)
    return refused if refused or had else None


def _quarantined(snap: Snapshot) -> tuple[str, ...] | None:
    """Nodes the Job keeps cordoned after their execution failed; None without maintenance."""
    if not snap.job.spec.node_maintenance.cordon:
        return None
    return tuple(sorted(
        ex.spec.node_name
        for ex in snap.executions
        if (m := ex.status.maintenance) is not None and m.quarantined and not ex.deleting
    ))  # fmt: skip


_REFUSED: tuple[tuple[str, ConditionStatus], ...] = (
    (R.READY, "False"),
    (R.STALLED, "True"),  # GitOps tools (kstatus, Argo CD) read this as failed
    (R.RECONCILING, "False"),
)


def _mark_refused(
    old: JobStatus, status: JobStatus, reason: str, message: str, generation: int, now: datetime
) -> tuple[JobStatus, list[EventIntent]]:
    """`status` with the refusal in its conditions; the Warning Event only when the refusal
    is new, not on every pass that still sees it."""
    conds = list(status.conditions)
    for type_, value in _REFUSED:
        # `status` may be a plan of the stable version, whose own verdict moved this condition's
        # time: measure the transition from what was written, or every pass would rewrite it.
        written = next((c for c in old.conditions if c.type == type_), None)
        if written is not None:
            conds = [written if c.type == type_ else c for c in conds]
        conds = set_condition(conds, type_, value, reason, message, generation, now)
    marked = status.model_copy(update={"observed_generation": generation, "conditions": conds})
    shown = any(
        c.type == R.STALLED and c.reason == reason and c.message == message for c in old.conditions
    )
    return marked, [] if shown else [EventIntent("Warning", reason, message)]


def _refuse(snap: Snapshot, reason: str, message: str, now: datetime) -> Plan:
    """A spec the operator cannot act on at all: no actions, so whatever runs keeps running
    as it is, until the spec changes."""
    job = snap.job
    status, events = _mark_refused(job.status, job.status, reason, message, job.generation, now)
    return Plan(plan_pull_pods(snap, frozenset(), 0), status, status != job.status, events)


def _plan_stable_instead(
    snap: Snapshot, reason: str, message: str, now: datetime, settings: PlannerSettings
) -> Plan:
    """The current version may not run here: plan the stable version as if it were current,
    so new nodes still get it and its failed pods are still replaced, and say why the current
    one is not rolled out. Without an allowed stable version there is nothing to fall back on."""
    job = snap.job
    stable = snap.versions.get(job.status.stable_version or 0)
    if (
        stable is None
        or stable.number == snap.current.number
        or evaluate_version_refusal(snap, stable, settings) is not None
    ):
        return _refuse(snap, reason, message, now)
    plan = plan_job(replace(snap, current=stable), now, settings)
    message = f"version {snap.current.number} is not rolled out: {message}"
    status, events = _mark_refused(job.status, plan.status, reason, message, job.generation, now)
    plan.status = status
    plan.status_changed = status != job.status
    plan.status_significant = _significant(job.status, status)
    plan.events = [e for e in plan.events if e.reason != R.READY] + events
    return plan
