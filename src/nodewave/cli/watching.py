"""A Job and its executions kept current by watches (kube/informer.py), for `status --watch`
and `get --watch`: the plugin hears of each change as it happens instead of listing every
execution each second (at 5,000 nodes, 5,000 objects a second from the API server for one
person's terminal)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from nodewave.cli.errors import PluginError
from nodewave.cli.records import build_record_documents
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
        self._execs = self._pods = None
        if executions:  # and the pods, which stand for executions under --pod-records
            self._execs, self._pods = (
                Informer(
                    kube,
                    path_of(kind, namespace),
                    _as_dict,
                    _bucket,
                    self._on_change,
                    label_selector=f"{LABEL_JOB}={label_value(job)}",
                    give_up_on=GIVE_UP_ON,
                )
                for kind in ("executions", "pods")
            )
        self._tasks: list[asyncio.Task[None]] = []

    def _on_change(self, *_: Any) -> None:
        self._changed.set()

    async def __aenter__(self) -> JobWatch:
        informers = [i for i in (self._job, self._execs, self._pods) if i is not None]
        # A role without pods sees the Executions alone (the chart's may watch pods).
        self._tasks = [asyncio.create_task(i.run_optional() if i is self._pods else i.run())
                       for i in informers]  # fmt: skip

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
        """The Job's executions: its Execution objects and its pod records
        (cli/records.py)."""
        if self._execs is None or self._pods is None:
            return []
        found = list(self._execs.store.get(0, {}).values())
        job = self.job()
        pods = self._pods.store.get(0, {}).values()
        if job is None or not pods:
            return found
        return found + build_record_documents([job], pods, found, datetime.now(UTC))

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
