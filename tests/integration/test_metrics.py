"""The operator's /metrics: the series the alerts use, bounded labels, deleted Jobs forgotten."""

from __future__ import annotations

import re
import urllib.request

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import wait_for
from tests.integration.test_reconcile import add_nodes, apply_job, states, template


def scrape(op: OperatorProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as r:
        return r.read().decode()


def value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if labels.items() <= got.items():
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_follow_the_job_and_forget_it(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "metrics", 2)
    apply_job(
        cluster,
        namespace,
        "m",
        {
            "type": "Pipeline",
            "selector": {"matchLabels": {"suite": "metrics"}},
            "template": template(),
        },
    )
    wait_for(
        lambda: (
            set(states(cluster, namespace, "m").values()) == {"Running"}
            and len(states(cluster, namespace, "m")) == len(nodes)
        ),
        30,
        "Running",
    )

    def caught_up() -> str | None:
        text = scrape(operator)
        return (
            text
            if value(text, "nodewave_executions", namespace=namespace, job="m", state="Running")
            == 2
            else None
        )

    text = wait_for(caught_up, 15, "metrics caught up")
    assert value(text, "nodewave_job_target_nodes", namespace=namespace, job="m") == 2
    assert value(text, "nodewave_job_ready_nodes", namespace=namespace, job="m") == 2
    assert (
        value(text, "nodewave_rollout_phase", namespace=namespace, job="m", phase="Completed") == 1
    )
    assert value(text, "nodewave_build_info") == 1
    assert (
        value(text, "nodewave_api_requests_total", verb="POST", resource="pods", code="201") or 0
    ) >= 2
    assert (value(text, "nodewave_reconcile_duration_seconds_count") or 0) > 0
    # Bounded cardinality: no series names a node or an execution.
    assert not re.search(r'\b(node|execution|pod)="', text)
    cluster.kubectl("delete", "nwj", "-n", namespace, "m")
    wait_for(
        lambda: (
            value(scrape(operator), "nodewave_executions", namespace=namespace, job="m") is None
        ),
        30,
        "series of the deleted Job removed",
    )
