"""A version whose pod the API server refuses (issue 32), in the pure core: the dry-run's
verdict refuses the version before any node is touched (the stable version kept), a refused
real create is said at the execution and the Job in the API's words, and the kube layer asks
the dry-run only for a version not placed yet."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from nodewave.core.execution.observe import PodAction, evaluate_execution
from nodewave.core.job.job_status import JobCounts, evaluate_pods_refused
from nodewave.core.job.planner import PlannerSettings, needs_pod_check, plan_job
from nodewave.core.views.preview import build_preview
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import CreateExecution, CreatePod, PatchExecutionStatus
from nodewave.core.vocabulary.snapshot import PodRefusal
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import ObservedState
from nodewave.models.job import JobStatus
from tests.unit.builders import at, execution, job_spec, node, pod, snapshot

S = ObservedState
QUOTA = 'pods "x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2'
PSA = 'pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true'


def said(words: str) -> PodRefusal:
    """The API server's refusal of a version's pod, as kube/podcheck.py records it."""
    return PodRefusal(R.POD_REFUSED, f"the API server refuses its pod: {words}")


def conditions(status: JobStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions}


def test_a_first_version_refused_by_the_dry_run_creates_nothing_and_says_why() -> None:
    snap = replace(snapshot([node("n1"), node("n2")]), pod_refusals={1: said(PSA)})
    plan = plan_job(snap, at(0))
    assert plan.actions == []
    conds = conditions(plan.status)
    words = f"the API server refuses its pod: {PSA}"
    assert conds[R.READY] == ("False", R.POD_REFUSED, words)
    assert conds[R.STALLED] == ("True", R.POD_REFUSED, words)
    assert conds[R.RECONCILING][:2] == ("False", R.POD_REFUSED)
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Warning", R.POD_REFUSED, words)
    ]
    # The refusal recorded, the next pass writes nothing and repeats no Event.
    again = plan_job(replace(snap, job=replace(snap.job, status=plan.status)), at(30))
    assert (again.status_changed, again.events) == (False, [])
    # Admitted (a quota raised): the rollout starts, the refusal is gone from the conditions.
    admitted = plan_job(
        replace(snap, job=replace(snap.job, status=plan.status), pod_refusals={}), at(60)
    )
    created = [a for a in admitted.actions if isinstance(a, CreateExecution)]
    assert created
    assert all(a.version == 1 for a in created)
    assert conditions(admitted.status)[R.STALLED][0] == "False"


def test_a_new_version_refused_keeps_the_stable_version_on_every_node() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    running = [execution(n.name, 1, state=S.RUNNING, started=1, stable=True) for n in nodes]
    pods = [pod(e.name, node_name=e.spec.node_name) for e in running]
    status = JobStatus(current_version=1, stable_version=1, observed_generation=1)
    base = snapshot(nodes, running, pods, current=2, status=status)
    plan = plan_job(replace(base, pod_refusals={2: said(QUOTA)}), at(100), PlannerSettings())
    # Nothing of version 2 created, nothing of version 1 stopped.
    assert all(isinstance(a, PatchExecutionStatus) for a in plan.actions)
    assert conditions(plan.status)[R.STALLED] == (
        "True", R.POD_REFUSED, f"version 2 is not rolled out: the API server refuses its pod: {QUOTA}"
    )  # fmt: skip
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", R.POD_REFUSED)]
    # A node that joins still gets the stable version.
    joined = replace(base, nodes={**base.nodes, "n4": node("n4")}, pod_refusals={2: said(QUOTA)})
    created = [a for a in plan_job(joined, at(100)).actions if isinstance(a, CreateExecution)]
    assert [(a.node, a.version) for a in created] == [("n4", 1)]


def test_a_refused_stable_version_is_no_fallback() -> None:
    """Both refused (the namespace's Pod Security level raised under both): nothing moves."""
    nodes = [node("n1")]
    status = JobStatus(current_version=1, stable_version=1, observed_generation=1)
    snap = replace(
        snapshot(nodes, [], current=2, status=status), pod_refusals={1: said(PSA), 2: said(PSA)}
    )
    plan = plan_job(snap, at(0))
    assert plan.actions == []
    assert conditions(plan.status)[R.STALLED][:2] == ("True", R.POD_REFUSED)


@pytest.mark.parametrize(
    ("versions_placed", "asked"),
    [([], True), ([2], True), ([1], False), ([1, 2], False)],
)
def test_only_a_version_with_no_execution_yet_is_dry_run(
    versions_placed: list[int], asked: bool
) -> None:
    executions = [execution(f"n{v}", v) for v in versions_placed]
    assert needs_pod_check(1, executions) is asked


def test_a_refused_create_is_pending_with_the_apis_words_and_cleared_by_a_pod() -> None:
    ex = execution("n1", state=S.PENDING)
    spec = job_spec()
    grace = timedelta(seconds=60)
    obs = evaluate_execution(ex, None, node("n1"), spec, at(5), node_lost_grace=grace,
                             create_error=QUOTA)  # fmt: skip
    assert (obs.state, obs.reason, obs.message, obs.pod_action, obs.error) == (
        S.PENDING, R.POD_REFUSED, f"the API server refused its pod: {QUOTA}", PodAction.CREATE,
        ErrorInfo(code=R.POD_REFUSED, message=QUOTA),
    )  # fmt: skip
    # The words go with the pod: once it exists, they are no longer the execution's state.
    created = evaluate_execution(ex, pod(ex.name, phase="Pending", node_name=None), node("n1"),
                                 spec, at(6), node_lost_grace=grace, create_error=QUOTA)  # fmt: skip
    assert (created.reason, created.error) == (R.UNSCHEDULED, None)


def test_a_refused_create_is_written_at_once_and_named_at_the_job() -> None:
    """Not held back by the settle window (an execution in trouble), and the Job's
    PodsRefused condition names it with the API's words; it clears once the pod exists."""
    nodes = [node("n1"), node("n2")]
    exs = [execution(n.name, 1, created=0) for n in nodes]
    snap = replace(snapshot(nodes, exs), pod_create_errors={exs[0].name: QUOTA})
    plan = plan_job(snap, at(1))
    patched = {a.name: a.status for a in plan.actions if isinstance(a, PatchExecutionStatus)}
    assert list(patched) == [exs[0].name]  # the other one still settles quietly
    assert (patched[exs[0].name].observed_state, patched[exs[0].name].error) == (
        S.PENDING, ErrorInfo(code=R.POD_REFUSED, message=QUOTA)
    )  # fmt: skip
    assert sorted(a.execution for a in plan.actions if isinstance(a, CreatePod)) == sorted(
        e.name for e in exs
    )  # asked again: a quota freed lets it through
    assert conditions(plan.status)[R.PODS_REFUSED] == (
        "True", R.POD_REFUSED, f"the API server refused the pod of {exs[0].name}: {QUOTA}"
    )  # fmt: skip
    after = replace(snap, job=replace(snap.job, status=plan.status), pod_create_errors={},
                    pods={e.name: pod(e.name, node_name=e.spec.node_name) for e in exs})  # fmt: skip
    assert conditions(plan_job(after, at(2)).status)[R.PODS_REFUSED][:2] == ("False", R.AS_EXPECTED)
    # A Job that never had a refused pod carries no such condition.
    assert R.PODS_REFUSED not in conditions(plan_job(snapshot(nodes, exs), at(1)).status)


COUNTS = JobCounts(version=1, target=3, updated=0, ready=0, failed=0, lost=0, degraded=0,
                   finished=0, completes=False, quarantined=None, phase=None,
                   rollout_message="")  # fmt: skip


@pytest.mark.parametrize(
    ("refused", "verdict"),
    [
        (None, None),
        ((), ("False", R.AS_EXPECTED, "the API server creates every pod")),
        ((("a", QUOTA),), ("True", R.POD_REFUSED, f"the API server refused the pod of a: {QUOTA}")),
        ((("a", QUOTA), ("b", PSA)),
         ("True", R.POD_REFUSED, f"the API server refused the pod of a (and of 1 more): {QUOTA}")),
    ],
)  # fmt: skip
def test_pods_refused_condition(
    refused: tuple[tuple[str, str], ...] | None, verdict: tuple[str, str, str] | None
) -> None:
    assert evaluate_pods_refused(replace(COUNTS, pods_refused=refused)) == verdict


def test_plan_shows_the_dry_runs_refusal_before_apply() -> None:
    snap = replace(snapshot([node("n1")]), pod_refusals={1: said(PSA)})
    preview = build_preview(snap, None, True, True, at(0))
    assert preview.refused == f"the API server refuses its pod: {PSA}"
    assert preview.changes


def test_plan_shows_the_refusal_of_a_new_version_of_a_job_with_a_stable_one() -> None:
    nodes = [node("n1")]
    running = [execution("n1", 1, state=S.RUNNING, started=1, stable=True)]
    status = JobStatus(current_version=1, stable_version=1, observed_generation=1)
    base = snapshot(nodes, running, [pod(running[0].name)], current=2, status=status)
    preview = build_preview(replace(base, pod_refusals={2: said(QUOTA)}), None, True, True, at(0))
    assert preview.refused == f"the API server refuses its pod: {QUOTA}"
