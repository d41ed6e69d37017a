"""The planner's rules one at a time (core/job/planner.py): an execution's next status and Event,
the health gate in front of Running, and what one pass over a Job writes (actions, the Job's
status and Events, the health windows it keeps). Each case pins exact values, so a rule that
breaks shows here, not only in a cluster test."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from nodewave.core.execution.observe import Observation, PodAction
from nodewave.core.job.planner import (
    PlannerSettings,
    apply_health,
    build_execution_status,
    evaluate_baseline,
    plan_job,
)
from nodewave.core.job.policy import ServiceAccountRef
from nodewave.core.rollout.waves import order_nodes
from nodewave.core.vocabulary.actions import (
    CreateExecution,
    CreatePod,
    DeleteExecution,
    DeletePod,
    EnsureConfigMap,
    EventIntent,
    PatchExecutionStatus,
    SetDesiredState,
)
from nodewave.core.vocabulary.naming import build_incarnation
from nodewave.core.vocabulary.snapshot import ExecutionInfo, PodInfo
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import (
    DesiredState,
    ExecutionStatus,
    HealthWindow,
    MaintenanceStatus,
    ObservedState,
    Transition,
)
from nodewave.models.job import JobSpec, JobStatus, RolloutPhase, RolloutStatus
from tests.unit.builders import at, execution, job_spec, node, pod, snapshot

S = ObservedState
NAME = execution("n1").name

# ---- build_execution_status: the next status and the transition's Event -----------------


def running_status(**kw: Any) -> ExecutionStatus:
    base: dict[str, Any] = {
        "observed_state": S.RUNNING,
        "revision": 3,
        "message": "running",
        "pod_name": NAME,
        "details": {"pod": NAME},
        "started_at": at(1),
        "stable_at": at(2),
        "observed_generation": 1,
        "history": [Transition(state=S.RUNNING, time=at(2), reason="ContainersReady")],
    }
    return ExecutionStatus.model_validate({**base, **kw}, by_name=True)


def with_status(status: ExecutionStatus) -> ExecutionInfo:
    return replace(execution("n1"), status=status)


RUNNING_OBS = Observation(S.RUNNING, "ContainersReady", "running", details={"pod": NAME},
                          started_at=at(1), restarts=0, replaced_pod_restarts=0)  # fmt: skip


def test_no_change_writes_nothing() -> None:
    assert build_execution_status(with_status(running_status()), RUNNING_OBS, at(9)) is None


def test_a_transition_appends_history_bumps_revision_and_says_it_in_an_event() -> None:
    error = ErrorInfo(code="Error", message="container main exited with code 1")
    obs = Observation(S.FAILED, "Error", error.message, error=error,
                      details={"pod": NAME, "exitCode": "1"}, started_at=at(1))  # fmt: skip
    built = build_execution_status(with_status(running_status()), obs, at(9), "j-v2-n1-x")
    assert built is not None
    status, event = built
    assert event == EventIntent("Warning", "Failed", f"Failed on node n1: {error.message}")
    assert (status.observed_state, status.revision, status.error) == (S.FAILED, 4, error)
    assert status.history[-1] == Transition(
        state=S.FAILED, time=at(9), reason="Error", message=error.message
    )
    assert len(status.history) == 2
    assert (status.finished_at, status.stable_at, status.started_at) == (at(9), at(2), at(1))
    assert (status.next_execution, status.pod_name) == ("j-v2-n1-x", NAME)
    assert status.details == {"pod": NAME, "exitCode": "1"}


@pytest.mark.parametrize(
    ("state", "kind"),
    [(S.RUNNING, "Normal"), (S.DEGRADED, "Warning"), (S.LOST, "Warning"),
     (S.COMPLETED, "Normal"), (S.STOPPED, "Normal")],
)  # fmt: skip
def test_trouble_is_a_warning(state: ObservedState, kind: str) -> None:
    old = running_status(observedState=S.STARTING.value)
    built = build_execution_status(with_status(old), replace(RUNNING_OBS, state=state), at(9))
    assert built is not None
    assert built[1] is not None
    assert built[1].type == kind


def test_a_change_without_a_transition_writes_the_status_and_no_event() -> None:
    obs = replace(RUNNING_OBS, message="running again", details={"pod": "other-pod"})
    built = build_execution_status(with_status(running_status()), obs, at(9))
    assert built is not None
    status, event = built
    assert event is None
    assert (status.revision, status.message, status.pod_name) == (4, "running again", "other-pod")
    assert len(status.history) == 1


def test_the_observations_restart_counts_are_written() -> None:
    obs = replace(RUNNING_OBS, restarts=5, replaced_pod_restarts=3)
    built = build_execution_status(with_status(running_status()), obs, at(9))
    assert built is not None
    assert (built[0].restarts, built[0].replaced_pod_restarts) == (5, 3)


def test_what_the_observation_leaves_out_is_kept() -> None:
    old = running_status(
        observedState=S.FAILED.value, finishedAt=at(5), nextExecution="j-v2-n1-x",
        restarts=4, replacedPodRestarts=2,
    )  # fmt: skip
    obs = Observation(S.FAILED, "Error", "gone", started_at=at(1))  # no pod, no counts
    built = build_execution_status(with_status(old), obs, at(9))
    assert built is not None
    status, _ = built
    assert (status.finished_at, status.next_execution, status.pod_name) == (
        at(5),
        "j-v2-n1-x",
        NAME,
    )
    assert (status.restarts, status.replaced_pod_restarts) == (4, 2)


def test_a_first_status_is_a_transition_even_in_the_initial_state() -> None:
    obs = Observation(S.PENDING, "Unscheduled", "waiting for the scheduler")
    built = build_execution_status(execution("n1"), obs, at(9))
    assert built is not None
    status, event = built
    assert (status.revision, status.finished_at, status.stable_at) == (1, None, None)
    assert event == EventIntent(
        "Normal", "Pending", "Pending on node n1: waiting for the scheduler"
    )


def test_long_messages_are_cut_to_1024_characters_in_history_and_event() -> None:
    obs = replace(RUNNING_OBS, state=S.DEGRADED, message="x" * 2000)
    built = build_execution_status(with_status(running_status()), obs, at(9))
    assert built is not None
    status, event = built
    assert len(status.history[-1].message) == 1024
    assert event is not None
    assert len(event.message) == 1024


def test_a_health_window_is_written_when_it_closes_or_the_state_moves() -> None:
    window = HealthWindow(consecutive_healthy=1, error_rate=0.0)
    validating = running_status(observedState=S.VALIDATING.value, message="validating")
    obs = replace(RUNNING_OBS, state=S.VALIDATING, message="validating", health=window)
    assert build_execution_status(with_status(validating), obs, at(9)) is None, "mid-window"
    closed = build_execution_status(
        with_status(validating), replace(obs, health_closed=True), at(9)
    )
    assert closed is not None
    assert closed[0].health == window
    moved = build_execution_status(with_status(running_status()), obs, at(9))
    assert moved is not None
    assert moved[0].health == window


# ---- apply_health: the gate between a running pod and Running ------------------------------

HC = {"deadlineSeconds": 60, "intervalSeconds": 10, "successThreshold": 2}


def gate(
    obs: Observation,
    *,
    ex: ExecutionInfo | None = None,
    p: PodInfo | None = None,
    spec: JobSpec | None = None,
    window: HealthWindow | None = None,
    now: float = 5,
    external: float | str | None = None,
) -> Observation:
    return apply_health(
        ex or execution("n1"),
        obs,
        p,
        spec or job_spec(rollout={"healthCheck": HC}),
        window,
        at(now),
        external,
    )


UP = Observation(S.RUNNING, "ContainersReady", "running", details={"pod": NAME})


@pytest.mark.parametrize(
    ("obs", "ex", "spec"),
    [
        pytest.param(UP, None, job_spec(), id="no-health-deadline"),
        pytest.param(UP, execution("n1", state=S.RUNNING, stable=True), None, id="already-validated"),
        pytest.param(UP, execution("n1", desired=DesiredState.STOPPED), None, id="not-meant-to-run"),
        pytest.param(replace(UP, state=S.FAILED), None, None, id="finished"),
        pytest.param(replace(UP, state=S.LOST), None, None, id="lost"),
    ],
)  # fmt: skip
def test_the_gate_leaves_alone(obs: Observation, ex: ExecutionInfo | None, spec: JobSpec) -> None:
    assert gate(obs, ex=ex, p=pod(NAME), spec=spec) is obs


def test_a_pod_not_running_waits_for_the_deadline() -> None:
    starting = Observation(S.STARTING, "ContainersStarting", "containers are starting",
                           deadline=at(90))  # fmt: skip
    waiting = gate(starting, p=pod(NAME, "Pending", False))
    assert waiting == replace(starting, deadline=at(60))
    sooner = replace(starting, deadline=at(30))
    assert gate(sooner, p=pod(NAME, "Pending", False)) == sooner


@pytest.mark.parametrize(
    ("p", "action", "what", "type_"),
    [
        pytest.param(pod(NAME, "Pending", False), PodAction.DELETE, "running", "Pipeline", id="pod"),
        pytest.param(None, PodAction.NONE, "running", "Pipeline", id="no-pod"),
        pytest.param(pod(NAME, deleting=True), PodAction.NONE, "running", "Pipeline",
                     id="pod-being-deleted"),
        pytest.param(pod(NAME), PodAction.DELETE, "completed", "Query", id="run-to-completion"),
    ],
)  # fmt: skip
def test_not_up_at_the_deadline_fails_naming_the_cause(
    p: PodInfo | None, action: PodAction, what: str, type_: str
) -> None:
    stuck = Observation(S.DEGRADED, "ImagePullBackOff", "container main: ImagePullBackOff",
                        deadline=at(70))  # fmt: skip
    spec = job_spec(type=type_, rollout={"healthCheck": HC})
    failed = gate(stuck, p=p, spec=spec, now=60)
    msg = f"not {what} within deadlineSeconds=60: container main: ImagePullBackOff"
    assert failed == replace(
        stuck,
        state=S.FAILED,
        reason="HealthCheckDeadline",
        message=msg,
        pod_action=action,
        error=ErrorInfo(code="HealthCheckDeadline", message=msg),
        deadline=None,
    )


def test_a_running_pod_is_validating_until_its_windows_pass() -> None:
    res = gate(replace(UP, deadline=at(100)), p=pod(NAME), now=5)
    assert (res.state, res.reason, res.error) == (S.VALIDATING, "Validating", None)
    assert res.message == "validating: 0/2 healthy windows, last error rate 0.00"
    assert res.deadline == at(7), "woken for the next sample (every 2 s), before the deadline"
    assert (res.health is not None, res.health_closed) == (True, False)
    assert gate(replace(UP, deadline=at(6)), p=pod(NAME), now=5).deadline == at(6)
    late = gate(replace(UP, deadline=at(100)), p=pod(NAME), now=59)
    assert late.deadline == at(60), "the health deadline, when it comes before the next sample"
    crash = ErrorInfo(code="CrashLoopBackOff", message="container main: CrashLoopBackOff")
    degraded = replace(UP, state=S.DEGRADED, reason="CrashLoopBackOff", error=crash)
    assert gate(degraded, p=pod(NAME, ready=False), now=5).error is None


def test_validated_is_running_and_clears_the_error() -> None:
    window = HealthWindow(window_start=at(0), last_sample=at(8), samples=5, consecutive_healthy=1)
    res = gate(replace(UP, error=ErrorInfo(code="x", message="y")), p=pod(NAME), window=window,
               now=10)  # fmt: skip
    assert (res.state, res.reason, res.error, res.health_closed) == (
        S.RUNNING,
        "Validated",
        None,
        True,
    )
    assert res.message == "validated: 2 healthy windows of 10s"
    assert res.health is not None
    assert res.health.consecutive_healthy == 2


def test_failed_windows_fail_it_and_delete_its_pod() -> None:
    window = HealthWindow(window_start=at(0), last_sample=at(8), samples=5, unhealthy_samples=5,
                          consecutive_unhealthy=2)  # fmt: skip
    res = gate(replace(UP, deadline=at(50)), p=pod(NAME, ready=False), window=window, now=10)
    msg = "3 unhealthy windows in a row (error rate 1.00 > 0.1)"
    assert (res.state, res.reason, res.message) == (S.FAILED, "HealthCheckFailed", msg)
    assert (res.pod_action, res.error) == (
        PodAction.DELETE,
        ErrorInfo(code="HealthCheckFailed", message=msg),
    )
    assert (res.deadline, res.health_closed) == (None, True)
    assert res.health is not None
    assert res.health.consecutive_unhealthy == 3


def test_an_external_rate_reaches_the_window() -> None:
    prom = {**HC, "prometheus": {"address": "http://127.0.0.1:9090", "query": "q"}}
    window = HealthWindow(window_start=at(0), last_sample=at(8), samples=5)
    res = gate(UP, p=pod(NAME), spec=job_spec(rollout={"healthCheck": prom}), window=window,
               now=10, external=0.5)  # fmt: skip
    assert res.health is not None
    assert res.health.error_rate == 0.5


# ---- one pass over a Job --------------------------------------------------------------------


def test_an_invalid_selector_is_refused_once_with_nothing_done() -> None:
    spec = job_spec(selector={"matchExpressions": ["region in (eu"]})
    snap = snapshot([node("n1")], [execution("n1", state=S.RUNNING)], [pod(NAME)], spec=spec)
    plan = plan_job(snap, at(3))
    assert plan.actions == []
    conds = {c.type: (c.status, c.reason, c.observed_generation) for c in plan.status.conditions}
    assert conds == {
        "Ready": ("False", "InvalidSpec", 1),
        "Stalled": ("True", "InvalidSpec", 1),
        "Reconciling": ("False", "InvalidSpec", 1),
    }
    assert plan.status.observed_generation == 1
    (event,) = plan.events
    assert (event.type, event.reason) == ("Warning", "InvalidSpec")
    assert "region in (eu" in event.message
    assert event.message == plan.status.conditions[0].message != ""
    assert plan.status_changed
    again = plan_job(replace(snap, job=replace(snap.job, status=plan.status)), at(4))
    assert (again.events, again.status_changed) == ([], False)


def test_an_unknown_time_zone_is_refused_and_what_runs_keeps_running() -> None:
    window = {"start": "01:00", "end": "03:00", "timeZone": "Europe/Atlantis"}
    spec = job_spec(rollout={"maintenanceWindows": [window]})
    snap = snapshot([node("n1")], [execution("n1", state=S.RUNNING)], [pod(NAME)], spec=spec)
    plan = plan_job(snap, at(3))
    assert plan.actions == []
    (event,) = plan.events
    assert (event.type, event.reason) == ("Warning", "InvalidSpec")
    assert event.message == (
        "maintenanceWindows[0].timeZone: unknown time zone 'Europe/Atlantis' (an IANA name "
        "such as Europe/Berlin or UTC)"
    )


def test_a_closed_window_wakes_the_job_when_it_opens() -> None:
    """Version 2 due outside its window (00:10-00:20 UTC, now 00:09:45): the pass comes back
    when it opens, not at the next resync."""
    window = {"start": "00:10", "end": "00:20"}
    spec = job_spec(rollout={"strategy": "Rolling", "maxParallel": 50,
                             "healthCheck": {"deadlineSeconds": 60}, "maintenanceWindows": [window]})  # fmt: skip
    snap = snapshot([node("n1")], [execution("n1", state=S.RUNNING)], [pod(NAME)], spec=spec)
    snap = replace(snap, current=replace(snap.current, number=2),
                   job=replace(snap.job, status=JobStatus(stable_version=1, current_version=1)))  # fmt: skip
    plan = plan_job(snap, at(9 * 60 + 45))
    assert plan.status.rollout is not None
    assert plan.status.rollout.message == (
        "waiting for a maintenance window before wave 1, opens at 2026-01-01T00:10:00+00:00 (UTC)"
    )
    assert plan.requeue_after == timedelta(seconds=15)


def test_an_execution_being_recreated_is_created_again_only_once_it_is_gone() -> None:
    """A restart deletes an execution in the foreground (its pod first); creating it again
    while it terminates would only meet AlreadyExists, and adopt the old pod after."""
    old = replace(execution("n1", state=S.RUNNING, stable=True), deleting=True)
    snap = snapshot([node("n1")], [old], [pod(NAME)])
    waiting = plan_job(snap, at(3))
    assert not [a for a in waiting.actions if isinstance(a, CreateExecution)]
    gone = plan_job(replace(snap, executions=()), at(4))
    assert [a.node for a in gone.actions if isinstance(a, CreateExecution)] == ["n1"]


def test_a_stale_pod_goes_before_anything_is_made_under_its_name() -> None:
    """The Job's pod under an execution's name that is no live execution's own (its execution
    deleted by a retry or a person, or its create failed after the pod's): the operator
    deletes it, and makes neither an execution nor a pod under that name until it is gone,
    so an execution made again never reads its predecessor's pod."""
    stale = {NAME: pod(NAME)}
    first = plan_job(replace(snapshot([node("n1")]), stale_pods=stale), at(3))
    assert [a for a in first.actions if isinstance(a, DeletePod)] == [
        DeletePod(NAME, f"pod-uid-{NAME}")
    ]
    assert not [a for a in first.actions if isinstance(a, CreateExecution | CreatePod)]
    terminating = {NAME: pod(NAME, deleting=True)}
    waiting = plan_job(replace(snapshot([node("n1")]), stale_pods=terminating), at(4))
    assert not [
        a for a in waiting.actions if isinstance(a, CreateExecution | CreatePod | DeletePod)
    ]
    # An execution without its pod (made again before the stale one was seen) gets none yet.
    starting = execution("n1", state=S.STARTING)
    held = plan_job(replace(snapshot([node("n1")], [starting]), stale_pods=terminating), at(40))
    assert not [a for a in held.actions if isinstance(a, CreatePod)]
    # Once gone: made again, with an incarnation of its own (another in another pass).
    gone = plan_job(snapshot([node("n1")]), at(5))
    (create,) = [a for a in gone.actions if isinstance(a, CreateExecution)]
    assert create.incarnation == build_incarnation("job-uid", NAME, at(5))
    later = plan_job(snapshot([node("n1")]), at(6))
    assert [a.incarnation for a in later.actions if isinstance(a, CreateExecution)] != [
        create.incarnation
    ]


