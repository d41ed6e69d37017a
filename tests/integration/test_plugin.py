"""`kubectl nodewave`, found by kubectl on PATH, driven against a live canary rollout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import yaml

import nodewave
from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.forward_proxy import ForwardProxy
from tests.integration.helm import CHART, helm
from tests.integration.jobs import (
    LEFT_STOPPED,
    add_nodes,
    apply_job,
    condition,
    job_events,
    job_status,
    listed_executions,
    ok,
    phase,
    plugin,
    rolling_job,
    running_versions,
    settle_v1,
    states,
    suite_nodes,
)


def test_plugin_drives_a_canary(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes = add_nodes(cluster, "plugin", 3)
    ns = ("-n", namespace)
    canary = {"strategy": "Canary", "canaryCount": 1, "autoPromote": False, "maxParallel": 50}
    settle_v1(cluster, namespace, "web", rolling_job("plugin", "1", canary), nodes)
    apply_job(cluster, namespace, "web", rolling_job("plugin", "2", canary))
    wait_for(
        lambda: phase(cluster, namespace, "web") == "AwaitingPromotion", 60, "awaiting promotion"
    )

    out = ok(cluster, "status", "web", *ns)
    assert "AwaitingPromotion version 2 wave 1/" in out
    assert "wave   1 [####################] 1/1" in out
    # A canary awaiting promotion: --watch waits for a person (here until its timeout, exit 2),
    # or ends there with --until-paused; a CI log gets plain lines, no terminal codes.
    waiting = plugin(cluster, "status", "web", "--watch", "--timeout", "2s", *ns)
    assert waiting.returncode == 2, waiting.stderr
    assert "error: timed out after 2s: AwaitingPromotion" in waiting.stderr
    assert "\x1b" not in waiting.stdout
    assert "AwaitingPromotion: canary validated" in waiting.stdout.splitlines()[0]
    paused = plugin(cluster, "status", "web", "--watch", "--until-paused", *ns)
    assert paused.returncode == 0, paused.stderr
    assert "job.nodewave.io/web: paused, waiting for a person" in paused.stdout
    assert "promoted" in ok(cluster, "promote", "web", *ns)
    wait_for(lambda: phase(cluster, namespace, "web") == "Completed", 60, "completed after promote")

    history = ok(cluster, "history", "web", *ns).splitlines()
    assert history[1].split()[0] == "1"
    assert "current stable" in history[2]
    rows = ok(
        cluster, "executions", "--job", "web", "--version", "2", "--state", "Running", *ns
    ).splitlines()[1:]
    assert len(rows) == 3
    assert all(r.split()[-2:] == ["Running", "0"] for r in rows)  # observed state, restarts
    assert (
        len(
            ok(
                cluster, "executions", "--job", "web", "--version", "2", "--wave", "1", *ns
            ).splitlines()[1:]
        )
        == 1
    )
    on_node = ok(cluster, "executions", "--node", nodes[0], *ns).splitlines()[1:]
    assert len(on_node) == (2 if LEFT_STOPPED else 1)  # v2, and v1 stopped (under pod records gone)
    stats = dict(line.split() for line in ok(cluster, "stats", "--job", "web", *ns).splitlines())
    assert stats["Running"] == "3"
    assert stats["Stopped"] == ("3" if LEFT_STOPPED else "0")

    name = build_execution_name("web", 2, nodes[0])
    assert "cancelled" in ok(cluster, "cancel", name, *ns)
    wait_for(
        lambda: (
            states(cluster, namespace, "web").get(nodes[0]) == "Stopped"
            or any(
                e["metadata"]["name"] == name
                and e.get("status", {}).get("observedState") == "Stopped"
                for e in listed_executions(cluster, namespace, "web")
            )
        ),
        20,
        "cancelled execution Stopped",
    )
    assert "retried" in ok(cluster, "retry", name, *ns)
    wait_for(
        lambda: any(
            e["metadata"]["name"] == name and e.get("status", {}).get("observedState") == "Running"
            for e in listed_executions(cluster, namespace, "web")
        ),
        30,
        "retried execution Running",
    )

    ok(cluster, "pause", "web", *ns)
    assert (
        kubectl_json(cluster, "get", "nwj", "-n", namespace, "web")["spec"]["rollout"]["paused"]
        is True
    )
    ok(cluster, "resume", "web", *ns)
    assert "rolled back to version 1" in ok(cluster, "rollback", "web", "--to-version", "1", *ns)
    # Past every pause (a canary's, rollout.steps'), its waves kept: a decision already made.
    web = kubectl_json(cluster, "get", "nwj", "-n", namespace, "web")
    assert web["metadata"]["annotations"]["nodewave.io/promote"] == "1:all"
    wait_for(
        lambda: job_status(cluster, namespace, "web").get("currentVersion") == 1,
        20,
        "spec back at version 1",
    )
    wait_for(
        lambda: running_versions(cluster, namespace, "web") == {n: [1] for n in nodes},
        60,
        "every node on version 1 again",
    )

    missing = plugin(cluster, "status", "nope", *ns)
    assert missing.returncode == 1
    assert 'Job "nope" in namespace' in missing.stderr
    assert "not found" in missing.stderr
    bad_state = plugin(cluster, "executions", "--state", "Sleeping", *ns)
    assert bad_state.returncode == 2
    assert "invalid choice: 'Sleeping'" in bad_state.stderr
    nowhere = tmp_path / "kubeconfig"
    nowhere.write_text(
        (cluster.kubeconfig.read_text()).replace(cluster.server, "https://127.0.0.1:1")
    )
    no_cluster = plugin(
        cluster, "status", "web", *ns, env={**cluster.env(), "KUBECONFIG": str(nowhere)}
    )
    assert no_cluster.returncode == 1
    assert "no cluster" in no_cluster.stderr
    assert "Traceback" not in no_cluster.stderr + missing.stderr
    assert os.environ.get("PATH")  # kubectl found the plugin on PATH


def test_status_watch_is_a_ci_gate(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """`kubectl apply && kubectl nodewave status --watch`: exit 0 only once the new version is
    rolled out, 1 when it rolled back; -n defaults to the kubeconfig context's namespace."""
    nodes = add_nodes(cluster, "gate", 2)
    rolling = {"strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 0}
    settle_v1(cluster, namespace, "gate", rolling_job("gate", "1", rolling), nodes)
    context_ns = tmp_path / "kubeconfig"
    context_ns.write_text(cluster.kubeconfig.read_text())
    env = {**cluster.env(), "KUBECONFIG": str(context_ns)}
    subprocess.run(
        ["kubectl", "config", "set-context", "--current", f"--namespace={namespace}"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip

    apply_job(cluster, namespace, "gate", rolling_job("gate", "2", rolling))
    done = plugin(cluster, "status", "gate", "--watch", "--timeout", "2m", env=env)
    assert done.returncode == 0, done.stderr
    assert phase(cluster, namespace, "gate") == "Completed", "not before the rollout ended"
    assert done.stdout.splitlines()[-1].startswith("job.nodewave.io/gate: version 2 rolled out")

    # Version 3 never gets ready. It is applied paused, so the watch has a state to show
    # before the rollout runs (a failure takes seconds, a loaded machine's plugin start too),
    # then resumed: the gate prints a line per change and exits 1 at the rollback.
    bad = rolling_job("gate", "3", {**rolling, "paused": True}, {"fake.nodewave.io/ready": "false"})
    apply_job(cluster, namespace, "gate", bad)
    wait_for(lambda: phase(cluster, namespace, "gate", 3) == "Paused", 30, "version 3 paused")
    watching = subprocess.Popen(["kubectl", "nodewave", "status", "gate", "--watch", "--timeout",
                                 "2m"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    assert watching.stdout is not None
    first = watching.stdout.readline()
    assert "Paused" in first, first
    cluster.kubectl("patch", "nwj", "gate", "-n", namespace, "--type=merge",
                    "-p", '{"spec":{"rollout":{"paused":false}}}')  # fmt: skip
    rest, errors = watching.communicate(timeout=120)
    assert watching.returncode == 1, first + rest + errors
    assert "error: job.nodewave.io/gate failed: RolledBack: rolled back to version 2" in errors
    assert phase(cluster, namespace, "gate", 3) == "RolledBack"
    assert rest.strip(), "a line for each change after the pause, not just the end"


def test_plan_shows_what_an_apply_would_do_and_the_rollout_does_it(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """`kubectl nodewave plan -f`: exit 1 and the waves for a new Job, which are then the
    waves the rollout runs; exit 0 once applied and settled; the diff of a changed image; exit
    255 with the API server's message for a manifest it refuses."""
    nodes = suite_nodes(cluster, "plan", 5)
    rollout = {"strategy": "Canary", "canaryCount": 1, "maxParallel": 40, "autoPromote": True}
    manifest = tmp_path / "job.yaml"

    def write(tag: str, **rollout_extra: object) -> None:
        spec = rolling_job("plan", tag, {**rollout, **rollout_extra})
        manifest.write_text(yaml.safe_dump({
            "apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
            "metadata": {"name": "planned"}, "spec": spec}))  # fmt: skip

    write("1")
    new = plugin(cluster, "plan", "-f", str(manifest), "-n", namespace)
    assert new.returncode == 1, new.stderr
    assert "+ version 1 (new, the Job's first)" in new.stdout
    assert "+ Canary rollout: 5 nodes in 3 waves" in new.stdout
    planned = re.findall(r"wave \d+(?: \(canary\))?: \d+ nodes: (.*)", new.stdout)
    assert kubectl_json(cluster, "get", "nwj", "-n", namespace)["items"] == [], "nothing applied"

    cluster.kubectl("apply", "-n", namespace, "-f", str(manifest))
    wait_for(lambda: phase(cluster, namespace, "planned", 1) == "Completed", 90, "rolled out")
    ran: dict[int, list[str]] = {}
    for e in listed_executions(cluster, namespace, "planned"):
        ran.setdefault(e["spec"]["rolloutWave"], []).append(e["spec"]["nodeName"])
    assert [sorted(w.split(", ")) for w in planned] == [sorted(ran[w]) for w in sorted(ran)]
    assert sorted(n for w in ran.values() for n in w) == nodes

    same = plugin(cluster, "plan", "-f", str(manifest), "-n", namespace)
    assert (same.returncode, "no changes" in same.stdout) == (0, True), same.stdout
    write("2")
    changed = plugin(cluster, "plan", "-f", str(manifest), "-n", namespace)
    assert changed.returncode == 1
    assert ("~ template.spec.containers[0].image: 'registry.example/agent:1' → "
            "'registry.example/agent:2'") in changed.stdout  # fmt: skip
    write("2", domainOrder=["zone-b"])  # without a topologyKey: refused by CEL
    refused = plugin(cluster, "plan", "-f", str(manifest), "-n", namespace)
    assert refused.returncode == 255
    assert "domainOrder needs topologyKey" in refused.stderr


def test_promote_full_rolls_every_remaining_node_in_one_wave(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """A canary of 1 then waves of 2 on 6 nodes would take 4 waves; `promote --full` at the
    canary makes it 2: the canary, then the 5 others together, health-checked as always."""
    nodes = suite_nodes(cluster, "full", 6)
    canary = {"strategy": "Canary", "canaryCount": 1, "maxParallel": 20}
    settle_v1(cluster, namespace, "app", rolling_job("full", "1", canary), nodes)
    apply_job(cluster, namespace, "app", rolling_job("full", "2", canary))
    wait_for(lambda: phase(cluster, namespace, "app") == "AwaitingPromotion", 60, "the canary")
    assert job_status(cluster, namespace, "app")["rollout"]["totalWaves"] == 4
    out = ok(cluster, "promote", "app", "--full", "-n", namespace)
    assert "version 2 promoted: every remaining node in one wave" in out
    wait_for(lambda: phase(cluster, namespace, "app") == "Completed", 60, "completed")
    rollout = job_status(cluster, namespace, "app")["rollout"]
    assert (rollout["wave"], rollout["totalWaves"]) == (2, 2)
    waves: dict[int, int] = {}
    for e in listed_executions(cluster, namespace, "app", 2):
        waves[e["spec"]["rolloutWave"]] = waves.get(e["spec"]["rolloutWave"], 0) + 1
    assert waves == {1: 1, 2: 5}


def _rollout_operator(cluster: ControlPlane, namespace: str, tmp_path: Path) -> Path:
    """A kubeconfig for a ServiceAccount bound (RoleBinding) to the chart's rollout-operator
    ClusterRole in `namespace`, and nothing else: what the README tells a team to grant."""
    # A release name of its own: the chart installed by other tests must not meet this role.
    rendered = helm(cluster, "template", "plugin", str(CHART), "--kube-version", "1.34.0",
                    "--show-only", "templates/rollout-operator-role.yaml")  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    cluster.kubectl("apply", "-f", "-", input=rendered.stdout)
    cluster.kubectl("create", "serviceaccount", "steward", "-n", namespace)
    cluster.kubectl("create", "rolebinding", "steward", "-n", namespace,
                    "--clusterrole=plugin-rollout-operator",
                    f"--serviceaccount={namespace}:steward")  # fmt: skip
    return cluster.write_service_account_kubeconfig(namespace, "steward", tmp_path / "steward")


def test_abort_returns_every_node_and_leaves_the_spec_as_applied(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """A canary of version 2 aborted by someone holding only the rollout-operator role: the
    canary node goes back to version 1, the Job is Stalled (RolloutAborted) and the CI gate
    fails, while the live spec still equals the applied file (`kubectl diff` finds nothing,
    as Argo CD would find the Job in sync). The abort survives a restart of the operator;
    `retry JOB` rolls version 2 out again, and a new version in Git is not aborted."""
    nodes = suite_nodes(cluster, "abort", 4)
    canary = {"strategy": "Canary", "canaryCount": 1, "maxParallel": 50}
    settle_v1(cluster, namespace, "edge", rolling_job("abort", "1", canary), nodes)
    manifest = tmp_path / "edge.yaml"

    def apply_file(tag: str) -> None:
        manifest.write_text(yaml.safe_dump({
            "apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
            "metadata": {"name": "edge", "namespace": namespace},
            "spec": rolling_job("abort", tag, canary),
        }))  # fmt: skip
        cluster.kubectl("apply", "-f", str(manifest))

    apply_file("2")
    wait_for(lambda: phase(cluster, namespace, "edge") == "AwaitingPromotion", 60, "the canary")
    steward = ("--kubeconfig", str(_rollout_operator(cluster, namespace, tmp_path)),
               "-n", namespace)  # fmt: skip
    out = ok(cluster, "abort", "edge", *steward)
    assert "version 2 aborted: every node returns to version 1 in waves" in out
    wait_for(
        lambda: (
            "every node back" in job_status(cluster, namespace, "edge")["rollout"]["message"]
            and running_versions(cluster, namespace, "edge") == {n: [1] for n in nodes}
        ),
        60,
        "every node back on version 1",
    )
    status = job_status(cluster, namespace, "edge")
    assert (status["rollout"]["phase"], status["stableVersion"]) == ("Aborted", 1)
    assert condition(status, "Stalled") == ("True", "RolloutAborted")
    assert condition(status, "Degraded") == ("True", "RolloutAborted")
    events = job_events(cluster, namespace)
    assert {"RolloutAborted", "AbortComplete"} <= set(events)
    drift = cluster.kubectl("diff", "-f", str(manifest), check=False)
    assert drift.returncode == 0, "the live Job drifted from its file:\n" + drift.stdout
    gate = plugin(cluster, "status", "edge", "--watch", "--timeout", "20s", "-n", namespace)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "RolloutAborted" in gate.stderr
    assert "already" in ok(cluster, "abort", "edge", *steward)

    operator.stop()
    operator.start()
    operator.wait_started()
    time.sleep(3)  # passes of the new process over the Job
    assert phase(cluster, namespace, "edge") == "Aborted"
    assert running_versions(cluster, namespace, "edge") == {n: [1] for n in nodes}

    out = ok(cluster, "retry", "edge", *steward)
    assert "version 2 rolls out again from version 1" in out
    wait_for(lambda: phase(cluster, namespace, "edge") == "AwaitingPromotion", 60, "canary again")
    assert "RolloutRetried" in job_events(cluster, namespace)
    ok(cluster, "abort", "edge", *steward)
    wait_for(lambda: phase(cluster, namespace, "edge") == "Aborted", 30, "aborted again")
    apply_file("3")  # the fix, in Git: rolls out, the abort named version 2's rollout
    wait_for(lambda: phase(cluster, namespace, "edge", 3) == "AwaitingPromotion", 60, "v3 canary")
    for command in (("history", "edge"), ("executions", "--job", "edge"), ("promote", "edge")):
        ok(cluster, *command, *steward)  # the role covers the other commands too
    forbidden = cluster.kubectl("--kubeconfig", steward[1], "patch", "nwj", "edge", "-n",
                                namespace, "--subresource=status", "--type=merge", "-p",
                                '{"status":{}}', check=False)  # fmt: skip
    assert "forbidden" in forbidden.stderr


def test_restart_recreates_every_execution_in_waves_when_its_time_comes(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    """`restart --in 12s` on 4 nodes with waves of 2: Scheduled first, then two waves of new
    executions (and pods), the second created only once the first passed its windows; the
    version and the spec unchanged."""
    nodes = suite_nodes(cluster, "restart", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    settle_v1(cluster, namespace, "agent", rolling_job("restart", "1", rolling), nodes)
    before = {e["spec"]["incarnation"] for e in listed_executions(cluster, namespace, "agent")}
    spec = kubectl_json(cluster, "get", "nwj", "-n", namespace, "agent")["spec"]
    # 12 s: time for the status and the plugin to show it Scheduled on a loaded machine (at
    # 4 s the restart had begun before the plugin's answer, under four test workers).
    out = ok(cluster, "restart", "agent", "--in", "12s", "-n", namespace)
    assert re.search(r"restarts at \d{4}-\d\d-\d\dT[\d:]+Z: every execution", out), out
    scheduled = wait_for(
        lambda: (r := job_status(cluster, namespace, "agent").get("restart")) and r, 10, "seen"
    )
    assert scheduled["phase"] == "Scheduled"
    assert scheduled["message"].startswith("scheduled for ")
    assert "Restart:    Scheduled" in ok(cluster, "status", "agent", "-n", namespace)
    done = wait_for(
        lambda: (
            r
            if (r := job_status(cluster, namespace, "agent")["restart"])["phase"] == "Completed"
            else None
        ),
        90,
        "restart completed",
    )
    assert (done["wave"], done["restartedNodes"], done["message"]) == (2, 4, "restarted 4 nodes")
    execs = listed_executions(cluster, namespace, "agent")
    assert not before & {e["spec"]["incarnation"] for e in execs}, "every execution is new"
    assert running_versions(cluster, namespace, "agent") == {n: [1] for n in nodes}
    created = sorted(datetime.fromisoformat(e["metadata"]["creationTimestamp"]) for e in execs)
    assert created[0] >= datetime.fromisoformat(done["requestedAt"])
    assert created[1] < created[2], "the second wave after the first (windows of 2 s)"
    events = job_events(cluster, namespace)
    assert {"RestartRequested", "RestartStarted", "RestartComplete"} <= set(events)
    after = kubectl_json(cluster, "get", "nwj", "-n", namespace, "agent")
    assert after["spec"] == spec
    assert after["status"]["currentVersion"] == after["status"]["stableVersion"] == 1


def test_version_names_the_plugins_and_the_leading_operators(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """The leader writes its version on its Lease; the plugin finds it in any namespace, or in
    the one named; someone who may not read Leases gets the plugin's and why not the other."""
    running = f"operator {nodewave.__version__}"
    wait_for(lambda: running in ok(cluster, "version"), 30, "the leader's version")
    out = ok(cluster, "version").splitlines()
    assert out[0] == f"kubectl-nodewave {nodewave.__version__}"
    lease = kubectl_json(cluster, "get", "lease", "-n", "default", "nodewave-operator")
    holder = lease["spec"]["holderIdentity"]
    assert (
        f"operator {nodewave.__version__}: leader {holder} (Lease default/nodewave-operator"
        in out[1]
    )
    assert running in ok(cluster, "version", "--operator-namespace", "default")
    elsewhere = ok(cluster, "version", "--operator-namespace", namespace)
    assert "operator: no Lease nodewave-operator found" in elsewhere
    # The version counts only while its writer holds the Lease: an older leader (one that
    # writes no version) keeps the annotation a newer one left.
    for written, shown in (("0.0.9 former", "operator unknown: leader current"),
                           ("0.0.9 current", "operator 0.0.9: leader current")):  # fmt: skip
        lease = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "nodewave-operator", "namespace": namespace,
                         "annotations": {"nodewave.io/operator-version": written}},
            "spec": {"holderIdentity": "current"},
        }  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(lease))
        assert shown in ok(cluster, "version", "--operator-namespace", namespace)
    steward = ("--kubeconfig", str(_rollout_operator(cluster, namespace, tmp_path)))
    denied = ok(cluster, "version", *steward).splitlines()
    assert denied[0] == f"kubectl-nodewave {nodewave.__version__}"
    assert denied[1].startswith("operator: unknown (cannot read its Lease in any namespace:")
    assert "forbidden" in denied[1]


def test_the_plugin_reaches_the_api_server_through_the_kubeconfigs_proxy(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """A cluster reached only through a proxy (proxy-url in the kubeconfig, as a corporate
    network or a bastion needs): the plugin's requests go through it, tunnelled (CONNECT)."""
    proxy = ForwardProxy()
    try:
        config = yaml.safe_load(cluster.kubeconfig.read_text())
        for entry in config["clusters"]:
            entry["cluster"]["proxy-url"] = proxy.url
        proxied = tmp_path / "kubeconfig"
        proxied.write_text(yaml.safe_dump(config))
        env = {**cluster.env(), "KUBECONFIG": str(proxied)}
        apply_job(cluster, namespace, "web", rolling_job("px", "1", {"strategy": "Immediate"}))
        done = plugin(cluster, "status", "web", "-n", namespace, env=env)
        assert done.returncode == 0, done.stderr
        assert f"Job:        {namespace}/web (Pipeline, Immediate)" in done.stdout
        server = cluster.server.removeprefix("https://")
        assert proxy.seen[f"CONNECT {server}"] >= 1, proxy.seen
        assert set(proxy.seen) == {f"CONNECT {server}"}
    finally:
        proxy.close()


def test_every_read_command_prints_json_or_yaml_and_get_draws_the_tree(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, "docs", 2)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    settle_v1(cluster, namespace, "web", rolling_job("docs", "1", rolling), nodes)
    apply_job(cluster, namespace, "web", rolling_job("docs", "2", rolling))
    wait_for(lambda: phase(cluster, namespace, "web", 2) == "Completed", 60, "version 2 out")
    ns = ("-n", namespace)

    status = json.loads(ok(cluster, "status", "web", *ns, "-o", "json"))
    assert status["outcome"] == "succeeded"
    assert status["job"]["metadata"]["name"] == "web"
    assert status["job"]["status"]["currentVersion"] == 2
    assert status["executions"]["kind"] == "List"
    assert {e["spec"]["nodeName"] for e in status["executions"]["items"]} == set(nodes)

    listed = yaml.safe_load(ok(cluster, "executions", "--job", "web", "--version", "2", *ns,
                               "-o", "yaml"))  # fmt: skip
    assert listed["kind"] == "List"
    assert sorted(e["spec"]["nodeName"] for e in listed["items"]) == sorted(nodes)
    stats = json.loads(ok(cluster, "stats", "--job", "web", *ns, "-o", "json"))
    assert stats["states"]["Running"] == 2  # version 2 on both nodes; version 1 stopped
    assert stats["total"] == sum(stats["states"].values())
    history = json.loads(ok(cluster, "history", "web", *ns, "-o", "json"))
    assert [(v["version"], v["current"], v["stable"]) for v in history["versions"]] == [
        (1, False, False), (2, True, True)
    ]  # fmt: skip
    version = json.loads(ok(cluster, "version", "-o", "json"))
    assert version["plugin"]["version"] == nodewave.__version__
    assert [o["version"] for o in version["operators"]] == [nodewave.__version__]

    tree = json.loads(ok(cluster, "get", "web", *ns, "-o", "json"))
    # Version 1 stopped on both nodes (under --pod-records nothing is left of it).
    assert [v["version"] for v in tree["versions"]] == ([2, 1] if LEFT_STOPPED else [2])
    text = ok(cluster, "get", "web", *ns).splitlines()
    assert text[0].startswith(f"job.nodewave.io/{namespace}/web  Completed  2/2 nodes ready")
    assert text[1] == f"{'├──' if LEFT_STOPPED else '└──'} version 2 (current, stable)"
    assert text[-1].startswith("        └── web-")
    # A Job that does not exist: said once, exit 1, for a document too.
    missing = plugin(cluster, "get", "nope", *ns, "-o", "json")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert 'Job "nope"' in missing.stderr


def test_kubectls_global_flags_and_completion(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """--as, --as-group, --token, -v and --request-timeout as kubectl reads them; `kubectl
    nodewave <TAB>` through kubectl's own plugin completion (kubectl_complete-nodewave)."""
    apply_job(cluster, namespace, "web", rolling_job("flags", "1", {"strategy": "Immediate"}))
    ns = ("-n", namespace)
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    who = f"system:serviceaccount:{namespace}:nobody"
    # Impersonated, the admin is that ServiceAccount: it may not read the Job.
    denied = plugin(cluster, "status", "web", *ns, "--as", who)
    assert denied.returncode == 1
    assert "forbidden" in denied.stderr
    assert who in denied.stderr
    grouped = plugin(
        cluster, "--as", "someone", "--as-group", "system:masters", "status", "web", *ns
    )
    assert grouped.returncode == 0, grouped.stderr
    half = plugin(cluster, "status", "web", *ns, "--as-group", "system:masters")
    assert half.returncode == 1
    assert "--as-group and --as-uid need --as" in half.stderr
    # A token for a kubeconfig with no credentials of its own (with a client certificate,
    # kubectl presents both, and the API server takes the certificate: kubectl#1657).
    token = cluster.kubectl("create", "token", "nobody", "-n", namespace).stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {}
    bare = tmp_path / "bare"
    bare.write_text(yaml.safe_dump(config))
    anonymous = plugin(cluster, "status", "web", *ns, "--kubeconfig", str(bare))
    assert "system:anonymous" in anonymous.stderr
    as_token = plugin(cluster, "status", "web", *ns, "--kubeconfig", str(bare), "--token", token)
    assert as_token.returncode == 1
    assert who in as_token.stderr
    # -v 6: each request on stderr, as kubectl's round trippers print them.
    verbose = plugin(cluster, "status", "web", *ns, "-v", "6")
    assert verbose.returncode == 0, verbose.stderr
    assert re.search(rf"GET https://\S+/apis/nodewave.io/v1alpha1/namespaces/{namespace}/jobs/web "
                     r"200 in \d+ milliseconds", verbose.stderr), verbose.stderr  # fmt: skip
    slow = plugin(cluster, "status", "web", *ns, "--request-timeout", "0.001s")
    assert slow.returncode == 1
    assert "did not answer within the request timeout" in slow.stderr
    assert "Traceback" not in slow.stderr

    completed = subprocess.run(["kubectl", "__complete", "nodewave", "status", "-n", namespace, "w"],
                               capture_output=True, text=True, env=cluster.env(), timeout=60,
                               check=True)  # fmt: skip
    assert completed.stdout.splitlines()[0] == "web"
    commands = subprocess.run(["kubectl", "__complete", "nodewave", "pro"], capture_output=True,
                              text=True, env=cluster.env(), timeout=60, check=True)  # fmt: skip
    assert commands.stdout.splitlines()[0] == "promote"
