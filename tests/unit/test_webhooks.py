"""Webhook gates (core/rollout/webhooks.py, and where core/rollout/engine.py asks them): each transition a
webhook's answer makes, the calls a pass asks for (key, attempt, payload) and when it asks
again, asserted on the decision, its nodes and its Events."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import timedelta
from typing import Any

import pytest

from nodewave.core.rollout.engine import (
    RolloutContext,
    RolloutDecision,
    Want,
    build_abort_value,
    plan_rollout,
)
from nodewave.core.rollout.webhooks import (
    MAX_PAYLOAD_NODES,
    JobRef,
    WebhookAsks,
    build_call_key,
    build_payload,
    build_signature,
    evaluate_webhooks,
)
from nodewave.core.vocabulary.actions import CallWebhook, EventIntent
from nodewave.core.vocabulary.snapshot import CallAnswer
from nodewave.models.job import (
    RolloutPhase,
    RolloutStatus,
    Webhook,
    WebhookPhase,
    WebhookStatus,
    WebhookType,
)
from tests.unit.builders import at
from tests.unit.rollouts import (
    STABLE,
    Moved,
    V,
    context,
    moved_to,
    ok,
    reasons,
    rollout,
)

P = RolloutPhase
T = WebhookType
W = WebhookPhase
JOB = JobRef("ns", "j", "job-uid")
CANARY = {"strategy": "Canary", "canaryCount": 2, "maxParallel": 25}
ROLLING = {"strategy": "Rolling", "maxParallel": 20}


def hook(name: str, type_: WebhookType, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": type_.value, "url": f"http://127.0.0.1:9/{name}", **kw}


def spec_hook(raw: dict[str, Any]) -> Webhook:
    return Webhook.model_validate(raw)


def answer(ok: bool, seconds: float, message: str = "") -> CallAnswer:
    return CallAnswer(ok, at(seconds), message or ("HTTP 200" if ok else "HTTP 403: no"))


def with_answers(ctx: RolloutContext, now: float = 0, **answers: CallAnswer) -> RolloutContext:
    """The context at `now`, holding answers by call key (given as webhook name: attempt 1 of the
    entry's wave, see `key`)."""
    return dataclasses.replace(ctx, now=at(now), job=JOB, asks=WebhookAsks(answers=dict(answers)))


def key(rs: RolloutStatus, raw: dict[str, Any], wave: int, attempt: int = 1) -> str:
    return build_call_key(rs, spec_hook(raw), wave, attempt)


def calls(ctx: RolloutContext) -> list[CallWebhook]:
    return ctx.asks.calls


def entry(decision: RolloutDecision, name: str) -> WebhookStatus:
    assert decision.rollout is not None
    return next(w for w in decision.rollout.webhooks if w.name == name)


# ---- evaluate_webhooks ----------------------------------------------------------------


def test_no_webhook_of_the_type_is_a_gate_that_passes_without_a_call() -> None:
    asks = WebhookAsks()
    rs = rollout(P.PROGRESSING, 0)
    gate = evaluate_webhooks(
        [spec_hook(hook("other", T.PRE_WAVE))], T.CONFIRM_ROLLOUT, rs, 1, list, JOB, at(0), asks
    )
    assert (gate.configured, gate.passed, asks.calls, rs.webhooks) == (False, True, [], [])


def test_a_webhook_is_asked_at_once_then_after_its_interval_from_the_last_answer() -> None:
    raw = hook("cab", T.CONFIRM_ROLLOUT, intervalSeconds=30)
    hooks, rs = [spec_hook(raw)], rollout(P.PROGRESSING, 0)
    asks = WebhookAsks()
    gate = evaluate_webhooks(hooks, T.CONFIRM_ROLLOUT, rs, 1, lambda: ["n1"], JOB, at(0), asks)
    assert (gate.passed, gate.awaiting) == (False, "webhook cab (asking)")
    assert [c.key for c in asks.calls] == [key(rs, raw, 1, 1)]
    assert rs.webhooks == [WebhookStatus(name="cab", type=T.CONFIRM_ROLLOUT, wave=1)]
    # Refused at t=5: recorded, asked again at 35, not before.
    asks = WebhookAsks(answers={key(rs, raw, 1, 1): answer(False, 5)})
    gate = evaluate_webhooks(hooks, T.CONFIRM_ROLLOUT, rs, 1, lambda: ["n1"], JOB, at(34), asks)
    assert gate.awaiting == "webhook cab (attempt 1: HTTP 403: no)"
    assert (asks.calls, asks.wake_at) == ([], [at(35)])
    assert rs.webhooks[0].model_dump() == {
        "name": "cab", "type": T.CONFIRM_ROLLOUT, "wave": 1, "phase": W.WAITING, "attempts": 1,
        "failures": 1, "last_attempt_at": at(5), "message": "HTTP 403: no",
    }  # fmt: skip
    asks = WebhookAsks()
    evaluate_webhooks(hooks, T.CONFIRM_ROLLOUT, rs, 1, lambda: ["n1"], JOB, at(35), asks)
    assert [c.key for c in asks.calls] == [key(rs, raw, 1, 2)]
    assert asks.calls[0].payload["attempt"] == 2
    # Passed: no call any more; refusals in a row start again from 0.
    asks = WebhookAsks(answers={key(rs, raw, 1, 2): answer(True, 36)})
    gate = evaluate_webhooks(hooks, T.CONFIRM_ROLLOUT, rs, 1, lambda: ["n1"], JOB, at(40), asks)
    assert (gate.passed, asks.calls, asks.wake_at) == (True, [], [])
    assert (rs.webhooks[0].phase, rs.webhooks[0].attempts, rs.webhooks[0].failures) == (
        W.PASSED, 2, 0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("type_", "fails"),
    [(T.PRE_WAVE, True), (T.POST_ROLLOUT, True), (T.CONFIRM_ROLLOUT, False),
     (T.CONFIRM_PROMOTION, False), (T.ROLLBACK, False)],
)  # fmt: skip
def test_only_pre_wave_and_post_rollout_give_up_after_failure_threshold_refusals(
    type_: WebhookType, fails: bool
) -> None:
    raw = hook("h", type_, failureThreshold=2, intervalSeconds=1)
    rs = rollout(P.PROGRESSING, 1)
    rs.webhooks = [WebhookStatus(name="h", type=type_, wave=2, attempts=1, failures=1,
                                 last_attempt_at=at(0), message="HTTP 500")]  # fmt: skip
    asks = WebhookAsks(answers={key(rs, raw, 2, 2): answer(False, 3, "no answer within 10s")})
    gate = evaluate_webhooks([spec_hook(raw)], type_, rs, 2, list, JOB, at(4), asks)
    assert (rs.webhooks[0].phase, rs.webhooks[0].failures) == (
        W.FAILED if fails else W.WAITING, 2,
    )  # fmt: skip
    assert gate.passed is False
    assert gate.failed == (
        f"{type_.value} webhook h refused 2 times in a row (no answer within 10s)" if fails else ""
    )
    assert (asks.calls == []) is fails  # given up: never asked again; else at once (due at 4)


def test_a_new_wave_asks_a_pre_wave_webhook_afresh_and_the_previous_status_stays_as_it_was() -> (
    None
):
    raw = hook("load", T.PRE_WAVE)
    rs = rollout(P.PROGRESSING, 2)
    before = WebhookStatus(name="load", type=T.PRE_WAVE, wave=2, phase=W.PASSED, attempts=3)
    rs.webhooks = [before]
    previous = list(rs.webhooks)
    asks = WebhookAsks()
    gate = evaluate_webhooks([spec_hook(raw)], T.PRE_WAVE, rs, 3, lambda: ["n5"], JOB, at(9), asks)
    assert gate.passed is False
    assert rs.webhooks == [WebhookStatus(name="load", type=T.PRE_WAVE, wave=3)]
    assert [c.key for c in asks.calls] == [key(rs, raw, 3, 1)]
    assert previous == [before]
    assert before.phase is W.PASSED


def test_the_payload_names_the_job_the_rollout_the_wave_and_its_nodes() -> None:
    raw = hook("load", T.PRE_WAVE, metadata={"profile": "smoke"})
    rs = rollout(P.PROGRESSING, 2, total=5, failed=1)
    nodes = [f"n{i}" for i in range(MAX_PAYLOAD_NODES + 5)]
    assert build_payload(JOB, rs, spec_hook(raw), 3, nodes, 4) == {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "WebhookRequest",
        "webhook": {"name": "load", "type": "PreWave"},
        "job": {"namespace": "ns", "name": "j", "uid": "job-uid"},
        "version": V,
        "fromVersion": STABLE,
        "phase": "Progressing",
        "wave": 3,
        "totalWaves": 5,
        "nodes": nodes[:MAX_PAYLOAD_NODES],
        "nodeCount": MAX_PAYLOAD_NODES + 5,
        "failedNodes": 1,
        "attempt": 4,
        "metadata": {"profile": "smoke"},
    }


def test_call_keys_name_the_rollout_webhook_question_and_attempt() -> None:
    rs = rollout(P.PROGRESSING, 0)
    assert key(rs, hook("cab", T.CONFIRM_ROLLOUT), 1, 2) == (
        f"{V}@{at(0).isoformat()}/cab/ConfirmRollout/1/2"
    )


def test_the_signature_covers_method_url_timestamp_and_body() -> None:
    # What a receiver computes (the README's example does this).
    url = "https://cab.example/nodewave"
    signed = b"POST\nhttps://cab.example/nodewave\n1700000000\n{}"
    expected = hmac.new(b"k3y", signed, hashlib.sha256).hexdigest()
    assert build_signature(b"k3y", "POST", url, "1700000000", b"{}") == f"sha256={expected}"
    # Each part is signed: a payload replayed to another endpoint, later, or changed fails.
    others = {
        build_signature(b"k3y", "PUT", url, "1700000000", b"{}"),
        build_signature(b"k3y", "POST", "https://load.example/nodewave", "1700000000", b"{}"),
        build_signature(b"k3y", "POST", url, "1700000001", b"{}"),
        build_signature(b"k3y", "POST", url, "1700000000", b"[]"),
        build_signature(b"k3z", "POST", url, "1700000000", b"{}"),
    }
    assert f"sha256={expected}" not in others
    assert len(others) == 5


# ---- where the rollout asks them --------------------------------------------------------


def test_confirm_rollout_holds_wave_1_and_says_who_is_awaited() -> None:
    raw = hook("cab", T.CONFIRM_ROLLOUT)
    ctx = with_answers(context(webhooks=[raw], **ROLLING))
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave) == (P.AWAITING_CONFIRMATION, 0)
    assert (
        decision.rollout.message == "waiting for a confirmation before wave 1: webhook cab (asking)"
    )
    assert moved_to(decision, 1) == []
    assert reasons(decision) == ["RolloutStarted", "AwaitingConfirmation"]
    assert decision.events[1] == EventIntent(
        "Normal",
        "AwaitingConfirmation",
        f"version {V} waits for its ConfirmRollout webhooks before wave 1",
    )
    [call] = calls(ctx)
    assert (call.namespace, call.job, call.webhook.name) == ("ns", "j", "cab")
    assert call.payload["nodes"] == ["n0", "n1"]
    assert call.payload["wave"] == 1
    # The next pass, still waiting: no second Event.
    rs = decision.rollout
    again = plan_rollout(with_answers(context(previous=rs, webhooks=[raw], **ROLLING), 5,
                                      **{key(rs, raw, 1): answer(False, 4)}))  # fmt: skip
    assert again.rollout is not None
    assert again.rollout.phase is P.AWAITING_CONFIRMATION
    assert again.rollout.message.endswith("webhook cab (attempt 1: HTTP 403: no)")
    assert reasons(again) == []


