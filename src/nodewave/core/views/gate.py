"""Whether a Job's rollout has ended, and how: the verdict `kubectl nodewave status --watch`
exits on, so a CI pipeline can gate on `kubectl apply -f job.yaml && kubectl nodewave status
job --watch` (docs/design.md §3.4).

Modelled on `kubectl argo rollouts status` and `kubectl rollout status`, with their lesson that
a gate must never pass early or on a failure:
- Nothing is judged before the operator has observed the spec's generation: right after an
  apply, the status still describes the previous spec (`status.observedGeneration`).
- A refused spec (Stalled: an invalid selector, host access not allowed) and a rollout that
  rolled back or stopped failed (Failed) are failures.
- The rollout succeeded when the current version is the stable one: it completed its waves
  (a first version: it settled on every node). A run-to-completion Job (Query, Update, Config)
  succeeded only if none of its executions failed; a Pipeline may complete with failures within
  its failure budget (they are reported, not fatal: the budget is the user's stated tolerance).
- A canary awaiting promotion and a paused rollout wait for a person: the watch waits too, or
  ends there with `until_paused` (a pipeline that promotes in a later stage).
- Everything else (progressing, rolling back) is still going.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from nodewave.core.vocabulary import reasons as R
from nodewave.models.job import JobStatus, RolloutPhase

P = RolloutPhase


class Outcome(Enum):
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Gate:
    outcome: Outcome
    message: str


def evaluate_gate(generation: int, status: JobStatus | None, *, completes: bool) -> Gate:
    """The rollout's outcome so far. `completes`: the Job's type runs to completion."""
    if status is None or status.observed_generation is None:
        return Gate(Outcome.WAITING, "the operator has not reported on this Job yet")
    if status.observed_generation < generation:
        return Gate(
            Outcome.WAITING,
            f"waiting for the operator to observe generation {generation} "
            f"(observed {status.observed_generation})",
        )
    stalled, reason, why = _condition(status, R.STALLED)
    if stalled == "True":
        return Gate(Outcome.FAILED, f"{reason}: {why}")
    rollout = status.rollout
    current = status.current_version
    phase = rollout.phase if rollout is not None and rollout.version == current else None
    message = rollout.message if rollout is not None else ""
    # Held until a person or another system acts (a step's timed pause and the bake end by
    # themselves: waiting, not paused).
    if phase in (P.AWAITING_CONFIRMATION, P.AWAITING_PROMOTION, P.PAUSED, P.WAITING_FOR_WINDOW):
        return Gate(Outcome.PAUSED, f"{phase.value}: {message}")
    if status.target_nodes == 0 and _condition(status, R.READY)[0] == "True":
        return Gate(Outcome.SUCCEEDED, "the selector matches no node: nothing to roll out")
    if current is None or status.stable_version != current:
        return Gate(Outcome.WAITING, f"{phase.value}: {message}" if phase else message)
    return _evaluate_done(status, current, completes)


def _condition(status: JobStatus, type_: str) -> tuple[str, str, str]:
    found = next((c for c in status.conditions if c.type == type_), None)
    return (found.status, found.reason, found.message) if found else ("Unknown", "", "")


def _evaluate_done(status: JobStatus, version: int, completes: bool) -> Gate:
    """The current version is the stable one: its rollout is over."""
    if completes:
        done, reason, message = _condition(status, R.COMPLETE)
        if done != "True":
            return Gate(Outcome.WAITING, f"version {version}: {message}")
        if reason == R.SOME_FAILED:
            return Gate(Outcome.FAILED, f"version {version}: {message}")
        return Gate(Outcome.SUCCEEDED, f"version {version}: {message}")
    ready, _, message = _condition(status, R.READY)
    note = "" if ready == "True" else " (within the failure budget)"
    return Gate(Outcome.SUCCEEDED, f"version {version} rolled out: {message}{note}")