def test_the_operators_own_service_account_is_refused() -> None:
    spec = job_spec(template={"spec": {"serviceAccountName": "nodewave",
                                       "containers": [{"name": "main", "image": "app:1"}]}})  # fmt: skip
    snap = snapshot([node("n1")], spec=spec)
    snap = replace(snap, current=replace(snap.current, template=spec.template))
    own = PlannerSettings(operator_account=ServiceAccountRef("ns", "nodewave"))
    refused = plan_job(snap, at(0), own)
    assert refused.actions == []
    assert [e.reason for e in refused.events] == ["ServiceAccountNotAllowed"]
    other = PlannerSettings(operator_account=ServiceAccountRef("other-ns", "nodewave"))
    assert [type(a) for a in plan_job(snap, at(0), other).actions] == [
        EnsureConfigMap,
        CreateExecution,
    ]


def test_nodes_are_selected_by_name_and_placed_in_the_jobs_own_order() -> None:
    names = [f"n{i}" for i in range(6)]
    spec = job_spec(selector={"matchNames": names[:4]})
    plan = plan_job(snapshot([node(n) for n in names], spec=spec), at(0))
    created = [a.node for a in plan.actions if isinstance(a, CreateExecution)]
    assert created == order_nodes("j", names[:4])
    assert created != sorted(created) or order_nodes("other", names[:4]) != created


