"""spec.nodeMaintenance on the real control plane: an Update that cordons and drains each node
through the Eviction API, a PodDisruptionBudget that refuses an eviction until the drain times
out, the node left cordoned and quarantined, and `kubectl nodewave uncordon` giving it back."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import yaml

from nodewave.core.execution.maintenance import build_quarantine_value
from nodewave.core.rollout.waves import order_nodes
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.jobs import (
    add_nodes,
    allow_maintenance,
    apply_job,
    condition,
    executions,
    job_events,
    job_status,
    template,
)


def replica_set(name: str, node: str) -> dict[str, Any]:
    """One pod pinned (by node selector, through the scheduler) to `node`."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"kubernetes.io/hostname": node},
                    "containers": [{"name": "main", "image": "registry.example/web:1"}],
                },
            },
        },
    }


def pods_on(cluster: ControlPlane, ns: str, app: str) -> list[str]:
    items = kubectl_json(cluster, "get", "pods", "-n", ns, "-l", f"app={app}")["items"]
    return [
        p["spec"].get("nodeName", "") for p in items if not p["metadata"].get("deletionTimestamp")
    ]


def node_state(cluster: ControlPlane, node: str) -> tuple[bool, str | None]:
    body = kubectl_json(cluster, "get", "node", node)
    return bool(body["spec"].get("unschedulable")), body["metadata"].get("labels", {}).get(
        "nodewave.io/quarantined"
    )


def guard(cluster: ControlPlane, ns: str, app: str) -> None:
    """A PodDisruptionBudget keeping the app's one pod, applied and counting it."""
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": app},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}},
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(pdb))
    wait_for(
        lambda: kubectl_json(cluster, "get", "pdb", "-n", ns, app)
        .get("status", {}).get("currentHealthy") == 1,
        60,
        "the PodDisruptionBudget counts its pod",
    )  # fmt: skip


