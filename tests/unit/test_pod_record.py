"""An execution's pod says what its execution is (core/execution/record.py): the first step to
the pod as a node's record without a custom-resource write (docs/design.md §4.2, issue 29).

The property: through the real chain a placement takes (the Execution as the operator creates
it, read back as the API returns it; the pod asked for from it; the pod as the operator creates
it, read back), the spec the pod says equals the execution's, for any Job and node name a
cluster allows (up to 253 characters, where labels are shortened to 63), version, wave and
replaced execution. And what a pod does not say is never made up: a pull-only pod, a pod
made before pods said it, a Job author's own `nodewave.io/` keys."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.execution.podspec import build_execution, build_pod
from nodewave.core.execution.record import (
    EXCEPTIONAL,
    build_cancel_entries,
    build_cancel_entry,
    build_cancel_value,
    build_cancels,
    build_pod_action,
    build_pod_execution,
    build_record_action,
    build_record_spec,
    evaluate_needs_record,
    evaluate_pod_of,
    select_owned_pods,
    select_pod_records,
    select_stale_pods,
)
from nodewave.core.job.planner import WARNING_STATES
from nodewave.core.vocabulary.actions import CreateExecution, CreatePod
from nodewave.core.vocabulary.naming import build_execution_name, build_incarnation
from nodewave.core.vocabulary.snapshot import VersionSpec
from nodewave.kube.parse import TakenPod, evaluate_taken_pod, parse_execution, parse_pod
from nodewave.kube.records import PodRecords
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import DesiredState, ExecutionStatus, ObservedState
from nodewave.models.job import JobType, RestartPolicy
from tests.unit.builders import T0, execution, job, pod, pod_record

_SEGMENT = r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
NAMES = st.from_regex(rf"{_SEGMENT}(\.{_SEGMENT}){{0,8}}", fullmatch=True).filter(
    lambda name: len(name) <= 253
)
TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "registry.example/agent:1"}]}}


def as_returned(body: dict[str, Any], uid: str) -> dict[str, Any]:
    """An object as the API server returns its create: with a uid and a creation time."""
    meta = {**body["metadata"], "uid": uid, "creationTimestamp": "2026-12-07T10:00:00Z"}
    return {**body, "metadata": meta}


@given(
    job_name=NAMES,
    node=NAMES,
    version=st.integers(1, 10**6),
    wave=st.integers(0, 100),
    replaces=st.booleans(),
)
def test_the_pod_says_its_executions_spec(
    job_name: str, node: str, version: int, wave: int, replaces: bool
) -> None:
    owner = job(name=job_name)
    name = build_execution_name(job_name, version, node)
    previous = build_execution_name(job_name, version + 1, node) if replaces else None
    incarnation = build_incarnation(owner.uid, name, T0)
    action = CreateExecution(
        name, node, version, wave, DesiredState.RUNNING, previous, True, incarnation
    )
    body = build_execution(owner, action)
    created = parse_execution(as_returned(body, "ex-uid"))
    spec = VersionSpec(version, JobType.PIPELINE, TEMPLATE, {})
    # The pod is asked for from the execution's body before the API returned it (the two
    # creates go side by side, kube/reconcile.py), and is the same pod as one asked for later.
    early = build_pod_action(parse_execution(body))
    assert early == dataclasses.replace(build_pod_action(created), execution_uid="")
    made = parse_pod(as_returned(build_pod(owner, spec, early, RestartPolicy.ALWAYS), "pod-uid"))
    assert build_record_spec(made) == created.spec
    assert (made.owner_uid, made.incarnation) == (owner.uid, incarnation)
    assert evaluate_pod_of(made, created.name, created.uid, incarnation, owner.uid)


def pod_of(metadata: dict[str, Any]) -> dict[str, Any]:
    name = build_execution_name("j", 2, "n1")
    return {"metadata": {"name": name, "creationTimestamp": "2026-12-07T10:00:00Z", **metadata}}


def test_a_pod_that_does_not_say_gives_no_record() -> None:
    labels = {"nodewave.io/version": "2", "nodewave.io/wave": "1", "nodewave.io/job": "j"}
    annotations = {"nodewave.io/job": "j", "nodewave.io/node": "n1"}
    said = pod_of({"labels": labels, "annotations": annotations})
    assert build_record_spec(parse_pod(said)) is not None
    # Labels or annotations changed by someone who may patch pods: the name still says Job j,
    # version 2, node n1, so a pod claiming another version or node says nothing.
    other_version = pod_of(
        {"labels": {**labels, "nodewave.io/version": "3"}, "annotations": annotations}
    )
    assert build_record_spec(parse_pod(other_version)) is None
    other_node = pod_of(
        {"labels": labels, "annotations": {**annotations, "nodewave.io/node": "n2"}}
    )
    assert build_record_spec(parse_pod(other_node)) is None
    # Made before pods said their wave and node (an operator upgraded mid-rollout).
    older = pod_of(
        {"labels": {"nodewave.io/version": "2"}, "annotations": {"nodewave.io/job": "j"}}
    )
    assert build_record_spec(parse_pod(older)) is None
    # A pull-only pod of version 2 (rollout.prePull) runs no execution.
    pull = pod_of({"labels": {"nodewave.io/pre-pull": "2"}, "annotations": annotations})
    assert build_record_spec(parse_pod(pull)) is None
    # Someone else's pod.
    assert build_record_spec(parse_pod(pod_of({"labels": {"app": "x"}}))) is None


def test_a_job_authors_own_nodewave_keys_never_reach_the_pod() -> None:
    """The template's metadata is the Job author's: a `nodewave.io/` label or annotation in it
    would say another wave, node or replaced execution than the operator's."""
    forged = {"nodewave.io/wave": "9", "nodewave.io/previous-execution": "other", "team": "a"}
    template = {**TEMPLATE, "metadata": {"labels": forged, "annotations": forged}}
    spec = VersionSpec(1, JobType.PIPELINE, template, {})
    body = build_pod(
        job(),
        spec,
        CreatePod(build_execution_name("j", 1, "n1"), "", "n1", 1, 2, None, "abc"),
        RestartPolicy.ALWAYS,
    )
    meta = body["metadata"]
    assert meta["labels"]["nodewave.io/wave"] == "2"
    assert meta["labels"]["team"] == meta["annotations"]["team"] == "a"
    assert "nodewave.io/previous-execution" not in meta["labels"]
    assert "nodewave.io/previous-execution" not in meta["annotations"]
    record = build_record_spec(parse_pod(as_returned(body, "pod-uid")))
    assert record is not None
    assert (record.rollout_wave, record.previous_execution) == (2, None)


