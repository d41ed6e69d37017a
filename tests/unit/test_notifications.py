"""Notifications (core/job/notifications.py): the ConfigMap read into services, templates and
subscriptions; who is told of which trigger; the outbox, entry by entry (added with the
transition, sent only once written, recorded, retried with backoff, given up, trimmed); and a
whole rollout simulated with the planner: each transition told once."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.job.notifications import (
    DEFAULT_TEMPLATES,
    MAX_ATTEMPTS,
    RATE_LIMIT,
    RATE_WINDOW,
    TRIGGERS,
    NotificationsConfig,
    Subscription,
    Template,
    build_message,
    build_send_key,
    evaluate_subscriptions,
    parse_notifications_config,
    plan_notifications,
)
from nodewave.core.job.planner import plan_job
from nodewave.core.vocabulary.actions import EventIntent, SendNotification
from nodewave.core.vocabulary.snapshot import CallAnswer, JobSubscriptions
from nodewave.models.job import (
    MAX_NOTIFICATIONS,
    NotificationPhase,
    NotificationStatus,
    RolloutPhase,
    RolloutStatus,
)
from tests.unit.builders import at
from tests.unit.simulation import NODES, simulate, stable_on

N = NotificationPhase
REPO = Path(__file__).resolve().parents[2]
ROLLOUT = RolloutStatus(phase=RolloutPhase.PROGRESSING, version=2, from_version=1, wave=3,
                        total_waves=4, started_at=at(0))  # fmt: skip
STARTED = f"2@{at(0).isoformat()}"
CHAT = JobSubscriptions({"on-rollout-completed": ("chat",), "on-wave-completed": ("chat", "mail")})


# ---- the ConfigMap ----------------------------------------------------------------------


def test_services_templates_and_subscriptions_are_read_and_secrets_substituted() -> None:
    config = parse_notifications_config(
        {
            "service.chat": "slack://$slack-token/#deploys",
            "service.mail": "mailto://127.0.0.1:2525?to=ops@example.org",
            "template.on-rollout-completed": "title: done $version\nbody: '$message ($job)'",
            "subscriptions": (
                "- triggers: [on-rollout-completed, on-rollout-rolled-back]\n"
                "  services: [chat]\n"
                "  namespaces: [payments]\n"
                "  selector: {team: pay}\n"
            ),
        },
        {"slack-token": "T0/B1/xyz"},
    )
    assert config == NotificationsConfig(
        services={
            "chat": "slack://T0/B1/xyz/#deploys",
            "mail": "mailto://127.0.0.1:2525?to=ops@example.org",
        },
        templates={"on-rollout-completed": Template("done $version", "$message ($job)")},
        subscriptions=(
            Subscription(
                frozenset({"on-rollout-completed", "on-rollout-rolled-back"}),
                ("chat",),
                frozenset({"payments"}),
                {"team": "pay"},
            ),
        ),
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"service.chat": "slack://$token"}, "service.chat: the Secret has no key token"),
        ({"colour": "blue"}, "colour: unknown key (service.<name>, template.<trigger>, subscriptions, subscribable.<name>)"),
        ({"template.on-rollout-started": "[1, 2]"}, "template.on-rollout-started: a template is a map of title and body"),
        ({"template.on-rollout-started": "title: [unclosed"}, "template.on-rollout-started: not YAML"),
        ({"subscriptions": "- {triggers: [on-deploy], services: []}"}, "subscriptions: [0]: unknown triggers ['on-deploy']"),
        ({"subscriptions": "- {triggers: [on-rollout-started], services: [pager]}"}, "subscriptions: no service.pager"),
        ({"subscriptions": "- {triggers: [on-rollout-started], to: [x]}"}, "subscriptions: [0]: keys are"),
        ({"subscriptions": "{a: 1}"}, "subscriptions: a list of"),
    ],
)  # fmt: skip
def test_a_bad_key_is_reported_and_the_rest_still_applies(data: dict[str, str], error: str) -> None:
    config = parse_notifications_config({**data, "service.ok": "json://127.0.0.1:1"}, {})
    assert len(config.errors) == 1
    assert config.errors[0].startswith(error)
    assert config.services["ok"] == "json://127.0.0.1:1"


def test_subscriptions_match_namespace_and_labels_and_annotations_add_their_own() -> None:
    config = NotificationsConfig(
        services={"chat": "x", "mail": "y", "pager": "z"},
        subscriptions=(
            Subscription(frozenset({"on-rollout-completed"}), ("chat",)),
            Subscription(frozenset({"on-rollout-failed"}), ("pager",), frozenset({"prod"})),
            Subscription(frozenset({"on-rollout-failed", "on-rollout-completed"}), ("mail", "chat"),
                         selector={"team": "pay"}),
        ),
    )  # fmt: skip
    assert evaluate_subscriptions(config, "dev", {}, {}).services == {
        "on-rollout-completed": ("chat",)
    }
    assert evaluate_subscriptions(config, "prod", {"team": "pay"}, {}).services == {
        "on-rollout-completed": ("chat", "mail"),
        "on-rollout-failed": ("pager", "mail", "chat"),
    }
    # A Job's own annotations: only to services that take subscriptions from its namespace.
    config = dataclasses.replace(
        config, subscribable={"chat": frozenset({"*"}), "pager": frozenset({"prod"})}
    )
    own = {"on-wave-completed": "chat, pager, mail", "on-nothing": "chat"}
    dev = evaluate_subscriptions(config, "dev", {"team": "web"}, own)
    assert dev.services == {"on-rollout-completed": ("chat",), "on-wave-completed": ("chat",)}
    assert dev.refused == {"on-wave-completed": ("pager", "mail")}
    prod = evaluate_subscriptions(config, "prod", {}, own)
    assert prod.services["on-wave-completed"] == ("chat", "pager")
    assert prod.refused == {"on-wave-completed": ("mail",)}
    # Named by the platform's subscription already: the annotation adds nothing, refuses nothing.
    again = evaluate_subscriptions(config, "dev", {}, {"on-rollout-completed": "chat"})
    assert again == JobSubscriptions({"on-rollout-completed": ("chat",)})


def test_a_refused_subscription_is_a_failed_entry_saying_why_and_nothing_is_sent() -> None:
    subs = JobSubscriptions(refused={"on-rollout-completed": ("pager",)})
    plan = plan_notifications([], [event("RolloutComplete")], ROLLOUT, subs, {}, "ns", "j", at(0))
    [refused] = plan.entries
    assert (refused.service, refused.phase, refused.attempts) == ("pager", N.FAILED, 0)
    assert refused.message == (
        "not sent: service pager takes no subscriptions from namespace ns "
        "(subscribable.pager of the notifications ConfigMap)"
    )
    assert plan.sends == []
    assert plan.wake_at == []
    later = plan_notifications(plan.entries, [], ROLLOUT, subs, {}, "ns", "j", at(10))
    assert later.sends == []


def test_a_job_sends_at_most_the_rate_limit_per_window_and_the_rest_wait_their_turn() -> None:
    """A tenant applying versions in a burst cannot flood a shared chat: RATE_LIMIT sends a
    minute per Job and service; the others stay Pending and the pass wakes when a turn frees."""
    window = int(RATE_WINDOW.total_seconds())
    sent = [entry(id=f"old-{i}", phase="Sent", attempts=1, last_attempt_at=at(i))
            for i in range(RATE_LIMIT - 3)]  # fmt: skip
    pending = [entry(id=f"new-{i}", created_at=at(30)) for i in range(8)]
    mail = entry(id="mail-0", service="mail", created_at=at(30))  # another service: its own
    plan = plan_notifications([*sent, *pending, mail], [], ROLLOUT, CHAT, {}, "ns", "j", at(40))
    assert [s.entry.id for s in plan.sends] == ["new-0", "new-1", "new-2", "mail-0"]
    assert plan.wake_at == [at(window)] * 5  # when old-0 ages out of the window
    later = plan_notifications([*sent, *pending], [], ROLLOUT, CHAT, {}, "ns", "j", at(window))
    assert [s.entry.id for s in later.sends] == ["new-0", "new-1", "new-2", "new-3"]
    # Sends long ago count no more.
    quiet = plan_notifications([*sent, *pending], [], ROLLOUT, CHAT, {}, "ns", "j", at(999))
    assert len(quiet.sends) == min(8, RATE_LIMIT)


def entry(trigger: str = "on-rollout-completed", **kw: object) -> NotificationStatus:
    fields: dict[str, object] = {
        "id": f"{trigger}/{STARTED}/0/chat", "trigger": trigger, "service": "chat", "version": 2,
        "text": "version 2 on 10/10 nodes", "created_at": at(1),
    }  # fmt: skip
    return NotificationStatus.model_validate({**fields, **kw})


def test_a_message_is_its_template_with_the_transition_substituted() -> None:
    config = NotificationsConfig(
        templates={
            "on-rollout-completed": Template("$job v$version $nope", "$message in $namespace")
        }
    )
    assert build_message(config, entry(), "pay", "agent") == (
        "agent v2 $nope", "version 2 on 10/10 nodes in pay",
    )  # fmt: skip
    assert build_message(NotificationsConfig(), entry("on-wave-completed", wave=3), "pay", "agent") == (
        "[nodewave] pay/agent: wave 3 of version 2 done", "version 2 on 10/10 nodes",
    )  # fmt: skip


def test_every_trigger_has_a_default_template_and_an_event_reason() -> None:
    assert set(DEFAULT_TEMPLATES) == set(TRIGGERS)
    assert len(set(TRIGGERS.values())) == len(TRIGGERS)


# ---- the outbox -------------------------------------------------------------------------


def event(reason: str, message: str = "it happened") -> EventIntent:
    return EventIntent("Normal", reason, message, 3 if reason == "WaveComplete" else 0)


def test_a_transition_adds_one_pending_entry_per_service_and_sends_nothing_yet() -> None:
    plan = plan_notifications([], [event("WaveComplete", "wave 3/4 done"), event("WaveStarted")],
                              ROLLOUT, CHAT, {}, "ns", "j", at(5))  # fmt: skip
    assert plan.entries == [
        NotificationStatus(id=f"on-wave-completed/{STARTED}/3/{s}", trigger="on-wave-completed",
                           service=s, version=2, wave=3, text="wave 3/4 done", created_at=at(5))
        for s in ("chat", "mail")
    ]  # fmt: skip
    assert plan.sends == []  # not before the status holding them is written
    assert plan.wake_at == [at(5), at(5)]


def test_an_entry_already_listed_is_not_added_again() -> None:
    known = entry("on-wave-completed", id=f"on-wave-completed/{STARTED}/3/chat", wave=3)
    plan = plan_notifications([known], [event("WaveComplete")], ROLLOUT,
                              JobSubscriptions({"on-wave-completed": ("chat",)}), {}, "ns", "j", at(0))  # fmt: skip
    assert [e.id for e in plan.entries] == [known.id]


def test_unsubscribed_transitions_and_events_that_are_no_trigger_add_nothing() -> None:
    events = [event("RolloutStarted"), event("WaveStarted"), event("Ready")]
    assert plan_notifications([], events, ROLLOUT, CHAT, {}, "ns", "j", at(0)).entries == []


def test_a_pending_entry_is_sent_then_recorded_as_sent() -> None:
    pending = entry()
    plan = plan_notifications([pending], [], ROLLOUT, CHAT, {}, "ns", "j", at(2))
    assert plan.sends == [SendNotification(f"{pending.id}#1", "ns", "j", pending)]
    answered = {f"{pending.id}#1": CallAnswer(True, at(3), "sent to chat")}
    plan = plan_notifications([pending], [], ROLLOUT, CHAT, answered, "ns", "j", at(4))
    assert plan.entries == [pending.model_copy(update={
        "phase": N.SENT, "attempts": 1, "last_attempt_at": at(3), "message": "sent to chat",
    })]  # fmt: skip
    assert (plan.sends, plan.wake_at) == ([], [])
    # Sent: never again, whatever answers are left over.
    plan = plan_notifications(plan.entries, [], ROLLOUT, CHAT, answered, "ns", "j", at(60))
    assert (plan.entries[0].attempts, plan.sends) == (1, [])


def test_a_failed_send_is_retried_with_a_doubling_backoff_then_given_up() -> None:
    current = entry()
    now = 10.0
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        plan = plan_notifications([current], [], ROLLOUT, CHAT, {}, "ns", "j", at(now))
        [send] = plan.sends
        assert send.key == f"{current.id}#{attempt}" == build_send_key(current)
        answered = {send.key: CallAnswer(False, at(now), "chat: connection refused")}
        plan = plan_notifications([current], [], ROLLOUT, CHAT, answered, "ns", "j", at(now))
        current = plan.entries[0]
        assert current.attempts == attempt
        if attempt == MAX_ATTEMPTS:
            break
        assert plan.sends == []
        [due] = plan.wake_at
        waits.append((due - at(now)).total_seconds())
        now = (due - at(0)).total_seconds()
    assert waits == [5, 10, 20, 40, 80, 160, 300]
    assert (current.phase, current.message) == (N.FAILED, "chat: connection refused")
    assert plan_notifications([current], [], ROLLOUT, CHAT, {}, "ns", "j", at(9999)).sends == []


@given(st.lists(st.sampled_from([N.PENDING, N.SENT, N.FAILED]), max_size=3 * MAX_NOTIFICATIONS))
def test_the_outbox_keeps_the_newest_and_drops_finished_ones_first(
    phases: list[NotificationPhase],
) -> None:
    entries = [entry(id=f"e{i}", phase=p) for i, p in enumerate(phases)]
    kept = plan_notifications(entries, [], None, JobSubscriptions(), {}, "ns", "j", at(0)).entries
    assert len(kept) == min(len(entries), MAX_NOTIFICATIONS)
    ids = [e.id for e in entries]
    assert [e.id for e in kept] == sorted((e.id for e in kept), key=ids.index)  # order kept
    pending = [e.id for e in entries if e.phase is N.PENDING]
    if len(pending) <= MAX_NOTIFICATIONS:
        assert set(pending) <= {e.id for e in kept}  # nothing unsent is dropped for a sent one


def test_a_rollout_simulated_tells_each_transition_once() -> None:
    """The planner records each transition with its notification in one status, sends it in
    the pass after, and records it sent: each trigger once, whatever the number of passes."""
    subs = JobSubscriptions({t: ("chat",) for t in TRIGGERS})
    snap = dataclasses.replace(
        stable_on(NODES, {"strategy": "Rolling", "maxParallel": 50}), subscriptions=subs
    )
    sent: list[str] = []
    for i in range(120):
        now = at(10 + i / 4)
        plan = plan_job(snap, now)
        answers = {
            a.key: CallAnswer(True, now, "sent")
            for a in plan.actions
            if isinstance(a, SendNotification)
        }
        sent += [a.entry.trigger for a in plan.actions if isinstance(a, SendNotification)]
        written = [e.id for e in plan.status.notifications]
        assert len(written) == len(set(written))
        snap = simulate(snap, plan.actions)
        snap = dataclasses.replace(
            snap,
            job=dataclasses.replace(snap.job, status=plan.status),
            health={**snap.health, **plan.health},
            notification_answers=answers,
        )
    assert sent == ["on-rollout-started", "on-wave-completed", "on-wave-completed",
                    "on-rollout-completed"]  # fmt: skip
    assert {e.phase for e in snap.job.status.notifications} == {N.SENT}


def test_created_at_is_the_time_of_the_transition() -> None:
    plan = plan_notifications([], [event("RolloutComplete")], ROLLOUT,
                              JobSubscriptions({"on-rollout-completed": ("chat",)}), {}, "ns", "j", at(42))  # fmt: skip
    assert plan.entries[0].created_at == at(42)
    assert isinstance(plan.entries[0].created_at, datetime)


def test_the_charts_values_schema_knows_the_same_triggers() -> None:
    schema = json.loads((REPO / "charts/nodewave/values.schema.json").read_text())
    subscription = schema["properties"]["notifications"]["properties"]["subscriptions"]["items"]
    assert subscription["properties"]["triggers"]["items"]["enum"] == list(TRIGGERS)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"service.": "json://x"}, "service.: unknown key"),
        ({"colour.blue": "x"}, "colour.blue: unknown key"),
        ({"service.chat": "json://$"}, "service.chat: bad $reference: Invalid placeholder"),
        ({"template.on-rollout-started": "{title: t, subject: s}"}, "template.on-rollout-started: a template is a map of title and body"),
        ({"subscriptions": "- {triggers: on-rollout-started, services: [ok]}"}, "subscriptions: triggers must be a list of strings"),
        ({"subscriptions": "- {triggers: [1], services: [ok]}"}, "subscriptions: triggers must be a list of strings"),
        ({"subscriptions": "- {triggers: [on-rollout-started], services: [ok], selector: [a]}"}, "subscriptions: [0]: selector is a map of Job labels"),
        ({"subscriptions": "- {triggers: [], services: [ok]}"}, f"subscriptions: [0]: unknown triggers [] (known: {', '.join(TRIGGERS)})"),
    ],
)  # fmt: skip
def test_each_mistake_says_what_is_wrong(data: dict[str, str], error: str) -> None:
    config = parse_notifications_config({**data, "service.ok": "json://127.0.0.1:1"}, {})
    assert [e[: len(error)] for e in config.errors] == [error]


def test_a_service_name_may_hold_dots_and_a_template_defaults_its_title_and_body() -> None:
    config = parse_notifications_config(
        {"service.team.chat": "json://h", "template.on-rollout-started": "{title: only}",
         "template.on-rollout-completed": "{body: only}"}, {},
    )  # fmt: skip
    assert config.services == {"team.chat": "json://h"}
    assert config.templates == {
        "on-rollout-started": Template("only", "$message"),
        "on-rollout-completed": Template("", "only"),
    }


def test_a_subscription_that_does_not_match_does_not_hide_the_next_one() -> None:
    config = NotificationsConfig(
        services={"chat": "x", "mail": "y"},
        subscriptions=(
            Subscription(frozenset({"on-rollout-completed"}), ("mail",), frozenset({"prod"})),
            Subscription(frozenset({"on-rollout-completed"}), ("mail",), selector={"a": "b"}),
            Subscription(frozenset({"on-rollout-completed"}), ("chat",)),
        ),
    )
    assert evaluate_subscriptions(config, "dev", {}, {}).services == {
        "on-rollout-completed": ("chat",)
    }


def test_every_variable_of_a_template_is_substituted() -> None:
    names = ["namespace", "job", "trigger", "version", "wave", "message", "service", "time"]
    config = NotificationsConfig(
        templates={"on-rollout-completed": Template("$trigger", " ".join(f"${n}" for n in names))}
    )
    title, body = build_message(config, entry(wave=4), "pay", "agent")
    assert title == "on-rollout-completed"
    assert body == (
        f"pay agent on-rollout-completed 2 4 version 2 on 10/10 nodes chat {at(1).isoformat()}"
    )


def test_events_are_read_one_by_one_and_services_each() -> None:
    known = entry("on-rollout-completed", id=f"on-rollout-completed/{STARTED}/0/chat")
    subs = JobSubscriptions({"on-rollout-completed": ("chat", "mail")})
    events = [event("WaveStarted"), event("RolloutComplete", "x" * 2000)]
    plan = plan_notifications([known], events, ROLLOUT, subs, {}, "ns", "j", at(0))
    assert [(e.service, len(e.text)) for e in plan.entries] == [("chat", 24), ("mail", 1024)]


def test_a_rollout_without_a_version_tells_nothing_and_one_without_a_start_is_named_so() -> None:
    subs = JobSubscriptions({"on-rollout-completed": ("chat",)})
    unversioned = RolloutStatus(phase=RolloutPhase.COMPLETED)
    assert plan_notifications([], [event("RolloutComplete")], unversioned, subs, {}, "ns", "j",
                              at(0)).entries == []  # fmt: skip
    unstarted = RolloutStatus(phase=RolloutPhase.COMPLETED, version=3)
    plan = plan_notifications([], [event("RolloutComplete")], unstarted, subs, {}, "ns", "j", at(0))
    assert [e.id for e in plan.entries] == ["on-rollout-completed/3@-/0/chat"]


def test_past_the_limit_the_oldest_sent_go_first() -> None:
    sent = [entry(id=f"s{i}", phase=N.SENT) for i in range(10)]
    pending = [entry(id=f"p{i}") for i in range(MAX_NOTIFICATIONS - 2)]
    kept = plan_notifications(
        [*sent, *pending], [], None, JobSubscriptions(), {}, "ns", "j", at(0)
    ).entries
    assert [e.id for e in kept] == ["s8", "s9", *(e.id for e in pending)]


def test_no_rollout_tells_nothing_and_an_event_twice_in_a_pass_is_one_entry() -> None:
    subs = JobSubscriptions({"on-rollout-completed": ("chat", "mail")})
    assert plan_notifications([], [event("RolloutComplete")], None, subs, {}, "ns", "j",
                              at(0)).entries == []  # fmt: skip
    twice = [event("RolloutComplete"), event("RolloutComplete")]
    plan = plan_notifications([], twice, ROLLOUT, subs, {}, "ns", "j", at(0))
    assert [e.service for e in plan.entries] == ["chat", "mail"]


def test_one_entry_past_the_limit_drops_the_oldest_sent() -> None:
    entries = [entry(id="s0", phase=N.SENT), *(entry(id=f"p{i}") for i in range(MAX_NOTIFICATIONS))]
    kept = plan_notifications(entries, [], None, JobSubscriptions(), {}, "ns", "j", at(0)).entries
    assert [e.id for e in kept] == [f"p{i}" for i in range(MAX_NOTIFICATIONS)]


def test_a_sent_entry_goes_before_an_older_pending_one() -> None:
    entries = [entry(id="p-old"), entry(id="s", phase=N.SENT),
               *(entry(id=f"p{i}") for i in range(MAX_NOTIFICATIONS - 1))]  # fmt: skip
    kept = plan_notifications(entries, [], None, JobSubscriptions(), {}, "ns", "j", at(0)).entries
    assert [e.id for e in kept][:2] == ["p-old", "p0"]
