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
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from nodewave.kube.view import JobKey

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


class Outbound:
    """One session for every call to a Job's endpoints, until `close`."""

    def __init__(self, per_host: int = PER_HOST, per_job: int = PER_JOB) -> None:
        self.per_host, self.per_job = per_host, per_job
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[JobKey, asyncio.Semaphore] = {}

    def _session_for_calls(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.per_host)
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
    ) -> Reply:
        """The reply, its body read up to `max_bytes`; TimeoutError past `limit_seconds` from
        the moment this Job's turn came, aiohttp's errors for the rest."""
        slot = self._slots.setdefault(job, asyncio.Semaphore(self.per_job))
        async with (
            slot,
            asyncio.timeout(limit_seconds),
            self._session_for_calls().request(
                method, url, params=params, data=data, headers=headers, allow_redirects=False
            ) as resp,
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
