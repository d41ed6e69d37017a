"""`nodewave demo`: the embedded default.

Starts a local control plane with fake nodes in three regions, installs the CRDs, runs the
operator and applies the example Jobs; then rolls a healthy canary version of the pipeline
through to the end and a bad one that rolls back on its own, showing each step with
`kubectl nodewave status`; then tears everything down (unless --keep).
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
from nodewave.localcluster.operator import OperatorProcess


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def install_crds(cp: ControlPlane, crd_dir: Path) -> None:
    cp.kubectl("apply", "--server-side", "-f", str(crd_dir))
    # `kubectl wait` fails outright while a just-created CRD has no status yet: poll instead.
    query = '{range .items[?(@.spec.group=="nodewave.io")]}{.status.conditions[?(@.type=="Established")].status}{" "}{end}'
    deadline = time.monotonic() + 60
    while cp.kubectl("get", "crd", "-o", f"jsonpath={query}").stdout.split() != ["True", "True"]:
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
        say("waiting for every Job to be Ready (pipelines) or Complete (run-to-completion)")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not all(_settled(j) for j in _jobs(cp)):
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
    except ControlPlaneError as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            operator.stop()
            cp.destroy()
    say(f"done in {time.monotonic() - started:.0f}s; the control plane is stopped and removed")
    return 0
