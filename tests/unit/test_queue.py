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
