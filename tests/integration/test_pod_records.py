"""Pod records (`nodewave run --pod-records`, experimental; docs/design.md §4.2 step 5): on
the normal path a node's execution is its pod, with no Execution object and no status write
of its own; an Execution is made only for what a pod cannot say (a failure, an error).

Against the real API server: the suite's operator is restarted with the flag for each test
and given back without it after."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.jobs import (
    IMAGE,
    add_nodes,
    apply_job,
    execution_objects,
    job_status,
    ok,
    phase,
    plugin,
    pods,
    rolling_job,
    scrape,
)


@pytest.fixture
def records(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    kept = operator.args
    operator.stop()
    operator.args = (*kept, "--pod-records")
    operator.start()
    operator.wait_started()
    try:
        yield operator
    finally:
        operator.stop()
        operator.args = kept
        operator.start()
        operator.wait_started()


def running_pods(cp: ControlPlane, ns: str, job: str) -> dict[str, int]:
    """node → the version of the Job's pod there that is Running and ready (not terminating)."""
    out: dict[str, int] = {}
    for p in pods(cp, ns, job).values():
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p.get("status", {}).get("conditions", []))  # fmt: skip
        if ready and not p["metadata"].get("deletionTimestamp"):
            out[p["spec"]["nodeName"]] = int(p["metadata"]["labels"]["nodewave.io/version"])
    return out


def place_v1(cp: ControlPlane, ns: str, spec: dict[str, Any], nodes: list[str]) -> None:
    """Version 1 of `spec` placed at once (Immediate) and ready on every node."""
    apply_job(cp, ns, "agent", {**spec, "rollout": {"strategy": "Immediate"}})
    wait_for(
        lambda: job_status(cp, ns, "agent").get("readyNodes") == len(nodes)
        and running_pods(cp, ns, "agent") == dict.fromkeys(nodes, 1),
        60, "version 1 ready on every node",
    )  # fmt: skip


def passes(op: OperatorProcess) -> float:
    """The operator's passes so far (nodewave_reconcile_duration_seconds_count); 0 before
    its metrics are served."""
    try:
        lines = scrape(op).splitlines()
    except OSError:
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("nodewave_reconcile_duration_seconds_count"))  # fmt: skip


