"""The alert gate (`healthCheck.alerts`, docs/design.md §3.3): which query reads the active
alerts, what its reply says, and whether the rollout holds or fails on it.

Matchers are the user's, in Prometheus' and Alertmanager's syntax, each a label name, an
operator and a double-quoted value (the CRD's pattern), so put between braces they cannot
reach past themselves; regular expressions run on the server (RE2), never in the operator.
Prometheus is asked for the firing series of `ALERTS`; Alertmanager for its alerts that are
active, not silenced and not inhibited. A reply that cannot be read is an answer too: it holds
the next wave (the fleet's health is unknown) and never rolls back by itself.

Worked example: matchers severity="critical", alertname=~"Node.*" become the PromQL
`ALERTS{alertstate="firing",severity="critical",alertname=~"Node.*"}`; a vector of two series,
NodeDown on two nodes, is 2 alerts firing, named NodeDown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nodewave.core.vocabulary.snapshot import AlertAnswer
from nodewave.models.job import AlertAction, AlertCheck, AlertSource


def build_alert_query(check: AlertCheck) -> str:
    """The PromQL of the firing alerts that match (Prometheus)."""
    return "ALERTS{" + ",".join(['alertstate="firing"', *check.matchers]) + "}"


def build_alert_params(check: AlertCheck) -> list[tuple[str, str]]:
    """The query parameters of the active, unsilenced, uninhibited alerts that match
    (Alertmanager's /api/v2/alerts)."""
    fixed = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
    return fixed + [("filter", m) for m in check.matchers]


def evaluate_alert_reply(source: AlertSource, body: Any, at: datetime) -> AlertAnswer:
    """What a reply says: the matching alerts, or why it says nothing readable."""
    if source is AlertSource.ALERTMANAGER:
        if not isinstance(body, list):
            return AlertAnswer(at, error="Alertmanager's reply is not a list of alerts")
        return _answer(at, [a.get("labels") for a in body if isinstance(a, dict)])
    if not isinstance(body, dict) or body.get("status") != "success":
        why = body.get("error", "query failed") if isinstance(body, dict) else "not JSON"
        return AlertAnswer(at, error=f"Prometheus: {why}"[:512])
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        return AlertAnswer(at, error=f"Prometheus: unexpected {data.get('resultType')!r}")
    return _answer(at, [s.get("metric") for s in data.get("result") or [] if isinstance(s, dict)])


def _answer(at: datetime, labels: Sequence[Any]) -> AlertAnswer:
    names = {str(ls.get("alertname", "")) for ls in labels if isinstance(ls, dict)}
    return AlertAnswer(at, count=len(labels), names=tuple(sorted(names - {""})))


def evaluate_alert_hold(check: AlertCheck | None, answer: AlertAnswer | None) -> str:
    """Why the alerts hold the next wave (and the end of a bake), or "": alerts not read yet
    or unreadable, or (action Pause) a matching alert firing."""
    if check is None:
        return ""
    if answer is None:
        return "the alerts have not been read yet"
    if answer.error:
        return f"the alerts cannot be read: {answer.error}"
    if answer.count and check.action is AlertAction.PAUSE:
        return answer.describe()
    return ""


def evaluate_alert_rollback(check: AlertCheck | None, answer: AlertAnswer | None) -> str:
    """Why the alerts fail the rollout (action Rollback, a matching alert firing), or ""."""
    if check is None or answer is None or answer.error or not answer.count:
        return ""
    return answer.describe() if check.action is AlertAction.ROLLBACK else ""
