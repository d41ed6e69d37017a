"""Notifications: which transitions of a Job's rollouts are told to which services, with what
words, and the outbox that makes each told once (docs/design.md §3.7).

The configuration is Argo Rollouts' notifications, cut to what a node rollout needs: a
ConfigMap (`nodewave-notifications` in the operator's namespace) holding services
(`service.<name>`: an Apprise URL, `$key` replaced by that key of the Secret of the same
name), templates (`template.<trigger>`: YAML `title` and `body`, `$variables` substituted)
and `subscriptions` (YAML: which triggers go to which services, for which namespaces and Job
labels); a Job subscribes too with annotations
`notifications.nodewave.io/subscribe.<trigger>: service[,service]`, to a service whose
`subscribable.<name>` names its namespace (or `*`): a tenant's annotation never pages the
platform's on-call. A refused one is a Failed entry saying so, nothing sent.

Each Job sends each service at most `RATE_LIMIT` notifications per `RATE_WINDOW`: a tenant
applying a version a second cannot flood a shared chat; the rest wait (Pending) their turn.

The outbox, assumptions and invariants:
- A transition is the Job Event the engine emits for it (`TRIGGERS`); the pass that makes the
  transition adds one `status.notifications` entry per subscribed service, written in the same
  status patch as the transition itself. Nothing is sent for an entry before that patch
  succeeded: a send is asked only for entries of the status the pass *read*. So a transition
  and its notification are recorded together or not at all.
- Each entry's id names the transition (trigger, version, rollout start, wave) and the
  service: an id already listed is never added again.
- A send's outcome comes back to a later pass (like a webhook's answer) and is recorded:
  Sent, or another attempt after a backoff (`RETRY_SECONDS` doubling up to `MAX_RETRY_SECONDS`),
  Failed after `MAX_ATTEMPTS`. A restarted operator sends what is Pending and nothing else. The
  one repeat possible: an operator that dies after a send and before its outcome is recorded.
- The list keeps the newest `MAX_NOTIFICATIONS` entries, the finished ones going first.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import yaml

from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import EventIntent, SendNotification
from nodewave.core.vocabulary.snapshot import CallAnswer, JobSubscriptions
from nodewave.models.job import (
    MAX_NOTIFICATIONS,
    MAX_WEBHOOK_MESSAGE,
    NotificationPhase,
    NotificationStatus,
    RolloutStatus,
)

TRIGGERS: dict[str, str] = {
    "on-rollout-started": R.ROLLOUT_STARTED,
    "on-wave-completed": R.WAVE_COMPLETE,
    "on-awaiting-confirmation": R.AWAITING_CONFIRMATION,
    "on-awaiting-promotion": R.AWAITING_PROMOTION,
    "on-rollout-completed": R.ROLLOUT_COMPLETE,
    "on-rollout-failed": R.ROLLOUT_FAILED,
    "on-rollout-rolled-back": R.ROLLED_BACK,
    "on-rollout-aborted": R.ROLLOUT_ABORTED,
    "on-first-version-stopped": R.FIRST_VERSION_STOPPED,
}
"""Trigger → the Job Event reason of its transition. on-rollout-failed is the version failing
for any reason: its failure budget spent, a failed canary, a PreWave or Rollback webhook."""
BY_REASON = {reason: trigger for trigger, reason in TRIGGERS.items()}
ANNOTATION_SUBSCRIBE = "notifications.nodewave.io/subscribe."
MAX_ATTEMPTS = 8
RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0
SUBSCRIPTION_KEYS = frozenset({"triggers", "services", "namespaces", "selector"})
RATE_LIMIT = 10
RATE_WINDOW = timedelta(minutes=1)
"""A Job's sends to one service: at most RATE_LIMIT attempts within any RATE_WINDOW."""
ANY_NAMESPACE = "*"


@dataclass(frozen=True, slots=True)
class Template:
    title: str
    body: str


