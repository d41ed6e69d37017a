"""The rollout state machine, one transition at a time (core/rollout/engine.py): each rule of the
engine is a named function, called here directly on a `RolloutContext` built for the case, and
its phase, the nodes it moves and the Events it emits are asserted."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.rollout.engine import (
    TRANSITIONS,
    WAVE_GATES,
    RolloutContext,
    RolloutDecision,
    Want,
    begin_rollout,
    build_abort_value,
    build_rollout_context,
    evaluate_failure,
    fail_rollout,
    parse_abort,
    plan_rollout,
    plan_steady,
    stamp_times,
)
from nodewave.core.rollout.prepull import PULLED, Pull, PullState
from nodewave.core.vocabulary.snapshot import AlertAnswer, ExecutionInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import (
    JobStatus,
    PrePullStatus,
    PullFailure,
    RolloutPhase,
    RolloutStatus,
)
from tests.unit.builders import at, job, job_spec
from tests.unit.rollouts import (
    HEALTH,
    NODES,
    STABLE,
    Moved,
    P,
    S,
    V,
    context,
    failed,
    moved_to,
    ok,
    reasons,
    rollout,
    wave_execution,
)

# ---- evaluate_failure: why V failed, or "" ---------------------------------------------


@dataclass(frozen=True)
class FailureCase:
    moved: dict[str, Moved]
    wave: int
    verdict: str
    rollout: dict[str, Any] = field(default_factory=dict)


CANARY = {"strategy": "Canary", "canaryCount": 2, "maxParallel": 25, "maxFailedNodes": 5}
ROLLING = {"strategy": "Rolling", "maxParallel": 20, "maxFailedNodes": 5}
CLOSED = {"window_open": False, "window_opens_at": at(3600).astimezone(ZoneInfo("Europe/Berlin"))}
OPENS = "opens at 2026-01-01T02:00:00+01:00 (Europe/Berlin)"

FAILURES = [
    pytest.param(
        FailureCase({"n0": failed(1), "n1": ok(1)}, 1, "the canary failed on 1 of 2 nodes", CANARY),
        id="canary-settled-with-one-failure-fails-whatever-the-budget",
    ),
    pytest.param(
        FailureCase({"n0": failed(1), "n1": Moved(1, S.VALIDATING)}, 1, "", CANARY),
        id="canary-not-settled-yet-waits",
    ),
    pytest.param(
        FailureCase({"n0": ok(1), "n1": ok(1), "n2": failed(2), "n3": ok(2)}, 2, "", CANARY),
        id="a-failure-after-the-canary-spends-the-budget-only",
    ),
    pytest.param(
        FailureCase(
            {"n0": ok(1), "n1": ok(1), "n2": failed(2), "n3": failed(2)},
            2,
            "every node of wave 2 failed",
            ROLLING,
        ),
        id="a-wave-failed-on-every-node-fails-whatever-the-budget",
    ),
    pytest.param(
        FailureCase({"n0": failed(1), "n1": Moved(1, S.LOST)}, 1, "", ROLLING),
        id="a-lost-node-is-not-a-failure",
    ),
    pytest.param(
        FailureCase({"n0": failed(1), "n1": ok(1)}, 1, "", {**ROLLING, "maxFailedNodes": 1}),
        id="failures-at-the-budget-go-on",
    ),
    pytest.param(
        FailureCase(
            {"n0": failed(1), "n1": failed(2), "n2": ok(2)},
            2,
            "2 failed nodes > budget (maxFailedNodes 1, maxFailedNodesPercent 10.0)",
            {**ROLLING, "maxFailedNodes": 1},
        ),
        id="failures-past-maxFailedNodes-fail",
    ),
    pytest.param(
        FailureCase(
            {"n0": failed(1), "n1": ok(1)},
            1,
            "",
            {**ROLLING, "maxFailedNodes": 9, "maxFailedNodesPercent": 10},
        ),
        id="failures-at-the-percent-budget-go-on",
    ),
    pytest.param(
        FailureCase(
            {"n0": failed(1), "n1": failed(2), "n2": ok(2)},
            2,
            "2 failed nodes > budget (maxFailedNodes 9, maxFailedNodesPercent 10.0)",
            {**ROLLING, "maxFailedNodes": 9, "maxFailedNodesPercent": 10},
        ),
        id="failures-past-the-percent-budget-fail",
    ),
    pytest.param(
        FailureCase(
            {"n0": Moved(1, S.FAILED, stable_before=True), "n1": ok(1)},
            1,
            "",
            {**ROLLING, "maxFailedNodes": 0},
        ),
        id="failing-after-validation-spends-no-budget",
    ),
]


@pytest.mark.parametrize("case", FAILURES)
def test_evaluate_failure(case: FailureCase) -> None:
    assert evaluate_failure(context(case.moved, **case.rollout), case.wave) == case.verdict


# ---- the phase transitions ---------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    ctx: RolloutContext
    before: RolloutStatus
    phase: RolloutPhase
    wave: int
    total_waves: int
    events: list[tuple[str, str, str]]
    """The Events the step emits: type, reason, message."""
    moves: list[str] = field(default_factory=list)
    """Nodes the step moves to V in this wave."""
    stable: int | None = STABLE
    message: str = ""
    """The rollout's message after the step."""
    failed: int = 0
    """`failedNodes` after the step."""


def first(phase: RolloutPhase, wave: int, total: int = 0, failed: int = 0) -> RolloutStatus:
    """The rollout of V as a Job's first version: no version to come from."""
    return rollout(phase, wave, total, failed).model_copy(update={"from_version": None})


STEPPED = {
    "strategy": "Rolling",
    "maxFailedNodes": 5,
    "steps": [{"nodes": 2}, {"pause": {"durationSeconds": 600}}, {"percent": 30}, {"pause": {}},
              {"percent": 50}],
}  # fmt: skip
"""Ten nodes in waves of 2, 3 and 5: ten minutes after the first, a promote after the second."""
WAVE_2_SETTLED = {"n0": ok(1), "n1": ok(1), "n2": ok(2), "n3": ok(2), "n4": ok(2)}
PAUSING = "wave 1/3 done; pausing until 2026-01-01 00:10:00 UTC before wave 2"
AWAITING_2 = (
    "wave 2/3 done; waiting for a promote (annotation nodewave.io/promote=2:2) before wave 3"
)
BAKED = {**ROLLING, "bakeSeconds": 3600}
BAKING = (
    "baking until 2026-01-01 01:00:00 UTC: 2 nodes on version 2 judged again, 0 failed "
    "(budget: maxFailedNodes 5, maxFailedNodesPercent 10.0)"
)
BAKE_FAILURE = "1 failed nodes > budget (maxFailedNodes 0, maxFailedNodesPercent 10.0)"


def waiting(phase: RolloutPhase, wave: int, total: int, *, until: int) -> RolloutStatus:
    """A rollout in a step's timed pause or baking, until `until` seconds from now."""
    return rollout(phase, wave, total).model_copy(update={"wait_until": at(until)})


OVER_BUDGET = (
    "2 of 10 target nodes are unavailable (n8, n9); wave 2 of 2 nodes would make 4, over "
    "maxUnavailable 3 (3)"
)


def short_of_nodes(unavailable: set[str]) -> RolloutContext:
    """Rolling 20 % over ten nodes with maxUnavailable 3, wave 1 settled, `unavailable` down."""
    ctx = context({"n0": ok(1), "n1": ok(1)}, **ROLLING, maxUnavailable=3)
    return dataclasses.replace(ctx, unavailable=frozenset(unavailable))


ALERTS = {"address": "http://prometheus:9090", "matchers": ['severity="critical"']}
FIRING = AlertAnswer(at(0), 1, ("NodeDown",))
QUIET = AlertAnswer(at(0))
FIRING_TEXT = "1 matching alerts firing (NodeDown)"


def alerting(action: str, answer: AlertAnswer) -> RolloutContext:
    """Rolling 20 % over ten nodes, wave 1 settled, healthCheck.alerts with `action`."""
    hc = {**HEALTH, "alerts": {**ALERTS, "action": action}}
    ctx = context({"n0": ok(1), "n1": ok(1)}, **ROLLING, healthCheck=hc)
    return dataclasses.replace(ctx, alerts=answer)


PRE_PULL = {**ROLLING, "prePull": {"waitSeconds": 300}}
NOT_FOUND = Pull(PullState.FAILED, "ErrImagePull", "app:2: not found")
PULL_WAIT = (
    "pulling version 2's images on 1 of the 2 nodes of wave 2 (it starts by 2026-01-01 "
    "00:05:00 UTC at the latest)"
)
PULL_FAILED_EVENT = (
    "version 2, wave 2: the images failed to pull on n3 (ErrImagePull) (1 of 2 in all): "
    "app:2: not found"
)
PULL_RETRIED = (
    "pulling version 2's images on 1 of the 2 nodes of wave 2, 1 failing and retried (it "
    "starts by 2026-01-01 00:05:00 UTC at the latest)"
)
INVALID = Pull(PullState.FAILED, "InvalidImageName", "app:2:x")
INVALID_EVENT = (
    "version 2, wave 2: the images failed to pull on n2 (InvalidImageName) (1 of 2 in all): app:2:x"
)
INVALID_FAILURE = (
    "the images failed to pull on 1 of the 2 nodes of wave 2 before it started (n2: "
    "InvalidImageName: app:2:x): with 0 failed already, past the budget of 0"
)
PULL_FAILURE = (
    "the images failed to pull on 1 of the 2 nodes of wave 2 before it started (n3: "
    "ErrImagePull: app:2: not found): with 0 failed already, past the budget of 0"
)