def test_a_pass_reads_only_the_pods_its_executions_own_and_deletes_the_jobs_stale_ones() -> None:
    """Pod names are deterministic: whoever may create pods in the namespace could make one
    under an execution's name first, and an execution deleted and made again (a retry, a
    restart) has the same name as before. A pod is an execution's only when the Job controls
    it and it carries the execution's incarnation (made by an earlier release: when the
    execution controls it). The Job's execution pods that are no execution's own are stale:
    the operator deletes them; anyone else's pod is neither read nor deleted."""
    legacy = execution("n1")
    ex = dataclasses.replace(legacy, spec=legacy.spec.model_copy(update={"incarnation": "abc"}))
    own = dataclasses.replace(pod(ex.name), owner_uid="job-uid", incarnation="abc")
    pull = dataclasses.replace(pod("j-pull-v2-n1", pre_pull_of=2), owner_uid="job-uid")
    # (candidate, the execution, read as its pod, stale)
    cases = {
        "its own": (own, ex, True, False),
        "an earlier incarnation's": (dataclasses.replace(own, incarnation="old"), ex, False, True),
        "the Job's, without an incarnation": (
            dataclasses.replace(own, incarnation=""),
            ex,
            False,
            True,
        ),
        "controlled by the execution, which has an incarnation": (
            dataclasses.replace(own, owner_uid=ex.uid),
            ex,
            False,
            False,
        ),
        "made by an earlier release, controlled by its execution": (
            dataclasses.replace(own, owner_uid=legacy.uid, incarnation=""),
            legacy,
            True,
            False,
        ),
        "the Job's, for an execution of an earlier release": (own, legacy, False, True),
        "a former Job's of the same name": (
            dataclasses.replace(own, owner_uid="old-job-uid"),
            ex,
            False,
            False,
        ),
        "someone else's with no owner": (dataclasses.replace(own, owner_uid=""), ex, False, False),
        # Labelled as a pull-only pod, under the execution's name, even controlled by the Job.
        "a pull-only pod's label under its name": (
            dataclasses.replace(own, pre_pull_of=1),
            ex,
            False,
            False,
        ),
        "the Job's pull-only pod": (pull, ex, True, False),
        "a pull-only pod of another Job": (
            dataclasses.replace(pull, owner_uid="other"),
            ex,
            False,
            False,
        ),
    }
    for what, (candidate, of, kept, stale) in cases.items():
        pods = {candidate.name: candidate}
        assert (candidate.name in select_owned_pods(pods, [of], "job-uid")) is kept, what
        assert (candidate.name in select_stale_pods(pods, [of], "job-uid")) is stale, what
        if candidate.pre_pull_of is None:
            identity = (of.name, of.uid, of.spec.incarnation)
            assert evaluate_pod_of(candidate, *identity, "job-uid") is kept, what
    # The Job's pod of no execution (deleted, or its create failed after the pod's): stale.
    assert select_owned_pods({own.name: own}, [], "job-uid") == {}
    assert select_stale_pods({own.name: own}, [], "job-uid") == {own.name: own}