DEFAULT_TEMPLATES: dict[str, Template] = {
    trigger: Template(f"[nodewave] $namespace/$job: {title}", "$message")
    for trigger, title in {
        "on-rollout-started": "rolling out version $version",
        "on-wave-completed": "wave $wave of version $version done",
        "on-awaiting-confirmation": "version $version awaits a confirmation",
        "on-awaiting-promotion": "version $version awaits a promote",
        "on-rollout-completed": "version $version rolled out",
        "on-rollout-failed": "version $version failed",
        "on-rollout-rolled-back": "version $version rolled back",
        "on-rollout-aborted": "rollout of version $version aborted",
        "on-first-version-stopped": "version $version (the first) stopped",
    }.items()
}
"""What is sent without a `template.<trigger>`: $message is the Event's own message."""


@dataclass(frozen=True, slots=True)
class Subscription:
    triggers: frozenset[str]
    services: tuple[str, ...]
    namespaces: frozenset[str] = frozenset()
    """Empty: every namespace."""
    selector: Mapping[str, str] = field(default_factory=dict)
    """Job labels that must all match (matchLabels); empty: every Job."""


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    services: Mapping[str, str] = field(default_factory=dict)
    """Service name → its Apprise URL, the Secret's values substituted."""
    templates: Mapping[str, Template] = field(default_factory=dict)
    subscriptions: tuple[Subscription, ...] = ()
    subscribable: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Service → the namespaces whose Jobs may subscribe to it by annotation (ANY_NAMESPACE:
    all); a service not listed takes the ConfigMap's subscriptions only."""
    errors: tuple[str, ...] = ()
    """What is wrong in the ConfigMap (the rest applies): said in the operator's log and in
    the status of the notifications it concerns."""


class ConfigError(ValueError):
    pass


def parse_notifications_config(
    data: Mapping[str, str], secret: Mapping[str, str]
) -> NotificationsConfig:
    """The ConfigMap's data (and the Secret's, decoded) read into a configuration. A bad key
    is reported in `errors` and skipped; the rest still works."""
    services: dict[str, str] = {}
    templates: dict[str, Template] = {}
    subscriptions: list[Subscription] = []
    subscribable: dict[str, frozenset[str]] = {}
    errors: list[str] = []
    for key, value in sorted(data.items()):
        kind, _, name = key.partition(".")
        try:
            if kind == "service" and name:
                services[name] = _substitute_secret(value, secret)
            elif kind == "template" and name:
                templates[name] = _parse_template(value)
            elif key == "subscriptions":
                subscriptions.extend(_parse_subscriptions(value))
            elif kind == "subscribable" and name:
                subscribable[name] = frozenset(n.strip() for n in value.split(",") if n.strip())
            else:
                raise ConfigError(
                    "unknown key (service.<name>, template.<trigger>, subscriptions, "
                    "subscribable.<name>)"
                )
        except ConfigError as e:
            errors.append(f"{key}: {e}")
    for sub in subscriptions:
        for service in sub.services:
            if service not in services:
                errors.append(f"subscriptions: no service.{service}")
    errors += [
        f"subscribable.{s}: no service.{s}" for s in sorted(set(subscribable) - set(services))
    ]
    return NotificationsConfig(
        services, templates, tuple(subscriptions), subscribable, tuple(errors)
    )


class _SecretReference(string.Template):
    """$name or ${name}, where a name may hold - and . as Secret keys do ($$ is a $)."""

    idpattern = r"(?a:[_a-z][-._a-z0-9]*)"


def _substitute_secret(url: str, secret: Mapping[str, str]) -> str:
    try:
        return _SecretReference(url).substitute(secret)
    except KeyError as e:
        raise ConfigError(f"the Secret has no key {e.args[0]}") from e
    except ValueError as e:
        raise ConfigError(f"bad $reference: {e}") from e


