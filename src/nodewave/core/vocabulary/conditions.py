"""metav1.Condition bookkeeping: a condition's lastTransitionTime moves only when its status does."""

from __future__ import annotations

from datetime import datetime

from nodewave.models.base import Condition, ConditionStatus


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """A copy of `conditions` with `type_` set; other conditions keep their order."""
    previous = next((c for c in conditions if c.type == type_), None)
    changed_at = (
        previous.last_transition_time if previous is not None and previous.status == status else now
    )
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=changed_at,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]


def condition_status(conditions: list[Condition], type_: str) -> str | None:
    return next((c.status for c in conditions if c.type == type_), None)
