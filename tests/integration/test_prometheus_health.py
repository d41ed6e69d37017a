"""healthCheck.prometheus: error rates from a real Prometheus (Debian's package) scraping an
exporter the test runs on loopback and steers per node."""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nodewave.cli.records import is_pod_record
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.jobs import (
    POD_RECORDS,
    add_nodes,
    apply_job,
    job_events,
    job_status,
    listed_executions,
    phase,
    rolling_job,
    running_versions,
    settle_v1,
    suite_nodes,
)
from tests.integration.prometheus_server import query, run_prometheus


class Exporter:
    """app_error_ratio{node=...} per node, as the test sets it."""

    def __init__(self) -> None:
        self.ratios: dict[str, float] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = "".join(
                    f'app_error_ratio{{node="{n}"}} {v}\n' for n, v in exporter.ratios.items()
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def report(self, nodes: list[str], ratio: float) -> None:
        """Every node's error ratio from now on; returns after Prometheus has scraped it."""
        self.ratios = dict.fromkeys(nodes, ratio)
        time.sleep(2)  # two scrape intervals


FLEET_ON_FIRE = {
    "alert": "FleetOnFire",
    "expr": 'max(app_error_ratio{node="fire"}) > 0.9',
    "labels": {"severity": "critical"},
}
"""A real alerting rule: fires while the exporter reports the node "fire" above 0.9."""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Exporter]]:
    exporter = Exporter()
    try:
        with run_prometheus(
            tmp_path_factory.mktemp("prometheus"),
            {"app": f"127.0.0.1:{exporter.port}"},
            [FLEET_ON_FIRE],
        ) as address:
            yield address, exporter
    finally:
        exporter.server.shutdown()
        exporter.server.server_close()


def prom_job(tag: str, address: str, query: str) -> dict[str, Any]:
    spec = rolling_job(
        "prom",
        tag,
        {
            "strategy": "Canary",
            "canaryCount": 1,
            "autoPromote": True,
            "maxParallel": 50,
            "maxFailedNodes": 0,
        },
    )
    spec["rollout"]["healthCheck"]["prometheus"] = {
        "address": address,
        "query": query,
        "timeoutSeconds": 2,
    }
    return spec


QUERY = 'max(app_error_ratio{node="$node"})'


def test_prometheus_error_rate_gates_the_rollout(
    cluster: ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    prometheus: tuple[str, Exporter],
) -> None:
    address, exporter = prometheus
    nodes = suite_nodes(cluster, "prom", 3)
    exporter.report(nodes, 0.0)
    settle_v1(cluster, namespace, "api", prom_job("1", address, QUERY), nodes)

    # Version 2: healthy pods, but Prometheus says half its requests fail on every node.
    exporter.report(nodes, 0.5)
    apply_job(cluster, namespace, "api", prom_job("2", address, QUERY))
    wait_for(
        lambda: phase(cluster, namespace, "api") == "RolledBack",
        60,
        "rolled back on Prometheus' error rate",
    )
    v2 = kubectl_json(cluster, "get", "nwx", "-n", namespace, "-l", "nodewave.io/version=2")[
        "items"
    ]
    assert len(v2) == 1
    assert v2[0]["status"]["error"]["code"] == "HealthCheckFailed"
    assert v2[0]["status"]["health"]["errorRate"] == 0.5
    wait_for(
        lambda: running_versions(cluster, namespace, "api") == {n: [1] for n in nodes},
        30,
        "back on version 1",
    )

    # Version 3 with the error rate back at zero rolls through.
    exporter.report(nodes, 0.0)
    apply_job(cluster, namespace, "api", prom_job("3", address, QUERY))
    wait_for(lambda: phase(cluster, namespace, "api", 3) == "Completed", 60, "version 3 completed")
    assert running_versions(cluster, namespace, "api") == {n: [3] for n in nodes}


