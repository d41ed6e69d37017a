"""Restarting the current version's executions in waves (`kubectl nodewave restart JOB [--in]`,
annotation `nodewave.io/restartAt`), as `kubectl argo rollouts restart` and `nomad job restart`
do: a node agent that must re-read a rotated certificate, a leaked file descriptor, an Update
to run again.

Rules (docs/design.md §3.3, rows in tests/unit/test_restart.py):
- An execution of the current version V created before `restartAt` is *stale*; one created
  at or after it is *fresh*. Recreating an execution (deleted, then created again under the
  same name by the placement) makes it fresh: it starts with a new status, so its health
  windows run again as for a new version. Nothing else is recorded to know which nodes are
  done, so a restarted operator resumes where the last one stopped.
- Nothing happens before `restartAt`, nor while V is not the stable version (a rollout, a
  rollback or an abort is under way: nodes it moves are fresh anyway); the restart is
  Scheduled meanwhile.
- Waves as the rollout's: the first the canary's size (Canary strategy), then `maxParallel`
  percent of the targets, one topology domain per wave, in the rollout's wave order. The next
  wave starts once every fresh execution has settled (validated, failed or lost), never while
  `spec.rollout.paused` nor outside the rollout's maintenance windows.
- Fresh executions that fail before they are validated count against the rollout's budget
  (`maxFailedNodes`, `maxFailedNodesPercent`); past it the restart is Paused: there is no
  older version to return to. `kubectl nodewave retry JOB --node N` recreates a failed one;
  once the failures are back within the budget the restart goes on.
- Lost executions (node gone) and ones a person stopped are not restarted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from nodewave.core.rollout.engine import RolloutContext
from nodewave.core.rollout.waves import plan_next_wave
from nodewave.core.rollout.windows import describe_opening
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import EventIntent
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import RestartPhase, RestartStatus

S = ObservedState
P = RestartPhase
ANNOTATION_RESTART = "nodewave.io/restartAt"
"""`kubectl nodewave restart`: the time (RFC 3339) before which executions are restarted."""


@dataclass(slots=True)
class RestartDecision:
    status: RestartStatus | None
    recreate: list[ExecutionInfo] = field(default_factory=list)
    """Stale executions to recreate in this pass."""
    events: list[EventIntent] = field(default_factory=list)
    wake_at: datetime | None = None
    """When the restart is due, while it is scheduled ahead."""


def parse_restart_at(value: str | None) -> datetime | None:
    """The annotation's time; None when absent, malformed or without a time zone."""
    try:
        at = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def plan_restart(
    ctx: RolloutContext, restart_at: datetime | None, previous: RestartStatus | None
) -> RestartDecision:
    """The restart's next step (module docstring)."""
    if restart_at is None:
        return RestartDecision(previous)
    new = previous is None or previous.requested_at != restart_at
    rs = (
        RestartStatus(requested_at=restart_at, phase=P.SCHEDULED)
        if new or previous is None
        else previous.model_copy()
    )
    events = []
    if new:
        events.append(EventIntent("Normal", R.RESTART_REQUESTED, f"restart of version "
                                  f"{ctx.version} requested for {restart_at.isoformat()}"))  # fmt: skip
    if rs.phase is P.COMPLETED:
        return RestartDecision(rs, events=events)
    if ctx.now < restart_at or ctx.stable != ctx.version:
        rs.phase = P.SCHEDULED
        rollout = ctx.previous.phase.value if ctx.previous and ctx.previous.phase else "to come"
        rs.message = (
            f"scheduled for {restart_at.isoformat()}"
            if ctx.now < restart_at
            else f"waits until version {ctx.version} is stable (its rollout is {rollout})"
        )
        wake = restart_at if ctx.now < restart_at else None
        return RestartDecision(rs, events=events, wake_at=wake)
    return _restart(ctx, restart_at, rs, events)


def _sort_by_restart(
    ctx: RolloutContext, restart_at: datetime
) -> tuple[list[ExecutionInfo], list[ExecutionInfo], int]:
    """The executions of V wanted Running that predate the restart (stale: to recreate; not
    Lost ones, their node is gone), those made since (fresh), and how many targets have none
    (being recreated, or not placed yet)."""
    stale: list[ExecutionInfo] = []
    fresh: list[ExecutionInfo] = []
    missing = 0
    for n in ctx.targets:
        ex = ctx.progress.execution(n, ctx.version)
        if ex is None:
            missing += 1
        elif ex.spec.desired_state is not DesiredState.RUNNING:
            continue
        elif ex.created_at >= restart_at:
            fresh.append(ex)
        elif ctx.states.get(ex.name) is not S.LOST:
            stale.append(ex)
    return stale, fresh, missing


def _restart(
    ctx: RolloutContext, restart_at: datetime, rs: RestartStatus, events: list[EventIntent]
) -> RestartDecision:
    stale, fresh, missing = _sort_by_restart(ctx, restart_at)
    failed = sum(1 for ex in fresh if ctx.progress.failed(ex))
    in_flight = missing + sum(1 for ex in fresh if not ctx.progress.settled(ex))
    rs.restarted_nodes = sum(1 for ex in fresh if ex.name in ctx.validated)
    rs.failed_nodes, rs.remaining_nodes = failed, len(stale)
    recreate: list[ExecutionInfo] = []
    if ctx.over_budget(failed):
        if rs.phase is not P.PAUSED:
            events.append(EventIntent("Warning", R.RESTART_PAUSED, f"{failed} nodes failed after "
                                      f"restarting, past the budget ({ctx.budget})"))  # fmt: skip
        rs.phase = P.PAUSED
        rs.message = (
            f"paused: {failed} nodes failed after restarting, past the budget; "
            f"{len(stale)} not restarted (`kubectl nodewave retry JOB --node N` recreates a "
            "failed one)"
        )
        return RestartDecision(rs, events=events)
    if not stale and not in_flight:
        rs.phase = P.COMPLETED
        rs.message = f"restarted {rs.restarted_nodes} nodes" + (
            f", {failed} failed" if failed else ""
        )
        events.append(EventIntent("Warning" if failed else "Normal", R.RESTART_COMPLETE,
                                  f"version {ctx.version}: {rs.message}"))  # fmt: skip
        return RestartDecision(rs, events=events)
    rs.phase = P.RESTARTING
    if stale and not in_flight and not ctx.spec.paused and ctx.window_open:
        first = rs.wave == 0
        by_node = {ex.spec.node_name: ex for ex in stale}
        wave = plan_next_wave(ctx.spec, len(ctx.targets), list(by_node), rs.wave + 1, ctx.domains)
        recreate = [by_node[n] for n in wave]
        if first:
            events.append(EventIntent("Normal", R.RESTART_STARTED, f"restarting version "
                                      f"{ctx.version} on {len(stale)} nodes in waves"))  # fmt: skip
        rs.wave += 1
        in_flight = len(recreate)
        rs.remaining_nodes -= len(recreate)
    held = (
        "rollout paused: "
        if ctx.spec.paused
        else ""
        if ctx.window_open
        else f"waiting for a maintenance window, {describe_opening(ctx.window_opens_at)}: "
    )
    rs.message = (
        f"{held}wave {rs.wave}: {in_flight} nodes restarting, {rs.restarted_nodes} restarted, "
        f"{failed} failed, {rs.remaining_nodes} to go"
    )
    return RestartDecision(rs, recreate, events)
