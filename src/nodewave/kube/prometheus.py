"""Error rates from Prometheus for health windows (`healthCheck.prometheus`), and the active
alerts of `healthCheck.alerts` (Prometheus' ALERTS or Alertmanager's API).

One instant query per execution whose window closes in the pass, with $node, $execution,
$job, $namespace and $version substituted. Anything but exactly one finite sample — an HTTP
error, a PromQL error, no data, several series — comes back as a string saying why, which the
health window counts as unhealthy and reports; it is never read as healthy.
"""

from __future__ import annotations

import base64
import json
import math
import ssl
from datetime import datetime
from typing import Any

import aiohttp

from nodewave.core.operator.credentials import evaluate_credentials_destination
from nodewave.core.rollout.alerts import (
    build_alert_params,
    build_alert_query,
    evaluate_alert_reply,
)
from nodewave.core.vocabulary.snapshot import AlertAnswer, ExecutionInfo, JobInfo
from nodewave.kube.outbound import EgressRefused, Outbound
from nodewave.kube.secrets import SecretReader
from nodewave.kube.view import JobKey
from nodewave.models.job import (
    RESERVED_HEADERS,
    AlertCheck,
    AlertSource,
    HttpEndpoint,
    PrometheusCheck,
    SecretKeyRef,
)

MAX_REPLY_BYTES = 1024 * 1024
"""A query's reply is read up to 1 MiB (an instant query for one series is a few hundred
bytes); past it the window is unhealthy and says why, and the rest is never read."""


class CredentialRefused(Exception):
    """A credential is not sent: the message says why."""


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


SECRET_NAMES = "healthChecks.secretNames"
"""The chart value listing the Secrets health checks may name."""


def _header_value(value: bytes) -> str | None:
    """A credential as a header value (its trailing newline dropped: `kubectl create secret
    --from-file` keeps one), or None when it is not one."""
    try:
        text = value.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text if text and text.isprintable() else None


def evaluate_headers(endpoint: HttpEndpoint) -> str | None:
    """Why the endpoint's headers may not be sent, or None. The CRD refuses the same; a Job
    stored under an older CRD is refused here."""
    names = [h.name.lower() for h in endpoint.headers]
    reserved = sorted({n for n in names if n in RESERVED_HEADERS})
    if reserved:
        return f"headers may not set {', '.join(reserved)}"
    if len(set(names)) != len(names):
        return "header names must be unique, whatever their case"
    credential = endpoint.authorization is not None or endpoint.basic_auth is not None
    if credential and any(h.value_from is None for h in endpoint.headers):
        return "with authorization or basicAuth, headers take valueFrom.secretKeyRef"
    return None


