"""The operator as users run it: its image built from the Dockerfile, installed by Helm into a
namespace enforcing Pod Security `restricted`, running on a real node (read-only root
filesystem, uid 65532, no capabilities), authenticating with its ServiceAccount token from
inside the pod, serving /metrics, and driving a rollout that survives its pod being deleted."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.images import build_workload_template
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.e2e.conftest import REAL_NODES, executions_of
from tests.integration.helm import CHART, helm
from tests.integration.jobs import apply_job, job_status

HOME, TENANT, RELEASE = "nodewave-system", "tenant-image", "nodewave"
IMAGE_REPOSITORY, IMAGE_TAG = "localhost/nodewave", "dev"


@pytest.fixture(scope="module")
def operator_image(real_cluster: ControlPlane) -> str:
    """Build the image with podman (hack/build-image.sh) and import it into every real node."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "build-image.sh"), f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    archive = done.stdout.strip().splitlines()[-1]
    real_cluster.import_image(Path(archive))
    return archive


@pytest.fixture
def installed(
    real_cluster: ControlPlane, real_operator: OperatorProcess, operator_image: str
) -> Iterator[None]:
    """The chart installed with the local image, on real nodes; the host-run operator steps
    aside meanwhile, so only the pod acts."""
    real_operator.stop()
    for ns in (HOME, TENANT):
        real_cluster.kubectl("create", "namespace", ns)
    real_cluster.kubectl(
        "label", "namespace", HOME, "pod-security.kubernetes.io/enforce=restricted"
    )
    try:
        done = helm(
            real_cluster,
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            HOME,
            "--set",
            f"image.repository={IMAGE_REPOSITORY}",
            "--set",
            f"image.tag={IMAGE_TAG}",
            "--set",
            "image.pullPolicy=Never",
            "--set",
            "nodeSelector.type=real",
            "--set",
            f"watchNamespaces={{{TENANT}}}",
            "--set",
            "nodeLostGraceSeconds=30",
            "--wait",
            "--timeout",
            "120s",
        )
        assert done.returncode == 0, done.stdout + done.stderr + _describe(real_cluster)
        yield
    finally:
        helm(real_cluster, "uninstall", RELEASE, "--namespace", HOME, "--wait")
        for ns in (HOME, TENANT):
            real_cluster.kubectl("delete", "namespace", ns, "--wait=false")
        real_operator.start()
        real_operator.wait_started()


def _describe(cp: ControlPlane) -> str:
    return cp.kubectl("describe", "pods", "-n", HOME, check=False).stdout[-4000:]


def _operator_pods(cp: ControlPlane) -> list[dict[str, Any]]:
    items = kubectl_json(
        cp, "get", "pods", "-n", HOME, "-l", f"app.kubernetes.io/instance={RELEASE}"
    )["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _leader(cp: ControlPlane) -> str:
    lease = kubectl_json(cp, "get", "lease", "-n", HOME, "nodewave-operator")
    return str(lease["spec"].get("holderIdentity") or "")


def _exec(cp: ControlPlane, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
    return cp.kubectl("exec", "-n", HOME, pod, "--", *command, check=False)


def test_the_image_runs_restricted_on_a_real_node_and_survives_its_pod(
    real_cluster: ControlPlane, installed: None
) -> None:
    # Two replicas (the chart's default), one per real node (pod anti-affinity); one leads.
    pods = _operator_pods(real_cluster)
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(REAL_NODES)
    assert all(c["ready"] for p in pods for c in p["status"]["containerStatuses"])
    wait_for(lambda: _leader(real_cluster) in {p["metadata"]["name"] for p in pods}, 30, "a leader")
    name = _leader(real_cluster)
    # What the restricted profile promises, seen from inside the container.
    assert _exec(real_cluster, name, "id", "-u").stdout.strip() == "65532"
    write = _exec(real_cluster, name, "touch", "/venv/x")
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    caps = _exec(real_cluster, name, "grep", "CapEff", "/proc/self/status").stdout
    assert caps.split()[-1] == "0000000000000000"
    # Its credentials: the ServiceAccount token mounted in the pod, not an admin certificate.
    log = real_cluster.kubectl("logs", "-n", HOME, name).stdout
    assert "nodewave operator started" in log
    metrics = real_cluster.kubectl(
        "get",
        "--raw",
        f"/api/v1/namespaces/{HOME}/services/{RELEASE}-metrics:metrics/proxy/metrics",
    ).stdout
    assert "nodewave_" in metrics

    spec = {
        "type": "Pipeline",
        "selector": {"matchLabels": {"e2e": "real"}},
        "template": build_workload_template("run"),
        "rollout": {
            "strategy": "Rolling",
            "maxParallel": 50,
            "maxFailedNodes": 0,
            "healthCheck": {
                "deadlineSeconds": 60,
                "intervalSeconds": 2,
                "successThreshold": 3,
                "failureThreshold": 3,
                "maxErrorRate": 0.1,
            },
        },
    }
    apply_job(real_cluster, TENANT, "agent", spec)
    wait_for(
        lambda: job_status(real_cluster, TENANT, "agent").get("stableVersion") == 1,
        90,
        "version 1 stable, placed by the operator's pod",
    )
    spec["template"] = build_workload_template("ready-after", "1")
    apply_job(real_cluster, TENANT, "agent", spec)
    wait_for(
        lambda: (
            (job_status(real_cluster, TENANT, "agent").get("rollout") or {}).get("version") == 2
        ),
        30,
        "the rollout of version 2 started",
    )
    # Mid-rollout, the leader's pod goes: it releases the Lease on SIGTERM and the standby,
    # its caches warm, picks the rollout up.
    real_cluster.kubectl("delete", "pod", "-n", HOME, name, "--wait=false")
    started = time.monotonic()
    wait_for(
        lambda: (
            (job_status(real_cluster, TENANT, "agent").get("rollout") or {}).get("phase")
            == "Completed"
        ),
        120,
        "version 2 rolled out by the replacement pod",
    )
    resumed_in = time.monotonic() - started
    successor = _leader(real_cluster)
    assert successor not in ("", name)
    leaders = [
        e["message"]
        for e in kubectl_json(real_cluster, "get", "events", "-n", HOME)["items"]
        if e["reason"] == "LeaderElection"
    ]
    assert f"{successor} became leader" in leaders
    nodes = {
        e["spec"]["nodeName"]
        for e in executions_of(real_cluster, TENANT, "agent", version=2)
        if e.get("status", {}).get("observedState") == "Running"
    }
    assert nodes == set(REAL_NODES)
    print(f"rollout completed {resumed_in:.1f}s after the leader's pod was deleted")
