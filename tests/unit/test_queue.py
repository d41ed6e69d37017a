"""The work queue (handlers/queue.py): one pass at a time per key, and pause/resume as
leadership comes and goes. Synchronised on events, never on sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from datetime import timedelta

from nodewave.handlers.queue import WorkQueue


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_paused_queue_cancels_its_passes_and_ignores_keys_until_resumed() -> None:
    async def scenario() -> None:
        started: list[Hashable] = []
        running = asyncio.Event()
        cancelled = asyncio.Event()
        release = asyncio.Event()

        async def reconcile(key: Hashable) -> timedelta | None:
            started.append(key)
            running.set()
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return None

        queue = WorkQueue(reconcile, debounce=0)
        queue.enqueue("a")
        await running.wait()
        queue.pause()
        await cancelled.wait()
        queue.enqueue("b")
        await asyncio.sleep(0)
        assert started == ["a"], "no pass while paused"
        queue.resume()
        running.clear()
        release.set()
        queue.enqueue("a")  # the cancelled pass's key starts afresh
        await running.wait()
        assert started == ["a", "a"]
        await queue.close()

    run(scenario())


def test_a_timer_wake_skips_the_debounce_an_event_waits_for() -> None:
    """A pass woken by its own requeue (a health window's end) runs at once; only passes woken
    by events wait the debounce, to let a burst land in one pass."""

    async def scenario() -> None:
        passes: list[Hashable] = []
        second = asyncio.Event()

        async def reconcile(key: Hashable) -> timedelta | None:
            passes.append(key)
            if len(passes) == 1:
                queue._debounce = 3600  # from now on an event-woken pass would wait an hour
                return timedelta(seconds=0.01)
            second.set()
            return None

        queue = WorkQueue(reconcile, debounce=0)
        queue.enqueue("a")
        await asyncio.wait_for(second.wait(), timeout=10)
        assert passes == ["a", "a"]
        await queue.close()

    run(scenario())
