"""`spec.priority`: when the operator has a backlog, a higher-priority Job's API requests go first.

The backlog is the bound on API requests in flight (`--max-inflight`): every Job's passes run
concurrently, so what waits is their requests, not the passes. A free slot goes to the waiting
request of the highest priority, first come first served among equals, so a Job of priority 0
next to another of priority 0 behaves as before, and a high-priority Job placed while a large
one is mid-placement overtakes it instead of queueing behind a thousand creates.

The priority travels in a context variable that each Job's pass sets (`Reconciler.reconcile`):
asyncio copies the context into the tasks a pass starts, so every request it makes, however
deep, carries it without a parameter on every call.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

REQUEST_PRIORITY: ContextVar[int] = ContextVar("nodewave_request_priority", default=0)
MAX_PRIORITY = 1000
"""The highest priority a Job gets by default (`--max-priority`, chart `maxPriority`)."""


def effective_priority(requested: int, cap: int) -> int:
    """A Job's priority as the slots use it: at most `cap`. `spec.priority` is any Job
    author's to write; uncapped, one tenant's 1e9 would take every free slot before anyone
    else's work (issue 26). Within the cap, order among Jobs is as they asked."""
    return min(requested, cap)


class PrioritySlots:
    """A semaphore whose free slot goes to the highest-priority waiter (FIFO among equals)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one slot")
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @asynccontextmanager
    async def slot(self, priority: int | None = None) -> AsyncIterator[None]:
        await self._acquire(REQUEST_PRIORITY.get() if priority is None else priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        # A slot is only ever free while nobody waits: `_release` hands it to a waiter first.
        if self._free > 0:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._arrivals), granted))
        try:
            await granted
        except asyncio.CancelledError:
            # Cancelled after the slot was handed over: pass it on, or it is lost for good.
            if granted.done() and not granted.cancelled():
                self._release()
            raise

    def _release(self) -> None:
        while self._waiters:
            *_, granted = heapq.heappop(self._waiters)
            if not granted.done():  # a cancelled waiter's future is done: skip it
                granted.set_result(None)
                return
        self._free += 1
