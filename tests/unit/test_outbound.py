"""Outbound calls to a Job's endpoints are bounded per Job and per host, time out from the
Job's own turn, and stop reading a reply past its limit (kube/outbound.py, issue 26): against
a real HTTP server on loopback that hangs, answers, and streams 100 MB."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiohttp import web

from nodewave.core.operator.egress import DEFAULT_ALLOWED, build_egress_policy
from nodewave.kube.outbound import Outbound
from nodewave.kube.prometheus import MAX_REPLY_BYTES, Prometheus
from nodewave.kube.secrets import SecretReader
from nodewave.models.job import PrometheusCheck

A, B = ("tenant-a", "gate"), ("tenant-b", "gate")
HUNDRED_MB = 100 * 1024 * 1024

LOOPBACK = build_egress_policy(allowed=(*DEFAULT_ALLOWED, "127.0.0.1/32"))
"""These servers listen on 127.0.0.1, which the default egress policy refuses."""


class Server:
    def __init__(self) -> None:
        self.sent = 0
        self.hanging = 0
        self.release = asyncio.Event()

    async def tarpit(self, request: web.Request) -> web.Response:
        self.hanging += 1
        await self.release.wait()
        return web.Response(text="late")

    async def ok(self, request: web.Request) -> web.Response:
        return web.Response(text="approved")

    async def huge(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        chunk = b"x" * 65536
        try:
            while self.sent < HUNDRED_MB:
                await resp.write(chunk)
                self.sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass  # the client stopped reading and closed the connection
        return resp


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/tarpit", server.tarpit)
    app.router.add_post("/ok", server.ok)
    app.router.add_get("/api/v1/query", server.huge)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.release.set()
        await runner.cleanup()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_a_tarpit_holds_its_own_jobs_calls_and_nobody_elses() -> None:
    """100 calls of job A hang on its endpoint; job B's gate on the same host is answered
    within its 2 s timeout, and A's calls beyond its 4 at once have not even started."""

    async def scenario() -> None:
        server, out = Server(), Outbound(per_host=16, per_job=4, policy=LOOPBACK)
        async with serving(server) as url:
            hanging = [asyncio.create_task(out.request(A, "POST", f"{url}/tarpit",
                                                       limit_seconds=60, max_bytes=100))
                       for _ in range(100)]  # fmt: skip
            await asyncio.sleep(0.5)
            assert server.hanging == 4
            started = time.monotonic()
            reply = await out.request(B, "POST", f"{url}/ok", limit_seconds=2, max_bytes=100)
            assert (reply.status, reply.body) == (200, b"approved")
            assert time.monotonic() - started < 2
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)
            await out.close()

    run(scenario)


def test_a_jobs_timeout_counts_from_its_own_turn() -> None:
    """Job A's fifth call waits for one of its four hanging ones; its 1 s limit starts when
    it is sent, so it times out 1 s after a slot freed, not 1 s after it was asked."""

    async def scenario() -> None:
        server, out = Server(), Outbound(per_host=16, per_job=1, policy=LOOPBACK)
        async with serving(server) as url:
            first = asyncio.create_task(
                out.request(A, "POST", f"{url}/tarpit", limit_seconds=1.5, max_bytes=10)
            )
            await asyncio.sleep(0.1)
            asked = time.monotonic()
            second = out.request(A, "POST", f"{url}/ok", limit_seconds=1.0, max_bytes=10)
            reply = await second  # sent once the first timed out (1.5 s), answered at once
            assert reply.status == 200
            assert time.monotonic() - asked >= 1.3
            assert isinstance(
                (await asyncio.gather(first, return_exceptions=True))[0], TimeoutError
            )
            await out.close()

    run(scenario)


def test_a_huge_prometheus_reply_is_not_read_past_its_limit() -> None:
    async def scenario() -> None:
        server = Server()
        async with serving(server) as url:
            check = PrometheusCheck.model_validate({"address": url, "query": "up"})
            prometheus = Prometheus(Outbound(policy=LOOPBACK), SecretReader(None))  # type: ignore[arg-type]
            rate = await prometheus.error_rate(A, check, "up", datetime.now(UTC))
            assert rate == (f"the reply from {url}/api/v1/query is over "
                            f"{MAX_REPLY_BYTES // 1024} KiB: not read further")  # fmt: skip
            await prometheus.outbound.close()
            await asyncio.sleep(0.2)
        # The server got out what the socket buffers took, far from the 100 MB it offered.
        assert server.sent < HUNDRED_MB // 4, server.sent

    run(scenario)