def test_a_failing_query_is_reported_not_treated_as_healthy(
    cluster: ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    prometheus: tuple[str, Exporter],
) -> None:
    address, exporter = prometheus
    nodes = suite_nodes(cluster, "prom", 3)
    exporter.report(nodes, 0.0)
    settle_v1(cluster, namespace, "api", prom_job("1", address, QUERY), nodes)
    apply_job(
        cluster, namespace, "api", prom_job("2", address, 'max(app_error_ratio{node="$node"}')
    )  # PromQL syntax error
    wait_for(
        lambda: phase(cluster, namespace, "api") == "RolledBack",
        60,
        "rolled back on a failing query",
    )
    v2 = kubectl_json(cluster, "get", "nwx", "-n", namespace, "-l", "nodewave.io/version=2")[
        "items"
    ]
    error = v2[0]["status"]["error"]
    assert error["code"] == "PrometheusQueryFailed"
    assert "bad_data" in error["message"] or "parse error" in error["message"]
    events = kubectl_json(
        cluster, "get", "events", "-n", namespace, "--field-selector", "reason=Failed"
    )["items"]
    assert any("Prometheus" in e["message"] for e in events)


def test_no_sample_is_a_failure(tmp_path: Path) -> None:
    from nodewave.kube.prometheus import _sample

    assert (
        _sample({"status": "success", "data": {"resultType": "vector", "result": []}})
        == "the query returned no sample"
    )
    assert (
        _sample(
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [0, "0.2"]}]},
            }
        )
        == 0.2
    )
    assert (
        _sample({"status": "success", "data": {"resultType": "scalar", "result": [0, "NaN"]}})
        == "not a finite number: NaN"
    )
    assert (
        _sample({"status": "error", "errorType": "bad_data", "error": "parse error"})
        == "bad_data: parse error"
    )


def test_each_node_is_judged_against_its_own_baseline(
    cluster: ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    prometheus: tuple[str, Exporter],
) -> None:
    """maxErrorRate 1 %, baseline +2 %: node a always ran at 3 % and passes at 3 %; node b ran
    at 0 % and jumps to 4 % once it moved: it fails, and is reverted (onNodeFailure Revert,
    budget 1) while the rollout completes."""
    a, b, c = add_nodes(cluster, "baseline", 3)
    address, exporter = prometheus

    def job(tag: str) -> dict[str, Any]:
        spec = prom_job(tag, address, QUERY)
        spec["selector"] = {"matchLabels": {"suite": "baseline"}}
        spec["rollout"] = {
            **spec["rollout"], "strategy": "Immediate", "maxFailedNodes": 1,
            "maxFailedNodesPercent": 50, "onNodeFailure": "Revert",
        }  # fmt: skip
        for k in ("canaryCount", "autoPromote"):
            spec["rollout"].pop(k, None)
        hc = spec["rollout"]["healthCheck"]
        hc |= {"maxErrorRate": 0.01, "successThreshold": 5}
        hc["prometheus"]["baseline"] = {"lookbackSeconds": 10, "maxIncrease": 0.02}
        return spec

    exporter.ratios = {a: 0.0, b: 0.0, c: 0.0}
    time.sleep(2)
    settle_v1(cluster, namespace, "edge", job("1"), [a, b, c])
    # A baseline is in an Execution's status; a pod record's is the operator's, in memory.
    v1 = [e for e in listed_executions(cluster, namespace, "edge", 1) if not is_pod_record(e)]
    assert {e["status"]["baselineMessage"] for e in v1} == (
        {"no baseline (the node ran no earlier version of this Job): maxErrorRate 0.01 applies"}
        if not POD_RECORDS else set()
    )  # fmt: skip
    exporter.ratios = {a: 0.03, b: 0.0, c: 0.0}
    time.sleep(12)  # a's lookback now holds only 3 %
    apply_job(cluster, namespace, "edge", job("2"))
    wait_for(lambda: len(listed_executions(cluster, namespace, "edge", 2)) == 3, 30,
             "version 2 created")  # fmt: skip
    exporter.ratios = {a: 0.03, b: 0.04, c: 0.0}
    wait_for(lambda: phase(cluster, namespace, "edge") == "Completed", 90, "version 2 completed")
    listed = listed_executions(cluster, namespace, "edge", 2)
    v2 = {e["spec"]["nodeName"]: e["status"] for e in listed}
    assert v2[a]["observedState"] == "Running", "3 % is a's normal: within its baseline + 2 %"
    if not any(is_pod_record(e) for e in listed if e["spec"]["nodeName"] == a):
        assert v2[a]["baselineErrorRate"] == pytest.approx(0.03, abs=0.001)
    assert v2[b]["baselineErrorRate"] == 0.0
    assert v2[b]["observedState"] == "Failed", "4 % is 4 points above b's own 0 %"
    assert "baseline 0.0000" in v2[b]["message"]
    assert "error rate 0.04 > 0.02" in v2[b]["message"]
    assert job_status(cluster, namespace, "edge")["rollout"]["revertedNodes"] == [b]
    wait_for(lambda: running_versions(cluster, namespace, "edge") == {a: [2], b: [1], c: [2]},
             30, "b back on version 1")  # fmt: skip


