"""Leader election decided purely (core/operator/leader.py): each rule at its boundary, and the law it
exists for, checked over random schedules: two replicas never act at the same time."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodewave.core.operator.leader import (
    LeaderTiming,
    LeaseRecord,
    Seen,
    build_release,
    evaluate_leading,
    evaluate_lease,
    evaluate_seen,
)
from nodewave.kube.leader import build_lease_spec, parse_lease
from tests.unit.builders import at

T = LeaderTiming()
HELD = LeaseRecord("b", 15, at(0), at(0), 3)


def take(current: LeaseRecord | None, seen: Seen | None, now: float) -> LeaseRecord | None:
    return evaluate_lease(current, seen, "a", T, now, at(100 + now))


def test_no_lease_is_taken_as_the_first_holder() -> None:
    assert take(None, None, 5) == LeaseRecord("a", 15, at(105), at(105), 0)


def test_a_lease_held_by_another_waits_its_whole_duration_on_our_clock() -> None:
    seen = Seen(HELD, changed_at=2.0)
    assert take(HELD, seen, 16.99) is None
    assert take(HELD, seen, 17.0) == LeaseRecord("a", 15, at(117), at(117), 4)


def test_a_record_seen_for_the_first_time_starts_our_clock_now() -> None:
    """Their renewTime says nothing on our clock: a newly seen record counts from now."""
    assert take(HELD, None, 1000) is None
    assert take(HELD, Seen(LeaseRecord("b", 15), 0.0), 1000) is None, "a different record"


def test_our_own_lease_is_renewed_keeping_its_acquire_time() -> None:
    mine = LeaseRecord("a", 15, at(1), at(50), 2)
    assert take(mine, Seen(mine, 0.0), 3) == LeaseRecord("a", 15, at(1), at(103), 2)


def test_a_released_lease_is_taken_at_once() -> None:
    released = build_release(HELD, at(9))
    assert released == LeaseRecord("", 1, at(0), at(9), 3)
    assert take(released, None, 0) == LeaseRecord("a", 15, at(100), at(100), 4)


def test_seen_restarts_its_clock_only_when_the_record_changes() -> None:
    first = evaluate_seen(HELD, None, 3.0)
    assert first == Seen(HELD, 3.0)
    assert evaluate_seen(HELD, first, 9.0) is first
    renewed = LeaseRecord("b", 15, at(0), at(5), 3)
    assert evaluate_seen(renewed, first, 9.0) == Seen(renewed, 9.0)
    assert evaluate_seen(None, first, 9.0) is None


def test_a_leader_acts_until_its_renew_deadline_and_not_after() -> None:
    assert evaluate_leading(20.0, T, 29.99)
    assert not evaluate_leading(20.0, T, 30.0)
    assert not evaluate_leading(None, T, 0.0)


@pytest.mark.parametrize(
    ("lease", "renew", "retry"), [(15, 15, 2), (15, 10, 10), (15, 10, 0), (10, 15, 2)]
)
def test_timings_that_would_allow_two_leaders_are_refused(
    lease: float, renew: float, retry: float
) -> None:
    with pytest.raises(ValueError, match=r"^leader election needs 0 < retry period < renew"):
        LeaderTiming(lease, renew, retry)


def test_sub_second_timings_are_allowed() -> None:
    assert LeaderTiming(2, 1.5, 0.3).retry_period == 0.3  # what the chaos suite runs with


@dataclass
class Replica:
    name: str
    seen: Seen | None = None
    last_renewed: float | None = None


@settings(max_examples=300)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.floats(0, 12), st.booleans(), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
def test_two_replicas_never_act_at_once(steps: list[tuple[str, float, bool, bool]]) -> None:
    """Random schedules: a replica wakes after a pause (a GC stall, a slow network), reads the
    Lease, and writes what `evaluate_lease` says; a write fails when the Lease changed since the
    read (resourceVersion), or when the network drops it (`lost`). A leader counts its term
    from before its write was sent. At no instant may both believe they lead."""
    lease: LeaseRecord | None = None
    version = 0
    replicas = {"a": Replica("a"), "b": Replica("b")}
    now = 0.0
    terms: list[tuple[str, float, float]] = []  # (replica, from, until) of each acting period
    for who, pause, lost, stale in steps:
        now += pause
        r = replicas[who]
        read, read_version = lease, version
        if stale and r.seen is not None:  # acts on what it read before the pause
            read, read_version = r.seen.record, -1
        r.seen = evaluate_seen(read, r.seen, now)
        sent = now
        wanted = evaluate_lease(read, r.seen, who, T, now, at(now))
        if wanted is None or lost or read_version != version:
            continue
        lease, version = wanted, version + 1
        r.seen = evaluate_seen(lease, r.seen, now)
        if r.last_renewed is None or not evaluate_leading(r.last_renewed, T, now):
            terms.append((who, sent, sent + T.renew_deadline))
        else:
            holder, start, _ = terms[-1]
            assert holder == who
            terms[-1] = (who, start, sent + T.renew_deadline)
        r.last_renewed = sent
    for (x, _, x_end), (y, y_start, _) in pairwise(terms):
        if x != y:
            assert y_start >= x_end, f"{y} acted from {y_start} while {x} acted until {x_end}"


def test_a_lease_reads_back_as_written() -> None:
    record = LeaseRecord("pod-a", 15, at(1), at(2), 4)
    assert parse_lease({"spec": build_lease_spec(record)}) == record
    released = build_release(record, at(3))
    assert build_lease_spec(released)["holderIdentity"] is None
    assert parse_lease({"spec": build_lease_spec(released)}) == released
    assert parse_lease({}) == LeaseRecord("", 0)