def test_a_confirmed_rollout_starts_wave_1() -> None:
    raw = hook("cab", T.CONFIRM_ROLLOUT)
    rs = rollout(P.AWAITING_CONFIRMATION, 0)
    ctx = with_answers(context(previous=rs, webhooks=[raw], **ROLLING), 3,
                       **{key(rs, raw, 1): answer(True, 2)})  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave) == (P.PROGRESSING, 1)
    assert moved_to(decision, 1) == ["n0", "n1"]
    assert entry(decision, "cab").phase is W.PASSED
    assert reasons(decision) == ["WaveStarted"]
    assert calls(ctx) == []


def test_pre_wave_holds_the_next_wave_then_lets_it_start() -> None:
    raw = hook("load", T.PRE_WAVE)
    settled = {"n0": ok(1), "n1": ok(1)}
    rs = rollout(P.PROGRESSING, 1, total=5)
    ctx = with_answers(context(settled, previous=rs, webhooks=[raw], **ROLLING), 10)
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave) == (P.PROGRESSING, 1)
    assert decision.rollout.message == "wave 2 waits for webhook load (asking)"
    assert moved_to(decision, 2) == []
    assert reasons(decision) == ["WaveComplete"]
    [call] = calls(ctx)
    assert (call.payload["wave"], call.payload["nodes"]) == (2, ["n2", "n3"])
    ctx = with_answers(context(settled, previous=decision.rollout, webhooks=[raw], **ROLLING),
                       12, **{key(rs, raw, 2): answer(True, 11)})  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.wave == 2
    assert moved_to(decision, 2) == ["n2", "n3"]


