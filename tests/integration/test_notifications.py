"""Notifications on the real control plane, through Apprise to real receivers on loopback: an
SMTP server (aiosmtpd), an HTTP receiver, one that is slow and one that is down. The
configuration is the chart's own ConfigMap, rendered by helm from values. Each transition is
told once, a slow service holds nothing up, a down one is retried with backoff, and an
operator killed and started again repeats nothing."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodewave.localcluster.controlplane import ControlPlane, free_port
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import wait_for
from tests.integration.helm import CHART, helm
from tests.integration.jobs import (
    apply_job,
    job_status,
    phase,
    rolling_job,
    scrape,
    settle_v1,
    suite_nodes,
)
from tests.integration.receivers import SLOW, MailReceiver, Receiver

CONFIGMAP_NAMESPACE = "default"  # the test operator's own namespace (its Lease's)
TRIGGERS = ["on-rollout-started", "on-wave-completed", "on-rollout-completed"]


@pytest.fixture
def mail() -> Iterator[MailReceiver]:
    m = MailReceiver().start()
    yield m
    m.stop()


@pytest.fixture
def http() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def install_config(cp: ControlPlane, tmp_path: Path, values: dict[str, Any]) -> None:
    """The chart's nodewave-notifications ConfigMap and Secret, rendered from `values`."""
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"notifications": values}))
    done = helm(cp, "template", "nodewave", str(CHART), "--namespace", CONFIGMAP_NAMESPACE,
                "--kube-version", "1.34.0", "-f", str(path),
                "--show-only", "templates/notifications.yaml")  # fmt: skip
    assert done.returncode == 0, done.stderr
    cp.kubectl("apply", "-f", "-", input=done.stdout)


def notifications(cp: ControlPlane, ns: str, job: str) -> list[dict[str, Any]]:
    return list(job_status(cp, ns, job).get("notifications") or [])