@contextmanager
def execution_writes(cp: ControlPlane, ns: str) -> Iterator[list[str]]:
    """Every change to an Execution of `ns` while the block runs, as a watch sees it (its name
    and resourceVersion): what the operator wrote there, whatever else the cluster does."""
    seen: list[str] = []
    watch = subprocess.Popen(
        [str(cp.bin_dir / "kubectl"), "--kubeconfig", str(cp.kubeconfig), "get", "nwx", "-n", ns,
         "--watch", "-o", "jsonpath={.metadata.name} {.metadata.resourceVersion}{\"\\n\"}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert watch.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(watch.stdout or ()), daemon=True)
    reader.start()
    try:
        time.sleep(1)  # the watch established
        yield seen
    finally:
        watch.terminate()
        watch.wait(10)
        reader.join(10)
        watch.stdout.close()


@pytest.fixture
def written(cluster: ControlPlane, namespace: str) -> Iterator[list[str]]:
    with execution_writes(cluster, namespace) as seen:
        yield seen


def settled(seen: list[str]) -> list[str]:
    """The changes seen so far, once the watch had time to deliver the last."""
    time.sleep(2)
    return list(seen)


def test_a_rollout_on_pod_records_makes_an_execution_only_for_the_failing_node(
    cluster: ControlPlane,
    records: OperatorProcess,
    namespace: str,
    written: list[str],
    tmp_path: Path,
) -> None:
    nodes = add_nodes(cluster, "podrec", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 1,
               "maxFailedNodesPercent": 50}  # fmt: skip
    place_v1(cluster, namespace, rolling_job("podrec", "1", rolling), nodes)
    # The normal path: the Job's pods, each saying its execution, and no Execution at all.
    assert execution_objects(cluster, namespace, "agent") == {}
    uid = kubectl_json(cluster, "get", "nwj", "agent", "-n", namespace)["metadata"]["uid"]
    for p in pods(cluster, namespace, "agent").values():
        (owner,) = p["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("Job", uid)
        assert p["metadata"]["annotations"]["nodewave.io/incarnation"]
    # Version 2 never gets ready on one node: that node, and only it, gets an Execution.
    bad = nodes[0]
    v2 = rolling_job("podrec", "2", rolling, {"fake.nodewave.io/unready-on": bad})
    v2["rollout"]["healthCheck"]["deadlineSeconds"] = 8
    apply_job(cluster, namespace, "agent", v2)
    wait_for(lambda: phase(cluster, namespace, "agent") == "Completed", 90, "rollout completed")
    status = job_status(cluster, namespace, "agent")
    assert (status["stableVersion"], status["rollout"]["failedNodes"]) == (2, 1)
    wait_for(
        lambda: {n: v for n, v in running_pods(cluster, namespace, "agent").items() if n != bad}
        == {n: 2 for n in nodes[1:]},
        30, "version 2 running on the nodes where it is healthy",
    )  # fmt: skip
    held: dict[str, Any] = execution_objects(cluster, namespace, "agent")
    assert list(held) == [bad]
    record = held[bad]
    assert (record["spec"]["jobVersion"], record["status"]["observedState"]) == (2, "Failed")
    assert record["status"]["error"]["code"] == "HealthCheckFailed"
    assert record["spec"]["incarnation"]  # made from its pod: the same incarnation
    # One create and one status write, for the failed node alone.
    assert [w.split()[0] for w in settled(written)] == [record["metadata"]["name"]] * 2
    # A new leader holds none of what was planned in memory: it reads the pods and the Job's
    # record of validation, and neither judges a node again nor writes an Execution.
    uids = {n: p["metadata"]["uid"] for n, p in pods(cluster, namespace, "agent").items()}
    records.stop()
    records.start()
    records.wait_started()
    wait_for(lambda: passes(records) >= 1, 30, "a pass of the new leader")
    time.sleep(3)  # and whatever it would plan after
    assert {n: p["metadata"]["uid"] for n, p in pods(cluster, namespace, "agent").items()} == uids
    assert list(execution_objects(cluster, namespace, "agent")) == [bad]
    after = job_status(cluster, namespace, "agent")
    assert (after["readyNodes"], after["stableVersion"]) == (len(nodes) - 1, 2)
    # Validated from the Job's record: none of them is judged again (Validating).
    assert after["executionCounts"] == {"Running": len(nodes) - 1, "Failed": 1}
    assert len(settled(written)) == 2
    shows_every_node(cluster, namespace, nodes, bad, tmp_path / "job.yaml", v2)


def shows_every_node(
    cp: ControlPlane, ns: str, nodes: list[str], bad: str, manifest: Path, spec: dict[str, Any]
) -> None:
    """The plugin's readers (docs/design.md §4.2 step 6): every node's execution, three of
    them only pods, one an Execution; and `plan` of the Job as applied changes nothing (without
    the pod records it would place version 2 on three nodes again)."""
    listed = json.loads(ok(cp, "executions", "--job", "agent", "-n", ns, "-o", "json"))["items"]
    by_node = {e["spec"]["nodeName"]: e for e in listed}
    assert sorted(by_node) == sorted(nodes)
    pod_record = {n for n, e in by_node.items()
                  if e["metadata"].get("annotations", {}).get("nodewave.io/pod-record") == "true"}  # fmt: skip
    assert pod_record == set(nodes) - {bad}
    assert {n: e["status"]["observedState"] for n, e in by_node.items()} == {
        n: "Failed" if n == bad else "Running" for n in nodes
    }
    assert {e["spec"]["jobVersion"] for e in listed} == {2}
    stats = json.loads(ok(cp, "stats", "--job", "agent", "-n", ns, "-o", "json"))
    assert (stats["states"]["Running"], stats["states"]["Failed"], stats["total"]) == (3, 1, 4)
    running = ok(cp, "executions", "--job", "agent", "-n", ns, "--state", "Running")
    assert sorted(line.split()[2] for line in running.splitlines()[1:]) == sorted(pod_record)
    tree = json.loads(ok(cp, "get", "agent", "-n", ns, "-o", "json"))
    shown = [e for v in tree["versions"] for w in v["waves"] for e in w["executions"]]
    assert sorted(e["node"] for e in shown) == sorted(nodes)
    manifest.write_text(yaml.safe_dump({"apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
                                        "metadata": {"name": "agent"}, "spec": spec}))  # fmt: skip
    same = plugin(cp, "plan", "-f", str(manifest), "-n", ns)
    assert (same.returncode, "no changes" in same.stdout) == (0, True), same.stdout


def test_a_restart_on_pod_records_makes_every_pod_again_in_waves_without_an_execution(
    cluster: ControlPlane, records: OperatorProcess, namespace: str, written: list[str]
) -> None:
    """restartAt: each pod record of the version is deleted and made again (its execution
    made again under the same name with a new incarnation) in waves, and at no point is an
    Execution written."""
    nodes = add_nodes(cluster, "podrec-restart", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    place_v1(cluster, namespace, rolling_job("podrec-restart", "1", rolling), nodes)
    apply_job(cluster, namespace, "agent", rolling_job("podrec-restart", "1", rolling))
    old = {p["metadata"]["uid"] for p in pods(cluster, namespace, "agent").values()}
    ok(cluster, "restart", "agent", "-n", namespace)
    done = wait_for(
        lambda: (r := job_status(cluster, namespace, "agent").get("restart"))
        and r["phase"] == "Completed" and r,
        90, "restart completed",
    )  # fmt: skip
    assert (done["wave"], done["restartedNodes"]) == (2, len(nodes))
    wait_for(
        lambda: running_pods(cluster, namespace, "agent") == dict.fromkeys(nodes, 1),
        30, "version 1 running on every node again",
    )  # fmt: skip
    now = pods(cluster, namespace, "agent").values()
    assert not old & {p["metadata"]["uid"] for p in now}, "every pod is new"
    assert execution_objects(cluster, namespace, "agent") == {}
    assert settled(written) == []


def test_a_pod_record_that_cannot_be_made_is_an_execution_that_says_why(
    cluster: ControlPlane, records: OperatorProcess, namespace: str, written: list[str]
) -> None:
    """Someone else's pod under a node's execution name: the pod record cannot be made, so
    the execution is, Pending with PodRefused (as without pod records), and is made once, not
    asked for again every pass; the other node's is a pod alone."""
    nodes = add_nodes(cluster, "podrec-taken", 2)
    taken = build_execution_name("agent", 1, nodes[0])
    theirs = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": taken},
              "spec": {"nodeName": nodes[0], "containers": [{"name": "main", "image": IMAGE}]}}  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(theirs))
    apply_job(cluster, namespace, "agent", {**rolling_job("podrec-taken", "1", {}),
                                            "rollout": {"strategy": "Immediate"}})  # fmt: skip
    held = wait_for(
        lambda: (e := execution_objects(cluster, namespace, "agent").get(nodes[0]))
        and (e.get("status") or {}).get("error") and e,
        60, "the refused node's execution saying why",
    )  # fmt: skip
    assert (held["status"]["observedState"], held["status"]["error"]["code"]) == (
        "Pending", "PodRefused"
    )  # fmt: skip
    assert "nodewave never adopts a pod it did not make" in held["status"]["message"]
    wait_for(lambda: running_pods(cluster, namespace, "agent") == {nodes[1]: 1}, 30,
             "the other node's pod running")  # fmt: skip
    assert list(execution_objects(cluster, namespace, "agent")) == [nodes[0]]
    creates = [w for w in settled(written) if w.split()[0] == taken]
    time.sleep(3)
    assert [w for w in settled(written) if w.split()[0] == taken] == creates, "made once"


def test_a_pod_record_is_cancelled_and_retried_with_the_plugin(
    cluster: ControlPlane, records: OperatorProcess, namespace: str
) -> None:
    """`kubectl nodewave cancel` of an execution only its pod stands for: asked on the Job
    (nodewave.io/cancel), the operator makes its Execution saying Stopped and stops it; the
    request is taken back once carried out, and the node stays stopped. `retry` starts it
    again, as a pod alone."""
    nodes = add_nodes(cluster, "podrec-cancel", 2)
    place_v1(cluster, namespace, rolling_job("podrec-cancel", "1", {}), nodes)
    name = build_execution_name("agent", 1, nodes[0])
    out = ok(cluster, "cancel", name, "-n", namespace)
    assert out.strip() == f"execution.nodewave.io/{name} cancelled"
    held = execution_objects(cluster, namespace, "agent")
    assert list(held) == [nodes[0]]
    assert held[nodes[0]]["spec"]["desiredState"] == "Stopped"
    assert "nodewave.io/stopped-by" not in held[nodes[0]]["metadata"].get("annotations", {})
    annotations = kubectl_json(cluster, "get", "nwj", "agent", "-n", namespace)["metadata"]
    assert "nodewave.io/cancel" not in annotations.get("annotations", {}), "taken back"
    wait_for(
        lambda: (execution_objects(cluster, namespace, "agent")[nodes[0]].get("status") or {}).get(
            "observedState") == "Stopped" and running_pods(cluster, namespace, "agent") == {nodes[1]: 1},
        30, "stopped, its pod gone, the other node's running",
    )  # fmt: skip
    time.sleep(3)
    assert running_pods(cluster, namespace, "agent") == {nodes[1]: 1}, "never started again"
    # An unknown name is not found, as for an Execution.
    missing = plugin(cluster, "cancel", "agent-9-nowhere", "-n", namespace)
    assert missing.returncode != 0
    assert 'Execution "agent-9-nowhere"' in missing.stderr
    assert "not found" in missing.stderr
    ok(cluster, "retry", name, "-n", namespace)
    wait_for(
        lambda: running_pods(cluster, namespace, "agent") == dict.fromkeys(nodes, 1)
        and execution_objects(cluster, namespace, "agent") == {},
        60, "started again as a pod alone",
    )  # fmt: skip


def test_a_retried_run_to_completion_node_runs_again_not_its_kept_failed_pod(
    cluster: ControlPlane, records: OperatorProcess, namespace: str
) -> None:
    """A run-to-completion pod that failed is kept (its logs) and its execution made an
    Execution saying Failed. `retry` deletes that Execution: the pod it leaves is stale, not
    a record again (which would make the same failed Execution from the same pod), so a new
    pod runs, under a new incarnation, a pod alone again."""
    nodes = add_nodes(cluster, "podrec-retry", 2)
    spec = rolling_job("podrec-retry", "1", {"strategy": "Immediate", "maxFailedNodes": 1,
                                             "maxFailedNodesPercent": 100},
                       {"fake.nodewave.io/run-for": "600s"})  # fmt: skip
    apply_job(cluster, namespace, "agent", {**spec, "type": "Query"})
    name = build_execution_name("agent", 1, nodes[0])
    wait_for(lambda: running_pods(cluster, namespace, "agent").keys() == set(nodes), 60,
             "both nodes' queries running")  # fmt: skip
    # The query on the first node fails (its container exits 1, kwok's stage).
    cluster.kubectl("annotate", "pod", name, "-n", namespace, "fake.nodewave.io/fail=true")

    def failed() -> dict[str, Any] | None:
        ex = execution_objects(cluster, namespace, "agent").get(nodes[0])
        return ex if ex and (ex.get("status") or {}).get("observedState") == "Failed" else None

    first = wait_for(failed, 60, "the node's execution Failed")
    kept = pods(cluster, namespace, "agent")[name]
    assert kept["status"]["phase"] == "Failed", "the failed pod is kept"
    ok(cluster, "retry", name, "-n", namespace)
    again = wait_for(
        lambda: (p := pods(cluster, namespace, "agent").get(name))
        and p["metadata"]["uid"] != kept["metadata"]["uid"]
        and running_pods(cluster, namespace, "agent").keys() == set(nodes) and p,
        60, "the retried query running again in a new pod",
    )  # fmt: skip
    incarnation = again["metadata"]["annotations"]["nodewave.io/incarnation"]
    assert incarnation != first["spec"]["incarnation"]
    assert execution_objects(cluster, namespace, "agent") == {}, "a pod alone again"
