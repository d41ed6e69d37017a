"""Small builders of core snapshot objects for table tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.core.vocabulary.snapshot import (
    ContainerInfo,
    ExecutionInfo,
    JobInfo,
    NodeInfo,
    PodInfo,
    Snapshot,
    VersionSpec,
)
from nodewave.models.execution import DesiredState, ExecutionSpec, ExecutionStatus, ObservedState
from nodewave.models.job import JobSpec, JobStatus, JobType

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "app:1"}]}}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job_spec(**kw: Any) -> JobSpec:
    return JobSpec.model_validate({"type": "Pipeline", "template": TEMPLATE, **kw})


def job(spec: JobSpec | None = None, status: JobStatus | None = None, name: str = "j") -> JobInfo:
    return JobInfo("ns", name, "job-uid", 1, "1", spec or job_spec(), status or JobStatus())


def node(name: str, ready: bool = True, since: float = 0, **labels: str) -> NodeInfo:
    return NodeInfo(name, labels, ready, at(since))


def execution(
    node_name: str,
    version: int = 1,
    desired: DesiredState = DesiredState.RUNNING,
    state: ObservedState | None = None,
    created: float = 0,
    started: float | None = None,
    stable: bool = False,
    by_operator: bool = False,
    job_name: str = "j",
    wave: int = 1,
) -> ExecutionInfo:
    """An execution as the operator creates them: in a wave (1 unless said)."""
    status = ExecutionStatus()
    if state is not None:
        status = ExecutionStatus(
            observed_state=state,
            revision=1,
            started_at=at(started) if started is not None else None,
            stable_at=at(1) if stable else None,
        )
    return ExecutionInfo(
        name=build_execution_name(job_name, version, node_name),
        uid=f"uid-{node_name}-{version}",
        resource_version="1",
        created_at=at(created),
        spec=ExecutionSpec(
            job_name=job_name,
            job_version=version,
            node_name=node_name,
            desired_state=desired,
            rollout_wave=wave,
        ),
        status=status,
        stopped_by_operator=by_operator,
    )


def pod(
    name: str,
    phase: str = "Running",
    ready: bool = True,
    node_name: str | None = "n1",
    deleting: bool = False,
    waiting: str | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    restarts: int = 0,
    pre_pull_of: int | None = None,
) -> PodInfo:
    c = ContainerInfo(
        "main",
        ready,
        restarts,
        waiting_reason=waiting,
        exit_code=exit_code,
        terminated_reason="Error" if exit_code else None,
    )
    return PodInfo(
        name,
        f"pod-uid-{name}",
        "1",
        node_name,
        phase,
        ready,
        deleting,
        T0,
        at(1) if phase != "Pending" else None,
        reason,
        None,
        (c,),
        pre_pull_of,
    )


def pod_record(
    name_node: str = "n1", incarnation: str = "abc", owner: str = "job-uid", **kw: Any
) -> PodInfo:
    """The Job's pod of version 1 on `name_node`, saying its execution (as the operator makes
    it), with `incarnation`, controlled by `owner`; `kw`: `pod`'s (its phase, readiness...)."""
    name = build_execution_name("j", 1, name_node)
    return dataclasses.replace(
        pod(name, **kw), owner_uid=owner, incarnation=incarnation, job_name="j", version=1,
        target_node=name_node, wave=1,
    )  # fmt: skip


def version(n: int = 1, type_: JobType = JobType.PIPELINE) -> VersionSpec:
    return VersionSpec(n, type_, TEMPLATE, {})


def snapshot(
    nodes: list[NodeInfo],
    executions: list[ExecutionInfo] = (),  # type: ignore[assignment]
    pods: list[PodInfo] = (),  # type: ignore[assignment]
    spec: JobSpec | None = None,
    current: int = 1,
    status: JobStatus | None = None,
    namespace_labels: dict[str, str] | None = None,
) -> Snapshot:
    spec = spec or job_spec()
    v = VersionSpec(current, spec.type, TEMPLATE, {})
    return Snapshot(
        job=job(spec, status),
        current=v,
        nodes={n.name: n for n in nodes},
        executions=tuple(executions),
        pods={p.name: p for p in pods},
        versions={i: VersionSpec(i, spec.type, TEMPLATE, {}) for i in range(1, current + 1)},
        namespace_labels=namespace_labels or {},
    )
