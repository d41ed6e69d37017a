"""A thin async client: JSON over aiohttp (kopf's own HTTP client), credentials from kube/auth.

Requests and responses are plain JSON dicts: generated models cost more to build than the
planner spends on a whole pass, and we only need a few fields back. Creates treat
AlreadyExists, deletes and patches NotFound, as the idempotent outcomes they are; anything
else becomes a `KubeError` with the API's reason and message.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from multidict import CIMultiDict

from nodewave import API_VERSION
from nodewave.core.vocabulary.actions import EventIntent
from nodewave.kube.auth import ConfigError, Credentials, load_credentials
from nodewave.kube.slots import PrioritySlots

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


NAMESPACE_TERMINATING = "NamespaceTerminating"
"""A Status cause: the namespace is being deleted, nothing new may be made in it."""


class KubeError(Exception):
    def __init__(
        self, status: int, reason: str, message: str, causes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes
        """The types of the Status's details.causes (e.g. NAMESPACE_TERMINATING)."""


class NotLeaderError(Exception):
    """A write refused by this process's own fence: it is not (or no longer) the leader."""


API_PREFIXES = {
    "jobs": f"/apis/{API_VERSION}",
    "executions": f"/apis/{API_VERSION}",
    "pods": "/api/v1",
    "nodes": "/api/v1",
    "configmaps": "/api/v1",
    "secrets": "/api/v1",
    "events": "/api/v1",
    "controllerrevisions": "/apis/apps/v1",
    "leases": "/apis/coordination.k8s.io/v1",
}
"""The resources this client reads and writes, and where their API lives."""


def path_of(
    kind: str, namespace: str | None, name: str | None = None, subresource: str | None = None
) -> str:
    """The API path of a resource; `namespace` None: across every namespace (lists only)."""
    group = API_PREFIXES[kind]
    base = f"{group}/namespaces/{namespace}/{kind}" if namespace is not None else f"{group}/{kind}"
    if name:
        base += "/" + quote(name, safe="")
    if subresource:
        base += "/" + subresource
    return base


_EVENT_SEQUENCE = itertools.count()


def event_time(at: datetime) -> str:
    """A core/v1 Event's first/lastTimestamp: whole seconds, as the API stores them."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_event(
    involved: dict[str, str], event: EventIntent, instance: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about `involved` (apiVersion, kind, name, namespace, uid), named uniquely
    by its time, as client-go names them; a sequence fills the nanoseconds a datetime lacks, so
    two Events of one pass on one object never share a name (the second would be lost as
    AlreadyExists)."""
    stamp = event_time(now)
    nanos = int(now.timestamp() * 1e6) * 1000 + next(_EVENT_SEQUENCE) % 1000
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{involved['name']}.{nanos:x}",
            "namespace": involved["namespace"],
        },
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.type,
        "source": {"component": "nodewave"},
        "reportingComponent": "nodewave.io/operator",
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def default_namespace(config_file: str | None = None, context: str | None = None) -> str:
    """kubectl's default namespace: the kubeconfig context's, in a pod its own, else default."""
    try:
        return load_credentials(config_file, context).namespace
    except (ConfigError, OSError, KeyError, TypeError):
        return "default"


def _resource_of(path: str) -> str:
    """The resource (or "status") a path names, for the request counts."""
    parts = reversed(path.split("/"))
    return next((p for p in parts if p in API_PREFIXES or p == "status"), "other")


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _error(status: int, raw: bytes) -> KubeError:
    """The API's Status (reason and message) as our error, or the raw body when it is none."""
    decoded = _decode(raw)
    if isinstance(decoded, dict):
        details = decoded.get("details") or {}
        # A StatusCause's type is serialised as "reason" (metav1.StatusCause `json:"reason"`).
        causes = tuple(str(c.get("reason", "")) for c in details.get("causes") or [])
        return KubeError(status, decoded.get("reason", ""), decoded.get("message", ""), causes)
    return KubeError(status, "", raw.decode(errors="replace"))