def test_pre_wave_refused_failure_threshold_times_rolls_the_version_back() -> None:
    raw = hook("load", T.PRE_WAVE, failureThreshold=2)
    settled = {"n0": ok(1), "n1": ok(1)}
    rs = rollout(P.PROGRESSING, 1, total=5)
    rs.webhooks = [WebhookStatus(name="load", type=T.PRE_WAVE, wave=2, attempts=1, failures=1,
                                 last_attempt_at=at(0), message="HTTP 503")]  # fmt: skip
    ctx = with_answers(context(settled, previous=rs, webhooks=[raw], **ROLLING), 30,
                       **{key(rs, raw, 2, 2): answer(False, 29, "HTTP 503: busy")})  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ROLLING_BACK
    verdict = "PreWave webhook load refused 2 times in a row (HTTP 503: busy)"
    assert decision.rollout.message == f"rolling back to version {STABLE}: {verdict}"
    assert decision.want == {n: Want(STABLE, 0) for n in ctx.targets}
    assert reasons(decision) == ["WaveComplete", "RolloutFailed", "RollingBack"]
    assert decision.events[1].message == f"version {V}: {verdict}"


def test_confirm_promotion_replaces_auto_promote_and_a_person_still_promotes() -> None:
    raw = hook("chat", T.CONFIRM_PROMOTION)
    canary = {"n0": ok(1), "n1": ok(1)}
    rs = rollout(P.PROGRESSING, 1, total=5)
    ctx = with_answers(context(canary, previous=rs, webhooks=[raw], autoPromote=True, **CANARY))
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.AWAITING_PROMOTION
    assert decision.rollout.message == (
        "canary validated; waiting for webhook chat (asking) or a promote "
        f"(annotation nodewave.io/promote={V})"
    )
    assert moved_to(decision, 2) == []
    [call] = calls(ctx)
    assert (call.payload["nodes"], call.payload["wave"]) == (["n0", "n1"], 1)
    # Approved: on with wave 2, announced as a promotion.
    waiting = decision.rollout
    ctx = with_answers(context(canary, previous=waiting, webhooks=[raw], **CANARY), 5,
                       **{key(rs, raw, 1): answer(True, 4)})  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.wave == 2
    assert reasons(decision) == ["Promoted", "WaveStarted"]
    # A person's promote goes past the webhook without asking it.
    ctx = with_answers(context(canary, previous=waiting, promote=str(V), webhooks=[raw], **CANARY))
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.wave == 2
    assert calls(ctx) == []


