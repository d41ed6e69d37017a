"""A tenant tries to borrow the operator's rights, on the real control plane with the chart's
roles and admission policy installed. Each tenant is a ServiceAccount in its own namespace,
authenticated by a token (RBAC checked exactly as for a person), bound to the chart's roles:

- `author`: the chart's `<release>-edit` and the built-in `edit` (may create pods there);
- `nopods`: `<release>-edit` alone (may write Jobs, may not create pods);
- `steerer`: `<release>-rollout-operator` (promote, pause, abort; no spec);
- `maintainer`: as `author`, and `<release>-node-maintainer`.

Each attack is refused at `kubectl apply` with a message naming the missing permission, or by
the operator with a condition, and nothing is created. docs/security.md lists them."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.integration.helm import CHART, helm
from tests.integration.jobs import (
    IMAGE,
    add_nodes,
    allow_maintenance,
    condition,
    executions,
    job_status,
    plugin,
    pods,
    template,
)

RELEASE, HOME, TENANT = "tenancy", "tenancy-system", "tenancy-a"
ROLES = {
    "author": [f"{RELEASE}-edit", "edit"],
    "nopods": [f"{RELEASE}-edit"],
    "steerer": [f"{RELEASE}-rollout-operator"],
    "maintainer": [f"{RELEASE}-edit", "edit", f"{RELEASE}-node-maintainer"],
}
POLICY = f"ValidatingAdmissionPolicy '{RELEASE}-tenant-grants'"
MARKS = f"ValidatingAdmissionPolicy '{RELEASE}-operator-marks'"


@dataclass
class Tenants:
    cluster: ControlPlane
    configs: dict[str, Path]

    def kubectl(
        self, who: str, *args: str, body: object = None
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(
            "--kubeconfig", str(self.configs[who]), *args,
            input=None if body is None else yaml.safe_dump(body), check=False,
        )  # fmt: skip

    def apply(
        self, who: str, name: str, spec: dict[str, object]
    ) -> subprocess.CompletedProcess[str]:
        job = {"apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
               "metadata": {"name": name, "namespace": TENANT}, "spec": spec}  # fmt: skip
        return self.kubectl(who, "apply", "-f", "-", body=job)

    def patch(self, who: str, name: str, patch: object) -> subprocess.CompletedProcess[str]:
        return self.kubectl(
            who, "patch", "nwj", name, "-n", TENANT, "--type=merge", "-p", json.dumps(patch)
        )


def refused(run: subprocess.CompletedProcess[str], *words: str, policy: str = POLICY) -> None:
    assert run.returncode != 0, f"allowed: {run.stdout}"
    assert policy in run.stderr, run.stderr
    for w in words:
        assert w in run.stderr, run.stderr


def agent(image: str = IMAGE) -> dict[str, Any]:
    pod = template()
    pod["spec"]["containers"][0]["image"] = image
    return {"type": "Pipeline", "selector": {"matchLabels": {"suite": "tenancy"}},
            "template": pod, "rollout": {"strategy": "Immediate"}}  # fmt: skip


@pytest.fixture(scope="module")
def tenants(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    for ns in (HOME, TENANT):
        cluster.kubectl("create", "namespace", ns)
    done = helm(cluster, "install", RELEASE, str(CHART), "--namespace", HOME)
    assert done.returncode == 0, done.stdout + done.stderr
    configs = {}
    tmp = tmp_path_factory.mktemp("tenants")
    for who, roles in ROLES.items():
        cluster.kubectl("create", "serviceaccount", who, "-n", TENANT)
        for role in roles:
            cluster.kubectl("create", "rolebinding", f"{who}-{role}", "-n", TENANT,
                            f"--clusterrole={role}", f"--serviceaccount={TENANT}:{who}")  # fmt: skip
        configs[who] = cluster.write_service_account_kubeconfig(TENANT, who, tmp / f"{who}.conf")
    t = Tenants(cluster, configs)
    # The API server compiles a new policy within a second or so (longer under load): until
    # then it admits. A new name each try: an apply of an object that exists unchanged sends
    # nothing, so a probe admitted once would never be refused (seen in CI).
    probes = itertools.count()
    wait_for(lambda: POLICY in t.apply("nopods", f"probe-{next(probes)}", agent()).stderr, 60,
             "the policy active")  # fmt: skip
    try:
        yield t
    finally:
        helm(cluster, "uninstall", RELEASE, "--namespace", HOME)
        for ns in (HOME, TENANT):
            cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_a_job_grants_no_pods_to_someone_who_could_not_create_them(
    tenants: Tenants, cluster: ControlPlane
) -> None:
    refused(tenants.apply("nopods", "agent", agent()),
            f"system:serviceaccount:{TENANT}:nopods may not create pods in namespace {TENANT}")  # fmt: skip
    assert tenants.kubectl("author", "get", "nwj", "agent", "-n", TENANT).returncode == 1
    # `kubectl nodewave plan` shows the same refusal before apply (its server-side dry run).
    path = tenants.configs["nopods"].parent / "agent.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
                                    "metadata": {"name": "agent"}, "spec": agent()}))  # fmt: skip
    env = {**os.environ, **cluster.env(), "KUBECONFIG": str(tenants.configs["nopods"])}
    plan = plugin(cluster, "plan", "-f", str(path), "-n", TENANT, env=env)
    assert plan.returncode == 255, plan.stdout  # an error, not "changes" (1)
    assert "the API server refuses the manifest" in plan.stderr, plan.stderr
    assert "may not create pods" in plan.stderr, plan.stderr
    # The same Job from someone who may create pods is admitted.
    assert tenants.apply("author", "agent", agent()).returncode == 0


def test_the_rollout_operator_steers_but_cannot_rewrite_what_runs(tenants: Tenants) -> None:
    assert tenants.apply("author", "steered", agent()).returncode == 0
    assert (
        tenants.patch("steerer", "steered", {"spec": {"rollout": {"paused": True}}}).returncode == 0
    )
    promote = {"metadata": {"annotations": {"nodewave.io/promote": "1"}}}
    assert tenants.patch("steerer", "steered", promote).returncode == 0
    for change in (
        {"template": agent("registry.example/miner:1")["template"]},
        {"selector": {"matchLabels": {"pool": "gpu"}}},
        {"rollout": {"paused": False, "maxFailedNodes": 100}},
        {"priority": 1_000_000_000},
    ):
        refused(tenants.patch("steerer", "steered", {"spec": change}),
                "may pause and resume Job steered", "update on jobs.nodewave.io/spec",
                f"the ClusterRole {RELEASE}-edit grants it")  # fmt: skip
    spec = kubectl_json(tenants.cluster, "get", "nwj", "steered", "-n", TENANT)["spec"]
    assert spec["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert spec["rollout"]["paused"] is True
    # The author (jobs/spec) may.
    assert tenants.patch("author", "steered", {"spec": {"priority": 5}}).returncode == 0


def test_cordon_and_drain_need_the_grant_and_the_namespace_label(
    tenants: Tenants, cluster: ControlPlane, operator: OperatorProcess
) -> None:
    update = {**agent(), "type": "Update", "rollout": {"strategy": "Immediate"},
              "nodeMaintenance": {"cordon": True, "drain": {"enabled": True, "force": True}}}  # fmt: skip
    refused(tenants.apply("author", "drain", update),
            f"system:serviceaccount:{TENANT}:author needs the verb maintain on "
            f"jobs.nodewave.io/nodes in namespace {TENANT}", f"{RELEASE}-node-maintainer")  # fmt: skip
    refused(tenants.apply("maintainer", "drain", update),
            f"which namespace {TENANT} may not ask for",
            "a cluster admin labels it nodewave.io/node-maintenance=allowed")  # fmt: skip
    # The label is the cluster admin's: a tenant may not set it.
    label = tenants.kubectl(
        "maintainer", "label", "namespace", TENANT, "nodewave.io/node-maintenance=allowed"
    )
    assert label.returncode != 0
    assert "forbidden" in label.stderr, label.stderr
    allow_maintenance(cluster, TENANT)
    nodes = add_nodes(cluster, "tenancy-drain", 2, suite="tenancy")
    assert tenants.apply("maintainer", "drain", update).returncode == 0

    def completed() -> set[str]:
        return {n for n, e in executions(cluster, TENANT, "drain").items()
                if e.get("status", {}).get("observedState") == "Completed"}  # fmt: skip

    wait_for(lambda: completed() >= set(nodes), 60, "the update run, each node cordoned")


def test_host_access_is_refused_where_the_api_server_would_admit_it(
    tenants: Tenants, cluster: ControlPlane, operator: OperatorProcess
) -> None:
    """The tenant's namespace enforces no Pod Security (as many clusters): the API server
    would admit a privileged pod from `author`, and nodewave refuses the version."""
    add_nodes(cluster, "tenancy-host", 1, suite="tenancy")
    root = agent()
    root["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    root["template"]["spec"]["hostPID"] = True
    assert tenants.apply("author", "root", root).returncode == 0
    assert wait_for(lambda: condition(job_status(cluster, TENANT, "root"), "Stalled"), 30,
                    "the version refused") == ("True", "PodSecurityViolation")  # fmt: skip
    [stalled] = [
        c for c in job_status(cluster, TENANT, "root")["conditions"] if c["type"] == "Stalled"
    ]
    assert "spec.hostPID" in stalled["message"]
    assert "privileged" in stalled["message"]
    assert executions(cluster, TENANT, "root") == {}


def test_only_the_operator_marks_a_pod_as_an_executions(
    tenants: Tenants, cluster: ControlPlane, operator: OperatorProcess
) -> None:
    """A pod is the operator's record of an execution (its owner, its nodewave.io/ labels and
    annotations). A tenant who may create and patch pods may neither make one that claims to
    be an execution's (its rollout would be judged by it) nor relabel the operator's."""
    add_nodes(cluster, "tenancy-marks", 1, suite="tenancy")
    assert tenants.apply("author", "marked", agent()).returncode == 0
    theirs = wait_for(lambda: pods(cluster, TENANT, "marked"), 60, "the operator's pods")
    real = next(iter(theirs.values()))
    name, owner = real["metadata"]["name"], real["metadata"]["ownerReferences"][0]
    forged = itertools.count()

    def create(**meta: object) -> subprocess.CompletedProcess[str]:
        body = {"apiVersion": "v1", "kind": "Pod", "spec": template()["spec"],
                "metadata": {"name": f"forged-{next(forged)}", "namespace": TENANT, **meta}}  # fmt: skip
        return tenants.kubectl("author", "create", "-f", "-", body=body)

    # The second policy of the same install compiles on its own time, as the first did.
    who = f"system:serviceaccount:{TENANT}:author may not create pod"
    run = wait_for(lambda: (r := create(ownerReferences=[owner])).returncode and r, 60,
                   "the pod policy active")  # fmt: skip
    assert owner["kind"] == "Job"  # the Job controls its executions' pods
    refused(run, who, "owner references to Job marked", policy=MARKS)
    # As an earlier release made them: controlled by the execution.
    legacy = {**owner, "kind": "Execution", "name": name}
    refused(create(ownerReferences=[legacy]), who, f"owner references to Execution {name}",
            policy=MARKS)  # fmt: skip
    # The API server takes any apiVersion in a reference: the group however written, or any
    # group for a kind named Execution.
    for ref in ({**owner, "apiVersion": "Nodewave.io/v1alpha1"},
                {**legacy, "apiVersion": "x.example/v1"}):  # fmt: skip
        refused(create(ownerReferences=[ref]), who, policy=MARKS)
    refused(create(labels={"nodewave.io/job": "marked", "app": "x"}), who,
            "labels nodewave.io/job as they are", policy=MARKS)  # fmt: skip
    refused(create(annotations={"nodewave.io/node": "node-0"}), who, policy=MARKS)
    # The operator's pod: its marks stay as the operator wrote them.
    change = f"system:serviceaccount:{TENANT}:author may not change pod {name}"
    for args in (["label", "pod", name, "nodewave.io/wave=9", "--overwrite"],
                 ["label", "pod", name, "nodewave.io/wave-"],
                 ["annotate", "pod", name, "nodewave.io/extra=1"],
                 ["annotate", "pod", name, "nodewave.io/incarnation=forged", "--overwrite"]):  # fmt: skip
        refused(tenants.kubectl("author", *args, "-n", TENANT), change, policy=MARKS)
    for refs in ([{**owner, "uid": "0" * 36}], [{**owner, "apiVersion": "x.example/v1"}], None):
        patch = json.dumps({"metadata": {"ownerReferences": refs}})  # None: removed
        forge = ["patch", "pod", name, "-n", TENANT, "--type=merge", "-p", patch]
        refused(tenants.kubectl("author", *forge), change, policy=MARKS)
    # Nor what it runs (the pod API lets an image change in place).
    image = ["set", "image", f"pod/{name}", f"main={IMAGE}-evil", "-n", TENANT]
    refused(tenants.kubectl("author", *image), change, "its spec is the operator's", policy=MARKS)
    after = kubectl_json(cluster, "get", "pod", name, "-n", TENANT)
    assert (after["metadata"]["labels"], after["metadata"]["ownerReferences"]) == (
        real["metadata"]["labels"], real["metadata"]["ownerReferences"])  # fmt: skip
    assert after["spec"]["containers"][0]["image"] == IMAGE
    # Nothing else of pods is taken from the tenant: their own keys, their own pods.
    assert tenants.kubectl("author", "label", "pod", name, "-n", TENANT, "team=a").returncode == 0
    plain = create(labels={"app": "x", "notifications.nodewave.io/x": "on-call"})
    assert plain.returncode == 0, plain.stderr
    # `plan` dry-runs a new version's pod as the user without the marks: no false refusal.
    # (It also reads the nodes and the namespace, which the built-in edit role does not grant.)
    cluster.kubectl("create", "clusterrole", "tenancy-plan", "--verb=get,list",
                    "--resource=nodes,namespaces")  # fmt: skip
    cluster.kubectl("create", "clusterrolebinding", "tenancy-plan", "--clusterrole=tenancy-plan",
                    f"--serviceaccount={TENANT}:author")  # fmt: skip
    path = tenants.configs["author"].parent / "marked.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
                                    "metadata": {"name": "marked"}, "spec": agent(f"{IMAGE}-2")}))  # fmt: skip
    env = {**os.environ, **cluster.env(), "KUBECONFIG": str(tenants.configs["author"])}
    plan = plugin(cluster, "plan", "-f", str(path), "-n", TENANT, env=env)
    assert plan.returncode == 1, plan.stdout + plan.stderr  # 1: a new version would start
    assert "+ version 2" in plan.stdout, plan.stdout
    assert "refuse" not in plan.stdout + plan.stderr, plan.stdout + plan.stderr
