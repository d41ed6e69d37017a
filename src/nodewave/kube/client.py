"""A thin async client over kubernetes_asyncio's connection and auth handling.

Requests and responses are plain JSON dicts: the generated models cost more to build than
the planner spends on a whole pass, and we only need a few fields back. Creates treat
AlreadyExists, deletes and patches NotFound, as the idempotent outcomes they are; anything
else becomes a `KubeError` with the API's reason and message.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

from kubernetes_asyncio import client, config

from nodewave import API_VERSION
from nodewave.kube.slots import PrioritySlots

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def path_of(
    kind: str, namespace: str, name: str | None = None, subresource: str | None = None
) -> str:
    base = {
        "jobs": f"/apis/{API_VERSION}/namespaces/{namespace}/jobs",
        "executions": f"/apis/{API_VERSION}/namespaces/{namespace}/executions",
        "pods": f"/api/v1/namespaces/{namespace}/pods",
        "configmaps": f"/api/v1/namespaces/{namespace}/configmaps",
        "events": f"/api/v1/namespaces/{namespace}/events",
        "controllerrevisions": f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions",
    }[kind]
    if name:
        base += "/" + quote(name, safe="")
    if subresource:
        base += "/" + subresource
    return base


class Kube:
    """One API connection pool, a bound on requests in flight, and counts of what was sent."""

    def __init__(self, api: client.ApiClient, max_inflight: int) -> None:
        self.api = api
        self._slots = PrioritySlots(max_inflight)
        self.requests: Counter[tuple[str, str, int]] = Counter()
        """(verb, resource, status code) → count, for metrics and the benchmark."""

    @classmethod
    async def connect(cls, max_inflight: int) -> Kube:
        """In-cluster credentials when running in a pod, else the current kubeconfig."""
        try:
            config.load_incluster_config()
        except config.ConfigException:
            await config.load_kube_config()
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
