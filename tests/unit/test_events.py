"""The Event recorder (kube/events.py): how many writes a rollout's Events cost, which Events
may be dropped under load (only per-execution warnings) and which never are (the Job's own).
A recording double stands in for the API client; what the API server does with the Events
(`kubectl describe` showing "x1000") is asserted by tests/integration/test_reconcile.py."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from nodewave.core.vocabulary.actions import EventIntent
from nodewave.kube.client import KubeError, NotLeaderError, _error
from nodewave.kube.events import MAX_PENDING_TROUBLE, EventRecorder, Involved

JOB = Involved("Job", "ns", "fleet", "uid-job")
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class RecordingKube:
    """Events by name as the API server would hold them; `fail` may raise per write."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Callable[[str], None] = lambda verb: None

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        await self.gate.wait()
        self.writes.append(("create", body["metadata"]["name"]))
        self.fail("create")
        if body["metadata"]["name"] in self.events:
            return None
        self.events[body["metadata"]["name"]] = body
        return body

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        await self.gate.wait()
        name = path.rsplit("/", 1)[1]
        self.writes.append(("patch", name))
        self.fail("patch")
        if name not in self.events:
            return None
        self.events[name].update(body)
        return self.events[name]


def recorder(kube: RecordingKube, **kw: Any) -> EventRecorder:
    return EventRecorder(kube, "op-0", lambda: T0, **kw)  # type: ignore[arg-type]


def running(node: str) -> EventIntent:
    return EventIntent("Normal", "Running", f"Running on node {node}: containers ready")


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_thousand_transitions_of_one_version_are_one_event_with_their_count() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        rec = recorder(kube, flush_seconds=0)
        for i in range(1000):
            rec.record_summary(JOB, 2, running(f"n{i}"))
        await rec.drain()
        assert kube.writes == [("create", kube.writes[0][1])], "one write for all of them"
        (event,) = kube.events.values()
        assert event["count"] == 1000
        assert event["involvedObject"]["kind"] == "Job"
        assert event["involvedObject"]["uid"] == "uid-job"
        assert (event["type"], event["reason"]) == ("Normal", "Running")
        assert event["message"] == (
            "version 2, 1000 executions; latest: Running on node n999: containers ready"
        )
        rec.record_summary(JOB, 2, running("late"))
        await rec.drain()
        assert kube.writes[1:] == [("patch", event["metadata"]["name"])]
        assert event["count"] == 1001

    run(scenario())