def test_a_promotion_held_by_a_pre_wave_webhook_is_announced_when_it_leaves_awaiting() -> None:
    raw = hook("load", T.PRE_WAVE)
    canary = {"n0": ok(1), "n1": ok(1)}
    rs = rollout(P.AWAITING_PROMOTION, 1, total=5)
    ctx = with_answers(context(canary, previous=rs, promote=str(V), webhooks=[raw], **CANARY))
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert (decision.rollout.phase, decision.rollout.wave) == (P.PROGRESSING, 1)
    assert reasons(decision) == ["Promoted"]


def test_a_rollback_webhook_answering_2xx_rolls_back_and_otherwise_is_asked_again() -> None:
    raw = hook("slo", T.ROLLBACK, intervalSeconds=20)
    wave1 = {"n0": Moved(1, validated=False), "n1": Moved(1, validated=False)}
    rs = rollout(P.PROGRESSING, 1, total=5)
    ctx = with_answers(context(wave1, previous=rs, webhooks=[raw], **ROLLING), 10,
                       **{key(rs, raw, 0): answer(False, 9, "HTTP 404")})  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.PROGRESSING
    assert (calls(ctx), ctx.asks.wake_at) == ([], [at(29)])
    first = with_answers(context(wave1, previous=rs, webhooks=[raw], **ROLLING))
    plan_rollout(first)
    assert calls(first)[0].payload["nodes"] == ["n0", "n1"]  # the wave in flight
    ctx = with_answers(
        context(wave1, previous=decision.rollout, webhooks=[raw], **ROLLING),
        30,
        **{key(rs, raw, 0, 2): answer(True, 30, "HTTP 200: error budget burnt")},
    )
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ROLLING_BACK
    assert decision.rollout.message == (
        f"rolling back to version {STABLE}: Rollback webhook slo asked for it "
        "(HTTP 200: error budget burnt)"
    )


