"""A thin async client over kubernetes_asyncio's connection and auth handling.

Requests and responses are plain JSON dicts: the generated models cost more to build than
the planner spends on a whole pass, and we only need a few fields back. Creates treat
AlreadyExists, deletes and patches NotFound, as the idempotent outcomes they are; anything
else becomes a `KubeError` with the API's reason and message.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kubernetes_asyncio import client, config

from nodewave import API_VERSION
from nodewave.core.actions import EventIntent
from nodewave.kube.slots import PrioritySlots

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotLeaderError(Exception):
    """A write refused by this process's own fence: it is not (or no longer) the leader."""


def path_of(
    kind: str, namespace: str | None, name: str | None = None, subresource: str | None = None
) -> str:
    """The API path of a resource; `namespace` None: across every namespace (lists only)."""
    group = {
        "jobs": f"/apis/{API_VERSION}",
        "executions": f"/apis/{API_VERSION}",
        "pods": "/api/v1",
        "configmaps": "/api/v1",
        "events": "/api/v1",
        "controllerrevisions": "/apis/apps/v1",
        "leases": "/apis/coordination.k8s.io/v1",
    }[kind]
    base = f"{group}/namespaces/{namespace}/{kind}" if namespace is not None else f"{group}/{kind}"
    if name:
        base += "/" + quote(name, safe="")
    if subresource:
        base += "/" + subresource
    return base


def build_event(
    involved: dict[str, str], event: EventIntent, instance: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about `involved` (apiVersion, kind, name, namespace, uid), named uniquely
    by its time."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{involved['name']}.{int(now.timestamp() * 1e9):x}",
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


IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace(config_file: str | None = None, context: str | None = None) -> str:
    """kubectl's default namespace: the kubeconfig context's, in a pod its own, else default."""
    try:
        contexts, active = config.list_kube_config_contexts(config_file)
    except (config.ConfigException, OSError):
        if IN_CLUSTER_NAMESPACE.exists():
            return IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
        return "default"
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


class Kube:
    """One API connection pool, a bound on requests in flight, and counts of what was sent."""

    def __init__(self, api: client.ApiClient, max_inflight: int) -> None:
        self.api = api
        self._slots = PrioritySlots(max_inflight)
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
        try:
            if config_file or context:
                raise config.ConfigException("a kubeconfig was named")
            config.load_incluster_config()
        except config.ConfigException:
            await config.load_kube_config(config_file=config_file, context=context)
        configuration = client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = max_inflight
        return cls(client.ApiClient(configuration), max_inflight)

    async def close(self) -> None:
        await self.api.close()

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
        async with self._slots.slot():
            resp = await self.api.call_api(
                path,
                method,
                query_params=list((query or {}).items()),
                header_params={"Content-Type": content_type, "Accept": JSON},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=30,
            )
            try:
                raw = await resp.read()
            finally:
                resp.release()
        resource = path.rstrip("/").split("/")
        kind = next(
            (
                p
                for p in reversed(resource)
                if p
                in (
                    "jobs",
                    "executions",
                    "pods",
                    "configmaps",
                    "events",
                    "controllerrevisions",
                    "leases",
                    "status",
                )
            ),
            "other",
        )
        self.requests[(method, kind, resp.status)] += 1
        data = json.loads(raw) if raw else None
        if 200 <= resp.status < 300:
            return data
        reason = (data or {}).get("reason", "") if isinstance(data, dict) else ""
        message = (
            (data or {}).get("message", raw.decode(errors="replace"))
            if isinstance(data, dict)
            else raw.decode(errors="replace")
        )
        raise KubeError(resp.status, reason, message)

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

    async def delete(self, path: str, uid: str | None = None) -> dict[str, Any] | None:
        """The object as deletion left it (terminating), or None when it was already gone.
        With `uid`, only that incarnation is deleted (a precondition), never a successor."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
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
