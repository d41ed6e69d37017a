"""Where the rollout of one version stands on each target node: the one ledger of which nodes
it reached, in which wave, which of them failed or settled, and which nodes the waves still to
come take (docs/design.md §3.3).

The engine, the failure budget, a restart, `kubectl nodewave plan` and the dashboard's node map
all read it, so "which nodes has this rollout moved?" has one answer. A pass builds it from its
own observations (`planner.plan_job`); the views, which observe nothing, from the states the
executions' status last recorded (`build_recorded_progress`).

Worked example (targets n0..n4 in wave order, V=2 rolling out, 40 % waves): n0 runs V placed in
wave 1 and validated, n1 runs V placed in wave 1 and failed, n2 runs V placed in wave 2 still
Validating, n3 and n4 run the stable version. Then `moved` is n0, n1, n2 (a failed node stays
moved: it spent the budget), `failed_nodes` 1, `remaining` [n3, n4], `wave(1)` the executions on
n0 and n1, and the waves to come [[n3, n4]] (one rolling wave of ceil(40 % x 5) = 2 nodes).
Once V is stable (`steady`), every node running V counts as moved whatever wave placed it: a
node that got V while returning from an abort (wave 0) is not one the next nodes wait for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from nodewave.core.rollout.waves import Domains, plan_waves
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import Rollout

S = ObservedState
OnNode = Mapping[str, Mapping[int, ExecutionInfo]]
"""Node → version → the node's live execution of that version."""


@dataclass(frozen=True)
class Progress:
    """The ledger of the rollout of `version` over `targets` (in wave order)."""

    version: int
    targets: Sequence[str]
    on_node: OnNode
    states: Mapping[str, ObservedState]
    """The observed state of each execution, by name."""
    validated: frozenset[str]
    """Executions that passed their health windows (now or before)."""
    steady: bool = False
    """The version is the stable one: its rollout is behind it."""
    baking: bool = False
    """The rollout bakes (rollout.bakeSeconds): an execution that fails counts, validated or not."""

    def execution(self, node: str, version: int | None = None) -> ExecutionInfo | None:
        """The node's execution of `version` (default: the one rolling out)."""
        return self.on_node.get(node, {}).get(self.version if version is None else version)

    def settled(self, ex: ExecutionInfo) -> bool:
        """Validated, failed or lost: a wave is settled when each of its executions is."""
        return ex.name in self.validated or self.states.get(ex.name) in (S.FAILED, S.LOST)

    def failed(self, ex: ExecutionInfo) -> bool:
        """Failed before it was ever validated, or while the rollout bakes: what the failure
        budget counts (one that failed after validation is otherwise not the version proving
        bad, and a Lost one is its node)."""
        if self.states.get(ex.name) is not S.FAILED:
            return False
        return self.baking or (ex.status.stable_at is None and ex.name not in self.validated)

    def reached(self, ex: ExecutionInfo) -> bool:
        """Whether the node of `ex` (an execution of the version) has moved to it: placed by
        a wave (any, once the version is stable), wanted Running or failed there."""
        placed = self.steady or ex.spec.rollout_wave >= 1
        return placed and (ex.spec.desired_state is DesiredState.RUNNING or self.failed(ex))

    @cached_property
    def moved(self) -> dict[str, ExecutionInfo]:
        """Target → its execution of the version, for each target the rollout has reached."""
        return {
            n: ex
            for n in self.targets
            if (ex := self.execution(n)) is not None and self.reached(ex)
        }

    @cached_property
    def failed_nodes(self) -> int:
        return sum(1 for ex in self.moved.values() if self.failed(ex))

    @cached_property
    def remaining(self) -> list[str]:
        """Targets not moved yet, in wave order."""
        return [n for n in self.targets if n not in self.moved]

    def wave(self, number: int) -> list[ExecutionInfo]:
        """The executions wave `number` placed."""
        return [ex for ex in self.moved.values() if ex.spec.rollout_wave == number]

    def plan_waves_to_come(
        self,
        spec: Rollout,
        domains: Domains,
        *,
        next_wave: int,
        starting: Iterable[str] = (),
    ) -> list[list[str]]:
        """The waves the nodes not reached yet will take, in order (less those `starting` in
        this pass), numbered from `next_wave` (1: the canary or first step first); once the
        version is stable, new nodes get it in one wave, at once."""
        skip = set(starting)
        left = [n for n in self.remaining if n not in skip]
        if self.steady:
            return [left] if left else []
        return plan_waves(spec, left, domains, total=len(self.targets), first_wave=next_wave)


def group_by_node(executions: Iterable[ExecutionInfo]) -> dict[str, dict[int, ExecutionInfo]]:
    """Node → version → execution, for the executions not being deleted."""
    on_node: dict[str, dict[int, ExecutionInfo]] = {}
    for ex in executions:
        if not ex.deleting:
            on_node.setdefault(ex.spec.node_name, {})[ex.spec.job_version] = ex
    return on_node


def build_recorded_progress(
    version: int, stable: int | None, targets: Sequence[str], on_node: OnNode
) -> Progress:
    """The ledger as the executions' status last recorded it (what `kubectl nodewave plan` and
    the node map read, observing nothing themselves); `on_node` from `group_by_node`."""
    live = [ex for versions in on_node.values() for ex in versions.values()]
    return Progress(
        version=version,
        targets=targets,
        on_node=on_node,
        states={ex.name: ex.status.observed_state for ex in live},
        validated=frozenset(ex.name for ex in live if ex.status.stable_at is not None),
        steady=stable == version,
    )
