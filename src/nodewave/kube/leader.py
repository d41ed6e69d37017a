"""The Lease loop of leader election (the rules: core/operator/leader.py, docs/design.md §4.1).

Every `retry_period` the elector reads the Lease and writes what `evaluate_lease` decides, with
the read's resourceVersion, so of two replicas writing at once one gets a conflict. It runs on
a connection of its own: a renewal must not queue behind the 64 requests of a placement.

`leading` is a function of time, not a flag the loop sets: a renewal stuck in a dead network
cannot keep the replica acting past its renew deadline, because the fence on the operator's
writes (`Kube.fence`) asks this function before every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nodewave import __version__
from nodewave.core.operator.leader import (
    LeaderTiming,
    LeaseRecord,
    Seen,
    build_release,
    evaluate_leading,
    evaluate_lease,
    evaluate_seen,
)
from nodewave.core.vocabulary.actions import EventIntent
from nodewave.kube.client import Kube, KubeError, build_event, path_of
from nodewave.kube.parse import parse_time

log = logging.getLogger("nodewave.leader")
LEASE_NAME = "nodewave-operator"
ANNOTATION_OPERATOR_VERSION = "nodewave.io/operator-version"
"""Written by the leader on its Lease, "VERSION IDENTITY": `kubectl nodewave version` reads
which version acts, and trusts it only while IDENTITY holds the Lease (an older leader that
does not write it keeps the annotation a newer one wrote)."""
MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse_lease(body: dict[str, Any]) -> LeaseRecord:
    spec = body.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_time(spec.get("acquireTime")),
        renew_time=parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def build_lease_spec(record: LeaseRecord) -> dict[str, Any]:
    def stamp(t: datetime | None) -> str | None:
        return t.strftime(MICRO) if t is not None else None

    return {
        "holderIdentity": record.holder or None,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "acquireTime": stamp(record.acquire_time),
        "renewTime": stamp(record.renew_time),
        "leaseTransitions": record.transitions,
    }


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        identity: str,
        timing: LeaderTiming,
        on_change: Callable[[bool], None],
        *,
        name: str = LEASE_NAME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.identity = identity
        self.timing = timing
        self.name = name
        self.on_change = on_change
        self.clock = clock
        self._seen: Seen | None = None
        self._last_renewed: float | None = None
        self._was_leading = False
        self._resource: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return path_of("leases", self.namespace, self.name)

    @property
    def _version(self) -> str:
        return f"{__version__} {self.identity}"

    def leading(self) -> bool:
        return evaluate_leading(self._last_renewed, self.timing, self.clock())

    async def run(self) -> None:
        """Try to take or renew the Lease every retry period, until cancelled."""
        while True:
            started = self.clock()
            try:
                # A try may not outlast the term it is renewing: past the deadline it is moot.
                budget = max(self.timing.retry_period, self._deadline() - started)
                await asyncio.wait_for(self._try(started), timeout=budget)
            except (TimeoutError, OSError, KubeError) as e:
                log.warning("leader election: %s", str(e) or type(e).__name__)
            self._announce()
            await asyncio.sleep(max(0.0, started + self.timing.retry_period - self.clock()))

    def _deadline(self) -> float:
        if self._last_renewed is None:
            return self.clock() + self.timing.renew_deadline
        return self._last_renewed + self.timing.renew_deadline

    async def _try(self, started: float) -> None:
        body = await self.kube.get(self.path)
        current = parse_lease(body) if body is not None else None
        self._seen = evaluate_seen(current, self._seen, started)
        wanted = evaluate_lease(current, self._seen, self.identity, self.timing, started,
                                datetime.now(UTC))  # fmt: skip
        if wanted is None:
            return
        written = await self._write(body, wanted)
        if written is None:
            return  # someone else wrote first (a conflict): read again next time
        self._resource = written
        self._seen = evaluate_seen(parse_lease(written), self._seen, started)
        # The term counts from before the write was sent: never longer than the others see.
        self._last_renewed = started
        if current is None or current.holder != self.identity:
            await self._post_event(f"{self.identity} became leader")

    async def _write(
        self, body: dict[str, Any] | None, record: LeaseRecord
    ) -> dict[str, Any] | None:
        spec = build_lease_spec(record)
        try:
            if body is None:
                lease = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "namespace": self.namespace,
                        "annotations": {ANNOTATION_OPERATOR_VERSION: self._version},
                    },
                    "spec": spec,
                }
                return await self.kube.create(path_of("leases", self.namespace), lease)
            meta = body.get("metadata") or {}
            annotations = {
                **(meta.get("annotations") or {}),
                ANNOTATION_OPERATOR_VERSION: self._version,
            }
            updated = {**body, "metadata": {**meta, "annotations": annotations}, "spec": spec}
            result: dict[str, Any] = await self.kube.request("PUT", self.path, updated)
            return result
        except KubeError as e:
            if e.status == 409:
                return None
            raise

    def _announce(self) -> None:
        now = self.leading()
        if now != self._was_leading:
            self._was_leading = now
            log.warning("%s %s leading", self.identity, "started" if now else "stopped")
            self.on_change(now)

    async def release(self) -> None:
        """Leave the Lease to the standby (SIGTERM): it takes it at its next try."""
        if not self.leading() or self._resource is None:
            return
        self._last_renewed = None
        self._announce()
        released = build_release(parse_lease(self._resource), datetime.now(UTC))
        with contextlib.suppress(KubeError, OSError, TimeoutError):
            await asyncio.wait_for(self._write(self._resource, released), timeout=2)

    async def _post_event(self, message: str) -> None:
        assert self._resource is not None
        involved = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "name": self.name,
                    "namespace": self.namespace, "uid": self._resource["metadata"].get("uid", "")}  # fmt: skip
        event = EventIntent("Normal", "LeaderElection", message)
        with contextlib.suppress(KubeError, OSError):
            body = build_event(involved, event, self.identity, datetime.now(UTC))
            await self.kube.create(path_of("events", self.namespace), body)
