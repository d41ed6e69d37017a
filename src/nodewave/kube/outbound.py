"""HTTP calls to endpoints a Job's author names (webhook gates, Prometheus health queries),
bounded so that no tenant's endpoint can take the operator down or fail another tenant's gate
(docs/design.md §3.10).

Measured before: one pool of 100 connections shared by every call, no per-host limit, and a
timeout that included the wait for a free connection: 100 calls hanging on one tenant's tarpit
made another Job's healthy gate time out (and roll back); a Prometheus reply was read whole
(a 19 MiB body cost about 130 MiB of RSS, once per execution in parallel). Now:
- **Per host**: at most `per_host` connections to one host (no cluster-wide pool to exhaust):
  a tarpit holds its own host's connections, nobody else's.
- **Per Job**: at most `per_job` of one Job's calls at once; the rest wait their turn *before*
  their timeout starts, so a Job's `timeoutSeconds` counts from its own request.
- **Replies** are read up to a limit and the reading stops there (the caller names the limit
  in its message); redirects are never followed.
- **Destinations** pass the egress policy (core/operator/egress.py) first: an address in the URL is
  judged before anything is sent, a name by the addresses it resolves to, and the connection
  goes only to those that passed (the resolver hands aiohttp nothing else), so nothing is sent
  to a refused destination and a name cannot resolve one way for the check and another for the
  connection. A refusal is `EgressRefused`, saying which address and why.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from nodewave.core.operator.egress import EgressPolicy, build_egress_policy, evaluate_destination
from nodewave.kube.view import JobKey

log = logging.getLogger("nodewave.outbound")

PER_HOST = 16
PER_JOB = 4


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    location: str
    """The Location header (a redirect, not followed)."""
    truncated: bool
    """The body was longer than the limit asked for: `body` is its start."""


async def read_capped(content: aiohttp.StreamReader, max_bytes: int) -> bytes:
    """The body up to `max_bytes` and one byte more if there is more (then it stops reading:
    the rest is never held)."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = await content.read(max_bytes + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class EgressRefused(OSError):
    """The egress policy refuses the destination: nothing was sent."""

    def __init__(self, why: str) -> None:
        super().__init__(errno.EACCES, why)
        self.why = why

    def __str__(self) -> str:
        return f"refused by the operator's egress policy: {self.why}"


class PolicyResolver(AbstractResolver):
    """Resolves as usual, then keeps only the addresses the policy allows: what aiohttp
    connects to is what was judged."""

    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        verdicts = [(r, evaluate_destination(self.policy, r["host"], r["port"])) for r in found]
        kept = [r for r, why in verdicts if why is None]
        if not kept:
            reasons = sorted({why for _, why in verdicts if why is not None})
            raise EgressRefused(f"{host} resolves to " + "; ".join(reasons or ["no address"]))
        return kept

    async def close(self) -> None:
        await self.inner.close()


def evaluate_url(policy: EgressPolicy, url: str) -> str | None:
    """Why the policy refuses a URL whose host is an address (names are judged once resolved),
    or None."""
    try:
        parsed = URL(url)
        host, port = parsed.host or "", parsed.port or 0
    except ValueError as e:
        return f"{url} is not a URL: {e}"
    try:
        return evaluate_destination(policy, host, port) if _is_address(host) else None
    except ValueError:
        return None


def _is_address(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.split("%")[0])
    except OSError:
        return False
    return True


class Outbound:
    """One session for every call to a Job's endpoints, until `close`."""

    def __init__(
        self,
        per_host: int = PER_HOST,
        per_job: int = PER_JOB,
        policy: EgressPolicy | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.per_host, self.per_job = per_host, per_job
        self.policy = policy or build_egress_policy()
        self._resolver = resolver
        """What names resolve with before the policy judges them (tests stand one in)."""
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[JobKey, asyncio.Semaphore] = {}

    def _session_for_calls(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self.per_host,
                resolver=PolicyResolver(self.policy, self._resolver),
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def request(
        self,
        job: JobKey,
        method: str,
        url: str,
        *,
        limit_seconds: float,
        max_bytes: int,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: SSLContext | bool = True,
    ) -> Reply:
        """The reply, its body read up to `max_bytes`; TimeoutError past `limit_seconds` from
        the moment this Job's turn came, EgressRefused for a destination the policy refuses,
        aiohttp's errors for the rest."""
        refused = evaluate_url(self.policy, url)
        if refused is not None:
            raise EgressRefused(refused)
        try:
            return await self._request(job, method, url, limit_seconds, max_bytes, params=params,
                                       data=data, headers=headers, ssl=ssl)  # fmt: skip
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, EgressRefused):
                raise e.os_error from None
            raise

    async def _request(
        self, job: JobKey, method: str, url: str, limit_seconds: float, max_bytes: int, **kw: Any
    ) -> Reply:
        slot = self._slots.setdefault(job, asyncio.Semaphore(self.per_job))
        async with (
            slot,
            asyncio.timeout(limit_seconds),
            self._session_for_calls().request(method, url, allow_redirects=False, **kw) as resp,
        ):
            body = await read_capped(resp.content, max_bytes)
            return Reply(
                resp.status,
                body[:max_bytes],
                resp.headers.get("Location", ""),
                len(body) > max_bytes,
            )

    def forget(self, job: JobKey) -> None:
        """The Job is gone: its turn-keeper goes (calls still under way keep theirs)."""
        self._slots.pop(job, None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def build_operator_egress(
    allowed: tuple[str, ...], denied: tuple[str, ...], api_server: str, pod_ip: str | None
) -> EgressPolicy:
    """The operator's policy: the configured lists, its own pod's address denied, and the API
    server's endpoint (as this process reaches it: in a cluster the `kubernetes` Service)
    refused whatever the lists say."""
    server = URL(api_server)
    host, port = server.host or "", server.port or 443
    addresses = [host]
    if not _is_address(host):
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:  # the operator still starts; the name is judged as any other
            log.warning("cannot resolve the API server %s (%s): not denied by address", host, e)
            found = []
        addresses = sorted({str(info[4][0]) for info in found})
    own = (pod_ip,) if pod_ip else ()
    return build_egress_policy(allowed, (*denied, *own), [(a, port) for a in addresses])
