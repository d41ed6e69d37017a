"""Error rates from Prometheus for health windows (`healthCheck.prometheus`).

One instant query per execution whose window closes in the pass, with $node, $execution,
$job, $namespace and $version substituted. Anything but exactly one finite sample — an HTTP
error, a PromQL error, no data, several series — comes back as a string saying why, which the
health window counts as unhealthy and reports; it is never read as healthy.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import aiohttp

from nodewave.core.vocabulary.snapshot import ExecutionInfo, JobInfo
from nodewave.kube.outbound import EgressRefused, Outbound
from nodewave.kube.view import JobKey
from nodewave.models.job import PrometheusCheck

MAX_REPLY_BYTES = 1024 * 1024
"""A query's reply is read up to 1 MiB (an instant query for one series is a few hundred
bytes); past it the window is unhealthy and says why, and the rest is never read."""


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
    """Health queries of every Job, through the operator's bounded outbound calls."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound

    async def error_rate(
        self, job: JobKey, check: PrometheusCheck, query: str, now: datetime
    ) -> float | str:
        url = check.address.rstrip("/") + "/api/v1/query"
        try:
            reply = await self.outbound.request(
                job, "GET", url, limit_seconds=check.timeout_seconds, max_bytes=MAX_REPLY_BYTES,
                params={"query": query, "time": f"{now.timestamp():.3f}"},
            )  # fmt: skip
        except TimeoutError:
            return f"no answer from {url} within {check.timeout_seconds}s"
        except EgressRefused as e:
            return f"{url} not queried: {e}"
        except aiohttp.ClientError as e:
            return f"{type(e).__name__} querying {url}: {e}"[:512]
        if reply.truncated:
            return f"the reply from {url} is over {MAX_REPLY_BYTES // 1024} KiB: not read further"
        if 300 <= reply.status < 400:
            return f"HTTP {reply.status} from {url}: redirects are not followed"
        try:
            body = json.loads(reply.body)
        except ValueError:
            return f"HTTP {reply.status} from {url}"
        if not isinstance(body, dict):
            return f"HTTP {reply.status}: unexpected body"
        return _sample(body)
