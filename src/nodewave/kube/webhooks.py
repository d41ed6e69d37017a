"""Webhook calls, made in the background so that a slow or hanging endpoint never holds a
pass (docs/design.md §3.6).

A pass asks for calls (`CallWebhook`, core/rollout/webhooks.py); each is made once, in the background
(kube/background.py), and its answer handed to a later pass. What is sent: a JSON POST, signed with
HMAC-SHA256 when the webhook names a Secret key. What counts as an answer is narrow on
purpose: a 2xx status passes, anything else is a refusal with a one-line reason (the status,
a redirect not followed, no answer within timeoutSeconds, a connection refused, a reply that
is not HTTP). aiohttp is the operator's HTTP client already (kopf's), and it answers each of
those cases with its own exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from nodewave.core.rollout.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, build_signature
from nodewave.core.vocabulary.actions import CallWebhook
from nodewave.kube.background import BackgroundCalls
from nodewave.kube.outbound import EgressRefused, Outbound
from nodewave.kube.secrets import SecretReader
from nodewave.models.job import SecretKeyRef

SECRET_NAMES = "webhooks.secretNames"
"""The chart value listing the Secrets webhooks may name."""
BODY_SHOWN = 200
"""Characters of a refusal's body kept in the status message."""


class WebhookRunner:
    def __init__(
        self,
        secrets: SecretReader,
        outbound: Outbound,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.secrets = secrets
        self.outbound = outbound
        self.clock = clock
        self.calls = BackgroundCalls("webhook", clock)

    def start(self, call: CallWebhook) -> None:
        self.calls.start((call.namespace, call.job), call.key, lambda: self._call(call))

    async def close(self) -> None:
        await self.calls.close()

    async def _call(self, call: CallWebhook) -> tuple[bool, str]:
        hook = call.webhook
        body = json.dumps(call.payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "nodewave"}
        ca = await self.secrets.read_ca(call.namespace, hook.ca_secret_ref, SECRET_NAMES)
        if isinstance(ca, str):
            return False, ca
        if hook.secret_ref is not None:
            secret = await self._signing_key(call.namespace, hook.secret_ref)
            if isinstance(secret, str):
                return False, secret
            timestamp = str(int(self.clock().timestamp()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = build_signature(secret, "POST", hook.url, timestamp, body)
        try:
            reply = await self.outbound.request(
                (call.namespace, call.job), "POST", hook.url, data=body, headers=headers,
                limit_seconds=hook.timeout_seconds, max_bytes=BODY_SHOWN, ssl=ca,
            )  # fmt: skip
        except TimeoutError:
            return False, f"no answer within {hook.timeout_seconds}s"
        except EgressRefused as e:
            return False, f"not called: {e}"
        except aiohttp.ClientConnectorError as e:
            return False, f"unreachable: {e.strerror or e}"
        except aiohttp.ClientError as e:
            return False, f"not an HTTP answer: {type(e).__name__}: {e}"
        status, text = reply.status, reply.body.decode("utf-8", "replace").strip()
        if 300 <= status < 400:
            return False, f"HTTP {status}: redirects are not followed (Location: {reply.location})"
        return 200 <= status < 300, f"HTTP {status}" + (f": {text}" if text else "")

    async def _signing_key(self, namespace: str, ref: SecretKeyRef) -> bytes | str:
        """The signing key, or why it cannot be had."""
        key = await self.secrets.read_key(namespace, ref, SECRET_NAMES)
        if isinstance(key, str):
            return key
        # An empty key signs nothing a receiver could trust: anyone can compute that HMAC.
        if key.value == b"":
            return f"Secret {ref.name} key {ref.key} is empty: nothing is signed with an empty key"
        return key.value
