"""Maintenance windows (core/rollout/windows.py): wall-clock tables around daylight saving changes,
then properties over time zones that have them, from tzdata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nodewave.core.rollout.windows import (
    WEEKDAYS,
    WindowError,
    build_windows,
    describe_opening,
    is_open,
    next_opening,
)
from nodewave.models.job import MaintenanceWindow

BERLIN = ZoneInfo("Europe/Berlin")


def windows(*specs: dict[str, Any]) -> Any:
    return build_windows([MaintenanceWindow.model_validate(s) for s in specs])


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


NIGHTS = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "22:00", "end": "04:00",
          "timeZone": "Europe/Berlin"}  # fmt: skip
"""The module docstring's worked example. 4 December 2026 is a Friday."""

OPEN = [
    pytest.param(NIGHTS, berlin(2026, 12, 4, 23, 30), True, id="friday-night"),
    pytest.param(NIGHTS, berlin(2026, 12, 5, 3, 0), True, id="saturday-early-is-fridays"),
    pytest.param(NIGHTS, berlin(2026, 12, 5, 4, 0), False, id="end-is-exclusive"),
    pytest.param(NIGHTS, berlin(2026, 12, 5, 22, 0), False, id="saturday-night-not-a-day"),
    pytest.param(NIGHTS, berlin(2026, 12, 7, 3, 59), False, id="monday-early-is-sundays"),
    pytest.param({**NIGHTS, "days": ["Sun"]}, berlin(2026, 12, 7, 3, 59), True,
                 id="sundays-window-runs-into-monday"),
    pytest.param(NIGHTS, berlin(2026, 12, 7, 22, 0), True, id="start-is-inclusive"),
    pytest.param(NIGHTS, utc(2026, 12, 4, 21, 30), True, id="any-zone-in-same-instant"),
    pytest.param({"start": "02:30", "end": "04:00", "timeZone": "Europe/Berlin"},
                 utc(2026, 3, 29, 1, 0), True, id="spring-forward-opens-at-03:00-CEST"),
    pytest.param({"start": "02:30", "end": "04:00", "timeZone": "Europe/Berlin"},
                 utc(2026, 3, 29, 0, 59, 59), False, id="spring-forward-01:59-CET-closed"),
    pytest.param({"start": "02:30", "end": "03:00", "timeZone": "Europe/Berlin"},
                 utc(2026, 10, 25, 0, 45), True, id="fall-back-first-02:45"),
    pytest.param({"start": "02:30", "end": "03:00", "timeZone": "Europe/Berlin"},
                 utc(2026, 10, 25, 1, 45), True, id="fall-back-second-02:45"),
    pytest.param({"start": "09:00", "end": "10:00"}, utc(2026, 12, 4, 9, 30), True, id="utc-default"),
    pytest.param({"start": "09:00", "end": "10:00"}, utc(2026, 12, 4, 10, 0), False,
                 id="end-is-exclusive-within-a-day"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "at", "expected"), OPEN)
def test_is_open(spec: dict[str, Any], at: datetime, expected: bool) -> None:
    assert is_open(windows(spec), at) is expected


NEXT = [
    pytest.param([NIGHTS], berlin(2026, 12, 5, 12, 0), berlin(2026, 12, 7, 22, 0),
                 id="saturday-noon-waits-for-monday"),
    pytest.param([NIGHTS], berlin(2026, 12, 4, 4, 0), berlin(2026, 12, 4, 22, 0),
                 id="just-closed-opens-tonight"),
    pytest.param([{"start": "02:30", "end": "04:00", "timeZone": "Europe/Berlin"}],
                 berlin(2026, 3, 28, 12, 0), utc(2026, 3, 29, 1, 0),
                 id="into-the-spring-gap-at-its-end"),
    pytest.param([{"start": "02:10", "end": "04:00", "timeZone": "Europe/Berlin"}],
                 berlin(2026, 3, 28, 12, 0), utc(2026, 3, 29, 1, 0),
                 id="into-the-spring-gap-to-the-second"),
    pytest.param([{"start": "02:00", "end": "02:30", "timeZone": "Europe/Berlin"}],
                 berlin(2026, 3, 28, 12, 0), berlin(2026, 3, 30, 2, 0),
                 id="a-window-inside-the-gap-skips-that-day"),
    pytest.param([NIGHTS, {"days": ["Sat"], "start": "06:00", "end": "07:00",
                           "timeZone": "America/New_York"}],
                 berlin(2026, 12, 5, 4, 30), utc(2026, 12, 5, 11, 0),
                 id="the-earliest-of-two-windows"),
]  # fmt: skip


