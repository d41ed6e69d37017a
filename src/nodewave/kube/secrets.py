"""Keys of Secrets a Job names (a webhook's signing key and CA, a Prometheus token), read in
the Job's namespace with the operator's rights, by name only (the chart grants `get` on the
names it lists, never list or watch).

One reader for every caller, so that a missing Secret, a name the chart does not allow and a
key that is not there read the same everywhere. A Secret is read at most once per
`CACHE_SECONDS` (a pass that closes 5,000 health windows asks for its Prometheus token 5,000
times, and they share one GET): a rotated Secret is used within that many seconds. A refusal
(403: a name the chart does not allow) is kept as long; other failures are asked again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.models.job import ALLOWED_ADDRESSES, SecretKeyRef

CACHE_SECONDS = 10.0
MAX_CACHED = 1024
"""Secrets and CA contexts kept at most (the oldest go first)."""


@dataclass(frozen=True, slots=True)
class SecretKey:
    value: bytes
    allowed_addresses: str | None
    """The Secret's annotation nodewave.io/allowed-addresses (core/operator/credentials.py)."""


class SecretReader:
    def __init__(self, kube: Kube, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.monotonic = monotonic
        self._secrets: OrderedDict[tuple[str, str], tuple[float, asyncio.Task[Any]]] = OrderedDict()
        self._contexts: OrderedDict[bytes, ssl.SSLContext | str] = OrderedDict()

    async def read_key(
        self, namespace: str, ref: SecretKeyRef, chart_value: str
    ) -> SecretKey | str:
        """The key's value, or why it cannot be had. `chart_value` is the chart value that
        lists the Secret names the operator may read, named when it may not read this one."""
        secret = await self._secret(namespace, ref.name)
        if isinstance(secret, KubeError):
            if secret.status == 403:
                return (
                    f"the operator may not read Secret {ref.name}: add it to the chart value "
                    f"{chart_value}"
                )
            detail = str(secret) if secret.status else f"{secret.reason}: {secret.message}"
            return f"cannot read Secret {ref.name}: {detail}"
        if secret is None:
            return f"Secret {ref.name} not found"
        value = (secret.get("data") or {}).get(ref.key)
        if value is None:
            return f"Secret {ref.name} has no key {ref.key}"
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"Secret {ref.name} key {ref.key} is not base64"
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        return SecretKey(decoded, annotations.get(ALLOWED_ADDRESSES))

    async def read_ca(
        self, namespace: str, ref: SecretKeyRef | None, chart_value: str
    ) -> ssl.SSLContext | bool | str:
        """The TLS verification to use: the Secret's CA bundle, True (the system's CAs) without
        one, or why the bundle cannot be had. One context per distinct bundle: building one
        parses every certificate in it."""
        if ref is None:
            return True
        key = await self.read_key(namespace, ref, chart_value)
        if isinstance(key, str):
            return key
        digest = hashlib.sha256(key.value).digest()
        context = self._contexts.get(digest)
        if context is None:
            try:
                context = ssl.create_default_context(cadata=key.value.decode("ascii"))
            except (ssl.SSLError, ValueError, UnicodeDecodeError):
                context = f"Secret {ref.name} key {ref.key} is not a PEM CA bundle"
            self._contexts[digest] = context
            if len(self._contexts) > MAX_CACHED:
                self._contexts.popitem(last=False)
        self._contexts.move_to_end(digest)
        return context

    async def _secret(self, namespace: str, name: str) -> dict[str, Any] | KubeError | None:
        """The Secret (None if absent, the error if it cannot be read), read again once
        CACHE_SECONDS have passed; callers at the same moment share one GET."""
        now = self.monotonic()
        key = (namespace, name)
        # Oldest first: the expired ones go, the Secrets' data with them.
        while self._secrets and now - next(iter(self._secrets.values()))[0] >= CACHE_SECONDS:
            self._secrets.popitem(last=False)
        cached = self._secrets.get(key)
        if cached is None:
            cached = (now, asyncio.ensure_future(self._get(namespace, name)))
            self._secrets[key] = cached
            if len(self._secrets) > MAX_CACHED:
                self._secrets.popitem(last=False)
        result: dict[str, Any] | KubeError | None = await asyncio.shield(cached[1])
        if (
            isinstance(result, KubeError)
            and result.status != 403
            and (self._secrets.get(key) is cached)
        ):
            del self._secrets[key]  # a passing failure: the next caller asks again
        return result

    async def _get(self, namespace: str, name: str) -> dict[str, Any] | KubeError | None:
        try:
            secret: dict[str, Any] | None = await self.kube.get(path_of("secrets", namespace, name))
        except KubeError as e:
            return e
        except OSError as e:  # unreachable: said, not raised to every caller sharing the read
            return KubeError(0, type(e).__name__, str(e))
        return secret