@pytest.mark.parametrize(
    ("phase", "then"), [(P.ROLLING_BACK, P.ROLLING_BACK), (P.COMPLETED, P.PROGRESSING)]
)
def test_a_rollback_webhook_is_not_asked_once_the_rollout_is_over(
    phase: RolloutPhase, then: RolloutPhase
) -> None:
    raw = hook("slo", T.ROLLBACK)
    rs = rollout(phase, 1, total=1)
    ctx = with_answers(context({"n0": ok(1)}, previous=rs, webhooks=[raw], **ROLLING))
    decision = plan_rollout(ctx)
    assert calls(ctx) == []
    assert decision.rollout is not None
    assert decision.rollout.phase is then  # a Completed one left behind goes on, not back


@pytest.mark.parametrize("phase", [P.COMPLETED, P.ROLLED_BACK, P.ABORTED, P.FAILED])
def test_post_rollout_is_told_once_the_rollout_finished(phase: RolloutPhase) -> None:
    raw = hook("report", T.POST_ROLLOUT)
    rs = rollout(phase, 5, total=5)
    stable = V if phase is P.COMPLETED else STABLE
    ctx = with_answers(context({"n0": ok(1)}, stable=stable, previous=rs, webhooks=[raw]))
    if phase is P.ABORTED:  # it stays aborted while the annotation names it
        ctx = dataclasses.replace(ctx, abort=build_abort_value(V, at(0)))
    decision = plan_rollout(ctx)
    [call] = calls(ctx)
    assert (call.webhook.name, call.payload["phase"]) == ("report", phase.value)
    assert decision.rollout is not None
    assert decision.rollout.phase is phase
    assert decision.rollout.webhooks == [WebhookStatus(name="report", type=T.POST_ROLLOUT)]
    assert rs.webhooks == []  # the status it came from is unchanged (the change check)


def test_post_rollout_is_not_told_while_the_rollout_goes_on() -> None:
    raw = hook("report", T.POST_ROLLOUT)
    ctx = with_answers(context({"n0": Moved(1)}, previous=rollout(P.PROGRESSING, 1, 5),
                               webhooks=[raw], **ROLLING))  # fmt: skip
    plan_rollout(ctx)
    assert calls(ctx) == []


def test_a_post_rollout_answer_is_recorded_in_the_steady_state_and_not_asked_again() -> None:
    raw = hook("report", T.POST_ROLLOUT)
    rs = rollout(P.COMPLETED, 5, total=5)
    rs.webhooks = [WebhookStatus(name="report", type=T.POST_ROLLOUT)]
    ctx = with_answers(context({"n0": ok(1)}, stable=V, previous=rs, webhooks=[raw]), 2,
                       **{key(rs, raw, 0): answer(True, 1)})  # fmt: skip
    decision = plan_rollout(ctx)
    assert entry(decision, "report").phase is W.PASSED
    assert calls(ctx) == []
    assert rs.webhooks[0].phase is W.WAITING


