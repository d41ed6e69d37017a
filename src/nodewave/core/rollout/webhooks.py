"""Webhook gates: which of a rollout's webhooks a pass asks, and what their answers decide
(docs/design.md §3.6).

Pure, like the rest of the engine. A pass never waits for an HTTP answer: it asks for a call
(`CallWebhook`, keyed by rollout, webhook, wave and attempt), the kube layer makes it in the
background and wakes the Job when the answer is in, and the next pass finds the answer under
the same key (`RolloutContext.webhook_answers`) and records it in `status.rollout.webhooks`.
From then on the status is the record: a restarted operator, or a new leader, asks again only
what was not answered, after `intervalSeconds` from the last answer.

Assumptions and invariants:
- One status entry per webhook name, for the one question it is being asked now (its type and
  wave); a new wave's PreWave starts a new entry, a new rollout a new list.
- Attempt n is asked once its key is not answered and `intervalSeconds` passed since answer
  n - 1; the same key asked in several passes is one call (the kube layer deduplicates).
- 2xx is the only pass. No answer (a timeout, a refused connection, a redirect, garbage) is a
  refusal, with the reason in the status: a gate that cannot be reached never opens.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nodewave import API_VERSION
from nodewave.core.vocabulary.actions import CallWebhook
from nodewave.core.vocabulary.snapshot import CallAnswer
from nodewave.models.job import (
    MAX_WEBHOOK_MESSAGE,
    RolloutStatus,
    Webhook,
    WebhookPhase,
    WebhookStatus,
    WebhookType,
)

T = WebhookType
MAX_PAYLOAD_NODES = 1000
"""Nodes named in one payload (the count is always whole)."""


@dataclass(frozen=True, slots=True)
class JobRef:
    namespace: str = ""
    name: str = ""
    uid: str = ""


@dataclass(slots=True)
class WebhookAsks:
    """What a pass asks of the webhooks, collected while it plans."""

    answers: dict[str, CallAnswer] = field(default_factory=dict)
    """The answers the kube layer holds, by call key."""
    calls: list[CallWebhook] = field(default_factory=list)
    wake_at: list[datetime] = field(default_factory=list)
    """When an awaited webhook is due to be asked again."""


@dataclass(frozen=True, slots=True)
class Gate:
    """The verdict of every webhook of one type on one question."""

    configured: bool
    passed: bool
    """Every webhook of the type answered 2xx (trivially, when none is configured)."""
    failed: str = ""
    """Why the gate failed for good (a PreWave past its failureThreshold), else ""."""
    awaiting: str = ""
    """Who is awaited and what they last said, for the rollout's message."""


def build_call_key(rs: RolloutStatus, hook: Webhook, wave: int, attempt: int) -> str:
    """Names one call: the rollout (version and start), the webhook, the question, the attempt."""
    started = rs.started_at.isoformat() if rs.started_at else "-"
    return f"{rs.version}@{started}/{hook.name}/{hook.type.value}/{wave}/{attempt}"


SIGNATURE_HEADER = "X-Nodewave-Signature"
TIMESTAMP_HEADER = "X-Nodewave-Timestamp"


