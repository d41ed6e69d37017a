"""Events as `kubectl describe` shows them, at a few writes per rollout instead of one per node.

At 1,000 nodes one Event per execution transition was a quarter of the operator's API writes,
and an Event queue that overflowed under load dropped whatever came next, rollout decisions
included. client-go's EventCorrelator solves the first half for the built-in controllers by
folding similar Events on one object into one Event with a count; the executions of a Job are
a thousand objects, so nodewave folds their normal transitions onto the Job instead. Three kinds:

- **Decision** (`record_decision`): the Job's own Events (rollout started, wave started and
  complete, promoted, failed, rolling back, rolled back, ready...). Never dropped and never
  folded; retried on errors that may pass (5xx, 429, a connection reset) with backoff.
- **Summary** (`record_summary`): an execution's normal transition (Pending, Running,
  Completed, Stopped...). One Event on the Job per (version, type, reason) carries the count
  (`kubectl describe` prints "x1000 over 14s") and the latest execution's message. The first
  is written at once; later ones raise the count at most every `SUMMARY_FLUSH_SECONDS`. After
  `SUMMARY_WINDOW_SECONDS` without one, the next starts a new Event, as the correlator does.
  Each execution's own history stays in its `status.history`.
- **Trouble** (`record_trouble`): an execution's warning transition (Failed, Degraded, Lost),
  on the Execution itself, one each: that is where someone looking at a broken node reads.
  More than `MAX_PENDING_TROUBLE` waiting: dropped and counted in
  `nodewave_events_dropped_total{reason}` — they never delay or displace a decision.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nodewave import API_VERSION
from nodewave.core.vocabulary.actions import EventIntent
from nodewave.kube.client import (
    NAMESPACE_TERMINATING,
    Kube,
    KubeError,
    NotLeaderError,
    build_event,
    event_time,
    path_of,
)

log = logging.getLogger("nodewave.events")

IN_FLIGHT = 8
"""Event writes at once: enough to keep up, too few to crowd out the writes that matter."""
MAX_PENDING_TROUBLE = 1_000
SUMMARY_FLUSH_SECONDS = 5.0
SUMMARY_WINDOW_SECONDS = 600.0
DECISION_ATTEMPTS = 6
DECISION_BACKOFF_SECONDS = 0.5


def is_transient(error: Exception) -> bool:
    """Worth another try: the API server overloaded or restarting, the connection cut."""
    if isinstance(error, KubeError):
        return error.status in (0, 429) or error.status >= 500
    return isinstance(error, OSError)  # TimeoutError included


@dataclass
class Involved:
    """The object an Event is about."""

    kind: str
    namespace: str
    name: str
    uid: str

    def to_api(self) -> dict[str, str]:
        return {"apiVersion": API_VERSION, "kind": self.kind, "name": self.name,
                "namespace": self.namespace, "uid": self.uid}  # fmt: skip


@dataclass
class _Summary:
    involved: Involved
    version: int
    intent: EventIntent
    """The latest execution's Event."""
    count: int
    first: datetime
    last: datetime
    seen: float
    """Monotonic time of the latest record."""
    name: str = ""
    """The Event's name once created."""
    written: int = 0
    """The count the API has."""
    task: asyncio.Task[None] | None = None


def build_summary_message(version: int, count: int, latest: str) -> str:
    if count == 1:
        return f"version {version}: {latest}"[:1024]
    return f"version {version}, {count} executions; latest: {latest}"[:1024]


