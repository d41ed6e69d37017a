"""Least privilege, for real: the operator authenticated as the chart's ServiceAccount drives a
whole rollout, and what its role does not grant is refused by the API server. Templates asking
for host access are refused by the operator unless their namespace opts in."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nodewave.core.policy import ALLOW_PRIVILEGED_LABEL
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.test_chart import CHART, helm
from tests.integration.test_reconcile import (
    add_nodes,
    apply_job,
    condition,
    job_status,
    suite_nodes,
    template,
    wait_condition,
)
from tests.integration.test_rollouts import (
    job_events,
    phase,
    rolling_job,
    running_versions,
    settle_v1,
)

ROLLING = {"strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 0}


def test_the_operator_rolls_out_under_the_charts_service_account(
    cluster: ControlPlane, operator: OperatorProcess, tmp_path: Path
) -> None:
    home, tenant, release = "nw-rbac", "tenant-rbac", "nwrbac"
    for ns in (home, tenant):
        cluster.kubectl("create", "namespace", ns)
    done = helm(
        cluster,
        "install",
        release,
        str(CHART),
        "--namespace",
        home,
        "--set",
        f"watchNamespaces={{{tenant}}}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    kubeconfig = cluster.write_service_account_kubeconfig(home, release, tmp_path / "sa.conf")
    whoami = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json")
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{home}:{release}"
    assert "system:masters" not in user["groups"]

    def as_operator(*args: str) -> str:
        run = cluster.kubectl("--kubeconfig", str(kubeconfig), *args, check=False)
        assert run.returncode != 0, f"{args} was allowed"
        return run.stderr

    # The session operator (admin credentials, every namespace) steps aside for this one.
    operator.stop()
    scoped = OperatorProcess(
        cluster,
        tmp_path / "operator.log",
        "--namespace",
        tenant,
        "--service-account",
        f"{home}/{release}",
        kubeconfig=kubeconfig,
    )
    try:
        scoped.start()
        scoped.wait_started()
        nodes = add_nodes(cluster, "rbac", 4)
        cluster.kubectl("create", "serviceaccount", "agent", "-n", tenant)
        v1 = rolling_job("rbac", "1", ROLLING)
        v1["template"]["spec"]["serviceAccountName"] = "agent"
        settle_v1(cluster, tenant, "agent", v1, nodes)
        # Execution pods run as the Job's account, not the operator's.
        pods = kubectl_json(cluster, "get", "pods", "-n", tenant)["items"]
        assert {p["spec"]["serviceAccountName"] for p in pods} == {"agent"}
        apply_job(cluster, tenant, "agent", rolling_job("rbac", "2", ROLLING))
        wait_for(
            lambda: phase(cluster, tenant, "agent") == "Completed",
            90,
            "version 2 rolled out by the ServiceAccount's operator",
        )
        assert running_versions(cluster, tenant, "agent") == {n: [2] for n in nodes}
        reasons = job_events(cluster, tenant)
        assert "RolloutStarted" in reasons
        assert "RolloutComplete" in reasons
        log = (tmp_path / "operator.log").read_text()
        assert not re.search(r"Forbidden|\b403\b", log), log[-3000:]

        # Outside its role, the same credentials are refused by the API server.
        assert "forbidden" in as_operator("get", "secrets", "-n", tenant)
        assert "forbidden" in as_operator("get", "nwj", "-n", "default")
        assert "forbidden" in as_operator("delete", "node", nodes[0])
        assert "forbidden" in as_operator(
            "create", "configmap", "stolen", "-n", "default", "--from-literal=a=b"
        )
        # A Job outside the watched namespaces is not the operator's business.
        outside = "rbac-outside"
        cluster.kubectl("create", "namespace", outside)
        apply_job(cluster, outside, "agent", rolling_job("rbac", "1", ROLLING))
        scoped_log_size = len(log)
        wait_for(lambda: scoped.alive(), 5, "the operator still running")
        assert kubectl_json(cluster, "get", "nwx", "-n", outside)["items"] == []
        assert "rbac-outside" not in (tmp_path / "operator.log").read_text()[scoped_log_size:]
    finally:
        scoped.stop()
        operator.start()
        operator.wait_started()
        helm(cluster, "uninstall", release, "--namespace", home)


def test_host_access_needs_the_namespace_to_opt_in(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, "hostaccess", 2)
    immediate = {"strategy": "Immediate"}
    apply_job(
        cluster,
        namespace,
        "netagent",
        {
            "type": "Pipeline",
            "selector": {"matchLabels": {"suite": "hostaccess"}},
            "template": template(),
            "rollout": immediate,
        },
    )
    wait_for(
        lambda: running_versions(cluster, namespace, "netagent") == {n: [1] for n in nodes},
        60,
        "version 1 running",
    )
    host = template(hostNetwork=True)
    host["spec"]["volumes"] = [{"name": "logs", "hostPath": {"path": "/var/log"}}]
    spec = {
        "type": "Pipeline",
        "selector": {"matchLabels": {"suite": "hostaccess"}},
        "template": host,
        "rollout": immediate,
    }
    apply_job(cluster, namespace, "netagent", spec)
    status = wait_condition(
        cluster,
        namespace,
        "netagent",
        "Ready",
        ("False", "HostAccessNotAllowed"),
        30,
        "the host-access version refused",
    )
    assert condition(status, "Stalled") == ("True", "HostAccessNotAllowed")
    message = next(c for c in status["conditions"] if c["type"] == "Ready")["message"]
    assert "spec.hostNetwork" in message
    assert "spec.volumes[0].hostPath" in message
    assert f"{ALLOW_PRIVILEGED_LABEL}=true" in message
    wait_for(
        lambda: "HostAccessNotAllowed" in job_events(cluster, namespace), 15, "a Warning Event"
    )
    # Nothing that ran was touched, and the stable version is still kept in place: a node
    # that joins now gets version 1.
    assert running_versions(cluster, namespace, "netagent") == {n: [1] for n in nodes}
    nodes += add_nodes(cluster, "hostaccess-late", 1, suite="hostaccess")
    wait_for(
        lambda: running_versions(cluster, namespace, "netagent") == {n: [1] for n in nodes},
        30,
        "the new node running version 1",
    )
    assert not [
        p
        for p in kubectl_json(cluster, "get", "pods", "-n", namespace)["items"]
        if p["spec"].get("hostNetwork")
    ]
    assert job_events(cluster, namespace).count("HostAccessNotAllowed") == 1

    cluster.kubectl("label", "namespace", namespace, f"{ALLOW_PRIVILEGED_LABEL}=true")
    wait_for(
        lambda: running_versions(cluster, namespace, "netagent") == {n: [2] for n in nodes},
        60,
        "version 2 running once the namespace opted in",
    )
    pods = kubectl_json(cluster, "get", "pods", "-n", namespace)["items"]
    assert all(p["spec"]["hostNetwork"] for p in pods)
    assert {p["spec"]["serviceAccountName"] for p in pods} == {"default"}
    wait_for(
        lambda: (
            condition(job_status(cluster, namespace, "netagent"), "Ready")
            == ("True", "AllNodesReady")
        ),
        30,
        "Ready again",
    )