def build_signature(key: bytes, method: str, url: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of "<METHOD>\\n<url>\\n<timestamp>\\n<body>": the
    timestamp is signed so a receiver that checks its age refuses a replayed payload, and the
    method and URL so a payload meant for one endpoint (a load test) is not accepted by another
    sharing the key (the change board). The URL is the Job's, as written; it holds no newline
    (a URL cannot), so the parts cannot be shifted into one another."""
    signed = f"{method}\n{url}\n{timestamp}\n".encode() + body
    return f"sha256={hmac.new(key, signed, hashlib.sha256).hexdigest()}"


def build_payload(
    job: JobRef,
    rs: RolloutStatus,
    hook: Webhook,
    wave: int,
    nodes: Sequence[str],
    attempt: int,
) -> dict[str, Any]:
    """The JSON body a webhook receives."""
    return {
        "apiVersion": API_VERSION,
        "kind": "WebhookRequest",
        "webhook": {"name": hook.name, "type": hook.type.value},
        "job": {"namespace": job.namespace, "name": job.name, "uid": job.uid},
        "version": rs.version,
        "fromVersion": rs.from_version,
        "phase": rs.phase.value if rs.phase else None,
        "wave": wave,
        "totalWaves": rs.total_waves,
        "nodes": list(nodes[:MAX_PAYLOAD_NODES]),
        "nodeCount": len(nodes),
        "failedNodes": rs.failed_nodes,
        "attempt": attempt,
        "metadata": dict(hook.metadata),
    }


def evaluate_webhooks(
    hooks: Sequence[Webhook],
    kind: WebhookType,
    rs: RolloutStatus,
    wave: int,
    nodes: Callable[[], Sequence[str]],
    job: JobRef,
    now: datetime,
    asks: WebhookAsks,
) -> Gate:
    """Ask every webhook of `kind` about `wave` (recording answers that came in, asking for
    the calls that are due) and return the gate's verdict. `rs.webhooks` is replaced, never
    changed in place: the previous status must stay as it was for the change check."""
    mine = [h for h in hooks if h.type is kind]
    if not mine:
        return Gate(configured=False, passed=True)
    entries = {w.name: w for w in rs.webhooks}
    for hook in mine:
        entries[hook.name] = _ask(hook, rs, entries.get(hook.name), wave, nodes, job, now, asks)
    rs.webhooks = list(entries.values())
    states = [entries[h.name] for h in mine]
    failed = [st for st in states if st.phase is WebhookPhase.FAILED]
    waiting = [st for st in states if st.phase is WebhookPhase.WAITING]
    return Gate(
        configured=True,
        passed=not failed and not waiting,
        failed="; ".join(
            f"{kind.value} webhook {st.name} refused {st.failures} times in a row ({st.message})"
            for st in failed
        ),
        awaiting="; ".join(_describe(st) for st in waiting),
    )


def _ask(
    hook: Webhook,
    rs: RolloutStatus,
    entry: WebhookStatus | None,
    wave: int,
    nodes: Callable[[], Sequence[str]],
    job: JobRef,
    now: datetime,
    asks: WebhookAsks,
) -> WebhookStatus:
    if entry is None or entry.type is not hook.type or entry.wave != wave:
        entry = WebhookStatus(name=hook.name, type=hook.type, wave=wave)
    if entry.phase is not WebhookPhase.WAITING:
        return entry
    answer = asks.answers.get(build_call_key(rs, hook, wave, entry.attempts + 1))
    if answer is not None:
        entry = _record(hook, entry, answer)
        if entry.phase is not WebhookPhase.WAITING:
            return entry
    due = now
    if entry.last_attempt_at is not None:
        due = entry.last_attempt_at + timedelta(seconds=hook.interval_seconds)
    if due <= now:
        attempt = entry.attempts + 1
        payload = build_payload(job, rs, hook, wave, nodes(), attempt)
        asks.calls.append(CallWebhook(
            build_call_key(rs, hook, wave, attempt), job.namespace, job.name, hook, payload
        ))  # fmt: skip
    else:
        asks.wake_at.append(due)
    return entry


def _record(hook: Webhook, entry: WebhookStatus, answer: CallAnswer) -> WebhookStatus:
    failures = 0 if answer.ok else entry.failures + 1
    if answer.ok:
        phase = WebhookPhase.PASSED
    elif hook.type in (T.PRE_WAVE, T.POST_ROLLOUT) and failures >= hook.failure_threshold:
        phase = WebhookPhase.FAILED
    else:
        phase = WebhookPhase.WAITING
    return entry.model_copy(
        update={
            "phase": phase,
            "attempts": entry.attempts + 1,
            "failures": failures,
            "last_attempt_at": answer.at,
            "message": answer.message[:MAX_WEBHOOK_MESSAGE],
        }
    )


def _describe(st: WebhookStatus) -> str:
    if not st.attempts:
        return f"webhook {st.name} (asking)"
    return f"webhook {st.name} (attempt {st.attempts}: {st.message})"