def test_creates_and_deletes_name_the_pod_and_its_owner() -> None:
    ex = execution("n1", state=S.STARTING)
    snap = snapshot([node("n1")], [ex])
    (create,) = [a for a in plan_job(snap, at(40)).actions if isinstance(a, CreatePod)]
    # The pod says the execution's wave and the one it replaces (record.build_record_spec).
    assert create == CreatePod(ex.name, ex.uid, "n1", 1, ex.spec.rollout_wave, None, None)
    stop = replace(ex, spec=ex.spec.model_copy(update={"desired_state": DesiredState.STOPPED}))
    gone = plan_job(snapshot([node("n1")], [stop], [pod(NAME)]), at(40))
    assert [a for a in gone.actions if isinstance(a, DeletePod)] == [
        DeletePod(NAME, f"pod-uid-{NAME}")
    ]


def test_a_new_version_hands_each_node_over_from_the_newest_execution() -> None:
    """Versions 1 and 2 on n1 (1 stopped by a user); version 3 goes there, after 2."""
    v1 = execution("n1", 1, desired=DesiredState.STOPPED, state=S.STOPPED)
    v2 = execution("n1", 2, state=S.RUNNING, stable=True, started=1)
    snap = snapshot([node("n1")], [v2, v1], [pod(v2.name)], current=3,
                    status=JobStatus(stable_version=3))  # fmt: skip
    plan = plan_job(snap, at(40))
    (create,) = [a for a in plan.actions if isinstance(a, CreateExecution)]
    assert (create.version, create.previous) == (3, v2.name)
    assert SetDesiredState(v2.name, DesiredState.STOPPED, True, "Superseded") in plan.actions
    (patch,) = [
        a for a in plan.actions if isinstance(a, PatchExecutionStatus) and a.name == v2.name
    ]
    assert (patch.name, patch.status.next_execution, patch.previous) == (
        v2.name, create.name, v2.status,
    )  # fmt: skip