class Kube:
    """One API connection pool, a bound on requests in flight, and counts of what was sent."""

    def __init__(
        self,
        credentials: Credentials,
        max_inflight: int,
        timeout: float | None = 30.0,
        log_requests: bool = False,
    ) -> None:
        self.credentials = credentials
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_inflight),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )
        self.log_requests = log_requests
        """Each request and its answer's status and time on stderr (the plugin's -v 6)."""
        self._proxy = credentials.proxy
        """The proxy every request goes through (kube/auth.plan_proxy), or None."""
        self._slots = PrioritySlots(max_inflight)
        self._watch_session: aiohttp.ClientSession | None = None
        self.requests: Counter[tuple[str, str, int]] = Counter()
        """(verb, resource, status code) → count, for metrics and the benchmark."""
        self.fence: Callable[[], bool] | None = None
        """Asked before every write; False refuses it (leader election: a standby, or a leader
        past its renew deadline, writes nothing)."""

    @classmethod
    async def connect(
        cls, max_inflight: int, config_file: str | None = None, context: str | None = None
    ) -> Kube:
        """In-cluster credentials when running in a pod, else the kubeconfig (`config_file`,
        else $KUBECONFIG or ~/.kube/config; its current context unless `context` is named)."""
        return cls(load_credentials(config_file, context), max_inflight)

    async def close(self) -> None:
        await self._session.close()
        if self._watch_session is not None:
            await self._watch_session.close()

    async def _headers(self, content_type: str = JSON) -> CIMultiDict[str]:
        headers = CIMultiDict({"Content-Type": content_type, "Accept": JSON})
        authorization = await self.credentials.authorization()
        if authorization:
            headers["Authorization"] = authorization
        for name, value in self.credentials.impersonation:
            headers.add(name, value)
        return headers

    def _log(
        self, method: str, path: str, query: dict[str, str] | None, status: int, started: float
    ) -> None:
        if self.log_requests:
            url = self.credentials.server + path + (f"?{urlencode(query)}" if query else "")
            took = (time.monotonic() - started) * 1000
            print(f"{method} {url} {status} in {took:.0f} milliseconds", file=sys.stderr,
                  flush=True)  # fmt: skip

    @asynccontextmanager
    async def stream(self, path: str, query: dict[str, str]) -> AsyncIterator[aiohttp.StreamReader]:
        """A watch: the response body as it arrives. Watches have a connection pool of their
        own, with no overall timeout: they last minutes and must never take the slots that
        bound our requests in flight."""
        if self._watch_session is None:
            self._watch_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=360),
            )
        started = time.monotonic()
        try:
            async with self._watch_session.get(
                self.credentials.server + path,
                params=query,
                headers=await self._headers(),
                server_hostname=self.credentials.tls_server_name,
                ssl=self.credentials.ssl_context(),
                proxy=self._proxy,
            ) as resp:
                self.requests[("WATCH", _resource_of(path), resp.status)] += 1
                self._log("WATCH", path, query, resp.status, started)
                if resp.status == 401 and self.credentials.refreshable:
                    self.credentials.expire()  # the next try reads the credentials again
                if resp.status >= 300:
                    raise _error(resp.status, await resp.read())
                yield resp.content
        except aiohttp.ClientError as e:
            if isinstance(e, OSError):
                raise
            raise KubeError(0, type(e).__name__, str(e) or repr(e)) from e

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        content_type: str = JSON,
    ) -> Any:
        if method != "GET" and self.fence is not None and not self.fence():
            raise NotLeaderError(f"{method} {path}: not the leader")
        # A str is sent as it is (a YAML apply patch); anything else as JSON.
        data = body if isinstance(body, str) or body is None else json.dumps(body)
        started = time.monotonic()
        for attempt in (1, 2):
            headers = await self._headers(content_type)
            try:
                async with (
                    self._slots.slot(),
                    self._session.request(
                        method,
                        self.credentials.server + path,
                        params=query,
                        data=data,
                        headers=headers,
                        server_hostname=self.credentials.tls_server_name,
                        ssl=self.credentials.ssl_context(),
                        proxy=self._proxy,
                    ) as resp,
                ):
                    raw = await resp.read()
                    status = resp.status
            except aiohttp.ClientError as e:
                if isinstance(e, OSError):
                    raise
                raise KubeError(0, type(e).__name__, str(e) or repr(e)) from e
            if status == 401 and attempt == 1 and self.credentials.refreshable:
                self.credentials.expire()  # a rotated token or an expired plugin credential
                continue
            break
        self.requests[(method, _resource_of(path), status)] += 1
        self._log(method, path, query, status, started)
        if 200 <= status < 300:
            return _decode(raw)
        raise _error(status, raw)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The created object, or None when it already exists."""
        try:
            result: dict[str, Any] = await self.request("POST", path, body)
        except KubeError as e:
            if e.status == 409:
                return None
            raise
        return result

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The patched object, or None when it is gone."""
        try:
            result: dict[str, Any] = await self.request(
                "PATCH", path, body, content_type=MERGE_PATCH
            )
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        return result

    async def delete(
        self, path: str, uid: str | None = None, *, foreground: bool = False
    ) -> dict[str, Any] | None:
        """The object as deletion left it (terminating), or None when it was already gone.
        With `uid`, only that incarnation is deleted (a precondition), never a successor.
        `foreground`: the object stays (terminating) until the garbage collector has removed
        its dependents, so a successor under the same name never meets its predecessor's pod."""
        policy = "Foreground" if foreground else "Background"
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}
        if uid:
            body["preconditions"] = {"uid": uid}  # type: ignore[assignment]
        try:
            result = await self.request("DELETE", path, body)
        except KubeError as e:
            if e.status in (404, 409):
                return None
            raise
        return result if isinstance(result, dict) and result.get("kind") != "Status" else None

    async def get(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self.request("GET", path, query=query)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        return result
