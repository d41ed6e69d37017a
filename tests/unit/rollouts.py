"""Builders of rollout contexts for the rollout engine's table tests (core/rollout/engine.py): a
version V=2 rolling out from S=1 over ten nodes; shared by the transition, webhook and node
map tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from nodewave.core.rollout.engine import RolloutContext, RolloutDecision, Want
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import RolloutPhase, RolloutStatus
from tests.unit.builders import at, execution, job_spec

S = ObservedState
P = RolloutPhase
V, STABLE = 2, 1
NODES = [f"n{i}" for i in range(10)]
HEALTH = {"deadlineSeconds": 60}


@dataclass(frozen=True)
class Moved:
    """A node's execution of V: its wave, what this pass observed, and whether it validated."""

    wave: int
    state: ObservedState = S.RUNNING
    validated: bool = False
    desired: DesiredState = DesiredState.RUNNING
    stable_before: bool = False


def wave_execution(node: str, version: int, wave: int, **kw: Any) -> ExecutionInfo:
    """An execution of `version` on `node` in `wave`."""
    ex = execution(node, version, **kw)
    return dataclasses.replace(ex, spec=ex.spec.model_copy(update={"rollout_wave": wave}))


def context(
    moved: dict[str, Moved] | None = None,
    *,
    targets: list[str] = NODES,
    stable: int | None = STABLE,
    previous: RolloutStatus | None = None,
    promote: str | None = None,
    back: dict[str, ObservedState] | None = None,
    **rollout: Any,
) -> RolloutContext:
    """V=2 rolling out from S=1 on `targets`; `back`: the state of nodes' executions of S."""
    spec = job_spec(rollout={"healthCheck": HEALTH, **rollout})
    on_node: dict[str, dict[int, ExecutionInfo]] = {}
    states: dict[str, ObservedState] = {}
    validated: set[str] = set()
    for n, m in (moved or {}).items():
        ex = wave_execution(n, V, m.wave, desired=m.desired, state=m.state, stable=m.stable_before)
        on_node.setdefault(n, {})[V] = ex
        states[ex.name] = m.state
        if m.validated:
            validated.add(ex.name)
    for n, state in (back or {}).items():
        ex = wave_execution(n, STABLE, 1, state=state)
        on_node.setdefault(n, {})[STABLE] = ex
        states[ex.name] = state
    return RolloutContext(
        spec=spec.rollout,
        version=V,
        stable=stable,
        previous=previous,
        targets=targets,
        on_node=on_node,
        states=states,
        validated=frozenset(validated),
        promote=promote,
        now=at(0),
    )


def rollout(phase: RolloutPhase, wave: int, total: int = 0, failed: int = 0) -> RolloutStatus:
    return RolloutStatus(
        phase=phase, version=V, from_version=STABLE, wave=wave, total_waves=total,
        failed_nodes=failed, started_at=at(0),
    )  # fmt: skip


def ok(wave: int) -> Moved:
    return Moved(wave, validated=True)


def failed(wave: int) -> Moved:
    return Moved(wave, S.FAILED)


def moved_to(decision: RolloutDecision, wave: int) -> list[str]:
    return sorted(n for n, w in decision.want.items() if w == Want(V, wave))


def reasons(decision: RolloutDecision) -> list[str]:
    return [e.reason for e in decision.events]
