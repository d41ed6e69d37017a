"""What a reader (the plugin, the dashboard, `plan`) says of the executions only a pod stands
for (`nodewave run --pod-records`, docs/design.md §4.2 step 6).

With pod records a node's execution on the normal path has no Execution object: its pod is
the record, as the DaemonSet controller keeps its pods. The operator holds what it planned
for it in memory; a reader has only the pod and the Job. It says what a new leader would
decide on its first pass from the same two: the pod's state (`observe.evaluate_execution`),
and Validating for a running pod the Job's record of validation does not cover
(`planner.evaluate_gated`, `planner.evaluate_validated_before`). So a reader never says more
than the operator knows; it may say Validating of a node whose window the operator has
closed since the wave last settled, until the wave settles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from nodewave.core.execution.health import VALIDATING
from nodewave.core.execution.observe import evaluate_execution
from nodewave.core.execution.record import build_pod_execution, select_pod_records
from nodewave.core.job.planner import (
    PlannerSettings,
    evaluate_gated,
    evaluate_validated_before,
)
from nodewave.core.vocabulary.snapshot import ExecutionInfo, JobInfo, NodeInfo, PodInfo
from nodewave.models.execution import DesiredState, ExecutionStatus, ObservedState, Transition

NODE_LOST_GRACE = PlannerSettings().node_lost_grace
"""A reader's grace for a NotReady node: the operator's default (its flag is not readable)."""


def build_record_views(
    pods: Mapping[str, PodInfo],
    executions: Iterable[ExecutionInfo],
    job: JobInfo,
    now: datetime,
    nodes: Mapping[str, NodeInfo] | None = None,
) -> tuple[ExecutionInfo, ...]:
    """The Job's executions that only a pod stands for (`record.select_pod_records`, the
    operator's own rule), each with the status a reader says of it; `nodes`: the cluster's
    nodes, when the reader has them (a node gone or NotReady past the grace says Lost)."""
    return tuple(
        build_record_view(pod, job, now, nodes)
        for pod in select_pod_records(pods, executions, job.uid).values()
    )


def build_record_view(
    pod: PodInfo, job: JobInfo, now: datetime, nodes: Mapping[str, NodeInfo] | None = None
) -> ExecutionInfo:
    """One pod record's execution as a reader says it.

    Worked example: version 2's wave 1 settled at 10:00:05 (its newest execution created
    then); a ready pod of wave 1 created at 10:00:04 says Running, one of wave 2 Validating,
    a pod still pulling its image Starting, one in CrashLoopBackOff Degraded, one being
    deleted Stopping."""
    ex = build_pod_execution(pod, None)
    if pod.deleting:  # the operator deletes a pod record's pod to stop this run (to make it
        # again, too: a restart): Stopping, as the operator says of a run it stops
        ex = replace(ex, spec=ex.spec.model_copy(update={"desired_state": DesiredState.STOPPED}))
    node = _node(ex.spec.node_name, nodes)
    obs = evaluate_execution(ex, pod, node, job.spec, now, node_lost_grace=NODE_LOST_GRACE)
    validated = evaluate_validated_before(ex, obs.state, job.status, record=True)
    if obs.state is ObservedState.RUNNING and evaluate_gated(ex, obs.state, job.spec, validated):
        # Its windows are the operator's, in memory: a reader says neither their samples
        # nor a verdict, and never Failed for a deadline the operator may have seen met.
        obs = replace(
            obs,
            state=ObservedState.VALIDATING,
            reason=VALIDATING,
            message="validating: its health windows are the operator's to judge",
        )
    since = obs.started_at or pod.created_at
    transition = Transition(state=obs.state, time=since, reason=obs.reason, message=obs.message)
    status = ExecutionStatus(
        observed_state=obs.state,
        message=obs.message,
        details=obs.details,
        error=obs.error,
        pod_name=pod.name,
        started_at=obs.started_at,
        history=[transition],
        restarts=pod.restarts,
    )
    return replace(ex, status=status)


def _node(name: str, nodes: Mapping[str, NodeInfo] | None) -> NodeInfo | None:
    """The pod record's node; a ready one when the reader did not read the nodes: it judges
    no node lost then (the operator does, and says so in an Execution)."""
    if nodes is not None:
        return nodes.get(name)
    return NodeInfo(name=name, labels={}, ready=True, ready_since=None)