def test_an_execution_the_operator_stopped_starts_again_when_its_node_is_selected() -> None:
    ex = execution("n1", desired=DesiredState.STOPPED, state=S.STOPPED, by_operator=True)
    plan = plan_job(snapshot([node("n1")], [ex]), at(40))
    assert SetDesiredState(ex.name, DesiredState.RUNNING, False, "NodeSelected") in plan.actions


def test_the_node_lost_grace_is_the_operators_setting() -> None:
    ex = execution("n1", state=S.RUNNING, started=1)
    snap = snapshot([node("n1", ready=False, since=0)], [ex], [pod(NAME)])
    short = PlannerSettings(node_lost_grace=timedelta(seconds=5))
    assert plan_job(snap, at(10), short).status.execution_counts == {"Lost": 1}
    assert plan_job(snap, at(10)).status.execution_counts == {"Running": 1}


def test_every_settling_execution_is_skipped_and_one_in_trouble_is_written() -> None:
    quiet = [execution(n) for n in ("n1", "n2")]
    trouble = execution("n3")
    pods = [pod(quiet[0].name, "Pending", False, node_name="n1"),
            pod(quiet[1].name, "Pending", False, node_name="n2"),
            pod(trouble.name, "Pending", False, node_name="n3", waiting="ImagePullBackOff")]  # fmt: skip
    plan = plan_job(snapshot([node(n) for n in ("n1", "n2", "n3")], [*quiet, trouble], pods), at(5))
    patched = [a.name for a in plan.actions if isinstance(a, PatchExecutionStatus)]
    assert patched == [trouble.name]
    assert plan.requeue_after == timedelta(seconds=25), "woken when the quiet ones settle"