def _load(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not YAML: {e}") from e


def _parse_template(text: str) -> Template:
    doc = _load(text)
    if not isinstance(doc, dict) or not set(doc) <= {"title", "body"}:
        raise ConfigError("a template is a map of title and body")
    return Template(str(doc.get("title", "")), str(doc.get("body", "$message")))


def _strings(doc: Mapping[str, Any], key: str) -> list[str]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings")
    return value


def _parse_subscriptions(text: str) -> list[Subscription]:
    doc = _load(text)
    if not isinstance(doc, list):
        raise ConfigError("a list of {triggers, services, namespaces, selector}")
    out = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict) or not set(item) <= SUBSCRIPTION_KEYS:
            raise ConfigError(f"[{i}]: keys are triggers, services, namespaces and selector")
        triggers = _strings(item, "triggers")
        unknown = sorted(set(triggers) - set(TRIGGERS))
        if unknown or not triggers:
            raise ConfigError(f"[{i}]: unknown triggers {unknown} (known: {', '.join(TRIGGERS)})")
        selector = item.get("selector") or {}
        if not isinstance(selector, dict):
            raise ConfigError(f"[{i}]: selector is a map of Job labels")
        out.append(
            Subscription(
                frozenset(triggers),
                tuple(_strings(item, "services")),
                frozenset(_strings(item, "namespaces")),
                {str(k): str(v) for k, v in selector.items()},
            )
        )
    return out


def evaluate_subscriptions(
    config: NotificationsConfig,
    namespace: str,
    labels: Mapping[str, str],
    subscribe: Mapping[str, str],
) -> JobSubscriptions:
    """The ConfigMap's subscriptions that match the Job's namespace and labels, and its own
    subscribe annotations to services that take them from its namespace."""
    out: dict[str, list[str]] = {}
    refused: dict[str, list[str]] = {}
    for sub in config.subscriptions:
        if sub.namespaces and namespace not in sub.namespaces:
            continue
        if any(labels.get(k) != v for k, v in sub.selector.items()):
            continue
        for trigger in sub.triggers:
            out.setdefault(trigger, []).extend(sub.services)
    for trigger, services in subscribe.items():
        if trigger not in TRIGGERS:
            continue
        for service in (s.strip() for s in services.split(",") if s.strip()):
            if service in out.get(trigger, ()):
                continue  # the platform's subscription tells it already
            allowed = config.subscribable.get(service, frozenset())
            ok = ANY_NAMESPACE in allowed or namespace in allowed
            (out if ok else refused).setdefault(trigger, []).append(service)
    return JobSubscriptions(
        {t: tuple(dict.fromkeys(s)) for t, s in sorted(out.items())},
        {t: tuple(dict.fromkeys(s)) for t, s in sorted(refused.items())},
    )


def build_message(
    config: NotificationsConfig, entry: NotificationStatus, namespace: str, job: str
) -> tuple[str, str]:
    """The title and body sent for an entry. Unknown $names are left as they are."""
    template = config.templates.get(entry.trigger) or DEFAULT_TEMPLATES[entry.trigger]
    values = {
        "namespace": namespace,
        "job": job,
        "trigger": entry.trigger,
        "version": str(entry.version),
        "wave": str(entry.wave),
        "message": entry.text,
        "service": entry.service,
        "time": entry.created_at.isoformat(),
    }
    return (
        string.Template(template.title).safe_substitute(values),
        string.Template(template.body).safe_substitute(values),
    )


# ---- the outbox ---------------------------------------------------------------------------


@dataclass(slots=True)
class NotificationPlan:
    entries: list[NotificationStatus]
    sends: list[SendNotification]
    wake_at: list[datetime]


def build_send_key(entry: NotificationStatus) -> str:
    return f"{entry.id}#{entry.attempts + 1}"


