"""`nodewave demo`: the embedded default.

Starts a local control plane with fake nodes in three regions, installs the CRDs, runs the
operator and applies the example Jobs; then rolls a healthy canary version of the pipeline
through to the end and a bad one that rolls back on its own, showing each step with
`kubectl nodewave status`; with `--real N`, does the same on N real kubelet nodes running real
containers; then tears everything down (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nodewave.localcluster.cli import DEFAULT_REGIONS, build_node_labels
from nodewave.localcluster.controlplane import (
    REPO_ROOT,
    ControlPlane,
    ControlPlaneError,
    find_binaries,
)
from nodewave.localcluster.images import build_workload_template
from nodewave.localcluster.operator import OperatorProcess
from nodewave.localcluster.realnode import RealNodeError


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def install_crds(cp: ControlPlane, crd_dir: Path) -> None:
    cp.kubectl("apply", "--server-side", "-f", str(crd_dir))

    # `kubectl wait` fails outright while a just-created CRD has no status yet, and so does a
    # jsonpath filter over its missing conditions (seen in CI): read the JSON instead.
    def established() -> bool:
        crds = json.loads(cp.kubectl("get", "crd", "-o", "json").stdout)["items"]
        ours = [c for c in crds if c["spec"]["group"] == "nodewave.io"]
        return len(ours) == 2 and all(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (crd.get("status") or {}).get("conditions") or []
            )
            for crd in ours
        )

    deadline = time.monotonic() + 60
    while not established():
        if time.monotonic() > deadline:
            raise ControlPlaneError("the nodewave CRDs did not become Established in 60s")
        time.sleep(0.2)


def _jobs(cp: ControlPlane) -> list[dict[str, object]]:
    return list(json.loads(cp.kubectl("get", "nwj", "-o", "json").stdout)["items"])


def _settled(job: dict[str, object]) -> bool:
    status = job.get("status") or {}
    assert isinstance(status, dict)
    conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return conds.get("Ready") == "True" or conds.get("Complete") == "True"


def _plugin(cp: ControlPlane, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "nodewave.cli.plugin", *args],
        capture_output=True,
        text=True,
        env=cp.env(),
        check=False,
    )
    if done.returncode != 0:
        raise ControlPlaneError(f"kubectl nodewave {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _roll(
    cp: ControlPlane, job: str, spec_patch: dict[str, object], until: str, timeout: float = 300
) -> None:
    """Patch the Job and show `kubectl nodewave status` each time the rollout moves."""
    before = json.loads(cp.kubectl("get", "nwj", job, "-o", "json").stdout)["status"].get(
        "currentVersion"
    )
    cp.kubectl("patch", "nwj", job, "--type=merge", "-p", json.dumps({"spec": spec_patch}))
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        status = json.loads(cp.kubectl("get", "nwj", job, "-o", "json").stdout)["status"]
        rollout = status.get("rollout") or {}
        if rollout.get("version") == before:
            time.sleep(0.5)
            continue
        moment = (rollout.get("phase"), rollout.get("wave"), status.get("readyNodes"))
        if moment != shown:
            shown = moment
            print(f"--- {time.strftime('%H:%M:%S')}")
            print(_plugin(cp, "status", job), flush=True)
        if rollout.get("phase") == until:
            return
        if rollout.get("phase") in ("Completed", "RolledBack", "Failed"):
            raise ControlPlaneError(
                f"rollout of {job} ended {rollout.get('phase')}, expected {until}"
            )
        time.sleep(0.5)
    raise ControlPlaneError(f"rollout of {job} did not reach {until} in {timeout:.0f}s")


def _real_nodes_part(cp: ControlPlane, count: int, health: dict[str, int]) -> None:
    """`--real N`: the same rollouts on real containers (kubelet, containerd, runc): a
    readiness probe that really runs decides each wave."""
    # A one-off query that is done; left in place it would run on the new nodes too, with an
    # image no registry here serves.
    cp.kubectl("delete", "nwj", "disk-inventory")
    say(f"starting {count} real kubelet nodes (containerd, runc, a CNI bridge) in region lab")
    cp.add_real_nodes({f"real-{i}": {"region": "lab"} for i in range(count)})
    print(cp.kubectl("get", "nodes", "-l", "type=real", "-o", "wide").stdout, end="")
    say("a pipeline of real containers on them (localhost/nodewave/workload:1)")
    spec = {
        "type": "Pipeline",
        "selector": {"matchLabels": {"region": "lab"}},
        "template": build_workload_template("run"),
        "rollout": {
            "strategy": "Canary",
            "canaryCount": 1,
            "autoPromote": True,
            "maxParallel": 50,
            "maxFailedNodes": 0,
            "healthCheck": health,
        },
    }
    job = {"apiVersion": "nodewave.io/v1alpha1", "kind": "Job", "metadata": {"name": "lab-agent"}}
    cp.kubectl("apply", "-f", "-", input=json.dumps({**job, "spec": spec}))
    deadline = time.monotonic() + 120
    while not _settled(json.loads(cp.kubectl("get", "nwj", "lab-agent", "-o", "json").stdout)):
        if time.monotonic() > deadline:
            raise ControlPlaneError("lab-agent did not become Ready on the real nodes in 120s")
        time.sleep(1)
    say("rolling out a version that is ready after 2 s: the canary's probe passes, the rest follow")
    _roll(cp, "lab-agent", {"template": build_workload_template("ready-after", "2")}, "Completed")
    say("rolling out a version whose readiness probe never passes: it must roll back")
    _roll(cp, "lab-agent", {"template": build_workload_template("never-ready")}, "RolledBack")
    print(cp.kubectl("get", "pods", "-l", "nodewave.io/job=lab-agent", "-o", "wide").stdout, end="")


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="nodewave-demo-"))
    cp = ControlPlane(workdir=workdir, bin_dir=find_binaries())
    operator = OperatorProcess(cp, workdir / "operator.log")
    started = time.monotonic()
    try:
        say(
            "starting a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)"
        )
        cp.start()
        nodes = build_node_labels(args.nodes, list(DEFAULT_REGIONS), {})
        say(f"adding {len(nodes)} fake nodes in {len(DEFAULT_REGIONS)} regions")
        cp.add_nodes(nodes)
        cp.wait_nodes_ready(nodes)
        print(
            cp.kubectl("get", "nodes", "-L", "region", "--no-headers").stdout.count("\n"),
            "nodes Ready",
        )
        say("installing the CRDs")
        install_crds(cp, REPO_ROOT / "crds")
        say("starting the operator (nodewave run)")
        operator.start()
        operator.wait_started()
        say("applying the example Jobs (examples/)")
        print(cp.kubectl("apply", "-f", str(REPO_ROOT / "examples")).stdout, end="")
        say(
            "waiting for every Job to be Ready (pipelines) or Complete (run-to-completion): "
            "a first version rolls out by its strategy too (log-pipeline: a canary of 2, then "
            "waves of 25 % with two 10 s health windows each; agent-update: waves of 20 %)"
        )
        deadline = time.monotonic() + 300
        shown = 0.0
        while time.monotonic() < deadline and not all(_settled(j) for j in _jobs(cp)):
            if time.monotonic() - shown >= 15:
                shown = time.monotonic()
                print(f"--- {time.strftime('%H:%M:%S')}")
                print(cp.kubectl("get", "nwj", "-o", "wide").stdout, end="", flush=True)
            time.sleep(1)
        print(cp.kubectl("get", "nwj", "-o", "wide").stdout, end="")
        say("executions per Job and observed state")
        for job in _jobs(cp):
            status = job.get("status") or {}
            assert isinstance(status, dict)
            print(f"  {job['metadata']['name']:16s} {status.get('executionCounts')}")  # type: ignore[index]
        if not all(_settled(j) for j in _jobs(cp)):
            print("demo failed: not every Job settled in time", file=sys.stderr)
            return 1
        fast = {
            "intervalSeconds": 2,
            "successThreshold": 2,
            "failureThreshold": 2,
            "deadlineSeconds": 60,
        }
        say(
            "rolling out log-shipper 1.5.0 to log-pipeline: a canary of 2 nodes, then waves of 25 %"
        )
        _roll(
            cp,
            "log-pipeline",
            {
                "rollout": {"healthCheck": fast},
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "shipper", "image": "registry.example/log-shipper:1.5.0"}
                        ]
                    }
                },
            },
            "Completed",
        )
        say(
            "rolling out log-shipper 1.6.0, whose pods never get ready: it must roll back on its own"
        )
        bad = {
            "template": {
                "metadata": {"annotations": {"fake.nodewave.io/ready": "false"}},
                "spec": {
                    "containers": [
                        {"name": "shipper", "image": "registry.example/log-shipper:1.6.0"}
                    ]
                },
            }
        }
        _roll(cp, "log-pipeline", bad, "RolledBack")
        if args.real:
            _real_nodes_part(cp, args.real, fast)
        say("history and events of log-pipeline")
        print(_plugin(cp, "history", "log-pipeline"), end="")
        events = cp.kubectl(
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=Job,involvedObject.name=log-pipeline",
            "--sort-by=.lastTimestamp",
            "-o",
            "custom-columns=REASON:.reason,MESSAGE:.message",
            "--no-headers",
        ).stdout
        print("\n".join(events.splitlines()[-10:]))
        if args.keep:
            say(
                f"cluster kept running: export KUBECONFIG={cp.kubeconfig}; the operator logs to {operator.log}"
            )
            return 0
    except (ControlPlaneError, RealNodeError) as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            operator.stop()
            cp.destroy()
    say(f"done in {time.monotonic() - started:.0f}s; the control plane is stopped and removed")
    return 0