@pytest.mark.parametrize(("specs", "now", "expected"), NEXT)
def test_next_opening(specs: list[dict[str, Any]], now: datetime, expected: datetime) -> None:
    opens = next_opening(windows(*specs), now)
    assert opens == expected
    assert opens is not None
    assert opens.tzinfo is not None
    assert opens.utcoffset() == opens.astimezone(ZoneInfo(str(opens.tzinfo))).utcoffset()


def test_describe_opening() -> None:
    assert describe_opening(berlin(2026, 12, 7, 22, 0)) == (
        "opens at 2026-12-07T22:00:00+01:00 (Europe/Berlin)"
    )
    assert describe_opening(utc(2026, 12, 7, 22, 0)) == "opens at 2026-12-07T22:00:00+00:00 (UTC)"
    assert describe_opening(None) == "no window opens in the next 8 days"


def test_no_windows_is_always_open_and_never_waits() -> None:
    assert is_open((), utc(2026, 1, 1))
    assert next_opening((), utc(2026, 1, 1)) is None


def test_an_unknown_time_zone_is_named() -> None:
    with pytest.raises(
        WindowError, match=r"maintenanceWindows\[1\].timeZone: unknown time zone 'Mars/Olympus'"
    ):
        windows(NIGHTS, {"start": "01:00", "end": "02:00", "timeZone": "Mars/Olympus"})


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago",
         "Asia/Kolkata", "Pacific/Chatham", "UTC"]  # fmt: skip
"""Lord Howe shifts by 30 minutes, Chatham is +12:45/+13:45, Santiago changes at midnight."""

hhmm = st.builds(
    lambda h, m: f"{h:02}:{m:02}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45])
)


@st.composite
def window_specs(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(hhmm)
    end = draw(hhmm.filter(lambda e: e != start))
    spec = {"start": start, "end": end, "timeZone": draw(st.sampled_from(ZONES))}
    if draw(st.booleans()):
        spec["days"] = draw(
            st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True)
        )
    return spec


instants = st.datetimes(datetime(2026, 1, 1), datetime(2028, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(window_specs(), min_size=1, max_size=3), now=instants, probe=st.floats(0, 1))
def test_next_opening_is_the_first_open_instant(
    specs: list[dict[str, Any]], now: datetime, probe: float
) -> None:
    """From a closed instant (the only one the engine asks about): open at the opening,
    closed a second before it and anywhere between now and then."""
    ws = windows(*specs)
    assume(not is_open(ws, now))
    opens = next_opening(ws, now)
    if opens is None:  # only windows that exist nowhere in the next week: none drawn here
        pytest.fail(f"no opening within 8 days of {now} for {specs}")
    assert opens > now
    assert is_open(ws, opens)
    # In UTC: arithmetic on an aware datetime of one zone is wall-clock arithmetic, and a
    # second before 02:30 on Lord Howe's half-hour DST start is 02:29:59, which does not exist
    # and reads as half an hour later (hypothesis found it).
    before = opens.astimezone(UTC) - timedelta(seconds=1)
    if before > now:
        assert not is_open(ws, before)
        between = now + (before - now) * probe
        assert not is_open(ws, between), f"open at {between}, before the opening {opens}"


@settings(max_examples=300, deadline=None)
@given(spec=window_specs(), at=instants)
def test_open_follows_the_wall_clock_in_the_windows_zone(
    spec: dict[str, Any], at: datetime
) -> None:
    """Shifting an instant by whole local days keeps it open or closed on days the window
    treats alike, whatever daylight saving did in between."""
    (w,) = windows({**spec, "days": list(WEEKDAYS)})
    local = at.astimezone(w.zone)
    week_later = (local.replace(tzinfo=None) + timedelta(days=7)).replace(tzinfo=w.zone)
    if week_later.astimezone(UTC).astimezone(w.zone).replace(tzinfo=None) != week_later.replace(
        tzinfo=None
    ):
        return  # that wall time does not exist a week later (a gap)
    assert w.is_open(at) == w.is_open(week_later)