@dataclass
class EventRecorder:
    kube: Kube
    instance: str
    clock: Callable[[], datetime]
    dropped: Callable[[str], None] = lambda reason: None
    """Told the reason of each trouble Event dropped (metrics)."""
    flush_seconds: float = SUMMARY_FLUSH_SECONDS
    window_seconds: float = SUMMARY_WINDOW_SECONDS
    backoff_seconds: float = DECISION_BACKOFF_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _trouble_pending: int = 0
    _summaries: dict[tuple[str, int, str, str], _Summary] = field(default_factory=dict)
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT))
    """For the Job's Events (decisions, summaries)."""
    _trouble_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT))
    """For the executions' trouble: a backlog of it never holds up a decision."""

    def record_decision(self, involved: Involved, intent: EventIntent) -> None:
        self._spawn(self._write_decision(involved, intent))

    def record_trouble(self, involved: Involved, intent: EventIntent) -> None:
        if self._trouble_pending >= MAX_PENDING_TROUBLE:
            self.dropped(intent.reason)
            log.debug("dropped Event %s on %s: queue full", intent.reason, involved.name)
            return
        self._trouble_pending += 1
        self._spawn(self._write_trouble(involved, intent))

    def record_summary(self, involved: Involved, version: int, intent: EventIntent) -> None:
        key = (involved.uid, version, intent.type, intent.reason)
        now, seen = self.clock(), self.monotonic()
        s = self._summaries.get(key)
        if s is None or seen - s.seen > self.window_seconds:
            if s is not None and s.task is not None:
                s.task.cancel()
            # Summaries of versions long gone would pile up over months of rollouts.
            for old in [
                k for k, v in self._summaries.items() if seen - v.seen > self.window_seconds
            ]:
                self._summaries.pop(old)
            s = _Summary(involved, version, intent, 0, now, now, seen)
            self._summaries[key] = s
        s.count += 1
        s.intent, s.last, s.seen = intent, now, seen
        if s.task is None:
            s.task = self._spawn(self._write_summary(key, s))

    def forget_job(self, namespace: str, name: str) -> None:
        """The Job is gone: its summaries go with it."""
        for key, s in list(self._summaries.items()):
            if (s.involved.namespace, s.involved.name) == (namespace, name):
                del self._summaries[key]
                if s.task is not None:
                    s.task.cancel()

    async def drain(self) -> None:
        """Write what is pending, the summaries' latest counts at once rather than at their
        next flush (shutdown must not wait for it)."""
        waiting = [s for s in self._summaries.values() if s.task is not None]
        for s in waiting:
            assert s.task is not None
            s.task.cancel()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await asyncio.gather(*(self._flush(s) for s in waiting if s.written < s.count))

    # ---- writing -----------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _create(
        self, involved: Involved, intent: EventIntent, trouble: bool = False, **fields: Any
    ) -> str:
        body = build_event(involved.to_api(), intent, self.instance, self.clock())
        body.update(fields)
        async with self._trouble_slots if trouble else self._slots:
            await self.kube.create(path_of("events", involved.namespace), body)
        return str(body["metadata"]["name"])

    async def _write_decision(self, involved: Involved, intent: EventIntent) -> None:
        for attempt in range(DECISION_ATTEMPTS):
            try:
                await self._create(involved, intent)
                return
            except NotLeaderError:
                return  # deposed: the decision is no longer this replica's to announce
            except (KubeError, OSError) as e:
                if isinstance(e, KubeError) and NAMESPACE_TERMINATING in e.causes:
                    return  # the Job goes with its namespace: no one will read the Event
                if not is_transient(e) or attempt == DECISION_ATTEMPTS - 1:
                    log.warning("Event %s on %s not recorded: %s", intent.reason, involved.name, e)
                    return
                await asyncio.sleep(self.backoff_seconds * 2**attempt)

    async def _write_trouble(self, involved: Involved, intent: EventIntent) -> None:
        try:
            await self._create(involved, intent, trouble=True)
        except (KubeError, NotLeaderError, OSError) as e:
            log.debug("Event %s on %s not recorded: %s", intent.reason, involved.name, e)
        finally:
            self._trouble_pending -= 1

    async def _write_summary(self, key: tuple[str, int, str, str], s: _Summary) -> None:
        """Bring the API's count up to ours, then at most once per flush interval while more
        come; the task ends after an interval with nothing new."""
        try:
            while s.written < s.count and self._summaries.get(key) is s:
                if not await self._flush(s):
                    return
                await asyncio.sleep(self.flush_seconds)
        finally:
            s.task = None

    async def _flush(self, s: _Summary) -> bool:
        """One write of the summary's count; False when this replica may no longer write."""
        count = s.count
        message = build_summary_message(s.version, count, s.intent.message)
        stamp = event_time(s.last)
        try:
            if not s.name or not await self._patch_summary(s, count, message, stamp):
                s.name = await self._create(
                    s.involved,
                    EventIntent(s.intent.type, s.intent.reason, message),
                    metadata=self._summary_metadata(s),
                    count=count,
                    firstTimestamp=event_time(s.first),
                    lastTimestamp=stamp,
                )
            s.written = count
        except NotLeaderError:
            return False
        except (KubeError, OSError) as e:
            log.debug("summary Event %s not written: %s", s.intent.reason, e)
        return True

    def _summary_metadata(self, s: _Summary) -> dict[str, str]:
        # Named by what it folds, so a retried create after a lost response is AlreadyExists
        # rather than a second Event; the start keeps a later window's Event distinct.
        digest = hashlib.sha256(
            f"{s.version}/{s.intent.type}/{s.intent.reason}/{s.first.isoformat()}/{s.seen}".encode()
        ).hexdigest()[:10]
        return {"name": f"{s.involved.name}.{digest}", "namespace": s.involved.namespace}

    async def _patch_summary(self, s: _Summary, count: int, message: str, stamp: str) -> bool:
        """False when the Event is gone (its TTL passed): the caller creates it again."""
        async with self._slots:
            updated = await self.kube.merge_patch(
                path_of("events", s.involved.namespace, s.name),
                {"count": count, "message": message, "lastTimestamp": stamp},
            )
        return updated is not None