def pre_pulling(
    pulls: dict[str, Pull], previous: RolloutStatus | None = None, **rollout: Any
) -> RolloutContext:
    """Rolling 20 % over ten nodes with prePull, wave 1 settled; wave 2 (n2, n3) pulls."""
    spec = {**PRE_PULL, **rollout}
    ctx = context({"n0": ok(1), "n1": ok(1)}, previous=previous, **spec)
    return dataclasses.replace(ctx, pulls=pulls)


def held_for_pulls(until: int, failed: list[str] = ()) -> RolloutStatus:  # type: ignore[assignment]
    """PrePulling before wave 2, until `until` seconds from now, the pulls of `failed` known
    to fail."""
    known = [
        PullFailure(node=n, reason=NOT_FOUND.reason, message=NOT_FOUND.message) for n in failed
    ]
    pre_pull = PrePullStatus(
        wave=2, nodes=2, failed_count=len(known), failed=known, wait_until=at(until)
    )
    return rollout(P.PRE_PULLING, 1, 5).model_copy(update={"pre_pull": pre_pull})


FIRST_STOPPED = (
    "stopped: the canary failed on 1 of 2 nodes; version 2 is the Job's first, there is no "
    "version to roll back to (8 nodes not reached will not start it)"
)

STEPS = [
    pytest.param(
        Step(
            context(**CANARY),
            rollout(P.PROGRESSING, 0),
            P.PROGRESSING,
            1,
            4,
            [
                ("Normal", "WaveStarted", "wave 1/4 of version 2: 2 nodes"),
            ],
            NODES[:2],
            message="wave 1/4: 2 nodes",
            failed=0,
        ),
        id="wave-0-starts-the-canary",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": Moved(1, S.VALIDATING)}, **CANARY),
            rollout(P.PROGRESSING, 1, 4),
            P.PROGRESSING,
            1,
            4,
            [],
            message="",
            failed=0,
        ),
        id="an-unsettled-wave-holds",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **CANARY, autoPromote=True),
            rollout(P.PROGRESSING, 1, 4),
            P.PROGRESSING,
            2,
            4,
            [
                ("Normal", "WaveComplete", "wave 1/4 of version 2 done"),
                ("Normal", "WaveStarted", "wave 2/4 of version 2: 3 nodes"),
            ],
            NODES[2:5],
            message="wave 2/4: 3 nodes",
            failed=0,
        ),
        id="a-settled-wave-starts-the-next",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **CANARY),
            rollout(P.PROGRESSING, 1, 4),
            P.AWAITING_PROMOTION,
            1,
            4,
            [
                ("Normal", "WaveComplete", "wave 1/4 of version 2 done"),
                (
                    "Normal",
                    "AwaitingPromotion",
                    "canary of version 2 validated on 2 nodes; promote to continue",
                ),
            ],
            message="canary validated; waiting for a promote (annotation nodewave.io/promote=2)",
            failed=0,
        ),
        id="a-canary-without-autoPromote-waits-for-a-promote",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **CANARY),
            rollout(P.AWAITING_PROMOTION, 1, 4),
            P.AWAITING_PROMOTION,
            1,
            4,
            [],
            message="canary validated; waiting for a promote (annotation nodewave.io/promote=2)",
            failed=0,
        ),
        id="awaiting-promotion-says-so-once",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **CANARY, promote="2"),
            rollout(P.AWAITING_PROMOTION, 1, 4),
            P.PROGRESSING,
            2,
            4,
            [
                ("Normal", "Promoted", "version 2 promoted past its canary"),
                ("Normal", "WaveStarted", "wave 2/4 of version 2: 3 nodes"),
            ],
            NODES[2:5],
            message="wave 2/4: 3 nodes",
            failed=0,
        ),
        id="a-promote-of-this-version-goes-on",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **CANARY, promote="3"),
            rollout(P.AWAITING_PROMOTION, 1, 4),
            P.AWAITING_PROMOTION,
            1,
            4,
            [],
            message="canary validated; waiting for a promote (annotation nodewave.io/promote=2)",
            failed=0,
        ),
        id="a-promote-of-another-version-does-not",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **ROLLING, paused=True),
            rollout(P.PROGRESSING, 1, 5),
            P.PAUSED,
            1,
            5,
            [
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
            ],
            message="paused before wave 2",
            failed=0,
        ),
        id="paused-holds-before-the-next-wave",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **ROLLING),
            rollout(P.PAUSED, 1, 5),
            P.PROGRESSING,
            2,
            5,
            [
                ("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes"),
            ],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
            failed=0,
        ),
        id="unpaused-goes-on",
    ),
    pytest.param(
        Step(
            dataclasses.replace(context({"n0": ok(1), "n1": ok(1)}, **ROLLING), **CLOSED),
            rollout(P.WAITING_FOR_WINDOW, 1, 5),
            P.WAITING_FOR_WINDOW,
            1,
            5,
            [],
            message=f"waiting for a maintenance window before wave 2, {OPENS}",
            failed=0,
        ),
        id="a-closed-window-keeps-holding-with-no-new-event",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **ROLLING),
            rollout(P.WAITING_FOR_WINDOW, 1, 5),
            P.PROGRESSING,
            2,
            5,
            [
                ("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes"),
            ],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
            failed=0,
        ),
        id="an-opened-window-starts-the-next-wave",
    ),
    pytest.param(
        Step(
            context({n: ok(1) for n in NODES[:2]}, targets=NODES[:2], **ROLLING),
            rollout(P.PROGRESSING, 1, 1),
            P.COMPLETED,
            1,
            1,
            [
                ("Normal", "WaveComplete", "wave 1/1 of version 2 done"),
                ("Normal", "RolloutComplete", "version 2 on 2/2 nodes"),
            ],
            stable=V,
            message="version 2 on 2/2 nodes",
            failed=0,
        ),
        id="the-last-settled-wave-completes-and-V-turns-stable",
    ),
    pytest.param(
        Step(
            context(
                {"n0": ok(1), "n1": failed(1)},
                targets=NODES[:2],
                **{**ROLLING, "maxFailedNodesPercent": 50},
            ),
            rollout(P.PROGRESSING, 1, 1),
            P.COMPLETED,
            1,
            1,
            [
                ("Normal", "WaveComplete", "wave 1/1 of version 2 done"),
                ("Warning", "RolloutComplete", "version 2 on 1/2 nodes, 1 failed"),
            ],
            stable=V,
            message="version 2 on 1/2 nodes, 1 failed",
            failed=1,
        ),
        id="completes-with-failures-within-the-budget",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1), "n1": ok(1)}, **CANARY),
            rollout(P.PROGRESSING, 1, 4),
            P.ROLLING_BACK,
            1,
            4,
            [
                ("Warning", "RolloutFailed", "version 2: the canary failed on 1 of 2 nodes"),
                (
                    "Warning",
                    "RollingBack",
                    "rolling back to version 1: the canary failed on 1 of 2 nodes",
                ),
            ],
            message="rolling back to version 1: the canary failed on 1 of 2 nodes",
            failed=1,
        ),
        id="a-failed-canary-rolls-back",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1), "n1": ok(1)}, **CANARY, autoRollback=False),
            rollout(P.PROGRESSING, 1, 4),
            P.FAILED,
            1,
            4,
            [
                ("Warning", "RolloutFailed", "version 2: the canary failed on 1 of 2 nodes"),
            ],
            ["n0", "n1"],
            message="stopped: the canary failed on 1 of 2 nodes; autoRollback is off",
            failed=1,
        ),
        id="without-autoRollback-the-rollout-stops-where-it-is",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1), "n1": ok(1)}, **CANARY, autoRollback=False),
            rollout(P.FAILED, 1, 4),
            P.FAILED,
            1,
            4,
            [],
            ["n0", "n1"],
            message="",
            failed=1,
        ),
        id="failed-holds",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1)}, targets=NODES[:2], back={"n0": S.PENDING, "n1": S.RUNNING}),
            rollout(P.ROLLING_BACK, 1, 2, failed=1),
            P.ROLLING_BACK,
            1,
            2,
            [],
            message="",
            failed=1,
        ),
        id="rolling-back-waits-for-S-everywhere",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1)}, targets=NODES[:2], back={"n0": S.RUNNING, "n1": S.LOST}),
            rollout(P.ROLLING_BACK, 1, 2, failed=1),
            P.ROLLED_BACK,
            1,
            2,
            [
                ("Warning", "RolledBack", "rolled back to version 1: 1 nodes failed version 2"),
            ],
            message="rolled back to version 1: 1 nodes failed version 2",
            failed=1,
        ),
        id="rolled-back-once-S-runs-everywhere",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1)}, targets=NODES[:2], back={"n0": S.RUNNING, "n1": S.RUNNING}),
            # Why it failed is data (`failure`); the message is for people and may say anything.
            rollout(P.ROLLING_BACK, 1, 2, failed=1).model_copy(
                update={
                    "failure": "Rollback webhook slo asked for it (HTTP 200)",
                    "message": "any words at all",
                }
            ),
            P.ROLLED_BACK,
            1,
            2,
            [
                (
                    "Warning",
                    "RolledBack",
                    "rolled back to version 1: Rollback webhook slo asked for it (HTTP 200)",
                )
            ],
            message="rolled back to version 1: Rollback webhook slo asked for it (HTTP 200)",
            failed=1,
        ),
        id="rolled-back-says-why-it-rolled-back",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1)}, targets=NODES[:2], back={"n0": S.RUNNING, "n1": S.RUNNING}),
            rollout(P.ROLLED_BACK, 1, 2, failed=1),
            P.ROLLED_BACK,
            1,
            2,
            [],
            message="",
            failed=1,
        ),
        id="rolled-back-says-so-once",
    ),
    pytest.param(
        Step(
            context(stable=None, **ROLLING),
            first(P.PROGRESSING, 0),
            P.PROGRESSING,
            1,
            5,
            [("Normal", "WaveStarted", "wave 1/5 of version 2: 2 nodes")],
            NODES[:2],
            stable=None,
            message="wave 1/5: 2 nodes",
        ),
        id="a-first-version-starts-with-its-first-wave-only",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, stable=None, **ROLLING),
            first(P.PROGRESSING, 1, 5),
            P.PROGRESSING,
            2,
            5,
            [
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
                ("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes"),
            ],
            NODES[2:4],
            stable=None,
            message="wave 2/5: 2 nodes",
        ),
        id="a-first-version-moves-on-when-its-wave-settled",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": Moved(1, S.VALIDATING)}, stable=None, **ROLLING),
            first(P.PROGRESSING, 1, 5),
            P.PROGRESSING,
            1,
            5,
            [],
            stable=None,
            message="",
        ),
        id="a-first-version-waits-for-its-wave",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, targets=NODES[:2], stable=None, **ROLLING),
            first(P.PROGRESSING, 1, 1),
            P.COMPLETED,
            1,
            1,
            [
                ("Normal", "WaveComplete", "wave 1/1 of version 2 done"),
                ("Normal", "RolloutComplete", "version 2 on 2/2 nodes"),
            ],
            stable=V,
            message="version 2 on 2/2 nodes",
        ),
        id="a-first-version-is-stable-after-its-last-wave",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1), "n1": ok(1)}, stable=None, **CANARY),
            first(P.PROGRESSING, 1, 4),
            P.FAILED,
            1,
            4,
            [
                ("Warning", "RolloutFailed", "version 2: the canary failed on 1 of 2 nodes"),
                ("Warning", "FirstVersionStopped", FIRST_STOPPED),
            ],
            stable=None,
            message=FIRST_STOPPED,
            failed=1,
        ),
        id="a-failed-first-canary-stops-with-nothing-to-roll-back-to",
    ),
    pytest.param(
        Step(
            context({"n0": failed(1), "n1": ok(1)}, stable=None, **CANARY),
            first(P.FAILED, 1, 4),
            P.FAILED,
            1,
            4,
            [],
            stable=None,
            message="",
            failed=1,
        ),
        id="a-stopped-first-version-holds-and-reaches-no-new-node",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **STEPPED),
            rollout(P.PROGRESSING, 1, 3),
            P.STEP_PAUSED,
            1,
            3,
            [
                ("Normal", "WaveComplete", "wave 1/3 of version 2 done"),
                ("Normal", "StepPaused", "wave 1 of version 2 done; pausing 600 s before wave 2"),
            ],
            message=PAUSING,
        ),
        id="a-timed-step-pause-starts-once-its-wave-settled",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **STEPPED),
            waiting(P.STEP_PAUSED, 1, 3, until=600),
            P.STEP_PAUSED,
            1,
            3,
            [],
            message=PAUSING,
        ),
        id="a-timed-step-pause-holds-until-waitUntil-with-no-new-event",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **STEPPED),
            waiting(P.STEP_PAUSED, 1, 3, until=0),
            P.PROGRESSING,
            2,
            3,
            [("Normal", "WaveStarted", "wave 2/3 of version 2: 3 nodes")],
            NODES[2:5],
            message="wave 2/3: 3 nodes",
        ),
        id="a-timed-step-pause-over-starts-the-next-wave-by-the-next-step",
    ),
    pytest.param(
        Step(
            context({"n0": ok(1), "n1": ok(1)}, **STEPPED, promote="2:1"),
            waiting(P.STEP_PAUSED, 1, 3, until=600),
            P.PROGRESSING,
            2,
            3,
            [("Normal", "WaveStarted", "wave 2/3 of version 2: 3 nodes")],
            NODES[2:5],
            message="wave 2/3: 3 nodes",
        ),
        id="a-promote-past-the-wave-cuts-a-timed-pause-short",
    ),
    pytest.param(
        Step(
            context(WAVE_2_SETTLED, **STEPPED),
            rollout(P.PROGRESSING, 2, 3),
            P.AWAITING_PROMOTION,
            2,
            3,
            [
                ("Normal", "WaveComplete", "wave 2/3 of version 2 done"),
                (
                    "Normal",
                    "AwaitingPromotion",
                    "wave 2 of version 2 done; a pause of rollout.steps waits for a promote",
                ),
            ],
            message=AWAITING_2,
        ),
        id="a-step-pause-without-a-duration-waits-for-a-promote-past-its-wave",
    ),
    pytest.param(
        Step(
            context(WAVE_2_SETTLED, **STEPPED, promote="2"),
            rollout(P.AWAITING_PROMOTION, 2, 3),
            P.AWAITING_PROMOTION,
            2,
            3,
            [],
            message=AWAITING_2,
        ),
        id="a-promote-past-an-earlier-wave-releases-no-later-pause",
    ),
    pytest.param(
        Step(
            context(WAVE_2_SETTLED, **STEPPED, promote="2:2"),
            rollout(P.AWAITING_PROMOTION, 2, 3),
            P.PROGRESSING,
            3,
            3,
            [
                ("Normal", "Promoted", "version 2 promoted past wave 2"),
                ("Normal", "WaveStarted", "wave 3/3 of version 2: 5 nodes"),
            ],
            NODES[5:],
            message="wave 3/3: 5 nodes",
        ),
        id="a-promote-past-the-wave-starts-the-next-step",
    ),
    pytest.param(
        Step(
            context({n: ok(1) for n in NODES[:2]}, targets=NODES[:2], **BAKED),
            rollout(P.PROGRESSING, 1, 1),
            P.BAKING,
            1,
            1,
            [
                ("Normal", "WaveComplete", "wave 1/1 of version 2 done"),
                (
                    "Normal",
                    "Baking",
                    "version 2 on every node; baking 3600 s before it completes",
                ),
            ],
            message=BAKING,
        ),
        id="the-last-settled-wave-bakes-before-it-completes",
    ),
    pytest.param(
        Step(
            context({n: ok(1) for n in NODES[:2]}, targets=NODES[:2], **BAKED),
            waiting(P.BAKING, 1, 1, until=3600),
            P.BAKING,
            1,
            1,
            [],
            message=BAKING,
        ),
        id="baking-holds-until-waitUntil-and-V-is-not-stable-yet",
    ),
    pytest.param(
        Step(
            context({n: ok(1) for n in NODES[:2]}, targets=NODES[:2], **BAKED),
            waiting(P.BAKING, 1, 1, until=0),
            P.COMPLETED,
            1,
            1,
            [("Normal", "RolloutComplete", "version 2 on 2/2 nodes, baked 3600 s")],
            stable=V,
            message="version 2 on 2/2 nodes, baked 3600 s",
        ),
        id="the-bake-over-completes-and-V-turns-stable",
    ),
    pytest.param(
        Step(
            context(
                {"n0": Moved(1, S.FAILED, stable_before=True), "n1": ok(1)},
                targets=NODES[:2],
                previous=waiting(P.BAKING, 1, 1, until=3600),
                **{**BAKED, "maxFailedNodes": 0},
            ),
            waiting(P.BAKING, 1, 1, until=3600),
            P.ROLLING_BACK,
            1,
            1,
            [
                ("Warning", "RolloutFailed", f"version 2: {BAKE_FAILURE}"),
                ("Warning", "RollingBack", f"rolling back to version 1: {BAKE_FAILURE}"),
            ],
            message=f"rolling back to version 1: {BAKE_FAILURE}",
            failed=1,
        ),
        id="a-validated-node-failing-while-baking-spends-the-budget-and-rolls-back",
    ),
    pytest.param(
        Step(
            short_of_nodes({"n8", "n9"}),
            rollout(P.PROGRESSING, 1, 5),
            P.WAITING_FOR_AVAILABILITY,
            1,
            5,
            [
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
                ("Warning", "WaitingForAvailability", f"version 2, before wave 2: {OVER_BUDGET}"),
            ],
            message=f"waiting before wave 2: {OVER_BUDGET}",
        ),
        id="a-wave-that-would-pass-maxUnavailable-waits-and-says-why",
    ),
    pytest.param(
        Step(
            short_of_nodes({"n8", "n9"}),
            rollout(P.WAITING_FOR_AVAILABILITY, 1, 5),
            P.WAITING_FOR_AVAILABILITY,
            1,
            5,
            [],
            message=f"waiting before wave 2: {OVER_BUDGET}",
        ),
        id="waiting-for-availability-says-so-once",
    ),
    pytest.param(
        Step(
            short_of_nodes({"n9"}),
            rollout(P.WAITING_FOR_AVAILABILITY, 1, 5),
            P.PROGRESSING,
            2,
            5,
            [("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes")],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
        ),
        id="a-node-back-lets-the-wave-start",
    ),
    pytest.param(
        Step(
            short_of_nodes({"n2", "n9"}),
            rollout(P.PROGRESSING, 1, 5),
            P.PROGRESSING,
            2,
            5,
            [
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
                ("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes"),
            ],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
        ),
        id="an-unavailable-node-of-the-wave-itself-counts-once",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": PULLED}),
            rollout(P.PROGRESSING, 1, 5),
            P.PRE_PULLING,
            1,
            5,
            [
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
                ("Normal", "PrePulling", f"version 2, before wave 2: {PULL_WAIT}"),
            ],
            message=f"waiting before wave 2: {PULL_WAIT}",
        ),
        id="the-next-wave-waits-while-its-nodes-pull",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": PULLED}),
            held_for_pulls(300),
            P.PRE_PULLING,
            1,
            5,
            [],
            message=f"waiting before wave 2: {PULL_WAIT}",
        ),
        id="pre-pulling-says-so-once",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": PULLED, "n3": PULLED}),
            held_for_pulls(300),
            P.PROGRESSING,
            2,
            5,
            [("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes")],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
        ),
        id="its-nodes-pulled-the-wave-starts",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": PULLED}),
            held_for_pulls(0),
            P.PROGRESSING,
            2,
            5,
            [("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes")],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
        ),
        id="after-waitSeconds-the-wave-starts-with-pulls-unfinished",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": PULLED, "n3": NOT_FOUND}, maxFailedNodes=0),
            rollout(P.PROGRESSING, 1, 5),
            P.PRE_PULLING,
            1,
            5,
            [
                ("Warning", "PrePullFailed", PULL_FAILED_EVENT),
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
                ("Normal", "PrePulling", f"version 2, before wave 2: {PULL_RETRIED}"),
            ],
            message=f"waiting before wave 2: {PULL_RETRIED}",
        ),
        id="a-failing-pull-is-said-at-once-and-retried-until-waitSeconds-whatever-the-budget",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": PULLED, "n3": NOT_FOUND}),
            held_for_pulls(0, failed=["n3"]),
            P.PROGRESSING,
            2,
            5,
            [("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes")],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
        ),
        id="still-failing-after-waitSeconds-within-the-budget-the-wave-starts",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": PULLED, "n3": NOT_FOUND}, maxFailedNodes=0),
            held_for_pulls(0, failed=["n3"]),
            P.ROLLING_BACK,
            1,
            5,
            [
                ("Warning", "RolloutFailed", f"version 2: {PULL_FAILURE}"),
                ("Warning", "RollingBack", f"rolling back to version 1: {PULL_FAILURE}"),
            ],
            message=f"rolling back to version 1: {PULL_FAILURE}",
        ),
        id="still-failing-after-waitSeconds-past-the-budget-fails-before-the-wave-takes-a-node",
    ),
    pytest.param(
        Step(
            pre_pulling({"n2": INVALID}, maxFailedNodes=0),
            rollout(P.PROGRESSING, 1, 5),
            P.ROLLING_BACK,
            1,
            5,
            [
                ("Warning", "PrePullFailed", INVALID_EVENT),
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
                ("Warning", "RolloutFailed", f"version 2: {INVALID_FAILURE}"),
                ("Warning", "RollingBack", f"rolling back to version 1: {INVALID_FAILURE}"),
            ],
            message=f"rolling back to version 1: {INVALID_FAILURE}",
        ),
        id="a-pull-failing-for-good-counts-at-once",
    ),
    pytest.param(
        Step(
            alerting("Pause", FIRING),
            rollout(P.PROGRESSING, 1, 5),
            P.WAITING_FOR_ALERTS,
            1,
            5,
            [
                ("Normal", "WaveComplete", "wave 1/5 of version 2 done"),
                ("Warning", "WaitingForAlerts", f"version 2, before wave 2: {FIRING_TEXT}"),
            ],
            message=f"waiting before wave 2: {FIRING_TEXT}",
        ),
        id="a-matching-alert-firing-holds-the-next-wave",
    ),
    pytest.param(
        Step(
            alerting("Pause", QUIET),
            rollout(P.WAITING_FOR_ALERTS, 1, 5),
            P.PROGRESSING,
            2,
            5,
            [("Normal", "WaveStarted", "wave 2/5 of version 2: 2 nodes")],
            NODES[2:4],
            message="wave 2/5: 2 nodes",
        ),
        id="the-alert-resolved-the-next-wave-starts",
    ),
    pytest.param(
        Step(
            alerting("Rollback", FIRING),
            rollout(P.PROGRESSING, 1, 5),
            P.ROLLING_BACK,
            1,
            5,
            [
                ("Warning", "RolloutFailed", f"version 2: alerts: {FIRING_TEXT}"),
                ("Warning", "RollingBack", f"rolling back to version 1: alerts: {FIRING_TEXT}"),
            ],
            message=f"rolling back to version 1: alerts: {FIRING_TEXT}",
        ),
        id="a-matching-alert-firing-with-action-Rollback-rolls-back",
    ),
    pytest.param(
        Step(
            dataclasses.replace(
                context(
                    {n: ok(1) for n in NODES[:2]},
                    targets=NODES[:2],
                    **BAKED,
                    healthCheck={**HEALTH, "alerts": ALERTS},
                ),
                alerts=FIRING,
            ),
            waiting(P.BAKING, 1, 1, until=0),
            P.BAKING,
            1,
            1,
            [],
            message=f"baked; completes once no alert holds it: {FIRING_TEXT}",
        ),
        id="a-bake-over-does-not-complete-while-an-alert-fires",
    ),
]


