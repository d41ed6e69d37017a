"""Least privilege, for real: the operator authenticated as the chart's ServiceAccount drives a
whole rollout, and what its role does not grant is refused by the API server. Templates asking
for host access are refused by the operator unless their namespace opts in."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from nodewave.core.job.policy import ALLOW_PRIVILEGED_LABEL, POD_SECURITY_LABEL
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import OPERATOR_MODE, kubectl_json, wait_for
from tests.integration.helm import CHART, helm
from tests.integration.jobs import (
    add_nodes,
    apply_job,
    condition,
    job_events,
    job_status,
    phase,
    rolling_job,
    running_versions,
    settle_v1,
    suite_nodes,
    template,
    wait_condition,
)

ROLLING = {"strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 0}


@pytest.mark.parametrize("scope", ["namespaced", "cluster-wide"])
def test_the_operator_rolls_out_under_the_charts_service_account(
    cluster: ControlPlane, operator: OperatorProcess, tmp_path: Path, scope: str
) -> None:
    namespaced = scope == "namespaced"
    home, tenant, release = f"nw-{scope}", f"tenant-{scope}", f"nw-{scope}"
    for ns in (home, tenant):
        cluster.kubectl("create", "namespace", ns)
    watch = ["--set", f"watchNamespaces={{{tenant}}}"] if namespaced else []
    done = helm(cluster, "install", release, str(CHART), "--namespace", home, *watch)
    assert done.returncode == 0, done.stdout + done.stderr
    kubeconfig = cluster.write_service_account_kubeconfig(home, release, tmp_path / "sa.conf")
    whoami = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json")
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{home}:{release}"
    assert "system:masters" not in user["groups"]

    def refused(*args: str) -> None:
        run = cluster.kubectl("--kubeconfig", str(kubeconfig), *args, check=False)
        assert run.returncode != 0, f"{args} was allowed"
        assert "forbidden" in run.stderr, run.stderr

    # The session operator (admin credentials) steps aside for one run as the chart would.
    operator.stop()
    chart_operator = OperatorProcess(
        cluster,
        tmp_path / "operator.log",
        *(["--namespace", tenant] if namespaced else []),
        "--service-account",
        f"{home}/{release}",
        "--leader-elect-namespace",
        home,  # the chart grants the Lease in its own namespace only
        *OPERATOR_MODE,
        kubeconfig=kubeconfig,
    )
    try:
        chart_operator.start()
        chart_operator.wait_started()
        nodes = suite_nodes(cluster, "rbac", 4)
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
        # No RBAC denial (other 403s, e.g. a namespace being deleted, are not about the role).
        assert not re.search(r"cannot \w+ resource", log), log[-3000:]

        # Outside its role, the same credentials are refused by the API server.
        refused("get", "secrets", "-n", tenant)
        refused("delete", "node", nodes[0])
        refused("delete", "namespace", "rbac-no-such-namespace")
        refused("patch", "nwj", "agent", "-n", tenant, "--type=merge", "-p", '{"spec":{}}')
        if namespaced:
            refused("get", "nwj", "-n", "default")
            refused("create", "configmap", "stolen", "-n", "default", "--from-literal=a=b")
            # A Job outside the watched namespaces is not this operator's business.
            outside = "rbac-outside"
            cluster.kubectl("create", "namespace", outside)
            apply_job(cluster, outside, "agent", rolling_job("rbac", "1", ROLLING))
            time.sleep(3)  # a watching operator places a Job within a second or two
            assert chart_operator.alive()
            assert kubectl_json(cluster, "get", "nwx", "-n", outside)["items"] == []
    finally:
        chart_operator.stop()
        operator.start()
        operator.wait_started()
        helm(cluster, "uninstall", release, "--namespace", home)
        for ns in (tenant, "rbac-outside"):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")


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
        ("False", "PodSecurityViolation"),
        30,
        "the host-access version refused",
    )
    assert condition(status, "Stalled") == ("True", "PodSecurityViolation")
    message = next(c for c in status["conditions"] if c["type"] == "Ready")["message"]
    assert "Host Namespaces (spec.hostNetwork=true)" in message
    assert "HostPath Volumes (spec.volumes[0].hostPath)" in message
    assert f"{POD_SECURITY_LABEL}=privileged" in message
    wait_for(
        lambda: "PodSecurityViolation" in job_events(cluster, namespace), 15, "a Warning Event"
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
    assert job_events(cluster, namespace).count("PodSecurityViolation") == 1

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
