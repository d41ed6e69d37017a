"""What each example Job must reach in `nodewave demo`: the demo's success criterion, pure.

The demo applies every file of `examples/`, and an example that can never settle there (a
maintenance window closed at this hour, a webhook gate on a host that exists nowhere) broke
`make demo` for every newcomer. So each example Job has an entry here saying what it must
reach, judged by the CI gate's own verdict (`core/views/gate.py`, what `kubectl nodewave status
--watch` exits on) and, for a rollout that goes on past the demo's wait, the wave and webhook
gates it must be past. A Job of `examples/` without an entry is an error, so a new example
cannot slip past the demo unexamined (tests/unit/test_demo_expectations.py checks it too).

Time enters in one place: a Job with maintenance windows must be waiting for the next opening
(named in its status) while every window is closed, and must have completed while one is open;
both are judged at the moment of looking, with the windows' own rule (`core/rollout/windows.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from nodewave.cli.operations import evaluate_job
from nodewave.core.rollout.windows import describe_opening, evaluate_windows
from nodewave.core.views.gate import Outcome
from nodewave.models.job import JobSpec, RolloutPhase, RolloutStatus, WebhookPhase


class DemoError(ValueError):
    """An example the demo cannot judge."""


@dataclass(frozen=True, slots=True)
class Expected:
    """What one Job must reach: one of `outcomes` of the gate; a rollout that may still be
    under way (outcome waiting) at `min_wave` or later, with `passed_webhooks` answered 2xx."""

    says: str
    outcomes: frozenset[Outcome]
    phase: RolloutPhase | None = None
    message: str = ""
    """Text the rollout's message must contain."""
    min_wave: int = 0
    passed_webhooks: tuple[str, ...] = ()


DONE = frozenset({Outcome.SUCCEEDED})
EXPECTED: dict[str, Expected] = {
    "log-pipeline": Expected(
        "Ready: version 1 on every Linux node, a canary of 2 first, then waves "
        "of 25 % with two 10 s health windows each",
        DONE,
    ),
    "disk-inventory": Expected("Complete: the query ran once on every node, all at once", DONE),
    "agent-update": Expected(
        "Complete: the update ran on every worker node, zone by zone in waves of 20 %", DONE
    ),
    "kernel-update": Expected(
        "Complete: every worker node cordoned, drained, updated and uncordoned, one node in "
        "ten at a time, inside its maintenance window",
        DONE,
    ),
    "node-agent": Expected(
        "past its canary: the change board confirmed the rollout, the 2 canary nodes passed "
        "two 30 s health windows, the chat approved the promotion, and a load test passes "
        "before each wave (the waves after the second, 60 s each, go on while the demo moves on)",
        frozenset({Outcome.WAITING, Outcome.SUCCEEDED}),
        min_wave=2,
        passed_webhooks=("change-board", "approve-in-chat"),
    ),
}
"""Keyed by Job name. The windows of kernel-update are closed most hours of the week: then it
must be WaitingForWindow instead (`plan_expected`)."""


def plan_expected(name: str, spec: Mapping[str, Any], now: datetime) -> Expected:
    """What the example Job `name` with `spec` must reach when looked at `now`."""
    if name not in EXPECTED:
        raise DemoError(
            f"the example Job {name!r} has no entry in the demo's EXPECTED "
            "(src/nodewave/localcluster/expectations.py): say what it must reach"
        )
    expected = EXPECTED[name]
    windows = JobSpec.model_validate(spec).rollout.maintenance_windows
    if not windows:
        return expected
    is_open, opens_at = evaluate_windows(windows, now)
    if is_open:
        return expected
    return replace(
        expected,
        says=f"WaitingForWindow: no maintenance window is open now, the next "
        f"{describe_opening(opens_at)}; then {expected.says}",
        outcomes=frozenset({Outcome.PAUSED}),
        phase=RolloutPhase.WAITING_FOR_WINDOW,
        message=describe_opening(opens_at),
    )


def evaluate_expected(expected: Expected, job: Mapping[str, Any]) -> str | None:
    """None when the Job (as the API returns it) reached what is expected, else what it
    shows instead."""
    gate = evaluate_job(job)
    if gate.outcome not in expected.outcomes:
        return f"{gate.outcome.value} ({gate.message})"
    rollout = RolloutStatus.model_validate((job.get("status") or {}).get("rollout") or {})
    if expected.phase is not None and rollout.phase is not expected.phase:
        return f"phase {rollout.phase}, expected {expected.phase.value}"
    if expected.message not in rollout.message:
        return f"its message {rollout.message!r} does not say {expected.message!r}"
    if gate.outcome is not Outcome.WAITING:
        # Done: every gate it needed passed (on two nodes the canary is every node, and no
        # promotion is asked for).
        return None
    if rollout.wave < expected.min_wave:
        return f"at wave {rollout.wave}: {rollout.message}"
    passed = {w.name for w in rollout.webhooks if w.phase is WebhookPhase.PASSED}
    missing = [name for name in expected.passed_webhooks if name not in passed]
    if missing:
        return f"webhooks not passed yet: {', '.join(missing)}"
    return None
