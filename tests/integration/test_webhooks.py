"""rollout.webhooks on the real control plane, against a real HTTP receiver on loopback that
approves, refuses, hangs, answers garbage and redirects, and a port where nobody listens:
what each answer does to the rollout, what the status says meanwhile, and what the receiver
got (a signed JSON payload)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nodewave.localcluster.controlplane import ControlPlane, free_port
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import wait_for
from tests.integration.jobs import (
    apply_job,
    job_events,
    job_status,
    listed_executions,
    ok,
    phase,
    plugin,
    rolling_job,
    running_versions,
    settle_v1,
    suite_nodes,
)
from tests.integration.receivers import APPROVE, GARBAGE, HANG, REDIRECT, REFUSE, Receiver

KEY = b"s3cret-signing-key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def signing_secret(cp: ControlPlane, ns: str) -> None:
    cp.kubectl("create", "secret", "generic", "nodewave-webhooks", "-n", ns,
               f"--from-literal=hmac={KEY.decode()}")  # fmt: skip


def rollout_status(cp: ControlPlane, ns: str, job: str) -> dict[str, Any]:
    return dict(job_status(cp, ns, job).get("rollout") or {})


def wait_message(cp: ControlPlane, ns: str, job: str, fragment: str, timeout: float = 30) -> Any:
    return wait_for(
        lambda: fragment in (r := rollout_status(cp, ns, job)).get("message", "") and r,
        timeout,
        f"the rollout's message to say {fragment!r}",
    )


def v2_executions(cp: ControlPlane, ns: str, job: str) -> list[Any]:
    return listed_executions(cp, ns, job, 2)


def test_confirm_rollout_and_pre_wave_gates_hold_waves_until_the_receiver_approves(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, receiver: Receiver
) -> None:
    nodes = suite_nodes(cluster, "webhook", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    settle_v1(cluster, namespace, "gated", rolling_job("webhook", "1", rolling), nodes)
    signing_secret(cluster, namespace)
    secret = {"name": "nodewave-webhooks", "key": "hmac"}
    hooks = [
        {"name": "change-board", "type": "ConfirmRollout", "url": receiver.url("/cab"),
         "intervalSeconds": 1, "metadata": {"ticket": "CHG-1"}, "secretRef": secret},
        {"name": "load-test", "type": "PreWave", "url": receiver.url("/load"),
         "intervalSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 100},
    ]  # fmt: skip
    receiver.answers |= {"/cab": GARBAGE, "/load": APPROVE}
    slow = {"deadlineSeconds": 60, "intervalSeconds": 1, "successThreshold": 5}
    apply_job(cluster, namespace, "gated",
              rolling_job("webhook", "2", {**rolling, "healthCheck": slow, "webhooks": hooks}))  # fmt: skip

    # Garbage, then a refusal: no wave starts, and the status says who is awaited and why.
    waiting = wait_message(cluster, namespace, "gated", "not an HTTP answer")
    assert waiting["phase"] == "AwaitingConfirmation"
    assert waiting["message"].startswith(
        "waiting for a confirmation before wave 1: webhook change-board (attempt "
    )
    receiver.answers["/cab"] = REFUSE
    wait_message(cluster, namespace, "gated", "HTTP 403: change not approved")
    assert v2_executions(cluster, namespace, "gated") == []
    assert "AwaitingConfirmation" in job_events(cluster, namespace)
    shown = ok(cluster, "status", "gated", "-n", namespace)
    assert "Rollout:    AwaitingConfirmation version 2 wave 0/" in shown
    assert "Webhooks:   change-board (ConfirmRollout wave 1): Waiting, attempt " in shown
    until_paused = plugin(cluster, "status", "gated", "-n", namespace, "--watch", "--until-paused")
    assert until_paused.returncode == 0, until_paused.stderr

    # What the receiver got: a JSON payload signed over method, URL, timestamp and body.
    call = receiver.calls("/cab")[0]
    assert call.headers["Content-Type"] == "application/json"
    timestamp = call.headers["X-Nodewave-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 120
    url = receiver.url("/cab")
    signed = f"POST\n{url}\n{timestamp}\n".encode() + call.raw
    expected = hmac.new(KEY, signed, hashlib.sha256).hexdigest()
    assert call.headers["X-Nodewave-Signature"] == f"sha256={expected}"
    body = call.body
    assert {k: body[k] for k in ("kind", "version", "fromVersion", "wave", "attempt")} == {
        "kind": "WebhookRequest", "version": 2, "fromVersion": 1, "wave": 1, "attempt": 1,
    }  # fmt: skip
    assert body["job"]["namespace"] == namespace
    assert body["job"]["name"] == "gated"
    assert body["webhook"] == {"name": "change-board", "type": "ConfirmRollout"}
    assert body["metadata"] == {"ticket": "CHG-1"}
    assert body["nodeCount"] == 2
    assert set(body["nodes"]) < set(nodes)

    # Approved: wave 1 goes after its PreWave passed; wave 2 is held while the load test hangs
    # (each call cut at timeoutSeconds; the pass is never held), then goes once it approves.
    receiver.answers["/cab"] = APPROVE
    wait_for(lambda: len(v2_executions(cluster, namespace, "gated")) == 2, 30, "wave 1 started")
    receiver.answers["/load"] = HANG  # wave 1 takes 5 s of health windows to be validated
    first = receiver.calls("/load")[0].body
    assert (first["wave"], first["nodeCount"]) == (1, 2)
    held = wait_message(cluster, namespace, "gated", "wave 2 waits for webhook load-test")
    wait_message(cluster, namespace, "gated", "(attempt 1: no answer within 1s)")
    assert held["wave"] == 1
    assert len(v2_executions(cluster, namespace, "gated")) == 2
    receiver.answers["/load"] = APPROVE
    wait_for(lambda: phase(cluster, namespace, "gated") == "Completed", 60, "rolled out")
    assert running_versions(cluster, namespace, "gated") == {n: [2] for n in nodes}
    done = rollout_status(cluster, namespace, "gated")
    gates = {w["name"]: w for w in done["webhooks"]}
    assert gates["change-board"]["phase"] == "Passed"
    assert (gates["load-test"]["phase"], gates["load-test"]["wave"]) == ("Passed", 2)
    assert [c.body["wave"] for c in receiver.calls("/load")][-1] == 2
    assert "X-Nodewave-Signature" not in receiver.calls("/load")[0].headers  # no secretRef


def test_canary_promotion_rollback_request_and_post_rollout_report(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, receiver: Receiver
) -> None:
    nodes = suite_nodes(cluster, "webhook", 4)
    canary = {"strategy": "Canary", "canaryCount": 1, "maxParallel": 25}
    settle_v1(cluster, namespace, "canary", rolling_job("webhook", "1", canary), nodes)
    hooks = [
        {"name": "approve-in-chat", "type": "ConfirmPromotion", "url": receiver.url("/promote"),
         "intervalSeconds": 1},
        {"name": "slo-burn", "type": "Rollback", "url": receiver.url("/slo"),
         "intervalSeconds": 1},
        {"name": "report", "type": "PostRollout", "url": receiver.url("/report"),
         "intervalSeconds": 1},
    ]  # fmt: skip
    receiver.answers |= {"/promote": REDIRECT, "/slo": REFUSE, "/report": APPROVE}
    apply_job(cluster, namespace, "canary",
              rolling_job("webhook", "2", {**canary, "webhooks": hooks}))  # fmt: skip

    # The canary is validated; the promotion waits for the chat approval, whose redirect is
    # not followed. A Rollback webhook answering 403 means "no rollback".
    waiting = wait_message(cluster, namespace, "canary", "redirects are not followed", 60)
    assert waiting["phase"] == "AwaitingPromotion"
    assert "waiting for webhook approve-in-chat (attempt" in waiting["message"]
    assert len(v2_executions(cluster, namespace, "canary")) == 1
    assert receiver.calls("/slo"), "the Rollback webhook is asked while the rollout is in flight"
    receiver.answers["/promote"] = APPROVE
    wait_for(lambda: len(v2_executions(cluster, namespace, "canary")) >= 2, 30, "promoted")
    assert "Promoted" in job_events(cluster, namespace)

    # The SLO burns: the Rollback webhook answers 200 and the version goes back.
    receiver.answers["/slo"] = APPROVE
    wait_for(lambda: phase(cluster, namespace, "canary") == "RolledBack", 60, "rolled back")
    status = rollout_status(cluster, namespace, "canary")
    assert "Rollback webhook slo-burn asked for it (HTTP 200: ok)" in status["message"]
    assert running_versions(cluster, namespace, "canary") == {n: [1] for n in nodes}

    # PostRollout is told once, with the phase it ended in, and not again.
    wait_for(lambda: receiver.calls("/report"), 30, "the PostRollout report")
    time.sleep(3)
    [report] = receiver.calls("/report")
    assert (report.body["phase"], report.body["version"]) == ("RolledBack", 2)
    gates = {w["name"]: w for w in rollout_status(cluster, namespace, "canary")["webhooks"]}
    assert (gates["report"]["phase"], gates["report"]["attempts"]) == ("Passed", 1)


def test_a_pre_wave_webhook_nobody_answers_rolls_the_version_back(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, "webhook", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    settle_v1(cluster, namespace, "down", rolling_job("webhook", "1", rolling), nodes)
    down = f"http://127.0.0.1:{free_port()}/load"  # nothing listens there
    hooks = [{"name": "load-test", "type": "PreWave", "url": down, "intervalSeconds": 1,
              "failureThreshold": 2}]  # fmt: skip
    apply_job(
        cluster, namespace, "down", rolling_job("webhook", "2", {**rolling, "webhooks": hooks})
    )
    wait_for(lambda: phase(cluster, namespace, "down") == "RolledBack", 60, "rolled back")
    status = rollout_status(cluster, namespace, "down")
    assert "PreWave webhook load-test refused 2 times in a row (unreachable: " in status["message"]
    assert v2_executions(cluster, namespace, "down") == [], "no wave started"
    assert running_versions(cluster, namespace, "down") == {n: [1] for n in nodes}
    assert "RolloutFailed" in job_events(cluster, namespace)


def test_a_signing_secret_the_operator_cannot_find_is_named_in_the_status(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, receiver: Receiver
) -> None:
    nodes = suite_nodes(cluster, "webhook", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    settle_v1(cluster, namespace, "nosecret", rolling_job("webhook", "1", rolling), nodes)
    hooks = [{"name": "cab", "type": "ConfirmRollout", "url": receiver.url("/cab"),
              "intervalSeconds": 1, "secretRef": {"name": "nodewave-webhooks", "key": "hmac"}}]  # fmt: skip
    apply_job(cluster, namespace, "nosecret",
              rolling_job("webhook", "2", {**rolling, "webhooks": hooks}))  # fmt: skip
    wait_message(cluster, namespace, "nosecret", "Secret nodewave-webhooks not found")
    assert receiver.calls("/cab") == [], "never sent unsigned"
    cluster.kubectl("create", "secret", "generic", "nodewave-webhooks", "-n", namespace,
                    "--from-literal=other=x")  # fmt: skip
    wait_message(cluster, namespace, "nosecret", "Secret nodewave-webhooks has no key hmac")
    secret = base64.b64encode(KEY).decode()
    cluster.kubectl("patch", "secret", "nodewave-webhooks", "-n", namespace, "--type=merge",
                    "-p", f'{{"data": {{"hmac": "{secret}"}}}}')  # fmt: skip
    wait_for(lambda: phase(cluster, namespace, "nosecret") == "Completed", 60, "rolled out")
    assert receiver.calls("/cab")[0].headers["X-Nodewave-Signature"].startswith("sha256=")


def test_the_egress_policy_refuses_a_destination_before_anything_is_sent(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """The session operator allows 127.0.0.1/32 (the tests' receivers) and keeps the defaults:
    the rest of loopback (the operator's own ports), link-local (cloud metadata, also written
    IPv4-mapped) and the API server's endpoint are refused, each gate saying why, and a
    receiver there gets nothing."""
    inside = Receiver("127.0.0.2").start()
    try:
        nodes = suite_nodes(cluster, "webhook", 4)
        rolling = {"strategy": "Rolling", "maxParallel": 50}
        settle_v1(cluster, namespace, "egress", rolling_job("webhook", "1", rolling), nodes)
        api_port = cluster.server.rsplit(":", 1)[1]
        refused = {
            "own": (inside.url("/cab"), "127.0.0.2 is in the denied network 127.0.0.0/8"),
            "metadata": ("http://169.254.169.254/latest/meta-data/",
                         "169.254.169.254 is in the denied network 169.254.0.0/16"),
            "mapped": ("http://[::ffff:169.254.169.254]/",
                       "169.254.169.254 is in the denied network 169.254.0.0/16"),
            "apiserver": (cluster.server + "/api", f"127.0.0.1:{api_port} is the API server's"),
        }  # fmt: skip
        hooks = [{"name": name, "type": "ConfirmRollout", "url": url, "intervalSeconds": 1}
                 for name, (url, _) in refused.items()]  # fmt: skip
        apply_job(cluster, namespace, "egress",
                  rolling_job("webhook", "2", {**rolling, "webhooks": hooks}))  # fmt: skip

        def answers() -> dict[str, str]:
            webhooks = rollout_status(cluster, namespace, "egress").get("webhooks") or []
            return {w["name"]: w.get("message", "") for w in webhooks}

        expected = {name: f"not called: refused by the operator's egress policy: {why}"
                    for name, (_, why) in refused.items()}  # fmt: skip
        wait_for(lambda: answers() == expected, 30, "every gate refused by the egress policy")
        assert inside.received == [], "nothing sent to a refused destination"
        assert v2_executions(cluster, namespace, "egress") == []
    finally:
        inside.stop()
