"""The README's real-cluster path on a kind cluster as users have it (issue 31): kubeadm-made,
three nodes (one control plane, two workers), kube-proxy, CoreDNS and a CNI routing between the
nodes, on podman from a node image built here (`make kind`, hack/kind/). On it, as the guide
says: the operator's image built from the Dockerfile and loaded with `kind load
image-archive`, the chart installed with `helm install` (two replicas, leader election, its
RBAC and Pod Security), the examples applied with `kubectl apply -f examples/` and each driven
to what it must reach (the demo's own judge, localcluster/expectations.py), agent-gated's
webhooks answered by its in-cluster receiver through its Service's DNS name, `kubectl nodewave
status --watch` as the CI gate, the leader's pod deleted mid-rollout and the standby finishing
it; a Prometheus in the cluster scraping the operator as the chart's ServiceMonitor says
(through the metrics Service's endpoints) and evaluating the chart's PrometheusRule, whose
NodewaveRolledBack alert fires when a bad version rolls back (and the CI gate says so with its
exit code); then `make kind ARGS=down` leaves the machine as it was.

`make test` starts this package first, on one of its four workers, beside the other suites
(tests/conftest.py, scope_rank). Nothing is skipped: a missing prerequisite is installed by the
scripts or fails the test.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from nodewave.localcluster.controlplane import REPO_ROOT
from nodewave.localcluster.expectations import evaluate_expected, plan_expected
from nodewave.localcluster.images import ImageSpec, build_node_images, write_docker_archive
from tests.conftest import wait_for

KIND = REPO_ROOT / "hack" / "kind" / "cluster.sh"
HOME = "nodewave-system"
NODES = ["nodewave-control-plane", "nodewave-worker", "nodewave-worker2"]
MONITORING = "monitoring"
PROMETHEUS = "localhost/prometheus:kind"
"""Built here (build.sh kind): there is no registry, and Debian's has no Kubernetes discovery."""


def host_network() -> tuple[str, str]:
    """What the cluster must leave as it was: forwarding, and the nat table's rules."""
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    nat = subprocess.run(
        ["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True
    )
    return forward, nat.stdout


def run(
    *args: str,
    env: dict[str, str],
    timeout: float = 600,
    check: bool = True,
    input: str | None = None,
) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=timeout, check=False, input=input
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


@pytest.fixture(scope="module")
def before() -> tuple[str, str]:
    return host_network()


@pytest.fixture(scope="module")
def kind(before: tuple[str, str]) -> Iterator[dict[str, str]]:
    """The cluster up (`make kind`), and down afterwards whatever happened."""
    env = dict(os.environ)
    try:
        out = run("bash", str(KIND), "up", env=env, timeout=1800)
        env["KUBECONFIG"] = out.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
        yield env
    finally:
        run("bash", str(KIND), "down", env=dict(os.environ), timeout=300)


def kubectl(env: dict[str, str], *args: str, check: bool = True) -> str:
    return run("kubectl", *args, env=env, check=check)


def get(env: dict[str, str], *args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(env, "get", *args, "-o", "json")))


def podman(*args: str) -> str:
    """podman with the project's own settings (hack/lib.sh ensure_podman), as the scripts run it."""
    script = f'source "{REPO_ROOT}/hack/lib.sh" && ensure_podman && podman "$@"'
    return run("bash", "-c", script, "podman", *args, env=dict(os.environ))


