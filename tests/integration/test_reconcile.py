"""The operator on the real control plane: placement, observed states, job types, timeouts,
node churn, cancel/resume, deletion and crash safety (issue: core reconcile)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from nodewave.cli.records import is_pod_record
from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import NODE_LOST_GRACE, kubectl_json, wait_for
from tests.integration.jobs import (
    LEFT_STOPPED,
    add_nodes,
    apply_job,
    condition,
    executions,
    job_status,
    listed_executions,
    ok,
    pods,
    states,
    suite_nodes,
    template,
    wait_condition,
)


def test_places_one_execution_and_one_pinned_pod_per_selected_node(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "place", 3, region="eu-west")
    cluster.kubectl("label", "node", nodes[2], "region=us-east", "--overwrite")
    config = {"batch": 500, "sink": {"url": "https://logs.example"}}
    apply_job(
        cluster,
        namespace,
        "ship",
        {
            "type": "Pipeline",
            "config": config,
            "selector": {
                "matchLabels": {"suite": "place"},
                "matchExpressions": ["region in (eu-west)"],
            },
            "template": template(),
        },
    )

    wait_for(
        lambda: states(cluster, namespace, "ship") == {nodes[0]: "Running", nodes[1]: "Running"},
        30,
        "both eu-west executions Running",
    )
    job = kubectl_json(cluster, "get", "nwj", "-n", namespace, "ship")
    status = wait_for(
        lambda: (s := job_status(cluster, namespace, "ship")).get("readyNodes") == 2 and s,
        15,
        "Job status caught up",
    )
    assert status["observedGeneration"] == job["metadata"]["generation"]
    assert status["targetNodes"] == 2
    assert status["currentVersion"] == 1
    assert status["stableVersion"] == 1
    assert status["executionCounts"] == {"Running": 2}
    assert condition(status, "Ready") == ("True", "AllNodesReady")

    execs = executions(cluster, namespace, "ship")
    the_pods = pods(cluster, namespace, "ship")
    assert len(the_pods) == 2
    for node in nodes[:2]:
        ex = execs[node]
        name = build_execution_name("ship", 1, node)
        assert ex["metadata"]["name"] == name
        assert (
            ex["metadata"]["labels"].items()
            >= {
                "nodewave.io/job": "ship",
                "nodewave.io/node": node,
                "nodewave.io/version": "1",
            }.items()
        )
        assert ex["spec"]["jobVersion"] == 1
        st = ex["status"]
        assert st["observedState"] == "Running"
        if not is_pod_record(ex):  # under --pod-records only its pod stands for it
            assert ex["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
            assert st["revision"] >= 1
            assert st["stableAt"]
            assert st["history"][-1]["state"] == "Running"
        pod = the_pods[name]
        # The Job's, carrying its execution's incarnation (made side by side with it).
        assert pod["metadata"]["ownerReferences"][0] == {
            "apiVersion": "nodewave.io/v1alpha1",
            "kind": "Job",
            "name": "ship",
            "uid": job["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert (
            pod["metadata"]["annotations"]["nodewave.io/incarnation"] == (ex["spec"]["incarnation"])
        )
        assert pod["spec"]["nodeName"] == node
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        assert terms == [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        ]
        assert {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
        } in pod["spec"]["tolerations"]
        assert pod["spec"]["restartPolicy"] == "Always"
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        assert json.loads(env["NODEWAVE_CONFIG"]) == config
        assert env["NODEWAVE_NODE"] == node
        mount = next(
            m
            for m in pod["spec"]["containers"][0]["volumeMounts"]
            if m["name"] == "nodewave-config"
        )
        assert mount["mountPath"] == "/etc/nodewave"
    cm = kubectl_json(cluster, "get", "configmap", "-n", namespace, "ship-config-v1")
    assert json.loads(cm["data"]["config.json"]) == config

    # Normal transitions are folded onto the Job, one Event per version and reason with a
    # count (kube/events.py); an execution's own steps are in its status.history.
    def running_summary() -> dict[str, Any] | None:
        items = kubectl_json(
            cluster, "get", "events", "-n", namespace, "--field-selector", "reason=Running"
        )["items"]
        assert {e["involvedObject"]["kind"] for e in items} <= {"Job"}, "none per execution"
        return next((e for e in items if e.get("count") == 2), None)

    summary = wait_for(running_summary, 15, "one Running Event on the Job counting both nodes")
    assert summary["involvedObject"]["uid"] == job["metadata"]["uid"]
    assert summary["message"].startswith("version 1, 2 executions; latest: Running on node ")
    described = cluster.kubectl("describe", "nwj", "-n", namespace, "ship").stdout
    assert re.search(r"Normal\s+Running\s+.*\(x2 over .*\).*version 1, 2 executions", described)
    revisions = kubectl_json(
        cluster, "get", "controllerrevisions", "-n", namespace, "-l", "nodewave.io/job=ship"
    )["items"]
    assert [r["revision"] for r in revisions] == [1]


def test_run_to_completion_types_finish(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, "finish", 3)
    fail_on = nodes[1]
    cluster.kubectl("label", "node", fail_on, "flaky=yes")
    apply_job(
        cluster,
        namespace,
        "ok",
        {
            "type": "Query",
            "selector": {"matchLabels": {"suite": "finish"}, "matchExpressions": ["!flaky"]},
            "template": template({"fake.nodewave.io/run-for": "1s"}),
        },
    )
    apply_job(
        cluster,
        namespace,
        "bad",
        {
            "type": "Update",
            "restartPolicy": "Never",
            "selector": {"matchNames": [fail_on]},
            "template": template({"fake.nodewave.io/fail": "true"}),
        },
    )

    wait_for(
        lambda: set(states(cluster, namespace, "ok").values()) == {"Completed"},
        30,
        "query executions Completed",
    )
    status = wait_condition(
        cluster, namespace, "ok", "Complete", ("True", "AllSucceeded"), 15, "Job Complete"
    )
    assert condition(status, "Ready") == ("True", "AllSucceeded")
    assert {p["status"]["phase"] for p in pods(cluster, namespace, "ok").values()} == {"Succeeded"}
    assert {p["spec"]["restartPolicy"] for p in pods(cluster, namespace, "ok").values()} == {
        "OnFailure"
    }

    wait_for(
        lambda: states(cluster, namespace, "bad") == {fail_on: "Failed"},
        30,
        "update execution Failed",
    )
    ex = executions(cluster, namespace, "bad")[fail_on]
    assert ex["status"]["error"]["code"] == "Error"
    assert ex["status"]["details"]["exitCode"] == "1"
    status = wait_condition(
        cluster,
        namespace,
        "bad",
        "Complete",
        ("True", "SomeFailed"),
        15,
        "Job Complete with failures",
    )
    # Its one node failed: past the budget, and a first version has nothing to roll back to.
    assert condition(status, "Degraded") == ("True", "RolloutFailed")
    assert condition(status, "Stalled") == ("True", "RolloutFailed")
    warnings = kubectl_json(
        cluster, "get", "events", "-n", namespace, "--field-selector", "type=Warning,reason=Failed"
    )["items"]
    assert warnings


def test_restart_budget(cluster: ControlPlane, operator: OperatorProcess, namespace: str) -> None:
    nodes = suite_nodes(cluster, "finish", 3)[:2]
    spend, keep = nodes
    for job, node, crashes in (("spend", spend, "4"), ("keep", keep, "2")):
        apply_job(
            cluster,
            namespace,
            job,
            {
                "type": "Pipeline",
                "maxRestarts": 3,
                "selector": {"matchNames": [node]},
                "template": template({"fake.nodewave.io/crash-restarts": crashes}),
            },
        )
    wait_for(
        lambda: states(cluster, namespace, "spend") == {spend: "Failed"},
        30,
        "the crash-looping execution Failed once 4 restarts passed maxRestarts=3",
    )
    ex = executions(cluster, namespace, "spend")[spend]
    assert ex["status"]["error"]["code"] == "RestartBudgetSpent"
    assert ex["status"]["restarts"] == 4
    wait_for(lambda: not pods(cluster, namespace, "spend"), 30, "its pod deleted")
    status = wait_condition(
        cluster,
        namespace,
        "spend",
        "Degraded",
        ("True", "ExecutionsFailed"),
        15,
        "the Job Degraded",
    )
    assert status["executionCounts"] == {"Failed": 1}

    # Two restarts are within the budget: Degraded (crash-looping), not Failed, pod kept.
    wait_for(
        lambda: states(cluster, namespace, "keep") == {keep: "Degraded"},
        30,
        "the execution within its budget Degraded",
    )
    time.sleep(2)
    assert states(cluster, namespace, "keep") == {keep: "Degraded"}
    assert executions(cluster, namespace, "keep")[keep]["status"]["restarts"] == 2
    assert len(pods(cluster, namespace, "keep")) == 1


def test_timeouts(cluster: ControlPlane, operator: OperatorProcess, namespace: str) -> None:
    nodes = add_nodes(cluster, "timeout", 1)
    sel = {"matchLabels": {"suite": "timeout"}}
    apply_job(
        cluster,
        namespace,
        "runs-long",
        {
            "type": "Pipeline",
            "selector": sel,
            "timeouts": {"executionTimeoutSeconds": 3},
            "template": template(),
        },
    )
    # A scheduler that does not exist never binds the pod: it can never start.
    apply_job(
        cluster,
        namespace,
        "never-starts",
        {
            "type": "Query",
            "selector": sel,
            "timeouts": {"queueTimeoutSeconds": 3},
            "template": template(schedulerName="nobody"),
        },
    )
    apply_job(
        cluster,
        namespace,
        "too-slow",
        {
            "type": "Query",
            "selector": sel,
            "timeouts": {"totalTimeoutSeconds": 3},
            "template": template({"fake.nodewave.io/run-for": "60s"}),
        },
    )
    for job, code in (
        ("runs-long", "ExecutionTimeout"),
        ("never-starts", "QueueTimeout"),
        ("too-slow", "TotalTimeout"),
    ):
        ex = wait_for(
            lambda job=job: (
                (e := executions(cluster, namespace, job).get(nodes[0]))
                and e.get("status", {}).get("observedState") == "Failed"
                and e
            ),
            20,
            f"{job} Failed",
        )
        assert ex["status"]["error"]["code"] == code
        wait_for(lambda job=job: not pods(cluster, namespace, job), 20, f"{job}'s pod deleted")


def test_node_churn_and_selector_changes(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = add_nodes(cluster, "churn", 3, pool="a")
    apply_job(
        cluster,
        namespace,
        "agent",
        {
            "type": "Pipeline",
            "selector": {"matchLabels": {"suite": "churn", "pool": "a"}},
            "template": template(),
        },
    )
    wait_for(
        lambda: (
            set(states(cluster, namespace, "agent").values()) == {"Running"}
            and len(states(cluster, namespace, "agent")) == 3
        ),
        30,
        "3 Running",
    )

    # A new matching node gets its execution within seconds.
    started = time.monotonic()
    new = add_nodes(cluster, "churn-new", 1, pool="a")[0]
    cluster.kubectl("label", "node", new, "suite=churn", "--overwrite")
    wait_for(
        lambda: states(cluster, namespace, "agent").get(new) == "Running",
        20,
        "execution on the new node",
    )
    assert time.monotonic() - started < 20

    # A node that stops matching: its execution is stopped (by the operator) and its pod goes.
    cluster.kubectl("label", "node", nodes[0], "pool=b", "--overwrite")
    wait_for(
        lambda: states(cluster, namespace, "agent").get(nodes[0]) == LEFT_STOPPED,
        20,
        "unselected node's execution Stopped",
    )
    name = build_execution_name("agent", 1, nodes[0])
    assert name not in pods(cluster, namespace, "agent")
    if LEFT_STOPPED:
        ex = executions(cluster, namespace, "agent")[nodes[0]]
        assert ex["spec"]["desiredState"] == "Stopped"
        assert ex["metadata"]["annotations"]["nodewave.io/stopped-by"] == "operator"
    # It matches again: the operator restarts what it stopped.
    cluster.kubectl("label", "node", nodes[0], "pool=a", "--overwrite")
    wait_for(
        lambda: states(cluster, namespace, "agent").get(nodes[0]) == "Running",
        20,
        "re-selected node Running again",
    )

    # A deleted node: its execution is Lost (not Failed).
    cluster.kubectl("delete", "node", nodes[1])
    wait_for(
        lambda: states(cluster, namespace, "agent").get(nodes[1]) == "Lost",
        20,
        "deleted node's execution Lost",
    )
    assert (
        executions(cluster, namespace, "agent")[nodes[1]]["status"]["error"]["code"]
        == "NodeDeleted"
    )

    # A node NotReady past the grace period: Lost, after (not before) the grace period.
    cluster.kubectl("label", "node", nodes[2], "fake.nodewave.io/not-ready=true")
    wait_for(
        lambda: (
            next(
                c
                for c in kubectl_json(cluster, "get", "node", nodes[2])["status"]["conditions"]
                if c["type"] == "Ready"
            )["status"]
            != "True"
        ),
        20,
        "node NotReady",
    )
    went_not_ready = time.monotonic()
    wait_for(
        lambda: states(cluster, namespace, "agent").get(nodes[2]) == "Lost",
        20 + NODE_LOST_GRACE,
        "NotReady node's execution Lost",
    )
    assert time.monotonic() - went_not_ready >= NODE_LOST_GRACE - 1.5
    status = wait_condition(
        cluster,
        namespace,
        "agent",
        "Degraded",
        ("True", "NodesLost"),
        15,
        "Job Degraded by lost nodes",
    )
    assert status["executionCounts"]["Lost"] == 2

    # Changing the selector reconciles without a new version.
    cluster.kubectl(
        "patch",
        "nwj",
        "-n",
        namespace,
        "agent",
        "--type=merge",
        "-p",
        json.dumps(
            {"spec": {"selector": {"matchLabels": {"suite": "churn"}, "matchNames": [nodes[0]]}}}
        ),
    )
    wait_for(
        lambda: (
            {
                n: s
                for n, s in states(cluster, namespace, "agent").items()
                if s in ("Running", "Pending", "Starting")
            }
            == {nodes[0]: "Running"}
        ),
        20,
        "only the named node runs",
    )
    assert job_status(cluster, namespace, "agent")["currentVersion"] == 1
    assert [
        r["revision"]
        for r in kubectl_json(cluster, "get", "controllerrevisions", "-n", namespace)["items"]
    ] == [1]


def test_cancel_and_resume(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    node = add_nodes(cluster, "cancel", 1)[0]
    apply_job(
        cluster,
        namespace,
        "svc",
        {
            "type": "Pipeline",
            "selector": {"matchLabels": {"suite": "cancel"}},
            "template": template(),
        },
    )
    wait_for(lambda: states(cluster, namespace, "svc") == {node: "Running"}, 30, "Running")
    name = build_execution_name("svc", 1, node)
    # The plugin patches the Execution's desiredState, or under --pod-records asks on the Job.
    ok(cluster, "cancel", name, "-n", namespace)
    wait_for(lambda: states(cluster, namespace, "svc") == {node: "Stopped"}, 20, "Stopped")
    history = [h["state"] for h in executions(cluster, namespace, "svc")[node]["status"]["history"]]
    assert history[-2:] == ["Stopping", "Stopped"]
    assert not pods(cluster, namespace, "svc")
    time.sleep(3)  # the operator must not start it again on its own
    assert states(cluster, namespace, "svc") == {node: "Stopped"}
    assert not pods(cluster, namespace, "svc")
    cluster.kubectl(
        "patch",
        "nwx",
        "-n",
        namespace,
        name,
        "--type=merge",
        "-p",
        '{"spec":{"desiredState":"Running"}}',
    )
    wait_for(lambda: states(cluster, namespace, "svc") == {node: "Running"}, 20, "Running again")
    assert list(pods(cluster, namespace, "svc")) == [name]


def test_deleting_the_job_removes_executions_and_pods(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    add_nodes(cluster, "delete", 2)
    apply_job(
        cluster,
        namespace,
        "temp",
        {
            "type": "Pipeline",
            "selector": {"matchLabels": {"suite": "delete"}},
            "template": template(),
        },
    )
    wait_for(lambda: len(pods(cluster, namespace, "temp")) == 2, 30, "2 pods")
    cluster.kubectl("delete", "nwj", "-n", namespace, "temp")
    wait_for(
        lambda: not executions(cluster, namespace, "temp") and not pods(cluster, namespace, "temp"),
        60,
        "executions and pods garbage-collected",
    )


def test_deleting_the_namespace_stops_the_operator_there(
    cluster: ControlPlane, operator: OperatorProcess
) -> None:
    ns = "doomed"
    cluster.kubectl("create", "namespace", ns)
    nodes = suite_nodes(cluster, "delete", 2)
    apply_job(
        cluster,
        ns,
        "temp",
        {
            "type": "Pipeline",
            "selector": {"matchLabels": {"suite": "delete"}},
            "template": template(),
        },
    )
    wait_for(lambda: len(pods(cluster, ns, "temp")) == len(nodes), 30, "pods placed")
    logged = len(operator.log.read_text())
    cluster.kubectl("delete", "namespace", ns, "--timeout=60s")
    # The namespace controller deletes pods, executions and the Job in no set order; the
    # operator must not keep re-creating what it deletes (the API server refuses creates in a
    # terminating namespace).
    assert f"namespace {ns} because it is being terminated" not in operator.log.read_text()[logged:]


def test_selector_strings_select_what_kubernetes_selects(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """Our expression strings and the API server's label selectors agree on real nodes."""
    exprs = [
        "region=eu-west",
        "region!=eu-west",
        "tier in (premium,standard)",
        "tier notin (premium)",
        "gpu",
        "!gpu",
    ]
    for expr in exprs:
        job = f"sel-{exprs.index(expr)}"
        apply_job(
            cluster,
            namespace,
            job,
            {
                "type": "Pipeline",
                "selector": {
                    "matchExpressions": [expr],
                    "matchNames": ["worker-a", "worker-b", "worker-c"],
                },
                "template": template(),
            },
        )
    for expr in exprs:
        job = f"sel-{exprs.index(expr)}"
        k8s = set(
            cluster.kubectl("get", "nodes", "-l", expr, "-o", "name")
            .stdout.replace("node/", "")
            .split()
        ) & {"worker-a", "worker-b", "worker-c"}
        wait_for(
            lambda job=job, k8s=k8s: (
                set(states(cluster, namespace, job)) == k8s
                and job_status(cluster, namespace, job).get("targetNodes") == len(k8s)
            ),
            30,
            f"{expr} selects {sorted(k8s)}",
        )


