"""A version whose pod the API server refuses is refused before any node is touched, with the
API's own words at the Job and in `kubectl nodewave plan` (issue 32): a pod validation error, a
namespace enforcing Pod Security `restricted`, a ResourceQuota, a LimitRange, a missing
ServiceAccount — each on the real control plane, with the stable version untouched; and a
quota used up after the dry-run passed, said at the execution and the Job."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodewave.cli.records import is_pod_record
from nodewave.core.vocabulary.naming import build_configmap_name, build_execution_name
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.jobs import (
    apply_job,
    condition,
    executions,
    job_status,
    plugin,
    pods,
    running_versions,
    settle_v1,
    suite_nodes,
    template,
)

SUITE = "podcheck"
IMMEDIATE = {"strategy": "Immediate", "maxFailedNodes": 0}
FAST = {"deadlineSeconds": 30, "intervalSeconds": 1, "successThreshold": 1}


def spec(tpl: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Pipeline",
        "selector": {"matchLabels": {"suite": SUITE}},
        "template": tpl,
        "rollout": {**IMMEDIATE, "healthCheck": FAST},
    }


def container(**fields: Any) -> dict[str, Any]:
    return template()["spec"]["containers"][0] | fields


def apply(cp: ControlPlane, ns: str, obj: dict[str, Any]) -> None:
    """Apply `obj`; a ResourceQuota is waited for until its controller has counted it (until
    then the quota admission refuses every pod, whatever it asks for)."""
    cp.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(obj))
    if obj["kind"] == "ResourceQuota":
        name = obj["metadata"]["name"]
        wait_for(
            lambda: kubectl_json(cp, "get", "resourcequota", name, "-n", ns)
            .get("status", {}).get("hard") == obj["spec"]["hard"],
            30, f"quota {name} counted",
        )  # fmt: skip


def invalid(cp: ControlPlane, ns: str) -> dict[str, Any]:
    """Pod validation: a request above its limit (the Job's schema does not know pods)."""
    resources = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    return template(containers=[container(resources=resources)])


def restricted(cp: ControlPlane, ns: str) -> dict[str, Any]:
    cp.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    return template()


def quota(cp: ControlPlane, ns: str) -> dict[str, Any]:
    apply(cp, ns, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                   "spec": {"hard": {"requests.cpu": "1"}}})  # fmt: skip
    return template()  # no cpu request: a quota on requests.cpu refuses it


def limit_range(cp: ControlPlane, ns: str) -> dict[str, Any]:
    limits = [{"type": "Container", "max": {"cpu": "100m"}}]
    apply(cp, ns, {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
                   "spec": {"limits": limits}})  # fmt: skip
    resources = {"requests": {"cpu": "200m"}, "limits": {"cpu": "200m"}}
    return template(containers=[container(resources=resources)])


def no_account(cp: ControlPlane, ns: str) -> dict[str, Any]:
    return template(serviceAccountName="nobody")


