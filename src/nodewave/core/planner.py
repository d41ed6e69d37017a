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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from nodewave.core import reasons as R
from nodewave.core.actions import (
    Action,
    CreateExecution,
    CreatePod,
    DeleteExecution,
    DeletePod,
    EventIntent,
    PatchExecutionStatus,
    SetDesiredState,
)
from nodewave.core.conditions import condition_status, set_condition
from nodewave.core.naming import build_execution_name
from nodewave.core.observe import Observation, PodAction, evaluate_execution
from nodewave.core.selector import SelectorError, build_selector
from nodewave.core.snapshot import ExecutionInfo, Snapshot
from nodewave.models.base import Condition
from nodewave.models.execution import (
    MAX_HISTORY,
    TERMINAL_STATES,
    DesiredState,
    ExecutionStatus,
    ObservedState,
    Transition,
)
from nodewave.models.job import JobStatus

S = ObservedState
WARNING_STATES = frozenset({S.FAILED, S.LOST, S.DEGRADED})
SETTLING = frozenset({S.PENDING, S.STARTING})


@dataclass(frozen=True, slots=True)
class PlannerSettings:
    node_lost_grace: timedelta = timedelta(seconds=60)
    """How long a node may be NotReady before its executions are Lost."""
    resync: timedelta = timedelta(seconds=30)
    """Longest sleep between passes over a Job, whatever the events say."""
    settle: timedelta = timedelta(seconds=30)
    """A new execution's first status is written once it is Running or in trouble, or after
    this long. Pending and Starting of a healthy placement are brief; writing each of them (and
    its Event) would triple the API writes of a placement on 1,000 nodes, which on a busy API
    server costs more time than it shows. Until then the Job's counts show it as Pending."""


@dataclass(slots=True)
class Plan:
    actions: list[Action]
    status: JobStatus
    status_changed: bool
    events: list[EventIntent] = field(default_factory=list)
    requeue_after: timedelta = timedelta(seconds=30)
    status_significant: bool = True
    """The status change moves a condition, a version or the rollout, not only counts: write
    it now. Count-only changes may be batched by the caller."""


def build_execution_status(
    ex: ExecutionInfo, obs: Observation, now: datetime
) -> tuple[ExecutionStatus, EventIntent | None] | None:
    """The execution's next status and the Event for its transition; None when nothing changed."""
    old = ex.status
    fresh = old.revision == 0
    transition = fresh or obs.state is not old.observed_state
    terminal = obs.state in TERMINAL_STATES
    update = {
        "observed_generation": ex.generation,
        "observed_state": obs.state,
        "message": obs.message,
        "error": obs.error,
        "details": obs.details,
        "started_at": obs.started_at,
        "stable_at": old.stable_at or (now if obs.state is S.RUNNING else None),
        "finished_at": (old.finished_at or now) if terminal else None,
        "pod_name": obs.details.get("pod", old.pod_name),
    }
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


