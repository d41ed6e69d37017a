"""A simulated cluster for the planner: a plan's actions applied the way the API would, and
rollouts run pass by pass with an injected clock. Shared by the planner, rollout and GitOps
tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nodewave.core.job.planner import PlannerSettings, plan_job
from nodewave.core.rollout.engine import build_abort_value
from nodewave.core.vocabulary.actions import (
    CreateExecution,
    CreatePod,
    CreatePullPod,
    DeleteExecution,
    DeletePod,
    PatchExecutionStatus,
    SetDesiredState,
    build_dispatch,
)
from nodewave.core.vocabulary.snapshot import ExecutionInfo, PodInfo, Snapshot
from nodewave.models.execution import ObservedState
from nodewave.models.job import JobStatus
from tests.unit.builders import at, execution, job_spec, node, pod, snapshot

S = ObservedState


@dataclasses.dataclass
class Store:
    """What the simulated API server holds: executions and pods by name."""

    executions: dict[str, ExecutionInfo]
    pods: dict[str, PodInfo]
    now: datetime | None = None
    """The creation time of what is created (whole seconds, as the API server stamps it);
    None: the builders' T0."""


def _create_execution(store: Store, a: CreateExecution) -> None:
    if a.name in store.executions:
        return  # creates are idempotent
    new = execution(a.node, version=a.version, desired=a.desired)
    store.executions[a.name] = dataclasses.replace(
        new,
        spec=new.spec.model_copy(update={"rollout_wave": a.wave}),
        created_at=store.now or new.created_at,
    )
    if a.start:
        store.pods[a.name] = pod(a.name, node_name=a.node)


def _create_pod(store: Store, a: CreatePod) -> None:
    store.pods.setdefault(a.execution, pod(a.execution, node_name=a.node))


def _create_pull_pod(store: Store, a: CreatePullPod) -> None:
    """Pulled at once: its container's start failed (StartError), as on a kubelet."""
    pulled = pod(a.name, "Failed", False, a.node, exit_code=128, pre_pull_of=a.version)
    store.pods.setdefault(a.name, dataclasses.replace(pulled, owner_uid="job-uid"))


def _delete_pod(store: Store, a: DeletePod) -> None:
    store.pods.pop(a.name, None)


def _set_desired_state(store: Store, a: SetDesiredState) -> None:
    if (e := store.executions.get(a.name)) is not None:
        store.executions[a.name] = dataclasses.replace(
            e,
            spec=e.spec.model_copy(update={"desired_state": a.desired}),
            stopped_by_operator=a.by_operator,
        )


def _patch_execution_status(store: Store, a: PatchExecutionStatus) -> None:
    if a.name in store.executions:
        store.executions[a.name] = dataclasses.replace(store.executions[a.name], status=a.status)


def _delete_execution(store: Store, a: DeleteExecution) -> None:
    store.executions.pop(a.name, None)


def _outside(store: Store, a: object) -> None:
    """Nothing the simulated store holds changes."""


class Simulated:
    """How each verb of the one dispatch table (`actions.VERBS`) changes the simulated store;
    the Reconciler applies the same verbs to the API (`kube.reconcile.APPLY`)."""

    create_execution = staticmethod(_create_execution)
    create_pod = staticmethod(_create_pod)
    create_pull_pod = staticmethod(_create_pull_pod)
    delete_pod = staticmethod(_delete_pod)
    set_desired_state = staticmethod(_set_desired_state)
    patch_execution_status = staticmethod(_patch_execution_status)
    delete_execution = staticmethod(_delete_execution)
    # Revisions and ConfigMaps (the simulated versions are all at hand), calls to other
    # systems and node writes: nothing the simulated store holds changes.
    create_revision = delete_revision = ensure_configmap = staticmethod(_outside)
    call_webhook = send_notification = staticmethod(_outside)
    prepare_node = release_node = quarantine_node = staticmethod(_outside)


SIMULATED: dict[type, Callable[[Store, Any], None]] = build_dispatch(Simulated)


def simulate(snap: Snapshot, plan_actions: list[object], now: datetime | None = None) -> Snapshot:
    """Apply a plan the way the API would: creates are idempotent, pods start Running at once;
    executions created at `now` to the second, if given."""
    stamp = now.replace(microsecond=0) if now is not None else None
    store = Store({e.name: e for e in snap.executions}, dict(snap.pods), stamp)
    for a in plan_actions:
        SIMULATED[type(a)](store, a)
    return dataclasses.replace(snap, executions=tuple(store.executions.values()), pods=store.pods)


HC = {"deadlineSeconds": 100, "intervalSeconds": 1, "successThreshold": 1, "failureThreshold": 1}


def stable_on(
    nodes: list[str], rollout: dict[str, object], annotations_bad: set[str] | None = None
) -> Snapshot:
    """Version 1 stable and Running everywhere; the spec is at version 2."""
    spec = job_spec(rollout={"healthCheck": HC, **rollout})
    exs = [
        dataclasses.replace(
            execution(n, 1, state=S.RUNNING, stable=True),
            spec=execution(n, 1).spec.model_copy(update={"rollout_wave": 1}),
        )
        for n in nodes
    ]
    snap = snapshot(
        [node(n) for n in nodes],
        exs,
        [pod(e.name, node_name=e.spec.node_name) for e in exs],
        spec=spec,
        current=2,
        status=JobStatus(stable_version=1),
    )
    return snap