@pytest.mark.parametrize("step", STEPS)
def test_transition(step: Step) -> None:
    before = step.before.model_copy()
    decision = TRANSITIONS[before.phase or P.PROGRESSING](step.ctx, before)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave, decision.rollout.total_waves) == (
        step.phase,
        step.wave,
        step.total_waves,
    )
    assert [(e.type, e.reason, e.message) for e in decision.events] == step.events
    assert (decision.rollout.message, decision.rollout.failed_nodes) == (step.message, step.failed)
    assert decision.stable_version == step.stable
    wave = decision.rollout.wave
    already = sorted(n for n, ex in step.ctx.progress.moved.items() if ex.spec.rollout_wave == wave)
    if step.phase in (P.ROLLING_BACK, P.ROLLED_BACK):
        assert set(decision.want.values()) == {Want(STABLE, 0)}, "every node back on S"
    else:
        assert moved_to(decision, wave) == sorted({*already, *step.moves})
        untouched = [
            n for n in step.ctx.targets if n not in step.ctx.progress.moved and n not in step.moves
        ]
        # A first version's nodes not reached yet keep what they run (nothing of V): no want.
        stays = Want(STABLE, 0) if step.ctx.stable is not None else None
        assert [decision.want.get(n) for n in untouched] == [stays] * len(untouched)


