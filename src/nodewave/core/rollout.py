"""The rollout engine: which version each selected node should run, wave by wave (DESIGN §3).

Inputs are the Job (spec and last status), the current version V, the ordered target nodes,
each node's executions and what this pass observed of them. Everything the engine decides is
in the Job's `status.rollout` and the executions' `spec.rolloutWave`, so a restarted operator
resumes at the same wave.

Decisions:
- No stable version yet (a Job's first version): every node gets V at once; when every
  execution is validated (or failed or lost) V becomes stable. There is nothing to roll back to.
- V is the stable version: every node runs it; new nodes get it.
- Otherwise a rollout of V from the stable version S runs: nodes not yet moved keep S (a node
  that joins meanwhile gets S); each wave moves the next nodes in `order_nodes` order to V.
  A wave is done when each of its executions is validated (`stableAt`), failed or lost. Then:
  none left → Completed, V is stable; canary done without autoPromote and no promote
  annotation for V → AwaitingPromotion; `paused` → Paused; else the next wave starts.
- Failures: executions of V that failed before they were ever validated count against the
  budget; Lost ones do not (their node is gone, not the version), nor do ones that failed
  after validation (no rollback loop). Past `maxFailedNodes` or `maxFailedNodesPercent` of the
  targets: with autoRollback every moved node returns to S (RollingBack, then RolledBack when
  S runs everywhere); without it the rollout stops in Failed and waits. Whatever the budget, a
  canary wave with any failure, or any wave in which every node failed, fails the rollout too:
  a budget of 3 must not promote a canary that failed on both its nodes.
- A new version while one is in flight starts a new rollout from S: nodes on the abandoned
  version go back to S until their wave of the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from nodewave.core.actions import EventIntent
from nodewave.core.snapshot import ExecutionInfo, JobInfo
from nodewave.core.waves import first_wave_size, wave_size
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import RolloutPhase, RolloutStatus

S = ObservedState
P = RolloutPhase
ANNOTATION_PROMOTE = "nodewave.io/promote"


@dataclass(frozen=True, slots=True)
class Want:
    version: int
    wave: int


@dataclass(slots=True)
class RolloutDecision:
    want: dict[str, Want]
    rollout: RolloutStatus | None
    stable_version: int | None
    events: list[EventIntent] = field(default_factory=list)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan_rollout(
    job: JobInfo,
    version: int,
    targets: list[str],
    on_node: Mapping[str, Mapping[int, ExecutionInfo]],
    states: Mapping[str, ObservedState],
    validated: set[str],
    promote: str | None,
    now: datetime,
) -> RolloutDecision:
    spec = job.spec.rollout
    stable = job.status.stable_version
    prev = job.status.rollout

    def ex_of(node: str, v: int) -> ExecutionInfo | None:
        return on_node.get(node, {}).get(v)

    def settled(ex: ExecutionInfo) -> bool:
        return ex.name in validated or states.get(ex.name) in (S.FAILED, S.LOST)

    def failed(ex: ExecutionInfo) -> bool:
        return (
            states.get(ex.name) is S.FAILED
            and ex.status.stable_at is None
            and ex.name not in validated
        )

    if stable is None or stable == version:
        want = {
            n: Want(version, (ex.spec.rollout_wave if (ex := ex_of(n, version)) else 1))
            for n in targets
        }
        rollout = prev
        if stable is None:
            mine = [ex for n in targets if (ex := ex_of(n, version)) is not None]
            done = len(mine) == len(targets) and all(settled(ex) for ex in mine)
            n_failed = sum(1 for ex in mine if failed(ex))
            rollout = RolloutStatus(
                phase=P.COMPLETED if done else P.PROGRESSING,
                version=version,
                wave=1,
                total_waves=1,
                failed_nodes=n_failed,
                started_at=prev.started_at if prev and prev.version == version else now,
                message=f"first version on {len(targets)} nodes" + (", done" if done else ""),
            )
            return RolloutDecision(want, rollout, version if done and targets else None)
        return RolloutDecision(want, rollout, stable)

    events: list[EventIntent] = []
    if prev is None or prev.version != version:
        rs = RolloutStatus(
            phase=P.PROGRESSING, version=version, from_version=stable, wave=0, started_at=now
        )
        events.append(
            EventIntent(
                "Normal",
                "RolloutStarted",
                f"rolling out version {version} from {stable} on {len(targets)} nodes ({spec.strategy.value})",
            )
        )
    else:
        rs = prev.model_copy()

    # Nodes that moved to V in this rollout (their execution of V was placed by a wave).
    moved = {
        n: ex
        for n in targets
        if (ex := ex_of(n, version)) is not None
        and ex.spec.rollout_wave >= 1
        and (ex.spec.desired_state is DesiredState.RUNNING or failed(ex))
    }
    n_failed = sum(1 for ex in moved.values() if failed(ex))
    if rs.phase not in (P.ROLLING_BACK, P.ROLLED_BACK):
        rs.failed_nodes = n_failed  # frozen once rolling back: the stopped ones no longer count
    target = len(targets)

    if rs.phase in (P.ROLLING_BACK, P.ROLLED_BACK):
        want = {n: Want(stable, 0) for n in targets}
        back = all(
            (ex := ex_of(n, stable)) is not None
            and states.get(ex.name) in (S.RUNNING, S.COMPLETED, S.LOST)
            for n in targets
        )
        if rs.phase is P.ROLLING_BACK and back:
            rs.phase = P.ROLLED_BACK
            rs.message = (
                f"rolled back to version {stable}: {rs.failed_nodes} nodes failed version {version}"
            )
            events.append(EventIntent("Warning", "RolledBack", rs.message))
        return RolloutDecision(want, rs, stable, events)

    over = n_failed > spec.max_failed_nodes or n_failed * 100 > spec.max_failed_nodes_percent * max(
        target, 1
    )
    # Whatever the budget: a canary that failed anywhere is not promoted, and a wave in which
    # every node failed proves the version bad — going on would only move more nodes to it.
    current = [ex for ex in moved.values() if ex.spec.rollout_wave == rs.wave]
    current_failed = [ex for ex in current if failed(ex)]
    wave_settled = bool(current) and all(settled(ex) for ex in current)
    is_canary = spec.strategy.value == "Canary" and rs.wave == 1
    if current_failed and is_canary and wave_settled:
        verdict = f"the canary failed on {len(current_failed)} of {len(current)} nodes"
    elif wave_settled and len(current_failed) == len(current):
        verdict = f"every node of wave {rs.wave} failed"
    elif over:
        verdict = f"{n_failed} failed nodes > budget (maxFailedNodes {spec.max_failed_nodes}, maxFailedNodesPercent {spec.max_failed_nodes_percent})"
    else:
        verdict = ""
    if rs.phase is not P.FAILED and verdict:
        budget = verdict
        events.append(EventIntent("Warning", "RolloutFailed", f"version {version}: {budget}"))
        if spec.auto_rollback:
            rs.phase = P.ROLLING_BACK
            rs.message = f"rolling back to version {stable}: {budget}"
            events.append(EventIntent("Warning", "RollingBack", rs.message))
            return RolloutDecision({n: Want(stable, 0) for n in targets}, rs, stable, events)
        rs.phase = P.FAILED
        rs.message = f"stopped: {budget}; autoRollback is off"
    size = wave_size(spec, target)
    if rs.phase is P.FAILED:
        want = {
            n: Want(version, ex.spec.rollout_wave)
            if n in moved and (ex := moved[n])
            else Want(stable, 0)
            for n in targets
        }
        return RolloutDecision(want, rs, stable, events)

    members = [ex for ex in moved.values() if ex.spec.rollout_wave == rs.wave]
    wave_done = rs.wave == 0 or all(settled(ex) for ex in members)
    remaining = [n for n in targets if n not in moved]
    newly: list[str] = []
    if wave_done:
        if rs.wave > 0 and rs.phase is P.PROGRESSING:
            events.append(
                EventIntent(
                    "Normal",
                    "WaveComplete",
                    f"wave {rs.wave}/{rs.total_waves} of version {version} done",
                )
            )
        canary_waiting = (
            spec.strategy.value == "Canary"
            and rs.wave == 1
            and not spec.auto_promote
            and promote != str(version)
        )
        if not remaining:
            rs.phase = P.COMPLETED
            rs.message = f"version {version} on {len(moved) - n_failed}/{target} nodes" + (
                f", {n_failed} failed" if n_failed else ""
            )
            events.append(
                EventIntent("Warning" if n_failed else "Normal", "RolloutComplete", rs.message)
            )
            stable = version
        elif canary_waiting:
            if rs.phase is not P.AWAITING_PROMOTION:
                events.append(
                    EventIntent(
                        "Normal",
                        "AwaitingPromotion",
                        f"canary of version {version} validated on {len(members)} nodes; promote to continue",
                    )
                )
            rs.phase = P.AWAITING_PROMOTION
            rs.message = f"canary validated; waiting for a promote (annotation {ANNOTATION_PROMOTE}={version})"
        elif spec.paused:
            rs.phase = P.PAUSED
            rs.message = f"paused before wave {rs.wave + 1}"
        else:
            if rs.phase is P.AWAITING_PROMOTION:
                events.append(
                    EventIntent("Normal", "Promoted", f"version {version} promoted past its canary")
                )
            first = rs.wave == 0
            take = first_wave_size(spec, target) if first else size
            newly = remaining[:take]
            rs.wave += 1
            rs.phase = P.PROGRESSING
            remaining = remaining[take:]
            rs.total_waves = rs.wave + _ceil_div(len(remaining), size)
            rs.message = f"wave {rs.wave}/{rs.total_waves}: {len(newly)} nodes"
            events.append(
                EventIntent(
                    "Normal",
                    "WaveStarted",
                    f"wave {rs.wave}/{rs.total_waves} of version {version}: {len(newly)} nodes",
                )
            )
    if rs.phase is not P.COMPLETED:
        rs.total_waves = max(rs.total_waves, rs.wave + _ceil_div(len(remaining), size))
    want = {}
    for n in targets:
        if n in moved:
            want[n] = Want(version, moved[n].spec.rollout_wave)
        elif n in newly:
            want[n] = Want(version, rs.wave)
        else:
            want[n] = Want(stable, 0)
    return RolloutDecision(want, rs, stable, events)