def plan_job(snap: Snapshot, now: datetime, settings: PlannerSettings | None = None) -> Plan:
    settings = settings or PlannerSettings()
    job = snap.job
    spec = job.spec
    version = snap.current.number
    actions: list[Action] = []
    try:
        selector = build_selector(spec.selector)
    except SelectorError as e:
        return _invalid(snap, str(e), now)

    targets = sorted(n for n, node in snap.nodes.items() if selector.matches(n, node.labels))
    target_set = set(targets)
    by_node: dict[str, list[ExecutionInfo]] = {}
    for ex in snap.executions:
        by_node.setdefault(ex.spec.node_name, []).append(ex)

    # 1. Placement: the current version's execution on every selected node, the others stopped.
    desired: dict[str, DesiredState] = {}
    current_on: dict[str, ExecutionInfo] = {}
    created: list[CreateExecution] = []
    for node in targets:
        mine = by_node.get(node, [])
        cur = next((e for e in mine if e.spec.job_version == version), None)
        if cur is None:
            previous = max(mine, key=lambda e: e.spec.job_version, default=None)
            created.append(
                CreateExecution(
                    name=build_execution_name(job.name, version, node),
                    node=node,
                    version=version,
                    wave=0,
                    desired=DesiredState.RUNNING,
                    previous=previous.name if previous else None,
                    start=True,
                )
            )
        else:
            current_on[node] = cur
            if cur.spec.desired_state is DesiredState.STOPPED and cur.stopped_by_operator:
                desired[cur.name] = DesiredState.RUNNING
                actions.append(
                    SetDesiredState(cur.name, DesiredState.RUNNING, False, "NodeSelected")
                )
        for other in mine:
            if (
                other.spec.job_version != version
                and other.spec.desired_state is not DesiredState.STOPPED
            ):
                desired[other.name] = DesiredState.STOPPED
                actions.append(
                    SetDesiredState(other.name, DesiredState.STOPPED, True, R.SUPERSEDED)
                )
    for ex in snap.executions:
        node = ex.spec.node_name
        if (
            node not in target_set
            and node in snap.nodes
            and ex.spec.desired_state is not DesiredState.STOPPED
        ):
            desired[ex.name] = DesiredState.STOPPED
            actions.append(
                SetDesiredState(ex.name, DesiredState.STOPPED, True, R.NODE_NOT_SELECTED)
            )
    actions.extend(created)

    # 2. Observe every execution; its pod follows from the observation.
    states: dict[str, ObservedState] = {}
    deadlines: list[datetime] = []
    for ex in snap.executions:
        if ex.deleting:
            continue
        if ex.name in desired:
            ex = replace(ex, spec=ex.spec.model_copy(update={"desired_state": desired[ex.name]}))
        pod = snap.pods.get(ex.name)
        obs = evaluate_execution(
            ex,
            pod,
            snap.nodes.get(ex.spec.node_name),
            spec,
            now,
            node_lost_grace=settings.node_lost_grace,
        )
        states[ex.name] = obs.state
        if obs.deadline is not None:
            deadlines.append(obs.deadline)
        if obs.pod_action is PodAction.CREATE:
            actions.append(CreatePod(ex.name, ex.uid, ex.spec.node_name, ex.spec.job_version))
        elif obs.pod_action is PodAction.DELETE and pod is not None:
            actions.append(DeletePod(pod.name, pod.uid))
        if ex.status.revision == 0 and obs.state in SETTLING and obs.error is None:
            settles_at = ex.created_at + settings.settle
            if now < settles_at:
                deadlines.append(settles_at)
                continue
        built = build_execution_status(ex, obs, now)
        if built is not None:
            actions.append(PatchExecutionStatus(ex.name, *built, previous=ex.status))

    # 3. Executions of versions no longer kept, once finished and without a pod, go.
    kept = {*snap.versions, version, job.status.stable_version}
    for ex in snap.executions:
        if (
            ex.spec.job_version not in kept
            and states.get(ex.name) in TERMINAL_STATES
            and ex.name not in snap.pods
            and not ex.deleting
        ):
            actions.append(DeleteExecution(ex.name))

    # 4. The Job's status.
    status, events = _job_status(snap, targets, current_on, states, len(created), now)
    requeue = settings.resync
    if deadlines:
        requeue = max(timedelta(0), min(requeue, min(deadlines) - now))
    return Plan(
        actions, status, status != job.status, events, requeue, _significant(job.status, status)
    )


def _significant(old: JobStatus, new: JobStatus) -> bool:
    def shape(s: JobStatus) -> tuple[object, ...]:
        conds = tuple((c.type, c.status, c.reason) for c in s.conditions)
        return (s.observed_generation, s.current_version, s.stable_version, s.rollout, conds)

    return shape(old) != shape(new)