def test_counts_include_executions_created_in_this_pass() -> None:
    waiting = execution("n1")
    plan = plan_job(snapshot([node("n1"), node("n2")], [waiting]), at(5))
    assert plan.status.execution_counts == {"Pending": 2}
    assert (plan.status.current_version, plan.status.target_nodes) == (1, 2)
    assert plan.status_changed is True


def test_a_pass_keeps_windows_in_progress_and_counts_the_closed_ones() -> None:
    rollout = {"strategy": "Rolling", "maxParallel": 100,
               "healthCheck": {**HC, "prometheus": {"address": "http://127.0.0.1:9", "query": "q"}}}  # fmt: skip
    spec = job_spec(rollout=rollout)
    exs = [
        dataclasses.replace(
            e,
            spec=e.spec.model_copy(update={"rollout_wave": 1}),
            status=e.status.model_copy(update={"started_at": at(0)}),
        )
        for e in (execution(n, 2, state=S.VALIDATING) for n in ("n1", "n2", "n3", "n4"))
    ]
    stable = [
        execution(n, 1, desired=DesiredState.STOPPED, state=S.STOPPED)
        for n in ("n1", "n2", "n3", "n4")
    ]
    window = HealthWindow(window_start=at(0), last_sample=at(8), samples=5)
    snap = snapshot(
        [node("n1"), node("n2"), node("n3"), node("n4")], [*exs, *stable],
        [pod(e.name, node_name=e.spec.node_name) for e in exs], spec=spec, current=2,
        status=JobStatus(stable_version=1, rollout=RolloutStatus(
            phase=RolloutPhase.PROGRESSING, version=2, from_version=1, wave=1, total_waves=1,
            started_at=at(0))),
    )  # fmt: skip
    snap = replace(
        snap,
        health={e.name: window for e in exs[:3]},
        external_error_rates={exs[0].name: 0.0, exs[1].name: 0.9, exs[2].name: 0.0},
    )
    plan = plan_job(snap, at(10))
    assert plan.window_verdicts == {"healthy": 2, "unhealthy": 1}
    assert set(plan.health) == {e.name for e in exs}, "every validating window stays in memory"
    assert plan.health[exs[1].name].consecutive_unhealthy == 1
    assert plan.health[exs[3].name].samples == 1, "n4 had no window: its first sample"
    rollout_status = plan.status.rollout
    assert rollout_status is not None
    assert (rollout_status.phase, rollout_status.wave) == (RolloutPhase.PROGRESSING, 1)


def test_a_rollout_starts_at_the_pass_that_sees_the_new_version() -> None:
    spec = job_spec(rollout={"strategy": "Rolling", "healthCheck": HC})
    stable = execution("n1", 1, state=S.RUNNING, stable=True, started=1)
    snap = snapshot([node("n1")], [stable], [pod(stable.name)], spec=spec, current=2,
                    status=JobStatus(stable_version=1))  # fmt: skip
    rollout_status = plan_job(snap, at(10)).status.rollout
    assert rollout_status is not None
    assert (rollout_status.version, rollout_status.started_at) == (2, at(10))


def test_ready_and_complete_are_announced_once() -> None:
    spec = job_spec(type="Query")
    done = [execution("n1", state=S.COMPLETED), execution("n2", state=S.FAILED)]
    snap = snapshot([node("n1"), node("n2")], done, spec=spec)
    plan = plan_job(snap, at(5))
    complete = [e for e in plan.events if e.reason == "Complete"]
    assert complete == [EventIntent("Warning", "Complete", "1/2 executions succeeded")]
    again = plan_job(replace(snap, job=replace(snap.job, status=plan.status)), at(6))
    assert again.events == []
    ok = snapshot([node("n1")], [execution("n1", state=S.COMPLETED)], spec=spec)
    assert [e for e in plan_job(ok, at(5)).events if e.reason == "Complete"] == [
        EventIntent("Normal", "Complete", "1/1 executions succeeded")
    ]
    up = snapshot([node("n1")], [execution("n1", state=S.RUNNING, started=1)], [pod(NAME)])
    ready = plan_job(up, at(5))
    assert [e for e in ready.events if e.reason == "Ready"] == [
        EventIntent("Normal", "Ready", "1/1 nodes running version 1")
    ]
    assert plan_job(replace(up, job=replace(up.job, status=ready.status)), at(6)).events == []


