"""Restarting the current version in waves (core/rollout/restart.py): each rule as a row, then a
simulated restart to its end under hypothesis."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodewave.core.rollout.engine import RolloutContext
from nodewave.core.rollout.restart import RestartDecision, parse_restart_at, plan_restart
from nodewave.core.rollout.waves import planned_wave_size
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import RestartPhase, RestartStatus, RolloutPhase, RolloutStatus
from tests.unit.builders import at, execution, job_spec

S = ObservedState
P = RestartPhase
V = 3
NODES = [f"n{i}" for i in range(10)]
AT, NOW = at(100), at(200)
"""restartAt in every row (executions created before it are stale), and the pass's clock."""
ROLLING = {"strategy": "Rolling", "maxParallel": 20, "maxFailedNodes": 1}


@dataclass(frozen=True)
class Node:
    """A node's execution of V: created after restartAt (fresh) or before; its state now."""

    fresh: bool = False
    state: ObservedState = S.RUNNING
    created: float | None = None
    """Seconds since T0 (default: 150 when fresh, 10 when not)."""
    validated: bool = True
    desired: DesiredState = DesiredState.RUNNING


STALE = Node()
VALIDATING = Node(fresh=True, state=S.VALIDATING, validated=False)
RESTARTED = Node(fresh=True)
FAILED = Node(fresh=True, state=S.FAILED, validated=False)


def context(
    nodes: dict[str, Node | None],
    *,
    now: datetime = NOW,
    stable: int = V,
    rollout_phase: RolloutPhase | None = RolloutPhase.COMPLETED,
    **rollout: Any,
) -> RolloutContext:
    """V stable on `nodes` (None: no execution of V, as while one is recreated)."""
    spec = job_spec(rollout={"healthCheck": {"deadlineSeconds": 60}, **ROLLING, **rollout})
    on_node: dict[str, dict[int, ExecutionInfo]] = {}
    states: dict[str, ObservedState] = {}
    validated = set()
    for n, node in nodes.items():
        if node is None:
            continue
        created = node.created if node.created is not None else 150 if node.fresh else 10
        ex = execution(n, V, node.desired, node.state, created=created, stable=node.validated)
        on_node[n] = {V: ex}
        states[ex.name] = node.state
        if node.validated:
            validated.add(ex.name)
    return RolloutContext(
        spec=spec.rollout, version=V, stable=stable,
        previous=RolloutStatus(phase=rollout_phase, version=V, started_at=at(0))
        if rollout_phase else None,
        targets=list(nodes), on_node=on_node, states=states, validated=frozenset(validated),
        promote=None, now=now,
    )  # fmt: skip


def restarting(wave: int, phase: RestartPhase = P.RESTARTING) -> RestartStatus:
    return RestartStatus(requested_at=AT, phase=phase, wave=wave)


@dataclass(frozen=True)
class Row:
    ctx: RolloutContext
    previous: RestartStatus | None
    phase: RestartPhase
    wave: int
    recreate: list[str]
    events: list[tuple[str, str, str]]
    message: str


