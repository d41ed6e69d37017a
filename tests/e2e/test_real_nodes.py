"""nodewave on real kubelet nodes: real containers, real probes, real exit codes and restarts,
the Job's config really mounted. What kwok only plays (it reports a pod Running whether its
image exists or its config volume is mounted, and a pod Failed only when told to)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

from nodewave.core.execution.maintenance import build_quarantine_value
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.images import MISSING_IMAGE, build_workload_template
from nodewave.localcluster.operator import OperatorProcess
from nodewave.localcluster.registry import build_registry_template
from tests.conftest import kubectl_json, wait_for
from tests.e2e.conftest import REAL_NODES, executions_of, pods_by_node
from tests.integration.jobs import (
    allow_maintenance,
    apply_job,
    condition,
    job_events,
    job_status,
    states,
)

REAL = sorted(REAL_NODES)


def test_real_node_runs_containers_with_logs_and_exec(real_cluster: ControlPlane, ns: str) -> None:
    node = kubectl_json(real_cluster, "get", "node", REAL[0])
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"].startswith("10.217.")
    assert node["metadata"]["labels"]["type"] == "real"
    # Nothing from a real node's namespace is routed beyond this machine.
    netns = real_cluster.real_nodes[0].network.netns
    routes = subprocess.run(
        ["ip", "-n", netns, "route", "show", "default"], capture_output=True, text=True, check=True
    )
    assert routes.stdout.strip() == ""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": ns},
        "spec": {"nodeName": REAL[0], **build_workload_template("ready-after", "1")["spec"]},
    }
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    real_cluster.kubectl("wait", "-n", ns, "pod/probe", "--for=condition=Ready", "--timeout=60s")
    logs = real_cluster.kubectl("logs", "-n", ns, "probe").stdout
    assert "workload: ready" in logs
    out = real_cluster.kubectl("exec", "-n", ns, "probe", "--", "cat", "/etc/hostname").stdout
    assert out.strip() == "probe"


def test_query_exit_codes_complete_or_fail(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    for name, code in (("zero", "0"), ("three", "3")):
        apply_job(
            real_cluster,
            ns,
            name,
            {
                "type": "Query",
                "restartPolicy": "Never",
                "selector": {"matchLabels": {"e2e": "real"}},
                "template": build_workload_template("exit", code, "1"),
            },
        )
    wait_for(
        lambda: states(real_cluster, ns, "zero") == dict.fromkeys(REAL, "Completed"),
        60,
        "exit 0 → Completed on both real nodes",
    )
    wait_for(
        lambda: states(real_cluster, ns, "three") == dict.fromkeys(REAL, "Failed"),
        60,
        "exit 3 → Failed on both real nodes",
    )
    for e in executions_of(real_cluster, ns, "three"):
        assert e["status"]["details"]["exitCode"] == "3"
        assert "exited with code 3" in e["status"]["error"]["message"]
    wait_for(
        lambda: (
            condition(job_status(real_cluster, ns, "three"), "Complete") == ("True", "SomeFailed")
        ),
        30,
        "the failing Job Complete with failures",
    )
    assert condition(job_status(real_cluster, ns, "zero"), "Complete") == ("True", "AllSucceeded")
    # A pod whose container exited 0 is reported Running and not ready for a moment before
    # Succeeded: finishing, never Degraded (before: a Warning and Degraded=True every time).
    passed = [h["state"] for e in executions_of(real_cluster, ns, "zero")
              for h in e["status"].get("history", [])]  # fmt: skip
    assert "Degraded" not in passed, passed
    assert (condition(job_status(real_cluster, ns, "zero"), "Degraded") or ("False",))[0] == "False"
    terminated = [
        p["status"]["containerStatuses"][0]["state"]["terminated"]
        for p in pods_by_node(real_cluster, ns, "three").values()
    ]
    assert {t["exitCode"] for t in terminated} == {3}
    assert {t["message"].strip() for t in terminated} == {"workload: exiting with 3"}


def test_the_config_reaches_the_container_as_file_and_env(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    config = {"batchSize": 500, "sink": "https://logs.example.internal/ingest", "tags": ["a", "b"]}
    spec = {
        "type": "Pipeline",
        "config": config,
        "selector": {"matchLabels": {"e2e": "real"}},
        "template": build_workload_template("config", "run"),
    }
    apply_job(real_cluster, ns, "cfg", spec)
    wait_for(
        lambda: states(real_cluster, ns, "cfg") == dict.fromkeys(REAL, "Running"),
        60,
        "both real nodes Running",
    )
    for node, pod in pods_by_node(real_cluster, ns, "cfg").items():
        logs = real_cluster.kubectl("logs", "-n", ns, pod["metadata"]["name"]).stdout
        lines = dict(line.split(": ", 1) for line in logs.splitlines() if ": " in line)
        assert json.loads(lines["config file"]) == config, node
        assert json.loads(lines["config env"]) == config, node

    # Deleted and re-created under the same name while the operator runs: the new Job's
    # version-1 ConfigMap must exist again, or its pods never start (ContainerCreating).
    real_cluster.kubectl("delete", "nwj", "-n", ns, "cfg", "--wait=true")
    wait_for(lambda: not pods_by_node(real_cluster, ns, "cfg"), 60, "the old pods gone")
    apply_job(real_cluster, ns, "cfg", spec)
    wait_for(
        lambda: states(real_cluster, ns, "cfg") == dict.fromkeys(REAL, "Running"),
        60,
        "the re-created Job Running on both real nodes",
    )


def _containers(cp: ControlPlane, ns: str, job: str) -> dict[str, tuple[str, str, int]]:
    """node → (pod uid, container id, restart count) of the Job's pods."""
    out = {}
    for node, p in pods_by_node(cp, ns, job).items():
        status = p["status"]["containerStatuses"][0]
        # A pod whose container never started (a missing image) has no container id.
        out[node] = (p["metadata"]["uid"], status.get("containerID", ""), status["restartCount"])
    return out


