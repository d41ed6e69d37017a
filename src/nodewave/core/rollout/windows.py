"""Maintenance windows (`rollout.maintenanceWindows`): when a rollout or a restart may start a
wave, as system-upgrade-controller's `spec.window` and kured's start and end times.

A window is wall-clock time in its time zone (tzdata through zoneinfo, never a fixed offset):
it is open at an instant when the local time there is at or after `start` and before `end` on
one of its `days` (every day when none are given); an `end` at or before `start` crosses
midnight, and the part after midnight belongs to the day it started on. Across a daylight
saving change this is what a person reading a wall clock expects:
- Spring forward (Europe/Berlin, 29 March 2026, 02:00 → 03:00): a window from 02:30 opens at
  03:00, the first instant whose local time is past 02:30; one from 02:00 to 02:30 does not
  open that day at all (those times do not exist).
- Fall back (25 October 2026, 03:00 → 02:00): the hour from 02:00 to 03:00 happens twice, and a
  window from 02:30 to 03:00 is open both times.

Worked example (Europe/Berlin, Mon-Fri, 22:00-04:00): Friday 23:30 is open, Saturday 03:00 is
open (Friday's window), Saturday 22:00 is closed; from Saturday noon the next opening is
Monday 22:00.

Pure: every function takes the instant to judge; tests/unit/test_windows.py holds the tables and
the hypothesis properties across time zones with daylight saving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nodewave.models.job import MaintenanceWindow

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SEARCH_DAYS = range(-1, 9)
"""Local days around now whose openings are candidates: yesterday's (it may cross midnight)
through next week's (a window on one weekday opens within 8 days)."""


class WindowError(ValueError):
    """A window the API server accepted but the operator cannot use (an unknown time zone)."""


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]
    """Weekdays (0 Monday) it opens on; all seven when the spec names none."""
    start: time
    end: time
    zone: ZoneInfo

    def on(self, weekday: int) -> bool:
        return weekday % 7 in self.days

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        wall, day = local.time(), local.weekday()
        if self.start < self.end:
            return self.on(day) and self.start <= wall < self.end
        return (self.on(day) and wall >= self.start) or (self.on(day - 1) and wall < self.end)

    def first_open(self, lo: datetime, hi: datetime) -> datetime | None:
        """The first open instant in [lo, hi] when `hi` is open (to the second), else None.
        lo and hi are a local start time read with each fold: the same instant normally,
        an hour apart when the time falls in a daylight saving gap."""
        if self.is_open(lo):
            return lo
        if not self.is_open(hi):
            return None
        while hi - lo > timedelta(seconds=1):
            mid = lo + (hi - lo) / 2
            lo, hi = (lo, mid) if self.is_open(mid) else (mid, hi)
        return hi.replace(microsecond=0) if self.is_open(hi.replace(microsecond=0)) else hi


def build_windows(specs: Sequence[MaintenanceWindow]) -> tuple[Window, ...]:
    """The windows of a spec; WindowError names the first unusable one."""
    windows = []
    for i, spec in enumerate(specs):
        try:
            zone = ZoneInfo(spec.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise WindowError(
                f"maintenanceWindows[{i}].timeZone: unknown time zone {spec.time_zone!r} "
                "(an IANA name such as Europe/Berlin or UTC)"
            ) from e
        days = frozenset(WEEKDAYS.index(d.value) for d in spec.days) or frozenset(range(7))
        windows.append(
            Window(days, time.fromisoformat(spec.start), time.fromisoformat(spec.end), zone)
        )
    return tuple(windows)


def is_open(windows: Sequence[Window], at: datetime) -> bool:
    """Whether a wave may start at `at`: always without windows."""
    return not windows or any(w.is_open(at) for w in windows)


def next_opening(windows: Sequence[Window], now: datetime) -> datetime | None:
    """The first instant after `now` at which a window opens, in that window's time zone; None
    without windows or when none opens within the next eight days."""
    found: list[datetime] = []
    for w in windows:
        today = now.astimezone(w.zone).date()
        for offset in _SEARCH_DAYS:
            day = today + timedelta(days=offset)
            if not w.on(day.weekday()):
                continue
            local = datetime.combine(day, w.start)
            lo, hi = sorted(local.replace(tzinfo=w.zone, fold=f).astimezone(UTC) for f in (0, 1))
            opens = w.first_open(lo, hi)
            if opens is not None and opens > now:
                found.append(opens.astimezone(w.zone))
                break  # later days of this window open later
    return min(found, default=None)


def evaluate_windows(
    specs: Sequence[MaintenanceWindow], now: datetime
) -> tuple[bool, datetime | None]:
    """Whether a wave may start now, and if not, when the next window opens (what a pass and
    `kubectl nodewave plan` go by); WindowError when a window cannot be used."""
    windows = build_windows(specs)
    if is_open(windows, now):
        return True, None
    return False, next_opening(windows, now)


def describe_opening(opens_at: datetime | None) -> str:
    """For status messages: "opens at 2026-12-07T22:00:00+01:00 (Europe/Berlin)"."""
    if opens_at is None:
        return "no window opens in the next 8 days"
    zone = getattr(opens_at.tzinfo, "key", "UTC")
    return f"opens at {opens_at.isoformat()} ({zone})"