def test_a_firing_alert_holds_the_next_wave_and_with_action_rollback_rolls_it_back(
    cluster: ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    prometheus: tuple[str, Exporter],
) -> None:
    """healthCheck.alerts against Prometheus evaluating a real alerting rule: while FleetOnFire
    fires no wave starts (WaitingForAlerts, an Event naming it), once it resolves the rollout
    completes; with action Rollback the same alert firing mid-rollout rolls it back."""
    address, exporter = prometheus
    nodes = add_nodes(cluster, "alerts", 3)
    exporter.report(["quiet"], 0.0)

    def alert_job(tag: str, action: str) -> dict[str, Any]:
        spec = rolling_job("alerts", tag, {"strategy": "Rolling", "maxParallel": 34})
        spec["rollout"]["healthCheck"]["alerts"] = {
            "address": address,
            "matchers": ['severity="critical"', 'alertname=~"Fleet.*"'],
            "action": action,
            "intervalSeconds": 5,
        }
        return spec

    settle_v1(cluster, namespace, "agent", alert_job("1", "Pause"), nodes)
    exporter.report(["fire"], 1.0)
    wait_for(lambda: _firing(address), 30, "FleetOnFire firing in Prometheus")
    apply_job(cluster, namespace, "agent", alert_job("2", "Pause"))
    wait_for(lambda: phase(cluster, namespace, "agent") == "WaitingForAlerts", 60, "held")
    rollout = job_status(cluster, namespace, "agent")["rollout"]
    assert "1 matching alerts firing (FleetOnFire)" in rollout["message"]
    time.sleep(3)
    assert job_status(cluster, namespace, "agent")["rollout"]["wave"] == rollout["wave"]
    assert "WaitingForAlerts" in job_events(cluster, namespace)
    exporter.report(["quiet"], 0.0)
    wait_for(lambda: phase(cluster, namespace, "agent") == "Completed", 90, "completed")
    assert running_versions(cluster, namespace, "agent") == {n: [2] for n in nodes}

    # Version 3 waits for a promote after its first wave: in flight when the alert fires.
    held = alert_job("3", "Rollback")
    held["rollout"] |= {"maxParallel": 100, "steps": [{"nodes": 1}, {"pause": {}}]}
    apply_job(cluster, namespace, "agent", held)
    wait_for(lambda: phase(cluster, namespace, "agent", 3) == "AwaitingPromotion", 60, "in flight")
    exporter.report(["fire"], 1.0)
    wait_for(lambda: phase(cluster, namespace, "agent", 3) == "RolledBack", 90, "rolled back")
    status = job_status(cluster, namespace, "agent")
    assert status["rollout"]["failure"] == "alerts: 1 matching alerts firing (FleetOnFire)"
    assert status["stableVersion"] == 2
    exporter.report(["quiet"], 0.0)


def _firing(address: str) -> bool:
    answer = query(address, 'ALERTS{alertname="FleetOnFire",alertstate="firing"}')
    return bool(answer.get("data", {}).get("result"))


