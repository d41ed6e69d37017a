"""List-watch caches of our own for the kinds that grow with the cluster: nodes, our pods and
executions (client-go's reflector and store, in small).

Why not kopf indexes for these: kopf runs its whole per-object machinery for every watch event
(a worker task per object, the keyword arguments and causes of every handler), a third of the
operator's CPU in a 1,000-node placement, and its initial indexing wakes every waiting worker
for each object it adds (`ToggleSet.make_toggle` → `notify_all`), quadratic in the nodes: at
5,000 nodes a quarter of the samples and 80 s before the first pass. Here an event costs one
JSON decode, one parse into the core's frozen types, and one callback. kopf keeps the Jobs,
whose handlers and finalizer it runs, and the small kinds (namespaces, revisions).

The protocol, as client-go does it: list (paginated) at a consistent resourceVersion, replace
the store, then watch from that version with bookmarks. A watch that ends (the server's
timeout, a dropped connection, an API server restart) resumes from the last version seen; one
that is too old (410 Gone, or an ERROR event) lists again, and the differences between the old
store and the new list are delivered as events, so nothing that changed meanwhile is missed.
Failures back off exponentially up to 30 s. Until the first list completes the store is not
`synced`, and the operator starts no pass before every informer is (a pass over an empty store
would create what already exists).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from nodewave.kube.client import Kube, KubeError

log = logging.getLogger("nodewave.informer")

K = TypeVar("K")
V = TypeVar("V")

OnChange = Callable[[str, K, str, V | None, V | None], None]
"""(event type, key, object name, old value, new value): old is None for ADDED, new for
DELETED."""

WATCH_SECONDS = 300
"""The server ends each watch after this long (kopf's setting too); we resume at once."""
MAX_BACKOFF = 30.0


class Expired(Exception):
    """The version we watch from is no longer in the API server's history: list again."""


@dataclass
class Informer(Generic[K, V]):
    kube: Kube
    path: str
    """The collection's API path (across every namespace)."""
    parse: Callable[[Mapping[str, Any]], V]
    key_of: Callable[[Mapping[str, Any]], K | None]
    """Which bucket an object belongs in (a Job's key); None: not ours, not stored."""
    on_change: OnChange[K, V]
    label_selector: str | None = None
    field_selector: str | None = None
    give_up_on: tuple[int, ...] = ()
    """Statuses after which `run` ends instead of retrying (the plugin: 401, 403 say at once
    what a person must fix; the operator retries, as RBAC may be granted meanwhile)."""
    failed: KubeError | None = None
    """What ended `run`, for the statuses of `give_up_on`."""
    page_size: int = 500
    store: dict[K, dict[str, V]] = field(default_factory=dict)
    """key → object name → parsed object: what the planner reads."""
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    resource_version: str = ""
    _where: dict[tuple[str, str], K] = field(default_factory=dict)
    """(namespace, name) → the bucket the object is in, so an object whose key changes (or
    that stops being ours) leaves its old bucket."""

    async def run_optional(self) -> None:
        """`run`, for what a reader can do without: refused (one of `give_up_on`, `failed`
        says which), it counts as synced with nothing in it, and waits to be cancelled like
        the others (the plugin's watch of pod records, which a role without pods may not
        make)."""
        await self.run()
        self.synced.set()
        await asyncio.Event().wait()

    async def run(self) -> None:
        """List and watch until cancelled; an informer run again resumes from the version it
        had reached (the API server replays what happened since), or lists when it has none."""
        backoff = 0.5
        while True:
            try:
                if not self.resource_version:
                    await self._relist()
                    backoff = 0.5
                await self._watch()
                backoff = 0.5  # a watch that ended normally resumes at once
            except asyncio.CancelledError:
                raise
            except Expired:
                log.info("%s: watch history expired; listing again", self.path)
                self.resource_version = ""
            except Exception as e:
                if isinstance(e, KubeError) and e.status in self.give_up_on:
                    self.failed = e
                    return
                log.warning("%s: list/watch failed (%s); retrying in %.1fs", self.path, e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _relist(self) -> None:
        # Each page parsed as it comes and its bodies dropped: a list of large objects (a
        # Job's history of ~1 MiB revisions) is never held whole, raw and parsed at once.
        items: list[tuple[tuple[str, str], K | None, V | None]] = []
        query = {"limit": str(self.page_size), **self._selectors()}
        while True:
            try:
                page = await self.kube.request("GET", self.path, query=query)
            except KubeError as e:
                if e.status == 410 and "continue" in query:  # the continue token expired
                    query.pop("continue")
                    items.clear()
                    continue
                raise
            items.extend(self._digest(body) for body in page.pop("items", None) or [])
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                break
            query["continue"] = meta["continue"]
        self._replace(items, meta.get("resourceVersion", ""))

    def _replace(
        self, items: list[tuple[tuple[str, str], K | None, V | None]], resource_version: str
    ) -> None:
        """Make the store the listing; after the first list, deliver the differences."""
        initial = not self.synced.is_set()
        seen: set[tuple[str, str]] = set()
        for ident, key, value in items:
            seen.add(self._apply("MODIFIED", ident, key, value, notify=not initial))
        for ident in [i for i in self._where if i not in seen]:
            key = self._where.pop(ident)
            old = self.store.get(key, {}).pop(ident[1], None)
            self._tidy(key)
            if not initial and old is not None:
                self.on_change("DELETED", key, ident[1], old, old)
        self.resource_version = resource_version
        self.synced.set()

    def _digest(self, body: Mapping[str, Any]) -> tuple[tuple[str, str], K | None, V | None]:
        """The object's identity, its bucket, and its parsed form (None when not ours)."""
        meta = body.get("metadata") or {}
        key = self.key_of(body)
        return (
            (meta.get("namespace", ""), meta["name"]),
            key,
            (self.parse(body) if key is not None else None),
        )

    def _apply(
        self, type_: str, ident: tuple[str, str], key: K | None, value: V | None, *, notify: bool
    ) -> tuple[str, str]:
        before = self._where.get(ident)
        old = self.store.get(before, {}).get(ident[1]) if before is not None else None
        if type_ == "DELETED" or key is None or value is None:
            if before is not None:
                self._where.pop(ident)
                self.store[before].pop(ident[1], None)
                self._tidy(before)
                if notify and old is not None:
                    final = value if type_ == "DELETED" and value is not None else old
                    self.on_change("DELETED", before, ident[1], old, final)
            return ident
        if before is not None and before != key:
            self.store[before].pop(ident[1], None)
            self._tidy(before)
            if notify and old is not None:
                self.on_change("DELETED", before, ident[1], old, old)
            old = None
        new = value
        self.store.setdefault(key, {})[ident[1]] = new
        self._where[ident] = key
        if notify and old != new:
            self.on_change("ADDED" if old is None else "MODIFIED", key, ident[1], old, new)
        return ident

    def _selectors(self) -> dict[str, str]:
        query = {}
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        if self.field_selector:
            query["fieldSelector"] = self.field_selector
        return query

    def _tidy(self, key: K) -> None:
        if not self.store.get(key, True):
            del self.store[key]

    async def _watch(self) -> None:
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version,
            "timeoutSeconds": str(WATCH_SECONDS),
            **self._selectors(),
        }
        async for event in self._events(query):
            type_ = event.get("type")
            body = event.get("object") or {}
            if type_ == "ERROR":
                if body.get("code") == 410:
                    raise Expired()
                raise KubeError(
                    body.get("code", 0), body.get("reason", ""), body.get("message", "")
                )
            version = (body.get("metadata") or {}).get("resourceVersion")
            if type_ in ("ADDED", "MODIFIED", "DELETED"):
                self._apply(type_, *self._digest(body), notify=True)
            if version:
                self.resource_version = version

    async def _events(self, query: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """The watch's events, one JSON document per line. Read in chunks, not lines: a line
        longer than aiohttp's line buffer (a pod with large annotations) would fail readline."""
        try:
            async with self.kube.stream(self.path, query) as content:
                pending = b""
                async for chunk in content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
        except KubeError as e:
            if e.status == 410:
                raise Expired() from e
            raise