def test_a_status_change_of_counts_only_is_not_significant() -> None:
    up = snapshot([node("n1"), node("n2")], [execution("n1", state=S.RUNNING, started=1)],
                  [pod(NAME)])  # fmt: skip
    first = plan_job(up, at(5))
    assert first.status_significant
    moved = replace(up, job=replace(up.job, status=first.status))
    second = plan_job(moved, at(6))
    assert not second.status_significant


def test_counts_and_conditions_of_failed_lost_and_degraded_nodes() -> None:
    nodes = [node("n1"), node("n2"), node("n3", ready=False, since=0), node("n4")]
    exs = [
        execution("n1", state=S.RUNNING, started=1),
        execution("n2", state=S.FAILED),
        execution("n3", state=S.RUNNING, started=1),
        execution("n4", state=S.RUNNING, started=1),
    ]
    pods = [pod(exs[0].name, node_name="n1"), pod(exs[2].name, node_name="n3"),
            pod(exs[3].name, ready=False, node_name="n4")]  # fmt: skip
    status = plan_job(
        snapshot(nodes, exs, pods, status=JobStatus(stable_version=1)), at(100)
    ).status
    assert (status.ready_nodes, status.target_nodes) == (1, 4)
    conds = {c.type: (c.status, c.reason, c.message) for c in status.conditions}
    assert conds["Degraded"] == ("True", "ExecutionsFailed", "1 failed, 1 degraded, 1 lost")
    assert conds["Ready"] == (
        "False",
        "ExecutionsFailed",
        "1/4 nodes running version 1; 1 failed, 1 lost",
    )
    assert conds["Reconciling"] == ("False", "AsExpected", "nothing to roll out")
    assert conds["Progressing"] == ("True", "RolloutComplete", "1/4 nodes running version 1")


def test_a_first_version_is_reconciling_until_it_settles() -> None:
    ex = execution("n1", state=S.STARTING)
    first = plan_job(snapshot([node("n1")], [ex], [pod(NAME, "Pending", False)]), at(40)).status
    conds = {c.type: (c.status, c.reason) for c in first.conditions}
    assert conds["Reconciling"] == ("True", "RolloutInProgress")
    assert conds["Progressing"] == ("True", "RolloutInProgress")
    assert first.ready_nodes == 0
    empty = plan_job(snapshot([]), at(40)).status
    assert {c.type: c.status for c in empty.conditions}["Reconciling"] == "False"
    query = plan_job(snapshot([node("n1")], [execution("n1", state=S.COMPLETED)],
                              spec=job_spec(type="Query")), at(40)).status  # fmt: skip
    assert query.ready_nodes == 1, "a run-to-completion node is ready when Completed"


def test_an_existing_execution_of_the_wanted_version_takes_over_from_the_running_one() -> None:
    old = execution("n1", 1, state=S.RUNNING, stable=True, started=1)
    new = execution("n1", 2, state=S.PENDING)
    snap = snapshot([node("n1")], [old, new], [pod(old.name)], current=2,
                    status=JobStatus(stable_version=2))  # fmt: skip
    plan = plan_job(snap, at(40))
    assert SetDesiredState(old.name, DesiredState.STOPPED, True, "Superseded") in plan.actions
    (patch,) = [
        a for a in plan.actions if isinstance(a, PatchExecutionStatus) and a.name == old.name
    ]
    assert patch.status.next_execution == new.name


def test_a_change_of_conditions_alone_is_significant() -> None:
    up = snapshot([node("n1")], [execution("n1", state=S.RUNNING, started=1)], [pod(NAME)])
    first = plan_job(up, at(5)).status
    flipped = [c.model_copy(update={"status": "False"}) if c.type == "Ready" else c
               for c in first.conditions]  # fmt: skip
    old = first.model_copy(update={"conditions": flipped})
    again = plan_job(replace(up, job=replace(up.job, status=old)), at(6))
    assert (again.status_changed, again.status_significant) == (True, True)


def test_a_window_that_validates_makes_it_running_even_if_this_sample_was_not_ready() -> None:
    """One unready sample of five is within a maxErrorRate of 0.5: validated, Running (the next
    pass, no longer gated, sees the pod unready as Degraded)."""
    hc = {**HC, "maxErrorRate": 0.5}
    window = HealthWindow(window_start=at(0), last_sample=at(8), samples=4, consecutive_healthy=1)
    unready = Observation(S.DEGRADED, "ContainersNotReady", "containers are not ready")
    res = gate(unready, p=pod(NAME, ready=False), spec=job_spec(rollout={"healthCheck": hc}),
               window=window, now=10)  # fmt: skip
    assert (res.state, res.reason) == (S.RUNNING, "Validated")