def test_a_pod_found_under_an_executions_name_is_ours_a_predecessors_or_a_strangers() -> None:
    """When an execution's pod create meets AlreadyExists, whose pod is there decides: ours
    (made before the watch said so) is taken, a predecessor's (an execution of the same name
    deleted and made again, or a former Job's of the same name, until the operator or the
    garbage collector removes it) is waited for in silence, anyone else's is refused out loud
    and never adopted."""

    def body(
        owner: dict[str, Any] | None, incarnation: str = "", deleting: bool = False
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": "x", "ownerReferences": [owner] if owner else []}
        if incarnation:
            meta["annotations"] = {"nodewave.io/incarnation": incarnation}
        if deleting:
            meta["deletionTimestamp"] = "2026-12-07T10:00:00Z"
        return {"metadata": meta}

    def ref(
        name: str, uid: str, kind: str = "Job", api: str = "nodewave.io/v1alpha1"
    ) -> dict[str, Any]:
        return {"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": True}

    owner = job(name="j")
    action = CreatePod("x", "", "n1", 1, 1, None, "abc")
    legacy = CreatePod("x", "u1", "n1", 1, 1, None, None)
    cases = {
        "the Job's, with its incarnation": (
            body(ref("j", "job-uid"), "abc"),
            action,
            TakenPod.OURS,
        ),
        "the Job's, of an earlier incarnation": (
            body(ref("j", "job-uid"), "old"),
            action,
            TakenPod.PREDECESSOR,
        ),
        "a former Job's of the same name": (
            body(ref("j", "old-uid"), "abc"),
            action,
            TakenPod.PREDECESSOR,
        ),
        "made by an earlier release": (
            body(ref("x", "u0", kind="Execution")),
            action,
            TakenPod.PREDECESSOR,
        ),
        "terminating": (body(None, deleting=True), action, TakenPod.PREDECESSOR),
        "no owner": (body(None, "abc"), action, TakenPod.STRANGER),
        "another Job's": (body(ref("k", "k-uid"), "abc"), action, TakenPod.STRANGER),
        "another execution's": (body(ref("y", "u9", kind="Execution")), action, TakenPod.STRANGER),
        # The API server takes any apiVersion; the chart's policy guards nodewave.io's only.
        "the Job's uid under another group": (
            body(ref("j", "job-uid", api="Nodewave.io/v1"), "abc"),
            action,
            TakenPod.STRANGER,
        ),
        "the Job's uid under no group": (
            body(ref("j", "job-uid", api="v1"), "abc"),
            action,
            TakenPod.STRANGER,
        ),
        # An execution made by an earlier release, its pod made again.
        "controlled by this execution": (
            body(ref("x", "u1", kind="Execution")),
            legacy,
            TakenPod.OURS,
        ),
        "controlled by an earlier execution of the name": (
            body(ref("x", "u0", kind="Execution")),
            legacy,
            TakenPod.PREDECESSOR,
        ),
    }
    for what, (found, asked, expected) in cases.items():
        assert evaluate_taken_pod(found, owner, asked) is expected, what


def test_with_pod_records_a_pod_stands_for_an_execution_only_when_it_says_one() -> None:
    """`--pod-records` (docs/design.md §4.2 step 5): a pod with no Execution of its name is
    the record of its execution when the Job controls it, it carries an incarnation and its
    name is the one its labels and annotations say."""
    ex = execution("n2")
    cases = {
        "the Job's, saying its execution": (pod_record(), True),
        "no incarnation (made by an earlier release)": (pod_record(incarnation=""), False),
        "controlled by someone else": (pod_record(owner="other"), False),
        "a pull-only pod": (dataclasses.replace(pod_record(), pre_pull_of=1), False),
        "its labels say another node than its name": (
            dataclasses.replace(pod_record(), target_node="n9"),
            False,
        ),
        "an Execution of its name exists": (pod_record("n2"), False),
    }
    for what, (candidate, kept) in cases.items():
        found = select_pod_records({candidate.name: candidate}, [ex], "job-uid")
        assert (candidate.name in found) is kept, what


def test_the_execution_a_pod_record_stands_for_keeps_what_was_planned_for_that_pod() -> None:
    record = pod_record()
    fresh = build_pod_execution(record, None)
    assert (fresh.name, fresh.uid, fresh.created_at) == (record.name, "", record.created_at)
    assert fresh.spec == build_record_spec(record)
    assert fresh.status == ExecutionStatus()
    planned = dataclasses.replace(
        fresh, status=ExecutionStatus(observed_state=ObservedState.RUNNING, revision=2)
    )
    assert build_pod_execution(record, planned) is planned
    # Planned for an earlier pod of the name: this one starts afresh.
    assert build_pod_execution(dataclasses.replace(record, incarnation="new"), planned).status == (
        ExecutionStatus()
    )
    # Made an Execution again, it is the same execution: its pod is its own.
    action = build_record_action(planned)
    assert (action.name, action.node, action.version, action.incarnation, action.start) == (
        record.name, "n1", 1, "abc", False
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "needs"),
    [
        (ExecutionStatus(observed_state=ObservedState.RUNNING), False),
        (ExecutionStatus(observed_state=ObservedState.VALIDATING), False),
        (ExecutionStatus(observed_state=ObservedState.STOPPED), False),
        (ExecutionStatus(observed_state=ObservedState.FAILED), True),
        (ExecutionStatus(observed_state=ObservedState.LOST), True),
        (ExecutionStatus(observed_state=ObservedState.DEGRADED), True),
        (ExecutionStatus(observed_state=ObservedState.COMPLETED), True),
        (
            ExecutionStatus(
                observed_state=ObservedState.PENDING, error=ErrorInfo(code="PodRefused")
            ),
            True,
        ),
    ],
)
def test_only_an_exceptional_status_makes_a_pod_record_an_execution(
    status: ExecutionStatus, needs: bool
) -> None:
    assert evaluate_needs_record(status) is needs


