"""Webhook calls, made in the background so that a slow or hanging endpoint never holds a
pass (docs/design.md §3.6).

A pass asks for calls (`CallWebhook`, core/webhooks.py); each key is called once, in a task of
its own, and its answer kept here (for `ANSWER_KEEP_SECONDS`) until a pass records it in the
Job's status; then the Job is woken (`on_answer`). What is sent: a JSON POST, signed with
HMAC-SHA256 when the webhook names a Secret key. What counts as an answer is narrow on
purpose: a 2xx status passes, anything else is a refusal with a one-line reason (the status,
a redirect not followed, no answer within timeoutSeconds, a connection refused, a reply that
is not HTTP). aiohttp is the operator's HTTP client already (kopf's), and it answers each of
those cases with its own exception.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from nodewave.core.actions import CallWebhook
from nodewave.core.snapshot import WebhookAnswer
from nodewave.core.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, build_signature
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.kube.view import JobKey

log = logging.getLogger("nodewave.webhooks")
ANSWER_KEEP_SECONDS = 600.0
"""An answer no pass picked up by then (the Job was deleted, a new rollout started) goes."""
BODY_SHOWN = 200
"""Characters of a refusal's body kept in the status message."""


class WebhookRunner:
    def __init__(
        self,
        kube: Kube,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.clock = clock
        self.on_answer: Callable[[JobKey], None] = lambda key: None
        """Called with the Job's key when one of its calls has its answer (wakes a pass)."""
        self._answers: dict[JobKey, dict[str, tuple[WebhookAnswer, float]]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def answers(self, key: JobKey) -> dict[str, WebhookAnswer]:
        """The Job's answers not yet too old, by call key."""
        mine = self._answers.get(key, {})
        cutoff = time.monotonic() - ANSWER_KEEP_SECONDS
        for k in [k for k, (_, stored) in mine.items() if stored < cutoff]:
            del mine[k]
        return {k: answer for k, (answer, _) in mine.items()}

    def start(self, call: CallWebhook) -> None:
        """Make the call unless it is under way or answered already."""
        key = (call.namespace, call.job)
        if call.key in self._running or call.key in self._answers.get(key, {}):
            return
        task = asyncio.get_running_loop().create_task(
            self._run(key, call), name=f"webhook {call.key}"
        )
        self._running[call.key] = task

    def forget(self, key: JobKey) -> None:
        self._answers.pop(key, None)

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self, key: JobKey, call: CallWebhook) -> None:
        try:
            ok, message = await self._call(call)
        except Exception as e:  # a bug of ours must not pass a gate, nor kill the operator
            log.exception("webhook %s", call.key)
            ok, message = False, f"the operator failed to call it: {type(e).__name__}: {e}"
        finally:
            self._running.pop(call.key, None)
        answer = WebhookAnswer(ok, self.clock(), _one_line(message))
        log.info("%s/%s webhook %s: %s", *key, call.webhook.name, answer.message)
        self._answers.setdefault(key, {})[call.key] = (answer, time.monotonic())
        self.on_answer(key)

    async def _call(self, call: CallWebhook) -> tuple[bool, str]:
        hook = call.webhook
        body = json.dumps(call.payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "nodewave"}
        if hook.secret_ref is not None:
            secret = await self._secret_key(
                call.namespace, hook.secret_ref.name, hook.secret_ref.key
            )
            if isinstance(secret, str):
                return False, secret
            timestamp = str(int(self.clock().timestamp()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = build_signature(secret, timestamp, body)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                hook.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=hook.timeout_seconds),
            ) as resp:
                text = (await resp.content.read(BODY_SHOWN)).decode("utf-8", "replace").strip()
                status = resp.status
                location = resp.headers.get("Location", "")
        except TimeoutError:
            return False, f"no answer within {hook.timeout_seconds}s"
        except aiohttp.ClientConnectorError as e:
            return False, f"unreachable: {e.strerror or e}"
        except aiohttp.ClientError as e:
            return False, f"not an HTTP answer: {type(e).__name__}: {e}"
        if 300 <= status < 400:
            return False, f"HTTP {status}: redirects are not followed (Location: {location})"
        return 200 <= status < 300, f"HTTP {status}" + (f": {text}" if text else "")

    async def _secret_key(self, namespace: str, name: str, key: str) -> bytes | str:
        """The signing key, or why it cannot be had."""
        try:
            secret = await self.kube.get(path_of("secrets", namespace, name))
        except KubeError as e:
            if e.status == 403:
                return (
                    f"the operator may not read Secret {name}: add it to the chart value "
                    "webhooks.secretNames"
                )
            return f"cannot read Secret {name}: {e}"
        if secret is None:
            return f"Secret {name} not found"
        value = (secret.get("data") or {}).get(key)
        if value is None:
            return f"Secret {name} has no key {key}"
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"Secret {name} key {key} is not base64"


def _one_line(message: str) -> str:
    return re.sub(r"\s+", " ", message).strip()