def test_the_readme_path_on_a_three_node_kind_cluster(kind: dict[str, str]) -> None:
    env = kind
    nodes = get(env, "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODES
    assert all(
        c["status"] == "True"
        for n in nodes
        for c in n["status"]["conditions"]
        if c["type"] == "Ready"
    )
    system = get(env, "pods", "-A")["items"]
    names = [p["metadata"]["name"] for p in system]
    assert sum(n.startswith("kube-proxy-") for n in names) == 3, names
    assert sum(n.startswith("coredns-") for n in names) == 2, names
    wait_for(lambda: all(p["status"]["phase"] == "Running" for p in get(env, "pods", "-A")["items"]),
             120, "every system pod Running (local-path-provisioner starts last)")  # fmt: skip

    # The operator's image, built from the Dockerfile, and the examples' public images
    # (stand-ins here: no registry), loaded into every node as users load theirs.
    image = (
        run("bash", str(REPO_ROOT / "hack" / "build-image.sh"), env=env, timeout=1200)
        .strip()
        .splitlines()[-1]
    )
    stand_ins = [
        str(p) for p in build_node_images() if p.name.startswith(("busybox", "pause-3.10"))
    ]
    monitor = build_prometheus_archive(Path(image).parent)
    run("bash", str(KIND), "load", image, *stand_ins, str(monitor), env=env)

    # helm install, as the guide says: two replicas, one leads.
    run("helm", "install", "nodewave", str(REPO_ROOT / "charts" / "nodewave"), "-n", HOME,
        "--create-namespace", "--wait", "--timeout", "5m", "--set",
        "image.repository=localhost/nodewave,image.tag=dev,nodeMaintenance.enabled=true", env=env)  # fmt: skip
    operators = get(env, "pods", "-n", HOME, "-l", "app.kubernetes.io/instance=nodewave")["items"]
    assert len(operators) == 2
    assert len({p["spec"]["nodeName"] for p in operators}) == 2, "one replica per worker"
    wait_for(lambda: leader(env), 60, "a leader")
    # A Prometheus of the cluster's own, set up from the chart's monitoring objects.
    manifests = "---\n".join(yaml.safe_dump(m) for m in build_monitoring(env))
    run("kubectl", "apply", "-f", "-", env=env, input=manifests)

    # The examples, as they are.
    kubectl(env, "label", "namespace", "default", "nodewave.io/node-maintenance=allowed")
    kubectl(env, "apply", "-f", str(REPO_ROOT / "examples"))
    specs = {d["metadata"]["name"]: d["spec"] for p in sorted((REPO_ROOT / "examples").glob("*.yaml"))
             for d in yaml.safe_load_all(p.read_text()) if d and d["kind"] == "Job"}  # fmt: skip

    def unmet() -> dict[str, str]:
        now = datetime.now(UTC)
        jobs = {j["metadata"]["name"]: j for j in get(env, "nwj")["items"]}
        shows = {n: evaluate_expected(plan_expected(n, s, now), jobs[n]) for n, s in specs.items()}
        return {n: s for n, s in shows.items() if s is not None}

    deadline = time.monotonic() + 420
    while (left := unmet()) and time.monotonic() < deadline:
        time.sleep(5)
    assert not left, f"{left}\n{kubectl(env, 'get', 'nwj', '-o', 'wide')}\n" + "\n".join(
        f"{n}: {(get(env, 'nwj', n)['status'].get('rollout') or {}).get('message')}" for n in left
    )
    # The control plane is tainted: no example runs there (the DaemonSet's rule).
    assert get(env, "nwj", "log-pipeline")["status"]["targetNodes"] == 2
    # agent-gated's gates were answered by its receiver, reached through the Service's name.
    hooks = {w["name"]: w for w in get(env, "nwj", "node-agent")["status"]["rollout"]["webhooks"]}
    assert hooks["change-board"]["phase"] == "Passed"
    # The answer's body is the receiver's CGI script's, naming the webhook from the URL's path.
    assert (
        hooks["change-board"]["message"]
        == 'HTTP 200: {"webhook": "change-board", "answer": "pass"}'
    )
    assert hooks["slo-burn"]["message"] == "HTTP 409: not burning"

    # A new version of log-pipeline, the CI gate on it, and the leader deleted meanwhile.
    kubectl(env, "patch", "nwj", "log-pipeline", "--type=json", "-p", json.dumps([{
        "op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "1.5.0"}]))  # fmt: skip
    gate = subprocess.Popen([sys.executable, "-m", "nodewave.cli.plugin", "status", "log-pipeline",
                             "--watch", "--timeout", "5m"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(lambda: (get(env, "nwj", "log-pipeline")["status"].get("rollout") or {}).get("version") == 2,
             60, "the rollout of version 2 started")  # fmt: skip
    old = leader(env)
    kubectl(env, "delete", "pod", "-n", HOME, old, "--wait=false")
    out, err = gate.communicate(timeout=360)
    assert gate.returncode == 0, (
        f"the CI gate said {gate.returncode}:\n{out[-2000:]}\n{err[-2000:]}"
    )
    assert leader(env) not in ("", old), "the standby took over"
    status = get(env, "nwj", "log-pipeline")["status"]
    assert (status["stableVersion"], status["rollout"]["phase"]) == (2, "Completed")
    a_bad_version_rolls_back_and_the_alert_fires(env)


def a_bad_version_rolls_back_and_the_alert_fires(env: dict[str, str]) -> None:
    """Both replicas scraped through the Service's endpoints (one says it leads), the counter
    seen at 0 first (an increase needs two samples), then a version never ready: the gate
    exits 1 and the chart's NodewaveRolledBack fires for this Job."""
    target = 'job="serviceMonitor/nodewave-system/nodewave/0"'

    def scraped() -> bool:
        up = query(env, f"up{{{target}}}")
        seen = query(env, 'nodewave_rollbacks_total{namespace="default",job_name="log-pipeline"}')
        leaders = query(env, f"nodewave_leader{{{target}}}")
        return (
            [s["value"][1] for s in up] == ["1", "1"]
            and sorted(s["value"][1] for s in leaders) == ["0", "1"]
            and [s["value"][1] for s in seen] == ["0"]
        )

    wait_for(scraped, 180, "both replicas scraped (one leads), the rollback counter at 0")
    kubectl(env, "patch", "nwj", "log-pipeline", "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "1.6.0"},
        {"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe",
         "value": {"exec": {"command": ["false"]}, "periodSeconds": 1}},
        {"op": "replace", "path": "/spec/rollout/healthCheck", "value": {
            "intervalSeconds": 2, "successThreshold": 2, "failureThreshold": 4, "deadlineSeconds": 60}},
    ]))  # fmt: skip
    gate = subprocess.run([sys.executable, "-m", "nodewave.cli.plugin", "status", "log-pipeline",
                           "--watch", "--timeout", "5m"], env=env, capture_output=True, text=True,
                          timeout=360, check=False)  # fmt: skip
    status = get(env, "nwj", "log-pipeline")["status"]
    assert (gate.returncode, status["rollout"]["phase"], status["stableVersion"]) == (
        1,
        "RolledBack",
        2,
    ), f"{gate.stdout[-2000:]}\n{gate.stderr[-2000:]}"

    def firing() -> list[dict[str, str]]:
        alerts = prometheus(env, "/api/v1/alerts")["alerts"]
        return [a["labels"] for a in alerts if a["state"] == "firing"]

    rolled_back = {"alertname": "NodewaveRolledBack", "namespace": "default",
                   "job_name": "log-pipeline", "severity": "warning"}  # fmt: skip
    wait_for(lambda: any(rolled_back.items() <= labels.items() for labels in firing()),
             120, "NodewaveRolledBack firing for default/log-pipeline")  # fmt: skip


def build_prometheus_archive(out: Path) -> Path:
    """The Prometheus built for kind (build.sh kind) as an image of its one static binary."""
    binary = Path(os.environ["NODEWAVE_BIN_DIR"]) / "for-kind" / "prometheus"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(binary, arcname="bin/prometheus")
    archive = out / "prometheus.tar"
    write_docker_archive(archive, buf.getvalue(), ImageSpec(PROMETHEUS, ("/bin/prometheus",), ()))
    return archive


def build_monitoring(env: dict[str, str]) -> list[dict[str, Any]]:
    """A Prometheus in its namespace that reads the cluster as the chart's ServiceMonitor says
    and evaluates the chart's PrometheusRule (what prometheus-operator would make of them: its
    CRDs are not installed here), every 5 s so the test does not wait."""
    server = json.loads(kubectl(env, "version", "-o", "json"))["serverVersion"]["gitVersion"]
    rendered = run("helm", "template", "nodewave", str(REPO_ROOT / "charts" / "nodewave"), "-n",
                   HOME, "--kube-version", server, "--show-only", "templates/monitoring.yaml", "--set",
                   "metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.interval=5s,"
                   "prometheusRule.enabled=true", env=env)  # fmt: skip
    objects = {d["kind"]: d for d in yaml.safe_load_all(rendered) if d}
    config = {
        "global": {"evaluation_interval": "5s"},
        "rule_files": ["/etc/prometheus/rules.yaml"],
        "scrape_configs": [scrape_config(objects["ServiceMonitor"])],
    }
    files = {"prometheus.yml": yaml.safe_dump(config),
             "rules.yaml": yaml.safe_dump(objects["PrometheusRule"]["spec"])}  # fmt: skip
    meta = {"name": "prometheus", "namespace": MONITORING}
    labels = {"app": "prometheus"}
    container = {
        "name": "prometheus", "image": PROMETHEUS,
        "args": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/data"],
        "ports": [{"name": "web", "containerPort": 9090}],
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}, "periodSeconds": 2},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus"},
                         {"name": "data", "mountPath": "/data"}],
    }  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MONITORING}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "nodewave-test-prometheus"},
         "rules": [{"apiGroups": [""], "resources": ["services", "pods"],
                    "verbs": ["get", "list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "nodewave-test-prometheus"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "nodewave-test-prometheus"},
         "subjects": [{"kind": "ServiceAccount", **meta}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": files},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {"serviceAccountName": "prometheus", "containers": [container],
                      "securityContext": {"runAsUser": 65534, "runAsNonRoot": True},
                      "volumes": [{"name": "config", "configMap": {"name": "prometheus"}},
                                  {"name": "data", "emptyDir": {}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"selector": labels, "ports": [{"name": "web", "port": 9090}]}},
    ]  # fmt: skip


def scrape_config(monitor: dict[str, Any]) -> dict[str, Any]:
    """A ServiceMonitor's first endpoint as prometheus-operator writes it (with
    serviceDiscoveryRole EndpointSlice): the endpoints of the Services its selector matches, in
    its namespaces, the port by name."""
    spec, meta = monitor["spec"], monitor["metadata"]
    endpoint = spec["endpoints"][0]
    names = (spec.get("namespaceSelector") or {}).get("matchNames") or [meta["namespace"]]
    keep = [
        {"action": "keep", "regex": value,
         "source_labels": ["__meta_kubernetes_service_label_" + re.sub(r"\W", "_", key)]}
        for key, value in spec["selector"]["matchLabels"].items()
    ]  # fmt: skip
    keep.append({"action": "keep", "regex": endpoint["port"],
                 "source_labels": ["__meta_kubernetes_endpointslice_port_name"]})  # fmt: skip
    return {
        "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/0",
        "honor_labels": endpoint.get("honorLabels", False),
        "scrape_interval": endpoint["interval"],
        "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": names}}],
        "relabel_configs": keep,
    }


