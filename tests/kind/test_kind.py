"""The README's real-cluster path on a kind cluster as users have it (issue 31): kubeadm-made,
three nodes (one control plane, two workers), kube-proxy, CoreDNS and a CNI routing between the
nodes, on podman from a node image built here (`make kind`, hack/kind/). On it, as the guide
says: the operator's image built from the Dockerfile and loaded with `kind load
image-archive`, the chart installed with `helm install` (two replicas, leader election, its
RBAC and Pod Security), the examples applied with `kubectl apply -f examples/` and each driven
to what it must reach (the demo's own judge, localcluster/expectations.py), agent-gated's
webhooks answered by its in-cluster receiver through its Service's DNS name, `kubectl nodewave
status --watch` as the CI gate, the leader's pod deleted mid-rollout and the standby finishing
it; then `make kind ARGS=down` leaves the machine as it was.

`make test` runs this package after the rest, alone: a three-node cluster beside the other
suites would load the two cores past what their timings allow. Nothing is skipped: a missing
prerequisite is installed by the scripts or fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodewave.localcluster.controlplane import REPO_ROOT
from nodewave.localcluster.expectations import evaluate_expected, plan_expected
from nodewave.localcluster.images import build_node_images
from tests.conftest import wait_for

KIND = REPO_ROOT / "hack" / "kind" / "cluster.sh"
HOME = "nodewave-system"
NODES = ["nodewave-control-plane", "nodewave-worker", "nodewave-worker2"]


def host_network() -> tuple[str, str]:
    """What the cluster must leave as it was: forwarding, and the nat table's rules."""
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    nat = subprocess.run(
        ["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True
    )
    return forward, nat.stdout


def run(*args: str, env: dict[str, str], timeout: float = 600, check: bool = True) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=timeout, check=False
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
    run("bash", str(KIND), "load", image, *stand_ins, env=env)

    # helm install, as the guide says: two replicas, one leads.
    run("helm", "install", "nodewave", str(REPO_ROOT / "charts" / "nodewave"), "-n", HOME,
        "--create-namespace", "--wait", "--timeout", "5m", "--set",
        "image.repository=localhost/nodewave,image.tag=dev,nodeMaintenance.enabled=true", env=env)  # fmt: skip
    operators = get(env, "pods", "-n", HOME, "-l", "app.kubernetes.io/instance=nodewave")["items"]
    assert len(operators) == 2
    assert len({p["spec"]["nodeName"] for p in operators}) == 2, "one replica per worker"
    wait_for(lambda: leader(env), 60, "a leader")

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
