"""Planner scenarios (one pass each) and a convergence property over many passes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from nodewave.core.execution.observe import Observation, PodAction, evaluate_execution
from nodewave.core.job.planner import (
    PlannerSettings,
    apply_health,
    build_execution_status,
    plan_job,
)
from nodewave.core.vocabulary.actions import (
    CreateExecution,
    CreatePod,
    DeleteExecution,
    DeletePod,
    PatchExecutionStatus,
    SetDesiredState,
)
from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import JobStatus
from tests.unit.builders import at, execution, job_spec, node, pod, snapshot
from tests.unit.simulation import simulate

S = ObservedState
EU = {"region": "eu"}


def kinds(actions: list[object], kind: type) -> list:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, kind)]


def test_new_job_places_one_execution_with_its_pod_on_each_selected_node() -> None:
    snap = snapshot(
        [node("n1", region="eu"), node("n2", region="eu"), node("n3", region="us")],
        spec=job_spec(selector={"matchLabels": EU}),
    )
    plan = plan_job(snap, at(0))
    created = kinds(plan.actions, CreateExecution)
    assert sorted(c.node for c in created) == ["n1", "n2"]
    assert all(c.start and c.desired is DesiredState.RUNNING and c.version == 1 for c in created)
    assert plan.status.target_nodes == 2
    assert plan.status.ready_nodes == 0
    assert plan.status.execution_counts == {"Pending": 2}
    ready = next(c for c in plan.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "RolloutInProgress")


def test_settled_job_plans_nothing_and_status_is_stable() -> None:
    exs = [execution(n, state=S.RUNNING, stable=True, started=1) for n in ("n1", "n2")]
    pods = [pod(e.name, node_name=e.spec.node_name) for e in exs]
    exs = [
        dataclasses.replace(
            e,
            status=e.status.model_copy(
                update={
                    "pod_name": e.name,
                    "details": {"pod": e.name},
                    "message": "running",
                    "observed_generation": 1,
                }
            ),
        )
        for e in exs
    ]
    snap = snapshot([node("n1"), node("n2")], exs, pods)
    first = plan_job(snap, at(10))
    assert first.actions == []
    again = plan_job(
        dataclasses.replace(snap, job=dataclasses.replace(snap.job, status=first.status)), at(20)
    )
    assert again.actions == []
    assert not again.status_changed
    assert first.status.stable_version == 1
    ready = next(c for c in first.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("True", "AllNodesReady")
    # Steady: only events and deadlines wake it, and the long resync (issue 29).
    assert again.requeue_after == PlannerSettings().steady_resync == timedelta(minutes=10)
    # A node without its execution yet: soon.
    behind = dataclasses.replace(snap, nodes={**snap.nodes, "n3": node("n3")})
    placing = plan_job(behind, at(20))
    assert placing.requeue_after == timedelta(seconds=1), "its pod is being created"


def test_node_that_stops_matching_is_stopped_by_the_operator() -> None:
    ex = execution("n1", state=S.RUNNING)
    plan = plan_job(
        snapshot(
            [node("n1", region="us")],
            [ex],
            [pod(ex.name)],
            spec=job_spec(selector={"matchLabels": EU}),
        ),
        at(5),
    )
    stop = kinds(plan.actions, SetDesiredState)
    assert [(s.name, s.desired, s.by_operator, s.reason) for s in stop] == [
        (ex.name, DesiredState.STOPPED, True, "NodeNotSelected")
    ]
    assert [d.name for d in kinds(plan.actions, DeletePod)] == [ex.name]


def test_user_stop_is_respected_operator_stop_is_undone() -> None:
    by_user = execution("n1", desired=DesiredState.STOPPED, state=S.STOPPED)
    by_operator = execution("n2", desired=DesiredState.STOPPED, state=S.STOPPED, by_operator=True)
    plan = plan_job(snapshot([node("n1"), node("n2")], [by_user, by_operator]), at(5))
    assert [(s.name, s.desired) for s in kinds(plan.actions, SetDesiredState)] == [
        (by_operator.name, DesiredState.RUNNING)
    ]
    assert kinds(plan.actions, CreateExecution) == []
    assert [c.execution for c in kinds(plan.actions, CreatePod)] == [by_operator.name]


def run_of(ex: ExecutionInfo, incarnation: str, uid: str | None = None) -> ExecutionInfo:
    """`ex` as made under `incarnation`; uid "": only its pod stands for it (pod records)."""
    spec = ex.spec.model_copy(update={"incarnation": incarnation})
    return dataclasses.replace(ex, spec=spec, uid=ex.uid if uid is None else uid)


def test_a_cancel_asked_on_the_job_stops_the_named_runs_as_a_person_would() -> None:
    """`nodewave.io/cancel` (an execution only a pod stands for has no object to patch): each
    run named (name and incarnation) is stopped, not by the operator (never started again),
    with one desired state written for it (the person's overrules the operator's own undo of
    its stop); a run a person stopped already, a request for an earlier run of the same name
    (left behind) and a name no execution has ask nothing. A pod record's stop makes its
    Execution first: its pod is stopped from the next pass, on that Execution."""
    running = run_of(execution("n1", state=S.RUNNING), "a1")
    by_user = run_of(execution("n2", desired=DesiredState.STOPPED, state=S.STOPPED), "a2")
    by_operator = run_of(
        execution("n3", desired=DesiredState.STOPPED, state=S.STOPPED, by_operator=True), "a3"
    )
    earlier_run = run_of(execution("n4", state=S.RUNNING), "a4")
    record = run_of(execution("n5", state=S.RUNNING), "a5", uid="")
    live = [running, by_user, by_operator, earlier_run, record]
    snap = snapshot([node(f"n{i}") for i in range(1, 6)], live,
                    [pod(ex.name) for ex in (running, earlier_run, record)])  # fmt: skip
    asked = {f"{running.name}:a1", f"{by_user.name}:a2", f"{by_operator.name}:a3",
             f"{earlier_run.name}:old", "j-1-gone:a9", f"{record.name}:a5"}  # fmt: skip
    snap = dataclasses.replace(snap, job=dataclasses.replace(snap.job, cancel=frozenset(asked)))
    plan = plan_job(snap, at(5))
    desired = [
        (a.name, a.desired, a.by_operator, a.reason) for a in kinds(plan.actions, SetDesiredState)
    ]
    assert sorted(desired) == sorted(
        (ex.name, DesiredState.STOPPED, False, "StopRequested")
        for ex in (running, by_operator, record)
    )
    assert [d.name for d in kinds(plan.actions, DeletePod)] == [running.name]
    assert kinds(plan.actions, CreateExecution) == []


def test_new_version_replaces_the_old_on_every_node() -> None:
    old = execution("n1", version=1, state=S.RUNNING)
    plan = plan_job(snapshot([node("n1")], [old], [pod(old.name)], current=2), at(5))
    created = kinds(plan.actions, CreateExecution)
    assert [(c.version, c.previous) for c in created] == [(2, old.name)]
    assert [(s.name, s.desired, s.reason) for s in kinds(plan.actions, SetDesiredState)] == [
        (old.name, DesiredState.STOPPED, "Superseded")
    ]


def test_executions_of_versions_no_longer_kept_are_deleted_once_stopped() -> None:
    gone = execution(
        "n1", version=1, desired=DesiredState.STOPPED, state=S.STOPPED, by_operator=True
    )
    snap = snapshot(
        [node("n1")],
        [gone, execution("n1", version=3, state=S.RUNNING)],
        current=3,
        status=JobStatus(stable_version=3),
    )
    snap = dataclasses.replace(snap, versions={3: snap.current})
    plan = plan_job(snap, at(5))
    assert [d.name for d in kinds(plan.actions, DeleteExecution)] == [gone.name]


def test_run_to_completion_reports_complete() -> None:
    spec = job_spec(type="Query", rollout={"maxFailedNodesPercent": 50})  # 1 of 2 may fail
    done = execution("n1", state=S.COMPLETED)
    failed = execution("n2", state=S.FAILED)
    plan = plan_job(snapshot([node("n1"), node("n2")], [done, failed], spec=spec), at(5))
    conds = {c.type: (c.status, c.reason) for c in plan.status.conditions}
    assert conds["Complete"] == ("True", "SomeFailed")
    assert conds["Ready"] == ("False", "ExecutionsFailed")
    assert conds["Degraded"] == ("True", "ExecutionsFailed")
    assert any(e.reason == "Complete" and e.type == "Warning" for e in plan.events)


def test_no_selected_nodes_is_ready() -> None:
    plan = plan_job(
        snapshot([node("n1", region="us")], spec=job_spec(selector={"matchLabels": EU})), at(0)
    )
    ready = next(c for c in plan.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("True", "NoNodesSelected")


def test_status_write_appends_history_and_bumps_revision_only_on_change() -> None:
    ex = execution("n1", state=S.STARTING)
    built = build_execution_status(ex, Observation(S.RUNNING, "ContainersReady", "running"), at(3))
    assert built is not None
    status, event = built
    assert status.revision == 2
    assert status.stable_at == at(3)
    assert [h.state for h in status.history] == [S.RUNNING]
    assert event is not None
    assert event.reason == "Running"
    same = dataclasses.replace(ex, status=status)
    assert (
        build_execution_status(same, Observation(S.RUNNING, "ContainersReady", "running"), at(9))
        is None
    )


def test_requeue_at_the_next_deadline() -> None:
    ex = execution("n1", state=S.RUNNING, started=0)
    plan = plan_job(
        snapshot(
            [node("n1")],
            [ex],
            [pod(ex.name)],
            spec=job_spec(timeouts={"executionTimeoutSeconds": 12}),
        ),
        at(5),
    )
    assert plan.requeue_after == timedelta(seconds=7)


# ---- property: repeated passes with a simulated cluster converge to one execution and one pod per node ----


node_sets = st.lists(
    st.tuples(st.sampled_from(["eu", "us"]), st.booleans()), min_size=0, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(first=node_sets, second=node_sets, drop=st.sets(st.integers(0, 7)))
def test_converges_to_one_execution_and_one_pod_per_selected_node(
    first: list[tuple[str, bool]], second: list[tuple[str, bool]], drop: set[int]
) -> None:
    spec = job_spec(selector={"matchLabels": EU})
    nodes = [node(f"n{i}", region=r) for i, (r, _) in enumerate(first)]
    snap = snapshot(nodes, spec=spec)
    for step in range(6):
        if step == 3:  # the cluster changes: relabels, and some actions are lost (a crash)
            nodes = [node(f"n{i}", region=r) for i, (r, _) in enumerate(second)]
            snap = dataclasses.replace(snap, nodes={n.name: n for n in nodes})
        plan = plan_job(snap, at(step))
        actions = [a for i, a in enumerate(plan.actions) if not (step == 3 and i in drop)]
        snap = simulate(snap, actions)
        snap = dataclasses.replace(snap, job=dataclasses.replace(snap.job, status=plan.status))
    selected = {n.name for n in nodes if n.labels.get("region") == "eu"}
    running = {
        e.spec.node_name for e in snap.executions if e.spec.desired_state is DesiredState.RUNNING
    }
    assert selected <= running
    # Executions on deleted nodes stay wanted (the node may come back) but are Lost.
    for e in snap.executions:
        if e.spec.node_name in running - selected:
            assert e.spec.node_name not in snap.nodes
            assert e.status.observed_state is S.LOST
    for n in selected:
        mine = [e for e in snap.executions if e.spec.node_name == n]
        assert len(mine) == 1
        assert mine[0].name == build_execution_name("j", 1, n)
        assert mine[0].name in snap.pods
        assert mine[0].status.observed_state is S.RUNNING
    assert set(snap.pods) <= {e.name for e in snap.executions if e.spec.node_name in running}


def test_a_new_execution_settles_before_its_first_status_write() -> None:
    ex = execution("n1", created=0)
    starting = pod(ex.name, "Pending", False)
    plan = plan_job(snapshot([node("n1")], [ex], [starting]), at(1))
    assert kinds(plan.actions, PatchExecutionStatus) == []
    assert plan.requeue_after == timedelta(seconds=29)
    plan = plan_job(snapshot([node("n1")], [ex], [starting]), at(30))
    assert [p.status.observed_state for p in kinds(plan.actions, PatchExecutionStatus)] == [
        S.STARTING
    ]
    # Running, or trouble, is written at once.
    plan = plan_job(snapshot([node("n1")], [ex], [pod(ex.name)]), at(0.5))
    assert [p.status.observed_state for p in kinds(plan.actions, PatchExecutionStatus)] == [
        S.RUNNING
    ]
    failing = pod(ex.name, "Pending", False, waiting="ErrImagePull")
    plan = plan_job(snapshot([node("n1")], [ex], [failing]), at(0.5))
    assert [p.status.observed_state for p in kinds(plan.actions, PatchExecutionStatus)] == [
        S.DEGRADED
    ]


def test_a_version_never_running_fails_at_the_deadline_naming_the_cause() -> None:
    """An image that cannot be pulled keeps the pod Pending: at deadlineSeconds the execution
    fails, its pod goes, and the error says what stood in the way (first seen on a real node)."""
    spec = job_spec(
        rollout={"strategy": "Rolling", "healthCheck": {"deadlineSeconds": 15}},
    )
    ex = execution("n1", state=S.DEGRADED)
    stuck = pod(build_execution_name("j", 1, "n1"), "Pending", False, waiting="ErrImageNeverPull")
    obs = evaluate_execution(
        ex, stuck, node("n1"), spec, at(14), node_lost_grace=timedelta(seconds=60)
    )
    assert obs.state is S.DEGRADED
    before = apply_health(ex, obs, stuck, spec, None, at(14))
    assert (before.state, before.deadline) == (S.DEGRADED, at(15))
    after = apply_health(ex, obs, stuck, spec, None, at(15))
    assert (after.state, after.reason, after.pod_action) == (
        S.FAILED,
        "HealthCheckDeadline",
        PodAction.DELETE,
    )
    assert after.error is not None
    assert after.error.message.startswith("not running within deadlineSeconds=15: ")
    assert "ErrImageNeverPull" in after.error.message