def test_a_large_placement_is_created_in_steps_and_the_rest_counted_pending() -> None:
    from tests.unit.simulation import simulate

    steps = PlannerSettings(max_creates=4)
    snap = snapshot([node(f"n{i}") for i in range(10)])
    created: list[list[str]] = []
    for _ in range(3):
        plan = plan_job(snap, at(0), steps)
        names = [a.node for a in plan.actions if isinstance(a, CreateExecution)]
        created.append(names)
        counts = plan.status.execution_counts
        assert sum(counts.values()) == 10, "those not created yet are counted Pending"
        assert counts["Pending"] >= 10 - sum(map(len, created[:-1]))
        snap = simulate(snap, plan.actions)
        if len(created) < 3:
            assert plan.requeue_after == timedelta(seconds=1), "the rest follows soon"
    assert [len(c) for c in created] == [4, 4, 2]
    in_order = [n for step in created for n in step]
    assert in_order == order_nodes("j", [f"n{i}" for i in range(10)]), "in wave order"
    assert plan.requeue_after > timedelta(0), "nothing left: no hurry"


def test_no_more_is_created_while_as_many_are_still_coming_up() -> None:
    # 3 of 10 created, their pods not running yet: with room for 4, one more now.
    steps = PlannerSettings(max_creates=4)
    names = order_nodes("j", [f"n{i}" for i in range(10)])
    up = [execution(n, 1) for n in names[:3]]
    snap = snapshot([node(f"n{i}") for i in range(10)], up)
    plan = plan_job(snap, at(0), steps)
    assert [a.node for a in plan.actions if isinstance(a, CreateExecution)] == [names[3]]
    running = [replace(e, status=e.status.model_copy(update={"revision": 1})) for e in up]
    plan = plan_job(snapshot([node(f"n{i}") for i in range(10)], running), at(0), steps)
    assert [a.node for a in plan.actions if isinstance(a, CreateExecution)] == names[3:7]


def test_a_deferred_node_keeps_its_previous_version_until_its_turn() -> None:
    from tests.unit.simulation import simulate, stable_on

    nodes = [f"n{i}" for i in range(6)]
    snap = stable_on(nodes, {"strategy": "Immediate"})
    plan = plan_job(snap, at(0), PlannerSettings(max_creates=2))
    moved = {a.node for a in plan.actions if isinstance(a, CreateExecution)}
    stopped = {a.name for a in plan.actions if isinstance(a, SetDesiredState)}
    assert len(moved) == 2
    assert stopped == {e.name for e in snap.executions if e.spec.node_name in moved}
    assert plan.requeue_after == timedelta(seconds=1)
    later = plan_job(simulate(snap, plan.actions), at(0), PlannerSettings(max_creates=2))
    assert len([a for a in later.actions if isinstance(a, CreateExecution)]) == 2


def test_a_pass_that_creates_executions_looks_again_within_a_second() -> None:
    # Its own create's watch echo wakes no pass, and the new execution's queue timeout (3 s)
    # and settle window were not observed by it: without this, the timeout waited for resync.
    spec = job_spec(timeouts={"queueTimeoutSeconds": 3})
    plan = plan_job(snapshot([node("n1")], spec=spec), at(0))
    assert [type(a).__name__ for a in plan.actions] == ["EnsureConfigMap", "CreateExecution"]
    assert plan.requeue_after == timedelta(seconds=1)
    settled = plan_job(snapshot([node("n1")], [execution("n1", 1)], spec=spec), at(0))
    assert settled.requeue_after == timedelta(seconds=3), "then the timeout itself"


def test_a_run_to_completion_wave_waits_until_its_executions_completed() -> None:
    """An Update, Rolling 50 % on 4 nodes, first version: wave 1 runs on two nodes. Running is
    not done for an Update: no node of wave 2 starts, and no stableAt is written, until both
    completed (a failure after it started still counts against the budget)."""
    spec = job_spec(type="Update", rollout={"strategy": "Rolling", "maxParallel": 50,
                                            "healthCheck": HC})  # fmt: skip
    nodes = [node(f"n{i}") for i in range(4)]
    wave1 = order_nodes("j", [n.name for n in nodes])[:2]
    rollout = RolloutStatus(phase=RolloutPhase.PROGRESSING, version=1, wave=1, total_waves=2)

    def pass_with(state: S, phase: str) -> Any:
        exs = [execution(n, state=state, started=1) for n in wave1]
        pods = [pod(e.name, phase, node_name=e.spec.node_name) for e in exs]
        snap = snapshot(nodes, exs, pods, spec=spec, status=JobStatus(rollout=rollout))
        return plan_job(snap, at(30)), exs

    running, exs = pass_with(S.RUNNING, "Running")
    assert not any(isinstance(a, CreateExecution) for a in running.actions)
    assert running.status.rollout is not None
    assert running.status.rollout.wave == 1
    built = build_execution_status(exs[0], RUNNING_OBS, at(30), completes=True)
    assert built is not None
    assert built[0].stable_at is None, "an Update that runs has not done its work yet"
    done, _ = pass_with(S.COMPLETED, "Succeeded")
    created = [a for a in done.actions if isinstance(a, CreateExecution)]
    assert sorted(c.node for c in created) == sorted(n.name for n in nodes if n.name not in wave1)
    assert {c.wave for c in created} == {2}


BASELINE_HC = {**HC, "maxErrorRate": 0.01, "prometheus": {
    "address": "http://127.0.0.1:9090", "query": "q",
    "baseline": {"lookbackSeconds": 300, "maxIncrease": 0.02}}}  # fmt: skip


