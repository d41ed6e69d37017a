"""The rollout engine: which version each selected node should run, wave by wave, as a phase
state machine (docs/design.md §3.3).

Each pass gathers a `RolloutContext` once (the targets in wave order, the stable version S,
the annotations, the window, the webhooks' answers, and `progress`: which nodes moved to the
new version V, in which wave, which of them failed or settled, core/rollout/progress.py) and
then runs the one transition of the phase the rollout is in (`TRANSITIONS`). Everything
decided is in the Job's `status.rollout` and the executions' `spec.rolloutWave`, so a
restarted operator resumes at the same wave. The rules, each a named function below with rows
in tests/unit/test_rollout_transitions.py:

- `plan_steady`: V is the stable version. Every node runs it; new nodes get it.
- `begin_rollout`: a V that is not. A rollout of V from S starts (Progressing, wave 0).
  A new version while one is in flight starts a new rollout from S: nodes on the abandoned
  version go back to S until their wave of the new one. A Job's first version (no S yet) rolls
  out by the same rules, wave by wave: a node not reached yet runs nothing of this Job (or
  keeps the abandoned first version it runs) until its wave; `Immediate` is one wave of all.
- `evaluate_failure` (Progressing, AwaitingPromotion, Paused): executions of V that failed
  before they were ever validated count against the budget; Lost ones do not (their node is
  gone, not the version), nor do ones that failed after validation (no rollback loop). The
  rollout fails past `maxFailedNodes` or `maxFailedNodesPercent` of the targets, and whatever
  the budget when a canary wave settles with any failure, or any wave settles with every node
  failed: a budget of 3 must not promote a canary that failed on both its nodes.
- `fail_rollout`: with autoRollback every moved node returns to S (RollingBack); without it, or
  with no S to return to (a first version), the rollout stops in Failed, and `plan_failed`
  holds every node where it is: nodes not reached never start V, failed executions stay Failed.
- `advance`: when the current wave has settled (each execution validated, failed or lost):
  none left → Completed and V is stable; a canary without autoPromote and no promote
  annotation for V → AwaitingPromotion; `paused` → Paused; else the next wave starts with the
  next nodes of the wave order (`waves.plan_next_wave`).
- `plan_rolling_back`: every node wants S; RollingBack turns RolledBack once S runs on every
  target node (Running, Completed or Lost).
- `_fill_wave`: a wave is its planned size over the targets now; nodes of it without an
  execution yet (creation deferred or failed, a node that left replaced) are still wanted in
  it, and the wave is not settled until they are.
- `abort_rollout` / `plan_aborted` (`kubectl nodewave abort`, annotation
  `nodewave.io/abort=V@startedAt`): the rollout in flight stops where it is (Aborted) and every
  node returns to S in waves of the strategy's size, latest wave first, while the spec still
  names V; with no S (a first version) nothing moves any more. The annotation names one
  rollout, so a new version (or the same one applied again later) is not aborted by it; once
  it is gone (`kubectl nodewave retry JOB`) V rolls out again from S.
- `_wait_for_window` (rollout.maintenanceWindows): outside every window `advance` starts no
  wave (a wave under way goes on filling and settling); the message says when one opens.
- Webhooks (`rollout.webhooks`, core/rollout/webhooks.py, docs/design.md §3.6): `_ask_confirmation`
  holds wave 1 (AwaitingConfirmation), `_ask_pre_wave` each wave (failureThreshold refusals
  fail the rollout), `_canary_waits` the promotion past the canary (ConfirmPromotion instead of
  autoPromote), `evaluate_rollback_webhooks` fails an in-flight rollout when any Rollback
  webhook answers 2xx, `tell_post_rollout` tells how it ended.
- `RolloutContext.reverted_to` (onNodeFailure Revert): a node whose execution of V failed
  before validation wants S again at once, and keeps its previous version once V is stable;
  `record_reverted` lists them in the status and announces them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from nodewave.core.rollout.alerts import evaluate_alert_hold, evaluate_alert_rollback
from nodewave.core.rollout.availability import evaluate_wave_fit
from nodewave.core.rollout.prepull import (
    Pull,
    build_pre_pull_status,
    evaluate_pre_pull_begun,
    evaluate_pull_failure,
    evaluate_pull_wait,
)
from nodewave.core.rollout.progress import Progress
from nodewave.core.rollout.waves import (
    Domains,
    domain_of,
    domain_scope,
    plan_next_wave,
    plan_pause_after,
    planned_wave_size,
    same_domain,
    wave_size,
)
from nodewave.core.rollout.webhooks import Gate, JobRef, WebhookAsks, evaluate_webhooks
from nodewave.core.rollout.windows import describe_opening
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import EventIntent
from nodewave.core.vocabulary.snapshot import AlertAnswer, CallAnswer, ExecutionInfo, JobInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import (
    MAX_REVERTED_LISTED,
    MAX_SETTLED_WAVES,
    HealthCheck,
    NodeFailurePolicy,
    PrePull,
    PrePullStatus,
    Rollout,
    RolloutPhase,
    RolloutStatus,
    SettledWave,
    Strategy,
    WebhookPhase,
    WebhookType,
)

S = ObservedState
P = RolloutPhase
ANNOTATION_PROMOTE = "nodewave.io/promote"
FULL = "/full"
"""Suffix of a promote for all remaining nodes at once (`kubectl nodewave promote --full`)."""
PAST_WAVE = ":"
""""V:W": a promote past the pause after wave W of rollout.steps (and every one before)."""
EVERY_WAVE = 1 << 30
EVERY_PAUSE = EVERY_WAVE - 1
""""V:all": past every pause (a canary's and rollout.steps'), the waves kept as they are:
`kubectl nodewave rollback` (going back is a decision made already)."""
ALL_PAUSES = "all"
ANNOTATION_ABORT = "nodewave.io/abort"
"""`kubectl nodewave abort`: "V@startedAt", the rollout a person stopped (`build_abort_value`)."""
IN_FLIGHT = frozenset(
    {
        P.PROGRESSING,
        P.AWAITING_CONFIRMATION,
        P.AWAITING_PROMOTION,
        P.PAUSED,
        P.WAITING_FOR_WINDOW,
        P.STEP_PAUSED,
        P.WAITING_FOR_AVAILABILITY,
        P.WAITING_FOR_ALERTS,
        P.PRE_PULLING,
        P.BAKING,
    }
)
"""Phases of a rollout still going (a Rollback webhook is asked during them)."""
ABORTABLE = IN_FLIGHT | {P.FAILED}
"""Phases an abort stops; RollingBack and RolledBack are on their way back already."""
FINISHED = frozenset({P.COMPLETED, P.FAILED, P.ROLLED_BACK, P.ABORTED})
ENDED = frozenset({P.COMPLETED, P.FAILED, P.ROLLED_BACK})
"""Phases that are the rollout's end as soon as they are entered (Aborted ends once every node
is back)."""
"""Phases after which PostRollout webhooks are told."""
BACK = frozenset({S.RUNNING, S.COMPLETED, S.DEGRADED, S.FAILED, S.LOST})
"""States of a stable execution that has come back from an abort (however it fares: going
back to the known version is not judged again)."""


def build_abort_value(version: int, started_at: datetime) -> str:
    """The abort annotation for the rollout of `version` that started at `started_at`."""
    return f"{version}@{started_at.isoformat()}"


def build_promote_value(version: int, wave: int, full: bool = False) -> str:
    """The promote annotation past the gate after `wave` ("V" past wave 1, the canary's;
    "V:all" past every one, with `EVERY_PAUSE`)."""
    if full:
        return f"{version}{FULL}"
    if wave >= EVERY_PAUSE:
        return f"{version}{PAST_WAVE}{ALL_PAUSES}"
    return str(version) if wave <= 1 else f"{version}{PAST_WAVE}{wave}"


def parse_promote(value: str | None, version: int) -> int:
    """The last wave a promote annotation takes `version` past: "V" the canary (wave 1),
    "V:W" the pause after wave W (and every one before), "V:all" every pause (waves as
    planned), "V/full" every wave at once; 0 when it promotes nothing of `version` (none,
    another version's, malformed)."""
    text = value or ""
    if text == f"{version}{FULL}":
        return EVERY_WAVE
    named, past, wave = text.partition(PAST_WAVE)
    if named != str(version):
        return 0
    if not past:
        return 1
    if wave == ALL_PAUSES:
        return EVERY_PAUSE
    return min(int(wave), EVERY_PAUSE) if wave.isdigit() and wave.isascii() else 0


def parse_abort(value: str | None) -> tuple[int, datetime] | None:
    """The rollout an abort annotation names; None when there is none or it is malformed."""
    version, _, started = (value or "").partition("@")
    try:
        return int(version), datetime.fromisoformat(started)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Want:
    version: int
    wave: int


@dataclass(slots=True)
class RolloutDecision:
    want: dict[str, Want]
    """Target node → the version it should run; a target absent keeps what it runs (a first
    version's node not reached yet: nothing)."""
    rollout: RolloutStatus | None
    stable_version: int | None
    events: list[EventIntent] = field(default_factory=list)
    alerts_due: datetime | None = None
    """When healthCheck.alerts are to be read again while the rollout is in flight."""
    pre_pull: frozenset[str] = frozenset()
    """The nodes that pull V's images now (rollout.prePull): a pull-only pod on each."""
    stable_created_until: datetime | None = None
    """Set in the pass that makes V stable, that finds S back on every target after a
    rollback, or while V is stable that finds each of its executions settled (a restart's,
    a retry's, a node that joined): the newest creation time among its executions then
    (`JobStatus.stable_created_until`)."""

    @property
    def wake_at(self) -> datetime | None:
        """When a step's timed pause, the bake or a wave's wait for its pulls ends, or the
        alerts are due: the pass to wake for."""
        rs = self.rollout
        timed = rs.wait_until if rs is not None and rs.phase in (P.STEP_PAUSED, P.BAKING) else None
        if rs is not None and rs.phase is P.PRE_PULLING and rs.pre_pull is not None:
            timed = rs.pre_pull.wait_until
        return min((t for t in (timed, self.alerts_due) if t is not None), default=None)


@dataclass(frozen=True)
class RolloutContext:
    """What one pass decides from, gathered once."""

    spec: Rollout
    version: int
    """V, the version the spec is at."""
    stable: int | None
    """S, the last version that completed a rollout."""
    previous: RolloutStatus | None
    """The rollout as the last pass left it."""
    targets: list[str]
    """The selected nodes, in wave order (`waves.order_nodes`)."""
    on_node: Mapping[str, Mapping[int, ExecutionInfo]]
    states: Mapping[str, ObservedState]
    """This pass's observed state of each execution, by name."""
    validated: frozenset[str]
    """Executions that passed their health windows (now or before)."""
    promote: str | None
    """The Job's promote annotation: the version a person promoted past its canary ("V"), or
    past every remaining wave ("V/full": the rest of the nodes in one wave, health windows and
    budget as always)."""
    now: datetime
    domains: Domains = field(default_factory=dict)
    """Each target's topology domain (empty without a topologyKey)."""
    abort: str | None = None
    """The Job's abort annotation (`build_abort_value`), if any."""
    window_open: bool = True
    """Whether a maintenance window is open now (always, without windows): waves start only
    then (`core/rollout/windows.py`)."""
    window_opens_at: datetime | None = None
    """While closed: when the next window opens."""
    job: JobRef = field(default_factory=JobRef)
    asks: WebhookAsks = field(default_factory=WebhookAsks)
    """The webhooks' answers in, and the calls this pass asks for (`core/rollout/webhooks.py`)."""
    unavailable: frozenset[str] = frozenset()
    """The targets unavailable now (`availability.evaluate_unavailable`): what maxUnavailable
    counts."""
    alerts: AlertAnswer | None = None
    """The last reading of healthCheck.alerts (`core/rollout/alerts.py`)."""
    pulls: Mapping[str, Pull] = field(default_factory=dict)
    """Node → how its pre-pull of V's images fares (`core/rollout/prepull.py`), for the nodes
    with a pull-only pod of V."""
    images_to_pull: bool = True
    """Whether V's template has an image to pull (every one `imagePullPolicy: Never`: none)."""
    leading_since: datetime | None = None
    """When this leader took over: a bake lasts failureThreshold windows past it at least
    (`evaluate_bake_end`)."""

    @property
    def pre_pull(self) -> PrePull | None:
        """rollout.prePull, when V has images to pull."""
        return self.spec.pre_pull if self.images_to_pull else None

    def ask(
        self, rs: RolloutStatus, kind: WebhookType, wave: int, nodes: Callable[[], Sequence[str]]
    ) -> Gate:
        """The verdict of the `kind` webhooks on `wave` (asking those that are due)."""
        return evaluate_webhooks(
            self.spec.webhooks, kind, rs, wave, nodes, self.job, self.now, self.asks
        )

    def over_budget(self, failed: int) -> bool:
        """Whether `failed` nodes spend more than the failure budget (a rollout's, a restart's)."""
        return failed > evaluate_failure_budget(self.spec, len(self.targets))

    @property
    def budget(self) -> str:
        spec = self.spec
        return (
            f"maxFailedNodes {spec.max_failed_nodes}, "
            f"maxFailedNodesPercent {spec.max_failed_nodes_percent}"
        )

    def aborts(self, rs: RolloutStatus) -> bool:
        """Whether a person aborted this rollout (the annotation names its version and start)."""
        return parse_abort(self.abort) == (rs.version, rs.started_at)

    def promoted_past(self, wave: int) -> bool:
        """Whether a person promoted V past the gate after wave `wave` (a canary's, a step's
        pause)."""
        return parse_promote(self.promote, self.version) >= wave

    @property
    def promoted_full(self) -> bool:
        return parse_promote(self.promote, self.version) == EVERY_WAVE

    @cached_property
    def progress(self) -> Progress:
        """Which targets this rollout reached, in which wave, and how they fare: the one
        ledger (core/rollout/progress.py)."""
        prev = self.previous
        return Progress(
            self.version,
            self.targets,
            self.on_node,
            self.states,
            self.validated,
            steady=self.stable == self.version,
            baking=prev is not None and prev.version == self.version and prev.phase is P.BAKING,
        )

    def hold(self) -> dict[str, Want]:
        """Moved nodes keep V in their wave (or are reverted); every other node runs the stable
        version (none yet, in a first version's rollout: those keep what they run)."""
        moved = self.progress.moved
        want = {n: self.keep_or_revert(n, ex.spec.rollout_wave) for n, ex in moved.items()}
        if self.stable is not None:
            want |= {n: Want(self.stable, 0) for n in self.progress.remaining}
        return want

    def keep_or_revert(self, node: str, wave: int) -> Want:
        back = self.reverted_to(node)
        return Want(back, 0) if back is not None else Want(self.version, wave)

    def reverted_to(self, node: str) -> int | None:
        """With onNodeFailure Revert, the version a node returns to after V failed on it
        before it was validated: S during a rollout; once V is stable, the newest other
        version the node ran that did not fail (with none left of it, and V's execution
        replacing one there: the version V replaced). None: it keeps V (Keep, or nothing to
        return to, as for a first version or a node that joined since)."""
        if self.spec.on_node_failure is not NodeFailurePolicy.REVERT:
            return None
        ex = self.progress.execution(node)
        if ex is None or not self.progress.failed(ex):
            return None
        if self.stable is not None and self.stable != self.version:
            return self.stable
        mine = self.on_node.get(node, {})
        others = [
            v
            for v, e in mine.items()
            if v != self.version and self.states.get(e.name) is not S.FAILED
        ]
        if others:
            return max(others)
        # Under pod records a version stopped there leaves nothing (its pod was the record):
        # V's execution that replaced one says the node ran another, the one V replaced.
        prev = self.previous
        if ex.spec.previous_execution and prev is not None and prev.version == self.version:
            return prev.from_version if prev.from_version not in mine else None
        return None

    def everyone_back(self) -> dict[str, Want]:
        assert self.stable is not None
        return {n: Want(self.stable, 0) for n in self.targets}


def evaluate_failure_budget(spec: Rollout, targets: int) -> int:
    """The most failed nodes a rollout over `targets` nodes tolerates (one more fails it): the
    smaller of its two budgets. The one answer: the engine, a restart, `plan` and the node
    map all ask it."""
    return min(spec.max_failed_nodes, int(spec.max_failed_nodes_percent * targets // 100))


def build_rollout_context(
    job: JobInfo,
    version: int,
    targets: list[str],
    on_node: Mapping[str, Mapping[int, ExecutionInfo]],
    states: Mapping[str, ObservedState],
    validated: set[str],
    promote: str | None,
    now: datetime,
    domains: Domains,
    window: tuple[bool, datetime | None] = (True, None),
    answers: Mapping[str, CallAnswer] | None = None,
    unavailable: frozenset[str] = frozenset(),
    alerts: AlertAnswer | None = None,
    pulls: tuple[Mapping[str, Pull], bool] = ({}, True),
    leading_since: datetime | None = None,
) -> RolloutContext:
    """`window`: whether a maintenance window is open, and when the next opens if not;
    `pulls`: the pre-pulls of V by node, and whether V has images to pull."""
    return RolloutContext(
        spec=job.spec.rollout,
        version=version,
        stable=job.status.stable_version,
        previous=job.status.rollout,
        targets=targets,
        on_node=on_node,
        states=states,
        validated=frozenset(validated),
        promote=promote,
        now=now,
        domains=domains,
        abort=job.abort,
        window_open=window[0],
        window_opens_at=window[1],
        job=JobRef(job.namespace, job.name, job.uid),
        asks=WebhookAsks(answers=dict(answers or {})),
        unavailable=unavailable,
        alerts=alerts,
        pulls=pulls[0],
        images_to_pull=pulls[1],
        leading_since=leading_since,
    )


def plan_rollout(ctx: RolloutContext) -> RolloutDecision:
    """The one transition this pass makes (docs/design.md §3.3)."""
    if ctx.stable == ctx.version:
        return tell_post_rollout(ctx, _record(ctx, plan_steady(ctx)))
    if ctx.stable is None and not ctx.targets:
        # A first version with no node to run on has nothing to roll out: it starts (and may
        # become stable) once a node is selected. Idle meanwhile, not Reconciling forever.
        return RolloutDecision({}, ctx.previous, None)
    rs, events = begin_rollout(ctx)
    if rs.phase in ABORTABLE and ctx.aborts(rs):
        events.append(abort_rollout(ctx, rs))
    decision = TRANSITIONS[rs.phase or P.PROGRESSING](ctx, rs)
    decision.events[:0] = events
    stamp_times(ctx.previous, decision.rollout, ctx.now)
    decision.alerts_due = evaluate_alerts_due(ctx, decision.rollout)
    return tell_post_rollout(ctx, _record(ctx, decision))


def _record(ctx: RolloutContext, decision: RolloutDecision) -> RolloutDecision:
    """What the rollout's status keeps of every pass, whatever its phase."""
    return record_other_versions_validated(ctx, record_reverted(ctx, decision))


def evaluate_alerts_due(ctx: RolloutContext, rs: RolloutStatus | None) -> datetime | None:
    """While the rollout is in flight with healthCheck.alerts, when they are next read: an
    interval after the last reading (at once when none was made)."""
    check = ctx.spec.health_check.alerts
    if check is None or rs is None or rs.phase not in IN_FLIGHT:
        return None
    if ctx.alerts is None:
        return ctx.now
    return ctx.alerts.at + timedelta(seconds=check.interval_seconds)


def stamp_times(before: RolloutStatus | None, rs: RolloutStatus | None, now: datetime) -> None:
    """The times a transition sets: when the rollout entered its phase, and when it ended
    (an abort's end is plan_aborted's: every node back)."""
    if rs is None:
        return
    same = before is not None and (before.version, before.started_at) == (rs.version, rs.started_at)
    if not same or before is None or before.phase is not rs.phase:
        rs.phase_since = now
    if rs.phase in ENDED and rs.finished_at is None:
        rs.finished_at = now


def tell_post_rollout(ctx: RolloutContext, decision: RolloutDecision) -> RolloutDecision:
    """Once the rollout of V finished (completed, failed, rolled back or aborted), its
    PostRollout webhooks are told, until they answer 2xx or failureThreshold times. They gate
    nothing."""
    rs = decision.rollout
    if rs is None or rs.version != ctx.version or rs.phase not in FINISHED:
        return decision
    rs = rs.model_copy()  # the steady state hands on the previous status itself
    ctx.ask(rs, WebhookType.POST_ROLLOUT, 0, lambda: sorted(ctx.progress.moved))
    decision.rollout = rs
    return decision


def record_reverted(ctx: RolloutContext, decision: RolloutDecision) -> RolloutDecision:
    """The reverted nodes in the rollout's status (the first 100 by name, and the count), and
    an Event naming the nodes reverted since the last pass."""
    rs = decision.rollout
    if rs is None or rs.version != ctx.version:
        return decision
    reverted = sorted(
        n
        for n, w in decision.want.items()
        if w.version != ctx.version and ctx.reverted_to(n) is not None
    )
    if len(reverted) == rs.reverted_count and reverted[:MAX_REVERTED_LISTED] == rs.reverted_nodes:
        return decision
    # New: listed now and not before (a node may replace one retried in the same pass); past
    # the 100 listed only the count can tell.
    listed = set(rs.reverted_nodes)
    new = [n for n in reverted[:MAX_REVERTED_LISTED] if n not in listed]
    unlisted = max(0, len(reverted) - rs.reverted_count - len(new))
    decision.rollout = rs.model_copy(
        update={"reverted_nodes": reverted[:MAX_REVERTED_LISTED], "reverted_count": len(reverted)}
    )
    if new or unlisted:
        back = ctx.reverted_to((new or reverted)[0])
        shown = ", ".join(new[:10]) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
        if unlisted:
            shown += f"{', ' if new else ''}{unlisted} not listed"
        decision.events.append(EventIntent(
            "Warning", R.NODE_REVERTED,
            f"version {ctx.version} failed on {len(new) + unlisted} nodes, back on version "
            f"{back}: {shown} ({len(reverted)} reverted in all)",
        ))  # fmt: skip
    return decision


def record_other_versions_validated(
    ctx: RolloutContext, decision: RolloutDecision
) -> RolloutDecision:
    """Once every execution of another version than V (the stable version's on nodes not
    moved yet, the reverted nodes', one on a node that joined) is validated, failed or lost,
    remember the newest creation time among them: what tells a new leader that those made
    until then were validated without each one's stableAt (docs/design.md §4.2). Under pod
    records a reverted node's stable version is a new pod, newer than stableCreatedUntil and
    of no wave of V: before, a new leader judged it again, and a reader said Validating of
    it for ever. One not settled holds it where it was: the record may say less, never more."""
    rs = decision.rollout
    if rs is None or rs.version != ctx.version:
        return decision
    until = evaluate_settled_until(ctx, lambda v: v != ctx.version)
    if until is None or (
        rs.other_versions_created_until is not None and until <= rs.other_versions_created_until
    ):
        return decision
    decision.rollout = rs.model_copy(update={"other_versions_created_until": until})
    return decision


# ---- outside a rollout -----------------------------------------------------------------


def _placed_wave(ctx: RolloutContext, node: str) -> int:
    ex = ctx.progress.execution(node)
    return ex.spec.rollout_wave if ex is not None else 1


def evaluate_record_time(created: Iterable[datetime], now: datetime) -> datetime | None:
    """The time the Job's record of validation may say of executions created at `created`
    (docs/design.md §4.2): the newest of them, but never the current second or later. The
    API server stamps creations in whole seconds, so one made after this pass in the same
    second (this pass's creates, a failure's Execution made now) would be taken for one of
    them; those of this second are left to a later pass (the record says less, never more)."""
    newest = max(created, default=None)
    if newest is None:
        return None
    return min(newest, now.replace(microsecond=0) - timedelta(seconds=1))


def evaluate_settled_until(ctx: RolloutContext, versions: Callable[[int], bool]) -> datetime | None:
    """The newest creation time among the executions of the `versions` it takes, when each
    of them is validated, failed or lost; None while any is not (or none exists). What the
    Job's record of validation may say of them (docs/design.md §4.2): one made no later and
    neither failed nor lost was validated."""
    mine = [ex for per in ctx.on_node.values() for v, ex in per.items() if versions(v)]
    if not all(map(ctx.progress.settled, mine)):
        return None
    return evaluate_record_time((ex.created_at for ex in mine), ctx.now)


def plan_steady(ctx: RolloutContext) -> RolloutDecision:
    """V stable: each node keeps it (or what it was reverted to). Once every execution of V
    is settled, the record covers those made since its rollout (a restart's, a retry's, a
    node that joined): under pod records they are new pods a new leader would judge again,
    and a reader would say Validating of for ever."""
    want = {n: ctx.keep_or_revert(n, _placed_wave(ctx, n)) for n in ctx.targets}
    until = evaluate_settled_until(ctx, lambda v: v == ctx.version)
    return RolloutDecision(want, ctx.previous, ctx.stable, stable_created_until=until)


def begin_rollout(ctx: RolloutContext) -> tuple[RolloutStatus, list[EventIntent]]:
    """The rollout of V: the one in flight, or a new one from S (wave 0, no node moved)."""
    prev = ctx.previous
    retried = prev is not None and prev.phase is P.ABORTED and not ctx.aborts(prev)
    if prev is not None and prev.version == ctx.version and not retried:
        return prev.model_copy(), []
    rs = RolloutStatus(
        phase=P.PROGRESSING,
        version=ctx.version,
        from_version=ctx.stable,
        started_at=ctx.now,
    )
    origin = f"from {ctx.stable}" if ctx.stable is not None else "(the Job's first)"
    message = (
        f"rolling out version {ctx.version} {origin} on {len(ctx.targets)} nodes "
        f"({ctx.spec.strategy.value})"
    )
    if retried and prev is not None and prev.version == ctx.version:
        return rs, [EventIntent("Normal", R.ROLLOUT_RETRIED, f"abort lifted: {message}")]
    return rs, [EventIntent("Normal", R.ROLLOUT_STARTED, message)]


# ---- phase transitions -----------------------------------------------------------------


def plan_progressing(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """Fail the rollout if V proved bad (`evaluate_failure`, Rollback webhooks), else fill the
    current wave and, once it settled, ask the wave gates: complete, hold, or start the next
    wave (`advance`)."""
    rs.failed_nodes = ctx.progress.failed_nodes
    if ctx.spec.max_unavailable is not None:
        rs.unavailable_nodes = len(ctx.unavailable)
    verdict = (
        evaluate_failure(ctx, rs.wave)
        or evaluate_rollback_webhooks(ctx, rs)
        or _alerts_fail(ctx, rs)
    )
    if verdict:
        return fail_rollout(ctx, rs, verdict)
    return advance(ctx, rs)


def plan_held(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """A wave gate holds the next wave (the phase names which); V is judged as while
    Progressing (a canary's node may still fail while it waits) and the gates are asked again
    each pass, the first still holding keeping the phase (`WAVE_GATES`)."""
    return plan_progressing(ctx, rs)


def plan_baking(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """The last wave settled and the rollout bakes until waitUntil: V is judged as while
    Progressing, every execution of it counting when it fails (validated ones too), and it
    completes once the bake is over (`_bake`)."""
    return plan_progressing(ctx, rs)


def plan_completed(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """Completed although V is not the stable version (a status lost or written by hand):
    judged as in flight, it completes again once every target has moved, making V stable."""
    return plan_progressing(ctx, rs)


def evaluate_rollback_webhooks(ctx: RolloutContext, rs: RolloutStatus) -> str:
    """While the rollout is in flight its Rollback webhooks are asked every intervalSeconds; a
    2xx answer fails it (and rolls it back, with autoRollback), as Flagger's rollback hook."""
    if rs.phase not in IN_FLIGHT:
        return ""
    ctx.ask(rs, WebhookType.ROLLBACK, 0, lambda: _nodes_of(ctx.progress.wave(rs.wave)))
    asked = [
        w for w in rs.webhooks if w.type is WebhookType.ROLLBACK and w.phase is WebhookPhase.PASSED
    ]  # any one of them: each watches something of its own
    return "; ".join(f"Rollback webhook {w.name} asked for it ({w.message})" for w in asked)


def _alerts_fail(ctx: RolloutContext, rs: RolloutStatus) -> str:
    """healthCheck.alerts with action Rollback: a matching alert firing while the rollout is in
    flight (or bakes) fails it."""
    if rs.phase not in IN_FLIGHT:
        return ""
    why = evaluate_alert_rollback(ctx.spec.health_check.alerts, ctx.alerts)
    return f"alerts: {why}" if why else ""


def evaluate_failure(ctx: RolloutContext, wave: int) -> str:
    """Why V has failed this rollout, or "" while it has not."""
    spec, failed = ctx.spec, ctx.progress.failed_nodes
    current = ctx.progress.wave(wave)
    current_failed = [ex for ex in current if ctx.progress.failed(ex)]
    wave_settled = bool(current) and all(ctx.progress.settled(ex) for ex in current)
    if current_failed and wave_settled and spec.strategy is Strategy.CANARY and wave == 1:
        return f"the canary failed on {len(current_failed)} of {len(current)} nodes"
    if wave_settled and len(current_failed) == len(current):
        return f"every node of wave {wave} failed"
    if ctx.over_budget(failed):
        return f"{failed} failed nodes > budget ({ctx.budget})"
    return ""


def fail_rollout(ctx: RolloutContext, rs: RolloutStatus, verdict: str) -> RolloutDecision:
    events = [EventIntent("Warning", R.ROLLOUT_FAILED, f"version {ctx.version}: {verdict}")]
    rs.failure = verdict[:2048]
    if ctx.stable is None:
        rs.phase = P.FAILED
        rs.message = (
            f"stopped: {verdict}; version {ctx.version} is the Job's first, there is no "
            "version to roll back to"
        )
        if ctx.progress.remaining:
            rs.message += f" ({len(ctx.progress.remaining)} nodes not reached will not start it)"
        events.append(EventIntent("Warning", R.FIRST_VERSION_STOPPED, rs.message))
        return RolloutDecision(ctx.hold(), rs, None, events)
    if ctx.spec.auto_rollback:
        rs.phase = P.ROLLING_BACK
        rs.message = f"rolling back to version {ctx.stable}: {verdict}"
        events.append(EventIntent("Warning", R.ROLLING_BACK, rs.message))
        return RolloutDecision(ctx.everyone_back(), rs, ctx.stable, events)
    rs.phase = P.FAILED
    rs.message = f"stopped: {verdict}; autoRollback is off"
    return RolloutDecision(ctx.hold(), rs, ctx.stable, events)


def plan_failed(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """Failed without autoRollback: nothing moves until a new version or a rollback."""
    rs.failed_nodes = ctx.progress.failed_nodes
    return RolloutDecision(ctx.hold(), rs, ctx.stable)


def plan_rolling_back(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """Every node wants S; RollingBack turns RolledBack once S runs on every target (Running,
    Completed or Lost), saying why V failed. `failedNodes` stays as it was when the rollout
    failed: the executions stopped since no longer count."""
    events = []
    stable = ctx.stable
    assert stable is not None
    back = [ctx.progress.execution(n, stable) for n in ctx.targets]
    until = None
    if rs.phase is P.ROLLING_BACK and all(
        ex is not None and ctx.states.get(ex.name) in (S.RUNNING, S.COMPLETED, S.LOST)
        for ex in back
    ):
        rs.phase = P.ROLLED_BACK
        # Why it failed, as fail_rollout decided (a budget, a canary, a Rollback webhook); a
        # status an older operator wrote has none.
        verdict = rs.failure or f"{rs.failed_nodes} nodes failed version {ctx.version}"
        rs.message = f"rolled back to version {stable}: {verdict}"
        events.append(EventIntent("Warning", R.ROLLED_BACK, rs.message))
        # Every target's S is settled: those made again by the rollback were validated too
        # (the record, docs/design.md §4.2: a lost one says so in its history).
        until = evaluate_record_time((ex.created_at for ex in back if ex is not None), ctx.now)
    return RolloutDecision(ctx.everyone_back(), rs, ctx.stable, events, stable_created_until=until)


def abort_rollout(ctx: RolloutContext, rs: RolloutStatus) -> EventIntent:
    rs.phase = P.ABORTED
    rs.failed_nodes = ctx.progress.failed_nodes
    where = (
        f"every node returns to version {ctx.stable} in waves"
        if ctx.stable is not None
        else "it is the Job's first version: no node starts it any more, none has a version to return to"
    )
    return EventIntent(
        "Warning", R.ROLLOUT_ABORTED, f"rollout of version {ctx.version} aborted: {where}"
    )


def plan_aborted(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """Aborted: nodes on V return to S a wave at a time (the strategy's wave size, latest wave
    first, one topology domain per wave), the next wave once the last one's stable executions
    are back; a node where V failed returns at once (it runs nothing). With no S, nothing
    moves. Lifting the abort (`begin_rollout`) starts V again from S."""
    stable = ctx.stable
    if stable is None:
        rs.message = (
            f"aborted: version {ctx.version} is the Job's first; nodes keep what they run "
            "and no new wave starts"
        )
        return RolloutDecision(ctx.hold(), rs, None)
    want = {n: Want(stable, 0) for n in ctx.targets}
    coming = 0  # asked back, not back yet
    on_v: list[tuple[int, int, str]] = []  # still running V: (-wave, wave order, node)
    for i, n in enumerate(ctx.targets):
        s_ex, v_ex = ctx.progress.execution(n, stable), ctx.progress.execution(n)
        if s_ex is not None and s_ex.spec.desired_state is DesiredState.RUNNING:
            if ctx.states.get(s_ex.name) not in BACK:
                coming += 1
        elif v_ex is not None and ctx.states.get(v_ex.name) is not S.FAILED:
            on_v.append((-v_ex.spec.rollout_wave, i, n))
    on_v.sort()
    staying = [n for _, _, n in on_v]
    room = max(0, wave_size(ctx.spec, len(ctx.targets)) - coming)
    going = same_domain(staying, ctx.domains)[:room]
    for wave, _, n in on_v[len(going) :]:
        want[n] = Want(ctx.version, -wave)
    events = []
    back = len(ctx.targets) - coming - len(staying)
    if coming or staying:
        rs.finished_at = None  # (again) on its way back: a node joined, say
        rs.message = (
            f"aborted: returning to version {stable}: {back}/{len(ctx.targets)} nodes back, "
            f"{coming + len(going)} on their way, {len(staying) - len(going)} waiting"
        )
    else:
        rs.message = (
            f"aborted: every node back on version {stable}; version {ctx.version} stays "
            "stopped until a new version or `kubectl nodewave retry`"
        )
        if rs.finished_at is None:
            rs.finished_at = ctx.now
            events.append(EventIntent("Normal", R.ABORT_COMPLETE, rs.message))
    return RolloutDecision(want, rs, stable, events)


def advance(ctx: RolloutContext, rs: RolloutStatus) -> RolloutDecision:
    """After a settled wave: complete, wait for a promote, pause, or start the next wave."""
    events: list[EventIntent] = []
    stable = ctx.stable
    newly = _fill_wave(ctx, rs)
    _plan_pre_pull(ctx, rs, newly, events)  # the wave the gates judge: its failures said
    progress = ctx.progress
    wave_done = rs.wave == 0 or (not newly and all(map(progress.settled, progress.wave(rs.wave))))
    stable_until = None
    if wave_done:
        _record_settled(ctx, rs)
        if rs.wave > 0 and rs.phase is P.PROGRESSING:
            events.append(
                EventIntent(
                    "Normal",
                    R.WAVE_COMPLETE,
                    f"wave {rs.wave}/{rs.total_waves} of version {ctx.version} done",
                    rs.wave,
                )
            )
        held = None
        if not progress.remaining:
            if all(map(progress.settled, progress.moved.values())) and not _bake(ctx, rs, events):
                stable = _complete(ctx, rs, events)
                stable_until = evaluate_record_time(
                    (ex.created_at for ex in progress.moved.values()), ctx.now
                )
        elif (held := evaluate_wave_gates(ctx, rs, events)) is None:
            newly = _start_next_wave(ctx, rs, events)
        elif held.failure:
            decision = fail_rollout(ctx, rs, held.failure)
            decision.events[:0] = events
            return decision
    if rs.phase is not P.COMPLETED:
        _extend_total_waves(ctx, rs, newly)
    want = ctx.hold()  # on completion every target has moved: none is left on S
    for n in newly:
        want[n] = Want(ctx.version, rs.wave)
    pulls = _plan_pre_pull(ctx, rs, newly, events)
    return RolloutDecision(
        want, rs, stable, events, pre_pull=pulls, stable_created_until=stable_until
    )


def _record_settled(ctx: RolloutContext, rs: RolloutStatus) -> None:
    """Remember, once, that the current wave settled and which of its executions it judged
    (those created until then): what tells a new leader they were validated without each
    one's stableAt (docs/design.md §4.2). The last MAX_SETTLED_WAVES are kept; an execution of
    a wave forgotten is judged again after a leader change, never taken as validated."""
    if rs.wave == 0 or (rs.settled_waves and rs.settled_waves[-1].wave >= rs.wave):
        return
    until = evaluate_record_time((ex.created_at for ex in ctx.progress.wave(rs.wave)), ctx.now)
    if until is not None:
        settled = SettledWave(wave=rs.wave, created_until=until)
        rs.settled_waves = [*rs.settled_waves, settled][-MAX_SETTLED_WAVES:]


@dataclass(frozen=True, slots=True)
class Hold:
    """A gate holds the next wave (it set the phase and message saying why), or fails the
    rollout (`failure`: why)."""

    failure: str = ""


def _gate_confirmation(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> Hold | None:
    """Before the first wave, every ConfirmRollout webhook must have passed (§3.6)."""
    if rs.wave == 0 and not (confirm := _ask_confirmation(ctx, rs)).passed:
        _await_confirmation(ctx, rs, events, confirm)
        return Hold()
    return None


def _gate_promotion(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> Hold | None:
    """A validated canary waits for a promote (or a ConfirmPromotion webhook)."""
    if (promotion := _canary_waits(ctx, rs)) is not None:
        _await_promotion(ctx, rs, events, promotion)
        return Hold()
    return None


def _gate_step_pause(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> Hold | None:
    """rollout.steps: the pause after the wave that settled, for its durationSeconds
    (StepPaused until waitUntil) or until a promote past this wave (AwaitingPromotion)."""
    pause = plan_pause_after(ctx.spec, rs.wave)
    if rs.wave == 0 or pause is None or ctx.promoted_past(rs.wave):
        return None
    if pause.duration_seconds is None:
        if rs.phase is not P.AWAITING_PROMOTION:
            events.append(EventIntent(
                "Normal", R.AWAITING_PROMOTION,
                f"wave {rs.wave} of version {ctx.version} done; a pause of rollout.steps waits "
                "for a promote", rs.wave,
            ))  # fmt: skip
        rs.phase = P.AWAITING_PROMOTION
        rs.message = (
            f"wave {rs.wave}/{rs.total_waves} done; waiting for a promote (annotation "
            f"{ANNOTATION_PROMOTE}={build_promote_value(ctx.version, rs.wave)}) before wave "
            f"{rs.wave + 1}"
        )
        return Hold()
    if rs.wait_until is None:
        rs.wait_until = ctx.now + timedelta(seconds=pause.duration_seconds)
        events.append(EventIntent(
            "Normal", R.STEP_PAUSED,
            f"wave {rs.wave} of version {ctx.version} done; pausing {pause.duration_seconds} s "
            f"before wave {rs.wave + 1}", rs.wave,
        ))  # fmt: skip
    if ctx.now >= rs.wait_until:
        return None
    rs.phase = P.STEP_PAUSED
    rs.message = (
        f"wave {rs.wave}/{rs.total_waves} done; pausing until {_clock(rs.wait_until)} before "
        f"wave {rs.wave + 1}"
    )
    return Hold()


def _clock(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def evaluate_bake_end(
    wait_until: datetime, began: datetime, hc: HealthCheck, leading_since: datetime | None
) -> datetime:
    """When a bake that `began` and was to end at `wait_until` ends: no sooner than
    failureThreshold windows after the leader judging it took over (the windows before were
    in the last leader's memory), so a version bakes as long a judgement as it was promised.

    Example: bake from 0 to 60 s, interval 10 s, failureThreshold 3: a leader from 50 s bakes
    until 90 s (50 + 4 x 10, the window open at its start counted as one); from 10 s, 60 s."""
    if leading_since is None or leading_since <= began or hc.deadline_seconds is None:
        return wait_until
    judged = timedelta(seconds=hc.interval_seconds * (hc.failure_threshold + 1))
    return max(wait_until, leading_since + judged)


def _bake(ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]) -> bool:
    """rollout.bakeSeconds: once the last wave settled the rollout bakes (Baking, judged as
    in flight) until waitUntil; True while it does."""
    if ctx.spec.bake_seconds == 0:
        return False
    if rs.phase is not P.BAKING:
        rs.phase = P.BAKING
        rs.wait_until = ctx.now + timedelta(seconds=ctx.spec.bake_seconds)
        events.append(EventIntent(
            "Normal", R.BAKING,
            f"version {ctx.version} on every node; baking {ctx.spec.bake_seconds} s before it "
            "completes",
        ))  # fmt: skip
    elif rs.wait_until is not None and rs.phase_since is not None:
        # Under way since an earlier pass (phase_since is its start; in the pass that enters
        # it, the phase before's): a leader that took over since judges it as long.
        hc = ctx.spec.health_check
        rs.wait_until = evaluate_bake_end(rs.wait_until, rs.phase_since, hc, ctx.leading_since)
    assert rs.wait_until is not None
    if ctx.now >= rs.wait_until:
        held = evaluate_alert_hold(ctx.spec.health_check.alerts, ctx.alerts)
        if held:
            rs.message = f"baked; completes once no alert holds it: {held}"
        return bool(held)
    rs.message = (
        f"baking until {_clock(rs.wait_until)}: {len(ctx.progress.moved)} nodes on version "
        f"{ctx.version} judged again, {rs.failed_nodes} failed (budget: {ctx.budget})"
    )
    return True


def _gate_pause(ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]) -> Hold | None:
    """spec.rollout.paused: no wave starts."""
    if ctx.spec.paused:
        rs.phase = P.PAUSED
        rs.message = f"paused before wave {rs.wave + 1}"
        return Hold()
    return None


def _gate_window(ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]) -> Hold | None:
    """Outside every maintenance window no wave starts."""
    if not ctx.window_open:
        _wait_for_window(ctx, rs, events)
        return Hold()
    return None


def _gate_alerts(ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]) -> Hold | None:
    """healthCheck.alerts: no wave starts while a matching alert fires (action Pause) or the
    alerts cannot be read (WaitingForAlerts)."""
    held = evaluate_alert_hold(ctx.spec.health_check.alerts, ctx.alerts)
    if not held:
        return None
    return _wait_before_next_wave(
        ctx, rs, events, (P.WAITING_FOR_ALERTS, R.WAITING_FOR_ALERTS), held
    )


def _gate_availability(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> Hold | None:
    """rollout.maxUnavailable: the next wave waits (WaitingForAvailability) while the targets
    unavailable already and its own nodes would pass the budget."""
    wave = _next_nodes(ctx, rs)
    fit = evaluate_wave_fit(ctx.spec, ctx.targets, ctx.domains, ctx.unavailable, wave, rs.wave + 1)
    if fit.fits:
        return None
    waiting = (P.WAITING_FOR_AVAILABILITY, R.WAITING_FOR_AVAILABILITY)
    return _wait_before_next_wave(ctx, rs, events, waiting, fit.message)


def _wait_before_next_wave(
    ctx: RolloutContext,
    rs: RolloutStatus,
    events: list[EventIntent],
    waiting: tuple[RolloutPhase, str],
    why: str,
    severity: str = "Warning",
) -> Hold:
    """Hold the next wave in a waiting phase (with its Event reason) until what it waits for
    changes, saying why; an Event on entering it, not at every pass."""
    phase, reason = waiting
    _leave_awaiting_promotion(ctx, rs, events)  # promoted first, then held
    if rs.phase is not phase:
        message = f"version {ctx.version}, before wave {rs.wave + 1}: {why}"
        events.append(EventIntent(severity, reason, message))
    rs.phase = phase
    rs.message = f"waiting before wave {rs.wave + 1}: {why}"
    return Hold()


def _gate_pre_pull(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> Hold | None:
    """rollout.prePull: the next wave waits (PrePulling) while its nodes pull or fail to (the
    kubelet retrying), at most waitSeconds from when it was first ready to start; then, or at
    once for a failure no retry clears, its failed pulls fail the rollout when they would
    spend the budget (`prepull.evaluate_pull_failure`)."""
    spec, wave = ctx.pre_pull, rs.wave + 1
    if spec is None or not evaluate_pre_pull_begun(spec, wave, _first_wave_settled(ctx)):
        return None
    nodes = _next_nodes(ctx, rs)
    stand = evaluate_pull_wait(nodes, ctx.pulls)
    status = rs.pre_pull if rs.pre_pull is not None and rs.pre_pull.wave == wave else None
    until = (status.wait_until if status else None) or ctx.now + timedelta(
        seconds=spec.wait_seconds
    )
    waiting = stand.waits and ctx.now < until
    counted = {n: ctx.pulls[n] for n in stand.for_good + ([] if waiting else stand.failing)}
    failure = evaluate_pull_failure(
        wave,
        nodes,
        counted,
        failed_before=ctx.progress.failed_nodes,
        budget=evaluate_failure_budget(ctx.spec, len(ctx.targets)),
        canary=ctx.spec.strategy is Strategy.CANARY and wave == 1,
    )
    if failure:
        return Hold(failure)
    if not waiting:
        return None
    rs.pre_pull = (status or PrePullStatus(wave=wave)).model_copy(update={"wait_until": until})
    failing = f", {len(stand.failing)} failing and retried" if stand.failing else ""
    why = (
        f"pulling version {ctx.version}'s images on {len(stand.pulling) + len(stand.failing)} "
        f"of the {len(nodes)} nodes of wave {wave}{failing} (it starts by {_clock(until)} at "
        "the latest)"
    )
    return _wait_before_next_wave(
        ctx, rs, events, (P.PRE_PULLING, R.PRE_PULLING), why, severity="Normal"
    )


def _first_wave_settled(ctx: RolloutContext) -> bool:
    first = ctx.progress.wave(1)
    return bool(first) and all(map(ctx.progress.settled, first))


def _plan_pre_pull(
    ctx: RolloutContext, rs: RolloutStatus, starting: Sequence[str], events: list[EventIntent]
) -> frozenset[str]:
    """The nodes that pull V's images now: the next wave's, once its pulls have begun, and
    those that pulled already and have not moved; the status and Events of the next wave's
    pulls (none once no wave is to come)."""
    spec = ctx.pre_pull
    wave = rs.wave + 1
    nodes = _next_nodes(ctx, rs, starting) if spec is not None else []
    if spec is None or rs.phase in (P.COMPLETED, P.BAKING) or not nodes:
        rs.pre_pull = None
        return frozenset()
    if not evaluate_pre_pull_begun(spec, wave, _first_wave_settled(ctx)):
        rs.pre_pull = None
        nodes = []
    else:
        rs.pre_pull, said = build_pre_pull_status(wave, nodes, ctx.pulls, rs.pre_pull, ctx.version)
        events.extend(said)
    left = set(ctx.progress.remaining) - set(starting)
    return frozenset(nodes) | {n for n in ctx.pulls if n in left}


def _gate_pre_wave(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> Hold | None:
    """Every PreWave webhook asked about the next wave; failureThreshold refusals fail it."""
    pre = _ask_pre_wave(ctx, rs)
    if pre.passed:
        return None
    if pre.failed:
        return Hold(pre.failed)
    _leave_awaiting_promotion(ctx, rs, events)
    rs.phase = P.PROGRESSING
    rs.message = f"wave {rs.wave + 1} waits for {pre.awaiting}"
    return Hold()


WAVE_GATES: tuple[
    Callable[[RolloutContext, RolloutStatus, list[EventIntent]], Hold | None], ...
] = (
    _gate_confirmation,
    _gate_promotion,
    _gate_step_pause,
    _gate_pause,
    _gate_window,
    _gate_alerts,
    _gate_availability,
    _gate_pre_pull,
    _gate_pre_wave,
)
"""What may hold the next wave, asked in this order once the current one settled; the first
that holds decides (docs/design.md §3.3). A new gate is a row here."""


def evaluate_wave_gates(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> Hold | None:
    """The first gate that holds the next wave, or None: it may start."""
    return next((held for gate in WAVE_GATES if (held := gate(ctx, rs, events)) is not None), None)


def _fill_wave(ctx: RolloutContext, rs: RolloutStatus) -> list[str]:
    """Nodes that belong to the current wave but have no execution of V in it: ones whose
    creation the planner deferred (at most `max_creates` coming up at once) or that failed, and
    replacements for nodes that left. Without this a wave whose creations were not all made
    would count as settled on the executions it has, and the next wave would start early. A
    wave takes as many nodes as its size over the targets now, so nodes that join also fill it
    up to that size before they add waves."""
    if rs.phase is not P.PROGRESSING or rs.wave == 0:
        return []
    current, remaining = ctx.progress.wave(rs.wave), ctx.progress.remaining
    if ctx.promoted_full and rs.wave > 1 and rs.wave == rs.total_waves:
        return list(remaining)  # the wave a full promote started takes every node left
    if not current:
        return plan_next_wave(ctx.spec, len(ctx.targets), remaining, rs.wave, ctx.domains)
    first = current[0].spec.node_name
    scope = domain_scope(ctx.spec, ctx.domains, first)
    missing = planned_wave_size(ctx.spec, len(ctx.targets), rs.wave, scope) - len(current)
    if missing <= 0:
        return []
    # Only from the wave's own domain: a wave never spans two.
    return same_domain(remaining, ctx.domains, domain_of(ctx.domains, first))[:missing]


def _complete(ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]) -> int:
    failed = ctx.progress.failed_nodes
    rs.phase = P.COMPLETED
    reached = len(ctx.progress.moved) - failed
    rs.message = f"version {ctx.version} on {reached}/{len(ctx.targets)} nodes"
    if failed:
        rs.message += f", {failed} failed"
    if ctx.spec.bake_seconds:
        rs.message += f", baked {ctx.spec.bake_seconds} s"
    events.append(EventIntent("Warning" if failed else "Normal", R.ROLLOUT_COMPLETE, rs.message))
    return ctx.version


def _next_nodes(ctx: RolloutContext, rs: RolloutStatus, starting: Sequence[str] = ()) -> list[str]:
    """The nodes the next wave would take (what a PreWave or ConfirmRollout webhook is asked
    about, and where its images are pulled), less those `starting` in this pass."""
    skip = set(starting)
    remaining = [n for n in ctx.progress.remaining if n not in skip]
    if ctx.promoted_full and rs.wave > 0:
        return remaining
    return plan_next_wave(ctx.spec, len(ctx.targets), remaining, rs.wave + 1, ctx.domains)


def _ask_confirmation(ctx: RolloutContext, rs: RolloutStatus) -> Gate:
    return ctx.ask(rs, WebhookType.CONFIRM_ROLLOUT, 1, lambda: _next_nodes(ctx, rs))


def _ask_pre_wave(ctx: RolloutContext, rs: RolloutStatus) -> Gate:
    return ctx.ask(rs, WebhookType.PRE_WAVE, rs.wave + 1, lambda: _next_nodes(ctx, rs))


def _await_confirmation(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent], gate: Gate
) -> None:
    """A ConfirmRollout webhook has not passed: no wave starts (a change-management approval)."""
    if rs.phase is not P.AWAITING_CONFIRMATION:
        events.append(EventIntent(
            "Normal", R.AWAITING_CONFIRMATION,
            f"version {ctx.version} waits for its ConfirmRollout webhooks before wave 1",
        ))  # fmt: skip
    rs.phase = P.AWAITING_CONFIRMATION
    rs.message = f"waiting for a confirmation before wave 1: {gate.awaiting}"


def _canary_waits(ctx: RolloutContext, rs: RolloutStatus) -> Gate | None:
    """A validated canary waits for its ConfirmPromotion webhooks (when it has any), else for
    a promote unless autoPromote; a person's promote goes past both. None: it goes on."""
    if ctx.spec.strategy is not Strategy.CANARY or rs.wave != 1 or ctx.promoted_past(1):
        return None
    gate = ctx.ask(rs, WebhookType.CONFIRM_PROMOTION, 1, lambda: _nodes_of(ctx.progress.wave(1)))
    if gate.configured:
        return None if gate.passed else gate
    return None if ctx.spec.auto_promote else gate


def _await_promotion(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent], gate: Gate
) -> None:
    if rs.phase is not P.AWAITING_PROMOTION:
        events.append(
            EventIntent(
                "Normal",
                R.AWAITING_PROMOTION,
                f"canary of version {ctx.version} validated on {len(ctx.progress.wave(1))} nodes; "
                "promote to continue",
            )
        )
    rs.phase = P.AWAITING_PROMOTION
    promote = f"a promote (annotation {ANNOTATION_PROMOTE}={ctx.version})"
    rs.message = (
        f"canary validated; waiting for {gate.awaiting} or {promote}"
        if gate.configured
        else f"canary validated; waiting for {promote}"
    )


def _wait_for_window(ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]) -> None:
    """Outside every maintenance window no wave starts (WaitingForWindow: not Progressing, so a
    weekend's wait is not a stuck rollout)."""
    message = (
        f"waiting for a maintenance window before wave {rs.wave + 1}, "
        f"{describe_opening(ctx.window_opens_at)}"
    )
    if rs.phase is not P.WAITING_FOR_WINDOW:  # no wave starts while it waits: one Event
        events.append(
            EventIntent("Normal", R.WAITING_FOR_WINDOW, f"version {ctx.version}: {message}")
        )
    rs.phase = P.WAITING_FOR_WINDOW
    rs.message = message


def _start_next_wave(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> list[str]:
    full = ctx.promoted_full and rs.wave > 0  # past the canary: never instead of it
    if full:
        events.append(EventIntent(
            "Normal", R.PROMOTED,
            f"version {ctx.version} promoted: its {len(ctx.progress.remaining)} remaining nodes "
            "at once",
        ))  # fmt: skip
    else:
        _leave_awaiting_promotion(ctx, rs, events)
    newly = _next_nodes(ctx, rs)
    rs.wave += 1
    rs.phase = P.PROGRESSING
    rs.wait_until = None
    rs.total_waves = rs.wave + _waves_left(ctx, rs, newly)
    rs.message = f"wave {rs.wave}/{rs.total_waves}: {len(newly)} nodes"
    events.append(
        EventIntent(
            "Normal",
            R.WAVE_STARTED,
            f"wave {rs.wave}/{rs.total_waves} of version {ctx.version}: {len(newly)} nodes",
        )
    )
    return newly


def _leave_awaiting_promotion(
    ctx: RolloutContext, rs: RolloutStatus, events: list[EventIntent]
) -> None:
    if rs.phase is P.AWAITING_PROMOTION:
        past = "its canary" if ctx.spec.strategy is Strategy.CANARY else f"wave {rs.wave}"
        events.append(
            EventIntent("Normal", R.PROMOTED, f"version {ctx.version} promoted past {past}")
        )


def _extend_total_waves(ctx: RolloutContext, rs: RolloutStatus, started: list[str]) -> None:
    """Nodes that joined meanwhile add waves; the count never shrinks."""
    rs.total_waves = max(rs.total_waves, rs.wave + _waves_left(ctx, rs, started))


def _waves_left(ctx: RolloutContext, rs: RolloutStatus, started: list[str]) -> int:
    """The waves after the current one the nodes not reached yet still take: the waves `plan`
    shows."""
    waves = ctx.progress.plan_waves_to_come(
        ctx.spec, ctx.domains, next_wave=rs.wave + 1, starting=started
    )
    return len(waves)


def _nodes_of(executions: Sequence[ExecutionInfo]) -> list[str]:
    return [ex.spec.node_name for ex in executions]


TRANSITIONS: dict[RolloutPhase, Callable[[RolloutContext, RolloutStatus], RolloutDecision]] = {
    P.PROGRESSING: plan_progressing,
    P.AWAITING_CONFIRMATION: plan_held,
    P.AWAITING_PROMOTION: plan_held,
    P.PAUSED: plan_held,
    P.WAITING_FOR_WINDOW: plan_held,
    P.STEP_PAUSED: plan_held,
    P.WAITING_FOR_AVAILABILITY: plan_held,
    P.WAITING_FOR_ALERTS: plan_held,
    P.PRE_PULLING: plan_held,
    P.BAKING: plan_baking,
    P.COMPLETED: plan_completed,
    P.FAILED: plan_failed,
    P.ROLLING_BACK: plan_rolling_back,
    P.ROLLED_BACK: plan_rolling_back,
    P.ABORTED: plan_aborted,
}
"""The transition of each phase of the rollout of V, V not stable (docs/design.md §3.3 shows
this table; a unit test holds the two equal). The phases a gate sets share `plan_held`: what
releases each is its row of `WAVE_GATES`."""
