"""`spec.priority` and fairness: when the operator has a backlog, a higher-priority Job's API
requests go first, and Jobs of one priority take turns.

The backlog is the bound on API requests in flight (`--max-inflight`): every Job's passes run
concurrently, so what waits is their requests, not the passes. A free slot goes to the waiting
request of the highest priority, so a high-priority Job placed while a large one is
mid-placement overtakes it instead of queueing behind a thousand creates.

Among equal priorities the Jobs (flows) share the slots by start-time fair queuing, as the API
server's own Priority and Fairness does for its clients: each waiting request gets a tag, one
past its flow's previous waiting request or past the last tag granted, whichever is later, and
the lowest tag goes first. A flow's own requests keep their order; a 10-node Job arriving while a
5,000-node Job has a thousand creates waiting gets every other slot, not the thousand-and-first
(measured by bench/fleet.py). First come first served is what one flow alone sees.

The priority and the flow travel in context variables that each Job's pass sets
(`Reconciler.reconcile`): asyncio copies the context into the tasks a pass starts, so every
request it makes, however deep, carries them without a parameter on every call.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from contextvars import ContextVar

REQUEST_PRIORITY: ContextVar[int] = ContextVar("nodewave_request_priority", default=0)
REQUEST_FLOW: ContextVar[Hashable] = ContextVar("nodewave_request_flow", default=None)
"""Whose request it is (a Job's key): flows of one priority take turns."""
MAX_PRIORITY = 1000
"""The highest priority a Job gets by default (`--max-priority`, chart `maxPriority`)."""


def effective_priority(requested: int, cap: int) -> int:
    """A Job's priority as the slots use it: at most `cap`. `spec.priority` is any Job
    author's to write; uncapped, one tenant's 1e9 would take every free slot before anyone
    else's work (issue 26). Within the cap, order among Jobs is as they asked."""
    return min(requested, cap)


class PrioritySlots:
    """A semaphore whose free slot goes to the highest-priority waiter, flows of one priority
    in turn (start-time fair queuing), each flow's own waiters in arrival order."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one slot")
        self._free = size
        self._waiters: list[tuple[int, int, int, Hashable, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._levels: dict[int, tuple[int, int]] = {}
        """Each priority with requests waiting: (how many wait, the latest tag granted at it).
        A flow that had nothing waiting at a priority starts at that tag."""
        self._last: dict[tuple[int, Hashable], int] = {}
        """Each flow's latest tag still waiting, by priority (dropped when none waits)."""

    @asynccontextmanager
    async def slot(
        self, priority: int | None = None, flow: Hashable | None = None
    ) -> AsyncIterator[None]:
        await self._acquire(
            REQUEST_PRIORITY.get() if priority is None else priority,
            REQUEST_FLOW.get() if flow is None else flow,
        )
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int, flow: Hashable) -> None:
        # A slot is only ever free while nobody waits: `_release` hands it to a waiter first.
        if self._free > 0:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting, clock = self._levels.get(priority, (0, 0))
        tag = max(self._last.get((priority, flow), 0), clock) + 1
        self._last[priority, flow] = tag
        self._levels[priority] = (waiting + 1, clock)
        heapq.heappush(self._waiters, (-priority, tag, next(self._arrivals), flow, granted))
        try:
            await granted
        except asyncio.CancelledError:
            # Cancelled after the slot was handed over: pass it on, or it is lost for good.
            if granted.done() and not granted.cancelled():
                self._release()
            raise

    def _release(self) -> None:
        while self._waiters:
            negative, tag, _, flow, granted = heapq.heappop(self._waiters)
            priority = -negative
            if self._last.get((priority, flow)) == tag:  # the flow's last one waiting
                del self._last[priority, flow]
            waiting, clock = self._levels.pop(priority)
            if waiting > 1:
                self._levels[priority] = (waiting - 1, max(clock, tag))
            if not granted.done():  # a cancelled waiter's future is done: skip it
                granted.set_result(None)
                return
        self._free += 1