class TokenProxy:
    """An HTTPS proxy in front of Prometheus, as Thanos, Mimir or a managed Prometheus stand
    behind one: it answers only requests bearing its token and tenant header (401 otherwise)
    and counts both kinds."""

    TOKEN = "s3cret-t0ken"
    TENANT = "team-a"

    def __init__(self, upstream: str, workdir: Path) -> None:
        from cryptography.x509.oid import ExtendedKeyUsageOID

        from nodewave.localcluster.pki import issue_certificate, write_pki

        write_pki(workdir)
        issue_certificate(workdir, "proxy", "proxy", ExtendedKeyUsageOID.SERVER_AUTH,
                          ips=("127.0.0.1",))  # fmt: skip
        self.ca = (workdir / "ca.crt").read_text()
        self.answered = 0
        self.refused: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if (
                    self.headers.get("Authorization") != f"Bearer {proxy.TOKEN}"
                    or self.headers.get("X-Scope-OrgID") != proxy.TENANT
                ):
                    proxy.refused.append(self.headers.get("Authorization") or "")
                    self.send_response(401)
                    self.end_headers()
                    return
                proxy.answered += 1
                with urllib.request.urlopen(upstream + self.path, timeout=5) as reply:
                    body = reply.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(workdir / "proxy.crt", workdir / "proxy.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.address = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_prometheus_behind_a_token_checking_proxy(
    cluster: ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    prometheus: tuple[str, Exporter],
    tmp_path: Path,
) -> None:
    """The token from a Secret, the proxy's private CA from a Secret, the tenant header: the
    rollout is gated by what Prometheus says through the proxy. A Secret whose annotation does
    not list the proxy's address sends nothing, and the window says why."""
    address, exporter = prometheus
    proxy = TokenProxy(address, tmp_path)
    nodes = suite_nodes(cluster, "prom", 3)
    exporter.report(nodes, 0.0)
    cluster.kubectl("create", "secret", "generic", "nodewave-prometheus", "-n", namespace,
                    f"--from-literal=token={proxy.TOKEN}\n", f"--from-literal=ca.crt={proxy.ca}",
                    f"--from-literal=org={TokenProxy.TENANT}")  # fmt: skip
    cluster.kubectl("annotate", "secret", "nodewave-prometheus", "-n", namespace,
                    f"nodewave.io/allowed-addresses=https://elsewhere.example, {proxy.address}")  # fmt: skip

    def job(tag: str) -> dict[str, Any]:
        spec = prom_job(tag, proxy.address, QUERY)
        spec["rollout"]["healthCheck"]["prometheus"] |= {
            "authorization": {"credentials": {"name": "nodewave-prometheus", "key": "token"}},
            "caSecretRef": {"name": "nodewave-prometheus", "key": "ca.crt"},
            "headers": [
                {
                    "name": "X-Scope-OrgID",
                    "valueFrom": {"secretKeyRef": {"name": "nodewave-prometheus", "key": "org"}},
                }
            ],
        }
        return spec

    try:
        settle_v1(cluster, namespace, "api", job("1"), nodes)
        # Version 2: Prometheus, through the proxy, says half the requests fail.
        exporter.report(nodes, 0.5)
        apply_job(cluster, namespace, "api", job("2"))
        wait_for(lambda: phase(cluster, namespace, "api") == "RolledBack", 60,
                 "rolled back on the error rate read through the proxy")  # fmt: skip
        v2 = kubectl_json(cluster, "get", "nwx", "-n", namespace, "-l", "nodewave.io/version=2")
        assert [e["status"]["health"]["errorRate"] for e in v2["items"]] == [0.5]
        assert proxy.answered > 0
        assert proxy.refused == [], "every query bore the token and the tenant"

        # The Secret now lists another address only: version 3 queries nothing, says why.
        exporter.report(nodes, 0.0)
        cluster.kubectl("annotate", "--overwrite", "secret", "nodewave-prometheus", "-n",
                        namespace, "nodewave.io/allowed-addresses=https://elsewhere.example")  # fmt: skip
        time.sleep(11)  # the operator reads a Secret again after 10 s (kube/secrets.py)
        answered = proxy.answered
        apply_job(cluster, namespace, "api", job("3"))
        wait_for(lambda: phase(cluster, namespace, "api", 3) == "RolledBack", 60,
                 "version 3 rolled back: its health cannot be read")  # fmt: skip
        v3 = kubectl_json(cluster, "get", "nwx", "-n", namespace, "-l", "nodewave.io/version=3")
        error = v3["items"][0]["status"]["error"]
        assert error["code"] == "PrometheusQueryFailed"
        assert (
            f"Secret nodewave-prometheus is not sent to {proxy.address}: its annotation "
            f"nodewave.io/allowed-addresses does not list {proxy.address}"
        ) in error["message"]
        assert proxy.answered == answered, "nothing was sent"
        assert proxy.refused == []
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