def _rollout_phase(cp: ControlPlane, ns: str, job: str) -> str | None:
    rollout = job_status(cp, ns, job).get("rollout") or {}
    return rollout.get("phase") if rollout.get("version") == 2 else None


def _pipeline(template: dict[str, Any], failure_threshold: int = 3) -> dict[str, Any]:
    """Canary of one node, then the other; no failed node allowed; a restart budget of 1."""
    return {
        "type": "Pipeline",
        "maxRestarts": 1,
        "selector": {"matchLabels": {"e2e": "real"}},
        "template": template,
        "rollout": {
            "strategy": "Canary",
            "canaryCount": 1,
            "autoPromote": True,
            "maxParallel": 50,
            "maxFailedNodes": 0,
            "healthCheck": {
                "deadlineSeconds": 15,
                "intervalSeconds": 1,
                "successThreshold": 2,
                "failureThreshold": failure_threshold,
                "maxErrorRate": 0.1,
            },
        },
    }


def _settle_v1(cp: ControlPlane, ns: str, job: str) -> dict[str, tuple[str, str, int]]:
    apply_job(cp, ns, job, _pipeline(build_workload_template("run")))
    wait_for(
        lambda: (
            job_status(cp, ns, job).get("stableVersion") == 1
            and states(cp, ns, job) == dict.fromkeys(REAL, "Running")
        ),
        60,
        "version 1 Running and stable on both real nodes",
    )
    return _containers(cp, ns, job)


def _assert_rolled_back(
    cp: ControlPlane, ns: str, job: str, before: dict[str, tuple[str, str, int]], code: str
) -> None:
    wait_for(lambda: _rollout_phase(cp, ns, job) == "RolledBack", 90, "the rollout rolled back")
    wait_for(
        lambda: (
            {
                n: e["spec"]["jobVersion"]
                for e in executions_of(cp, ns, job)
                if e.get("status", {}).get("observedState") == "Running"
                for n in [e["spec"]["nodeName"]]
            }
            == dict.fromkeys(REAL, 1)
        ),
        60,
        "both real nodes back on version 1",
    )
    status = job_status(cp, ns, job)
    assert status["stableVersion"] == 1
    assert condition(status, "RolledBack") == ("True", "RolledBack")
    canary = executions_of(cp, ns, job, version=2)
    assert len(canary) == 1, "only the canary moved"
    assert canary[0]["status"]["error"]["code"] == code
    moved = canary[0]["spec"]["nodeName"]
    after = _containers(cp, ns, job)
    untouched = [n for n in REAL if n != moved]
    # The node that never moved still runs the very container it ran before, never restarted.
    assert {n: after[n] for n in untouched} == {n: before[n] for n in untouched}