def step(
    snap: Snapshot,
    t: float,
    unready: set[str] = frozenset(),  # type: ignore[assignment]
    stamp: bool = False,
    settings: PlannerSettings | None = None,
) -> Snapshot:
    """One pass at `t` (with `settings`) and its plan applied; `stamp`: executions created
    at `t`."""
    plan = plan_job(snap, at(t), settings)
    snap = simulate(snap, plan.actions, at(t) if stamp else None)
    # pods of `unready` nodes never turn ready
    pods = {
        k: (dataclasses.replace(p, ready=False) if p.node_name in unready and "-v2-" in k else p)
        for k, p in snap.pods.items()
    }
    return dataclasses.replace(
        snap,
        pods=pods,
        job=dataclasses.replace(snap.job, status=plan.status),
        health={**snap.health, **plan.health},
    )


def run(snap: Snapshot, seconds: int, unready: set[str] = frozenset()) -> Snapshot:  # type: ignore[assignment]
    for i in range(seconds * 4):
        snap = step(snap, 10 + i / 4, unready)
    return snap


def versions_running(snap: Snapshot) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for e in snap.executions:
        if e.spec.desired_state.value == "Running":
            out.setdefault(e.spec.node_name, set()).add(e.spec.job_version)
    return out


NODES = [f"n{i}" for i in range(10)]

BAD = set(NODES)


def as_object(snap: Snapshot, generation: int = 1) -> dict[str, Any]:
    status = snap.job.status.to_api()
    return {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "ns", "generation": generation},
        "spec": snap.job.spec.to_api(),
        "status": status,
    }


def _rolled_back(auto_rollback: bool) -> Snapshot:
    rollout = {
        "strategy": "Canary",
        "canaryCount": 2,
        "autoPromote": True,
        "maxFailedNodes": 1,
        "autoRollback": auto_rollback,
    }
    return run(stable_on(NODES, rollout), 15, unready=BAD)


def _aborted() -> Snapshot:
    """A rolling rollout aborted (`kubectl nodewave abort`) after its first wave started."""
    snap = stable_on(NODES, {"strategy": "Rolling", "maxParallel": 30})
    for i in range(8):
        snap = step(snap, 10 + i / 4)
    rollout = snap.job.status.rollout
    assert rollout is not None
    assert rollout.started_at is not None
    abort = build_abort_value(2, rollout.started_at)
    snap = dataclasses.replace(snap, job=dataclasses.replace(snap.job, abort=abort))
    for i in range(8, 40):
        snap = step(snap, 10 + i / 4)
    return snap


# 2026-01-01, when the simulation runs, is a Thursday: a Saturday window is closed.
SATURDAY_NIGHTS = [{"days": ["Sat"], "start": "01:00", "end": "02:00", "timeZone": "UTC"}]

# One Job per rollout phase, for the tests of what GitOps tools make of our status.
CHANGE_BOARD = {"name": "cab", "type": "ConfirmRollout", "url": "http://127.0.0.1:9/cab"}
"""A ConfirmRollout webhook that never answers here (no call is made in a simulation)."""

PHASES: dict[str, Any] = {
    "finished": lambda: run(stable_on(NODES, {"strategy": "Rolling", "maxParallel": 50}), 20),
    "wave-in-progress": lambda: step(
        stable_on(NODES, {"strategy": "Rolling", "maxParallel": 30}), 10
    ),
    "awaiting-promotion": lambda: run(
        stable_on(NODES, {"strategy": "Canary", "canaryCount": 1}), 5
    ),
    "paused": lambda: run(stable_on(NODES, {"strategy": "Rolling", "paused": True}), 5),
    "waiting-for-window": lambda: run(
        stable_on(NODES, {"strategy": "Rolling", "maintenanceWindows": SATURDAY_NIGHTS}), 5
    ),
    "awaiting-confirmation": lambda: run(
        stable_on(NODES, {"strategy": "Rolling", "webhooks": [CHANGE_BOARD]}), 5
    ),
    "step-paused": lambda: run(
        stable_on(
            NODES,
            {
                "strategy": "Rolling",
                "steps": [{"nodes": 1}, {"pause": {"durationSeconds": 3600}}, {"percent": 50}],
            },
        ),
        5,
    ),
    "baking": lambda: run(
        stable_on(NODES, {"strategy": "Rolling", "maxParallel": 50, "bakeSeconds": 3600}), 20
    ),
    "aborted": _aborted,
    "rolled-back": lambda: _rolled_back(True),
    "failed-no-rollback": lambda: _rolled_back(False),
}


ZONES = {n: ("zone-a" if i < 4 else "zone-b") for i, n in enumerate(NODES)}
"""NODES in two zones: four in zone-a, the rest in zone-b."""


def with_zones(snap: Snapshot) -> Snapshot:
    """The snapshot's NODES labelled with their ZONES (label `zone`)."""
    return dataclasses.replace(snap, nodes={n: node(n, zone=ZONES[n]) for n in NODES})


def waves_run(snap: Snapshot, version: int = 2) -> dict[int, list[str]]:
    """The engine's waves of `version`, from the executions it created: wave → its nodes,
    sorted, in wave order (an execution placed outside a wave, wave 0, is left out)."""
    by_wave: dict[int, list[str]] = {}
    for e in snap.executions:
        if e.spec.job_version == version and e.spec.rollout_wave:
            by_wave.setdefault(e.spec.rollout_wave, []).append(e.spec.node_name)
    return {w: sorted(by_wave[w]) for w in sorted(by_wave)}