POD_REFUSED = "PodRefused"
DRY_RUN = "the API server refuses its pod: "
CASES: dict[str, tuple[Callable[[ControlPlane, str], dict[str, Any]], str, str]] = {
    # case: (what makes it, the reason, the message after "version 2 is not rolled out: ")
    "invalid": (
        invalid,
        POD_REFUSED,
        DRY_RUN + r".*Invalid value: \"2\": must be less than or equal to cpu limit",
    ),
    # A namespace enforcing restricted: nodewave's own Pod Security check (issue 26) says it
    # first, in its words; the dry-run would say it too (test_pod_security.py).
    "restricted": (
        restricted,
        "PodSecurityViolation",
        r"the template breaks Pod Security restricted \(namespace \S+: "
        r"pod-security.kubernetes.io/enforce=restricted\): Privilege Escalation",
    ),
    "quota": (quota, POD_REFUSED, DRY_RUN + r".*failed quota: q: must specify requests.cpu"),
    "limit-range": (
        limit_range,
        POD_REFUSED,
        DRY_RUN + r".*maximum cpu usage per Container is 100m, but limit is 200m",
    ),
    "no-account": (no_account, POD_REFUSED, DRY_RUN + r'.*serviceaccount "nobody" not found'),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_version_the_api_server_refuses_is_refused_before_any_node_is_touched(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path, case: str
) -> None:
    nodes = suite_nodes(cluster, SUITE, 2)
    settle_v1(cluster, namespace, "agent", spec(template()), nodes)
    before = set(pods(cluster, namespace, "agent"))
    make, reason, words = CASES[case]
    bad = spec(make(cluster, namespace))
    bad["template"]["spec"]["containers"][0]["image"] = "registry.example/agent:2"  # a version 2
    # kubectl nodewave plan says it before apply, in the API's words, and exits 1.
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump({"apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
                                        "metadata": {"name": "agent"}, "spec": bad}))  # fmt: skip
    planned = plugin(cluster, "plan", "-n", namespace, "-f", str(manifest))
    assert planned.returncode == 1, planned.stdout + planned.stderr
    refused = re.search(r"^! refused by the operator: (.*)$", planned.stdout, re.M)
    assert refused, planned.stdout
    assert re.match(words, refused[1]), refused[1]

    apply_job(cluster, namespace, "agent", bad)
    status = wait_for(
        lambda: s if condition(s := job_status(cluster, namespace, "agent"), "Stalled")
        == ("True", reason) else None,
        30, "the version refused",
    )  # fmt: skip
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    # Under restricted, version 1 breaks the level too: no fallback, nothing of either moves.
    fallback = "" if case == "restricted" else "version 2 is not rolled out: "
    assert re.match(fallback + words, stalled["message"]), stalled
    assert condition(status, "Ready") == ("False", reason)
    # Nothing of version 2 was created; version 1 runs on every node, its pods the same ones.
    assert {e["spec"]["jobVersion"] for e in executions(cluster, namespace, "agent").values()} == {
        1
    }
    assert running_versions(cluster, namespace, "agent") == {n: [1] for n in nodes}
    assert set(pods(cluster, namespace, "agent")) == before
    warnings = [e for e in kubectl_json(cluster, "get", "events", "-n", namespace)["items"]
                if e["reason"] == reason]  # fmt: skip
    assert len(warnings) == 1, warnings
    assert warnings[0]["type"] == "Warning"
    assert warnings[0]["involvedObject"]["kind"] == "Job"
    # `kubectl nodewave status --watch` fails at once instead of waiting for its timeout.
    gate = plugin(cluster, "status", "-n", namespace, "agent", "--watch", "--timeout", "20s")
    assert gate.returncode == 1, gate.stdout + gate.stderr