def plan_notifications(
    previous: Sequence[NotificationStatus],
    events: Sequence[EventIntent],
    rollout: RolloutStatus | None,
    subscriptions: JobSubscriptions,
    answers: Mapping[str, CallAnswer],
    namespace: str,
    job: str,
    now: datetime,
) -> NotificationPlan:
    """The Job's notifications after this pass: outcomes recorded, this pass's transitions
    added (Pending; Failed for a refused subscription), and the sends that are due for entries
    the last status already held, within the Job's rate limit."""
    plan = NotificationPlan([], [], [])
    recent: dict[str, list[datetime]] = {}
    """Service → this Job's attempts within the window, oldest first."""
    for e in previous:
        if e.last_attempt_at is not None and e.last_attempt_at > now - RATE_WINDOW:
            recent.setdefault(e.service, []).append(e.last_attempt_at)
    for times in recent.values():
        times.sort()
    for entry in previous:
        answer = answers.get(build_send_key(entry))
        if entry.phase is NotificationPhase.PENDING and answer is not None:
            entry = _record(entry, answer)
        plan.entries.append(entry)
        if entry.phase is not NotificationPhase.PENDING:
            continue
        due, sent = _due(entry), recent.setdefault(entry.service, [])
        if due > now:
            plan.wake_at.append(due)
        elif len(sent) >= RATE_LIMIT:  # its turn comes when the oldest counted send ages out
            plan.wake_at.append(sent[-RATE_LIMIT] + RATE_WINDOW)
        else:
            plan.sends.append(SendNotification(build_send_key(entry), namespace, job, entry))
            sent.append(now)
    _add_transitions(plan, events, rollout, subscriptions, namespace, now)
    plan.entries = _keep_newest(plan.entries)
    return plan


def _add_transitions(
    plan: NotificationPlan,
    events: Sequence[EventIntent],
    rollout: RolloutStatus | None,
    subscriptions: JobSubscriptions,
    namespace: str,
    now: datetime,
) -> None:
    """One entry per subscribed service of each transition of this pass, once."""
    known = {e.id for e in plan.entries}
    for event in events:
        trigger = BY_REASON.get(event.reason)
        if trigger is None or rollout is None or rollout.version is None:
            continue
        wave = event.wave
        started = rollout.started_at.isoformat() if rollout.started_at else "-"
        told: list[tuple[str, str | None]] = [
            (s, None) for s in subscriptions.services.get(trigger, ())
        ]
        told += [(s, f"not sent: service {s} takes no subscriptions from namespace {namespace} "
                     f"(subscribable.{s} of the notifications ConfigMap)")
                 for s in subscriptions.refused.get(trigger, ())]  # fmt: skip
        for service, refusal in told:
            id_ = f"{trigger}/{rollout.version}@{started}/{wave}/{service}"
            if id_ in known:
                continue
            known.add(id_)
            plan.entries.append(NotificationStatus(
                id=id_, trigger=trigger, service=service, version=rollout.version, wave=wave,
                text=event.message[:1024], created_at=now,
                **({"phase": NotificationPhase.FAILED, "message": refusal} if refusal else {}),
            ))  # fmt: skip
            if refusal is None:
                plan.wake_at.append(now)  # sent by the pass after this status is written


def _due(entry: NotificationStatus) -> datetime:
    if entry.last_attempt_at is None:
        return entry.created_at
    backoff = min(RETRY_SECONDS * 2 ** (entry.attempts - 1), MAX_RETRY_SECONDS)
    return entry.last_attempt_at + timedelta(seconds=backoff)


def _record(entry: NotificationStatus, answer: CallAnswer) -> NotificationStatus:
    attempts = entry.attempts + 1
    if answer.ok:
        phase = NotificationPhase.SENT
    elif attempts >= MAX_ATTEMPTS:
        phase = NotificationPhase.FAILED
    else:
        phase = NotificationPhase.PENDING
    return entry.model_copy(
        update={
            "phase": phase,
            "attempts": attempts,
            "last_attempt_at": answer.at,
            "message": answer.message[:MAX_WEBHOOK_MESSAGE],
        }
    )


def _keep_newest(entries: list[NotificationStatus]) -> list[NotificationStatus]:
    """At most MAX_NOTIFICATIONS: the oldest finished ones go first, then the oldest."""
    excess = len(entries) - MAX_NOTIFICATIONS
    if excess <= 0:
        return entries
    finished = [e for e in entries if e.phase is not NotificationPhase.PENDING]
    drop = {id(e) for e in finished[:excess]}
    kept = [e for e in entries if id(e) not in drop]
    return kept[len(kept) - MAX_NOTIFICATIONS :]
