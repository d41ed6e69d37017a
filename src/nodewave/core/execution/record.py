"""What an execution's pod says of its execution.

A pod is made with everything known of its execution at that moment (`podspec.build_pod`:
the Job, version and wave as labels, the node's full name and the execution it replaces as
annotations), in the same create, so it costs no write of its own. This reads it back: the
first step towards the pod as the record of a node on the normal path, with no custom-resource
write per node (docs/design.md §4.2, issue 29). The spec read from a pod must equal the
execution's own; tests hold the two together on every path that makes a pod.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from nodewave.core.vocabulary.actions import CreateExecution, CreatePod
from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.core.vocabulary.snapshot import ExecutionInfo, PodInfo
from nodewave.models.base import MAX_NAME
from nodewave.models.execution import (
    INCARNATION_PATTERN,
    DesiredState,
    ExecutionSpec,
    ExecutionStatus,
    ObservedState,
)
from nodewave.models.job import JobStatus

UNVALIDATED = frozenset({ObservedState.FAILED, ObservedState.LOST})
EXCEPTIONAL = frozenset(
    {ObservedState.FAILED, ObservedState.LOST, ObservedState.DEGRADED, ObservedState.COMPLETED}
)
"""States a pod cannot say for itself after a leader change, nor a person see without an
Execution: with pod records (`--pod-records`), an execution reaching one gets its record."""
"""States in which an execution of a settled wave was not validated (its wave settled with it
failed or its node lost)."""
ANNOTATION_CANCEL = "nodewave.io/cancel"
"""On a Job: executions a person asked to stop (`kubectl nodewave cancel`), comma separated,
each as `name:incarnation` (`build_cancel_entry`). With pod records an execution may have no
object to patch; the operator stops each one named as a person's patch of its desiredState
would (an Execution made to say so). The incarnation ties a request to the one run of the
execution it was made for: a request left behind (the plugin interrupted) never stops an
execution made again under the same name (a restart, a retry, a node back)."""
MAX_CANCELS = 100
"""Requests the operator reads from the annotation (the first, once each); the plugin
takes each back once carried out, so the annotation holds only requests in flight."""


def build_pod_action(execution: ExecutionInfo) -> CreatePod:
    """The pod `execution` runs in, with all its spec knows (the one way a pod is asked for:
    the planner's and the create that returns the execution's uid)."""
    spec = execution.spec
    return CreatePod(
        execution.name,
        execution.uid,
        spec.node_name,
        spec.job_version,
        spec.rollout_wave,
        spec.previous_execution,
        spec.incarnation,
    )


def build_record_action(execution: ExecutionInfo) -> CreateExecution:
    """The create of an Execution for an execution a pod record stood for until now (its pod
    exists: nothing else is started)."""
    spec = execution.spec
    return CreateExecution(
        execution.name,
        spec.node_name,
        spec.job_version,
        spec.rollout_wave,
        spec.desired_state,
        spec.previous_execution,
        start=False,
        incarnation=spec.incarnation or "",
    )


def build_record_spec(pod: PodInfo) -> ExecutionSpec | None:
    """The spec of the execution `pod` runs, as the pod says it; None for a pod that does not
    say (a pull-only pod, a pod made before pods said it, anyone else's, one whose name is not
    its execution's). Its wave and the execution it replaced are as the pod's labels and
    annotations say, which the chart's admission policy keeps the operator's alone
    (docs/design.md §3.11).

    The desired state is Running: the operator deletes the pod of an execution it stops, so a
    pod that exists is one its execution wants running (a stop asked for and not yet carried
    out is the execution's to say)."""
    if pod.pre_pull_of is not None or pod.version is None or not pod.job_name:
        return None
    # Whoever may patch pods in the namespace may change their labels and annotations, but not
    # their name: one made of another Job, version or node than they claim says nothing.
    if pod.name != build_execution_name(pod.job_name, pod.version, pod.target_node):
        return None
    return ExecutionSpec(
        job_name=pod.job_name,
        job_version=pod.version,
        node_name=pod.target_node,
        rollout_wave=pod.wave,
        desired_state=DesiredState.RUNNING,
        previous_execution=pod.previous_execution,
        incarnation=pod.incarnation or None,
    )


def evaluate_pod_of(
    pod: PodInfo, execution: str, uid: str, incarnation: str | None, job_uid: str
) -> bool:
    """Whether `pod` is the own pod of the execution `execution` (its `uid`, its
    `incarnation`), not only named like it: controlled by the Job and carrying the
    execution's incarnation (an execution made by an earlier release, without one: controlled
    by the execution). The one rule, for a pass's pods and for the pod a create found under
    the name (`kube.parse.evaluate_taken_pod`). Pod names are deterministic, so whoever may
    create pods in the namespace could make one under an execution's name before the operator
    does; such a pod is never read, adopted or deleted (the execution's create of its own is
    refused, and says so). Owner references and nodewave.io/ annotations are the operator's
    alone by the chart's admission policy (docs/design.md §3.11)."""
    if pod.pre_pull_of is not None or not pod.owner_uid or pod.name != execution:
        return False
    if incarnation:
        return pod.owner_uid == job_uid and pod.incarnation == incarnation
    return pod.owner_uid == uid


def _of(pod: PodInfo, execution: ExecutionInfo, job_uid: str) -> bool:
    return evaluate_pod_of(pod, execution.name, execution.uid, execution.spec.incarnation, job_uid)


def _jobs_pod(pod: PodInfo, job_uid: str) -> bool:
    """A pod the Job controls: made by the operator (the chart's policy keeps references to
    nodewave.io objects the operator's)."""
    return bool(job_uid) and pod.owner_uid == job_uid


def _jobs_execution_pod(pod: PodInfo, job_uid: str) -> bool:
    """A pod the Job controls that is not a pull-only pod: an execution's."""
    return pod.pre_pull_of is None and _jobs_pod(pod, job_uid)


def select_owned_pods(
    pods: Mapping[str, PodInfo], executions: Iterable[ExecutionInfo], job_uid: str
) -> dict[str, PodInfo]:
    """The pods a pass may read and act on: each execution's own (`evaluate_pod_of`) and the
    Job's pull-only pods (controlled by the Job, under no execution's name)."""
    by_name = {ex.name: ex for ex in executions}

    def owned(name: str, pod: PodInfo) -> bool:
        if name in by_name:
            return _of(pod, by_name[name], job_uid)
        return pod.pre_pull_of is not None and _jobs_pod(pod, job_uid)

    return {name: pod for name, pod in pods.items() if owned(name, pod)}


def select_stale_pods(
    pods: Mapping[str, PodInfo], executions: Iterable[ExecutionInfo], job_uid: str
) -> dict[str, PodInfo]:
    """The Job's execution pods that are no live execution's own: their execution was deleted
    (a retry, a restart, a person) or made again since, or its create failed after the pod's
    went through. The Job controls them, so nothing else removes them: the operator deletes
    them, and makes no execution or pod under their name until they are gone."""
    by_name = {ex.name: ex for ex in executions}
    return {
        name: pod
        for name, pod in pods.items()
        if _jobs_execution_pod(pod, job_uid)
        and not (name in by_name and _of(pod, by_name[name], job_uid))
    }


def evaluate_recorded_validation(
    ex: ExecutionInfo, state: ObservedState, status: JobStatus
) -> bool:
    """Whether the Job's status alone says `ex` (observed `state`) was validated, without its
    own stableAt: the record a new leader will read once nodes have no custom resource of
    their own on the normal path (docs/design.md §4.2, step 2).

    A wave settles only when each of its executions is validated, failed or lost, so one of a
    settled wave that existed then (created no later than the wave's newest, by the API
    server's clock) and is neither failed nor lost was validated; the same of the stable
    version's executions when its rollout completed, and of every other version's when each
    of them was (a revert's, a node that joined: `other_versions_created_until`). Anything
    made since (a new node, a retry, a restart, a revert) is not covered, and is judged
    again. Never the other way: the record may say less than stableAt, never more
    (tests/unit/test_recorded_validation.py runs every simulated rollout against it).

    Worked example: version 2 rolls out in waves of 3; wave 1's newest execution was created
    at 10:00:05 and the wave settled; wave 2 is under way. An execution of wave 1 created at
    10:00:04 and Running was validated; one of wave 1 created at 10:02:00 (retried after the
    wave settled) was not, nor one of wave 2, nor one of wave 1 that is Failed or was ever
    Lost (its node gone when the wave settled, and back since: it was never validated), which
    an execution's record of its own says (step 4 keeps a record for exactly these)."""
    if state in UNVALIDATED or any(t.state in UNVALIDATED for t in ex.status.history):
        return False  # failed, or lost (its node may come back): a record of its own says so
    version, created = ex.spec.job_version, ex.created_at
    until = status.stable_created_until
    if version == status.stable_version and until is not None and created <= until:
        return True
    rs = status.rollout
    if rs is None:
        return False
    if rs.version != version:
        others = rs.other_versions_created_until
        return others is not None and created <= others
    wave = ex.spec.rollout_wave
    return any(w.wave == wave and created <= w.created_until for w in rs.settled_waves)


def select_pod_records(
    pods: Mapping[str, PodInfo], executions: Iterable[ExecutionInfo], job_uid: str
) -> dict[str, PodInfo]:
    """With pod records (`--pod-records`, docs/design.md §4.2 step 5): the Job's pods that
    stand for an execution with no Execution object, the normal path. A pod counts only when
    the Job controls it, it carries an incarnation and its name is the execution's its
    labels say (`build_record_spec`); under the name of an Execution that exists it is that
    execution's or stale (`select_stale_pods`), never a record of its own."""
    names = {ex.name for ex in executions}
    return {
        name: pod
        for name, pod in pods.items()
        if name not in names
        and _jobs_execution_pod(pod, job_uid)
        and bool(pod.incarnation)
        and build_record_spec(pod) is not None
    }


def build_pod_execution(pod: PodInfo, kept: ExecutionInfo | None) -> ExecutionInfo:
    """The execution a pod record stands for: its spec as the pod says it, created when the
    pod was, and the status and desired state last planned for it (`kept`, held in memory by
    the operator that planned them) when they were for this pod's incarnation; a fresh status
    otherwise (a new leader reads the pod and the Job's record of validation, §4.1)."""
    if kept is not None and kept.spec.incarnation == (pod.incarnation or None):
        return kept  # every pass, for every pod record: no spec built again
    spec = build_record_spec(pod)
    if spec is None:
        raise ValueError(f"pod {pod.name} says no execution")
    return ExecutionInfo(
        name=pod.name, uid="", resource_version="0", created_at=pod.created_at,
        spec=spec, status=ExecutionStatus(),
    )  # fmt: skip


def evaluate_pod_record(execution: ExecutionInfo) -> bool:
    """Whether only a pod stands for `execution` (`build_pod_execution`): it has no object,
    so no uid."""
    return not execution.uid


def evaluate_needs_record(status: ExecutionStatus) -> bool:
    """Whether a pod record's execution needs an Execution for `status`: an exceptional state
    (`EXCEPTIONAL`) or an error to show (a refused pod, a failed drain). Everything else
    (Pending, Starting, Validating, Running, Stopping, Stopped by the operator) the pod and
    the Job's status say, with no custom-resource write per node."""
    return status.observed_state in EXCEPTIONAL or status.error is not None


def build_cancel_entry(name: str, incarnation: str | None) -> str:
    """One request of `ANNOTATION_CANCEL`: `name:incarnation` (a name has no colon)."""
    return f"{name}:{incarnation or ''}"


def build_cancel_entries(value: str | None) -> list[str]:
    """Every entry of the annotation's value, once each, in order: what the plugin writes
    back (all of them, whatever the operator reads)."""
    return list(dict.fromkeys(e.strip() for e in (value or "").split(",") if e.strip()))


def build_cancels(value: str | None) -> frozenset[str]:
    """The requests the operator carries out: the first `MAX_CANCELS` well-formed entries
    (`build_cancel_entry` of a name an execution may have and an incarnation)."""
    valid = [e for e in build_cancel_entries(value) if re.fullmatch(_CANCEL_ENTRY, e)]
    return frozenset(valid[:MAX_CANCELS])


def build_cancel_value(entries: Iterable[str]) -> str | None:
    """The annotation's value for `entries` (sorted: the same requests, the same value);
    None removes it."""
    return ",".join(sorted(set(entries))) or None


_CANCEL_ENTRY = rf"[a-z0-9.-]{{1,{MAX_NAME}}}:{INCARNATION_PATTERN.strip('^$')}"