def test_canary_whose_readiness_never_passes_rolls_back(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    before = _settle_v1(real_cluster, ns, "app")
    apply_job(real_cluster, ns, "app", _pipeline(build_workload_template("never-ready")))
    _assert_rolled_back(real_cluster, ns, "app", before, "HealthCheckFailed")


def test_an_image_that_does_not_exist_rolls_back(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    before = _settle_v1(real_cluster, ns, "app")
    apply_job(
        real_cluster, ns, "app", _pipeline(build_workload_template("run", image=MISSING_IMAGE))
    )
    # Never running, the canary fails at the health check's deadline, naming the cause.
    _assert_rolled_back(real_cluster, ns, "app", before, "HealthCheckDeadline")
    (canary,) = executions_of(real_cluster, ns, "app", version=2)
    assert "ErrImageNeverPull" in canary["status"]["error"]["message"]
    assert MISSING_IMAGE in canary["status"]["error"]["message"]


def test_a_crash_looping_version_spends_its_restart_budget_and_rolls_back(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    before = _settle_v1(real_cluster, ns, "app")
    # Health windows that would take 10 s to fail: the restart budget (1) is spent first.
    crashing = _pipeline(build_workload_template("crash", "0"), failure_threshold=10)
    apply_job(real_cluster, ns, "app", crashing)
    _assert_rolled_back(real_cluster, ns, "app", before, "RestartBudgetSpent")
    (canary,) = executions_of(real_cluster, ns, "app", version=2)
    assert canary["status"]["restarts"] > 1  # past maxRestarts
    # How the container last ended is kept, though its pod goes.
    assert canary["status"]["details"]["exitCode"] == "1"
    assert "last exited with code 1" in canary["status"]["error"]["message"]
    assert job_status(real_cluster, ns, "app")["rollout"]["failedNodes"] == 1
    wait_for(
        lambda: all(
            p["metadata"]["labels"]["nodewave.io/version"] == "1"
            for p in pods_by_node(real_cluster, ns, "app").values()
        ),
        30,
        "the crash-looping pod deleted",
    )


def test_one_job_on_real_and_kwok_nodes(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    apply_job(
        real_cluster,
        ns,
        "mixed",
        {
            "type": "Pipeline",
            "selector": {"matchExpressions": ["e2e"]},
            "template": build_workload_template("run"),
        },
    )
    wait_for(
        lambda: (
            set(states(real_cluster, ns, "mixed").values()) == {"Running"}
            and len(states(real_cluster, ns, "mixed")) == 4
        ),
        60,
        "Running on two real and two kwok nodes",
    )
    real = {n: p for n, p in pods_by_node(real_cluster, ns, "mixed").items() if n in REAL_NODES}
    assert all(p["status"]["containerStatuses"][0]["containerID"] for p in real.values())


def test_a_version_bad_on_one_real_node_reverts_there_and_completes_elsewhere(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    """onNodeFailure Revert on real containers: version 2's readiness probe never passes on
    one node (the pod learns its node from the downward API). That node runs version 1's
    container again while version 2 completes on the other."""
    _settle_v1(real_cluster, ns, "rev")
    good, bad = REAL
    template = build_workload_template("run")
    main = template["spec"]["containers"][0]
    main["command"] = ["/bin/sh", "-c", f'[ "$NODE_NAME" = "{bad}" ] && exec workload never-ready;'
                       " exec workload run"]  # fmt: skip
    main["env"] = [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    spec = _pipeline(template)
    spec["rollout"] = {**{k: v for k, v in spec["rollout"].items()
                          if k not in ("canaryCount", "autoPromote")},
                       "strategy": "Immediate", "maxFailedNodes": 1,
                       "maxFailedNodesPercent": 50, "onNodeFailure": "Revert"}  # fmt: skip
    apply_job(real_cluster, ns, "rev", spec)
    wait_for(lambda: _rollout_phase(real_cluster, ns, "rev") == "Completed", 90, "completed")
    status = job_status(real_cluster, ns, "rev")
    assert (status["stableVersion"], status["rollout"]["revertedNodes"]) == (2, [bad])
    wait_for(
        lambda: (
            {
                e["spec"]["nodeName"]: e["spec"]["jobVersion"]
                for e in executions_of(real_cluster, ns, "rev")
                if e.get("status", {}).get("observedState") == "Running"
            }
            == {good: 2, bad: 1}
        ),
        60,
        "version 2 on the good node, version 1 running again on the bad one",
    )

    def serving_v1(pod: dict[str, Any]) -> bool:
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        return (
            pod["metadata"]["labels"]["nodewave.io/version"] == "1" and ready.get("Ready") == "True"
        )

    wait_for(lambda: serving_v1(pods_by_node(real_cluster, ns, "rev")[bad]), 60,
             "a real container of version 1 ready on the bad node again")  # fmt: skip


def test_an_update_drains_a_real_node_and_a_pdb_quarantines_the_other(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    """spec.nodeMaintenance on real kubelets: the pod on real-0 is evicted (its container really
    stopped), the update runs there and the node is uncordoned; on real-1 a
    PodDisruptionBudget refuses the eviction until the drain times out, and the node stays
    cordoned and quarantined until `kubectl nodewave uncordon`."""
    free, guarded = REAL
    allow_maintenance(real_cluster, ns)
    for app, node in (("cache", free), ("db", guarded)):
        pod = build_workload_template("ready-after", "0")
        pod["metadata"] = {"labels": {"app": app}}
        pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": app},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}}, "template": pod}}  # fmt: skip
        real_cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(rs))
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}  # fmt: skip
    real_cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pdb))
    for app in ("cache", "db"):
        real_cluster.kubectl("wait", "-n", ns, "pod", "-l", f"app={app}", "--for=condition=Ready",
                             "--timeout=60s")  # fmt: skip
    wait_for(lambda: kubectl_json(real_cluster, "get", "pdb", "-n", ns, "db")
             .get("status", {}).get("disruptionsAllowed") == 0
             and kubectl_json(real_cluster, "get", "pdb", "-n", ns, "db")
             .get("status", {}).get("currentHealthy") == 1, 30, "the PDB protects db")  # fmt: skip
    cache_pod = kubectl_json(real_cluster, "get", "pods", "-n", ns, "-l", "app=cache")["items"][0]
    apply_job(real_cluster, ns, "kernel", {
        "type": "Update",
        "restartPolicy": "Never",
        "selector": {"matchLabels": {"e2e": "real"}},
        "template": build_workload_template("exit", "0", "1"),
        "nodeMaintenance": {"cordon": True, "drain": {"enabled": True, "timeoutSeconds": 15}},
        "rollout": {"maxFailedNodesPercent": 50},
    })  # fmt: skip
    wait_for(
        lambda: states(real_cluster, ns, "kernel") == {free: "Completed", guarded: "Failed"},
        90,
        "the update done on the drained node, failed on the guarded one",
    )
    gone = real_cluster.kubectl("get", "pod", "-n", ns, cache_pod["metadata"]["name"], check=False)
    assert gone.returncode != 0, "the cache pod was evicted"
    execs = {e["spec"]["nodeName"]: e["status"] for e in executions_of(real_cluster, ns, "kernel")}
    assert execs[guarded]["error"]["code"] == "DrainTimeout"
    assert "disruption budget" in execs[guarded]["message"]

    def node(name: str) -> tuple[bool, str | None]:
        body = kubectl_json(real_cluster, "get", "node", name)
        labels = body["metadata"].get("labels", {})
        return bool(body["spec"].get("unschedulable")), labels.get("nodewave.io/quarantined")

    wait_for(lambda: node(free) == (False, None), 30, "the drained node uncordoned")
    quarantined = (True, build_quarantine_value(ns, "kernel"))
    wait_for(lambda: node(guarded) == quarantined, 30, "the guarded node quarantined")
    # Uncordoned, the cache pod's ReplicaSet brings it back to its node.
    real_cluster.kubectl("wait", "-n", ns, "pod", "-l", "app=cache", "--for=condition=Ready",
                         "--timeout=60s")  # fmt: skip
    done = subprocess.run(["kubectl", "nodewave", "uncordon", "kernel", guarded, "-n", ns],
                          capture_output=True, text=True, env=real_cluster.env(), check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_for(lambda: node(guarded) == (False, None), 30, "released")


class ReadyWatch:
    """Whether each node has a ready pod of a Job, from a watch of its pods (every change, not
    samples): a pod serves while its Ready condition is True and it is not being deleted."""

    def __init__(self, cp: ControlPlane, ns: str, job: str) -> None:
        self.pods: dict[str, dict[str, Any]] = {}
        self.timeline: list[tuple[float, dict[str, bool]]] = []
        self.start = 0
        self.proc = subprocess.Popen(
            [str(cp.bin_dir / "kubectl"), "--kubeconfig", str(cp.kubeconfig), "get", "pods",
             "-n", ns, "-l", f"nodewave.io/job={job}", "--watch", "--output-watch-events",
             "-o", "json"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            buffer += line
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                continue
            buffer = buffer.lstrip()[end:]
            pod = event["object"]
            if event["type"] == "DELETED":
                self.pods.pop(pod["metadata"]["name"], None)
            else:
                self.pods[pod["metadata"]["name"]] = pod
            self.timeline.append((time.monotonic(), self.serving()))

    def serving(self) -> dict[str, bool]:
        out = dict.fromkeys(REAL, False)
        for pod in self.pods.values():
            ready = any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in pod.get("status", {}).get("conditions", [])
            )
            if ready and not pod["metadata"].get("deletionTimestamp"):
                out[pod["spec"]["nodeName"]] = True
        return out

    def mark(self) -> None:
        """From now on: what `stop` measures (the watch's first list arrives pod by pod)."""
        self.start = len(self.timeline)

    def stop(self) -> float:
        """The longest time any node went without a serving pod since `mark`, in seconds."""
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        worst, since = 0.0, dict.fromkeys(REAL, None)
        for t, serving in self.timeline[self.start :]:
            for node, up in serving.items():
                if not up and since[node] is None:
                    since[node] = t
                elif up and since[node] is not None:
                    worst = max(worst, t - since[node])
                    since[node] = None
        assert all(s is None for s in since.values()), "a node ended without a serving pod"
        return worst


def test_surge_hands_a_real_node_over_with_no_moment_without_a_ready_pod(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    """rollout.maxSurge on real kubelets: a watch of the Job's pods sees each node always with a
    ready pod while a new version rolls out; the same rollout without maxSurge leaves a node
    without one while its new pod starts (the proof the watch can see a gap)."""

    def spec(release: int, surge: bool) -> dict[str, Any]:
        rollout: dict[str, Any] = {  # one wave: both nodes hand over at once
            "strategy": "Rolling", "maxParallel": 100,
            "healthCheck": {"deadlineSeconds": 60, "intervalSeconds": 1, "successThreshold": 2},
        }  # fmt: skip
        if surge:
            rollout["maxSurge"] = 2
        return {
            "type": "Pipeline",
            "selector": {"matchLabels": {"e2e": "real"}},
            "template": build_workload_template("ready-after", "1"),
            "config": {"release": release},
            "rollout": rollout,
        }

    def stable(version: int) -> bool:
        status = job_status(real_cluster, ns, "agent")
        return status.get("stableVersion") == version and status.get("readyNodes") == len(REAL)

    apply_job(real_cluster, ns, "agent", spec(1, surge=True))
    wait_for(lambda: stable(1), 90, "version 1 ready on both real nodes")
    gaps = {}
    for version, surge in ((2, True), (3, False)):
        watch = ReadyWatch(real_cluster, ns, "agent")
        wait_for(lambda w=watch: w.timeline and all(w.serving().values()), 30, "watching")
        watch.mark()
        apply_job(real_cluster, ns, "agent", spec(version, surge))
        wait_for(lambda v=version: stable(v), 120, f"version {version} ready on both real nodes")
        time.sleep(1)  # the old pods' deletion events
        gaps[surge] = watch.stop()
    assert gaps[True] == 0.0, gaps
    assert gaps[False] > 0.5, gaps


def _pod_events(cp: ControlPlane, ns: str) -> list[dict[str, Any]]:
    return list(
        kubectl_json(cp, "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Pod")[
            "items"
        ]
    )


def test_pre_pull_pulls_each_wave_ahead_from_a_real_registry_and_a_failed_pull_stops_before_it(
    real_cluster: ControlPlane, real_operator: OperatorProcess, ns: str
) -> None:
    """rollout.prePull on real kubelets pulling from the local registry (registry.py): each
    node pulls the new version's image (an image with no shell) before its wave takes it, so
    the workload's own pod finds it "already present"; an image the registry does not have
    fails its pull (a real ErrImagePull) on the first wave's node, is retried for waitSeconds,
    and the rollout fails before that node stopped anything."""
    rollout = {
        "strategy": "Rolling", "maxParallel": 50, "maxFailedNodes": 0,
        "prePull": {"waitSeconds": 10},  # a failing pull is retried this long, then counts
        "healthCheck": {"deadlineSeconds": 60, "intervalSeconds": 1, "successThreshold": 3},
    }  # fmt: skip

    def spec(template: dict[str, Any]) -> dict[str, Any]:
        selector = {"matchLabels": {"e2e": "real"}}
        return {"type": "Pipeline", "selector": selector, "template": template, "rollout": rollout}

    # Version 1's image is imported (imagePullPolicy Never): nothing to pull, no pull pod.
    apply_job(real_cluster, ns, "agent", spec(build_workload_template("run")))
    wait_for(lambda: job_status(real_cluster, ns, "agent").get("stableVersion") == 1, 60, "v1")
    image = real_cluster.push_image("e2e/agent", "v2", 4 << 20)
    apply_job(real_cluster, ns, "agent", spec(build_registry_template(image)))
    wait_for(
        lambda: job_status(real_cluster, ns, "agent").get("stableVersion") == 2, 120, "v2 stable"
    )
    reasons = job_events(real_cluster, ns)
    assert "PrePulling" in reasons, reasons  # wave 1 waited for its node's pull
    assert "PrePullFailed" not in reasons
    events = _pod_events(real_cluster, ns)
    pulled = {
        e["involvedObject"]["name"]: e["lastTimestamp"]
        for e in events
        if e["reason"] == "Pulled" and "Successfully pulled" in e["message"]
    }
    assert len(pulled) == 2, pulled
    assert all("-pull-v2-" in name for name in pulled), pulled
    execs = {e["spec"]["nodeName"]: e for e in executions_of(real_cluster, ns, "agent", 2)}
    for node, ex in execs.items():
        name = ex["metadata"]["name"]
        said = [e["message"] for e in events if e["involvedObject"]["name"] == name]
        assert any("already present on machine" in m for m in said), (node, said)
    # The second wave's node pulled before its wave started (while the first was validated).
    second = next(ex for ex in execs.values() if ex["spec"]["rolloutWave"] == 2)
    pull_of_second = max(pulled.values())
    assert pull_of_second <= second["metadata"]["creationTimestamp"], (pulled, second)
    pull_pods = kubectl_json(real_cluster, "get", "pods", "-n", ns, "-l", "nodewave.io/pre-pull")
    wait_for(
        lambda: (
            not kubectl_json(real_cluster, "get", "pods", "-n", ns, "-l", "nodewave.io/pre-pull")[
                "items"
            ]
        ),
        30,
        f"no pull pod left (were: {[p['metadata']['name'] for p in pull_pods['items']]})",
    )

    before = _containers(real_cluster, ns, "agent")
    missing = image.replace("e2e/agent:v2", "e2e/agent:v3-never-pushed")
    apply_job(real_cluster, ns, "agent", spec(build_registry_template(missing)))
    wait_for(
        lambda: (
            (job_status(real_cluster, ns, "agent").get("rollout") or {}).get("phase")
            == "RolledBack"
        ),
        90,
        "version 3 failed before its first wave",
    )
    rs = job_status(real_cluster, ns, "agent")["rollout"]
    assert "before it started" in rs["failure"], rs
    assert rs["prePull"]["failedCount"] == 1, rs
    (failure,) = rs["prePull"]["failed"]
    assert failure["reason"] in ("ErrImagePull", "ImagePullBackOff"), failure
    assert "not found" in failure["message"], failure
    assert "PrePullFailed" in job_events(real_cluster, ns)
    assert executions_of(real_cluster, ns, "agent", 3) == []  # no node was taken
    assert _containers(real_cluster, ns, "agent") == before  # nothing running was touched