class Prometheus:
    """Health queries of every Job, through the operator's bounded outbound calls."""

    def __init__(self, outbound: Outbound, secrets: SecretReader) -> None:
        self.outbound = outbound
        self.secrets = secrets

    async def _credential(self, namespace: str, ref: SecretKeyRef, address: str) -> str:
        """A Secret's key for `address`; CredentialRefused when the Secret cannot be read, is
        not a header value, or does not allow `address` (core/operator/credentials.py)."""
        key = await self.secrets.read_key(namespace, ref, SECRET_NAMES)
        if isinstance(key, str):
            raise CredentialRefused(key)
        why = evaluate_credentials_destination(key.allowed_addresses, address)
        if why is not None:
            raise CredentialRefused(f"Secret {ref.name} is not sent to {address}: {why}")
        value = _header_value(key.value)
        if value is None:
            raise CredentialRefused(f"Secret {ref.name} key {ref.key} is not printable ASCII")
        return value

    async def _authorization(self, namespace: str, endpoint: HttpEndpoint) -> str | None:
        """The Authorization header from the endpoint's Secrets, or None without credentials."""
        if endpoint.authorization is not None:
            auth = endpoint.authorization
            token = await self._credential(namespace, auth.credentials, endpoint.address)
            return f"{auth.type} {token}"
        if endpoint.basic_auth is not None:
            basic = endpoint.basic_auth
            user = await self._credential(namespace, basic.username, endpoint.address)
            password = await self._credential(namespace, basic.password, endpoint.address)
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return None

    async def _connection(
        self, namespace: str, endpoint: HttpEndpoint
    ) -> tuple[dict[str, str], ssl.SSLContext | bool] | str:
        """The headers and TLS verification of requests to `endpoint`, or why there are none."""
        problem = evaluate_headers(endpoint)
        if problem is not None:
            return problem
        headers: dict[str, str] = {}
        try:
            for header in endpoint.headers:
                source = header.value_from
                headers[header.name] = (
                    header.value or ""
                    if source is None
                    else await self._credential(namespace, source.secret_key_ref, endpoint.address)
                )
            authorization = await self._authorization(namespace, endpoint)
        except CredentialRefused as e:
            return str(e)
        if authorization is not None:
            headers["Authorization"] = authorization
        ca = await self.secrets.read_ca(namespace, endpoint.ca_secret_ref, SECRET_NAMES)
        return ca if isinstance(ca, str) else (headers, ca)

    async def read_alerts(self, job: JobKey, check: AlertCheck, now: datetime) -> AlertAnswer:
        """The matching alerts firing now (healthCheck.alerts), or why they cannot be read."""
        if check.api is AlertSource.ALERTMANAGER:
            url = check.address.rstrip("/") + "/api/v2/alerts"
            params: Any = build_alert_params(check)
        else:
            url = check.address.rstrip("/") + "/api/v1/query"
            params = {"query": build_alert_query(check), "time": f"{now.timestamp():.3f}"}
        body = await self._get_json(job, check, url, params)
        if isinstance(body, str):
            return AlertAnswer(now, error=body)
        return evaluate_alert_reply(check.api, body, now)

    async def _get_json(
        self, job: JobKey, endpoint: HttpEndpoint, url: str, params: Any
    ) -> dict[str, Any] | list[Any] | str:
        """The JSON a GET answers within the endpoint's timeout, or why there is none."""
        connection = await self._connection(job[0], endpoint)
        if isinstance(connection, str):
            return f"{url} not queried: {connection}"
        headers, verify = connection
        limit = endpoint.timeout_seconds
        try:
            reply = await self.outbound.request(
                job, "GET", url, limit_seconds=limit, max_bytes=MAX_REPLY_BYTES, params=params,
                headers=headers, ssl=verify,
            )  # fmt: skip
        except TimeoutError:
            return f"no answer from {url} within {limit}s"
        except EgressRefused as e:
            return f"{url} not queried: {e}"
        except aiohttp.ClientError as e:
            return f"{type(e).__name__} querying {url}: {e}"[:512]
        except ValueError as e:  # aiohttp's verdict on a header or URL the CRD let through
            return f"{url} not queried: {e}"[:512]
        if reply.truncated:
            return f"the reply from {url} is over {MAX_REPLY_BYTES // 1024} KiB: not read further"
        if 300 <= reply.status < 400:
            return f"HTTP {reply.status} from {url}: redirects are not followed"
        try:
            body = json.loads(reply.body)
        except ValueError:
            return f"HTTP {reply.status} from {url}"
        if reply.status >= 400 and not isinstance(body, dict):
            return f"HTTP {reply.status} from {url}"
        return body if isinstance(body, dict | list) else f"HTTP {reply.status}: unexpected body"

    async def error_rate(
        self, job: JobKey, check: PrometheusCheck, query: str, now: datetime
    ) -> float | str:
        url = check.address.rstrip("/") + "/api/v1/query"
        params = {"query": query, "time": f"{now.timestamp():.3f}"}
        body = await self._get_json(job, check, url, params)
        if isinstance(body, str):
            return body
        if not isinstance(body, dict):
            return "unexpected body: not a JSON object"
        return _sample(body)
