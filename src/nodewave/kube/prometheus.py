"""Error rates from Prometheus for health windows (`healthCheck.prometheus`).

One instant query per execution whose window closes in the pass, with $node, $execution,
$job, $namespace and $version substituted. Anything but exactly one finite sample — an HTTP
error, a PromQL error, no data, several series — comes back as a string saying why, which the
health window counts as unhealthy and reports; it is never read as healthy.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import aiohttp

from nodewave.core.snapshot import ExecutionInfo, JobInfo
from nodewave.models.job import PrometheusCheck


def build_query(check: PrometheusCheck, job: JobInfo, ex: ExecutionInfo) -> str:
    values = {
        "$execution": ex.name,
        "$namespace": job.namespace,
        "$version": str(ex.spec.job_version),
        "$node": ex.spec.node_name,
        "$job": job.name,
    }
    query = check.query
    for key, value in values.items():
        query = query.replace(key, value)
    return query


def _sample(body: dict[str, Any]) -> float | str:
    if body.get("status") != "success":
        return f"{body.get('errorType', 'error')}: {body.get('error', 'query failed')}"
    data = body.get("data") or {}
    result = data.get("result")
    if data.get("resultType") == "scalar":
        raw = result[1] if result else None
    elif data.get("resultType") == "vector":
        if not result:
            return "the query returned no sample"
        if len(result) > 1:
            return f"the query returned {len(result)} series; it must return one"
        raw = result[0]["value"][1]
    else:
        return f"unsupported result type {data.get('resultType')!r}"
    if raw is None:
        return "the query returned no sample"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return f"not a number: {raw!r}"
    if not math.isfinite(value):
        return f"not a finite number: {raw}"
    return min(max(value, 0.0), 1.0)


class Prometheus:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def error_rate(self, check: PrometheusCheck, query: str, now: datetime) -> float | str:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = check.address.rstrip("/") + "/api/v1/query"
        try:
            async with self._session.get(
                url,
                params={"query": query, "time": f"{now.timestamp():.3f}"},
                timeout=aiohttp.ClientTimeout(total=check.timeout_seconds),
            ) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    return f"HTTP {resp.status} from {url}"
                if not isinstance(body, dict):
                    return f"HTTP {resp.status}: unexpected body"
                return _sample(body)
        except (TimeoutError, aiohttp.ClientError) as e:
            return f"{type(e).__name__} querying {url}: {e}"[:512]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