def prometheus(env: dict[str, str], path: str) -> dict[str, Any]:
    """Prometheus's HTTP API through the API server's Service proxy."""
    proxy = f"/api/v1/namespaces/{MONITORING}/services/prometheus:9090/proxy"
    answer = json.loads(kubectl(env, "get", "--raw", proxy + path, check=False) or "{}")
    return dict(answer.get("data") or {})


def query(env: dict[str, str], promql: str) -> list[dict[str, Any]]:
    return list(prometheus(env, "/api/v1/query?query=" + quote(promql)).get("result") or [])


def leader(env: dict[str, str]) -> str:
    lease = json.loads(
        kubectl(env, "get", "lease", "-n", HOME, "nodewave-operator", "-o", "json", check=False)
        or "{}"
    )
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def test_down_leaves_the_machine_as_it_was(kind: dict[str, str], before: tuple[str, str]) -> None:
    run("bash", str(KIND), "down", env=dict(os.environ), timeout=300)
    nodes = podman(
        "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=nodewave", "--format", "{{.Names}}"
    )
    assert nodes.split() == []
    assert "nodewave-kind" not in podman("network", "ls", "--format", "{{.Name}}")
    assert (
        subprocess.run(
            ["ip", "link", "show", "nwkind0"], capture_output=True, check=False
        ).returncode
        != 0
    )
    assert host_network() == before
