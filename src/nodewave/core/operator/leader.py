"""Leader election on a `coordination.k8s.io/v1` Lease, decided purely (docs/design.md §4.1).

The rules are client-go's (`tools/leaderelection`), which every kube controller follows:
- A replica may take the Lease when nobody holds it (no Lease yet, or released: no holder),
  when it holds it already (a renewal), or when the holder has not renewed it for
  `leaseDurationSeconds`, measured on *this* replica's clock from the moment it last saw the
  record change: clocks of two machines are never compared.
- A leader renews every `retry_period`; when no renewal succeeded for `renew_deadline` it stops
  acting at once. As `renew_deadline` < `lease_duration`, it has stopped before any other replica
  can take the Lease: two replicas never act at the same time.
- Releasing (on SIGTERM) leaves the Lease without a holder and with a 1 s duration, so the
  standby takes it at its next try instead of waiting out the lease.

Defaults are client-go's: lease 15 s, renew deadline 10 s, retry 2 s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LeaderTiming:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, "
                f"got {self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The Lease's spec, as client-go's LeaderElectionRecord."""

    holder: str = ""
    lease_duration_seconds: int = 15
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0


@dataclass(frozen=True, slots=True)
class Seen:
    """The record this replica last saw, and when (its own monotonic clock) it last changed."""

    record: LeaseRecord
    changed_at: float


def evaluate_lease(
    current: LeaseRecord | None,
    seen: Seen | None,
    me: str,
    timing: LeaderTiming,
    now: float,
    wall: datetime,
) -> LeaseRecord | None:
    """The record to write to take or renew the Lease, or None while another holds it.

    `current`: the Lease as read now (None: there is none); `seen`: as this replica saw it
    before; `now`: this replica's monotonic clock; `wall`: the time written into the record."""
    if current is not None and current.holder and current.holder != me:
        changed_at = seen.changed_at if seen is not None and seen.record == current else now
        if now < changed_at + current.lease_duration_seconds:
            return None
    mine = current is not None and current.holder == me
    base = current or LeaseRecord()
    return replace(
        base,
        holder=me,
        lease_duration_seconds=round(timing.lease_duration),
        acquire_time=base.acquire_time if mine else wall,
        renew_time=wall,
        transitions=base.transitions + (1 if current is not None and not mine else 0),
    )


def evaluate_seen(current: LeaseRecord | None, seen: Seen | None, now: float) -> Seen | None:
    """What this replica has seen after reading `current`: a changed record restarts its clock."""
    if current is None:
        return None
    if seen is not None and seen.record == current:
        return seen
    return Seen(current, now)


def build_release(record: LeaseRecord, wall: datetime) -> LeaseRecord:
    """The record a leader leaves behind on shutdown: no holder, a 1 s lease."""
    return replace(record, holder="", lease_duration_seconds=1, renew_time=wall)


def evaluate_leading(last_renewed: float | None, timing: LeaderTiming, now: float) -> bool:
    """Whether a replica whose last successful renewal was at `last_renewed` may still act."""
    return last_renewed is not None and now < last_renewed + timing.renew_deadline