ALL_STALE = dict.fromkeys(NODES, STALE)
REQUESTED = (
    "Normal",
    "RestartRequested",
    "restart of version 3 requested for 2026-01-01T00:01:40+00:00",
)
STARTED = ("Normal", "RestartStarted", "restarting version 3 on 10 nodes in waves")
PAUSED = (
    "Warning",
    "RestartPaused",
    "2 nodes failed after restarting, past the budget "
    "(maxFailedNodes 1, maxFailedNodesPercent 50.0)",
)
PAUSED_MESSAGE = (
    "paused: 2 nodes failed after restarting, past the budget; 8 not restarted "
    "(`kubectl nodewave retry JOB --node N` recreates a failed one)"
)
ROWS = [
    pytest.param(
        Row(context(ALL_STALE, now=at(50)), None, P.SCHEDULED, 0, [], [REQUESTED],
            "scheduled for 2026-01-01T00:01:40+00:00"),
        id="ahead-of-its-time-it-is-scheduled",
    ),
    pytest.param(
        Row(context(ALL_STALE, stable=2, rollout_phase=RolloutPhase.PROGRESSING), restarting(0),
            P.SCHEDULED, 0, [], [], "waits until version 3 is stable (its rollout is Progressing)"),
        id="waits-for-the-rollout",
    ),
    pytest.param(
        Row(context(ALL_STALE), None, P.RESTARTING, 1, ["n0", "n1"],
            [REQUESTED, STARTED],
            "wave 1: 2 nodes restarting, 0 restarted, 0 failed, 8 to go"),
        id="due-the-first-wave-is-recreated",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": VALIDATING, "n1": RESTARTED}), restarting(1),
            P.RESTARTING, 1, [], [], "wave 1: 1 nodes restarting, 1 restarted, 0 failed, 8 to go"),
        id="the-next-wave-waits-for-the-health-windows",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": None, "n1": RESTARTED}), restarting(1),
            P.RESTARTING, 1, [], [], "wave 1: 1 nodes restarting, 1 restarted, 0 failed, 8 to go"),
        id="an-execution-being-recreated-is-in-flight",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": RESTARTED, "n1": RESTARTED}), restarting(1),
            P.RESTARTING, 2, ["n2", "n3"], [],
            "wave 2: 2 nodes restarting, 2 restarted, 0 failed, 6 to go"),
        id="settled-the-next-wave-goes",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": FAILED, "n1": RESTARTED}), restarting(1),
            P.RESTARTING, 2, ["n2", "n3"], [],
            "wave 2: 2 nodes restarting, 1 restarted, 1 failed, 6 to go"),
        id="a-failure-within-the-budget-goes-on",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": FAILED, "n1": FAILED}, maxFailedNodesPercent=50),
            restarting(1), P.PAUSED, 1, [], [PAUSED], PAUSED_MESSAGE),
        id="past-the-budget-it-pauses",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": FAILED, "n1": FAILED}, maxFailedNodes=5,
                    maxFailedNodesPercent=10), restarting(1),
            P.PAUSED, 1, [], [("Warning", "RestartPaused", "2 nodes failed after restarting, "
                               "past the budget (maxFailedNodes 5, maxFailedNodesPercent 10.0)")],
            PAUSED_MESSAGE),
        id="past-the-percent-budget-it-pauses",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": FAILED, "n1": FAILED}), restarting(1, P.PAUSED),
            P.PAUSED, 1, [], [], PAUSED_MESSAGE),
        id="paused-it-says-so-once",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": RESTARTED, "n1": RESTARTED}, paused=True), restarting(1),
            P.RESTARTING, 1, [], [],
            "rollout paused: wave 1: 0 nodes restarting, 2 restarted, 0 failed, 8 to go"),
        id="spec-rollout-paused-holds-new-waves",
    ),
    pytest.param(
        Row(context({**dict.fromkeys(NODES[:9], RESTARTED), "n9": Node(state=S.LOST)}),
            restarting(5), P.COMPLETED, 5, [], [("Normal", "RestartComplete", "version 3: restarted 9 nodes")], "restarted 9 nodes"),
        id="every-node-restarted-it-completes-lost-nodes-skipped",
    ),
    pytest.param(
        Row(context({**dict.fromkeys(NODES[:9], RESTARTED),
                     "n9": Node(desired=DesiredState.STOPPED, state=S.STOPPED)}),
            restarting(5), P.COMPLETED, 5, [], [("Normal", "RestartComplete", "version 3: restarted 9 nodes")], "restarted 9 nodes"),
        id="one-a-person-stopped-is-not-restarted",
    ),
    pytest.param(
        Row(context(ALL_STALE, strategy="Canary", canaryCount=1), None, P.RESTARTING, 1, ["n0"],
            [REQUESTED, STARTED],
            "wave 1: 1 nodes restarting, 0 restarted, 0 failed, 9 to go"),
        id="a-canary-strategy-restarts-its-canary-first",
    ),
    pytest.param(
        Row(context(ALL_STALE, now=AT), None, P.RESTARTING, 1, ["n0", "n1"],
            [REQUESTED, STARTED], "wave 1: 2 nodes restarting, 0 restarted, 0 failed, 8 to go"),
        id="due-at-its-very-time",
    ),
    pytest.param(
        Row(context(ALL_STALE), restarting(4, P.COMPLETED).model_copy(update={"requested_at": at(50)}),
            P.RESTARTING, 1, ["n0", "n1"], [REQUESTED, STARTED],
            "wave 1: 2 nodes restarting, 0 restarted, 0 failed, 8 to go"),
        id="a-new-request-after-a-completed-one-restarts-again",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": None, "n1": None}), restarting(1), P.RESTARTING, 1, [], [],
            "wave 1: 2 nodes restarting, 0 restarted, 0 failed, 8 to go"),
        id="every-missing-execution-is-in-flight",
    ),
    pytest.param(
        Row(context({"n0": Node(desired=DesiredState.STOPPED, state=S.STOPPED),
                     **{n: STALE for n in NODES[1:]}}), restarting(0), P.RESTARTING, 1,
            ["n1", "n2"], [("Normal", "RestartStarted", "restarting version 3 on 9 nodes in waves")],
            "wave 1: 2 nodes restarting, 0 restarted, 0 failed, 7 to go"),
        id="a-stopped-one-is-passed-over-not-the-end",
    ),
    pytest.param(
        Row(context({**ALL_STALE, "n0": Node(created=100), "n1": Node(created=100)}),
            restarting(1), P.RESTARTING, 2, ["n2", "n3"], [],
            "wave 2: 2 nodes restarting, 2 restarted, 0 failed, 6 to go"),
        id="created-at-the-requested-time-is-fresh",
    ),
    pytest.param(
        Row(context({**dict.fromkeys(NODES[:9], RESTARTED), "n9": FAILED}, maxFailedNodes=1),
            restarting(5), P.COMPLETED, 5, [],
            [("Warning", "RestartComplete", "version 3: restarted 9 nodes, 1 failed")],
            "restarted 9 nodes, 1 failed"),
        id="completed-with-a-failure-warns",
    ),
    pytest.param(
        Row(context(ALL_STALE, stable=2, rollout_phase=None), restarting(0), P.SCHEDULED, 0, [], [],
            "waits until version 3 is stable (its rollout is to come)"),
        id="waits-for-a-rollout-to-come",
    ),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS)