def test_answers_wake_the_pass_when_a_webhook_is_due_again() -> None:
    raw = hook("cab", T.CONFIRM_ROLLOUT, intervalSeconds=7)
    rs = rollout(P.AWAITING_CONFIRMATION, 0)
    ctx = with_answers(context(previous=rs, webhooks=[raw], **ROLLING), 1,
                       **{key(rs, raw, 1): answer(False, 1)})  # fmt: skip
    plan_rollout(ctx)
    assert ctx.asks.wake_at == [at(1) + timedelta(seconds=7)]


def test_any_one_rollback_webhook_answering_2xx_is_enough() -> None:
    slo, errors = hook("slo", T.ROLLBACK), hook("errors", T.ROLLBACK)
    rs = rollout(P.PROGRESSING, 1, total=5)
    ctx = with_answers(
        context({"n0": Moved(1)}, previous=rs, webhooks=[slo, errors], **ROLLING), 10,
        **{key(rs, slo, 0): answer(False, 9, "HTTP 404"),
           key(rs, errors, 0): answer(True, 9, "HTTP 200: 5xx rate 12 %")},
    )  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.phase is P.ROLLING_BACK
    assert decision.rollout.message == (
        f"rolling back to version {STABLE}: Rollback webhook errors asked for it "
        "(HTTP 200: 5xx rate 12 %)"
    )


def test_several_webhooks_awaited_or_failed_are_all_named() -> None:
    a, b = hook("a", T.PRE_WAVE, failureThreshold=1), hook("b", T.PRE_WAVE, failureThreshold=1)
    rs = rollout(P.PROGRESSING, 1)
    asks = WebhookAsks()
    gate = evaluate_webhooks(
        [spec_hook(a), spec_hook(b)], T.PRE_WAVE, rs, 2, list, JOB, at(0), asks
    )
    assert gate.awaiting == "webhook a (asking); webhook b (asking)"
    answers = {
        key(rs, a, 2): answer(False, 1, "HTTP 500"),
        key(rs, b, 2): answer(False, 1, "HTTP 502"),
    }
    gate = evaluate_webhooks([spec_hook(a), spec_hook(b)], T.PRE_WAVE, rs, 2, list, JOB, at(2),
                             WebhookAsks(answers=answers))  # fmt: skip
    assert gate.failed == (
        "PreWave webhook a refused 1 times in a row (HTTP 500); "
        "PreWave webhook b refused 1 times in a row (HTTP 502)"
    )


def test_a_rollout_without_a_start_or_a_phase_is_keyed_and_sent_so() -> None:
    rs = RolloutStatus(version=2)
    raw = hook("cab", T.CONFIRM_ROLLOUT)
    assert build_call_key(rs, spec_hook(raw), 1, 1) == "2@-/cab/ConfirmRollout/1/1"
    assert build_payload(JOB, rs, spec_hook(raw), 1, [], 1)["phase"] is None


def test_every_rollback_webhook_that_asked_is_named() -> None:
    slo, errors = hook("slo", T.ROLLBACK), hook("errors", T.ROLLBACK)
    rs = rollout(P.PROGRESSING, 1, total=5)
    ctx = with_answers(
        context({"n0": Moved(1)}, previous=rs, webhooks=[slo, errors], **ROLLING), 10,
        **{key(rs, slo, 0): answer(True, 9, "HTTP 200: slo"),
           key(rs, errors, 0): answer(True, 9, "HTTP 200: errors")},
    )  # fmt: skip
    decision = plan_rollout(ctx)
    assert decision.rollout is not None
    assert decision.rollout.message == (
        f"rolling back to version {STABLE}: Rollback webhook slo asked for it (HTTP 200: slo); "
        "Rollback webhook errors asked for it (HTTP 200: errors)"
    )
