"""Sending notifications, through Apprise (docs/design.md §3.7).

Why Apprise: one maintained library speaks to Slack, Microsoft Teams, e-mail (SMTP), generic
JSON webhooks, PagerDuty, Matrix and a hundred more, each configured by one URL, so a service is
a line of the ConfigMap and no client of ours has to follow a vendor's API. Its sends are
bounded by a timeout we give, and its structured result says why one failed.

The configuration (the `nodewave-notifications` ConfigMap and the Secret of the same name, in
the operator's namespace) is read at most every `refresh_seconds` (15), so a change applies
within that time without a watch (and without list/watch rights on ConfigMaps or Secrets).
Sends run in the background (kube/background.py), one per outbox entry and attempt.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nodewave.core.job.notifications import (
    NotificationsConfig,
    build_message,
    evaluate_subscriptions,
    parse_notifications_config,
)
from nodewave.core.vocabulary.actions import SendNotification
from nodewave.core.vocabulary.snapshot import JobInfo, JobSubscriptions
from nodewave.kube.background import BackgroundCalls
from nodewave.kube.client import Kube, KubeError, path_of

if TYPE_CHECKING:
    import apprise

log = logging.getLogger("nodewave.notifications")
SEND_TIMEOUT_SECONDS = 20.0
"""One send, all of it: a slow service counts as failed past this and is tried again."""


class Notifier:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        refresh_seconds: float = 15.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.namespace, self.name = namespace, name
        self.refresh_seconds = refresh_seconds
        """Where the ConfigMap and Secret are; name "" turns notifications off."""
        self.calls = BackgroundCalls("notification", clock)
        self._config = NotificationsConfig()
        self._read_at = float("-inf")
        self._errors: tuple[str, ...] = ()

    async def subscriptions(self, job: JobInfo) -> JobSubscriptions:
        """Who is told of this Job's transitions."""
        config = await self.config()
        return evaluate_subscriptions(config, job.namespace, job.labels, job.subscribe)

    async def config(self) -> NotificationsConfig:
        if not self.name or time.monotonic() - self._read_at < self.refresh_seconds:
            return self._config
        self._read_at = time.monotonic()
        try:
            self._config = await self._read()
        except KubeError as e:  # keep the last one read: an API hiccup silences nobody
            log.warning("cannot read %s/%s: %s", self.namespace, self.name, e)
        if self._config.errors != self._errors:
            self._errors = self._config.errors
            for error in self._errors:
                log.warning("%s/%s: %s", self.namespace, self.name, error)
        return self._config

    async def _read(self) -> NotificationsConfig:
        cm = await self.kube.get(path_of("configmaps", self.namespace, self.name))
        if cm is None:
            return NotificationsConfig()
        secret: dict[str, str] = {}
        try:
            found = await self.kube.get(path_of("secrets", self.namespace, self.name))
        except KubeError as e:
            if e.status != 403:
                raise
            found = None
        for key, value in ((found or {}).get("data") or {}).items():
            try:
                secret[key] = base64.b64decode(value).decode()
            except (binascii.Error, UnicodeDecodeError):
                log.warning(
                    "%s/%s: Secret key %s is not base64 text", self.namespace, self.name, key
                )
        return parse_notifications_config(cm.get("data") or {}, secret)

    def start(self, send: SendNotification) -> None:
        self.calls.start((send.namespace, send.job), send.key, lambda: self._send(send))

    async def close(self) -> None:
        await self.calls.close()

    async def _send(self, send: SendNotification) -> tuple[bool, str]:
        config = await self.config()
        service = send.entry.service
        url = config.services.get(service)
        if url is None:
            return False, f"no service.{service} in ConfigMap {self.namespace}/{self.name}"
        import apprise  # only once something is sent: its plugins weigh about 28 MiB

        notifier = apprise.Apprise()
        if not notifier.add(url):
            return False, f"service.{service} is not an Apprise URL"
        title, body = build_message(config, send.entry, send.namespace, send.job)
        result = await notifier.async_notify(body=body, title=title, timeout=SEND_TIMEOUT_SECONDS)
        if result:
            return True, f"sent to {service}"
        return False, f"{service}: {_why(result)}"


def _why(result: apprise.AppriseResult) -> str:
    """The last thing Apprise said about the failed attempt (its log lines, no timestamps)."""
    for res in result.results:
        for attempt in reversed(res.attempts):
            for entry in reversed(list(attempt.logs)):
                text = str(entry).split(" - ", 2)[-1]
                if text:
                    return text
    return f"not sent ({result.status.name.lower()})"