def test_restart_rules(row: Row) -> None:
    decision = plan_restart(row.ctx, AT, row.previous)
    assert decision.status is not None
    assert (decision.status.phase, decision.status.wave) == (row.phase, row.wave)
    assert [ex.spec.node_name for ex in decision.recreate] == row.recreate
    assert [(e.type, e.reason, e.message) for e in decision.events] == row.events
    assert decision.status.message == row.message


def test_without_a_request_the_last_restart_stays_as_it_was() -> None:
    done = restarting(3, P.COMPLETED)
    assert plan_restart(context(ALL_STALE), None, done) == RestartDecision(done)
    again = plan_restart(context(ALL_STALE), AT, done)
    assert (again.status, again.recreate, again.events) == (done, [], []), "completed: done"


def test_a_restart_scheduled_ahead_wakes_the_operator_then_and_only_then() -> None:
    decision = plan_restart(context(ALL_STALE, now=at(50)), AT, None)
    assert decision.wake_at == AT
    behind_a_rollout = context(ALL_STALE, stable=2, rollout_phase=RolloutPhase.PROGRESSING)
    assert plan_restart(behind_a_rollout, AT, None).wake_at is None, "a past time: no hot loop"


def test_a_wave_takes_one_topology_domain() -> None:
    ctx = replace(context(ALL_STALE, maxParallel=30),
                  domains={n: "a" if n in ("n0", "n5") else "b" for n in NODES})  # fmt: skip
    decision = plan_restart(ctx, AT, restarting(0))
    assert [ex.spec.node_name for ex in decision.recreate] == ["n0"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T00:01:40Z", AT),
        ("2026-01-01T01:01:40+01:00", AT),
        ("2026-01-01T00:01:40", None),  # no time zone: ambiguous
        ("tomorrow", None),
        (None, None),
    ],
)
def test_parse_restart_at(value: str | None, expected: datetime | None) -> None:
    assert parse_restart_at(value) == expected


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 40),
    percent=st.integers(1, 100),
    canary=st.one_of(st.none(), st.integers(1, 5)),
)
def test_a_restart_recreates_every_node_once_never_more_than_a_wave_at_once(
    total: int, percent: int, canary: int | None
) -> None:
    """Each recreated execution comes back fresh and passes its windows in the next pass."""
    nodes: dict[str, Node | None] = {f"n{i:02}": STALE for i in range(total)}
    rollout: dict[str, Any] = {"maxParallel": percent}
    if canary is not None:
        rollout |= {"strategy": "Canary", "canaryCount": canary}
    status: RestartStatus | None = None
    recreated: list[str] = []
    for _ in range(3 * total + 3):
        decision = plan_restart(context(nodes, **rollout), AT, status)
        status = decision.status
        assert status is not None
        going = [ex.spec.node_name for ex in decision.recreate]
        in_flight = [n for n, node in nodes.items() if node is None]
        assert not (going and in_flight), "a wave starts only once the last one settled"
        spec = context(nodes, **rollout).spec
        assert len(going) <= planned_wave_size(spec, total, max(status.wave, 1))
        for n in in_flight:
            nodes[n] = RESTARTED
        for n in going:
            nodes[n] = None
        recreated += going
        if status.phase is P.COMPLETED:
            break
    assert status is not None
    assert status.phase is P.COMPLETED
    assert sorted(recreated) == sorted(nodes), "every node once"
    assert status.restarted_nodes == total


def test_outside_every_maintenance_window_no_restart_wave_starts() -> None:
    opens = at(3600).astimezone(ZoneInfo("Europe/Berlin"))
    ctx = replace(context({**ALL_STALE, "n0": RESTARTED, "n1": RESTARTED}),
                  window_open=False, window_opens_at=opens)  # fmt: skip
    decision = plan_restart(ctx, AT, restarting(1))
    assert decision.recreate == []
    assert decision.status is not None
    assert decision.status.message == (
        "waiting for a maintenance window, opens at 2026-01-01T02:00:00+01:00 (Europe/Berlin): "
        "wave 1: 0 nodes restarting, 2 restarted, 0 failed, 8 to go"
    )
    decision = plan_restart(replace(ctx, window_open=True), AT, restarting(1))
    assert [ex.spec.node_name for ex in decision.recreate] == ["n2", "n3"]
