"""Raw API objects → the core's snapshot types. Called once per watch event (in the indexes)
and once per write response, never per reconcile pass."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from nodewave import GROUP
from nodewave.core.execution.maintenance import ANNOTATION_RELEASE
from nodewave.core.execution.record import ANNOTATION_CANCEL, build_cancels, evaluate_pod_of
from nodewave.core.job.notifications import ANNOTATION_SUBSCRIBE
from nodewave.core.rollout.engine import ANNOTATION_ABORT, ANNOTATION_PROMOTE
from nodewave.core.rollout.restart import ANNOTATION_RESTART
from nodewave.core.vocabulary.actions import CreatePod
from nodewave.core.vocabulary.naming import (
    ANNOTATION_INCARNATION,
    ANNOTATION_JOB,
    ANNOTATION_NODE,
    ANNOTATION_PREVIOUS,
    ANNOTATION_STOPPED_BY,
    LABEL_PRE_PULL,
    LABEL_VERSION,
    LABEL_VERSION_HASH,
    LABEL_WAVE,
    STOPPED_BY_OPERATOR,
)
from nodewave.core.vocabulary.snapshot import (
    ContainerInfo,
    ExecutionInfo,
    JobInfo,
    NodeInfo,
    PodInfo,
    RevisionInfo,
    Taint,
)
from nodewave.models.base import share_fields_sets
from nodewave.models.execution import INCARNATION_PATTERN, ExecutionSpec, ExecutionStatus
from nodewave.models.job import JobSpec, JobStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _SharedValues:
    """One object per value among the cached pods and executions, for the values thousands of
    them repeat. A table of our own, not `sys.intern`: interned strings are immortal on Python
    3.12. Bounded: past `size` values it starts again (what holds a value keeps it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: dict[Any, Any] = {}

    def share(self, key: Any, value: Any) -> Any:
        found = self.values.get(key)
        if found is not None:
            return found
        if len(self.values) >= self.size:
            self.values.clear()
        self.values[key] = value
        return value


_STRINGS = _SharedValues(65_536)
_TIMES = _SharedValues(65_536)
MAX_SHARED_LENGTH = 256
"""Longer strings (a long message) are kept as they are: rarely repeated, costly to hold."""


def _shared(value: str) -> str:
    """The shared copy of a string many cached objects repeat: a Job's or a node's name, a
    phase, a reason, a message. Not the unique ones (an execution's or a pod's name, a uid):
    they would only churn the table."""
    if len(value) > MAX_SHARED_LENGTH:
        return value
    shared: str = _STRINGS.share(value, value)
    return shared


def _shared_name(value: str | None) -> str | None:
    return None if value is None else _shared(value)


def _shared_time(value: datetime | None) -> datetime | None:
    """One object per instant: placed in bursts, thousands carry the same second (created,
    started), and an execution carries its own instant several times (a window's start and
    last sample, stableAt, the transition's time). Keyed with its offset and tzinfo class, so
    a value comes back exactly as parsed."""
    if value is None:
        return None
    shared: datetime = _TIMES.share((value, value.utcoffset(), type(value.tzinfo)), value)
    return shared


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = body.get("metadata") or {}
    return meta


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    labels: Mapping[str, str]
    terminating: bool
    """Being deleted: nothing new can be created in it (the API server refuses)."""


def parse_namespace(body: Mapping[str, Any]) -> NamespaceInfo:
    meta = _meta(body)
    return NamespaceInfo(
        labels=dict(meta.get("labels") or {}),
        terminating=bool(meta.get("deletionTimestamp"))
        or (body.get("status") or {}).get("phase") == "Terminating",
    )


def parse_node(body: Mapping[str, Any]) -> NodeInfo:
    meta = _meta(body)
    ready = next(
        (c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    return NodeInfo(
        name=meta["name"],
        labels=dict(meta.get("labels") or {}),
        ready=bool(ready and ready.get("status") == "True"),
        ready_since=parse_time(ready.get("lastTransitionTime")) if ready else None,
        unschedulable=bool((body.get("spec") or {}).get("unschedulable")),
        taints=tuple(
            Taint(_shared(t.get("key") or ""), _shared(t.get("value") or ""), _shared(t["effect"]))
            for t in (body.get("spec") or {}).get("taints") or ()
            if t.get("effect")
        ),
    )


def _container(status: Mapping[str, Any]) -> ContainerInfo:
    state = status.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    return ContainerInfo(
        name=_shared(status.get("name", "")),
        ready=bool(status.get("ready")),
        restart_count=int(status.get("restartCount") or 0),
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        terminated_reason=terminated.get("reason"),
        exit_code=terminated.get("exitCode"),
        terminated_message=terminated.get("message"),
        last_exit_code=last.get("exitCode"),
        last_terminated_reason=last.get("reason"),
    )


def parse_pod(body: Mapping[str, Any]) -> PodInfo:
    meta = _meta(body)
    status = body.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return PodInfo(
        name=meta["name"],
        uid=meta.get("uid", ""),
        resource_version=meta.get("resourceVersion", "0"),
        node_name=_shared_name((body.get("spec") or {}).get("nodeName")),
        phase=_shared(status.get("phase") or "Pending"),
        ready=bool(ready and ready.get("status") == "True"),
        deleting=bool(meta.get("deletionTimestamp")),
        created_at=_shared_time(parse_time(meta.get("creationTimestamp"))) or _EPOCH,
        started_at=_shared_time(parse_time(status.get("startTime"))),
        reason=status.get("reason"),
        message=status.get("message"),
        containers=tuple(_container(c) for c in status.get("containerStatuses") or []),
        **(_pre_pull(meta) or _placement(meta)),
    )


def _pre_pull(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A pull-only pod's version and owner; nothing for any other pod."""
    version = _version_label(meta, LABEL_PRE_PULL)
    if version is None:
        return {}
    return {"pre_pull_of": version, "owner_uid": _controller(meta, "Job").get("uid", "")}


def _incarnation(annotations: Mapping[str, str]) -> str:
    """The pod's incarnation annotation, "" unless well formed (without the chart's admission
    policy whoever may patch pods could write anything there)."""
    value = annotations.get(ANNOTATION_INCARNATION, "")
    return value if re.fullmatch(INCARNATION_PATTERN, value) else ""


def _placement(meta: Mapping[str, Any]) -> dict[str, Any]:
    """An execution's pod: the Job (or, made by an earlier release, the execution) that
    controls it, its execution's incarnation, and what the pod says of it
    (`podspec.build_pod`; nothing said by a pod made before pods said it, or anyone else's)."""
    annotations = meta.get("annotations") or {}
    controller = _controller(meta, "Job") or _controller(meta, "Execution")
    owner = {
        "owner_uid": controller.get("uid", ""),
        "incarnation": _incarnation(annotations),
    }
    version = _version_label(meta, LABEL_VERSION)
    wave = (meta.get("labels") or {}).get(LABEL_WAVE, "")
    if version is None or not wave.isdigit() or ANNOTATION_NODE not in annotations:
        return owner
    return owner | {
        "job_name": _shared(annotations.get(ANNOTATION_JOB, "")),
        "version": version,
        "target_node": _shared(annotations[ANNOTATION_NODE]),
        "wave": int(wave),
        "previous_execution": annotations.get(ANNOTATION_PREVIOUS),
    }


class TakenPod(Enum):
    """Whose is the pod found under an execution's name when its create met AlreadyExists."""

    OURS = "Ours"
    """This execution's (`record.evaluate_pod_of`): made before the watch said so."""
    PREDECESSOR = "Predecessor"
    """Terminating, or an earlier execution's of this name (deleted and made again before
    its pod was gone), or a former Job's of this name: the garbage collector or the operator
    (`record.select_stale_pods`) removes it."""
    STRANGER = "Stranger"
    """Anyone else's: never adopted nor deleted."""


def evaluate_taken_pod(body: Mapping[str, Any], job: JobInfo, action: CreatePod) -> TakenPod:
    found = parse_pod(body)
    if evaluate_pod_of(found, action.execution, action.execution_uid, action.incarnation, job.uid):
        return TakenPod.OURS
    meta = _meta(body)
    by_job, by_execution = _controller(meta, "Job"), _controller(meta, "Execution")
    if (
        meta.get("deletionTimestamp")
        or (by_job and by_job.get("name") == job.name)
        or (by_execution and by_execution.get("name") == action.execution)
    ):
        return TakenPod.PREDECESSOR
    return TakenPod.STRANGER


def _version_label(meta: Mapping[str, Any], key: str) -> int | None:
    value = (meta.get("labels") or {}).get(key, "")
    return int(value) if value.isdigit() else None


def _controller(meta: Mapping[str, Any], kind: str | None = None) -> Mapping[str, Any]:
    """The nodewave.io object that controls the object (of `kind`, when named); {} if none.
    The group counts: the API server takes any apiVersion in a reference, and the chart's
    admission policy guards references to nodewave.io only."""
    refs = meta.get("ownerReferences") or []
    return next((r for r in refs if r.get("controller") and kind in (None, r.get("kind"))
                 and str(r.get("apiVersion", "")).startswith(f"{GROUP}/")), {})  # fmt: skip


def parse_execution(body: Mapping[str, Any]) -> ExecutionInfo:
    """Every execution of every Job is held parsed (the informers): its models share what
    they can (`share_fields_sets`)."""
    meta = _meta(body)
    annotations = meta.get("annotations") or {}
    spec = ExecutionSpec.model_validate(body.get("spec") or {})
    status = ExecutionStatus.model_validate(body.get("status") or {})
    share_fields_sets(spec)
    share_fields_sets(status)
    _share_strings(spec, status)
    _share_times(status)
    return ExecutionInfo(
        name=meta["name"],
        uid=meta.get("uid", ""),
        resource_version=meta.get("resourceVersion", "0"),
        created_at=_shared_time(parse_time(meta.get("creationTimestamp"))) or _EPOCH,
        spec=spec,
        status=status,
        generation=int(meta.get("generation") or 1),
        stopped_by_operator=annotations.get(ANNOTATION_STOPPED_BY) == STOPPED_BY_OPERATOR,
        deleting=bool(meta.get("deletionTimestamp")),
        owner_uid=_controller(meta).get("uid", ""),
        release_requested=annotations.get(ANNOTATION_RELEASE) == "true",
    )


def _share_strings(spec: ExecutionSpec, status: ExecutionStatus) -> None:
    """The shared copies (`_shared`) of what thousands of cached executions repeat: the Job's
    and the node's names (a node's is in every Job's execution and pod there), the state
    messages and reasons (a few dozen distinct). Written to the models' fields directly:
    validated already, and not a change of value."""
    spec.__dict__.update(job_name=_shared(spec.job_name), node_name=_shared(spec.node_name))
    status.__dict__["message"] = _shared(status.message)
    if status.details:
        status.__dict__["details"] = {_shared(k): v for k, v in status.details.items()}
    for step in status.history:
        step.__dict__.update(reason=_shared(step.reason), message=_shared(step.message))


def _share_times(status: ExecutionStatus) -> None:
    """The status's instants as shared objects (`_shared_time`)."""
    for model, names in (
        (status, ("started_at", "finished_at", "stable_at")),
        (status.health, ("window_start", "last_sample")),
        *((step, ("time",)) for step in status.history),
    ):
        if model is not None:
            model.__dict__.update({n: _shared_time(model.__dict__[n]) for n in names})


def parse_job(body: Mapping[str, Any]) -> JobInfo:
    meta = _meta(body)
    annotations = meta.get("annotations") or {}
    return JobInfo(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 1),
        resource_version=meta.get("resourceVersion", "0"),
        spec=JobSpec.model_validate(body.get("spec") or {}),
        status=JobStatus.model_validate(body.get("status") or {}),
        deleting=bool(meta.get("deletionTimestamp")),
        promote=annotations.get(ANNOTATION_PROMOTE),
        abort=annotations.get(ANNOTATION_ABORT),
        restart_at=annotations.get(ANNOTATION_RESTART),
        cancel=build_cancels(annotations.get(ANNOTATION_CANCEL)),
        labels=meta.get("labels") or {},
        subscribe={
            k.removeprefix(ANNOTATION_SUBSCRIBE): v
            for k, v in annotations.items()
            if k.startswith(ANNOTATION_SUBSCRIBE)
        },
    )


def parse_revision(body: Mapping[str, Any], with_config: bool = False) -> RevisionInfo:
    """What the planner needs of a revision: its config (up to ~900 KiB, ten times that parsed)
    stays in the API unless asked for; a pass reads it when it makes a pod of that version."""
    meta = _meta(body)
    labels = meta.get("labels") or {}
    data = body.get("data") or {}
    return RevisionInfo(
        name=meta["name"],
        number=int(body.get("revision") or labels.get(LABEL_VERSION) or 0),
        hash=labels.get(LABEL_VERSION_HASH, ""),
        data={k: v for k, v in data.items() if with_config or k != "config"},
        owner_uid=_controller(meta, "Job").get("uid", ""),
    )


def newer(a_rv: str, b_rv: str) -> bool:
    """Whether resourceVersion `a` is newer than `b`. resourceVersions are opaque, but etcd's
    are integers, which every conformant API server in practice serves; compare as such."""
    try:
        return int(a_rv) > int(b_rv)
    except ValueError:
        return a_rv != b_rv