def _job_status(
    snap: Snapshot,
    targets: list[str],
    current_on: dict[str, ExecutionInfo],
    states: dict[str, ObservedState],
    created: int,
    now: datetime,
) -> tuple[JobStatus, list[EventIntent]]:
    job = snap.job
    completes = snap.current.type.runs_to_completion
    version = snap.current.number
    target = len(targets)
    current_states = [
        states.get(current_on[n].name, S.PENDING) if n in current_on else S.PENDING for n in targets
    ]
    good = S.COMPLETED if completes else S.RUNNING
    ready = sum(1 for s in current_states if s is good)
    failed = sum(1 for s in current_states if s is S.FAILED)
    lost = sum(1 for s in current_states if s is S.LOST)
    degraded = sum(1 for s in current_states if s is S.DEGRADED)
    done = all(s in TERMINAL_STATES for s in current_states)
    counts = Counter(s.value for s in states.values())
    if created:
        counts[S.PENDING.value] += created
    gen = job.generation
    conds: list[Condition] = list(job.status.conditions)

    all_ready = ready == target
    if target == 0:
        conds = set_condition(
            conds, R.READY, "True", R.NO_NODES_SELECTED, "the selector matches no node", gen, now
        )
    elif all_ready:
        reason = R.ALL_SUCCEEDED if completes else R.ALL_NODES_READY
        conds = set_condition(
            conds,
            R.READY,
            "True",
            reason,
            f"{ready}/{target} nodes {good.value.lower()} version {version}",
            gen,
            now,
        )
    else:
        if failed:
            reason = R.EXECUTIONS_FAILED
        elif lost:
            reason = R.NODES_LOST
        elif completes:
            reason = R.EXECUTIONS_RUNNING
        else:
            reason = R.EXECUTIONS_PENDING
        conds = set_condition(
            conds,
            R.READY,
            "False",
            reason,
            f"{ready}/{target} nodes {good.value.lower()} version {version}; {failed} failed, {lost} lost",
            gen,
            now,
        )

    if completes:
        if done:
            reason = R.SOME_FAILED if failed else R.ALL_SUCCEEDED
            conds = set_condition(
                conds,
                R.COMPLETE,
                "True",
                reason,
                f"{target - failed}/{target} executions succeeded",
                gen,
                now,
            )
        else:
            conds = set_condition(
                conds,
                R.COMPLETE,
                "False",
                R.EXECUTIONS_RUNNING,
                f"{sum(1 for s in current_states if s in TERMINAL_STATES)}/{target} executions finished",
                gen,
                now,
            )

    if failed or lost or degraded:
        reason = R.EXECUTIONS_FAILED if failed or degraded else R.NODES_LOST
        conds = set_condition(
            conds,
            R.DEGRADED,
            "True",
            reason,
            f"{failed} failed, {degraded} degraded, {lost} lost",
            gen,
            now,
        )
    else:
        conds = set_condition(
            conds, R.DEGRADED, "False", R.AS_EXPECTED, "no execution is failing", gen, now
        )

    stable = job.status.stable_version
    if target and all_ready:
        stable = version
    status = job.status.model_copy(
        update={
            "observed_generation": gen,
            "current_version": version,
            "stable_version": stable,
            "target_nodes": target,
            "ready_nodes": ready,
            "execution_counts": dict(sorted(counts.items())),
            "conditions": conds,
        }
    )
    events = []
    before = condition_status(job.status.conditions, R.READY)
    after = condition_status(conds, R.READY)
    if after == "True" and before != "True":
        events.append(
            EventIntent(
                "Normal", R.READY, f"{ready}/{target} nodes {good.value.lower()} version {version}"
            )
        )
    if (
        completes
        and condition_status(conds, R.COMPLETE) == "True"
        and condition_status(job.status.conditions, R.COMPLETE) != "True"
    ):
        events.append(
            EventIntent(
                "Warning" if failed else "Normal",
                R.COMPLETE,
                f"{target - failed}/{target} executions succeeded",
            )
        )
    return status, events


def _invalid(snap: Snapshot, message: str, now: datetime) -> Plan:
    job = snap.job
    conds = set_condition(
        list(job.status.conditions), R.READY, "False", R.INVALID_SPEC, message, job.generation, now
    )
    status = job.status.model_copy(
        update={"observed_generation": job.generation, "conditions": conds}
    )
    return Plan([], status, status != job.status, [EventIntent("Warning", R.INVALID_SPEC, message)])