def test_cordon_drain_update_uncordon_and_a_pdb_that_quarantines_a_node(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "maint", 4)
    allow_maintenance(cluster, namespace)
    # Waves of 2 (maxParallel 50): the PDB guards a node of the first wave, the web pod sits on
    # its wave-mate, so wave 1 has one failure (within the budget) and one drained node.
    guarded, free, *_ = order_nodes("os-update", nodes)
    for body in (replica_set("web", free), replica_set("db", guarded)):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body))
    wait_for(lambda: pods_on(cluster, namespace, "web") == [free]
             and pods_on(cluster, namespace, "db") == [guarded], 60, "workloads placed")  # fmt: skip
    guard(cluster, namespace, "db")
    spec = {
        "type": "Update",
        "selector": {"matchLabels": {"suite": "maint"}},
        "template": template(),
        "nodeMaintenance": {"cordon": True, "drain": {"enabled": True, "timeoutSeconds": 8}},
        "rollout": {"strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 1, "maxFailedNodesPercent": 50,
                    "healthCheck": {"deadlineSeconds": 60}},
    }  # fmt: skip
    apply_job(cluster, namespace, "os-update", spec)

    most_cordoned = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = {n: node_state(cluster, n) for n in nodes}
        in_maintenance = [n for n, (cordoned, quarantined) in states.items()
                          if cordoned and not quarantined]  # fmt: skip
        most_cordoned = max(most_cordoned, len(in_maintenance))
        status = job_status(cluster, namespace, "os-update")
        if status.get("stableVersion") == 1 and not in_maintenance:
            break
        time.sleep(0.3)
    assert status.get("stableVersion") == 1, status
    assert most_cordoned == 2, "never more nodes cordoned than the wave (2 nodes)"

    execs = executions(cluster, namespace, "os-update")
    observed = {n: e["status"]["observedState"] for n, e in execs.items()}
    assert observed == {n: "Failed" if n == guarded else "Completed" for n in nodes}
    failed = execs[guarded]["status"]
    assert failed["error"]["code"] == "DrainTimeout"
    assert "drain.timeoutSeconds=8" in failed["message"]
    assert "disruption budget" in failed["message"], failed["message"]
    assert failed["maintenance"]["quarantined"] is True
    assert execs[free]["status"]["maintenance"]["cordoned"] is True
    assert execs[free]["status"]["maintenance"]["releasedAt"]
    # Evicted through the API: the web pod left its node (its ReplicaSet's new pod waits for
    # the node it is pinned to; it was uncordoned after the update, so it is back there now).
    assert [node_state(cluster, n) for n in nodes if n != guarded] == [(False, None)] * 3
    # The label names the Job with its namespace: only this Job lifts it.
    assert node_state(cluster, guarded) == (True, build_quarantine_value(namespace, "os-update"))
    assert pods_on(cluster, namespace, "db") == [guarded], "the PDB kept its pod"
    status = job_status(cluster, namespace, "os-update")
    assert condition(status, "NodesQuarantined") == ("True", "NodesQuarantined")
    assert "NodeQuarantined" in job_events(cluster, namespace)

    done = subprocess.run(["kubectl", "nodewave", "uncordon", "os-update", guarded, "-n", namespace],
                          capture_output=True, text=True, env=cluster.env(), check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"node/{guarded} released" in done.stdout
    wait_for(lambda: node_state(cluster, guarded) == (False, None), 30, "node released")
    wait_for(
        lambda: (
            condition(job_status(cluster, namespace, "os-update"), "NodesQuarantined")
            == ("False", "AsExpected")
        ),
        30,
        "condition cleared",
    )
    again = subprocess.run(["kubectl", "nodewave", "uncordon", "os-update", guarded, "-n", namespace],
                           capture_output=True, text=True, env=cluster.env(), check=False)  # fmt: skip
    assert again.returncode == 1
    assert "is not quarantined by Job os-update" in again.stderr


def test_a_job_deleted_mid_drain_gives_back_the_node_it_cordoned(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    [node] = add_nodes(cluster, "deleted", 1)
    allow_maintenance(cluster, namespace)
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(replica_set("db", node))
    )
    wait_for(lambda: pods_on(cluster, namespace, "db") == [node], 60, "the guarded pod placed")
    guard(cluster, namespace, "db")
    spec = {
        "type": "Update",
        "selector": {"matchLabels": {"suite": "deleted"}},
        "template": template(),
        "nodeMaintenance": {"cordon": True, "drain": {"enabled": True, "timeoutSeconds": 600}},
    }
    apply_job(cluster, namespace, "os-update", spec)
    wait_for(lambda: node_state(cluster, node) == (True, None), 30, "the node cordoned, draining")
    cluster.kubectl("delete", "nwj", "-n", namespace, "os-update")
    wait_for(lambda: node_state(cluster, node) == (False, None), 30, "the node given back")
    annotations = kubectl_json(cluster, "get", "node", node)["metadata"].get("annotations", {})
    assert "nodewave.io/cordoned-by" not in annotations


def test_a_namespace_that_did_not_opt_in_cordons_nothing(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """The operator's own check of the admission policy's label rule (for clusters where the
    policy is off): refused with a condition and an Event, nothing created or cordoned, until a
    cluster admin labels the namespace."""
    nodes = add_nodes(cluster, "optin", 2)
    spec = {
        "type": "Update",
        "selector": {"matchLabels": {"suite": "optin"}},
        "template": template(),
        "nodeMaintenance": {"cordon": True},
    }
    apply_job(cluster, namespace, "os-update", spec)
    assert wait_for(lambda: condition(job_status(cluster, namespace, "os-update"), "Stalled"),
                    30, "the Job refused") == ("True", "NodeMaintenanceNotAllowed")  # fmt: skip
    [stalled] = [c for c in job_status(cluster, namespace, "os-update")["conditions"]
                 if c["type"] == "Stalled"]  # fmt: skip
    assert "a cluster admin labels it nodewave.io/node-maintenance=allowed" in stalled["message"]
    assert "NodeMaintenanceNotAllowed" in job_events(cluster, namespace)
    assert executions(cluster, namespace, "os-update") == {}
    assert [node_state(cluster, n) for n in nodes] == [(False, None)] * 2
    allow_maintenance(cluster, namespace)
    wait_for(lambda: all(s.get("status", {}).get("observedState") == "Completed"
                         for s in executions(cluster, namespace, "os-update").values())
             and len(executions(cluster, namespace, "os-update")) == 2, 60,
             "the update run once the namespace opted in")  # fmt: skip
