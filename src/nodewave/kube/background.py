"""Calls made in the background: webhooks and notifications never hold a pass.

A pass asks for a call by key; the call runs once in a task of its own (asked again while it
runs or after it answered, it is not made again), its answer is kept for `ANSWER_KEEP_SECONDS`
for a later pass to record, and the Job is woken (`on_answer`). A call that raises is an
answer too (not ok, the error in its message): a bug must neither pass a gate nor stop the
operator.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from nodewave.core.vocabulary.snapshot import CallAnswer
from nodewave.kube.view import JobKey

log = logging.getLogger("nodewave.background")
ANSWER_KEEP_SECONDS = 600.0
"""An answer no pass picked up by then (the Job was deleted, a new rollout started) goes."""


class BackgroundCalls:
    def __init__(self, what: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.what = what
        self.clock = clock
        self.on_answer: Callable[[JobKey], None] = lambda key: None
        """Called with the Job's key when one of its calls has its answer (wakes a pass)."""
        self._answers: dict[JobKey, dict[str, tuple[CallAnswer, float]]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    def answers(self, job: JobKey) -> dict[str, CallAnswer]:
        """The Job's answers not yet too old, by call key."""
        mine = self._answers.get(job, {})
        cutoff = time.monotonic() - ANSWER_KEEP_SECONDS
        for k in [k for k, (_, stored) in mine.items() if stored < cutoff]:
            del mine[k]
        return {k: answer for k, (answer, _) in mine.items()}

    def start(self, job: JobKey, key: str, call: Callable[[], Awaitable[tuple[bool, str]]]) -> None:
        """Make the call unless it is under way or answered already."""
        if key in self._running or key in self._answers.get(job, {}):
            return
        task = asyncio.get_running_loop().create_task(
            self._run(job, key, call), name=f"{self.what} {key}"
        )
        self._running[key] = task

    def forget(self, job: JobKey) -> None:
        self._answers.pop(job, None)

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(
        self, job: JobKey, key: str, call: Callable[[], Awaitable[tuple[bool, str]]]
    ) -> None:
        try:
            ok, message = await call()
        except Exception as e:
            log.exception("%s %s", self.what, key)
            ok, message = False, f"the operator failed: {type(e).__name__}: {e}"
        finally:
            self._running.pop(key, None)
        answer = CallAnswer(ok, self.clock(), re.sub(r"\s+", " ", message).strip())
        log.info("%s/%s %s %s: %s", *job, self.what, key, answer.message)
        self._answers.setdefault(job, {})[key] = (answer, time.monotonic())
        self.on_answer(job)
