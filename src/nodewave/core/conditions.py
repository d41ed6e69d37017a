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
    out: list[Condition] = []
    found = False
    for c in conditions:
        if c.type != type_:
            out.append(c)
            continue
        found = True
        changed_at = c.last_transition_time if c.status == status else now
        out.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                observed_generation=generation,
                last_transition_time=changed_at,
            )
        )
    if not found:
        out.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                observed_generation=generation,
                last_transition_time=now,
            )
        )
    return out


def remove_condition(conditions: list[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]


def condition_status(conditions: list[Condition], type_: str) -> str | None:
    return next((c.status for c in conditions if c.type == type_), None)