def test_each_transition_is_told_once_by_mail_and_http_and_never_again_after_a_restart(
    cluster: ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    mail: MailReceiver,
    http: Receiver,
    tmp_path: Path,
) -> None:
    nodes = suite_nodes(cluster, "notify", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    settle_v1(cluster, namespace, "agent", rolling_job("notify", "1", rolling), nodes)
    http.answers["/slow"] = SLOW
    install_config(cluster, tmp_path, {
        "services": {
            "mail": f"mailto://127.0.0.1:{mail.port}?from=nodewave@example.org&to=$oncall"
                    "&mode=insecure",
            "hook": f"json://127.0.0.1:{http.port}/hook",
            "slow": f"json://127.0.0.1:{http.port}/slow",
            "down": f"json://127.0.0.1:{free_port()}/nobody",
        },
        "templates": {"on-rollout-completed": {"title": "$namespace/$job: v$version is out",
                                               "body": "$message"}},
        "subscriptions": [{"triggers": TRIGGERS, "services": ["mail", "hook", "slow", "down"],
                           "namespaces": [namespace]}],
        "secret": {"create": True, "data": {"oncall": "oncall@example.org"}},
    })  # fmt: skip
    try:
        time.sleep(2)  # the test operator re-reads its configuration every second
        started = time.monotonic()
        apply_job(cluster, namespace, "agent", rolling_job("notify", "2", rolling))
        wait_for(lambda: phase(cluster, namespace, "agent") == "Completed", 60, "rolled out")
        rollout_seconds = time.monotonic() - started
        subjects = [
            f"[nodewave] {namespace}/agent: rolling out version 2",
            f"[nodewave] {namespace}/agent: wave 1 of version 2 done",
            f"[nodewave] {namespace}/agent: wave 2 of version 2 done",
            f"{namespace}/agent: v2 is out",
        ]
        wait_for(lambda: sorted(mail.subjects()) == sorted(subjects), 30, "the four mails")
        assert mail.messages[0]["To"] == "oncall@example.org"  # from the Secret
        wait_for(lambda: len(http.calls("/hook")) == 4, 10, "the four JSON posts")
        assert sorted(c.body["title"] for c in http.calls("/hook")) == sorted(subjects)
        body = next(c.body for c in http.calls("/hook") if c.body["title"].endswith("is out"))
        assert body["message"] == "version 2 on 4/4 nodes"
        wait_for(lambda: len(http.calls("/slow")) == 4, 30, "the slow service's four")
        assert rollout_seconds < 30, "a slow service held the rollout up"

        entries = wait_for(
            lambda: (
                (e := notifications(cluster, namespace, "agent"))
                and all(x["phase"] == "Sent" for x in e if x["service"] != "down")
                and e
            ),
            30,
            "every notification but the down service's recorded as sent",
        )
        assert Counter(e["service"] for e in entries) == {
            s: 4 for s in ("mail", "hook", "slow", "down")
        }
        series = (
            f'nodewave_notifications{{job_name="agent",namespace="{namespace}",phase="Sent"}} 12.0'
        )
        wait_for(lambda: series in scrape(operator), 10, "the notifications gauge")
        down = [e for e in entries if e["service"] == "down"]
        assert {e["phase"] for e in down} == {"Pending"}
        assert all("down: " in e["message"] for e in down if e["attempts"])
        wait_for(lambda: max(e["attempts"] for e in notifications(cluster, namespace, "agent")
                             if e["service"] == "down") >= 2, 30, "the down service retried")  # fmt: skip

        # Killed and started again: nothing sent again; the down service's retries go on
        # from the attempts recorded, not from the start.
        before = {e["id"]: e["attempts"] for e in notifications(cluster, namespace, "agent")}
        operator.kill()
        time.sleep(1)
        operator.start()
        operator.wait_started()
        time.sleep(6)  # past the configuration's re-read and a retry of the down service
        assert len(mail.messages) == 4
        assert len(http.calls("/hook")) == 4
        assert len(http.calls("/slow")) == 4
        after = {e["id"]: e["attempts"] for e in notifications(cluster, namespace, "agent")}
        assert after.keys() == before.keys()
        assert all(after[k] >= before[k] for k in before)
    finally:
        if not operator.alive():
            operator.start()
            operator.wait_started()
        cluster.kubectl("delete", "configmap,secret", "-n", CONFIGMAP_NAMESPACE,
                        "nodewave-notifications", "--ignore-not-found")  # fmt: skip


def test_a_job_subscribes_with_an_annotation(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, http: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    nodes = suite_nodes(cluster, "notify", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 100}
    team = {"team": f"json://127.0.0.1:{http.port}/team"}
    install_config(cluster, tmp_path, {"services": team})
    try:
        spec = rolling_job("notify", "1", rolling)
        settle_v1(cluster, namespace, "annotated", spec, nodes)
        time.sleep(2)  # the test operator re-reads its configuration every second
        annotations = {"notifications.nodewave.io/subscribe.on-rollout-completed": "team"}

        def roll_out(version: int) -> None:
            body = {
                "apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
                "metadata": {"name": "annotated", "namespace": namespace, "annotations": annotations},
                "spec": rolling_job("notify", str(version), rolling),
            }  # fmt: skip
            cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
            wait_for(lambda: phase(cluster, namespace, "annotated", version) == "Completed", 60,
                     f"version {version} rolled out")  # fmt: skip

        # The service takes no subscriptions from this namespace yet: refused, said, not sent.
        roll_out(2)
        [refused] = wait_for(lambda: notifications(cluster, namespace, "annotated"), 20, "entry")
        assert (refused["service"], refused["phase"]) == ("team", "Failed")
        assert refused["message"] == (
            f"not sent: service team takes no subscriptions from namespace {namespace} "
            "(subscribable.team of the notifications ConfigMap)"
        )
        install_config(cluster, tmp_path, {"services": team, "subscribable": {"team": [namespace]}})
        time.sleep(2)
        roll_out(3)
        wait_for(lambda: http.calls("/team"), 20, "the team's notification")
        time.sleep(2)
        [call] = http.calls("/team")
        assert call.body["title"] == f"[nodewave] {namespace}/annotated: version 3 rolled out"
    finally:
        cluster.kubectl("delete", "configmap", "-n", CONFIGMAP_NAMESPACE,
                        "nodewave-notifications", "--ignore-not-found")  # fmt: skip
