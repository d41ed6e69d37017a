"""The operator's /metrics: the series the alerts use, bounded labels, deleted Jobs forgotten."""

from __future__ import annotations

import re
import time
from pathlib import Path

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import wait_for
from tests.integration.jobs import (
    add_nodes,
    apply_job,
    phase,
    rolling_job,
    scrape,
    settle_v1,
    states,
    suite_nodes,
    template,
)
from tests.integration.prometheus_server import query, run_prometheus
from tests.unit.promql import dashboard_queries


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
            if value(
                text, "nodewave_executions", namespace=namespace, job_name="m", state="Running"
            )
            == 2
            else None
        )

    text = wait_for(caught_up, 15, "metrics caught up")
    assert value(text, "nodewave_job_target_nodes", namespace=namespace, job_name="m") == 2
    assert value(text, "nodewave_job_ready_nodes", namespace=namespace, job_name="m") == 2
    assert (
        value(text, "nodewave_rollout_phase", namespace=namespace, job_name="m", phase="Completed")
        == 1
    )
    assert value(text, "nodewave_build_info") == 1
    # Counters exist at 0 before anything happened, so the first increase shows.
    assert value(text, "nodewave_rollbacks_total", namespace=namespace, job_name="m") == 0
    assert (
        value(text, "nodewave_rollouts_total", namespace=namespace, job_name="m", result="failed")
        == 0
    )
    assert (
        value(text, "nodewave_api_requests_total", verb="POST", resource="pods", code="201") or 0
    ) >= 2
    assert (value(text, "nodewave_reconcile_duration_seconds_count") or 0) > 0
    # Bounded cardinality: no series names a node or an execution.
    assert not re.search(r'\b(node|execution|pod)="', text)
    cluster.kubectl("delete", "nwj", "-n", namespace, "m")
    wait_for(
        lambda: (
            value(scrape(operator), "nodewave_executions", namespace=namespace, job_name="m")
            is None
        ),
        30,
        "series of the deleted Job removed",
    )


# Queries that may rightly return nothing once the rollouts are over: the wave of a rollout in
# progress, and API errors (none need happen).
# Nothing dropped and no API errors in a healthy run: those series exist only once counted.
MAY_BE_EMPTY = {"Wave progress/A", "API errors/A", "Per-execution Events dropped under load/A"}


def test_dashboard_queries_show_a_live_rollout_and_rollback(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes = suite_nodes(cluster, "dashboard", 3)
    rolling = {"strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 0}
    with run_prometheus(tmp_path, {"nodewave": f"127.0.0.1:{operator.metrics_port}"}) as prom:
        settle_v1(cluster, namespace, "dash", rolling_job("dashboard", "1", rolling), nodes)
        apply_job(cluster, namespace, "dash", rolling_job("dashboard", "2", rolling))
        wait_for(lambda: phase(cluster, namespace, "dash") == "Completed", 60, "v2 rolled out")
        bad = rolling_job("dashboard", "3", rolling, {"fake.nodewave.io/ready": "false"})
        apply_job(cluster, namespace, "dash", bad)
        wait_for(
            lambda: phase(cluster, namespace, "dash", version=3) == "RolledBack",
            60,
            "v3 rolled back",
        )
        time.sleep(3)  # a few scrapes after the last change

        answers = {where: query(prom, expr) for where, expr in dashboard_queries().items()}
        failed = {w: a.get("error") for w, a in answers.items() if a.get("status") != "success"}
        assert not failed, failed
        empty = {w for w, a in answers.items() if not a["data"]["result"]} - MAY_BE_EMPTY
        assert not empty, f"panels without data after a rollout and a rollback: {sorted(empty)}"

        mine = query(prom, f'nodewave_job_target_nodes{{namespace="{namespace}", job_name="dash"}}')
        assert mine["data"]["result"][0]["value"][1] == "3"
        rollbacks = query(prom, f'nodewave_rollbacks_total{{namespace="{namespace}"}}')
        assert rollbacks["data"]["result"][0]["value"][1] == "1"
