"""A Job and its executions kept current by watches (kube/informer.py), for `status --watch`
and `get --watch`: the plugin hears of each change as it happens instead of listing every
execution each second (at 5,000 nodes, 5,000 objects a second from the API server for one
person's terminal)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from nodewave.cli.errors import PluginError
from nodewave.core.vocabulary.naming import LABEL_JOB, label_value
from nodewave.kube.client import Kube, path_of
from nodewave.kube.informer import Informer

SYNC_SECONDS = 60.0
"""How long the first listing may take before the plugin says it cannot watch."""
GIVE_UP_ON = (401, 403)
"""A person who may get a Job but not watch it (or whose credentials expired) is told at once,
not left waiting."""


def _as_dict(body: Mapping[str, Any]) -> dict[str, Any]:
    return dict(body)


def _bucket(body: Mapping[str, Any]) -> int:
    return 0


class JobWatch:
    """`async with JobWatch(...) as watch`: `watch.job()` and `watch.executions()` are the
    latest the watches delivered; `await watch.next_change(seconds)` returns at the next
    change (or after that long)."""

    def __init__(self, kube: Kube, namespace: str, job: str, executions: bool) -> None:
        self.name = job
        self._changed = asyncio.Event()
        self._job = Informer(kube, path_of("jobs", namespace), _as_dict, _bucket,
                             self._on_change, field_selector=f"metadata.name={job}",
                             give_up_on=GIVE_UP_ON)  # fmt: skip
        self._execs = (
            Informer(
                kube,
                path_of("executions", namespace),
                _as_dict,
                _bucket,
                self._on_change,
                label_selector=f"{LABEL_JOB}={label_value(job)}",
                give_up_on=GIVE_UP_ON,
            )
            if executions
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _on_change(self, *_: Any) -> None:
        self._changed.set()

    async def __aenter__(self) -> JobWatch:
        informers = [i for i in (self._job, self._execs) if i is not None]
        self._tasks = [asyncio.create_task(i.run()) for i in informers]

        async def all_synced() -> None:
            await asyncio.gather(*(i.synced.wait() for i in informers))

        synced: asyncio.Task[None] = asyncio.create_task(all_synced())
        try:
            await asyncio.wait([synced, *self._tasks], timeout=SYNC_SECONDS,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            self._raise_failure()
            if not synced.done():
                raise PluginError(f"cannot watch Job {self.name!r}: no listing within a minute")
        except BaseException:
            synced.cancel()
            await self._stop()
            raise
        return self

    def _raise_failure(self) -> None:
        """A watch the API server refused (give_up_on) ends the command, saying why."""
        for informer in (self._job, self._execs):
            if informer is not None and informer.failed is not None:
                e = informer.failed
                raise PluginError(f"cannot watch {informer.path}: {e.message or e.reason}")

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def job(self) -> dict[str, Any] | None:
        return self._job.store.get(0, {}).get(self.name)

    def executions(self) -> list[dict[str, Any]]:
        return list(self._execs.store.get(0, {}).values()) if self._execs is not None else []

    async def next_change(self, seconds: float | None) -> None:
        """Return at the next change, or after `seconds` (None: no limit); PluginError when a
        watch was refused meanwhile."""
        changed: asyncio.Task[Any] = asyncio.create_task(self._changed.wait())
        try:
            await asyncio.wait([changed, *self._tasks], timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            changed.cancel()
        self._changed.clear()
        self._raise_failure()