def test_failed_nodes_are_frozen_once_rolling_back() -> None:
    ctx = context({"n0": failed(1), "n1": failed(1)}, back={n: S.PENDING for n in NODES})
    decision = TRANSITIONS[P.ROLLING_BACK](ctx, rollout(P.ROLLING_BACK, 1, 5, failed=1))
    assert decision.rollout is not None
    assert decision.rollout.failed_nodes == 1
    decision = TRANSITIONS[P.PROGRESSING](
        context({"n0": failed(1), "n1": Moved(1, S.VALIDATING)}, **ROLLING),
        rollout(P.PROGRESSING, 1, 5),
    )
    assert decision.rollout is not None
    assert decision.rollout.failed_nodes == 1


# ---- outside a rollout -------------------------------------------------------------------


def test_begin_rollout_starts_a_new_version_from_the_stable_one() -> None:
    rs, events = begin_rollout(dataclasses.replace(context(**ROLLING), now=at(7)))
    assert rs == RolloutStatus(
        phase=P.PROGRESSING, version=V, from_version=STABLE, wave=0, started_at=at(7)
    )
    assert [(e.type, e.reason, e.message) for e in events] == [
        ("Normal", "RolloutStarted", "rolling out version 2 from 1 on 10 nodes (Rolling)")
    ]
    inflight = rollout(P.PAUSED, 3, 5)
    rs, events = begin_rollout(context(previous=inflight, **ROLLING))
    assert (rs, events) == (inflight, [])
    assert rs is not inflight, "a copy: the pass may change it"