def test_the_cancel_annotation_asks_for_at_most_so_many_runs() -> None:
    """`nodewave.io/cancel`: `name:incarnation` entries; the operator reads the first 100
    well-formed ones, once each; the plugin writes back every entry as it was."""
    many = [f"e{i:03}:x" for i in range(150)]
    cases = {
        None: frozenset(),
        "": frozenset(),
        "a:x1": frozenset({"a:x1"}),
        " a:x1, b:x2,,a:x1 ,": frozenset({"a:x1", "b:x2"}),
        "a": frozenset(),  # no run named
        "a:": frozenset(),
        "a:X!": frozenset(),
        "A:x1": frozenset(),  # no execution has that name
        "x" * 254 + ":x1": frozenset(),
        ",".join(many[:1] * 50 + many): frozenset(many[:100]),  # repeats count once
    }
    for value, entries in cases.items():
        assert build_cancels(value) == entries, value
    assert build_cancel_entries(" a:x1, junk,,a:x1") == ["a:x1", "junk"]
    assert build_cancel_value({"b:2", "a:1"}) == "a:1,b:2"
    assert build_cancel_value(set()) is None
    assert build_cancel_entry("a", "x1") == "a:x1"


def test_every_state_an_execution_warns_of_makes_a_record_with_an_execution() -> None:
    """A pod record's status stays in memory with only the Job's summary of Normal Events;
    a Warning belongs on an Execution (kube/reconcile.py), so every state that warns is one
    that makes it (or a Warning would be said of nothing)."""
    assert WARNING_STATES <= EXCEPTIONAL
    for state in WARNING_STATES:
        assert evaluate_needs_record(ExecutionStatus(observed_state=state))


def test_a_pod_left_by_an_execution_that_is_gone_is_no_record_again() -> None:
    """kube/records.py: a pod record whose execution was made an Execution (it failed) is
    that Execution's; once the Execution is gone (a retry), its pod, kept for its logs, is
    what is left of it (stale, deleted), not a record that would fail the same way again. A
    new pod under the name (a new incarnation) is a record."""
    key = ("ns", "j")
    failed = pod_record(phase="Failed", ready=False)
    records = PodRecords()
    (ex,) = records.executions(key, {failed.name: failed}, (), "job-uid")
    assert ex.name == failed.name
    records.made_execution(key, failed.name)  # its Failed status made its Execution
    made = dataclasses.replace(execution("n1"), name=failed.name)
    assert records.executions(key, {failed.name: failed}, (made,), "job-uid") == ()
    # The Execution deleted (a retry): the pod is left over, and stale.
    assert records.executions(key, {failed.name: failed}, (), "job-uid") == ()
    assert failed.name in select_stale_pods({failed.name: failed}, (), "job-uid")
    # Its pod gone, a new one made: a record again.
    assert records.executions(key, {}, (), "job-uid") == ()
    again = pod_record(incarnation="def")
    assert [e.name for e in records.executions(key, {again.name: again}, (), "job-uid")] == [
        again.name
    ]
