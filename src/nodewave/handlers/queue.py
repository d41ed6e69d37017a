"""A work queue of Job keys, one worker coroutine per Job (like a controller-runtime queue).

Events only mark a Job dirty; its worker runs one pass at a time, so passes over one Job never
overlap, and a burst of events (1,000 pods turning Ready) costs a handful of passes, not 1,000.
Each pass says when to look again (a timeout or a health window); a failing pass backs off
exponentially. Different Jobs proceed concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import timedelta

log = logging.getLogger("nodewave.queue")

Reconcile = Callable[[Hashable], Awaitable[timedelta | None]]


class WorkQueue:
    def __init__(
        self, reconcile: Reconcile, *, debounce: float = 0.05, max_backoff: float = 60.0
    ) -> None:
        self._reconcile = reconcile
        self._debounce = debounce
        self._max_backoff = max_backoff
        self._dirty: dict[Hashable, asyncio.Event] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._closed = False
        self._paused = False

    def enqueue(self, key: Hashable) -> None:
        if self._closed or self._paused:
            return
        event = self._dirty.get(key)
        if event is None:
            event = self._dirty[key] = asyncio.Event()
        event.set()
        if key not in self._workers:
            self._workers[key] = asyncio.get_running_loop().create_task(
                self._work(key, event), name=f"reconcile {key}"
            )

    async def close(self) -> None:
        """Cancel every pass in flight and wait for them; nothing runs after."""
        self._closed = True
        running = list(self._workers.values())
        self.pause()
        await asyncio.gather(*running, return_exceptions=True)

    def pause(self) -> None:
        """Drop every key and cancel every pass in flight (a standby: leadership lost); new
        keys are ignored until `resume`."""
        self._paused = True
        for task in self._workers.values():
            task.cancel()
        self._workers.clear()
        self._dirty.clear()

    def resume(self) -> None:
        self._paused = False

    async def _work(self, key: Hashable, event: asyncio.Event) -> None:
        backoff = 0.5
        wait: float | None = 0.0
        try:
            while True:
                timer = False
                if wait is None or wait > 0:
                    try:
                        await asyncio.wait_for(event.wait(), timeout=wait)
                    except TimeoutError:
                        timer = not event.is_set()
                if not timer:  # a timer wake (a health window's end) has no burst to wait for
                    await asyncio.sleep(self._debounce)  # let a burst of events land in one pass
                event.clear()
                try:
                    requeue = await self._reconcile(key)
                except Exception:
                    log.exception("reconciling %s failed; retrying in %.1fs", key, backoff)
                    wait = backoff
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = 0.5
                if requeue is None:
                    return
                wait = max(requeue.total_seconds(), 0.0)
        finally:
            if self._workers.get(key) is asyncio.current_task():  # not a successor after pause
                del self._workers[key]
                self._dirty.pop(key, None)
