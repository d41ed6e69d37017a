"""cli/watching.py: a watch the API server refuses ends `status --watch` at once, saying why
(before, a person who may get a Job but not watch it waited for ever)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from nodewave.cli.errors import PluginError
from nodewave.cli.watching import JobWatch
from nodewave.kube.client import KubeError


class ListOnly:
    """Lists answer; watches are forbidden."""

    async def request(self, method: str, path: str, query: dict[str, str] | None = None) -> Any:
        item = {"metadata": {"name": "web", "namespace": "a", "resourceVersion": "1"}}
        return {"metadata": {"resourceVersion": "1"}, "items": [item]}

    @asynccontextmanager
    async def stream(self, path: str, query: dict[str, str]) -> AsyncIterator[Any]:
        raise KubeError(403, "Forbidden", "jobs.nodewave.io is forbidden: cannot watch")
        yield None  # pragma: no cover


def test_a_forbidden_watch_ends_the_wait_saying_why() -> None:
    async def follow() -> None:
        async with JobWatch(ListOnly(), "a", "web", executions=False) as watch:  # type: ignore[arg-type]
            while True:  # as `status --watch` does; the refusal may come before the first wait
                await watch.next_change(None)

    async def scenario() -> None:
        async with asyncio.timeout(10):
            await follow()

    with pytest.raises(PluginError, match=r"cannot watch .*jobs: .*forbidden: cannot watch"):
        asyncio.run(scenario())


def test_a_forbidden_list_is_said_at_once() -> None:
    class Nothing(ListOnly):
        async def request(self, method: str, path: str, query: dict[str, str] | None = None) -> Any:
            raise KubeError(403, "Forbidden", "cannot list")

    async def scenario() -> None:
        async with asyncio.timeout(10):
            with pytest.raises(PluginError, match="cannot list"):
                async with JobWatch(Nothing(), "a", "web", executions=True):  # type: ignore[arg-type]
                    pass

    asyncio.run(scenario())