def test_a_new_version_in_flight_starts_over_from_the_stable_one() -> None:
    """Version 2 was applied while the rollout of another version was at wave 3 of 5."""
    abandoned = RolloutStatus(phase=P.PROGRESSING, version=V + 1, wave=3, total_waves=5)
    spec = job_spec(rollout={"healthCheck": HEALTH, **ROLLING})
    status = JobStatus(stable_version=STABLE, rollout=abandoned)
    context = build_rollout_context(job(spec, status), V, NODES, {}, {}, set(), None, at(5), {})
    decision = plan_rollout(context)
    assert decision.rollout is not None
    assert (decision.rollout.version, decision.rollout.wave) == (V, 1)
    assert (decision.rollout.from_version, decision.rollout.started_at) == (STABLE, at(5))
    assert reasons(decision) == ["RolloutStarted", "WaveStarted"]
    assert moved_to(decision, 1) == NODES[:2]


def test_a_first_version_rolls_out_by_its_strategy_from_the_first_pass() -> None:
    """No stable version yet: the same engine as every rollout, from a start that names none;
    Immediate is one wave of every node."""
    decision = plan_rollout(context(stable=None, **ROLLING))
    assert [(e.reason, e.message) for e in decision.events] == [
        ("RolloutStarted", "rolling out version 2 (the Job's first) on 10 nodes (Rolling)"),
        ("WaveStarted", "wave 1/5 of version 2: 2 nodes"),
    ]
    assert decision.want == {n: Want(V, 1) for n in NODES[:2]}, "only the first wave"
    assert decision.rollout is not None
    assert decision.rollout.from_version is None
    assert decision.stable_version is None
    immediate = plan_rollout(context(stable=None, strategy="Immediate"))
    assert immediate.want == {n: Want(V, 1) for n in NODES}
    assert immediate.rollout is not None
    assert immediate.rollout.total_waves == 1
    idle = plan_rollout(context(targets=[], stable=None, **ROLLING))
    assert (idle.want, idle.rollout, idle.stable_version, idle.events) == ({}, None, None, [])


def test_a_new_first_version_in_flight_leaves_the_abandoned_one_until_each_wave() -> None:
    """Version 2 applied while the first version 3 was in its second wave: no stable version
    to return to, so nodes on 3 keep it (no want) until version 2's wave reaches them."""
    abandoned = RolloutStatus(phase=P.PROGRESSING, version=V + 1, wave=2, total_waves=5)
    spec = job_spec(rollout={"healthCheck": HEALTH, **ROLLING})
    on_node = {n: {V + 1: wave_execution(n, V + 1, 1, state=S.RUNNING)} for n in NODES[:4]}
    states = {ex.name: S.RUNNING for m in on_node.values() for ex in m.values()}
    ctx = build_rollout_context(
        job(spec, JobStatus(rollout=abandoned)), V, NODES, on_node, states, set(), None, at(5), {}
    )
    decision = plan_rollout(ctx)
    assert decision.want == {n: Want(V, 1) for n in NODES[:2]}
    assert decision.rollout is not None
    assert decision.rollout.started_at == at(5)


def test_nodes_that_join_mid_rollout_fill_the_current_wave_then_add_waves() -> None:
    """Rolling 50 % planned waves of 2 on 4 nodes; 6 are selected now: a wave takes 3, so
    wave 1 takes one more node (the next in wave order) and the other 3 make one more wave."""
    ctx = context({"n0": Moved(1, S.VALIDATING), "n1": ok(1)}, targets=NODES[:6],
                  strategy="Rolling", maxParallel=50)  # fmt: skip
    decision = TRANSITIONS[P.PROGRESSING](ctx, rollout(P.PROGRESSING, 1, 2))
    assert decision.rollout is not None
    assert (decision.rollout.wave, decision.rollout.total_waves) == (1, 2)
    assert moved_to(decision, 1) == ["n0", "n1", "n2"]
    assert decision.events == []


def test_a_wave_is_not_settled_while_some_of_its_nodes_have_not_started() -> None:
    """Immediate on 10 nodes: the planner created 2 executions of the wave and deferred 8
    (`max_creates`). The 2 settled, but the wave is not done: its other 8 are still wanted."""
    ctx = context({"n0": ok(1), "n1": ok(1)}, strategy="Immediate")
    decision = TRANSITIONS[P.PROGRESSING](ctx, rollout(P.PROGRESSING, 1, 1))
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave) == (P.PROGRESSING, 1)
    assert decision.want == {n: Want(V, 1) for n in NODES}
    assert (decision.stable_version, decision.events) == (STABLE, [])


def test_steady_keeps_every_node_on_the_stable_version() -> None:
    ctx = dataclasses.replace(context({"n0": ok(3)}, targets=NODES[:2]), stable=V)
    decision = plan_steady(ctx)
    assert decision.want == {"n0": Want(V, 3), "n1": Want(V, 1)}
    assert (decision.stable_version, decision.events) == (V, [])


# ---- onNodeFailure: Revert ---------------------------------------------------------------

REVERT = {**ROLLING, "onNodeFailure": "Revert"}


def test_a_node_where_the_new_version_failed_reverts_and_the_rollout_goes_on() -> None:
    ctx = context({"n0": failed(1), "n1": ok(1)}, previous=rollout(P.PROGRESSING, 1, 5),
                  back={"n0": S.STOPPED, "n1": S.STOPPED}, **REVERT)  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.want["n0"] == Want(STABLE, 0), "back on the stable version at once"
    assert decision.want["n1"] == Want(V, 1)
    assert moved_to(decision, 2) == NODES[2:4], "the rollout goes on within its budget"
    assert decision.rollout is not None
    assert (decision.rollout.reverted_nodes, decision.rollout.reverted_count) == (["n0"], 1)
    assert [(e.type, e.reason, e.message) for e in decision.events][-1] == (
        "Warning", "NodeReverted",
        "version 2 failed on 1 nodes, back on version 1: n0 (1 reverted in all)",
    )  # fmt: skip
    again = plan_rollout(dataclasses.replace(ctx, previous=decision.rollout))
    assert "NodeReverted" not in reasons(again), "announced once"
    kept = plan_rollout(dataclasses.replace(ctx, spec=ctx.spec.model_copy(
        update={"on_node_failure": "Keep"})))  # fmt: skip
    assert kept.want["n0"] == Want(V, 1), "Keep (the default): the node stays as it is"
    assert kept.rollout is not None
    assert kept.rollout.reverted_count == 0


def test_a_reverted_node_stays_reverted_after_the_rollout_completed() -> None:
    """V is stable now; n0's execution of V failed: it keeps the version it ran before (the
    newest that did not fail there), where steady state would otherwise start V again."""
    done = rollout(P.COMPLETED, 5, 5).model_copy(update={"reverted_nodes": ["n0"],
                                                        "reverted_count": 1})  # fmt: skip
    ctx = dataclasses.replace(
        context(
            {"n0": failed(1), "n1": ok(1)},
            targets=NODES[:2],
            previous=done,
            back={"n0": S.STOPPED},
            **REVERT,
        ),
        stable=V,
    )
    decision = plan_rollout(ctx)
    assert decision.want == {"n0": Want(STABLE, 0), "n1": Want(V, 1)}
    assert decision.events == []


def test_once_v_is_stable_a_node_with_nothing_left_of_what_it_ran_returns_to_what_v_replaced() -> (
    None
):
    """Under pod records a version stopped on a node leaves nothing: `retry --node` of a
    reverted node stops its S (the pod goes) and V fails there again. V's execution replaced
    one, so the node ran another version: the one V replaced. Before, it kept V, failed,
    where an Execution per node would have returned it to S. A node that joined since (V's
    execution replaced nothing) keeps V, and so does one whose S failed there."""
    done = rollout(P.COMPLETED, 5, 5)

    def want(previous: str | None, back: dict[str, S] | None = None) -> Want:
        ctx = dataclasses.replace(
            context({"n0": failed(1), "n1": ok(1)}, targets=NODES[:2], previous=done,
                    back=back, **REVERT),
            stable=V,
        )  # fmt: skip
        ex = ctx.on_node["n0"][V]
        ex = dataclasses.replace(
            ex, spec=ex.spec.model_copy(update={"previous_execution": previous})
        )
        ctx = dataclasses.replace(ctx, on_node={**ctx.on_node, "n0": {**ctx.on_node["n0"], V: ex}})
        return plan_rollout(ctx).want["n0"]

    assert want("j-v1-n0-000000") == Want(STABLE, 0)
    assert want(None) == Want(V, 1), "joined since: nothing to return to"
    assert want("j-v1-n0-000000", {"n0": S.FAILED}) == Want(V, 1), "S failed there too"
    assert want("j-v1-n0-000000", {"n0": S.STOPPED}) == Want(STABLE, 0)