def test_taints_decide_targets_as_for_a_daemonset(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """A node tainted like a kubeadm control plane is no target (its pod could never be
    scheduled and the Job would never be Ready); a NoSchedule taint added under a running
    execution leaves it running, a NoExecute one stops it; a toleration brings the node in."""
    cp, worker, other = add_nodes(cluster, "taint", 3)
    cluster.kubectl("taint", "node", cp, "node-role.kubernetes.io/control-plane:NoSchedule")
    apply_job(cluster, namespace, "agent", {
        "type": "Pipeline", "selector": {"matchLabels": {"suite": "taint"}}, "template": template(),
    })  # fmt: skip
    wait_for(lambda: (condition(job_status(cluster, namespace, "agent"), "Ready") or ("",))[0] == "True",
             30, "Ready without the tainted node")  # fmt: skip
    assert sorted(states(cluster, namespace, "agent")) == sorted([worker, other])
    assert job_status(cluster, namespace, "agent")["targetNodes"] == 2

    cluster.kubectl("taint", "node", worker, "dedicated=gpu:NoSchedule")
    cluster.kubectl("taint", "node", other, "dedicated=gpu:NoExecute")
    wait_for(lambda: states(cluster, namespace, "agent").get(other) == LEFT_STOPPED, 20,
             "the NoExecute node's execution Stopped")  # fmt: skip
    assert states(cluster, namespace, "agent")[worker] == "Running"

    tolerant = template()
    tolerant["spec"]["tolerations"] = [{"operator": "Exists"}]
    apply_job(cluster, namespace, "agent", {
        "type": "Pipeline", "selector": {"matchLabels": {"suite": "taint"}}, "template": tolerant,
    })  # fmt: skip

    def running_v2() -> list[str]:
        items = listed_executions(cluster, namespace, "agent", 2)
        return sorted(e["spec"]["nodeName"] for e in items
                      if e.get("status", {}).get("observedState") == "Running")  # fmt: skip

    wait_for(lambda: running_v2() == sorted([cp, worker, other]), 30, "version 2 on all three")