def test_the_first_transition_is_written_at_once_and_later_ones_at_most_every_flush() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        rec = recorder(kube, flush_seconds=3600)
        rec.record_summary(JOB, 1, running("a"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert [w for w, _ in kube.writes] == ["create"]
        (event,) = kube.events.values()
        assert (event["count"], event["message"]) == (
            1,
            "version 1: Running on node a: containers ready",
        )
        for node in "bcd":
            rec.record_summary(JOB, 1, running(node))
        await asyncio.sleep(0)
        assert len(kube.writes) == 1, "the next write waits for the flush interval"
        await rec.drain()  # shutdown writes the latest count without waiting for it
        assert [w for w, _ in kube.writes] == ["create", "patch"]
        assert event["count"] == 4

    run(scenario())


def test_versions_types_and_reasons_are_summed_apart() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        rec = recorder(kube, flush_seconds=0)
        rec.record_summary(JOB, 1, running("a"))
        rec.record_summary(JOB, 2, running("a"))
        rec.record_summary(JOB, 2, running("b"))
        rec.record_summary(JOB, 2, EventIntent("Normal", "Completed", "Completed on node a"))
        rec.record_summary(JOB, 2, EventIntent("Warning", "Completed", "Completed on node b"))
        await rec.drain()
        got: Counter[tuple[str, str, str]] = Counter()
        for e in kube.events.values():
            version = e["message"].split(":")[0].split(",")[0]
            got[(version, e["type"], e["reason"])] = e["count"]
        assert got == Counter(
            {
                ("version 1", "Normal", "Running"): 1,
                ("version 2", "Normal", "Running"): 2,
                ("version 2", "Normal", "Completed"): 1,
                ("version 2", "Warning", "Completed"): 1,
            }
        )

    run(scenario())


def test_after_a_quiet_window_a_new_event_starts() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        clock = [0.0]
        rec = recorder(kube, flush_seconds=0, window_seconds=600, monotonic=lambda: clock[0])
        rec.record_summary(JOB, 1, running("a"))
        await rec.drain()
        clock[0] = 600.0  # not more than the window: the same Event
        rec.record_summary(JOB, 1, running("b"))
        await rec.drain()
        assert len(kube.events) == 1
        clock[0] = 1200.5
        rec.record_summary(JOB, 1, running("c"))
        await rec.drain()
        assert sorted(e["count"] for e in kube.events.values()) == [1, 2]

    run(scenario())


def test_a_summary_whose_event_expired_is_created_again() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        rec = recorder(kube, flush_seconds=0)
        rec.record_summary(JOB, 1, running("a"))
        await rec.drain()
        kube.events.clear()  # the API server's Event TTL passed
        rec.record_summary(JOB, 1, running("b"))
        await rec.drain()
        assert [w for w, _ in kube.writes] == ["create", "patch", "create"]
        (event,) = kube.events.values()
        assert event["count"] == 2

    run(scenario())


def test_trouble_is_dropped_and_counted_when_too_much_waits_but_decisions_never_are() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        kube.gate.clear()  # the API server stalls: nothing is written meanwhile
        dropped: list[str] = []
        rec = recorder(kube, dropped=dropped.append)
        failed = EventIntent("Warning", "Failed", "Failed on node x")
        for i in range(MAX_PENDING_TROUBLE + 5):
            rec.record_trouble(Involved("Execution", "ns", f"ex-{i}", f"u{i}"), failed)
        decisions = [EventIntent("Warning", r, r) for r in ("RolloutFailed", "RollingBack")]
        for d in decisions:
            rec.record_decision(JOB, d)
        assert dropped == ["Failed"] * 5
        for _ in range(3):
            await asyncio.sleep(0)  # every writer reaches the stalled API server, or its queue
        kube.gate.set()
        await rec.drain()
        order = [name for _, name in kube.writes]
        decided = [i for i, n in enumerate(order) if n.startswith("fleet.")]
        assert len(decided) == 2
        assert max(decided) < 20, "decisions are not written after the trouble backlog"
        reasons = Counter(e["reason"] for e in kube.events.values())
        assert reasons == {"Failed": MAX_PENDING_TROUBLE, "RolloutFailed": 1, "RollingBack": 1}
        on_executions = {
            e["involvedObject"]["name"] for e in kube.events.values() if e["reason"] == "Failed"
        }
        assert on_executions == {f"ex-{i}" for i in range(MAX_PENDING_TROUBLE)}
        rec.record_trouble(Involved("Execution", "ns", "ex-late", "u"), failed)
        await rec.drain()
        assert dropped == ["Failed"] * 5, "room again once written"

    run(scenario())


def test_a_decision_is_retried_while_the_api_server_cannot_take_it() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        errors = [KubeError(503, "ServiceUnavailable", "etcd"), KubeError(429, "TooMany", ""),
                  OSError("connection reset")]  # fmt: skip

        def fail(verb: str) -> None:
            if errors:
                raise errors.pop(0)

        kube.fail = fail
        rec = recorder(kube, backoff_seconds=0)
        rec.record_decision(JOB, EventIntent("Normal", "RolloutStarted", "version 2"))
        await rec.drain()
        assert len(kube.writes) == 4
        assert [e["reason"] for e in kube.events.values()] == ["RolloutStarted"]

    run(scenario())


def test_a_decision_in_a_namespace_being_deleted_is_dropped_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The namespace controller deletes a Job's executions and the Job in no set order: a
    last rollout Event is refused (403, cause NamespaceTerminating), and that is no trouble."""

    async def scenario() -> None:
        for causes, warned in ((("NamespaceTerminating",), False), ((), True)):
            kube = RecordingKube()
            error = KubeError(403, "Forbidden", "namespace ns is being terminated", causes)

            def fail(verb: str, e: Exception = error) -> None:
                raise e

            kube.fail = fail
            rec = recorder(kube, backoff_seconds=0)
            caplog.clear()
            rec.record_decision(JOB, EventIntent("Normal", "RolloutComplete", "version 2"))
            await rec.drain()
            assert len(kube.writes) == 1
            assert ("not recorded" in caplog.text) is warned

    with caplog.at_level(logging.WARNING, logger="nodewave"):
        run(scenario())


def test_the_causes_of_an_api_status_are_data() -> None:
    """The body kube-apiserver v1.34.4 answered to an Event created in a terminating namespace
    (a StatusCause's type is its "reason"; reading "type" missed it, and the operator warned
    about every Event of a Job going with its namespace)."""
    body = (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"events '
        '\\"e1\\" is forbidden: unable to create new content in namespace t1 because it is '
        'being terminated","reason":"Forbidden","details":{"name":"e1","kind":"events","causes":'
        '[{"reason":"NamespaceTerminating","message":"namespace t1 is being terminated","field":'
        '"metadata.namespace"}]},"code":403}'
    )
    error = _error(403, body.encode())
    assert (error.status, error.reason, error.causes) == (
        403,
        "Forbidden",
        ("NamespaceTerminating",),
    )
    assert _error(500, b"oops").causes == ()


def test_a_refused_decision_or_a_lost_leadership_is_not_retried() -> None:
    async def scenario() -> None:
        for error in (KubeError(422, "Invalid", "bad"), NotLeaderError("standby")):
            kube = RecordingKube()

            def fail(verb: str, e: Exception = error) -> None:
                raise e

            kube.fail = fail
            rec = recorder(kube, backoff_seconds=0)
            rec.record_decision(JOB, EventIntent("Normal", "RolloutStarted", "version 2"))
            await rec.drain()
            assert len(kube.writes) == 1, error

    run(scenario())


def test_a_deleted_jobs_summaries_are_forgotten() -> None:
    async def scenario() -> None:
        kube = RecordingKube()
        rec = recorder(kube, flush_seconds=3600)
        rec.record_summary(JOB, 1, running("a"))
        await asyncio.sleep(0)
        rec.record_summary(JOB, 1, running("b"))
        rec.forget_job("ns", "fleet")
        await rec.drain()
        assert [w for w, _ in kube.writes] == ["create"], "nothing written for a Job gone"

    run(scenario())