def test_revert_has_nothing_to_return_to_on_a_first_version_and_never_lifts_the_budget() -> None:
    first_ctx = context({"n0": failed(1), "n1": ok(1)}, stable=None,
                        previous=first(P.PROGRESSING, 1, 5), **REVERT)  # fmt: skip
    assert plan_rollout(first_ctx).want["n0"] == Want(V, 1)
    spent = context({"n0": failed(1), "n1": ok(1)}, previous=rollout(P.PROGRESSING, 1, 5),
                    back={"n0": S.STOPPED}, **{**REVERT, "maxFailedNodes": 0})  # fmt: skip
    decision = plan_rollout(spent)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ROLLING_BACK, "past the budget the whole rollout goes back"


# ---- promote --full ------------------------------------------------------------------------


def test_promote_full_sends_every_remaining_node_in_one_wave_after_the_current_one() -> None:
    """Canary of 2 on 10 nodes, 25 % waves (2, 3, 3, 2 planned): promoted with "2/full" while
    waiting, the second wave is the 8 remaining nodes and the last; health and budget as ever."""
    waiting = context({"n0": ok(1), "n1": ok(1)}, promote="2/full",
                      previous=rollout(P.AWAITING_PROMOTION, 1, 4), **CANARY)  # fmt: skip
    decision = plan_rollout(waiting)
    assert decision.rollout is not None
    assert (decision.rollout.wave, decision.rollout.total_waves) == (2, 2)
    assert moved_to(decision, 2) == sorted(NODES[2:])
    assert [(e.type, e.reason, e.message) for e in decision.events] == [
        ("Normal", "Promoted", "version 2 promoted: its 8 remaining nodes at once"),
        ("Normal", "WaveStarted", "wave 2/2 of version 2: 8 nodes"),
    ]
    # A wave in progress finishes first; nodes that join meanwhile go with the full wave.
    midway = context({"n0": ok(1), "n1": Moved(2, S.VALIDATING)}, promote="2/full",
                     previous=rollout(P.PROGRESSING, 2, 5), **ROLLING)  # fmt: skip
    assert moved_to(plan_rollout(midway), 3) == []
    full_wave = context({n: Moved(2, S.VALIDATING) for n in NODES[:8]}, promote="2/full",
                        previous=rollout(P.PROGRESSING, 2, 2), **ROLLING)  # fmt: skip
    assert moved_to(plan_rollout(full_wave), 2) == sorted(NODES), "n8, n9 joined: in the wave"


def test_promote_full_never_skips_the_canary_nor_a_pause() -> None:
    start = plan_rollout(context(promote="2/full", previous=rollout(P.PROGRESSING, 0), **CANARY))
    assert moved_to(start, 1) == NODES[:2], "the canary still goes first"
    paused = context({"n0": ok(1), "n1": ok(1)}, promote="2/full", paused=True,
                     previous=rollout(P.PROGRESSING, 1, 4), **{**CANARY, "autoPromote": True})  # fmt: skip
    decision = plan_rollout(paused)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.PAUSED


# ---- abort -------------------------------------------------------------------------------

ABORT = build_abort_value(V, at(0))
"""The abort annotation for `rollout(...)`'s rollout (started at 0)."""


def aborting(
    on_v: dict[str, tuple[int, ObservedState]],
    s_running: dict[str, ObservedState],
    *,
    previous: RolloutStatus,
    abort: str | None = ABORT,
    targets: list[str] = NODES,
    domains: dict[str, str] | None = None,
    **rollout_spec: Any,
) -> RolloutContext:
    """Nodes on V (`on_v`: wave and state) with their execution of S stopped by the rollout;
    nodes whose execution of S is wanted Running (`s_running`: its state); the rest never had
    any execution."""
    spec = job_spec(rollout={"healthCheck": HEALTH, **ROLLING, **rollout_spec})
    on_node: dict[str, dict[int, ExecutionInfo]] = {}
    states: dict[str, ObservedState] = {}

    def add(ex: ExecutionInfo, state: ObservedState) -> None:
        on_node.setdefault(ex.spec.node_name, {})[ex.spec.job_version] = ex
        states[ex.name] = state

    for n, (wave, state) in on_v.items():
        add(wave_execution(n, V, wave, state=state), state)
        add(wave_execution(n, STABLE, 0, desired=DesiredState.STOPPED, by_operator=True,
                       state=S.STOPPED), S.STOPPED)  # fmt: skip
    for n, state in s_running.items():
        add(wave_execution(n, STABLE, 0, state=state), state)
    return RolloutContext(
        spec=spec.rollout, version=V, stable=STABLE, previous=previous, targets=targets,
        on_node=on_node, states=states, validated=frozenset(), promote=None, now=at(5),
        domains=domains or {}, abort=abort,
    )  # fmt: skip


def wants(decision: RolloutDecision, version: int) -> list[str]:
    return sorted(n for n, w in decision.want.items() if w.version == version)


SIX_ON_V = {n: (1 + i // 2, S.RUNNING) for i, n in enumerate(NODES[:6])}
"""Waves 1-3 of 20 % (2 nodes each) done on n0..n5; n6..n9 still on S."""
REST_ON_S = {n: S.RUNNING for n in NODES[6:]}


def test_an_abort_stops_the_rollout_and_sends_its_latest_wave_back_first() -> None:
    ctx = aborting(SIX_ON_V, REST_ON_S, previous=rollout(P.PROGRESSING, 3, 5))
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ABORTED
    assert decision.stable_version == STABLE
    assert wants(decision, V) == NODES[:4], "waves 1 and 2 wait, no wave 4 starts"
    assert [decision.want[n] for n in NODES[:4]] == [Want(V, 1)] * 2 + [Want(V, 2)] * 2
    assert {decision.want[n] for n in NODES[4:]} == {Want(STABLE, 0)}
    assert [(e.type, e.reason, e.message) for e in decision.events] == [
        ("Warning", "RolloutAborted",
         "rollout of version 2 aborted: every node returns to version 1 in waves"),
    ]  # fmt: skip
    assert decision.rollout.message == (
        "aborted: returning to version 1: 4/10 nodes back, 2 on their way, 4 waiting"
    )


def test_no_more_than_a_wave_of_nodes_is_on_its_way_back_at_once() -> None:
    aborted = rollout(P.ABORTED, 3, 5)
    on_v = {n: SIX_ON_V[n] for n in NODES[:4]}
    starting = aborting(on_v, {**REST_ON_S, "n4": S.STARTING, "n5": S.PENDING}, previous=aborted)
    decision = plan_rollout(starting)
    assert wants(decision, V) == NODES[:4], "n4 and n5 are not back yet: no room"
    assert decision.events == []
    assert decision.rollout is not None
    assert decision.rollout.message == (
        "aborted: returning to version 1: 4/10 nodes back, 2 on their way, 4 waiting"
    )
    one_back = aborting(on_v, {**REST_ON_S, "n4": S.STARTING, "n5": S.RUNNING}, previous=aborted)
    assert wants(plan_rollout(one_back), V) == ["n0", "n1", "n3"], "n2: wave 2, first in order"
    back = aborting(on_v, {**REST_ON_S, "n4": S.RUNNING, "n5": S.FAILED}, previous=aborted)
    decision = plan_rollout(back)
    assert wants(decision, V) == ["n0", "n1"], "a stable execution that failed is back too"
    assert decision.rollout is not None
    assert decision.rollout.message == (
        "aborted: returning to version 1: 6/10 nodes back, 2 on their way, 2 waiting"
    )


def test_a_node_where_the_new_version_failed_goes_back_at_once() -> None:
    on_v = {"n0": (1, S.FAILED), "n1": (1, S.RUNNING), "n2": (2, S.RUNNING), "n3": (2, S.RUNNING)}
    decision = plan_rollout(aborting(on_v, {}, previous=rollout(P.PROGRESSING, 2, 5)))
    assert wants(decision, V) == ["n1"]
    assert decision.rollout is not None
    assert decision.rollout.failed_nodes == 1, "counted when the abort stopped it"
    assert wants(decision, STABLE) == sorted(["n0", "n2", "n3", *NODES[4:]])


def test_the_abort_completes_once_every_node_is_back_and_says_so_once() -> None:
    ctx = aborting({}, dict.fromkeys(NODES, S.RUNNING), previous=rollout(P.ABORTED, 3, 5))
    decision = plan_rollout(ctx)
    done = (
        "aborted: every node back on version 1; version 2 stays stopped until a new version "
        "or `kubectl nodewave retry`"
    )
    assert [(e.type, e.reason, e.message) for e in decision.events] == [
        ("Normal", "AbortComplete", done)
    ]
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.message) == (P.ABORTED, done)
    assert decision.rollout.finished_at == ctx.now
    # Said once because the end is recorded (finished_at), whatever the message reads.
    reworded = decision.rollout.model_copy(update={"message": "reworded by a later release"})
    again = plan_rollout(dataclasses.replace(ctx, previous=reworded))
    assert again.events == []
    assert wants(again, STABLE) == NODES


def test_going_back_takes_one_topology_domain_per_wave() -> None:
    domains = {n: "a" if n in ("n0", "n3", "n4") else "b" for n in NODES}
    on_v = {n: (1, S.RUNNING) for n in NODES[:5]}
    ctx = aborting(on_v, REST_ON_S, previous=rollout(P.PROGRESSING, 1, 5), domains=domains,
                   maxParallel=30)  # fmt: skip
    assert wants(plan_rollout(ctx), STABLE) == sorted(["n0", *NODES[5:]])


def test_an_abort_names_one_rollout_and_spares_others() -> None:
    ctx = aborting(SIX_ON_V, REST_ON_S, previous=rollout(P.PROGRESSING, 3, 5))
    for other in (build_abort_value(V, at(1)), build_abort_value(STABLE, at(0)), "yes", "2@"):
        decision = plan_rollout(dataclasses.replace(ctx, abort=other))
        assert decision.rollout is not None
        assert decision.rollout.phase is P.PROGRESSING, other
    rolling_back = dataclasses.replace(ctx, previous=rollout(P.ROLLING_BACK, 3, 5))
    decision = plan_rollout(rolling_back)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ROLLING_BACK
    steady = dataclasses.replace(ctx, stable=V)
    assert plan_rollout(steady).rollout == steady.previous, "a stable version is not aborted"


def test_lifting_the_abort_rolls_the_same_version_out_again_from_the_stable_one() -> None:
    ctx = aborting({}, dict.fromkeys(NODES, S.RUNNING), previous=rollout(P.ABORTED, 3, 5),
                   abort=None)  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave) == (P.PROGRESSING, 1)
    assert decision.rollout.started_at == at(5)
    assert wants(decision, V) == ["n0", "n1"]
    assert [(e.type, e.reason, e.message) for e in decision.events] == [
        ("Normal", "RolloutRetried",
         "abort lifted: rolling out version 2 from 1 on 10 nodes (Rolling)"),
        ("Normal", "WaveStarted", "wave 1/5 of version 2: 2 nodes"),
    ]  # fmt: skip