@pytest.mark.parametrize(
    ("recorded", "measured", "limit", "note", "record"),
    [
        (None, None, None, "baseline not measured yet: maxErrorRate 0.01 applies", None),
        (None, 0.03, 0.05,
         "baseline 0.0300: this node's rate over the 300s before it moved; limit 0.0500 (+0.02)",
         (0.03, "baseline 0.0300: this node's rate over the 300s before it moved")),
        (None, "the query returned no sample", None,
         "no baseline (the query returned no sample): maxErrorRate 0.01 applies",
         (None, "no baseline (the query returned no sample): maxErrorRate 0.01 applies")),
        ((0.1, "baseline 0.1000: recorded"), 0.5, 0.12,
         "baseline 0.1000: recorded; limit 0.1200 (+0.02)", None),
        ((None, "no baseline (gone): maxErrorRate 0.01 applies"), 0.5, None,
         "no baseline (gone): maxErrorRate 0.01 applies", None),
    ],
    ids=["not-measured", "measured", "no-sample", "recorded-wins", "recorded-none"],
)  # fmt: skip
def test_evaluate_baseline(
    recorded: tuple[float | None, str] | None,
    measured: float | str | None,
    limit: float | None,
    note: str,
    record: tuple[float | None, str] | None,
) -> None:
    ex = execution("n1", state=S.VALIDATING)
    if recorded is not None:
        ex = with_status(ex.status.model_copy(
            update={"baseline_error_rate": recorded[0], "baseline_message": recorded[1]}))  # fmt: skip
    hc = job_spec(rollout={"strategy": "Rolling", "healthCheck": BASELINE_HC}).rollout.health_check
    got = evaluate_baseline(ex, hc, measured)
    assert got[0] == pytest.approx(limit) if limit is not None else got[0] is None
    assert got[1:] == (note, record)


def test_a_measured_baseline_is_written_once_into_the_status() -> None:
    spec = job_spec(rollout={"strategy": "Rolling", "healthCheck": BASELINE_HC})
    ex = execution("n1", state=S.VALIDATING, started=1)
    snap = replace(snapshot([node("n1")], [ex], [pod(NAME)], spec=spec), baselines={NAME: 0.03})
    (patch,) = [a for a in plan_job(snap, at(5)).actions if isinstance(a, PatchExecutionStatus)]
    assert (patch.status.baseline_error_rate, patch.status.baseline_message) == (
        0.03, "baseline 0.0300: this node's rate over the 300s before it moved")  # fmt: skip
    recorded = replace(ex, status=patch.status)
    later = replace(snap, executions=(recorded,), baselines={NAME: 0.5})
    again = [a for a in plan_job(later, at(6)).actions if isinstance(a, PatchExecutionStatus)]
    assert all(a.status.baseline_error_rate == 0.03 for a in again), "measured once"


# ---- a pass's restart and quarantine, end to end through plan_job ---------------------------


def steady_on(nodes: list[str], **spec: Any) -> Any:
    """Version 1 stable and Running on `nodes` (created at t=0), its pods ready."""
    execs = [execution(n, 1, state=S.RUNNING, stable=True) for n in nodes]
    return snapshot(
        [node(n) for n in nodes],
        execs,
        [pod(e.name, node_name=e.spec.node_name) for e in execs],
        spec=job_spec(**spec),
        status=JobStatus(stable_version=1, current_version=1),
    )


def test_a_restart_deletes_its_first_waves_executions_in_the_foreground_and_says_so() -> None:
    """restartAt after the executions were made: the first wave (20 % of 5 = 1 node) is
    deleted by uid, in the foreground (its pod gone first), and the status tells the restart."""
    snap = steady_on(
        ["n1", "n2", "n3", "n4", "n5"], rollout={"strategy": "Rolling", "maxParallel": 20}
    )
    snap = replace(snap, job=replace(snap.job, restart_at=at(5).isoformat()))
    plan = plan_job(snap, at(10))
    deletes = [a for a in plan.actions if isinstance(a, DeleteExecution)]
    assert len(deletes) == 1
    (gone,) = deletes
    first = next(e for e in snap.executions if e.name == gone.name)
    assert (gone.uid, gone.foreground) == (first.uid, True)
    # Its pod is the Job's, which no garbage collector removes with the execution.
    assert [a for a in plan.actions if isinstance(a, DeletePod)] == [
        DeletePod(first.name, f"pod-uid-{first.name}")
    ]
    assert plan.status.restart is not None
    assert (plan.status.restart.phase.value, plan.status.restart.wave) == ("Restarting", 1)
    assert "RestartStarted" in [e.reason for e in plan.events]


def test_quarantined_nodes_are_counted_only_while_the_job_cordons() -> None:
    ex = execution("n1", 1, state=S.FAILED)
    ex = replace(ex, status=ex.status.model_copy(update={
        "maintenance": MaintenanceStatus(cordoned=True, quarantined=True)}))  # fmt: skip
    other = replace(execution("n3", 1, state=S.FAILED), status=ex.status)
    gone = replace(execution("n2", 1, state=S.FAILED), deleting=True)
    gone = replace(gone, status=ex.status)
    snap = snapshot([node("n1"), node("n2"), node("n3")], [ex, gone, other], spec=job_spec(
        type="Update", nodeMaintenance={"cordon": True}), status=JobStatus(stable_version=1),
        namespace_labels={"nodewave.io/node-maintenance": "allowed"})  # fmt: skip
    assert plan_job(snap, at(10)).status.quarantined_nodes == 2  # not the one being deleted
    uncordoned = replace(snap, job=replace(snap.job, spec=job_spec(type="Update")))
    assert plan_job(uncordoned, at(10)).status.quarantined_nodes == 0