def test_a_refusal_lifted_lets_the_version_roll_out(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """The dry-run is asked again: a ServiceAccount created after the refusal lets the rollout
    start without a new version."""
    nodes = suite_nodes(cluster, SUITE, 2)
    apply_job(cluster, namespace, "agent", spec(no_account(cluster, namespace)))
    wait_for(
        lambda: condition(job_status(cluster, namespace, "agent"), "Stalled")
        == ("True", "PodRefused"),
        30, "the first version refused",
    )  # fmt: skip
    assert executions(cluster, namespace, "agent") == {}
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    wait_for(
        lambda: running_versions(cluster, namespace, "agent") == {n: [1] for n in nodes},
        60, "version 1 running once its ServiceAccount exists",
    )  # fmt: skip
    assert condition(job_status(cluster, namespace, "agent"), "Stalled") == ("False", "AsExpected")


def test_someone_elses_configmap_under_the_versions_name_is_never_replaced(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """Before, the operator deleted any ConfigMap named like a version's and made its own. A
    tenant's is left alone, the version refused saying so; once it is gone, the rollout goes."""
    nodes = suite_nodes(cluster, SUITE, 2)
    name = build_configmap_name("agent", 1)
    cluster.kubectl("create", "configmap", name, "-n", namespace, "--from-literal=mine=yes")
    apply_job(cluster, namespace, "agent", spec(template()))
    wait_for(
        lambda: condition(job_status(cluster, namespace, "agent"), "Stalled")
        == ("True", "ConfigMapConflict"),
        30, "the version refused",
    )  # fmt: skip
    [stalled] = [c for c in job_status(cluster, namespace, "agent")["conditions"]
                 if c["type"] == "Stalled"]  # fmt: skip
    assert f"ConfigMap {name} exists and is not this Job's" in stalled["message"]
    assert executions(cluster, namespace, "agent") == {}
    theirs = kubectl_json(cluster, "get", "configmap", name, "-n", namespace)
    assert theirs["data"] == {"mine": "yes"}
    cluster.kubectl("delete", "configmap", name, "-n", namespace)
    wait_for(
        lambda: running_versions(cluster, namespace, "agent") == {n: [1] for n in nodes},
        60, "version 1 running once the name is free",
    )  # fmt: skip
    ours = kubectl_json(cluster, "get", "configmap", name, "-n", namespace)
    assert ours["metadata"]["ownerReferences"][0]["kind"] == "Job"


def pods_refused(cp: ControlPlane, ns: str) -> tuple[dict[str, Any], str]:
    """The Job's status once it says PodsRefused (PodRefused), and that condition's message."""
    status = wait_for(
        lambda: s if condition(s := job_status(cp, ns, "agent"), "PodsRefused")
        == ("True", "PodRefused") else None,
        30, "PodsRefused at the Job",
    )  # fmt: skip
    return status, next(c["message"] for c in status["conditions"] if c["type"] == "PodsRefused")


def refusals_cleared(cp: ControlPlane, ns: str) -> None:
    wait_for(
        lambda: condition(job_status(cp, ns, "agent"), "PodsRefused") == ("False", "AsExpected"),
        30, "PodsRefused cleared",
    )  # fmt: skip


def test_a_pod_made_under_an_executions_name_is_never_adopted(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """Execution and pod names are deterministic, so whoever may create pods in the namespace
    could make one under an execution's name first. Before, the operator's create met
    AlreadyExists and took that pod for its execution's: its health judged the version, and
    whatever it ran stood for the Job's. Now it is left alone, never read nor deleted, the
    execution Pending saying so; once it is gone the execution's own pod follows."""
    nodes = suite_nodes(cluster, SUITE, 2)
    taken = build_execution_name("agent", 1, nodes[0])
    # Saying what the operator's pods say, so the operator's own watch of pods holds it.
    says = {"annotations": {"nodewave.io/job": "agent", "nodewave.io/node": nodes[0]},
            "labels": {"nodewave.io/job": "agent", "nodewave.io/version": "1",
                       "nodewave.io/wave": "0"}}  # fmt: skip
    theirs = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": taken, **says},
              "spec": {"nodeName": nodes[0], "containers": [container()]}}  # fmt: skip
    apply(cluster, namespace, theirs)
    before = kubectl_json(cluster, "get", "pod", taken, "-n", namespace)["metadata"]
    job = spec(template())
    job["rollout"] = {"strategy": "Immediate"}  # no health deadline while it waits
    apply_job(cluster, namespace, "agent", job)
    _, message = pods_refused(cluster, namespace)
    assert f'a pod named "{taken}" exists and is not this execution\'s' in message, message
    wait_for(
        lambda: (executions(cluster, namespace, "agent")[nodes[1]].get("status") or {})
        .get("observedState") == "Running",
        30, "the other node's execution running",
    )  # fmt: skip
    held = executions(cluster, namespace, "agent")[nodes[0]]["status"]
    assert (held["observedState"], held["error"]["code"]) == ("Pending", "PodRefused")
    assert "nodewave never adopts a pod it did not make" in held["message"]
    now = kubectl_json(cluster, "get", "pod", taken, "-n", namespace)["metadata"]
    assert now["uid"] == before["uid"]
    assert "ownerReferences" not in now
    cluster.kubectl("delete", "pod", taken, "-n", namespace, "--grace-period=0", "--force")
    ours = wait_for(
        lambda: (p := pods(cluster, namespace, "agent").get(taken))
        and p["metadata"].get("ownerReferences") and p,
        60, "the execution's own pod",
    )  # fmt: skip
    assert ours["metadata"]["ownerReferences"][0]["kind"] == "Job"
    refusals_cleared(cluster, namespace)


def test_an_execution_deleted_and_made_again_waits_for_its_old_pod_without_a_refusal(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """Someone deletes an execution (kubectl's background deletion). Its pod is the Job's, so
    no garbage collector removes it: the operator deletes it, as no live execution's own
    (record.select_stale_pods), and makes the execution again under the same name only once
    that pod is gone, with a new incarnation, and its own pod; never a PodRefused, and the
    old pod's status is never read as the new execution's. (The rule for a create that meets
    the old pod all the same is test_pod_record.py's table.)"""
    nodes = suite_nodes(cluster, SUITE, 2)
    job = spec(template())
    job["rollout"] = {"strategy": "Immediate"}
    apply_job(cluster, namespace, "agent", job)
    wait_for(
        lambda: {(e.get("status") or {}).get("observedState")
                 for e in executions(cluster, namespace, "agent").values()} == {"Running"}
        and len(executions(cluster, namespace, "agent")) == 2,
        60, "both executions running",
    )  # fmt: skip
    first = executions(cluster, namespace, "agent")[nodes[0]]
    old = first["metadata"]
    old_pod = pods(cluster, namespace, "agent")[old["name"]]["metadata"]
    assert old_pod["annotations"]["nodewave.io/incarnation"] == first["spec"]["incarnation"]
    # Under --pod-records only its pod stands for it: deleting its record is deleting the pod.
    record = "pod" if is_pod_record(first) else "nwx"
    cluster.kubectl("delete", record, old["name"], "-n", namespace, "--wait=false")

    def running_again() -> bool:
        ex = executions(cluster, namespace, "agent").get(nodes[0])
        pod = pods(cluster, namespace, "agent").get(old["name"])
        return bool(
            ex and (is_pod_record(ex) or ex["metadata"]["uid"] != old["uid"]) and pod
            and pod["metadata"]["uid"] != old_pod["uid"]
            and pod["metadata"]["annotations"]["nodewave.io/incarnation"]
            == ex["spec"]["incarnation"] != first["spec"]["incarnation"]
            and (ex.get("status") or {}).get("observedState") == "Running"
        )  # fmt: skip

    wait_for(running_again, 60, "the execution made again, running its own pod")
    events = kubectl_json(cluster, "get", "events", "-n", namespace)["items"]
    assert not [e for e in events if e.get("reason") == "PodRefused"]
    assert condition(job_status(cluster, namespace, "agent"), "PodsRefused") != (
        "True", "PodRefused"
    )  # fmt: skip


def test_a_quota_used_up_after_the_dry_run_is_said_at_the_execution_and_the_job(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, SUITE, 2)
    # Room for one pod of the two: the dry-run passes, the second real create is refused.
    apply(cluster, namespace, {"apiVersion": "v1", "kind": "ResourceQuota",
                               "metadata": {"name": "pods"}, "spec": {"hard": {"pods": "1"}}})  # fmt: skip
    apply_job(cluster, namespace, "agent", spec(template()))
    status, message = pods_refused(cluster, namespace)
    assert re.search(r"the API server refused the pod of agent-v1-\S+: "
                     r'pods "agent-v1-\S+" is forbidden: exceeded quota: pods', message), message  # fmt: skip
    assert condition(status, "Stalled") != ("True", "PodRefused")  # the version was admitted
    refused = [e for e in executions(cluster, namespace, "agent").values()
               if (e.get("status") or {}).get("error", {}).get("code") == "PodRefused"]  # fmt: skip
    assert len(refused) == 1
    assert refused[0]["status"]["observedState"] == "Pending"
    assert "exceeded quota: pods" in refused[0]["status"]["message"]
    assert len(pods(cluster, namespace, "agent")) == 1
    # The quota raised, the pod follows and the Job says the refusal is over.
    cluster.kubectl("patch", "resourcequota", "pods", "-n", namespace, "--type=merge",
                    "-p", '{"spec": {"hard": {"pods": "5"}}}')  # fmt: skip
    wait_for(
        lambda: running_versions(cluster, namespace, "agent") == {n: [1] for n in nodes},
        60, "both executions running",
    )  # fmt: skip
    refusals_cleared(cluster, namespace)
