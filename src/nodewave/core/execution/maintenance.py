"""Cordon and drain around a run-to-completion execution (`spec.nodeMaintenance`), as
system-upgrade-controller, kured and NVIDIA's driver upgrades do: cordon the node, evict its
pods through the Eviction API, run the update, uncordon; a node whose update failed stays
cordoned and is labelled `nodewave.io/quarantined` until a person releases it.

The decisions are pure (`plan_node_maintenance`, one execution at a time, after its
observation); the kube layer carries them out (`kube/nodes.py`) and records each outcome in the
execution's `status.maintenance`, which the next pass reads. Rules, in order:
1. A new execution about to get its pod (observed Pending, creating the pod) whose node is not
   ready for it (`drainedAt` unset) gets no pod; `PrepareNode` cordons the node and evicts
   what the drain covers, and the execution waits (Pending, PreparingNode, looked at again in
   a few seconds: evictions a PodDisruptionBudget refused are asked again). Past
   `drain.timeoutSeconds` from the first attempt it fails with DrainTimeout and what blocked it.
   Only executions of the current wave reach this point, so no more nodes are cordoned than
   the wave has.
2. Completed: `ReleaseNode` uncordons the node (if this Job cordoned it).
3. Failed after its node was prepared: `QuarantineNode` keeps it cordoned and labels it, with a
   Warning Event on the Job; the Job's NodesQuarantined condition counts such nodes.
4. A quarantined node whose execution carries the annotation `nodewave.io/release` (`kubectl
   nodewave uncordon JOB NODE`) is released.
5. An execution stopped before it finished (superseded, rolled back, cancelled) gives its node
   back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from nodewave.core.execution.observe import Observation, PodAction
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import (
    Action,
    EventIntent,
    PrepareNode,
    QuarantineNode,
    ReleaseNode,
)
from nodewave.core.vocabulary.naming import label_value
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import NodeMaintenance

S = ObservedState
ANNOTATION_RELEASE = "nodewave.io/release"
"""On an execution: `kubectl nodewave uncordon` asks for its quarantined node back."""
LABEL_QUARANTINED = "nodewave.io/quarantined"
"""On a node whose execution failed: `<namespace>.<job>` (build_quarantine_value)."""
ANNOTATION_CORDONED_BY = "nodewave.io/cordoned-by"
"""On a node nodewave cordoned: "<namespace>/<job>", so only that Job uncordons it."""
DRAIN_RETRY = timedelta(seconds=2)
"""How soon a refused eviction is asked again."""


def build_quarantine_value(namespace: str, job: str) -> str:
    """The quarantine label's value, naming the Job with its namespace, so a same-named Job of
    another namespace never lifts it (a namespace holds no dot: the two never run together);
    shortened with a hash past 63 characters, as every label value nodewave writes."""
    return label_value(f"{namespace}.{job}")


@dataclass(frozen=True, slots=True)
class MaintenanceStep:
    observation: Observation
    action: Action | None = None
    event: EventIntent | None = None


def prepares_node(spec: NodeMaintenance, *, completes: bool) -> bool:
    """Whether an execution's node is cordoned (and drained) before its pod starts: only for
    run-to-completion versions (a Pipeline's execution never ends)."""
    return spec.cordon and completes


def plan_node_maintenance(
    ex: ExecutionInfo,
    obs: Observation,
    spec: NodeMaintenance,
    now: datetime,
    *,
    completes: bool,
) -> MaintenanceStep:
    """The execution's observation, held back while its node is prepared, and what its node
    needs (module docstring)."""
    m = ex.status.maintenance
    node = ex.spec.node_name
    if (
        prepares_node(spec, completes=completes)
        and obs.pod_action is PodAction.CREATE
        and obs.reason == R.POD_CREATING
        and ex.spec.desired_state is DesiredState.RUNNING
        and (m is None or m.drained_at is None)
    ):
        prepared = _prepare(ex, obs, spec, now)
        if prepared.observation.state is not S.FAILED:
            return prepared
        # The drain timed out: the node is quarantined in this same pass. Left to the next,
        # it waited for some other change to wake one (the echo of our own write wakes none).
        obs = prepared.observation
    if m is None or m.released_at is not None:
        return MaintenanceStep(obs)
    if m.quarantined:
        return MaintenanceStep(obs, ReleaseNode(ex.name, node) if ex.release_requested else None)
    if obs.state is S.FAILED:
        event = EventIntent(
            "Warning",
            R.NODE_QUARANTINED,
            f"node {node} stays cordoned after {ex.name} failed ({obs.message}); "
            f"`kubectl nodewave uncordon {ex.spec.job_name} {node}` releases it",
        )
        return MaintenanceStep(obs, QuarantineNode(ex.name, node), event)
    if obs.state is S.COMPLETED or ex.spec.desired_state is DesiredState.STOPPED:
        return MaintenanceStep(obs, ReleaseNode(ex.name, node))
    return MaintenanceStep(obs)


def _prepare(
    ex: ExecutionInfo, obs: Observation, spec: NodeMaintenance, now: datetime
) -> MaintenanceStep:
    m = ex.status.maintenance
    node = ex.spec.node_name
    started = m.drain_started_at if m is not None else None
    waiting = m.message if m is not None and m.message else "cordoning"
    timeout = timedelta(seconds=spec.drain.timeout_seconds)
    if started is not None and now >= started + timeout:
        message = (
            f"node {node} not ready within drain.timeoutSeconds={spec.drain.timeout_seconds}: "
            f"{waiting}"
        )
        failed = Observation(
            S.FAILED,
            R.DRAIN_TIMEOUT,
            message,
            error=ErrorInfo(code=R.DRAIN_TIMEOUT, message=message),
        )
        return MaintenanceStep(failed)
    what = "cordoning and draining" if spec.drain.enabled else "cordoning"
    held = replace(
        obs,
        reason=R.PREPARING_NODE,
        message=f"{what} node {node}: {waiting}",
        pod_action=PodAction.NONE,
        deadline=min(d for d in (obs.deadline, now + DRAIN_RETRY) if d is not None),
    )
    return MaintenanceStep(
        held, PrepareNode(ex.name, node, spec.drain if spec.drain.enabled else None)
    )
