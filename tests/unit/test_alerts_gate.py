"""The alert gate (core/rollout/alerts.py): the query and parameters the matchers make, what a
Prometheus or Alertmanager reply says, and when the alerts hold a wave or fail the rollout."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from nodewave.core.rollout.alerts import (
    build_alert_params,
    build_alert_query,
    evaluate_alert_hold,
    evaluate_alert_reply,
    evaluate_alert_rollback,
)
from nodewave.core.rollout.engine import evaluate_alerts_due
from nodewave.core.vocabulary.snapshot import AlertAnswer
from nodewave.models.job import ALERT_MATCHER, AlertCheck, AlertSource, RolloutPhase, RolloutStatus
from tests.unit.builders import at
from tests.unit.rollouts import context

MATCHERS = ['severity="critical"', 'alertname=~"Node.*|KubeletDown"']


def check(**kw: Any) -> AlertCheck:
    return AlertCheck.model_validate({"address": "http://am:9093", "matchers": MATCHERS, **kw})


def test_the_matchers_make_the_query_and_the_parameters() -> None:
    assert build_alert_query(check()) == (
        'ALERTS{alertstate="firing",severity="critical",alertname=~"Node.*|KubeletDown"}'
    )
    assert build_alert_params(check(api="Alertmanager")) == [
        ("active", "true"), ("silenced", "false"), ("inhibited", "false"),
        ("filter", 'severity="critical"'), ("filter", 'alertname=~"Node.*|KubeletDown"'),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "matcher",
    ['a="x"} or vector(1) or ALERTS{b="', 'a="x\\"', "a=x", 'a b="x"', '1a="x"', 'a=="x"'],
)
def test_a_matcher_that_could_reach_past_itself_is_refused(matcher: str) -> None:
    with pytest.raises(ValidationError):
        check(matchers=[matcher])


@given(name=st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), value=st.text(max_size=20))
def test_any_value_quoted_as_promql_quotes_it_stays_one_matcher(name: str, value: str) -> None:
    """A value escaped as a PromQL string (backslash and double quote) always passes the
    pattern, and the pattern's quoted part is exactly that string: nothing after it."""
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    matcher = f"{name}={quoted}"
    assert re.match(ALERT_MATCHER, matcher)
    assert matcher.split("=", 1)[1] == quoted


FIRING = {
    "status": "success",
    "data": {"resultType": "vector", "result": [
        {"metric": {"alertname": "NodeDown", "instance": "a"}, "value": [0, "1"]},
        {"metric": {"alertname": "NodeDown", "instance": "b"}, "value": [0, "1"]},
        {"metric": {"alertname": "KubeletDown"}, "value": [0, "1"]},
    ]},
}  # fmt: skip


@pytest.mark.parametrize(
    ("source", "body", "answer"),
    [
        ("Prometheus", FIRING, AlertAnswer(at(0), 3, ("KubeletDown", "NodeDown"))),
        ("Prometheus", {"status": "success", "data": {"resultType": "vector", "result": []}},
         AlertAnswer(at(0))),
        ("Prometheus", {"status": "error", "error": "parse error"},
         AlertAnswer(at(0), error="Prometheus: parse error")),
        ("Prometheus", {"status": "success", "data": {"resultType": "matrix", "result": []}},
         AlertAnswer(at(0), error="Prometheus: unexpected 'matrix'")),
        ("Prometheus", [], AlertAnswer(at(0), error="Prometheus: not JSON")),
        ("Alertmanager", [{"labels": {"alertname": "NodeDown"}, "status": {"state": "active"}}],
         AlertAnswer(at(0), 1, ("NodeDown",))),
        ("Alertmanager", [], AlertAnswer(at(0))),
        ("Alertmanager", {"code": 400}, AlertAnswer(
            at(0), error="Alertmanager's reply is not a list of alerts")),
    ],
)  # fmt: skip
def test_what_a_reply_says(source: str, body: Any, answer: AlertAnswer) -> None:
    assert evaluate_alert_reply(AlertSource(source), body, at(0)) == answer


FIRE = AlertAnswer(at(0), 2, ("NodeDown",))
QUIET = AlertAnswer(at(0))
BROKEN = AlertAnswer(at(0), error="no answer from http://am:9093/api/v2/alerts within 5s")


@pytest.mark.parametrize(
    ("action", "answer", "hold", "rollback"),
    [
        ("Pause", FIRE, "2 matching alerts firing (NodeDown)", ""),
        ("Pause", QUIET, "", ""),
        ("Rollback", FIRE, "", "2 matching alerts firing (NodeDown)"),
        ("Rollback", QUIET, "", ""),
        # Unreadable alerts hold the next wave, and never roll back by themselves.
        ("Pause", BROKEN, f"the alerts cannot be read: {BROKEN.error}", ""),
        ("Rollback", BROKEN, f"the alerts cannot be read: {BROKEN.error}", ""),
        ("Pause", None, "the alerts have not been read yet", ""),
    ],
)
def test_when_alerts_hold_or_roll_back(
    action: str, answer: AlertAnswer | None, hold: str, rollback: str
) -> None:
    assert evaluate_alert_hold(check(action=action), answer) == hold
    assert evaluate_alert_rollback(check(action=action), answer) == rollback
    assert evaluate_alert_hold(None, answer) == evaluate_alert_rollback(None, answer) == ""


def test_many_alert_names_are_cut_to_five_and_counted() -> None:
    answer = AlertAnswer(at(0), 9, tuple(f"A{i}" for i in range(7)))
    assert answer.describe() == "9 matching alerts firing (A0, A1, A2, A3, A4 and 2 more)"


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"status": "error"}, AlertAnswer(at(0), error="Prometheus: query failed")),
        ({"status": "error", "error": "x" * 600}, AlertAnswer(at(0), error=("Prometheus: " + "x" * 600)[:512])),
        ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}},
         AlertAnswer(at(0), 1, ())),  # an alert without a name counts, unnamed
    ],
)  # fmt: skip
def test_a_reply_without_words_or_names(body: Any, answer: AlertAnswer) -> None:
    assert evaluate_alert_reply(AlertSource.PROMETHEUS, body, at(0)) == answer


def test_the_alerts_are_read_again_an_interval_after_the_last_reading_while_in_flight() -> None:
    hc = {"deadlineSeconds": 60, "alerts": {"address": "http://p:9090", "matchers": MATCHERS,
                                            "intervalSeconds": 30}}  # fmt: skip
    ctx = context(healthCheck=hc)
    flying = RolloutStatus(phase=RolloutPhase.PROGRESSING, version=2)
    assert evaluate_alerts_due(ctx, flying) == ctx.now, "never read: at once"
    read = dataclasses.replace(ctx, alerts=AlertAnswer(at(-10)))
    assert evaluate_alerts_due(read, flying) == at(20)
    done = flying.model_copy(update={"phase": RolloutPhase.COMPLETED})
    assert evaluate_alerts_due(read, done) is None, "not woken once it ended"
    assert evaluate_alerts_due(read, None) is None
    assert evaluate_alerts_due(context(), flying) is None, "no alerts configured"
