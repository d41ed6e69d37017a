"""The informer's protocol handling (kube/informer.py) with a scripted transport: what the
real API server does rarely or only after minutes (410 Gone on a watch or mid-pagination,
bookmarks, dropped connections) on demand. tests/integration/test_informer.py runs the same
informer against the real API server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from nodewave.kube.client import KubeError
from nodewave.kube.informer import Informer

Change = tuple[str, str | None, str, Any, Any]


def obj(name: str, version: str, group: str = "g") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version},
            "data": {"group": group, "value": version}}  # fmt: skip


class Content:
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    async def iter_any(self) -> AsyncIterator[bytes]:
        for line in self.lines:
            yield line


class ScriptedKube:
    """Answers lists from `pages` and watches from `watches`, in order; records the queries."""

    def __init__(self, pages: list[Any], watches: list[Any]) -> None:
        self.pages = pages
        self.watches = watches
        self.queries: list[tuple[str, dict[str, str]]] = []

    async def request(self, method: str, path: str, query: dict[str, str]) -> Any:
        self.queries.append(("list", dict(query)))
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page

    @contextlib.asynccontextmanager
    async def stream(self, path: str, query: dict[str, str]) -> AsyncIterator[Content]:
        self.queries.append(("watch", dict(query)))
        if not self.watches:
            await asyncio.Event().wait()  # a quiet watch: blocks until cancelled
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        # Split the events mid-line: chunks are not lines.
        data = b"".join(json.dumps(e).encode() + b"\n" for e in script)
        yield Content([data[i : i + 7] for i in range(0, len(data), 7)])


def page(items: list[dict[str, Any]], version: str, cont: str = "") -> dict[str, Any]:
    return {"items": items, "metadata": {"resourceVersion": version, "continue": cont}}


def run(kube: ScriptedKube, until: Any) -> tuple[Informer[str, Any], list[Change]]:
    changes: list[Change] = []

    def parse(body: Mapping[str, Any]) -> Any:
        return body["data"]["value"]

    async def main() -> Informer[str, Any]:
        informer: Informer[str, Any] = Informer(
            kube,  # type: ignore[arg-type]
            "/api/v1/configmaps",
            parse,
            lambda body: body["data"]["group"] or None,
            lambda *change: changes.append(change),
        )
        task = asyncio.create_task(informer.run())
        for _ in range(200):
            await asyncio.sleep(0.01)
            if until(informer, changes):
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return informer

    return asyncio.run(main()), changes


def test_an_expired_watch_lists_again_and_delivers_the_differences() -> None:
    kube = ScriptedKube(
        pages=[
            page([obj("a", "1"), obj("b", "2")], "10"),
            page([obj("a", "1"), obj("c", "14")], "20"),  # b deleted, c added meanwhile
        ],
        watches=[
            [
                {"type": "MODIFIED", "object": obj("a", "11")},
                {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
            ],
        ],
    )
    informer, changes = run(kube, lambda i, c: len(c) >= 4)
    assert changes == [
        ("MODIFIED", "g", "a", "1", "11"),
        ("MODIFIED", "g", "a", "11", "1"),  # the list is the truth, even going back
        ("ADDED", "g", "c", None, "14"),
        ("DELETED", "g", "b", "2", "2"),
    ]
    assert informer.store == {"g": {"a": "1", "c": "14"}}
    watches = [q for verb, q in kube.queries if verb == "watch"]
    assert [w["resourceVersion"] for w in watches][:2] == ["10", "20"]
    assert watches[0]["allowWatchBookmarks"] == "true"


def test_a_watch_refused_as_gone_lists_again() -> None:
    kube = ScriptedKube(
        pages=[page([obj("a", "1")], "10"), page([obj("a", "12")], "20")],
        watches=[KubeError(410, "Expired", "too old resource version")],
    )
    informer, changes = run(kube, lambda i, c: len(c) >= 1)
    assert changes == [("MODIFIED", "g", "a", "1", "12")]
    assert informer.resource_version == "20"


def test_a_dropped_watch_resumes_from_the_last_version_seen_without_listing() -> None:
    kube = ScriptedKube(
        pages=[page([], "10")],
        watches=[
            [
                {"type": "ADDED", "object": obj("a", "11")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
            ],
            ConnectionResetError("reset by peer"),
            [{"type": "DELETED", "object": obj("a", "16")}],
        ],
    )
    _, changes = run(kube, lambda i, c: len(c) >= 2)
    assert changes == [("ADDED", "g", "a", None, "11"), ("DELETED", "g", "a", "11", "16")]
    watches = [q["resourceVersion"] for verb, q in kube.queries if verb == "watch"]
    assert watches[:3] == ["10", "15", "15"], "the bookmark's version, kept across the failure"
    assert [verb for verb, _ in kube.queries].count("list") == 1


def test_a_listing_whose_continue_token_expired_starts_over() -> None:
    kube = ScriptedKube(
        pages=[
            page([obj("a", "1")], "10", cont="t1"),
            KubeError(410, "Expired", "continue token expired"),
            page([obj("a", "1")], "12", cont="t2"),
            page([obj("b", "11")], "12"),
        ],
        watches=[],
    )
    informer, _ = run(kube, lambda i, c: i.synced.is_set())
    assert informer.store == {"g": {"a": "1", "b": "11"}}
    assert informer.resource_version == "12"
    lists = [q for verb, q in kube.queries if verb == "list"]
    assert [q.get("continue") for q in lists] == [None, "t1", None, "t2"]
