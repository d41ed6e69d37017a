"""What the operator knows of the cluster: the watch caches (kube/informer.py for nodes, pods
and executions; kopf indexes for the rest) overlaid with the objects our own writes returned.

Why the overlay: after we patch an execution's status, the watch event that carries the new
version arrives a little later. A pass in between would see the old status, decide the same
transition again and write it twice (a duplicate history entry and Event). The overlay keeps
each write's response until the watch has caught up (same or newer resourceVersion) or a few
seconds have passed, whichever comes first — the latter so that an object deleted by someone
else is not kept alive by our memory of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from nodewave.core.vocabulary.snapshot import (
    ExecutionInfo,
    JobInfo,
    NodeInfo,
    PodInfo,
    RevisionInfo,
)
from nodewave.kube.parse import NamespaceInfo, newer

JobKey = tuple[str, str]
OVERLAY_TTL = 120.0
"""A safety net only: entries normally leave when the watch catches up, when an object we
deleted disappears from it, or when a write finds the object gone (404)."""

V = TypeVar("V", ExecutionInfo, PodInfo, JobInfo)

ALL_NODES = ""
"""The nodes' informer keeps every node in this one bucket."""


class Index(Protocol):
    """The read side of a kopf index: key → a collection of values."""

    def __contains__(self, key: object) -> bool: ...
    def __getitem__(self, key: Any) -> Iterable[Any]: ...
    def __iter__(self) -> Any: ...


@dataclass
class Overlay:
    """Per Job: object name → (when written, the object as the write returned it)."""

    entries: dict[JobKey, dict[str, tuple[float, Any]]] = field(default_factory=dict)

    def put(self, key: JobKey, name: str, value: Any) -> None:
        self.entries.setdefault(key, {})[name] = (time.monotonic(), value)

    def forget(self, key: JobKey, name: str | None = None) -> None:
        if name is None:
            self.entries.pop(key, None)
        else:
            self.entries.get(key, {}).pop(name, None)

    def wrote(self, key: JobKey, name: str, resource_version: str) -> bool:
        """Whether this version of the object is one our own write returned: the echo of a
        write the pass that made it already accounted for."""
        entry = self.entries.get(key, {}).get(name)
        return entry is not None and entry[1].resource_version == resource_version

    def merge(self, key: JobKey, watched: Mapping[str, V]) -> dict[str, V]:
        """`watched` (name → value) with this Job's fresher overlay entries applied."""
        out = dict(watched)
        mine = self.entries.get(key)
        if not mine:
            return out
        now = time.monotonic()
        for name, (at, value) in list(mine.items()):
            seen = out.get(name)
            caught_up = seen is not None and not newer(
                value.resource_version, seen.resource_version
            )
            # A deletion we made that the watch no longer shows has completed.
            deleted = seen is None and getattr(value, "deleting", False)
            if now - at > OVERLAY_TTL or caught_up or deleted:
                del mine[name]
                continue
            out[name] = value
        return out


@dataclass
class ClusterView:
    jobs: Index
    executions: Mapping[JobKey, Mapping[str, ExecutionInfo]]
    pods: Mapping[JobKey, Mapping[str, PodInfo]]
    nodes: Mapping[str, Mapping[str, NodeInfo]]
    """ALL_NODES → node name → NodeInfo."""
    revisions: Mapping[JobKey, Mapping[str, RevisionInfo]]
    """Job → revision name → its RevisionInfo (the revisions informer's store)."""
    namespaces: Index
    """Namespace name → NamespaceInfo."""
    overlay_jobs: Overlay = field(default_factory=Overlay)
    overlay_executions: Overlay = field(default_factory=Overlay)
    overlay_pods: Overlay = field(default_factory=Overlay)

    def job(self, key: JobKey) -> JobInfo | None:
        watched = {j.name: j for j in self.jobs[key]} if key in self.jobs else {}
        if not watched:
            self.overlay_jobs.forget(key)
            return None
        return self.overlay_jobs.merge(key, watched).get(key[1])

    def job_keys(self) -> list[JobKey]:
        return list(self.jobs)

    def node_map(self) -> dict[str, NodeInfo]:
        return dict(self.nodes.get(ALL_NODES, {}))

    def executions_of(self, key: JobKey, owner_uid: str) -> tuple[ExecutionInfo, ...]:
        """The Job's executions (`ExecutionInfo.owned_by`)."""
        watched = self.executions.get(key, {})
        merged = self.overlay_executions.merge(key, watched).values()
        return tuple(e for e in merged if e.owned_by(owner_uid))

    def pods_of(self, key: JobKey) -> dict[str, PodInfo]:
        return self.overlay_pods.merge(key, self.pods.get(key, {}))

    def namespace(self, name: str) -> NamespaceInfo | None:
        return next(iter(self.namespaces[name]), None) if name in self.namespaces else None

    def revisions_of(self, key: JobKey) -> list[RevisionInfo]:
        return list(self.revisions.get(key, {}).values())