def test_an_aborted_first_version_holds_every_node_where_it_is() -> None:
    ctx = context({"n0": ok(1), "n1": ok(1)}, stable=None, previous=first(P.PROGRESSING, 1, 5),
                  **ROLLING)  # fmt: skip
    decision = plan_rollout(dataclasses.replace(ctx, abort=ABORT))
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ABORTED
    assert decision.want == {"n0": Want(V, 1), "n1": Want(V, 1)}, "nobody else starts V"
    assert decision.stable_version is None
    assert decision.events[0].message == (
        "rollout of version 2 aborted: it is the Job's first version: no node starts it any "
        "more, none has a version to return to"
    )
    assert decision.rollout.message == (
        "aborted: version 2 is the Job's first; nodes keep what they run and no new wave starts"
    )


@given(st.integers(1, 10**6), st.datetimes(timezones=st.just(UTC)))
def test_an_abort_value_names_exactly_its_rollout(version: int, started: datetime) -> None:
    assert parse_abort(build_abort_value(version, started)) == (version, started)


# ---- maintenance windows -------------------------------------------------------------------


def test_outside_every_window_no_wave_starts_and_the_status_says_when_one_opens() -> None:
    ctx = dataclasses.replace(context(previous=rollout(P.PROGRESSING, 0), **ROLLING), **CLOSED)
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave) == (P.WAITING_FOR_WINDOW, 0)
    assert decision.rollout.message == f"waiting for a maintenance window before wave 1, {OPENS}"
    assert wants(decision, V) == []
    assert [(e.type, e.reason, e.message) for e in decision.events] == [
        ("Normal", "WaitingForWindow",
         f"version 2: waiting for a maintenance window before wave 1, {OPENS}")
    ]  # fmt: skip
    again = plan_rollout(dataclasses.replace(ctx, previous=decision.rollout))
    assert again.events == [], "said once per wait"
    # Once per wait because the phase says it waits, whatever the message reads.
    reworded = decision.rollout.model_copy(update={"message": "reworded by a later release"})
    assert plan_rollout(dataclasses.replace(ctx, previous=reworded)).events == []
    opened = plan_rollout(dataclasses.replace(ctx, previous=decision.rollout, window_open=True))
    assert wants(opened, V) == ["n0", "n1"]
    assert opened.rollout is not None
    assert opened.rollout.phase is P.PROGRESSING


def test_a_wave_under_way_finishes_after_its_window_closed() -> None:
    """Wave 2 of 20 % has n2 but not n3 yet (its creation was deferred): n3 still joins it;
    once the wave settled, wave 3 waits for the next window."""
    under_way = {"n0": ok(1), "n1": ok(1), "n2": Moved(2, S.VALIDATING)}
    ctx = dataclasses.replace(context(under_way, previous=rollout(P.PROGRESSING, 2, 5),
                                      **ROLLING), **CLOSED)  # fmt: skip
    assert moved_to(plan_rollout(ctx), 2) == ["n2", "n3"]
    settled = {"n0": ok(1), "n1": ok(1), "n2": ok(2), "n3": ok(2)}
    ctx = dataclasses.replace(ctx, on_node=context(settled, **ROLLING).on_node,
                              validated=context(settled, **ROLLING).validated)  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.message == f"waiting for a maintenance window before wave 3, {OPENS}"
    assert wants(decision, V) == ["n0", "n1", "n2", "n3"]


def test_windows_hold_neither_new_nodes_in_steady_state_nor_a_rollback() -> None:
    steady = dataclasses.replace(context(stable=V, **ROLLING), **CLOSED)
    assert wants(plan_rollout(steady), V) == NODES, "placement is not a rollout"
    failing = dataclasses.replace(
        context({"n0": failed(1), "n1": failed(1)}, previous=rollout(P.PROGRESSING, 1, 5),
                back={n: S.STOPPED for n in NODES}, **ROLLING), **CLOSED,
    )  # fmt: skip
    decision = plan_rollout(failing)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ROLLING_BACK
    assert wants(decision, STABLE) == NODES


def test_why_a_rollout_failed_is_kept_as_data_and_its_times_stamped() -> None:
    """fail_rollout records the verdict (`failure`) that RolledBack later names; the phase's
    entry time and the end time are set by the transition, not read from any message."""
    ctx = dataclasses.replace(
        context({"n0": failed(1), "n1": ok(1)}, **CANARY), previous=rollout(P.PROGRESSING, 1, 4)
    )
    decision = plan_rollout(ctx)
    rs = decision.rollout
    assert rs is not None
    assert (rs.phase, rs.failure) == (P.ROLLING_BACK, "the canary failed on 1 of 2 nodes")
    assert rs.phase_since == ctx.now
    assert rs.finished_at is None  # rolling back is not the end
    rs.message = "reworded by a later release"
    later = dataclasses.replace(ctx, previous=rs, now=ctx.now + timedelta(seconds=30))
    assert plan_rollout(later).rollout.phase_since == ctx.now  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("before", "after", "since", "finished"),
    [
        (None, P.PROGRESSING, True, False),
        (P.PROGRESSING, P.PROGRESSING, False, False),
        (P.PROGRESSING, P.AWAITING_PROMOTION, True, False),
        (P.PROGRESSING, P.COMPLETED, True, True),
        (P.ROLLING_BACK, P.ROLLED_BACK, True, True),
        (P.PROGRESSING, P.FAILED, True, True),
        (P.PROGRESSING, P.ABORTED, True, False),  # ends once every node is back
    ],
)
def test_stamped_times(
    before: RolloutPhase | None, after: RolloutPhase, since: bool, finished: bool
) -> None:
    start = at(0)
    old = None if before is None else RolloutStatus(phase=before, version=2, started_at=start,
                                                    phase_since=at(1))  # fmt: skip
    rs = RolloutStatus(phase=after, version=2, started_at=start, phase_since=at(1))
    stamp_times(old, rs, at(9))
    assert rs.phase_since == (at(9) if since else at(1))
    assert (rs.finished_at == at(9)) is finished
    # Another rollout (a new version or a new start) enters its phase anew.
    new = RolloutStatus(phase=after, version=3, started_at=at(5), phase_since=at(1))
    stamp_times(old, new, at(9))
    assert new.phase_since == at(9)


@pytest.mark.parametrize(
    ("paused", "window_open", "promote", "phase"),
    [
        (False, True, None, P.PROGRESSING),  # every gate passes: wave 2 starts
        (True, False, None, P.PAUSED),  # the pause is asked before the window
        (False, False, None, P.WAITING_FOR_WINDOW),
        (True, False, "waiting", P.AWAITING_PROMOTION),  # a canary's promotion before both
    ],
)
def test_the_wave_gates_are_asked_in_their_order_and_the_first_that_holds_decides(
    paused: bool, window_open: bool, promote: str | None, phase: RolloutPhase
) -> None:
    """`WAVE_GATES`: confirmation, promotion, pause, window, PreWave webhooks."""
    strategy = {**CANARY, "autoPromote": False} if promote else ROLLING
    settled = {"n0": ok(1), "n1": ok(1)}
    ctx = dataclasses.replace(
        context(settled, previous=rollout(P.PROGRESSING, 1, 5), paused=paused, **strategy),
        window_open=window_open,
        window_opens_at=None if window_open else at(3600),
    )
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.phase is phase
    assert (decision.rollout.wave == 2) is (phase is P.PROGRESSING)


def test_every_phase_and_every_gate_has_a_named_row() -> None:
    """The table above covers the whole transition table: a row starting in each phase, and
    a row for each gate's hold (test_the_wave_gates_are_asked_in_order)."""
    started_in = {s.values[0].before.phase for s in STEPS}
    here = Path(__file__).read_text()
    webhooks = (Path(__file__).parent / "test_webhooks.py").read_text()
    elsewhere = {  # phases whose rows need more than a Step holds
        P.AWAITING_CONFIRMATION: "def test_a_confirmed_rollout_starts_wave_1(" in webhooks,
        P.ABORTED: "def test_the_abort_completes_once_every_node_is_back_and_says_so_once(" in here,
        P.COMPLETED: "def test_a_completed_status_of_an_unstable_version_completes_again(" in here,
    }
    assert all(elsewhere.values())
    assert set(TRANSITIONS) - started_in - set(elsewhere) == set()


def test_a_completed_status_of_an_unstable_version_completes_again() -> None:
    """`plan_completed`: a Completed rollout of V whose stable version is still S (a status
    lost or written by hand) completes again, making V stable, and starts no wave."""
    ctx = context({n: ok(1) for n in NODES[:2]}, targets=NODES[:2], **ROLLING)
    decision = TRANSITIONS[P.COMPLETED](ctx, rollout(P.COMPLETED, 1, 1))
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.stable_version) == (P.COMPLETED, V)
    assert moved_to(decision, 1) == NODES[:2]


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text.split(". ")[0].rstrip(".")


def build_transition_tables() -> str:
    """§3.3's tables as the code has them: each phase's transition, each wave gate in order."""
    phases: dict[Any, list[str]] = {}
    for phase, fn in TRANSITIONS.items():
        phases.setdefault(fn, []).append(phase.value)
    rows = ["| phase | transition | what it does |", "|---|---|---|"]
    rows += [
        f"| {', '.join(names)} | `{fn.__name__}` | {_first_sentence(fn.__doc__)} |"
        for fn, names in phases.items()
    ]
    rows += ["", "| gate, asked in this order | what holds the next wave |", "|---|---|"]
    rows += [f"| `{g.__name__}` | {_first_sentence(g.__doc__)} |" for g in WAVE_GATES]
    return "\n".join(rows)


def test_the_design_documents_transition_tables_are_the_codes() -> None:
    """docs/design.md §3.3 shows TRANSITIONS and WAVE_GATES as they are: a new phase, gate or
    reordering changes the document too (the expected text is printed to paste)."""
    design = (Path(__file__).parents[2] / "docs" / "design.md").read_text()
    tables = build_transition_tables()
    assert tables in design, f"docs/design.md §3.3 should hold:\n{tables}"


# ---- rules pinned after the mutation run of issue 27 ---------------------------------------


def test_many_reverted_nodes_are_named_up_to_ten_and_counted_in_one_event() -> None:
    """12 nodes failed V in one wave of 12 (budget 20): the Event names the first ten."""
    targets = [f"m{i:02}" for i in range(12)]
    ctx = context({n: failed(1) for n in targets}, targets=targets, back=dict.fromkeys(targets,
                  S.STOPPED), previous=rollout(P.PROGRESSING, 1, 1), **{**REVERT,
                  "maxParallel": 100, "maxFailedNodes": 20, "maxFailedNodesPercent": 100})  # fmt: skip
    decision = plan_rollout(ctx)
    assert [(e.reason, e.message) for e in decision.events if e.reason == "NodeReverted"] == [
        ("NodeReverted", "version 2 failed on 12 nodes, back on version 1: "
         + ", ".join(targets[:10]) + " and 2 more (12 reverted in all)"),
    ]  # fmt: skip
    assert decision.rollout is not None
    assert decision.rollout.reverted_count == 12
    # The same 12 a pass later: not announced again; one more: only it is.
    again = plan_rollout(dataclasses.replace(ctx, previous=decision.rollout))
    assert "NodeReverted" not in reasons(again)


def test_past_the_hundred_listed_a_new_reverted_node_is_announced_by_its_count() -> None:
    """101 nodes reverted, 100 listed: a pass later nothing new, nothing said; the 102nd, which
    sorts past the list, is announced as one more not listed."""
    targets = [f"m{i:03}" for i in range(103)]
    spec = {**REVERT, "maxParallel": 100, "maxFailedNodes": 200, "maxFailedNodesPercent": 100}
    moved = {n: failed(1) for n in targets[:101]} | {n: ok(1) for n in targets[101:]}
    ctx = context(moved, targets=targets, back=dict.fromkeys(targets[:101], S.STOPPED),
                  previous=rollout(P.PROGRESSING, 1, 1), **spec)  # fmt: skip
    first = plan_rollout(ctx)
    assert first.rollout is not None
    assert (len(first.rollout.reverted_nodes), first.rollout.reverted_count) == (100, 101)
    assert "NodeReverted" not in reasons(
        plan_rollout(dataclasses.replace(ctx, previous=first.rollout))
    )
    moved[targets[101]] = failed(1)
    later = context(moved, targets=targets, back=dict.fromkeys(targets[:102], S.STOPPED),
                    previous=first.rollout, **spec)  # fmt: skip
    assert [e.message for e in plan_rollout(later).events if e.reason == "NodeReverted"] == [
        "version 2 failed on 1 nodes, back on version 1: 1 not listed (102 reverted in all)"
    ]


def test_a_wave_missing_a_node_fills_it_from_its_own_domain() -> None:
    """Zones b (n0, n1) then a: wave 1 of 2 nodes moved n0 only (n1's creation deferred); the
    wave takes n1 from its own zone, not the first node of another, and is not settled."""
    domains = {n: ("b" if n in ("n0", "n1") else "a") for n in NODES}
    ctx = dataclasses.replace(
        context({"n0": ok(1)}, previous=rollout(P.PROGRESSING, 1, 5), **ROLLING),
        domains=domains,
    )
    decision = plan_rollout(ctx)
    assert moved_to(decision, 1) == ["n0", "n1"]
    assert "WaveComplete" not in reasons(decision)


def test_nodes_that_join_mid_rollout_add_waves_and_the_count_never_shrinks() -> None:
    """The status said 3 waves; 10 targets at 20 % leave 4 waves after wave 1: 5 in all."""
    ctx = context({"n0": Moved(1, S.VALIDATING), "n1": Moved(1, S.VALIDATING)},
                  previous=rollout(P.PROGRESSING, 1, 3), **ROLLING)  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.wave, decision.rollout.total_waves) == (1, 5)
    more = plan_rollout(dataclasses.replace(ctx, previous=rollout(P.PROGRESSING, 1, 7)))
    assert more.rollout is not None
    assert more.rollout.total_waves == 7


def test_the_failure_kept_in_the_status_is_cut_to_2048_characters() -> None:
    verdict = "x" * 3000
    decision = fail_rollout(context(**ROLLING), rollout(P.PROGRESSING, 1, 5), verdict)
    assert decision.rollout is not None
    assert decision.rollout.failure == "x" * 2048


def test_the_context_names_the_job_its_webhooks_are_asked_for() -> None:
    j = job(job_spec(), JobStatus(stable_version=1))
    ctx = build_rollout_context(j, V, NODES, {}, {}, set(), None, at(5), {})
    assert (ctx.job.namespace, ctx.job.name, ctx.job.uid) == ("ns", "j", "job-uid")


def test_the_reverted_list_follows_which_nodes_are_reverted_not_only_how_many() -> None:
    """n0 was reverted and retried (its failed execution deleted: it takes V again); now n1
    failed: still one node reverted, but another one, listed and announced."""
    before = rollout(P.PROGRESSING, 1, 5).model_copy(
        update={"reverted_nodes": ["n0"], "reverted_count": 1}
    )
    ctx = context({"n0": Moved(1, S.VALIDATING), "n1": failed(1)}, previous=before,
                  back={"n1": S.STOPPED}, **REVERT)  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.reverted_nodes, decision.rollout.reverted_count) == (["n1"], 1)
    assert [e.message for e in decision.events if e.reason == "NodeReverted"] == [
        "version 2 failed on 1 nodes, back on version 1: n1 (1 reverted in all)"
    ]
